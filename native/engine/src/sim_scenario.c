/* SPDX-License-Identifier: Apache-2.0
 *
 * The scenario runner: builds a simulated network from a bd_scenario, runs a
 * workload between host 0 (client) and host 1 (server) over TCP or MPTCP
 * (one subflow per path, the client joining the server's address on each
 * path after the first), and fills
 * a bd_scenario_result. Deterministic from the seed; no wall clock.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_impl.h"
#include "braid/scenario.h"

#define SCEN_PORT	   5001
#define SCEN_MAX_BUF	   (256u << 20)
#define SCEN_DEFAULT_LIMIT 300000000000ull

void bd_scenario_default(struct bd_scenario *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->seed = 1;
	sc->npaths = 1;
	sc->path[0].rate_bps = 1000000000ull;
	sc->path[0].delay_ns = 1000000ull;
	sc->protocol = BD_SCEN_TCP;
	snprintf(sc->cc, sizeof(sc->cc), "cubic");
	sc->workload = BD_SCEN_BULK;
	sc->bytes = 1u << 20;
}

static int bad(struct bd_scenario_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(struct bd_scenario_result *res, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(res->error, sizeof(res->error), fmt, ap);
	va_end(ap);
	return -BD_EINVAL;
}

static bool prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0;
}

static int validate(const struct bd_scenario *sc,
		    struct bd_scenario_result *res)
{
	if (sc->protocol != BD_SCEN_TCP && sc->protocol != BD_SCEN_MPTCP)
		return bad(res, "protocol: 'tcp' or 'mptcp'");
	if (sc->npaths < 1 || sc->npaths > BD_SIM_MAX_PATHS)
		return bad(res, "paths: between 1 and %d paths",
			   BD_SIM_MAX_PATHS);
	for (uint32_t i = 0; i < sc->npaths; i++) {
		const struct bd_link_params *lp = &sc->path[i];
		if (!prob_ok(lp->loss) || !prob_ok(lp->reorder) ||
		    !prob_ok(lp->duplicate) || !prob_ok(lp->corrupt))
			return bad(res,
				   "paths[%u]: loss, reorder, duplicate and "
				   "corrupt are probabilities in [0, 1]",
				   i);
		if (lp->nblackholes > BD_SIM_MAX_BLACKHOLES)
			return bad(res, "paths[%u].blackholes: at most %d", i,
				   BD_SIM_MAX_BLACKHOLES);
		for (uint32_t k = 0; k < lp->nblackholes; k++)
			if (lp->blackholes[k].end_ns <=
			    lp->blackholes[k].start_ns)
				return bad(res,
					   "paths[%u].blackholes[%u]: end_ms "
					   "must be after start_ms",
					   i, k);
	}
	if (sc->mtu && (sc->mtu < 576 || sc->mtu > 9000))
		return bad(res, "mtu: between 576 and 9000");
	bd_mptcp_cc_register_all();
	if (!bd_tcp_cc_find(sc->cc))
		return bad(res,
			   "cc: unknown congestion control '%s' (newreno, "
			   "cubic, lia, olia or balia)",
			   sc->cc);
	if (sc->scheduler[0] && !bd_mptcp_sched_find(sc->scheduler))
		return bad(res, "mptcp.scheduler: unknown scheduler '%s'",
			   sc->scheduler);
	if (sc->switch_scheduler[0] &&
	    !bd_mptcp_sched_find(sc->switch_scheduler))
		return bad(res,
			   "mptcp.switch.scheduler: unknown scheduler '%s'",
			   sc->switch_scheduler);
	if (sc->compete &&
	    (sc->workload != BD_SCEN_BULK || sc->compete_path >= sc->npaths))
		return bad(res,
			   "compete: a bulk workload and an existing path");
	if (sc->pm[0] && !bd_mptcp_pm_exists(sc->pm))
		return bad(res, "mptcp.pm: unknown path manager '%s'", sc->pm);
	for (uint32_t i = 0; i < BD_SIM_MAX_PATHS; i++)
		if (sc->weight[i] > 1000)
			return bad(res, "paths[%u].weight: 1 to 1000", i);
	if ((uint32_t)(sc->subflows_per_path ? sc->subflows_per_path : 1) *
		sc->npaths >
	    BD_APP_MAX_SUBFLOWS)
		return bad(res,
			   "mptcp.subflows_per_path: at most %d subflows "
			   "in all",
			   BD_APP_MAX_SUBFLOWS);
	if (sc->workload == BD_SCEN_BULK) {
		if (!sc->bytes)
			return bad(res, "workload.bytes: must be > 0");
		if (sc->back_bytes && !sc->both_ways)
			return bad(res, "workload.back_bytes: only with "
					"both_ways");
	} else if (sc->workload == BD_SCEN_RR) {
		if (!sc->request_bytes || !sc->response_bytes)
			return bad(res, "workload: request_bytes and "
					"response_bytes must be > 0");
		if (!sc->count || sc->count > 10000000)
			return bad(res, "workload.count: 1 to 10000000");
	} else {
		return bad(res, "workload.type: 'bulk' or 'rr'");
	}
	return 0;
}

struct run {
	const struct bd_scenario *sc;
	bool switched;
	/* compete: the competing TCP flow, and the shares when the first
	 * flow finished. */
	struct bd_app_bulk_src *csrc;
	struct bd_app_bulk_sink *csink;
	bool share_taken;
	uint64_t share_m, share_c;
	struct bd_mptcp_stack *ms[2];
	struct bd_app_bulk_src *src;
	struct bd_app_bulk_sink *sink;
	struct bd_app_rr_client *cli;
	struct bd_app_rr_server *srv;
};

