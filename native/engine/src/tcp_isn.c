/* SPDX-License-Identifier: Apache-2.0
 * Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport,
 * remoteip, remoteport, secretkey), M a 4 us clock, F the first 32 bits of
 * SHA-256 over the 4-tuple and the stack's 32-byte secret. The timestamp
 * offset (RFC 7323 section 7.1) is derived likewise from the address pair. */
#include <string.h>

#include <openssl/sha.h>

#include "tcp_impl.h"

static unsigned put_addr(uint8_t *b, const struct bd_ipaddr *a)
{
	b[0] = a->family;
	if (a->family == BD_AF_INET) {
		memcpy(b + 1, &a->v4, 4);
		return 5;
	}
	memcpy(b + 1, a->v6, 16);
	return 17;
}

static uint32_t keyed_hash(struct bd_tcp_stack *ts, const uint8_t *msg,
			   unsigned n, uint8_t domain)
{
	uint8_t buf[96], md[SHA256_DIGEST_LENGTH];
	uint32_t v;

	buf[0] = domain;
	memcpy(buf + 1, msg, n);
	memcpy(buf + 1 + n, bd_stack_secret(ts->st), 32);
	SHA256(buf, 1 + n + 32, md);
	memcpy(&v, md, 4);
	return v;
}

uint32_t tcp_isn(struct bd_tcp_stack *ts, const struct bd_ipaddr *la,
		 uint16_t lp, const struct bd_ipaddr *ra, uint16_t rp)
{
	uint8_t msg[40];
	unsigned n = 0;

	n += put_addr(msg + n, la);
	msg[n++] = (uint8_t)(lp >> 8);
	msg[n++] = (uint8_t)lp;
	n += put_addr(msg + n, ra);
	msg[n++] = (uint8_t)(rp >> 8);
	msg[n++] = (uint8_t)rp;
	return keyed_hash(ts, msg, n, 1) +
	       (uint32_t)(bd_stack_now_us(ts->st) / 4);
}

uint32_t tcp_ts_offset(struct bd_tcp_stack *ts, const struct bd_ipaddr *la,
		       const struct bd_ipaddr *ra)
{
	uint8_t msg[40];
	unsigned n = 0;

	n += put_addr(msg + n, la);
	n += put_addr(msg + n, ra);
	return keyed_hash(ts, msg, n, 2);
}
