/* SPDX-License-Identifier: Apache-2.0
 *
 * Braid MPTCP under the channel bridge: struct bd_chan_xport over
 * bd_mptcp_* (braid/mptcp.h). Each socket is a small wrapper that carries
 * the connection's path-manager plan:
 *   - "fullmesh" (and the default): a server announces every other address
 *     of its stack (ADD_ADDR) when it accepts; a client joins what the peer
 *     announces (the MPTCP stack's auto_join), so a connection gets one
 *     subflow per path both ends share;
 *   - "ndiffports": the client opens subflows - 1 more subflows to the same
 *     remote address and port once connected.
 * A peer without MPTCP gets a fallen-back connection (info says so).
 */
#include <stdlib.h>
#include <string.h>

#include "braid/chan_bridge.h"
#include "braid/mptcp.h"
#include "braid/net.h"
#include "braid/tcp.h"
#include "chan_impl.h"

enum { PM_FULLMESH = 0, PM_NDIFFPORTS };

/* Subflow indices looked at (a gone subflow has no TCP socket). */
#define MAX_SUBFLOWS 16

struct xsk {
	struct bd_mptcp_sock *sk;
	struct bd_stack *st;
	void *ctx; /* the bridge's connection or listener */
	uint8_t pm, subflows;
	bool listener, joined;
	struct bd_ipaddr raddr;
	uint16_t rport;
	struct bd_chan_addr laddr; /* listener: its address */
	struct bd_chan_opts opts;  /* listener: given to accepted sockets */
};

static int pm_of(const struct bd_chan_opts *o, uint8_t *pm)
{
	char name[sizeof(o->path_manager) + 1];
	memcpy(name, o->path_manager, sizeof(o->path_manager));
	name[sizeof(o->path_manager)] = 0;
	if (!name[0] || !strcmp(name, "fullmesh"))
		*pm = PM_FULLMESH;
	else if (!strcmp(name, "ndiffports"))
		*pm = PM_NDIFFPORTS;
	else
		return -BD_EINVAL;
	return 0;
}

/* The packet scheduler: only the engine's own (lowest RTT) for now. */
static int sched_ok(const struct bd_chan_opts *o)
{
	char name[sizeof(o->scheduler) + 1];
	memcpy(name, o->scheduler, sizeof(o->scheduler));
	name[sizeof(o->scheduler)] = 0;
	return !name[0] || bd_mptcp_sched_find(name) ? 0 : -BD_EINVAL;
}

static int cc_check(const struct bd_chan_opts *o)
{
	char name[sizeof(o->cc) + 1];
	memcpy(name, o->cc, sizeof(o->cc));
	name[sizeof(o->cc)] = 0;
	return !name[0] || bd_tcp_cc_find(name) ? 0 : -BD_EINVAL;
}

/* Apply the scheduler to the connection, CC and Nagle to every subflow
 * there is. */
static int apply_subflows(struct xsk *x, const struct bd_chan_opts *o)
{
	int rc = 0;
	if (o->scheduler[0]) {
		char name[sizeof(o->scheduler) + 1];
		memcpy(name, o->scheduler, sizeof(o->scheduler));
		name[sizeof(o->scheduler)] = 0;
		if (bd_mptcp_set_scheduler(x->sk, name) < 0)
			rc = -BD_EINVAL;
	}
	for (unsigned i = 0; i < MAX_SUBFLOWS; i++) {
		struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x->sk, i, NULL);
		if (!t)
			continue;
		if (o->cc[0]) {
			char name[sizeof(o->cc) + 1];
			memcpy(name, o->cc, sizeof(o->cc));
			name[sizeof(o->cc)] = 0;
			if (bd_tcp_set_cc(t, name) < 0)
				rc = -BD_EINVAL;
		}
		bd_tcp_set_nagle(t, o->nagle != 0);
	}
	return rc;
}

/* --- callbacks ------------------------------------------------------------ */

static void cb_accept(void *ctx, struct bd_mptcp_sock *l)
{
	struct xsk *x = ctx;
	(void)l;
	if (x && x->ctx)
		bd_chan_bridge_on_accept(x->ctx);
}

static void join_more(struct xsk *x)
{
	if (x->joined || x->listener)
		return;
	x->joined = true;
	if (x->pm == PM_NDIFFPORTS)
		for (unsigned i = 1; i < x->subflows; i++)
			bd_mptcp_add_subflow(x->sk, NULL, &x->raddr, x->rport);
	apply_subflows(x, &x->opts);
}

static void cb_connected(void *ctx, struct bd_mptcp_sock *s)
{
	struct xsk *x = ctx;
	(void)s;
	if (!x || !x->ctx)
		return;
	join_more(x);
	bd_chan_bridge_on_connected(x->ctx);
}

