/* SPDX-License-Identifier: Apache-2.0
 *
 * Braid TCP under the channel bridge: struct bd_chan_xport over bd_tcp_*.
 */
#include <string.h>

#include "braid/chan_bridge.h"
#include "braid/tcp.h"
#include "chan_impl.h"

static void cb_accept(void *ctx, struct bd_tcp_sock *l)
{
	(void)l;
	bd_chan_bridge_on_accept(ctx);
}

static void cb_connected(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	bd_chan_bridge_on_connected(ctx);
}

static void cb_activity(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	bd_chan_bridge_on_activity(ctx);
}

static void cb_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	(void)s;
	bd_chan_bridge_on_closed(ctx, err);
}

static const struct bd_tcp_callbacks conn_cb = {
    .on_connected = cb_connected,
    .on_readable = cb_activity,
    .on_writable = cb_activity,
    .on_peer_fin = cb_activity,
    .on_closed = cb_closed,
};

static const struct bd_tcp_callbacks listen_cb = {
    .on_accept = cb_accept,
};

static int tcp_opts(const struct bd_chan_opts *co, struct bd_tcp_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (co->cc[0]) {
		char name[sizeof(co->cc) + 1];
		const struct bd_tcp_cc_ops *ops;
		memcpy(name, co->cc, sizeof(co->cc));
		name[sizeof(co->cc)] = 0;
		ops = bd_tcp_cc_find(name);
		if (!ops)
			return -BD_EINVAL;
		o->cc = ops->name; /* static: outlives the request */
	}
	o->snd_buf = co->snd_buf;
	o->rcv_buf = co->rcv_buf;
	o->nagle = co->nagle != 0;
	return 0;
}

static void *x_connect(void *xctx, struct bd_stack *st,
		       const struct bd_chan_msg *req, void *ctx, int *err)
{
	struct bd_tcp_opts o;
	struct bd_ipaddr l, r;
	bool have_l = bd_chan_to_ip(&req->laddr, &l);
	int rc = tcp_opts(&req->opts, &o);
	(void)xctx;
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	if (!bd_chan_to_ip(&req->raddr, &r) || !req->raddr.port) {
		*err = -BD_EINVAL;
		return NULL;
	}
	if (!bd_stack_tcp(st)) {
		*err = -BD_ENETUNREACH;
		return NULL;
	}
	return bd_tcp_connect(bd_stack_tcp(st), have_l ? &l : NULL,
			      have_l ? req->laddr.port : 0, &r, req->raddr.port,
			      &o, &conn_cb, ctx, err);
}

static void *x_listen(void *xctx, struct bd_stack *st,
		      const struct bd_chan_msg *req, void *ctx, int *err)
{
	struct bd_tcp_opts o;
	struct bd_ipaddr l;
	bool have_l = bd_chan_to_ip(&req->laddr, &l);
	int rc = tcp_opts(&req->opts, &o);
	int backlog = req->arg ? (int)(req->arg > 4096 ? 4096 : req->arg) : 128;
	(void)xctx;
	if (rc < 0) {
		*err = rc;
		return NULL;
	}
	if (!req->laddr.port) {
		*err = -BD_EINVAL;
		return NULL;
	}
	if (!bd_stack_tcp(st)) {
		*err = -BD_ENETUNREACH;
		return NULL;
	}
	return bd_tcp_listen(bd_stack_tcp(st), have_l ? &l : NULL,
			     req->laddr.port, backlog, &o, &listen_cb, ctx,
			     err);
}

static void *x_accept(void *listener, void *ctx)
{
	return bd_tcp_accept(listener, &conn_cb, ctx);
}

static long x_send(void *sk, const void *buf, size_t len)
{
	return bd_tcp_send(sk, buf, len);
}

static long x_recv(void *sk, void *buf, size_t cap)
{
	return bd_tcp_recv(sk, buf, cap);
}

static int x_shutdown(void *sk)
{
	return bd_tcp_shutdown(sk);
}

static void x_close(void *sk)
{
	bd_tcp_close(sk);
}

static void x_abort(void *sk)
{
	bd_tcp_abort(sk);
}

static void x_addrs(void *sk, struct bd_chan_addr *l, struct bd_chan_addr *r)
{
	struct bd_ipaddr la, ra;
	uint16_t lp, rp;
	bd_tcp_get_addrs(sk, &la, &lp, &ra, &rp);
	bd_chan_from_ip(&la, lp, l);
	bd_chan_from_ip(&ra, rp, r);
}

static int x_setopt(void *sk, const struct bd_chan_opts *co)
{
	int rc;
	if (co->cc[0]) {
		char name[sizeof(co->cc) + 1];
		memcpy(name, co->cc, sizeof(co->cc));
		name[sizeof(co->cc)] = 0;
		rc = bd_tcp_set_cc(sk, name);
		if (rc < 0)
			return rc;
	}
	return bd_tcp_set_nagle(sk, co->nagle != 0);
}

static int x_info(void *sk, struct bd_chan_info *out)
{
	memset(out, 0, sizeof(*out));
	out->nsubflows = 1;
	strcpy(out->transport, "tcp");
	x_addrs(sk, &out->sub[0].laddr, &out->sub[0].raddr);
	return bd_tcp_get_info(sk, &out->sub[0].tcp);
}

const struct bd_chan_xport bd_chan_xport_tcp = {
    .name = "tcp",
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
};