static bool finished(void *ctx, struct bd_sim *sim)
{
	struct run *r = ctx;
	struct bd_app_conn *cc = r->src ? &r->src->c : &r->cli->c;
	if (r->sc->switch_at_ns && !r->switched &&
	    bd_sim_now_ns(sim) >= r->sc->switch_at_ns && cc->msock) {
		r->switched = true;
		bd_mptcp_set_scheduler(cc->msock, r->sc->switch_scheduler);
	}
	if (r->csrc) {
		if (!r->share_taken && (r->sink->c.done || r->csink->c.done)) {
			r->share_taken = true;
			r->share_m = r->sink->received;
			r->share_c = r->csink->received;
		}
		if (!((r->csrc->c.done &&
		       (r->csink->c.done || r->csrc->c.err)) ||
		      (r->csink->c.done && r->csink->c.err)))
			return false;
	}
	if (r->src)
		return (r->src->c.done && (r->sink->c.done || r->src->c.err)) ||
		       (r->sink->c.done && r->sink->c.err);
	return (r->cli->c.done && (r->srv->c.done || r->cli->c.err)) ||
	       (r->srv->c.done && r->srv->c.err);
}

static uint32_t auto_buf(const struct bd_scenario *sc, uint32_t dflt)
{
	uint64_t best = 0;
	for (uint32_t i = 0; i < sc->npaths; i++) {
		const struct bd_link_params *lp = &sc->path[i];
		uint64_t rtt_ns = 2 * (lp->delay_ns + lp->jitter_ns) + 1000000;
		uint64_t rate = lp->rate_bps ? lp->rate_bps : 10000000000ull;
		uint64_t bdp = rate / 8 * rtt_ns / 1000000000ull;
		/* Room for the pipe, the queue and recovery. */
		uint64_t want = 2 * bdp + lp->queue_bytes + (256u << 10);
		if (want > best)
			best = want;
	}
	if (best < dflt)
		best = dflt;
	if (best > SCEN_MAX_BUF)
		best = SCEN_MAX_BUF;
	return (uint32_t)best;
}

/* MPTCP client up. With the external PM (the default): subflows_per_path
 * subflows on each path (the first one included), with the path's backup
 * flag and weight. Other PM modes open subflows by themselves. */
