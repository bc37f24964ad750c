/* SPDX-License-Identifier: Apache-2.0
 * Path manager (mptcp_pm.c): the modes in the simulator (ndiffports,
 * kernel with the server signalling its addresses, fullmesh), endpoints,
 * the external calls with their events, and a subflow the peer resets
 * coming back after the backoff. */
#include <string.h>

#include "braid/mptcp.h"
#include "braid/net.h"
#include "braid/scenario.h"
#include "braid/sim.h"
#include "braid/tcp.h"
#include "bt.h"

static void scen(struct bd_scenario *sc, unsigned npaths, const char *pm)
{
	bd_scenario_default(sc);
	sc->protocol = BD_SCEN_MPTCP;
	sc->npaths = npaths;
	for (unsigned i = 0; i < npaths; i++) {
		sc->path[i].rate_bps = 20000000ull;
		sc->path[i].delay_ns = 5000000ull;
		sc->path[i].queue_bytes = 100000;
	}
	sc->bytes = 2u << 20;
	snprintf(sc->pm, sizeof(sc->pm), "%s", pm);
}

BT_TEST(mptcp_pm_ndiffports_same_pair_other_ports)
{
	static struct bd_scenario_result res;
	struct bd_scenario sc;
	scen(&sc, 1, "ndiffports");
	sc.ndiffports = 3;
	BT_EQ(bd_scenario_run(&sc, &res), 0);
	BT_ASSERT(res.completed && res.sha256_match);
	BT_UEQ(res.snap[0].nsubflows, 3);
	BT_ASSERT(strcmp(res.snap[0].pm, "ndiffports") == 0);
	for (unsigned i = 1; i < 3; i++) {
		BT_ASSERT(bd_ipaddr_eq(&res.snap[0].sf[i].laddr,
				       &res.snap[0].sf[0].laddr));
		BT_ASSERT(res.snap[0].sf[i].lport != res.snap[0].sf[0].lport);
		BT_ASSERT(res.snap[0].sf[i].mapped > 0);
	}
	BT_ASSERT(res.snap[0].sf[1].lport != res.snap[0].sf[2].lport);
}

BT_TEST(mptcp_pm_kernel_joins_signalled_addresses)
{
	static struct bd_scenario_result res;
	struct bd_scenario sc;
	scen(&sc, 3, "kernel");
	BT_EQ(bd_scenario_run(&sc, &res), 0);
	BT_ASSERT(res.completed && res.sha256_match);
	/* The server announced its two other addresses; the client joined
	 * each over the path it lives on. */
	BT_UEQ(res.mptcp_mib[1].AddAddrTx, 2);
	BT_ASSERT(res.mptcp_mib[0].AddAddr >= 2); /* repeated until echoed */
	BT_UEQ(res.mptcp[0].mptcpi_add_addr_accepted, 2);
	BT_UEQ(res.snap[0].nsubflows, 3);
	for (unsigned i = 0; i < 3; i++)
		BT_EQ(res.subflow_path[0][i], (int)i);
}

BT_TEST(mptcp_pm_fullmesh_and_limits)
{
	static struct bd_scenario_result res;
	struct bd_scenario sc;
	scen(&sc, 2, "fullmesh");
	BT_EQ(bd_scenario_run(&sc, &res), 0);
	BT_ASSERT(res.completed && res.sha256_match);
	/* 2 local x 2 remote addresses. */
	BT_UEQ(res.snap[0].nsubflows, 4);
	BT_ASSERT(strcmp(res.snap[1].pm, "fullmesh") == 0);
}

/* A subflow asked for at connect over a path much faster than the first:
 * its MP_JOIN would reach the server before the third ACK that gives the
 * server the client's key (a reset for an unknown token). It waits for the
 * server's first DSS instead, and is not refused. */
BT_TEST(mptcp_pm_external_join_waits_for_fully_established)
{
	static struct bd_scenario_result res;
	struct bd_scenario sc;
	scen(&sc, 2, "external");
	sc.path[0].delay_ns = 25000000ull;
	sc.path[1].delay_ns = 1000000ull;
	BT_EQ(bd_scenario_run(&sc, &res), 0);
	BT_ASSERT(res.completed && res.sha256_match);
	BT_UEQ(res.snap[0].nsubflows, 2);
	BT_UEQ(res.mptcp_mib[1].MPJoinSynRx, 1);
	BT_UEQ(res.mptcp_mib[1].MPJoinNoTokenFound, 0);
	BT_UEQ(res.mptcp_mib[0].MPJoinSynAckRx, 1);
	BT_ASSERT(res.snap[0].sf[1].mapped > 0);
}

