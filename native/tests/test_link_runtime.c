/* SPDX-License-Identifier: Apache-2.0
 * Link features the DPDK link emulator relies on: bursty (Gilbert-Elliott)
 * loss, and parameters changed while packets are in flight. */
#include <string.h>

#include "braid/sim.h"
#include "bt.h"

static struct bd_pkt *frame(struct bd_pktpool *pool, uint32_t len, uint32_t tag)
{
	struct bd_pkt *p = bd_pkt_alloc(pool);
	uint8_t *b = bd_pkt_append(p, len);
	memset(b, 0, len);
	memcpy(b + 20, &tag, 4);
	return p;
}

static uint32_t tag_of(const struct bd_pkt *p)
{
	uint32_t t;
	memcpy(&t, p->data + 20, 4);
	return t;
}

BT_TEST(link_bursty_loss_comes_in_runs)
{
	struct bd_pktpool *pool = bd_pktpool_heap_create(0, 256);
	/* Stationary bad-state share p / (p + r) = 0.01 / 0.26 ~ 3.8 %, mean
	 * burst 1 / r = 4 packets. */
	struct bd_link_params lp = {
	    .burst_enter = 0.01, .burst_exit = 0.25, .burst_loss = 1.0};
	struct bd_link *l = bd_link_create(&lp, 7, pool);
	const uint32_t n = 100000;
	uint32_t expect = 0, runs = 0, lost = 0;
	for (uint32_t i = 0; i < n; i++)
		bd_link_send(l, frame(pool, 64, i), i);
	for (struct bd_pkt *p; (p = bd_link_recv(l, UINT64_MAX - 1));) {
		uint32_t t = tag_of(p);
		if (t != expect) {
			runs++;
			lost += t - expect;
		}
		expect = t + 1;
		bd_pkt_free(p);
	}
	if (expect != n) {
		runs++;
		lost += n - expect;
	}
	BT_UEQ(bd_link_stats(l)->drop_burst, lost);
	BT_UEQ(bd_link_stats(l)->drop_loss, 0);
	/* 3.8 %, within 1.2 points, and losses clustered: mean run well
	 * above 1. */
	BT_ASSERT(lost > n * 26 / 1000 && lost < n * 50 / 1000);
	BT_ASSERT(lost > runs * 3);
	bd_link_destroy(l);
	bd_pktpool_destroy(pool);
}

BT_TEST(link_params_change_in_flight)
{
	struct bd_pktpool *pool = bd_pktpool_heap_create(0, 256);
	struct bd_link_params lp = {.delay_ns = 1000000};
	struct bd_link *l = bd_link_create(&lp, 1, pool);
	struct bd_pkt *p;
	bd_link_send(l, frame(pool, 100, 1), 0);
	/* Take the link down: what is in flight still arrives, new frames
	 * are dropped as a blackhole. */
	lp.down = true;
	bd_link_set_params(l, &lp);
	bd_link_send(l, frame(pool, 100, 2), 10);
	BT_UEQ(bd_link_stats(l)->drop_blackhole, 1);
	/* Back up with a longer delay. */
	lp.down = false;
	lp.delay_ns = 5000000;
	bd_link_set_params(l, &lp);
	bd_link_send(l, frame(pool, 100, 3), 20);
	p = bd_link_recv(l, 1000000);
	BT_ASSERT(p && tag_of(p) == 1);
	bd_pkt_free(p);
	BT_ASSERT(bd_link_recv(l, 5000019) == NULL);
	p = bd_link_recv(l, 5000020);
	BT_ASSERT(p && tag_of(p) == 3);
	bd_pkt_free(p);
	BT_UEQ(bd_link_params(l)->delay_ns, 5000000);
	bd_link_destroy(l);
	bd_pktpool_destroy(pool);
}