static void join_paths(struct bd_app_conn *c, void *arg)
{
	const struct run *r = arg;
	const struct bd_scenario *sc = r->sc;
	unsigned per = sc->subflows_per_path ? sc->subflows_per_path : 1;
	if (sc->pm[0] && strcmp(sc->pm, "external") != 0)
		return;
	if (sc->backup[0])
		bd_mptcp_pm_set_prio(c->msock, 0, true);
	if (sc->weight[0])
		bd_mptcp_set_weight(c->msock, 0, sc->weight[0]);
	for (uint32_t i = 0; i < sc->npaths; i++) {
		struct bd_ipaddr la = bd_ip4(bd_sim_path_addr((int)i, 0));
		struct bd_ipaddr ra = bd_ip4(bd_sim_path_addr((int)i, 1));
		for (unsigned k = i ? 0 : 1; k < per; k++) {
			int idx = bd_mptcp_pm_subflow_create(
			    c->msock, &la, 0, &ra, SCEN_PORT, sc->backup[i]);
			if (idx >= 0 && sc->weight[i])
				bd_mptcp_set_weight(c->msock, (unsigned)idx,
						    sc->weight[i]);
		}
	}
}

/* The competing plain TCP flow on path compete_path (port SCEN_PORT+1). */
static int start_compete(struct run *r, struct bd_sim *sim, unsigned fl,
			 const struct bd_tcp_opts *opts)
{
	int p = (int)r->sc->compete_path;
	struct bd_ipaddr ca = bd_ip4(bd_sim_path_addr(p, 0));
	struct bd_ipaddr sa = bd_ip4(bd_sim_path_addr(p, 1));
	r->csrc = calloc(1, sizeof(*r->csrc));
	r->csink = calloc(1, sizeof(*r->csink));
	if (!r->csrc || !r->csink)
		return -BD_ENOMEM;
	int rc = bd_app_bulk_sink_start(r->csink, bd_sim_stack(sim, 1),
					SCEN_PORT + 1, fl, opts);
	if (!rc)
		rc = bd_app_bulk_src_start(r->csrc, bd_sim_stack(sim, 0), &ca,
					   &sa, SCEN_PORT + 1, r->sc->bytes,
					   r->sc->seed ^ 0xc0ffeeull, fl, opts);
	return rc;
}

static void take_compete(struct bd_scenario_result *res, const struct run *r)
{
	const struct bd_app_bulk_sink *k = r->csink;
	res->share_main_bytes = r->share_m;
	res->share_compete_bytes = r->share_c;
	res->compete_completed =
	    k->c.done && !k->c.err && k->received == r->sc->bytes;
	if (res->compete_completed && k->c.t_done_us > r->csrc->c.t_start_us)
		res->compete_goodput_mbps =
		    (double)k->received * 8 /
		    (double)(k->c.t_done_us - r->csrc->c.t_start_us);
}

static void take_mptcp(struct bd_scenario_result *res, int i,
		       struct bd_app_conn *c)
{
	if (c->msock)
		bd_app_snapshot(c);
	res->have_mptcp[i] = c->have_minfo;
	res->mptcp[i] = c->minfo;
	res->snap[i] = c->msnap;
	res->nsubflows[i] = c->nsubflows;
	for (unsigned k = 0; k < c->nsubflows; k++) {
		res->subflow[i][k] = c->sf_info[k];
		res->subflow_active[i][k] = c->sf_active[k];
		res->subflow_path[i][k] = -1;
		for (uint32_t p = 0; p < res->npaths; p++) {
			struct bd_ipaddr a =
			    bd_ip4(bd_sim_path_addr((int)p, i));
			if (bd_ipaddr_eq(&a, &c->sf_laddr[k]))
				res->subflow_path[i][k] = (int)p;
		}
	}
}

static void take_conn(struct bd_scenario_result *res, int i,
		      struct bd_app_conn *c)
{
	if (c->ms)
		take_mptcp(res, i, c);
	if (c->sock && bd_tcp_get_info(c->sock, &res->conn[i]) == 0)
		res->have_conn[i] = true;
	else if (c->have_info) {
		res->conn[i] = c->info;
		res->have_conn[i] = true;
	}
	if (c->err && !res->err)
		res->err = c->err;
}

/* Both ways: the bytes the server sends back. */
static uint64_t back_bytes(const struct bd_scenario *sc)
{
	return sc->back_bytes ? sc->back_bytes : sc->bytes;
}

