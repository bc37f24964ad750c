/* SPDX-License-Identifier: Apache-2.0
 * The per-worker stack object: clock, PRNG, secret, packet pool. */
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"

uint64_t bd_stack_now_us(const struct bd_stack *st)
{
	return st->now_us;
}

struct bd_pktpool *bd_stack_pool(struct bd_stack *st)
{
	return st->pool;
}

struct bd_tcp_stack *bd_stack_tcp(struct bd_stack *st)
{
	return st->tcp;
}

const uint8_t *bd_stack_secret(const struct bd_stack *st)
{
	return st->secret;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t bd_stack_rand64(struct bd_stack *st)
{
	uint64_t *s = st->rng;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void bd_stack_seed(struct bd_stack *st, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++)
		st->rng[i] = splitmix64(&x);
	for (int i = 0; i < 4; i++) {
		uint64_t v = splitmix64(&x);
		memcpy(st->secret + 8 * i, &v, 8);
	}
}
