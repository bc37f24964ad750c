/* SPDX-License-Identifier: Apache-2.0
 * Internet checksum (RFC 1071) helpers, shared by IPv4, ICMP and TCP. */
#ifndef BRAID_CSUM_H
#define BRAID_CSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Add bytes to a 32-bit one's-complement accumulator (network byte order).
 * Long buffers are summed 8 bytes at a time in host order, in two 64-bit
 * one's-complement accumulators (a carry out of bit 63 counts as 1: the
 * end-around carry) and folded: the one's-complement sum is byte-order
 * independent (RFC 1071 2.B), so only the folded 16 bits need swapping on
 * a little-endian host. Two independent chains of add-with-carry keep the
 * loop at about 16 bytes a cycle (a full-size TCP segment in ~100 cycles). */
static inline uint32_t bd_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *b = (const uint8_t *)data;
	if (len >= 32) {
		uint64_t a0 = 0, a1 = 0, c = 0, x;
		size_t n = len & ~(size_t)15;
		for (size_t i = 0; i < n; i += 16) {
			uint64_t w0, w1;
			memcpy(&w0, b + i, 8);
			memcpy(&w1, b + i + 8, 8);
			c += __builtin_add_overflow(a0, w0, &a0);
			c += __builtin_add_overflow(a1, w1, &a1);
		}
		c += __builtin_add_overflow(a0, a1, &x);
		/* c < 2^64 - 1 carries can still overflow once more. */
		c = __builtin_add_overflow(x, c, &x);
		x += c;
		x = (x & 0xffffffffu) + (x >> 32);
		x = (x & 0xffffffffu) + (x >> 32);
		x = (x & 0xffffu) + (x >> 16);
		x = (x & 0xffffu) + (x >> 16);
		x = (x & 0xffffu) + (x >> 16);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		x = ((x & 0xffu) << 8) | (x >> 8);
#endif
		sum += (uint32_t)x;
		b += n;
		len -= n;
	}
	while (len > 1) {
		sum += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static inline uint16_t bd_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* IPv4 pseudo header for TCP/UDP: addresses in host byte order. */
static inline uint32_t bd_csum_pseudo4(uint32_t saddr, uint32_t daddr,
				       uint8_t proto, uint32_t l4_len)
{
	uint32_t sum = 0;
	sum += saddr >> 16;
	sum += saddr & 0xffff;
	sum += daddr >> 16;
	sum += daddr & 0xffff;
	sum += proto;
	sum += l4_len;
	return sum;
}

/* Checksum of a whole buffer, as it goes on the wire (host order value). */
static inline uint16_t bd_csum(const void *data, size_t len)
{
	return bd_csum_fold(bd_csum_add(0, data, len));
}

#endif
