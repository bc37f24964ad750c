/* SPDX-License-Identifier: Apache-2.0
 * Shared pieces of the in-engine apps: the deterministic byte stream,
 * completion bookkeeping and percentiles. */
#include <stdlib.h>
#include <string.h>

#include "app_impl.h"
#include "braid/rng.h"

void bd_app_stream_init(struct bd_app_stream *g, uint64_t seed)
{
	uint64_t x = seed;
	bd_rng_seed(g->s, &x);
}

void bd_app_stream_fill(struct bd_app_stream *g, uint8_t *buf, size_t len)
{
	bd_rng_fill(g->s, buf, len);
}

void bd_app_finish(struct bd_app_conn *c, int err)
{
	if (c->done)
		return;
	c->done = true;
	c->err = err;
	c->t_done_us = bd_stack_now_us(c->st);
	bd_app_snapshot(c);
}

void bd_app_recv_ended(struct bd_app_conn *c, long r)
{
	if (r == 0) {
		bd_app_finish(c, 0);
		bd_app_shutdown(c);
	} else if (r != -BD_EAGAIN) {
		bd_app_finish(c, (int)-r);
	}
}

void bd_app_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct bd_app_conn *c = ctx;
	(void)s;
	c->closed = true;
	bd_app_finish(c, err ? err : BD_ECONNABORTED);
}

static void snapshot_mptcp(struct bd_app_conn *c)
{
	struct bd_tcp_info ti[BD_APP_MAX_SUBFLOWS];
	struct bd_ipaddr la[BD_APP_MAX_SUBFLOWS], ra[BD_APP_MAX_SUBFLOWS];
	uint16_t lp[BD_APP_MAX_SUBFLOWS], rp[BD_APP_MAX_SUBFLOWS];
	bool act[BD_APP_MAX_SUBFLOWS];
	struct bd_tcp_sock *t;
	unsigned n = 0;
	struct bd_mptcp_info mi;
	bool have_mi = bd_mptcp_get_info(c->msock, &mi) == 0;
	struct bd_mptcp_snapshot snap;
	if (bd_mptcp_snapshot(c->msock, &snap) == 0 &&
	    snap.nsubflows >= c->msnap.nsubflows)
		c->msnap = snap;
	c->fallback = bd_mptcp_is_fallback(c->msock);
	c->fb_reason = bd_mptcp_fallback_reason(c->msock);
	for (unsigned i = 0; n < BD_APP_MAX_SUBFLOWS &&
			     (t = bd_mptcp_subflow_tcp(c->msock, i, &act[n]));
	     i++) {
		if (bd_tcp_get_info(t, &ti[n]) != 0)
			continue;
		bd_tcp_get_addrs(t, &la[n], &lp[n], &ra[n], &rp[n]);
		n++;
	}
	/* Subflows go away as the connection closes: keep the fullest view
	 * (the connection's info with it, so the two agree). */
	if (have_mi && (!c->have_minfo || n >= c->nsubflows)) {
		c->minfo = mi;
		c->have_minfo = true;
	}
	if (!n || n < c->nsubflows)
		return;
	c->nsubflows = n;
	memcpy(c->sf_info, ti, n * sizeof(ti[0]));
	memcpy(c->sf_laddr, la, n * sizeof(la[0]));
	memcpy(c->sf_raddr, ra, n * sizeof(ra[0]));
	memcpy(c->sf_lport, lp, n * sizeof(lp[0]));
	memcpy(c->sf_rport, rp, n * sizeof(rp[0]));
	memcpy(c->sf_active, act, n * sizeof(act[0]));
	c->info = ti[0];
	c->have_info = true;
}

void bd_app_snapshot(struct bd_app_conn *c)
{
	if (c->msock)
		snapshot_mptcp(c);
	else if (c->sock && bd_tcp_get_info(c->sock, &c->info) == 0)
		c->have_info = true;
}

/* --- transport -------------------------------------------------------------
 */

bool bd_app_is_open(const struct bd_app_conn *c)
{
	return c->ms ? c->msock != NULL : c->sock != NULL;
}

long bd_app_send(struct bd_app_conn *c, const void *buf, size_t len)
{
	if (c->ms)
		return bd_mptcp_send(c->msock, buf, len);
	return bd_tcp_send(c->sock, buf, len);
}

long bd_app_recv(struct bd_app_conn *c, void *buf, size_t cap)
{
	if (c->ms)
		return bd_mptcp_recv(c->msock, buf, cap);
	return bd_tcp_recv(c->sock, buf, cap);
}

long bd_app_recv_inplace(struct bd_app_conn *c, void *buf, size_t cap,
			 void (*fn)(void *ctx, const uint8_t *p, size_t n),
			 void *ctx)
{
	long r;
	if (!c->ms)
		return bd_tcp_recv_inplace(c->sock, cap, fn, ctx);
	r = bd_mptcp_recv(c->msock, buf, cap);
	if (r > 0)
		fn(ctx, buf, (size_t)r);
	return r;
}

int bd_app_shutdown(struct bd_app_conn *c)
{
	if (c->ms)
		return bd_mptcp_shutdown(c->msock);
	return bd_tcp_shutdown(c->sock);
}

/* MPTCP callbacks calling the app's TCP-style ones (ctx is the app, whose
 * first member is its bd_app_conn). */
static void m_connected(void *ctx, struct bd_mptcp_sock *sk)
{
	struct bd_app_conn *c = ctx;
	(void)sk;
	c->connected = true;
	if (c->on_up)
		c->on_up(c, c->on_up_arg);
	if (c->cb->on_connected)
		c->cb->on_connected(ctx, NULL);
}

