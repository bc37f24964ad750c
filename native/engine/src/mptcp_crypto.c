/* SPDX-License-Identifier: Apache-2.0
 *
 * MPTCP keys, tokens, IDSNs and HMACs (RFC 8684 sections 3.1, 3.2, 3.4.1).
 * SHA-256 and HMAC-SHA256 come from OpenSSL's libcrypto.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "braid/mptcp.h"

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

void bd_mptcp_key_sha(uint64_t key, uint32_t *token, uint64_t *idsn)
{
	uint8_t in[8], md[SHA256_DIGEST_LENGTH];
	put64(in, key);
	SHA256(in, sizeof(in), md);
	if (token)
		*token = (uint32_t)(get64(md) >> 32);
	if (idsn)
		*idsn = get64(md + SHA256_DIGEST_LENGTH - 8);
}

uint32_t bd_mptcp_token(uint64_t key)
{
	uint32_t t;
	bd_mptcp_key_sha(key, &t, NULL);
	return t;
}

uint64_t bd_mptcp_idsn(uint64_t key)
{
	uint64_t i;
	bd_mptcp_key_sha(key, NULL, &i);
	return i;
}

void bd_mptcp_hmac(uint64_t key1, uint64_t key2, const uint8_t *msg, size_t len,
		   uint8_t out[32])
{
	uint8_t k[16];
	unsigned int olen = 32;
	put64(k, key1);
	put64(k + 8, key2);
	if (!HMAC(EVP_sha256(), k, (int)sizeof(k), msg, len, out, &olen))
		memset(out, 0, 32);
}

void bd_mptcp_join_hmac(uint64_t key1, uint64_t key2, uint32_t nonce1,
			uint32_t nonce2, uint8_t out[32])
{
	uint8_t msg[8];
	for (int i = 0; i < 4; i++) {
		msg[i] = (uint8_t)(nonce1 >> (24 - 8 * i));
		msg[4 + i] = (uint8_t)(nonce2 >> (24 - 8 * i));
	}
	bd_mptcp_hmac(key1, key2, msg, sizeof(msg), out);
}

uint64_t bd_mptcp_join_thmac(uint64_t key1, uint64_t key2, uint32_t nonce1,
			     uint32_t nonce2)
{
	uint8_t h[32];
	bd_mptcp_join_hmac(key1, key2, nonce1, nonce2, h);
	return get64(h);
}

uint64_t bd_mptcp_add_addr_hmac(uint64_t snd_key, uint64_t rcv_key,
				uint8_t addr_id, const struct bd_ipaddr *addr,
				uint16_t port)
{
	uint8_t msg[1 + 16 + 2], h[32];
	size_t n = 0;
	msg[n++] = addr_id;
	if (addr->family == BD_AF_INET6) {
		memcpy(msg + n, addr->v6, 16);
		n += 16;
	} else {
		for (int i = 0; i < 4; i++)
			msg[n++] = (uint8_t)(addr->v4 >> (24 - 8 * i));
	}
	msg[n++] = (uint8_t)(port >> 8);
	msg[n++] = (uint8_t)port;
	bd_mptcp_hmac(snd_key, rcv_key, msg, n, h);
	return get64(h + 24);
}

bool bd_mptcp_mem_eq(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= (uint8_t)(x[i] ^ y[i]);
	return d == 0;
}