/* --- the external calls, events and re-establishment ---------------------- */

#define SPORT 6100
struct pm_run {
	struct bd_sim *sim;
	struct bd_mptcp_stack *ms[2];
	struct bd_mptcp_sock *l, *cli, *srv;
	uint64_t total, sent, rcvd;
	bool cli_closed, srv_closed, killed;
	unsigned est, closed, prio, reasons[16];
	int idx_created;
	/* mptcp_pm_regular_again_probes_the_path */
	bool promote, down, aside, up, regular;
	uint64_t acked_then, acked_later;
	uint32_t backoff_then;
	uint64_t restarts;
};

static void ev(void *ctx, struct bd_mptcp_sock *sk,
	       const struct bd_mptcp_event *e)
{
	struct pm_run *r = ctx;
	(void)sk;
	if (e->type == BD_MPTCP_EV_ESTABLISHED)
		r->est++;
	if (e->type == BD_MPTCP_EV_PRIORITY)
		r->prio++;
	if (e->type == BD_MPTCP_EV_CLOSED) {
		r->closed++;
		if (e->reason >= 0 && e->reason < 16)
			r->reasons[e->reason]++;
	}
}

static void push(struct pm_run *r)
{
	static uint8_t buf[16384];
	while (r->sent < r->total) {
		size_t n = r->total - r->sent, room = bd_mptcp_writable(r->cli);
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > room)
			n = room;
		if (!n)
			return;
		long k = bd_mptcp_send(r->cli, buf, n);
		if (k <= 0)
			return;
		r->sent += (uint64_t)k;
	}
	bd_mptcp_shutdown(r->cli);
}

static void c_conn(void *ctx, struct bd_mptcp_sock *sk)
{
	struct pm_run *r = ctx;
	struct bd_ipaddr la = bd_ip4(bd_sim_path_addr(1, 0));
	struct bd_ipaddr ra = bd_ip4(bd_sim_path_addr(1, 1));
	r->idx_created =
	    bd_mptcp_pm_subflow_create(sk, &la, 0, &ra, SPORT, false);
	push(r);
}

static void c_wr(void *ctx, struct bd_mptcp_sock *sk)
{
	(void)sk;
	push(ctx);
}

static void c_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	(void)sk;
	(void)err;
	((struct pm_run *)ctx)->cli_closed = true;
}

static void s_rd(void *ctx, struct bd_mptcp_sock *sk)
{
	struct pm_run *r = ctx;
	static uint8_t buf[16384];
	long n;
	while ((n = bd_mptcp_recv(sk, buf, sizeof(buf))) > 0)
		r->rcvd += (uint64_t)n;
}

static void s_fin(void *ctx, struct bd_mptcp_sock *sk)
{
	(void)ctx;
	bd_mptcp_shutdown(sk);
}

static void s_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	(void)sk;
	(void)err;
	((struct pm_run *)ctx)->srv_closed = true;
}

static const struct bd_mptcp_callbacks ccb = {
    .on_connected = c_conn, .on_writable = c_wr, .on_closed = c_closed};
static const struct bd_mptcp_callbacks scb = {
    .on_readable = s_rd, .on_peer_fin = s_fin, .on_closed = s_closed};

static void l_acc(void *ctx, struct bd_mptcp_sock *l)
{
	struct pm_run *r = ctx;
	struct bd_mptcp_sock *c;
	while ((c = bd_mptcp_accept(l, &scb, r)))
		r->srv = c;
}

static const struct bd_mptcp_callbacks lcb = {.on_accept = l_acc};

/* At 300 ms the server resets the joined subflow (an external destroy on
 * its side): the client sees it reset and opens it again. */
static bool step(void *ctx, struct bd_sim *sim)
{
	struct pm_run *r = ctx;
	if (!r->killed && r->srv && bd_sim_now_ns(sim) > 300000000ull) {
		r->killed = true;
		bd_mptcp_pm_subflow_destroy(r->srv, 1);
		bd_mptcp_pm_set_prio(r->cli, 0, true);
	}
	return r->cli_closed && r->srv_closed;
}