static void m_readable(void *ctx, struct bd_mptcp_sock *sk)
{
	struct bd_app_conn *c = ctx;
	(void)sk;
	if (c->cb->on_readable)
		c->cb->on_readable(ctx, NULL);
}

static void m_writable(void *ctx, struct bd_mptcp_sock *sk)
{
	struct bd_app_conn *c = ctx;
	(void)sk;
	if (c->cb->on_writable)
		c->cb->on_writable(ctx, NULL);
}

static void m_peer_fin(void *ctx, struct bd_mptcp_sock *sk)
{
	struct bd_app_conn *c = ctx;
	(void)sk;
	/* Everything the peer sends is in: the subflows' counters are final
	 * and the subflows still there. */
	bd_app_snapshot(c);
	if (c->cb->on_peer_fin)
		c->cb->on_peer_fin(ctx, NULL);
}

static void m_fin_acked(void *ctx, struct bd_mptcp_sock *sk)
{
	(void)sk;
	/* Everything this end sent is acknowledged: its subflows' counters
	 * are final (the peer's FIN can come long before, when it sends
	 * less), and the subflows not gone yet. */
	bd_app_snapshot(ctx);
}

static void m_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	struct bd_app_conn *c = ctx;
	(void)sk;
	if (c->cb->on_closed)
		c->cb->on_closed(ctx, NULL, err);
}

static const struct bd_mptcp_callbacks m_cb = {
    .on_connected = m_connected,
    .on_readable = m_readable,
    .on_writable = m_writable,
    .on_peer_fin = m_peer_fin,
    .on_fin_acked = m_fin_acked,
    .on_closed = m_closed,
};

void bd_app_accept(struct bd_app_conn *c)
{
	if (c->ms) {
		struct bd_mptcp_sock *s;
		while ((s = bd_mptcp_accept(c->mlistener, &m_cb, c))) {
			if (c->msock) {
				bd_mptcp_abort(s); /* one connection per app */
				continue;
			}
			c->msock = s;
			c->t_start_us = bd_stack_now_us(c->st);
			if (c->on_up)
				c->on_up(c, c->on_up_arg);
		}
	} else {
		struct bd_tcp_sock *s;
		while ((s = bd_tcp_accept(c->listener, c->cb, c))) {
			if (c->sock) {
				bd_tcp_abort(s); /* one connection per app */
				continue;
			}
			c->sock = s;
			c->t_start_us = bd_stack_now_us(c->st);
		}
	}
}

static void t_accept(void *ctx, struct bd_tcp_sock *l)
{
	(void)l;
	bd_app_accept(ctx);
}

static void ml_accept(void *ctx, struct bd_mptcp_sock *l)
{
	(void)l;
	bd_app_accept(ctx);
}

static const struct bd_tcp_callbacks t_lcb = {.on_accept = t_accept};
static const struct bd_mptcp_callbacks m_lcb = {.on_accept = ml_accept};

int bd_app_connect(struct bd_app_conn *c, const struct bd_ipaddr *laddr,
		   const struct bd_ipaddr *raddr, uint16_t rport,
		   const struct bd_tcp_opts *opts,
		   const struct bd_tcp_callbacks *cb)
{
	int err = 0;
	c->cb = cb;
	if (c->ms) {
		c->msock = bd_mptcp_connect(c->ms, laddr, 0, raddr, rport,
					    &m_cb, c, &err);
		if (!c->msock)
			return err ? err : -BD_ENOMEM;
		return 0;
	}
	c->sock =
	    bd_tcp_connect(c->ts, laddr, 0, raddr, rport, opts, cb, c, &err);
	if (!c->sock)
		return err ? err : -BD_ENOMEM;
	return 0;
}

int bd_app_listen(struct bd_app_conn *c, uint16_t port,
		  const struct bd_tcp_opts *opts,
		  const struct bd_tcp_callbacks *cb)
{
	int err = 0;
	c->cb = cb;
	if (c->ms) {
		c->mlistener =
		    bd_mptcp_listen(c->ms, NULL, port, 16, &m_lcb, c, &err);
		if (!c->mlistener)
			return err ? err : -BD_ENOMEM;
		return 0;
	}
	c->listener =
	    bd_tcp_listen(c->ts, NULL, port, 16, opts, &t_lcb, c, &err);
	if (!c->listener)
		return err ? err : -BD_ENOMEM;
	return 0;
}

void bd_app_conn_fini(struct bd_app_conn *c)
{
	if (c->msock) {
		if (c->done && !c->err)
			bd_mptcp_close(c->msock);
		else
			bd_mptcp_abort(c->msock);
		c->msock = NULL;
	}
	if (c->mlistener) {
		bd_mptcp_close(c->mlistener);
		c->mlistener = NULL;
	}
	if (c->sock) {
		if (c->done && !c->err)
			bd_tcp_close(c->sock);
		else
			bd_tcp_abort(c->sock);
		c->sock = NULL;
	}
	if (c->listener) {
		bd_tcp_close(c->listener);
		c->listener = NULL;
	}
}

int bd_app_conn_init(struct bd_app_conn *c, struct bd_stack *st)
{
	memset(c, 0, sizeof(*c));
	c->st = st;
	c->ts = bd_stack_tcp(st);
	c->t_start_us = bd_stack_now_us(st);
	return c->ts ? 0 : -BD_EINVAL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t bd_app_percentile(uint32_t *v, uint32_t n, double pct)
{
	double rank;
	uint32_t i;
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u32);
	if (pct <= 0)
		return v[0];
	if (pct >= 100)
		return v[n - 1];
	/* Nearest rank. */
	rank = pct / 100.0 * n;
	i = (uint32_t)rank;
	if ((double)i < rank)
		i++;
	return v[i ? i - 1 : 0];
}
