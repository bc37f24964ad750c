/* SPDX-License-Identifier: Apache-2.0
 * Congestion control: NewReno and CUBIC window evolution driven directly
 * through the ops table, and controller selection per socket. */
#include <math.h>
#include <string.h>

#include "bt.h"
#include "tcp_harness.h"
#include "tcp_impl.h"

static void ack_rtt(const struct bd_tcp_cc_ops *ops, struct bd_tcp_cc_state *cc)
{
	/* One round trip: a cwnd's worth of ACKs, one per 2 segments. */
	uint32_t w = cc->cwnd;
	for (uint32_t done = 0; done < w; done += 2 * cc->mss)
		ops->cong_avoid(cc, 2 * cc->mss);
	cc->now_us += cc->srtt_us;
}

BT_TEST(tcp_cc_newreno_slow_start_and_avoidance)
{
	const struct bd_tcp_cc_ops *ops = bd_tcp_cc_find("newreno");
	struct bd_tcp_cc_state cc;

	BT_ASSERT(ops && ops == bd_tcp_cc_find("reno"));
	memset(&cc, 0, sizeof(cc));
	cc.mss = 1000;
	cc.cwnd = 10000;
	cc.ssthresh = UINT32_MAX;
	cc.srtt_us = 10000;
	ops->init(&cc);
	ack_rtt(ops, &cc);
	BT_UEQ(cc.cwnd, 20000); /* doubles per RTT */
	ack_rtt(ops, &cc);
	BT_UEQ(cc.cwnd, 40000);
	cc.bytes_in_flight = 40000;
	cc.ssthresh = ops->ssthresh(&cc);
	BT_UEQ(cc.ssthresh, 20000);
	cc.cwnd = cc.ssthresh;
	ack_rtt(ops, &cc);
	BT_UEQ(cc.cwnd, 21000); /* +1 MSS per RTT */
	ack_rtt(ops, &cc);
	BT_UEQ(cc.cwnd, 22000);
	cc.bytes_in_flight = 1000;
	BT_UEQ(ops->ssthresh(&cc), 2000); /* floor 2 MSS */
}

BT_TEST(tcp_cc_cubic_concave_then_convex)
{
	const struct bd_tcp_cc_ops *ops = bd_tcp_cc_find("cubic");
	struct bd_tcp_cc_state cc;
	uint32_t w_max = 100, seg;
	double k;
	int rtts_to_wmax = -1;

	BT_ASSERT(ops);
	memset(&cc, 0, sizeof(cc));
	cc.mss = 1000;
	cc.cwnd = w_max * 1000;
	cc.srtt_us = 100000;
	cc.now_us = 1000000;
	ops->init(&cc);
	cc.ssthresh = ops->ssthresh(&cc);
	BT_UEQ(cc.ssthresh, 70000); /* beta 0.7 */
	cc.cwnd = cc.ssthresh;
	/* K = cbrt(W_max (1 - beta) / C) = cbrt(75) = 4.2 s. */
	k = cbrt(w_max * 0.3 / 0.4);
	for (int r = 0; r < 100; r++) {
		uint32_t before = cc.cwnd;
		ack_rtt(ops, &cc);
		BT_ASSERT(cc.cwnd >= before);
		if (rtts_to_wmax < 0 && cc.cwnd >= w_max * 1000)
			rtts_to_wmax = r + 1;
		/* Slow growth near W_max (the plateau). */
		if (fabs((double)r * 0.1 - k) < 0.3)
			BT_ASSERT(cc.cwnd - before <= 2000);
	}
	/* Reaches W_max after about K seconds (42 RTTs of 100 ms). */
	BT_ASSERT(rtts_to_wmax >= 28 && rtts_to_wmax <= 46);
	seg = cc.cwnd / 1000;
	BT_ASSERT(seg > w_max + 15); /* convex probing beyond W_max */
	/* Fast convergence: a loss below the last W_max lowers W_max. */
	cc.cwnd = 80000;
	cc.ssthresh = ops->ssthresh(&cc);
	BT_UEQ(cc.ssthresh, 56000);
}

BT_TEST(tcp_cc_selected_per_socket)
{
	struct th_net n;
	struct bd_tcp_opts oa = {0};
	struct bd_tcp_sock *a, *b, *l;
	struct bd_tcp_info i;

	oa.cc = "newreno";
	th_init(&n, 40, NULL, NULL);
	BT_ASSERT(th_establish(&n, &oa, NULL, &a, &b, &l) == 0);
	bd_tcp_get_info(a, &i);
	BT_ASSERT(strcmp(i.cc, "newreno") == 0);
	bd_tcp_get_info(b, &i);
	BT_ASSERT(strcmp(i.cc, "cubic") == 0);
	BT_EQ(bd_tcp_set_cc(b, "newreno"), 0);
	BT_EQ(bd_tcp_set_cc(b, "nope"), -BD_EINVAL);
	bd_tcp_get_info(b, &i);
	BT_ASSERT(strcmp(i.cc, "newreno") == 0);
	BT_EQ(i.snd_cwnd, 10);
	th_free(&n);
}

/* A toy coupled controller: every subflow grows by the connection's
 * shared increment (checks the conn pointer reaches cong_avoid). */
struct toy_conn {
	int calls;
	uint32_t total_cwnd;
};

static uint32_t toy_ssthresh(struct bd_tcp_cc_state *cc)
{
	return cc->cwnd / 2;
}

static void toy_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	struct toy_conn *c = cc->conn;
	(void)acked;
	if (c) {
		c->calls++;
		c->total_cwnd = cc->cwnd;
	}
}

static const struct bd_tcp_cc_ops toy_ops = {
    .name = "toy-coupled",
    .ssthresh = toy_ssthresh,
    .cong_avoid = toy_avoid,
};

BT_TEST(tcp_cc_register_and_conn_context)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct toy_conn conn = {0};
	static uint8_t data[50000];

	BT_ASSERT(bd_tcp_cc_register(&toy_ops) == 0 ||
		  bd_tcp_cc_find("toy-coupled") == &toy_ops);
	BT_EQ(bd_tcp_cc_register(&toy_ops), -BD_EADDRINUSE);
	th_init(&n, 41, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	BT_EQ(bd_tcp_set_cc(a, "toy-coupled"), 0);
	bd_tcp_set_cc_conn(a, &conn);
	bd_tcp_send(a, data, sizeof(data));
	th_pump(&n, 50);
	BT_ASSERT(conn.calls > 0);
	BT_UEQ(conn.total_cwnd, bd_tcp_get_cc_state(a)->cwnd);
	BT_ASSERT(bd_tcp_get_cc_state(a)->conn == &conn);
	th_free(&n);
}
