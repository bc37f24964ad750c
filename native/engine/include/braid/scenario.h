/* SPDX-License-Identifier: Apache-2.0
 *
 * Scenario runner: two simulated hosts (client 0, server 1) joined by one or
 * more paths, TCP or MPTCP on both, and a workload (bulk transfer hashed end to
 * end, or request/response timed per transaction), all in virtual time. The
 * TypeScript side (native/src/sim.ts) turns the scenario JSON into this
 * struct and the result struct back into JSON; the format is described in
 * native/SIMULATOR.md.
 */
#ifndef BRAID_SCENARIO_H
#define BRAID_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/app.h"
#include "braid/mptcp.h"
#include "braid/net.h"
#include "braid/sim.h"
#include "braid/tcp.h"

enum bd_scen_protocol { BD_SCEN_TCP = 0, BD_SCEN_MPTCP = 1 };
enum bd_scen_workload { BD_SCEN_BULK = 0, BD_SCEN_RR = 1 };

struct bd_scenario {
	uint64_t seed;
	uint32_t npaths;
	/* Per path; the same parameters are used in both directions (each
	 * direction draws from its own random stream). */
	struct bd_link_params path[BD_SIM_MAX_PATHS];
	uint16_t mtu;	/* 0 = 1500 */
	int protocol;	/* enum bd_scen_protocol */
	char cc[16];	/* "newreno" | "cubic" | "lia" | "olia" | "balia" */
	int workload;	/* enum bd_scen_workload */
	uint64_t bytes; /* bulk */
	bool no_hash;	/* bulk: send zeros, hash nothing (benchmarks) */
	bool both_ways; /* bulk: the server sends back meanwhile */
	uint64_t back_bytes; /* both_ways: what it sends (0 = bytes) */
	uint32_t request_bytes, response_bytes, count; /* rr */
	uint64_t time_limit_ns;			       /* 0 = 300 s */
	uint32_t snd_buf, rcv_buf; /* 0 = big enough for the path's BDP */
	/* MPTCP, per connection (both ends): packet scheduler ("" =
	 * lowrtt), path manager ("" = the runner opens the subflows below
	 * through the external PM calls; otherwise a bd_mptcp_set_pm() mode
	 * with the hosts' path addresses as endpoints, the server's
	 * signalled), ndiffports for pm "ndiffports". */
	char scheduler[16];
	char pm[16];
	uint8_t ndiffports;
	/* Runner-opened subflows per path (0 = 1), and per path whether
	 * they are backup and their weight ("weighted"; 0 = 1). */
	uint8_t subflows_per_path;
	bool backup[BD_SIM_MAX_PATHS];
	uint32_t weight[BD_SIM_MAX_PATHS];
	/* Switch the client's scheduler at this virtual time (0: never). */
	uint64_t switch_at_ns;
	char switch_scheduler[16];
	/* Bulk only: a plain TCP bulk flow of the same size on path
	 * compete_path, started with the workload (a shared bottleneck). */
	bool compete;
	uint32_t compete_path;
	/* The hosts' ports take frames that refer to TCP's send ring
	 * (bd_sim_set_tx_ref). */
	bool tx_ref;
};

struct bd_scenario_result {
	bool completed;
	bool sha256_match;
	bool hashed;	   /* bulk with SHA-256 (no_hash not set) */
	uint64_t bytes;	   /* application bytes delivered */
	double duration_s; /* virtual, start to completion */
	/* Bulk both ways: when each direction had everything, from the
	 * start (duration_s is the later). */
	double forward_s, reverse_s;
	double goodput_mbps;
	uint32_t transactions;			 /* rr */
	uint32_t p50_us, p99_us, max_us, min_us; /* rr */
	double mean_us;
	uint64_t retransmits;	    /* client + server total_retrans */
	struct bd_tcp_info conn[2]; /* [0] client, [1] server */
	bool have_conn[2];
	struct bd_tcp_mib tcp[2];
	struct bd_net_stats net[2];
	uint32_t npaths;
	struct bd_link_stats link[BD_SIM_MAX_PATHS][2]; /* [0] c->s */
	uint8_t sha_sent[32], sha_received[32];
	double sim_end_s;	/* virtual clock at the end */
	uint64_t events;	/* simulator steps */
	uint64_t frames;	/* frames carried by the links */
	uint64_t tx_ref_frames; /* ... of them sent with referred payload */
	int err;		/* connection error (BD_E*) if any */
	char error[160];	/* why the scenario did not run / complete */
	/* MPTCP: the connection at each end and its subflows (in the order
	 * they were opened; path = index of the path the subflow runs on,
	 * -1 if unknown). */
	bool have_mptcp[2];
	struct bd_mptcp_info mptcp[2];
	struct bd_mptcp_mib mptcp_mib[2];
	uint32_t nsubflows[2];
	struct bd_tcp_info subflow[2][BD_APP_MAX_SUBFLOWS];
	int subflow_path[2][BD_APP_MAX_SUBFLOWS];
	bool subflow_active[2][BD_APP_MAX_SUBFLOWS];
	/* MPTCP: the connection's snapshot at each end (scheduler, pm,
	 * cc; per subflow priority, weight, state, bytes mapped). */
	struct bd_mptcp_snapshot snap[2];
	/* Bulk: the longest gap between two deliveries to the receiving
	 * application (after the first byte). */
	uint64_t max_stall_us;
	/* Bulk: the longest such gaps, longest first: when each began
	 * (virtual time from the start of the run) and how long it was
	 * (0: none). */
	struct bd_app_stall stalls[BD_APP_STALLS];
	/* compete: bytes each flow had delivered when the first of them
	 * finished, and the competing flow's own result. */
	uint64_t share_main_bytes, share_compete_bytes;
	bool compete_completed;
	double compete_goodput_mbps;
};

/* Validate and run. 0 when the scenario ran (res->completed tells whether
 * the workload finished), -BD_EINVAL with res->error for a bad scenario. */
int bd_scenario_run(const struct bd_scenario *sc,
		    struct bd_scenario_result *res);
/* The defaults: one 1 Gbit/s path, 1 ms each way, cubic, 1 MiB bulk. */
void bd_scenario_default(struct bd_scenario *sc);

#endif