/* Two hosts, two 10 Mbit/s 5 ms paths, the external PM on both stacks. */
static void pm_setup(struct pm_run *r, uint64_t seed)
{
	struct bd_link_params lp;
	memset(&lp, 0, sizeof(lp));
	lp.rate_bps = 10000000ull;
	lp.delay_ns = 5000000ull;
	lp.queue_bytes = 100000;
	r->sim = bd_sim_create(seed);
	BT_ASSERT(bd_sim_add_host(r->sim) == 0 && bd_sim_add_host(r->sim) == 1);
	for (int i = 0; i < 2; i++)
		BT_ASSERT(bd_sim_add_path(r->sim, 0, 1, &lp, &lp, 1500) >= 0);
	struct bd_mptcp_config mc;
	bd_mptcp_config_default(&mc);
	mc.pm = "external";
	for (int h = 0; h < 2; h++) {
		struct bd_tcp_config tc;
		bd_tcp_config_default(&tc);
		BT_ASSERT(bd_stack_use_tcp(bd_sim_stack(r->sim, h), &tc) >= 0);
		r->ms[h] = bd_mptcp_stack_create(bd_sim_stack(r->sim, h), &mc);
	}
}

static void pm_teardown(struct pm_run *r)
{
	bd_mptcp_close(r->cli);
	bd_mptcp_close(r->srv);
	bd_mptcp_close(r->l);
	for (int h = 0; h < 2; h++) {
		bd_mptcp_stack_destroy(r->ms[h]);
		bd_stack_drop_tcp(bd_sim_stack(r->sim, h));
	}
	bd_sim_destroy(r->sim);
}

BT_TEST(mptcp_pm_external_events_and_reestablish)
{
	static struct pm_run r;
	int err;
	memset(&r, 0, sizeof(r));
	r.total = 2u << 20;
	r.idx_created = -1;
	pm_setup(&r, 7);
	BT_ASSERT(r.ms[0] && r.ms[1]);
	bd_mptcp_set_event_handler(r.ms[0], ev, &r);
	/* Endpoints: bad input refused. */
	struct bd_ipaddr none = {0};
	BT_EQ(bd_mptcp_pm_add_endpoint(r.ms[0], &none, 0, 0, 0), -BD_EINVAL);
	struct bd_ipaddr a1 = bd_ip4(bd_sim_path_addr(1, 0));
	BT_EQ(bd_mptcp_pm_add_endpoint(r.ms[0], &a1, 0, 0, 0), 1);
	BT_EQ(bd_mptcp_pm_add_endpoint(r.ms[0], &a1, 0, 0, 0), -BD_EADDRINUSE);
	struct bd_ipaddr ca = bd_ip4(bd_sim_path_addr(0, 0));
	struct bd_ipaddr sa = bd_ip4(bd_sim_path_addr(0, 1));
	r.l = bd_mptcp_listen(r.ms[1], NULL, SPORT, 8, &lcb, &r, &err);
	r.cli = bd_mptcp_connect(r.ms[0], &ca, 0, &sa, SPORT, &ccb, &r, &err);
	BT_ASSERT(r.l && r.cli);
	BT_ASSERT(strcmp(bd_mptcp_get_pm(r.cli), "external") == 0);
	BT_EQ(bd_mptcp_set_pm(r.cli, "nope"), -BD_EINVAL);
	bd_sim_run(r.sim, 60ull * 1000000000ull, step, &r);
	printf(
	    "    est %u closed %u (reset %u) prio %u retry %llu rcvd %llu\n",
	    r.est, r.closed, r.reasons[BD_MPTCP_CLOSE_RESET], r.prio,
	    (unsigned long long)bd_mptcp_mib_get(r.ms[0], "BraidSubflowRetry"),
	    (unsigned long long)r.rcvd);
	BT_EQ(r.idx_created, 1);
	BT_UEQ(r.rcvd, r.total);
	BT_ASSERT(r.killed);
	/* 2 subflows up, one reset, then up again. */
	BT_UEQ(r.est, 3);
	BT_UEQ(r.reasons[BD_MPTCP_CLOSE_RESET], 1);
	BT_UEQ(r.prio, 1);
	BT_UEQ(bd_mptcp_mib_get(r.ms[0], "BraidSubflowRetry"), 1);
	/* The subflow asked for at connect waited for the connection to be
	 * fully established: the server knew its token, nothing refused. */
	BT_UEQ(r.reasons[BD_MPTCP_CLOSE_REFUSED], 0);
	BT_UEQ(bd_mptcp_mib_get(r.ms[1], "MPJoinNoTokenFound"), 0);
	BT_UEQ(bd_mptcp_mib_get(r.ms[1], "MPJoinSynRx"), 2);
	pm_teardown(&r);
}