static void cb_activity(void *ctx, struct bd_mptcp_sock *s)
{
	struct xsk *x = ctx;
	(void)s;
	if (x && x->ctx)
		bd_chan_bridge_on_activity(x->ctx);
}

static void cb_closed(void *ctx, struct bd_mptcp_sock *s, int err)
{
	struct xsk *x = ctx;
	(void)s;
	if (x && x->ctx)
		bd_chan_bridge_on_closed(x->ctx, err);
}

static const struct bd_mptcp_callbacks conn_cb = {
    .on_connected = cb_connected,
    .on_readable = cb_activity,
    .on_writable = cb_activity,
    .on_peer_fin = cb_activity,
    .on_closed = cb_closed,
};

static const struct bd_mptcp_callbacks listen_cb = {
    .on_accept = cb_accept,
};

/* --- the transport -------------------------------------------------------- */

static struct xsk *xsk_new(struct bd_stack *st, const struct bd_chan_msg *req,
			   void *ctx, int *err)
{
	struct xsk *x;
	uint8_t pm;
	int rc = pm_of(&req->opts, &pm);
	if (!rc)
		rc = sched_ok(&req->opts);
	if (!rc)
		rc = cc_check(&req->opts);
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	x = calloc(1, sizeof(*x));
	if (!x) {
		*err = -BD_ENOMEM;
		return NULL;
	}
	x->st = st;
	x->ctx = ctx;
	x->pm = pm;
	x->subflows = req->opts.subflows ? req->opts.subflows : 1;
	x->opts = req->opts;
	return x;
}

static void *x_connect(void *xctx, struct bd_stack *st,
		       const struct bd_chan_msg *req, void *ctx, int *err)
{
	struct bd_mptcp_stack *ms = xctx;
	struct bd_ipaddr l;
	bool have_l = bd_chan_to_ip(&req->laddr, &l);
	struct xsk *x;
	if (!ms) {
		*err = -BD_ENETUNREACH;
		return NULL;
	}
	if (!req->raddr.port || req->raddr.family != BD_AF_INET) {
		*err = -BD_EINVAL;
		return NULL;
	}
	x = xsk_new(st, req, ctx, err);
	if (!x)
		return NULL;
	bd_chan_to_ip(&req->raddr, &x->raddr);
	x->rport = req->raddr.port;
	x->sk = bd_mptcp_connect(ms, have_l ? &l : NULL,
				 have_l ? req->laddr.port : 0, &x->raddr,
				 x->rport, &conn_cb, x, err);
	if (!x->sk) {
		free(x);
		return NULL;
	}
	return x;
}

static void *x_listen(void *xctx, struct bd_stack *st,
		      const struct bd_chan_msg *req, void *ctx, int *err)
{
	struct bd_mptcp_stack *ms = xctx;
	struct bd_ipaddr l;
	bool have_l = bd_chan_to_ip(&req->laddr, &l);
	int backlog = req->arg ? (int)(req->arg > 4096 ? 4096 : req->arg) : 128;
	struct xsk *x;
	if (!ms) {
		*err = -BD_ENETUNREACH;
		return NULL;
	}
	if (!req->laddr.port) {
		*err = -BD_EINVAL;
		return NULL;
	}
	x = xsk_new(st, req, ctx, err);
	if (!x)
		return NULL;
	x->listener = true;
	x->laddr = req->laddr;
	x->sk = bd_mptcp_listen(ms, have_l ? &l : NULL, req->laddr.port,
				backlog, &listen_cb, x, err);
	if (!x->sk) {
		free(x);
		return NULL;
	}
	return x;
}

/* fullmesh, server side: announce every other address of the stack. */
static void announce(struct xsk *x)
{
	struct bd_ipaddr la, ra;
	uint16_t lp, rp;
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x->sk, 0, NULL);
	unsigned n = bd_stack_nports(x->st);
	if (!t || bd_mptcp_is_fallback(x->sk))
		return;
	bd_tcp_get_addrs(t, &la, &lp, &ra, &rp);
	for (unsigned p = 0; p < n && p < 250; p++) {
		uint32_t a = bd_stack_port_ipv4(x->st, (uint16_t)p);
		struct bd_ipaddr ip;
		if (!a || (la.family == BD_AF_INET && la.v4 == a))
			continue;
		ip = bd_ip4(a);
		bd_mptcp_announce(x->sk, (uint8_t)(p + 1), &ip, 0);
	}
}

