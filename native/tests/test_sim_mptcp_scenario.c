/* SPDX-License-Identifier: Apache-2.0
 * MPTCP through the scenario runner: a hashed bulk transfer over three
 * paths uses all of them, a path blackholed in the middle of the transfer
 * does not stop it, and request/response runs over MPTCP too. */
#include <stdio.h>
#include <string.h>

#include "braid/scenario.h"
#include "bt.h"

#define MBPS 10

static void three_paths(struct bd_scenario *sc)
{
	bd_scenario_default(sc);
	sc->protocol = BD_SCEN_MPTCP;
	sc->npaths = 3;
	for (int i = 0; i < 3; i++) {
		sc->path[i].rate_bps = MBPS * 1000000ull;
		sc->path[i].delay_ns = 10000000ull;
		sc->path[i].queue_bytes = 0;
	}
	sc->bytes = 4u << 20;
	sc->time_limit_ns = 60000000000ull;
}

static void show(const char *name, const struct bd_scenario_result *r)
{
	printf("    %s: completed=%d match=%d %.3fs %.1f Mbit/s retrans=%llu "
	       "subflows=%u/%u %s\n",
	       name, r->completed, r->sha256_match, r->duration_s,
	       r->goodput_mbps, (unsigned long long)r->retransmits,
	       r->nsubflows[0], r->nsubflows[1], r->error);
	for (uint32_t k = 0; k < r->nsubflows[0]; k++)
		printf("      subflow %u path %d acked %llu\n", k,
		       r->subflow_path[0][k],
		       (unsigned long long)r->subflow[0][k].bytes_acked);
}

BT_TEST(sim_mptcp_scenario_bulk_three_paths)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	uint64_t per_path[3] = {0}, total = 0;
	three_paths(&sc);
	BT_EQ(bd_scenario_run(&sc, &r), 0);
	show("3 paths", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_UEQ(r.bytes, sc.bytes);
	BT_ASSERT(r.have_mptcp[0] && r.have_mptcp[1]);
	BT_UEQ(r.nsubflows[0], 3);
	for (uint32_t k = 0; k < r.nsubflows[0]; k++) {
		int p = r.subflow_path[0][k];
		BT_ASSERT(p >= 0 && p < 3);
		per_path[p] += r.subflow[0][k].bytes_acked;
		total += r.subflow[0][k].bytes_acked;
	}
	/* Snapshot taken when the peer's DATA_FIN came in: the last ACKs
	 * may still be on their way. */
	BT_ASSERT(total * 100 >= sc.bytes * 99);
	for (int p = 0; p < 3; p++)
		BT_ASSERT(per_path[p] * 10 > total);
	/* Also seen by the links: every path carried data client->server. */
	for (int p = 0; p < 3; p++)
		BT_ASSERT(r.link[p][0].delivered_bytes * 10 > sc.bytes);
	BT_ASSERT(r.goodput_mbps > 1.5 * MBPS);
	BT_ASSERT(r.mptcp[0].mptcpi_bytes_acked >= sc.bytes);
}

BT_TEST(sim_mptcp_scenario_blackholed_path)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	three_paths(&sc);
	sc.seed = 5;
	sc.path[1].nblackholes = 1;
	sc.path[1].blackholes[0].start_ns = 500000000ull;
	sc.path[1].blackholes[0].end_ns = 60000000000ull;
	BT_EQ(bd_scenario_run(&sc, &r), 0);
	show("blackhole", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_UEQ(r.bytes, sc.bytes);
}

BT_TEST(sim_mptcp_scenario_rr)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	three_paths(&sc);
	sc.workload = BD_SCEN_RR;
	sc.request_bytes = 100;
	sc.response_bytes = 2000;
	sc.count = 200;
	BT_EQ(bd_scenario_run(&sc, &r), 0);
	show("rr", &r);
	BT_ASSERT(r.completed);
	BT_UEQ(r.transactions, 200);
	BT_ASSERT(r.p50_us >= 20000);
	BT_ASSERT(r.p99_us >= r.p50_us);
}