/* Path 1 goes dark at 0.5 s and its subflow is set to backup at 1 s (what
 * the controller does); the path works again at 4 s and at 4.1 s the
 * subflow is set regular. Its retransmission timer, backed off three or
 * four times by then, starts over, so the path carries data again within
 * an RTO, not only at the backed-off retransmission 2.6 s later. */
static void sf1_info(struct pm_run *r, struct bd_tcp_info *ti)
{
	memset(ti, 0, sizeof(*ti));
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(r->cli, 1, NULL);
	if (t)
		bd_tcp_get_info(t, ti);
}

static void path1(struct pm_run *r, bool down)
{
	for (int d = 0; d < 2; d++) {
		struct bd_link *l = bd_sim_link(r->sim, 1, d);
		struct bd_link_params lp = *bd_link_params(l);
		lp.down = down;
		bd_link_set_params(l, &lp);
	}
}

static bool step_dark(void *ctx, struct bd_sim *sim)
{
	struct pm_run *r = ctx;
	uint64_t t = bd_sim_now_ns(sim);
	struct bd_tcp_info ti;
	if (!r->down && t >= 500000000ull) {
		r->down = true;
		path1(r, true);
	}
	if (!r->aside && t >= 1000000000ull) {
		r->aside = true;
		bd_mptcp_pm_set_prio(r->cli, 1, true);
	}
	if (!r->up && t >= 4000000000ull) {
		r->up = true;
		path1(r, false);
	}
	if (!r->regular && t >= 4100000000ull) {
		r->regular = true;
		sf1_info(r, &ti);
		r->acked_then = ti.bytes_acked;
		r->backoff_then = ti.backoff;
		if (r->promote)
			bd_mptcp_pm_set_prio(r->cli, 1, false);
	}
	if (r->regular && !r->acked_later && t >= 5100000000ull) {
		sf1_info(r, &ti);
		r->acked_later = ti.bytes_acked ? ti.bytes_acked : 1;
	}
	return r->cli_closed && r->srv_closed;
}

static void run_dark(struct pm_run *r, bool promote)
{
	int err;
	memset(r, 0, sizeof(*r));
	r->total = 8u << 20;
	r->promote = promote;
	pm_setup(r, 11);
	BT_ASSERT(r->ms[0] && r->ms[1]);
	struct bd_ipaddr ca = bd_ip4(bd_sim_path_addr(0, 0));
	struct bd_ipaddr sa = bd_ip4(bd_sim_path_addr(0, 1));
	r->l = bd_mptcp_listen(r->ms[1], NULL, SPORT, 8, &lcb, r, &err);
	r->cli = bd_mptcp_connect(r->ms[0], &ca, 0, &sa, SPORT, &ccb, r, &err);
	BT_ASSERT(r->l && r->cli);
	bd_sim_run(r->sim, 60ull * 1000000000ull, step_dark, r);
	r->restarts = bd_mptcp_mib_get(r->ms[0], "BraidPrioRtoRestart");
	printf("    %s: backoff %u at 4.1 s, subflow 1 acked %llu -> %llu by "
	       "5.1 s, restarts %llu\n",
	       promote ? "set regular" : "left backup", r->backoff_then,
	       (unsigned long long)r->acked_then,
	       (unsigned long long)r->acked_later,
	       (unsigned long long)r->restarts);
	BT_UEQ(r->rcvd, r->total);
	BT_ASSERT(r->regular && r->acked_later);
	pm_teardown(r);
}

BT_TEST(mptcp_pm_regular_again_probes_the_path)
{
	static struct pm_run r;
	/* Left as backup: the path stays unused until the backed-off RTO. */
	run_dark(&r, false);
	BT_ASSERT(r.backoff_then >= 3);
	BT_UEQ(r.acked_later, r.acked_then);
	BT_UEQ(r.restarts, 0);
	/* Set regular: retransmits within an RTO and carries new data. */
	run_dark(&r, true);
	BT_ASSERT(r.backoff_then >= 3);
	BT_ASSERT(r.acked_later > r.acked_then + 100000);
	BT_UEQ(r.restarts, 1);
}