int bd_scenario_run(const struct bd_scenario *sc,
		    struct bd_scenario_result *res)
{
	struct bd_sim *sim = NULL;
	struct bd_tcp_config tc;
	struct bd_tcp_opts opts;
	struct run r = {.sc = sc};
	bool mp = sc->protocol == BD_SCEN_MPTCP;
	struct bd_ipaddr caddr, saddr;
	uint64_t limit;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	rc = validate(sc, res);
	if (rc)
		return rc;
	sim = bd_sim_create_mtu(sc->seed, sc->mtu > 1500 ? sc->mtu : 1500);
	if (!sim)
		return bad(res, "out of memory");
	if (bd_sim_add_host(sim) != 0 || bd_sim_add_host(sim) != 1) {
		rc = bad(res, "cannot create hosts");
		goto out;
	}
	bd_sim_set_tx_ref(sim, sc->tx_ref);
	for (uint32_t i = 0; i < sc->npaths; i++) {
		if (bd_sim_add_path(sim, 0, 1, &sc->path[i], &sc->path[i],
				    sc->mtu ? sc->mtu : 1500) < 0) {
			rc = bad(res, "paths[%u]: cannot create", i);
			goto out;
		}
	}
	bd_tcp_config_default(&tc);
	tc.cc = sc->cc;
	tc.snd_buf = sc->snd_buf ? sc->snd_buf : auto_buf(sc, tc.snd_buf);
	tc.rcv_buf = sc->rcv_buf ? sc->rcv_buf : auto_buf(sc, tc.rcv_buf);
	/* MPTCP subflows: at least 1 MiB each (smaller subflow buffers cost
	 * aggregate goodput; see integration/bench/mptcp.ts). */
	if (mp && !sc->snd_buf && tc.snd_buf < (1u << 20))
		tc.snd_buf = 1u << 20;
	if (mp && !sc->rcv_buf && tc.rcv_buf < (1u << 20))
		tc.rcv_buf = 1u << 20;
	for (int h = 0; h < 2; h++) {
		if (bd_stack_use_tcp(bd_sim_stack(sim, h), &tc) < 0) {
			rc = bad(res, "cannot create the TCP stack");
			goto out;
		}
	}
	if (mp) {
		struct bd_mptcp_config mc;
		uint64_t buf = (uint64_t)tc.rcv_buf * sc->npaths;
		bd_mptcp_config_default(&mc);
		mc.snd_buf = mc.rcv_buf =
		    (uint32_t)(buf > SCEN_MAX_BUF ? SCEN_MAX_BUF : buf);
		mc.scheduler = sc->scheduler;
		mc.pm = sc->pm[0] ? sc->pm : "external";
		mc.cc = sc->cc;
		if (sc->ndiffports)
			mc.ndiffports = sc->ndiffports;
		for (int h = 0; h < 2; h++) {
			r.ms[h] =
			    bd_mptcp_stack_create(bd_sim_stack(sim, h), &mc);
			if (!r.ms[h]) {
				rc = bad(res, "cannot create the MPTCP stack");
				goto out;
			}
			/* The hosts' other path addresses as endpoints: the
			 * server signals them, the client uses them. */
			for (uint32_t i = 1; i < sc->npaths; i++) {
				struct bd_ipaddr a =
				    bd_ip4(bd_sim_path_addr((int)i, h));
				uint32_t fl =
				    h ? BD_MPTCP_EP_SIGNAL
				      : (sc->backup[i] ? BD_MPTCP_EP_BACKUP
						       : 0);
				bd_mptcp_pm_add_endpoint(r.ms[h], &a, 0, 0, fl);
			}
		}
	}
	memset(&opts, 0, sizeof(opts));
	opts.cc = sc->cc;
	/* Plain TCP runs on the first path, the others stay idle; MPTCP
	 * starts there and joins the others once connected. */
	caddr = bd_ip4(bd_sim_path_addr(0, 0));
	saddr = bd_ip4(bd_sim_path_addr(0, 1));
	if (sc->workload == BD_SCEN_BULK) {
		r.src = calloc(1, sizeof(*r.src));
		r.sink = calloc(1, sizeof(*r.sink));
		if (!r.src || !r.sink) {
			rc = bad(res, "out of memory");
			goto out;
		}
		unsigned fl = sc->no_hash ? BD_APP_NO_HASH : 0;
		if (mp) {
			rc = bd_app_bulk_sink_start_mptcp(
			    r.sink, bd_sim_stack(sim, 1), r.ms[1], SCEN_PORT,
			    fl);
			if (!rc)
				rc = bd_app_bulk_src_start_mptcp(
				    r.src, bd_sim_stack(sim, 0), r.ms[0],
				    &caddr, &saddr, SCEN_PORT, sc->bytes,
				    sc->seed ^ 0x5eedull, fl);
			r.src->c.on_up = join_paths;
			r.src->c.on_up_arg = &r;
		} else {
			rc = bd_app_bulk_sink_start(
			    r.sink, bd_sim_stack(sim, 1), SCEN_PORT, fl, &opts);
			if (!rc)
				rc = bd_app_bulk_src_start(
				    r.src, bd_sim_stack(sim, 0), &caddr, &saddr,
				    SCEN_PORT, sc->bytes, sc->seed ^ 0x5eedull,
				    fl, &opts);
		}
		if (!rc && sc->both_ways)
			rc = bd_app_bulk_sink_send_back(
			    r.sink, back_bytes(sc), sc->seed ^ 0xbac4ull, fl);
		if (!rc && sc->both_ways)
			rc = bd_app_bulk_src_read_back(r.src, back_bytes(sc),
						       fl);
		if (!rc && sc->compete)
			rc = start_compete(&r, sim, fl, &opts);
	} else {
		r.cli = calloc(1, sizeof(*r.cli));
		r.srv = calloc(1, sizeof(*r.srv));
		if (!r.cli || !r.srv) {
			rc = bad(res, "out of memory");
			goto out;
		}
		if (mp) {
			rc = bd_app_rr_server_start_mptcp(
			    r.srv, bd_sim_stack(sim, 1), r.ms[1], SCEN_PORT,
			    sc->request_bytes, sc->response_bytes);
			if (!rc)
				rc = bd_app_rr_client_start_mptcp(
				    r.cli, bd_sim_stack(sim, 0), r.ms[0],
				    &caddr, &saddr, SCEN_PORT,
				    sc->request_bytes, sc->response_bytes,
				    sc->count);
			r.cli->c.on_up = join_paths;
			r.cli->c.on_up_arg = &r;
		} else {
			rc = bd_app_rr_server_start(
			    r.srv, bd_sim_stack(sim, 1), SCEN_PORT,
			    sc->request_bytes, sc->response_bytes, &opts);
			if (!rc)
				rc = bd_app_rr_client_start(
				    r.cli, bd_sim_stack(sim, 0), &caddr, &saddr,
				    SCEN_PORT, sc->request_bytes,
				    sc->response_bytes, sc->count, &opts);
		}
	}
	if (rc) {
		snprintf(res->error, sizeof(res->error),
			 "cannot start the workload (error %d)", -rc);
		rc = -BD_EINVAL;
		goto out;
	}

