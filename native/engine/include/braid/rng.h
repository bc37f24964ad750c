/* SPDX-License-Identifier: Apache-2.0
 * The engine's one PRNG: xoshiro256** seeded through splitmix64. Used by the
 * stacks, the emulated links and the apps' data streams; every run with the
 * same seed draws the same numbers. Not for secrets (those use libcrypto). */
#ifndef BRAID_RNG_H
#define BRAID_RNG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint64_t bd_rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* splitmix64: the next value of the sequence that *x walks. */
static inline uint64_t bd_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Seed a xoshiro256** state from seed; x is left where the seeding ended. */
static inline void bd_rng_seed(uint64_t s[4], uint64_t *x)
{
	for (int i = 0; i < 4; i++)
		s[i] = bd_splitmix64(x);
}

static inline uint64_t bd_rng_next(uint64_t s[4])
{
	uint64_t r = bd_rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = bd_rng_rotl(s[3], 45);
	return r;
}

/* len bytes of successive draws, each in host byte order; a last partial
 * word takes the first bytes of one more draw. The apps' data streams
 * (bd_app_stream_fill) and braid-tcpbulk make their bytes this way, so the
 * same seed gives the same stream at both ends. */
static inline void bd_rng_fill(uint64_t s[4], uint8_t *buf, size_t len)
{
	while (len >= 8) {
		uint64_t v = bd_rng_next(s);
		memcpy(buf, &v, 8);
		buf += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = bd_rng_next(s);
		memcpy(buf, &v, len);
	}
}

#endif
