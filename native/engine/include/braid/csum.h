/* SPDX-License-Identifier: Apache-2.0
 * Internet checksum (RFC 1071) helpers, shared by IPv4, ICMP and TCP. */
#ifndef BRAID_CSUM_H
#define BRAID_CSUM_H

#include <stddef.h>
#include <stdint.h>

/* Add bytes to a 32-bit one's-complement accumulator (network byte order). */
static inline uint32_t bd_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *b = (const uint8_t *)data;
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
