/* SPDX-License-Identifier: Apache-2.0
 *
 * Coupled congestion control for MPTCP subflows, as TCP congestion
 * controllers (struct bd_tcp_cc_ops): LIA (RFC 6356), OLIA (Khalili et al.,
 * "MPTCP is not Pareto-optimal", CoNEXT 2012) and BALIA (Peng et al.,
 * "Multipath TCP: Analysis, Design and Implementation", ToN 2016). Each
 * grows its subflow's window in congestion avoidance from the windows and
 * RTTs of all the connection's subflows, read through cc->conn (the MPTCP
 * connection, set with bd_tcp_set_cc_conn). Slow start and the reaction to
 * a loss are Reno's (BALIA scales the decrease). A subflow without a
 * connection behaves as NewReno.
 *
 * Also here: choosing the controller per connection.
 */
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"

/* priv[0]: fractional bytes owed (in 1/1024 byte); OLIA: priv[1] bytes
 * acked between the last two losses, priv[2] since the last loss. */
#define FRAC 1024.0

struct sib {
	double w;   /* window (bytes) */
	double rtt; /* seconds */
	double mss;
	double l; /* OLIA: max(l1, l2) */
	const struct bd_tcp_cc_state *cc;
};

#define SIB_MAX BD_MPTCP_SF_MAX

/* The usable subflows of cc's connection (cc itself included). */
static unsigned siblings(const struct bd_tcp_cc_state *cc, struct sib *s)
{
	unsigned n = 0;
	const struct bd_mptcp_sock *msk = cc->conn;
	if (msk)
		for (const struct bd_mptcp_subflow *sf = msk->subflows;
		     sf && n < SIB_MAX; sf = sf->next) {
			if (!sf->tcp || sf->dead || !sf->mp_ready)
				continue;
			const struct bd_tcp_cc_state *x =
			    bd_tcp_get_cc_state(sf->tcp);
			if (x == cc)
				continue;
			s[n++].cc = x;
		}
	s[n++].cc = cc;
	for (unsigned i = 0; i < n; i++) {
		const struct bd_tcp_cc_state *x = s[i].cc;
		s[i].w = x->cwnd ? x->cwnd : 1;
		s[i].rtt = (x->srtt_us ? x->srtt_us : 1000) / 1e6;
		s[i].mss = x->mss ? x->mss : 1400;
		uint64_t l = x->priv[1] > x->priv[2] ? x->priv[1] : x->priv[2];
		s[i].l = (double)l;
	}
	return n; /* cc is s[n - 1] */
}

static void slow_start(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	uint32_t inc = acked < 2 * cc->mss ? acked : 2 * cc->mss;
	cc->cwnd += inc;
}

/* Add inc bytes (fractional) to the window. */
static void grow(struct bd_tcp_cc_state *cc, double inc)
{
	if (inc < 0)
		inc = 0;
	cc->priv[0] += (uint64_t)(inc * FRAC);
	uint64_t whole = cc->priv[0] / (uint64_t)FRAC;
	if (whole) {
		cc->cwnd += (uint32_t)whole;
		cc->priv[0] -= whole * (uint64_t)FRAC;
	}
}

static void coupled_init(struct bd_tcp_cc_state *cc)
{
	cc->priv[0] = cc->priv[1] = cc->priv[2] = 0;
}

static uint32_t reno_half(struct bd_tcp_cc_state *cc)
{
	uint32_t half = cc->bytes_in_flight / 2;
	return half > 2 * cc->mss ? half : 2 * cc->mss;
}

static void coupled_event(struct bd_tcp_cc_state *cc, int ev)
{
	if (ev == BD_CC_EV_LOSS_RTO || ev == BD_CC_EV_RECOVERY_END)
		cc->priv[0] = 0;
}

/* --- LIA (RFC 6356) ----------------------------------------------------------
 * alpha = w_total * max_i(w_i / rtt_i^2) / (sum_i w_i / rtt_i)^2; each
 * ACK of `acked` bytes on subflow i adds
 * min(alpha * acked * mss_i / w_total, acked * mss_i / w_i). */
static void lia_cong_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	struct sib s[SIB_MAX];
	if (cc->cwnd < cc->ssthresh) {
		slow_start(cc, acked);
		return;
	}
	unsigned n = siblings(cc, s);
	double tot = 0, best = 0, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		tot += s[i].w;
		if (s[i].w / (s[i].rtt * s[i].rtt) > best)
			best = s[i].w / (s[i].rtt * s[i].rtt);
		sum += s[i].w / s[i].rtt;
	}
	double alpha = tot * best / (sum * sum);
	double me = s[n - 1].w, mss = s[n - 1].mss;
	double coupled = alpha * acked * mss / tot;
	double single = acked * mss / me;
	grow(cc, coupled < single ? coupled : single);
}

const struct bd_tcp_cc_ops bd_mptcp_cc_lia = {
    .name = "lia",
    .init = coupled_init,
    .ssthresh = reno_half,
    .cong_avoid = lia_cong_avoid,
    .cwnd_event = coupled_event,
};

/* --- OLIA
 * --------------------------------------------------------------------- Per
 * packet acked on path r (windows in packets): (w_r / rtt_r^2) / (sum_p w_p /
 * rtt_p)^2 + alpha_r / w_r alpha_r moves window from the paths with the largest
 * windows (M) to the best paths (largest l_p / rtt_p^2, l = bytes between
 * losses) that are not among them (B \ M): +1/(n |B\M|) on those, -1/(n |M|) on
 * M. */
static uint32_t olia_ssthresh(struct bd_tcp_cc_state *cc)
{
	cc->priv[1] = cc->priv[2];
	cc->priv[2] = 0;
	return reno_half(cc);
}

