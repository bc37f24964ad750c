/* SPDX-License-Identifier: Apache-2.0
 * Heap-backed packet pool, for the simulator and unit tests. */
#include <stdlib.h>

#include "braid/pkt.h"

struct heap_pool {
	struct bd_pktpool pool;
	uint32_t limit; /* 0 = unbounded */
	uint32_t in_use;
	struct bd_pkt *free_list;
};

static struct bd_pkt *heap_alloc(struct bd_pktpool *pool)
{
	struct heap_pool *hp = (struct heap_pool *)pool;
	struct bd_pkt *p = hp->free_list;

	if (p) {
		hp->free_list = p->next;
	} else {
		if (hp->limit && hp->in_use >= hp->limit)
			return NULL;
		p = malloc(sizeof(*p) + pool->buf_size);
		if (!p)
			return NULL;
		p->buf = (uint8_t *)(p + 1);
		p->buf_len = pool->buf_size;
		p->pool = pool;
		p->backend = NULL;
	}
	hp->in_use++;
	p->data = p->buf + BD_PKT_HEADROOM;
	p->len = 0;
	p->flags = 0;
	p->port = 0;
	p->l2_len = p->l3_len = p->l4_len = 0;
	p->ts_us = 0;
	p->next = NULL;
	p->ref = NULL;
	p->ref_len = 0;
	return p;
}

static void heap_free(struct bd_pktpool *pool, struct bd_pkt *p)
{
	struct heap_pool *hp = (struct heap_pool *)pool;
	hp->in_use--;
	p->next = hp->free_list;
	hp->free_list = p;
}

static const struct bd_pktpool_ops heap_ops = {
    .alloc = heap_alloc,
    .free = heap_free,
};

struct bd_pktpool *bd_pktpool_heap_create(uint32_t count, uint32_t buf_size)
{
	struct heap_pool *hp = calloc(1, sizeof(*hp));
	if (!hp)
		return NULL;
	if (buf_size < BD_PKT_HEADROOM + 64)
		buf_size = BD_PKT_HEADROOM + 64;
	hp->pool.ops = &heap_ops;
	hp->pool.buf_size = buf_size;
	hp->limit = count;
	return &hp->pool;
}

void bd_pktpool_destroy(struct bd_pktpool *pool)
{
	struct heap_pool *hp = (struct heap_pool *)pool;
	struct bd_pkt *p;
	if (!pool)
		return;
	while ((p = hp->free_list)) {
		hp->free_list = p->next;
		free(p);
	}
	free(hp);
}