	limit = sc->time_limit_ns ? sc->time_limit_ns : SCEN_DEFAULT_LIMIT;
	bd_sim_run(sim, limit, finished, &r);

	res->sim_end_s = (double)bd_sim_now_ns(sim) / 1e9;
	res->events = bd_sim_stats(sim)->steps;
	res->frames = bd_sim_stats(sim)->delivered;
	res->tx_ref_frames = bd_sim_tx_ref_frames(sim);
	res->npaths = sc->npaths;
	if (r.src) {
		struct bd_app_bulk_sink *k = r.sink;
		const struct bd_app_bulk_back *bk = &r.src->back;
		res->bytes = k->received + bk->bytes;
		res->completed = k->c.done && !k->c.err &&
				 k->received == sc->bytes &&
				 (!sc->both_ways ||
				  (bk->eof && bk->bytes == back_bytes(sc)));
		memcpy(res->sha_sent, r.src->digest, 32);
		memcpy(res->sha_received, k->digest, 32);
		res->hashed = !sc->no_hash;
		res->max_stall_us = k->max_gap_us;
		memcpy(res->stalls, k->stalls, sizeof(res->stalls));
		res->sha256_match =
		    res->completed && res->hashed &&
		    memcmp(r.src->digest, k->digest, 32) == 0 &&
		    (!sc->both_ways ||
		     memcmp(bk->digest, k->back.digest, 32) == 0);
		if (res->completed) {
			uint64_t t0 = r.src->c.t_start_us;
			/* The sink is done once it has read everything (both
			 * ways: and sent everything back). */
			uint64_t d = k->c.t_done_us - t0;
			if (sc->both_ways) {
				res->forward_s =
				    (double)(k->last_rx_us - t0) / 1e6;
				res->reverse_s =
				    (double)(bk->t_eof_us - t0) / 1e6;
				if (bk->t_eof_us - t0 > d)
					d = bk->t_eof_us - t0;
			}
			res->duration_s = (double)d / 1e6;
		}
		take_conn(res, 0, &r.src->c);
		take_conn(res, 1, &k->c);
		if (r.csrc)
			take_compete(res, &r);
	} else {
		struct bd_app_rr_client *c = r.cli;
		uint64_t sum = 0;
		res->transactions = c->done_count;
		res->bytes = c->bytes_sent + c->bytes_received;
		res->completed =
		    c->c.done && !c->c.err && c->done_count == sc->count;
		for (uint32_t i = 0; i < c->done_count; i++)
			sum += c->lat_us[i];
		if (c->done_count) {
			res->mean_us = (double)sum / c->done_count;
			res->p50_us =
			    bd_app_percentile(c->lat_us, c->done_count, 50);
			res->p99_us =
			    bd_app_percentile(c->lat_us, c->done_count, 99);
			res->max_us = c->lat_us[c->done_count - 1];
			res->min_us = c->lat_us[0];
		}
		if (res->completed) {
			uint64_t d = c->c.t_done_us - c->c.t_start_us;
			res->duration_s = (double)d / 1e6;
		}
		take_conn(res, 0, &c->c);
		take_conn(res, 1, &r.srv->c);
	}
	if (!res->completed && res->duration_s == 0)
		res->duration_s = res->sim_end_s;
	if (res->duration_s > 0)
		res->goodput_mbps =
		    (double)res->bytes * 8 / res->duration_s / 1e6;
	for (int i = 0; i < 2; i++) {
		struct bd_stack *st = bd_sim_stack(sim, i);
		if (mp) {
			for (uint32_t k = 0; k < res->nsubflows[i]; k++)
				res->retransmits +=
				    res->subflow[i][k].total_retrans;
			res->mptcp_mib[i] = *bd_mptcp_get_mib(r.ms[i]);
		} else if (res->have_conn[i]) {
			res->retransmits += res->conn[i].total_retrans;
		}
		res->tcp[i] = *bd_tcp_get_mib(bd_stack_tcp(st));
		res->net[i] = *bd_stack_stats(st);
	}
	res->npaths = sc->npaths;
	for (uint32_t i = 0; i < sc->npaths; i++)
		for (int d = 0; d < 2; d++)
			res->link[i][d] =
			    *bd_link_stats(bd_sim_link(sim, (int)i, d));
	if (!res->completed && !res->error[0]) {
		if (res->err)
			snprintf(res->error, sizeof(res->error),
				 "connection failed (error %d)", res->err);
		else if (bd_sim_now_ns(sim) >= limit)
			snprintf(res->error, sizeof(res->error),
				 "time limit reached");
		else
			snprintf(res->error, sizeof(res->error),
				 "the workload stalled");
	}
out:
	if (r.src)
		bd_app_bulk_src_fini(r.src);
	if (r.sink)
		bd_app_bulk_sink_fini(r.sink);
	if (r.csrc)
		bd_app_bulk_src_fini(r.csrc);
	if (r.csink)
		bd_app_bulk_sink_fini(r.csink);
	free(r.csrc);
	free(r.csink);
	if (r.cli)
		bd_app_rr_client_fini(r.cli);
	if (r.srv)
		bd_app_rr_server_fini(r.srv);
	free(r.src);
	free(r.sink);
	free(r.cli);
	free(r.srv);
	for (int h = 0; h < 2; h++)
		if (r.ms[h])
			bd_mptcp_stack_destroy(r.ms[h]);
	if (sim) {
		for (int h = 0; h < 2; h++)
			if (bd_sim_stack(sim, h))
				bd_stack_drop_tcp(bd_sim_stack(sim, h));
		bd_sim_destroy(sim);
	}
	return rc;
}