static void olia_cong_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	struct sib s[SIB_MAX];
	cc->priv[2] += acked;
	if (cc->cwnd < cc->ssthresh) {
		slow_start(cc, acked);
		return;
	}
	unsigned n = siblings(cc, s);
	double wmax = 0, qbest = 0, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		double wp = s[i].w / s[i].mss,
		       q = s[i].l / (s[i].rtt * s[i].rtt);
		if (wp > wmax)
			wmax = wp;
		if (q > qbest)
			qbest = q;
		sum += wp / s[i].rtt;
	}
	unsigned nm = 0, nc = 0;
	bool me_m = false, me_c = false;
	for (unsigned i = 0; i < n; i++) {
		double wp = s[i].w / s[i].mss,
		       q = s[i].l / (s[i].rtt * s[i].rtt);
		bool in_m = wp >= wmax;
		bool in_c = !in_m && q >= qbest;
		nm += in_m;
		nc += in_c;
		if (i == n - 1) {
			me_m = in_m;
			me_c = in_c;
		}
	}
	double alpha = 0;
	if (nc) {
		if (me_c)
			alpha = 1.0 / (n * nc);
		else if (me_m)
			alpha = -1.0 / (n * nm);
	}
	double mss = s[n - 1].mss, w = s[n - 1].w / mss, r = s[n - 1].rtt;
	double per_pkt = (w / (r * r)) / (sum * sum) + alpha / w;
	grow(cc, per_pkt * acked); /* (acked / mss) packets, mss bytes each */
}

const struct bd_tcp_cc_ops bd_mptcp_cc_olia = {
    .name = "olia",
    .init = coupled_init,
    .ssthresh = olia_ssthresh,
    .cong_avoid = olia_cong_avoid,
    .cwnd_event = coupled_event,
};

/* --- BALIA
 * -------------------------------------------------------------------- x_r =
 * w_r / rtt_r, alpha_r = max_k x_k / x_r. Per packet acked: (x_r / rtt_r) /
 * (sum_k x_k)^2 * (1 + alpha_r) / 2 * (4 + alpha_r) / 5 and on a loss w_r -=
 * w_r / 2 * min(alpha_r, 1.5). */
static double balia_alpha(struct bd_tcp_cc_state *cc, double *sumx,
			  struct sib *s, unsigned *np)
{
	unsigned n = siblings(cc, s);
	double xmax = 0, sum = 0;
	for (unsigned i = 0; i < n; i++) {
		double x = s[i].w / s[i].mss / s[i].rtt;
		if (x > xmax)
			xmax = x;
		sum += x;
	}
	double xr = s[n - 1].w / s[n - 1].mss / s[n - 1].rtt;
	*sumx = sum;
	*np = n;
	return xr > 0 ? xmax / xr : 1;
}

static uint32_t balia_ssthresh(struct bd_tcp_cc_state *cc)
{
	struct sib s[SIB_MAX];
	double sum;
	unsigned n;
	double a = balia_alpha(cc, &sum, s, &n);
	double w = cc->bytes_in_flight;
	double nw = w - w / 2 * (a < 1.5 ? a : 1.5);
	uint32_t min = 2 * cc->mss;
	return nw > min ? (uint32_t)nw : min;
}

static void balia_cong_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	struct sib s[SIB_MAX];
	double sum;
	unsigned n;
	if (cc->cwnd < cc->ssthresh) {
		slow_start(cc, acked);
		return;
	}
	double a = balia_alpha(cc, &sum, s, &n);
	double mss = s[n - 1].mss, r = s[n - 1].rtt;
	double x = s[n - 1].w / mss / r;
	double per_pkt = (x / r) / (sum * sum) * (1 + a) / 2 * (4 + a) / 5;
	grow(cc, per_pkt * acked);
}

const struct bd_tcp_cc_ops bd_mptcp_cc_balia = {
    .name = "balia",
    .init = coupled_init,
    .ssthresh = balia_ssthresh,
    .cong_avoid = balia_cong_avoid,
    .cwnd_event = coupled_event,
};

void bd_mptcp_cc_register_all(void)
{
	/* Already there is fine (every stack calls this). */
	bd_tcp_cc_register(&bd_mptcp_cc_lia);
	bd_tcp_cc_register(&bd_mptcp_cc_olia);
	bd_tcp_cc_register(&bd_mptcp_cc_balia);
}

/* --- per connection
 * ------------------------------------------------------------ */

void mptcp_cc_attach(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf)
{
	if (!sf->tcp)
		return;
	struct bd_tcp_info ti;
	if (msk->cc)
		bd_tcp_set_cc(sf->tcp, msk->cc->name);
	else if (bd_tcp_get_info(sf->tcp, &ti) == 0)
		msk->cc = bd_tcp_cc_find(ti.cc); /* the TCP stack's default */
	bd_tcp_set_cc_conn(sf->tcp, msk);
}

int bd_mptcp_set_cc(struct bd_mptcp_sock *sk, const char *name)
{
	bd_mptcp_cc_register_all();
	const struct bd_tcp_cc_ops *ops = bd_tcp_cc_find(name);
	if (!ops || sk->listener)
		return -BD_EINVAL;
	sk->cc = ops;
	for (struct bd_mptcp_subflow *sf = sk->subflows; sf; sf = sf->next)
		if (sf->tcp && !sf->dead)
			bd_tcp_set_cc(sf->tcp, name);
	return 0;
}

const char *bd_mptcp_get_cc(const struct bd_mptcp_sock *sk)
{
	return sk->cc ? sk->cc->name : "";
}
