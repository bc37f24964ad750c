/* SPDX-License-Identifier: Apache-2.0
 *
 * One direction of an emulated link (see braid/sim.h): serialisation at a
 * rate behind a byte-limited tail-drop queue, propagation delay and jitter,
 * and seeded random impairments. Packets in flight sit in a binary heap
 * ordered by (arrival time, sequence), so equal arrival times keep their
 * sending order and every run with the same seed is identical.
 */
#include <stdlib.h>
#include <string.h>

#include "braid/rng.h"
#include "braid/sim.h"

struct flight {
	uint64_t at_ns;
	uint64_t seq;
	struct bd_pkt *p;
};

struct bd_link {
	struct bd_link_params lp;
	struct bd_link_stats st;
	struct bd_pktpool *pool;
	uint64_t rng[4];
	uint64_t busy_until; /* end of serialisation of the last queued frame */
	uint64_t ser_carry;  /* sub-ns remainder of serialisation times */
	uint64_t last_arrival;
	uint64_t seq;
	bool burst_bad;	     /* Gilbert-Elliott state */
	struct flight *heap; /* reordered packets */
	uint32_t n, cap;
	struct flight *ring; /* in-order packets, power-of-two capacity */
	uint32_t rhead, rlen, rcap;
};

static uint64_t rnd(struct bd_link *l)
{
	return bd_rng_next(l->rng);
}

static double rnd01(struct bd_link *l)
{
	return (double)(rnd(l) >> 11) * (1.0 / 9007199254740992.0);
}

static bool chance(struct bd_link *l, double p)
{
	return p > 0 && rnd01(l) < p;
}

struct bd_link *bd_link_create(const struct bd_link_params *lp, uint64_t seed,
			       struct bd_pktpool *pool)
{
	struct bd_link *l = calloc(1, sizeof(*l));
	uint64_t x = seed;
	if (!l)
		return NULL;
	bd_link_set_params(l, lp);
	l->pool = pool;
	bd_rng_seed(l->rng, &x);
	return l;
}

void bd_link_set_params(struct bd_link *l, const struct bd_link_params *lp)
{
	l->lp = *lp;
	if (l->lp.nblackholes > BD_SIM_MAX_BLACKHOLES)
		l->lp.nblackholes = BD_SIM_MAX_BLACKHOLES;
	if (!l->lp.reorder_ns)
		l->lp.reorder_ns = 1000000;
	if (!l->lp.burst_enter)
		l->burst_bad = false;
}

void bd_link_destroy(struct bd_link *l)
{
	if (!l)
		return;
	for (uint32_t i = 0; i < l->n; i++)
		bd_pkt_free(l->heap[i].p);
	for (uint32_t i = 0; i < l->rlen; i++)
		bd_pkt_free(l->ring[(l->rhead + i) & (l->rcap - 1)].p);
	free(l->heap);
	free(l->ring);
	free(l);
}

static bool before(const struct flight *a, const struct flight *b)
{
	return a->at_ns < b->at_ns || (a->at_ns == b->at_ns && a->seq < b->seq);
}

static int heap_push(struct bd_link *l, uint64_t at, struct bd_pkt *p)
{
	uint32_t i;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 256;
		struct flight *h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return -1;
		l->heap = h;
		l->cap = cap;
	}
	i = l->n++;
	l->heap[i] = (struct flight){at, l->seq++, p};
	while (i > 0) {
		uint32_t up = (i - 1) / 2;
		struct flight t;
		if (!before(&l->heap[i], &l->heap[up]))
			break;
		t = l->heap[i];
		l->heap[i] = l->heap[up];
		l->heap[up] = t;
		i = up;
	}
	return 0;
}

static struct bd_pkt *heap_pop(struct bd_link *l)
{
	struct bd_pkt *p = l->heap[0].p;
	uint32_t i = 0;
	l->heap[0] = l->heap[--l->n];
	for (;;) {
		uint32_t c = 2 * i + 1, m = i;
		struct flight t;
		if (c < l->n && before(&l->heap[c], &l->heap[m]))
			m = c;
		if (c + 1 < l->n && before(&l->heap[c + 1], &l->heap[m]))
			m = c + 1;
		if (m == i)
			break;
		t = l->heap[i];
		l->heap[i] = l->heap[m];
		l->heap[m] = t;
		i = m;
	}
	return p;
}

static int ring_push(struct bd_link *l, uint64_t at, struct bd_pkt *p)
{
	if (l->rlen == l->rcap) {
		uint32_t cap = l->rcap ? l->rcap * 2 : 256;
		struct flight *r = malloc(cap * sizeof(*r));
		if (!r)
			return -1;
		for (uint32_t i = 0; i < l->rlen; i++)
			r[i] = l->ring[(l->rhead + i) & (l->rcap - 1)];
		free(l->ring);
		l->ring = r;
		l->rcap = cap;
		l->rhead = 0;
	}
	l->ring[(l->rhead + l->rlen) & (l->rcap - 1)] =
	    (struct flight){at, l->seq++, p};
	l->rlen++;
	return 0;
}

