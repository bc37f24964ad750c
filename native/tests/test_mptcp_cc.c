/* SPDX-License-Identifier: Apache-2.0
 * Coupled congestion control (mptcp_cc.c): alone (no connection) each
 * coupled controller grows and backs off as Reno; over two subflows the
 * coupled increase is smaller than the uncoupled one; whole transfers with
 * each controller chosen per connection. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "braid/mptcp.h"
#include "braid/scenario.h"
#include "braid/tcp.h"
#include "bt.h"
#include "mptcp_impl.h"
#include "tcp_impl.h"

static const struct bd_tcp_cc_ops *const coupled[] = {
    &bd_mptcp_cc_lia, &bd_mptcp_cc_olia, &bd_mptcp_cc_balia};

BT_TEST(mptcp_cc_registered_by_name)
{
	bd_mptcp_cc_register_all();
	bd_mptcp_cc_register_all(); /* twice is fine */
	BT_ASSERT(bd_tcp_cc_find("lia") == &bd_mptcp_cc_lia);
	BT_ASSERT(bd_tcp_cc_find("olia") == &bd_mptcp_cc_olia);
	BT_ASSERT(bd_tcp_cc_find("balia") == &bd_mptcp_cc_balia);
	BT_ASSERT(bd_tcp_cc_find("cubic") != NULL);
}

/* Workers create their stacks in parallel threads, and each stack
 * registers the coupled controllers: the registries stay whole. */
static uint32_t race_ssthresh(struct bd_tcp_cc_state *cc)
{
	return cc->cwnd / 2;
}
static void race_avoid(struct bd_tcp_cc_state *cc, uint32_t acked)
{
	cc->cwnd += acked;
}
static const struct bd_tcp_cc_ops race_cc = {
    .name = "race-cc", .ssthresh = race_ssthresh, .cong_avoid = race_avoid};
static void race_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	(void)priv;
	(void)d;
}
static const struct bd_mptcp_sched_ops race_sched = {.name = "race-sched",
						     .get_send = race_get};
static atomic_int race_go, race_cc_won, race_sched_won, race_bad;

static void *race_worker(void *arg)
{
	(void)arg;
	while (!atomic_load(&race_go))
		;
	for (int i = 0; i < 2000; i++) {
		bd_mptcp_cc_register_all();
		if (bd_tcp_cc_register(&race_cc) == 0)
			atomic_fetch_add(&race_cc_won, 1);
		if (bd_mptcp_sched_register(&race_sched) == 0)
			atomic_fetch_add(&race_sched_won, 1);
		if (bd_tcp_cc_find("balia") != &bd_mptcp_cc_balia ||
		    bd_tcp_cc_find("cubic") == NULL ||
		    bd_mptcp_sched_find("lowrtt") == NULL)
			atomic_fetch_add(&race_bad, 1);
	}
	return NULL;
}

BT_TEST(mptcp_cc_registries_shared_by_threads)
{
	enum { N = 8 };
	pthread_t t[N];
	int cc_before = tcp_cc_count(), sched_before = mptcp_sched_count();
	int cc_new = 1 + (bd_tcp_cc_find("lia") == NULL) +
		     (bd_tcp_cc_find("olia") == NULL) +
		     (bd_tcp_cc_find("balia") == NULL);
	BT_ASSERT(bd_tcp_cc_find("race-cc") == NULL);
	for (int i = 0; i < N; i++)
		BT_EQ(pthread_create(&t[i], NULL, race_worker, NULL), 0);
	atomic_store(&race_go, 1);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	BT_EQ(atomic_load(&race_bad), 0);
	/* Each name registered once, by exactly one thread. */
	BT_EQ(atomic_load(&race_cc_won), 1);
	BT_EQ(atomic_load(&race_sched_won), 1);
	BT_EQ(tcp_cc_count(), cc_before + cc_new);
	BT_EQ(mptcp_sched_count(), sched_before + 1);
	BT_ASSERT(bd_tcp_cc_find("race-cc") == &race_cc);
	BT_ASSERT(bd_mptcp_sched_find("race-sched") == &race_sched);
}

BT_TEST(mptcp_cc_single_subflow_is_reno)
{
	for (unsigned k = 0; k < 3; k++) {
		struct bd_tcp_cc_state cc;
		memset(&cc, 0, sizeof(cc));
		cc.mss = 1000;
		cc.cwnd = 20000;
		cc.ssthresh = 10000; /* congestion avoidance */
		cc.srtt_us = 10000;
		cc.bytes_in_flight = 20000;
		coupled[k]->init(&cc);
		/* One window of ACKs: + 1 MSS (within rounding). */
		for (int i = 0; i < 20; i++)
			coupled[k]->cong_avoid(&cc, 1000);
		BT_ASSERT(cc.cwnd >= 20900 && cc.cwnd <= 21100);
		/* A loss halves the flight. */
		BT_UEQ(coupled[k]->ssthresh(&cc), 10000);
		/* Slow start below ssthresh. */
		cc.cwnd = 4000;
		cc.ssthresh = 100000;
		coupled[k]->cong_avoid(&cc, 1000);
		BT_UEQ(cc.cwnd, 5000);
	}
}

