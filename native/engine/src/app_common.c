/* SPDX-License-Identifier: Apache-2.0
 * Shared pieces of the in-engine apps: the deterministic byte stream,
 * completion bookkeeping and percentiles. */
#include <stdlib.h>
#include <string.h>

#include "app_impl.h"

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void bd_app_stream_init(struct bd_app_stream *g, uint64_t seed)
{
	uint64_t x = seed;
	for (int i = 0; i < 4; i++) {
		uint64_t z = (x += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		g->s[i] = z ^ (z >> 31);
	}
}

static uint64_t next(struct bd_app_stream *g)
{
	uint64_t *s = g->s;
	uint64_t r = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

void bd_app_stream_fill(struct bd_app_stream *g, uint8_t *buf, size_t len)
{
	while (len >= 8) {
		uint64_t v = next(g);
		memcpy(buf, &v, 8);
		buf += 8;
		len -= 8;
	}
	if (len) {
		uint64_t v = next(g);
		memcpy(buf, &v, len);
	}
}

void bd_app_finish(struct bd_app_conn *c, int err)
{
	if (c->done)
		return;
	c->done = true;
	c->err = err;
	c->t_done_us = bd_stack_now_us(c->st);
	bd_app_snapshot(c);
}

void bd_app_snapshot(struct bd_app_conn *c)
{
	if (c->sock && bd_tcp_get_info(c->sock, &c->info) == 0)
		c->have_info = true;
}

void bd_app_conn_fini(struct bd_app_conn *c)
{
	if (c->sock) {
		if (c->done && !c->err)
			bd_tcp_close(c->sock);
		else
			bd_tcp_abort(c->sock);
		c->sock = NULL;
	}
	if (c->listener) {
		bd_tcp_close(c->listener);
		c->listener = NULL;
	}
}

int bd_app_conn_init(struct bd_app_conn *c, struct bd_stack *st)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->ts = bd_stack_tcp(st);
	c->t_start_us = bd_stack_now_us(st);
	return c->ts ? 0 : -BD_EINVAL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t bd_app_percentile(uint32_t *v, uint32_t n, double pct)
{
	double rank;
	uint32_t i;
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	if (pct <= 0)
		return v[0];
	if (pct >= 100)
		return v[n - 1];
	/* Nearest rank. */
	rank = pct / 100.0 * n;
	i = (uint32_t)rank;
	if ((double)i < rank)
		i++;
	return v[i ? i - 1 : 0];
}