static void *x_accept(void *listener, void *ctx)
{
	struct xsk *l = listener;
	struct xsk *x = calloc(1, sizeof(*x));
	if (!x)
		return NULL;
	x->st = l->st;
	x->ctx = ctx;
	x->pm = l->pm;
	x->subflows = l->subflows;
	x->opts = l->opts;
	x->joined = true;
	x->sk = bd_mptcp_accept(l->sk, &conn_cb, x);
	if (!x->sk) {
		free(x);
		return NULL;
	}
	if (x->pm == PM_FULLMESH)
		announce(x);
	apply_subflows(x, &x->opts);
	return x;
}

static long x_send(void *sk, const void *buf, size_t len)
{
	return bd_mptcp_send(((struct xsk *)sk)->sk, buf, len);
}

static long x_recv(void *sk, void *buf, size_t cap)
{
	return bd_mptcp_recv(((struct xsk *)sk)->sk, buf, cap);
}

static int x_shutdown(void *sk)
{
	return bd_mptcp_shutdown(((struct xsk *)sk)->sk);
}

/* The handle goes away: no callback may reach the wrapper after this. */
static void release(struct xsk *x, bool abort)
{
	bd_mptcp_set_ctx(x->sk, NULL);
	if (abort)
		bd_mptcp_abort(x->sk);
	else
		bd_mptcp_close(x->sk);
	free(x);
}

static void x_close(void *sk)
{
	release(sk, false);
}

static void x_abort(void *sk)
{
	release(sk, true);
}

static void x_addrs(void *sk, struct bd_chan_addr *l, struct bd_chan_addr *r)
{
	struct xsk *x = sk;
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x->sk, 0, NULL);
	struct bd_ipaddr la, ra;
	uint16_t lp = 0, rp = 0;
	memset(l, 0, sizeof(*l));
	memset(r, 0, sizeof(*r));
	if (x->listener)
		*l = x->laddr;
	if (x->listener || !t)
		return;
	bd_tcp_get_addrs(t, &la, &lp, &ra, &rp);
	bd_chan_from_ip(&la, lp, l);
	bd_chan_from_ip(&ra, rp, r);
}

static int x_setopt(void *sk, const struct bd_chan_opts *o)
{
	struct xsk *x = sk;
	int rc = sched_ok(o);
	if (!rc)
		rc = cc_check(o);
	if (rc < 0)
		return rc;
	return apply_subflows(x, o);
}

static int x_info(void *sk, struct bd_chan_info *out)
{
	struct xsk *x = sk;
	unsigned k = 0;
	/* Priorities from the snapshot (its sf[] in the same order). */
	struct bd_mptcp_snapshot *snap = malloc(sizeof(*snap));
	if (snap && bd_mptcp_snapshot(x->sk, snap) < 0)
		snap->nsubflows = 0;
	memset(out, 0, sizeof(*out));
	strcpy(out->transport, "mptcp");
	out->mptcp = !bd_mptcp_is_fallback(x->sk);
	for (unsigned i = 0; i < MAX_SUBFLOWS && k < BD_CHAN_MAX_SUBFLOWS;
	     i++) {
		struct bd_ipaddr la, ra;
		uint16_t lp, rp;
		struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x->sk, i, NULL);
		if (!t)
			continue;
		bd_tcp_get_addrs(t, &la, &lp, &ra, &rp);
		bd_chan_from_ip(&la, lp, &out->sub[k].laddr);
		bd_chan_from_ip(&ra, rp, &out->sub[k].raddr);
		bd_tcp_get_info(t, &out->sub[k].tcp);
		if (snap && i < snap->nsubflows) {
			out->sub[k].backup = snap->sf[i].backup;
			out->sub[k].peer_backup = snap->sf[i].peer_backup;
		}
		k++;
	}
	out->nsubflows = k;
	free(snap);
	return 0;
}

/* Subflow k as x_info numbers them (the live ones, in order). */
static int x_set_prio(void *sk, unsigned k, bool backup)
{
	struct xsk *x = sk;
	if (x->listener)
		return -BD_EINVAL;
	for (unsigned i = 0, n = 0; i < MAX_SUBFLOWS; i++) {
		if (!bd_mptcp_subflow_tcp(x->sk, i, NULL))
			continue;
		if (n++ == k)
			return bd_mptcp_pm_set_prio(x->sk, i, backup);
	}
	return -BD_ENOENT;
}

const struct bd_chan_xport bd_chan_xport_mptcp = {
    .name = "mptcp",
    .connect = x_connect,
    .listen = x_listen,
    .accept = x_accept,
    .send = x_send,
    .recv = x_recv,
    .shutdown = x_shutdown,
    .close = x_close,
    .abort = x_abort,
    .addrs = x_addrs,
    .setopt = x_setopt,
    .info = x_info,
    .set_prio = x_set_prio,
};