static void scen(struct bd_scenario *sc, const char *cc, unsigned npaths,
		 unsigned per_path)
{
	bd_scenario_default(sc);
	sc->protocol = BD_SCEN_MPTCP;
	sc->npaths = npaths;
	for (unsigned i = 0; i < npaths; i++) {
		sc->path[i].rate_bps = 20000000ull;
		sc->path[i].delay_ns = 10000000ull;
		sc->path[i].queue_bytes = 60000;
	}
	sc->subflows_per_path = (uint8_t)per_path;
	sc->bytes = 4u << 20;
	snprintf(sc->cc, sizeof(sc->cc), "%s", cc);
}

BT_TEST(mptcp_cc_transfers_with_each_controller)
{
	const char *names[] = {"lia", "olia", "balia", "cubic"};
	static struct bd_scenario_result res;
	for (unsigned i = 0; i < 4; i++) {
		struct bd_scenario sc;
		scen(&sc, names[i], 2, 1);
		BT_EQ(bd_scenario_run(&sc, &res), 0);
		printf("    %-6s %.3fs %.1f Mbit/s retrans %llu\n", names[i],
		       res.duration_s, res.goodput_mbps,
		       (unsigned long long)res.retransmits);
		BT_ASSERT(res.completed && res.sha256_match);
		BT_ASSERT(strcmp(res.snap[0].cc, names[i]) == 0);
		BT_ASSERT(strcmp(res.snap[0].sf[1].cc, names[i]) == 0);
		/* Both paths used. */
		BT_ASSERT(res.snap[0].sf[0].mapped > (1u << 20));
		BT_ASSERT(res.snap[0].sf[1].mapped > (1u << 20));
	}
}

/* Two subflows on one path: coupled, they together take about what one
 * Reno flow would (fewer losses at the shared queue than two uncoupled
 * flows pushing each other). */
BT_TEST(mptcp_cc_coupled_is_gentler_on_a_shared_path)
{
	static struct bd_scenario_result res;
	struct bd_scenario sc;
	scen(&sc, "newreno", 1, 2);
	sc.bytes = 8u << 20;
	BT_EQ(bd_scenario_run(&sc, &res), 0);
	BT_ASSERT(res.completed && res.sha256_match);
	uint64_t unc = res.link[0][0].drop_queue;
	scen(&sc, "lia", 1, 2);
	sc.bytes = 8u << 20;
	BT_EQ(bd_scenario_run(&sc, &res), 0);
	BT_ASSERT(res.completed && res.sha256_match);
	uint64_t lia = res.link[0][0].drop_queue;
	printf("    queue drops: newreno x2 %llu, lia %llu\n",
	       (unsigned long long)unc, (unsigned long long)lia);
	BT_ASSERT(lia < unc);
}

/* One TCP flow and one MPTCP connection with two subflows through the same
 * bottleneck, the mean share over a few seeds with 0.2 ms of link jitter
 * (one drop-tail run is one sample of its loss pattern): every coupled
 * controller takes less than uncoupled NewReno subflows and at most 10 %
 * more than the TCP flow's share. (The benchmark's fairness series holds
 * OLIA and BALIA to half; LIA, RFC 6356, is known to take somewhat more
 * than TCP at a shared bottleneck: Khalili et al., IEEE/ACM ToN 2013, the
 * reason for OLIA.) */
BT_TEST(mptcp_cc_fair_to_tcp_at_a_shared_bottleneck)
{
	const char *names[] = {"newreno", "lia", "olia", "balia"};
	static struct bd_scenario_result res;
	double share[4];
	for (unsigned i = 0; i < 4; i++) {
		double sum = 0;
		for (uint64_t seed = 1; seed <= 8; seed++) {
			struct bd_scenario sc;
			scen(&sc, names[i], 1, 2);
			sc.seed = seed;
			sc.path[0].jitter_ns = 200000;
			sc.bytes = 8u << 20;
			sc.compete = true;
			sc.compete_path = 0;
			BT_EQ(bd_scenario_run(&sc, &res), 0);
			BT_ASSERT(res.completed && res.sha256_match);
			BT_ASSERT(res.compete_completed);
			double m = (double)res.share_main_bytes,
			       c = (double)res.share_compete_bytes;
			sum += m / (m + c);
		}
		share[i] = sum / 8;
		printf("    %-7s MPTCP share %.3f (mean of 8 seeds)\n",
		       names[i], share[i]);
	}
	for (unsigned i = 1; i < 4; i++)
		BT_ASSERT(share[i] < share[0] && share[i] <= 0.55);
}
