/* SPDX-License-Identifier: Apache-2.0
 * NewReno (RFC 5681 with RFC 3465 byte counting, L = 2 SMSS; the recovery
 * part of RFC 6582 lives in tcp_input.c). */
#include "tcp_impl.h"

/* priv[0]: bytes acked towards the next congestion avoidance increase. */

static void reno_init(struct bd_tcp_cc_state *cc)
{
	cc->priv[0] = 0;
}

static uint32_t reno_ssthresh(struct bd_tcp_cc_state *cc)
{
	uint32_t half = cc->bytes_in_flight / 2;
	return half > 2 * cc->mss ? half : 2 * cc->mss;
}

static void reno_cong_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	if (cc->cwnd < cc->ssthresh) {
		uint32_t inc = acked < 2 * cc->mss ? acked : 2 * cc->mss;
		cc->cwnd += inc;
		return;
	}
	cc->priv[0] += acked;
	if (cc->priv[0] >= cc->cwnd) {
		cc->priv[0] -= cc->cwnd;
		cc->cwnd += cc->mss;
	}
}

static void reno_event(struct bd_tcp_cc_state *cc, int ev)
{
	if (ev == BD_CC_EV_LOSS_RTO || ev == BD_CC_EV_RECOVERY_END)
		cc->priv[0] = 0;
}

const struct bd_tcp_cc_ops bd_tcp_cc_newreno = {
    .name = "newreno",
    .init = reno_init,
    .ssthresh = reno_ssthresh,
    .cong_avoid = reno_cong_avoid,
    .cwnd_event = reno_event,
};
