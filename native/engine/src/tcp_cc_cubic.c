/* SPDX-License-Identifier: Apache-2.0
 * CUBIC (RFC 9438): W_cubic(t) = C (t - K)^3 + W_max, beta_cubic 0.7,
 * C 0.4, fast convergence, and the Reno-friendly region (W_est with
 * alpha_cubic = 3 (1 - beta) / (1 + beta)). Windows are kept in segments
 * as doubles in the private area. Slow start is standard. */
#include <math.h>
#include <string.h>

#include "tcp_impl.h"

#define CUBIC_C	   0.4
#define CUBIC_BETA 0.7

struct cubic {
	double w_max;	   /* segments */
	double w_last_max; /* for fast convergence */
	double k;	   /* seconds */
	double w_est;	   /* Reno-friendly estimate (segments) */
	uint64_t epoch_us; /* start of the congestion avoidance epoch */
	double cwnd_frac;  /* fractional segments accumulated */
};

_Static_assert(sizeof(struct cubic) <=
		   sizeof(((struct bd_tcp_cc_state *)0)->priv),
	       "cubic state fits");

static struct cubic *cub(struct bd_tcp_cc_state *cc)
{
	return (struct cubic *)(void *)cc->priv;
}

static void cubic_init(struct bd_tcp_cc_state *cc)
{
	memset(cub(cc), 0, sizeof(struct cubic));
}

static uint32_t cubic_ssthresh(struct bd_tcp_cc_state *cc)
{
	struct cubic *c = cub(cc);
	double cwnd = (double)cc->cwnd / cc->mss;
	uint32_t ss;

	/* Fast convergence (RFC 9438 section 4.7). */
	if (cwnd < c->w_last_max)
		c->w_max = cwnd * (1.0 + CUBIC_BETA) / 2.0;
	else
		c->w_max = cwnd;
	c->w_last_max = cwnd;
	c->epoch_us = 0;
	ss = (uint32_t)(cwnd * CUBIC_BETA * cc->mss);
	return ss > 2 * cc->mss ? ss : 2 * cc->mss;
}

static void cubic_cong_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	struct cubic *c = cub(cc);
	double cwnd, t, target, rtt_s, inc;

	if (cc->cwnd < cc->ssthresh) {
		uint32_t ss_inc = acked < 2 * cc->mss ? acked : 2 * cc->mss;
		cc->cwnd += ss_inc;
		return;
	}
	cwnd = (double)cc->cwnd / cc->mss;
	if (!c->epoch_us) {
		c->epoch_us = cc->now_us ? cc->now_us : 1;
		if (c->w_max < cwnd) {
			c->w_max = cwnd;
			c->k = 0;
		} else {
			c->k = cbrt(c->w_max * (1.0 - CUBIC_BETA) / CUBIC_C);
		}
		c->w_est = cwnd;
		c->cwnd_frac = 0;
	}
	rtt_s = (cc->srtt_us ? cc->srtt_us : 100000) / 1e6;
	t = (double)(cc->now_us - c->epoch_us) / 1e6;
	target = CUBIC_C * pow(t + rtt_s - c->k, 3) + c->w_max;
	if (target > 1.5 * cwnd)
		target = 1.5 * cwnd;

	/* Reno-friendly region (section 4.3). */
	{
		double alpha = 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
		if (c->w_est >= c->w_max)
			alpha = 1.0;
		c->w_est += alpha * ((double)acked / cc->mss) / cwnd;
	}
	if (c->w_est > target)
		target = c->w_est;
	if (target > cwnd)
		inc = (target - cwnd) / cwnd * ((double)acked / cc->mss);
	else
		inc = 0.01 * ((double)acked / cc->mss) / cwnd;
	c->cwnd_frac += inc;
	if (c->cwnd_frac >= 1.0) {
		uint32_t whole = (uint32_t)c->cwnd_frac;
		c->cwnd_frac -= whole;
		cc->cwnd += whole * cc->mss;
	}
}

static void cubic_event(struct bd_tcp_cc_state *cc, int ev)
{
	struct cubic *c = cub(cc);
	if (ev == BD_CC_EV_LOSS_RTO || ev == BD_CC_EV_RECOVERY_END ||
	    ev == BD_CC_EV_TX_START)
		c->epoch_us = 0;
}

const struct bd_tcp_cc_ops bd_tcp_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .ssthresh = cubic_ssthresh,
    .cong_avoid = cubic_cong_avoid,
    .cwnd_event = cubic_event,
};
