/* SPDX-License-Identifier: Apache-2.0
 * MPTCP internals shared by the mptcp_*.c files. */
#ifndef BRAID_MPTCP_IMPL_H
#define BRAID_MPTCP_IMPL_H

#include <stdbool.h>
#include <stdint.h>

/* 64-bit data sequence numbers compare modulo 2^64 (the IDSN is random,
 * so the space may wrap during a connection). */
static inline bool bd_before64(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

static inline bool bd_after64(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) > 0;
}

static inline uint64_t bd_min64(uint64_t a, uint64_t b)
{
	return bd_before64(a, b) ? a : b;
}

static inline uint64_t bd_max64(uint64_t a, uint64_t b)
{
	return bd_after64(a, b) ? a : b;
}

#endif