static bool in_blackhole(const struct bd_link *l, uint64_t now)
{
	for (uint32_t i = 0; i < l->lp.nblackholes; i++)
		if (now >= l->lp.blackholes[i].start_ns &&
		    now < l->lp.blackholes[i].end_ns)
			return true;
	return false;
}

static void schedule(struct bd_link *l, struct bd_pkt *p, uint64_t at,
		     bool in_order)
{
	if ((in_order ? ring_push(l, at, p) : heap_push(l, at, p)) < 0) {
		l->st.drop_nobuf++;
		bd_pkt_free(p);
	}
}

void bd_link_send(struct bd_link *l, struct bd_pkt *p, uint64_t now)
{
	const struct bd_link_params *lp = &l->lp;
	uint64_t depart = now, arrive;
	uint32_t len = p->len;
	bool in_order = true;

	l->st.sent_pkts++;
	l->st.sent_bytes += len;
	if (lp->down || in_blackhole(l, now)) {
		l->st.drop_blackhole++;
		goto drop;
	}
	if (lp->burst_enter > 0) {
		l->burst_bad = l->burst_bad ? !chance(l, lp->burst_exit)
					    : chance(l, lp->burst_enter);
		if (l->burst_bad && chance(l, lp->burst_loss)) {
			l->st.drop_burst++;
			goto drop;
		}
	}
	if (!l->burst_bad && chance(l, lp->loss)) {
		l->st.drop_loss++;
		goto drop;
	}
	if (lp->rate_bps) {
		uint64_t start = l->busy_until > now ? l->busy_until : now;
		uint64_t backlog = 0, bits;
		if (l->busy_until > now)
			backlog = (l->busy_until - now) * lp->rate_bps /
				  8000000000ull;
		if (lp->queue_bytes && backlog + len > lp->queue_bytes) {
			l->st.drop_queue++;
			goto drop;
		}
		if (backlog + len > l->st.max_queue_bytes)
			l->st.max_queue_bytes = backlog + len;
		bits = (uint64_t)len * 8000000000ull + l->ser_carry;
		l->busy_until = start + bits / lp->rate_bps;
		l->ser_carry = bits % lp->rate_bps;
		l->st.busy_ns += l->busy_until - start;
		depart = l->busy_until;
	}
	arrive = depart + lp->delay_ns;
	if (lp->jitter_ns)
		arrive += rnd(l) % (lp->jitter_ns + 1);
	/* Jitter alone never reorders (like a real queue). */
	if (arrive < l->last_arrival)
		arrive = l->last_arrival;
	l->last_arrival = arrive;
	if (chance(l, lp->reorder)) {
		l->st.reordered++;
		arrive += 1 + rnd(l) % lp->reorder_ns;
		in_order = false;
	}
	if (len > 14 && chance(l, lp->corrupt)) {
		uint32_t off = 14 + (uint32_t)(rnd(l) % (len - 14));
		p->data[off] ^= (uint8_t)(1u << (rnd(l) & 7));
		l->st.corrupted++;
	}
	if (chance(l, lp->duplicate)) {
		struct bd_pkt *d = bd_pkt_alloc(l->pool);
		if (d && bd_pkt_append(d, len)) {
			memcpy(d->data, p->data, len);
			d->flags = p->flags;
			l->st.duplicated++;
			schedule(l, d, arrive, in_order);
		} else {
			bd_pkt_free(d);
			l->st.drop_nobuf++;
		}
	}
	schedule(l, p, arrive, in_order);
	return;
drop:
	bd_pkt_free(p);
}

/* Which queue holds the next arrival: 1 ring, 0 heap, -1 none. */
static int next_src(const struct bd_link *l)
{
	if (!l->rlen)
		return l->n ? 0 : -1;
	if (!l->n)
		return 1;
	return before(&l->ring[l->rhead], &l->heap[0]) ? 1 : 0;
}

uint64_t bd_link_next_ns(const struct bd_link *l)
{
	switch (next_src(l)) {
	case 1:
		return l->ring[l->rhead].at_ns;
	case 0:
		return l->heap[0].at_ns;
	default:
		return UINT64_MAX;
	}
}

struct bd_pkt *bd_link_recv(struct bd_link *l, uint64_t now)
{
	struct bd_pkt *p;
	int src = next_src(l);
	if (src < 0)
		return NULL;
	if (src == 1) {
		if (l->ring[l->rhead].at_ns > now)
			return NULL;
		p = l->ring[l->rhead].p;
		l->rhead = (l->rhead + 1) & (l->rcap - 1);
		l->rlen--;
	} else {
		if (l->heap[0].at_ns > now)
			return NULL;
		p = heap_pop(l);
	}
	p->ts_us = now / 1000;
	l->st.delivered_pkts++;
	l->st.delivered_bytes += p->len;
	return p;
}

const struct bd_link_stats *bd_link_stats(const struct bd_link *l)
{
	return &l->st;
}

const struct bd_link_params *bd_link_params(const struct bd_link *l)
{
	return &l->lp;
}
