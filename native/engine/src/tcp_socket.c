/* SPDX-License-Identifier: Apache-2.0
 * TCP sockets: the stack object, connection and listener tables, ports,
 * byte rings, the socket API and application notifications. */
#include <stdlib.h>
#include <string.h>

#include "tcp_impl.h"

/* --- rings ---------------------------------------------------------------- */

int tcp_ring_init(struct tcp_ring *r, uint32_t cap)
{
	r->buf = NULL;
	r->cap = cap;
	r->head = r->len = 0;
	return 0;
}

void tcp_ring_free(struct tcp_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

static int ring_ensure(struct tcp_ring *r)
{
	if (!r->buf) {
		r->buf = malloc(r->cap ? r->cap : 1);
		if (!r->buf)
			return -BD_ENOMEM;
	}
	return 0;
}

void tcp_ring_copy_out(const struct tcp_ring *r, uint32_t off, void *dst,
		       uint32_t n)
{
	uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->cap);
	uint32_t first = r->cap - pos < n ? r->cap - pos : n;
	memcpy(dst, r->buf + pos, first);
	if (n > first)
		memcpy((uint8_t *)dst + first, r->buf, n - first);
}

const uint8_t *tcp_ring_span(const struct tcp_ring *r, uint32_t off, uint32_t n)
{
	uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->cap);
	if (!r->buf || r->cap - pos < n)
		return NULL;
	return r->buf + pos;
}

void tcp_ring_copy_in(struct tcp_ring *r, uint32_t off, const void *src,
		      uint32_t n)
{
	uint32_t pos = (uint32_t)(((uint64_t)r->head + off) % r->cap);
	uint32_t first = r->cap - pos < n ? r->cap - pos : n;
	memcpy(r->buf + pos, src, first);
	if (n > first)
		memcpy(r->buf, (const uint8_t *)src + first, n - first);
}

static void ring_consume(struct tcp_ring *r, uint32_t n)
{
	r->head = (uint32_t)(((uint64_t)r->head + n) % r->cap);
	r->len -= n;
}

/* --- stack ---------------------------------------------------------------- */

void bd_tcp_config_default(struct bd_tcp_config *c)
{
	memset(c, 0, sizeof(*c));
	c->snd_buf = 256 * 1024;
	c->rcv_buf = 256 * 1024;
	c->rto_min_us = 200000;
	c->rto_max_us = 60000000;
	c->rto_init_us = 1000000;
	c->delack_us = 40000;
	c->time_wait_us = 60000000;
	c->fin_wait2_us = 60000000;
	c->keepalive_idle_us = 7200u * 1000000u;
	c->keepalive_intvl_us = 75000000;
	c->keepalive_probes = 9;
	c->syn_retries = 6;
	c->retries2 = 15;
	c->default_mss = 1460;
	c->eph_lo = 32768;
	c->eph_hi = 60999;
	c->max_conns = 4096;
	c->challenge_ack_limit = 1000;
	c->sack = c->timestamps = c->wscale = true;
	c->cc = "cubic";
}

struct bd_tcp_stack *bd_tcp_stack_create(struct bd_stack *st,
					 const struct bd_tcp_config *cfg)
{
	struct bd_tcp_stack *ts = calloc(1, sizeof(*ts));
	uint32_t n = 64;

	if (!ts)
		return NULL;
	ts->st = st;
	if (cfg)
		ts->cfg = *cfg;
	else
		bd_tcp_config_default(&ts->cfg);
	if (!ts->cfg.snd_buf)
		ts->cfg.snd_buf = 256 * 1024;
	if (!ts->cfg.rcv_buf)
		ts->cfg.rcv_buf = 256 * 1024;
	if (ts->cfg.rto_min_us < 1000)
		ts->cfg.rto_min_us = 1000;
	if (ts->cfg.rto_max_us < ts->cfg.rto_min_us)
		ts->cfg.rto_max_us = ts->cfg.rto_min_us;
	if (!ts->cfg.rto_init_us)
		ts->cfg.rto_init_us = 1000000;
	if (ts->cfg.default_mss < TCP_MIN_MSS)
		ts->cfg.default_mss = 536;
	if (ts->cfg.eph_lo == 0 || ts->cfg.eph_hi < ts->cfg.eph_lo) {
		ts->cfg.eph_lo = 32768;
		ts->cfg.eph_hi = 60999;
	}
	ts->default_cc = bd_tcp_cc_find(ts->cfg.cc);
	if (!ts->default_cc)
		ts->default_cc = &bd_tcp_cc_cubic;
	while (n < ts->cfg.max_conns && n < (1u << 24))
		n <<= 1;
	ts->hash = calloc(n, sizeof(*ts->hash));
	if (!ts->hash) {
		free(ts);
		return NULL;
	}
	ts->hash_mask = n - 1;
	ts->rule3 = true;
	ts->eph_next = (uint16_t)bd_stack_rand64(st);
	return ts;
}

void tcp_sock_free(struct bd_tcp_sock *s)
{
	if (s->ulp && s->ulp->release)
		s->ulp->release(s->ulp_ctx, s);
	tcp_heap_remove(s);
	if (s->allprev)
		s->allprev->allnext = s->allnext;
	else
		s->ts->all_head = s->allnext;
	if (s->allnext)
		s->allnext->allprev = s->allprev;
	if (s->cc_ops && s->cc_ops->release)
		s->cc_ops->release(&s->cc);
	/* Frames still queued at this poll may refer to the send ring. */
	if (s->sbuf.buf && s->ts->st)
		bd_stack_tx_unref(s->ts->st, s->sbuf.buf, s->sbuf.cap);
	tcp_ring_free(&s->sbuf);
	tcp_ring_free(&s->rbuf);
	tcp_ranges_free(&s->sacked);
	tcp_ranges_free(&s->ooo);
	s->ts->nsocks--;
	free(s);
}

void bd_tcp_stack_destroy(struct bd_tcp_stack *ts)
{
	if (!ts)
		return;
	while (ts->all_head)
		tcp_sock_free(ts->all_head);
	free(ts->heap);
	free(ts->hash);
	free(ts);
}

/* --- tables --------------------------------------------------------------- */

static uint32_t addr_hash(const struct bd_ipaddr *a)
{
	if (a->family == BD_AF_INET)
		return a->v4;
	uint32_t h = 0;
	for (int i = 0; i < 16; i++)
		h = h * 31 + a->v6[i];
	return h;
}

uint32_t tcp_hash4(const struct bd_ipaddr *la, uint16_t lp,
		   const struct bd_ipaddr *ra, uint16_t rp)
{
	uint64_t h = addr_hash(la) * 0x9e3779b97f4a7c15ull;
	h ^= addr_hash(ra) + 0x632be59bd9b4e019ull + (h << 6) + (h >> 2);
	h ^= ((uint64_t)lp << 16 | rp) * 0xbf58476d1ce4e5b9ull;
	h ^= h >> 31;
	return (uint32_t)(h ^ (h >> 32));
}

struct bd_tcp_sock *tcp_lookup(struct bd_tcp_stack *ts,
			       const struct bd_ipaddr *la, uint16_t lp,
			       const struct bd_ipaddr *ra, uint16_t rp)
{
	struct bd_tcp_sock *s =
	    ts->hash[tcp_hash4(la, lp, ra, rp) & ts->hash_mask];
	for (; s; s = s->hnext)
		if (s->lport == lp && s->rport == rp &&
		    bd_ipaddr_eq(&s->laddr, la) && bd_ipaddr_eq(&s->raddr, ra))
			return s;
	return NULL;
}

static bool addr_any(const struct bd_ipaddr *a)
{
	static const uint8_t zero[16];
	if (a->family == BD_AF_INET)
		return a->v4 == 0;
	return memcmp(a->v6, zero, 16) == 0;
}

struct bd_tcp_sock *tcp_lookup_listener(struct bd_tcp_stack *ts,
					const struct bd_ipaddr *la, uint16_t lp)
{
	struct bd_tcp_sock *s, *wild = NULL;
	for (s = ts->listeners[lp & 63]; s; s = s->hnext) {
		if (s->lport != lp)
			continue;
		if (bd_ipaddr_eq(&s->laddr, la))
			return s;
		if (addr_any(&s->laddr) && !wild &&
		    (s->laddr.family == la->family || s->laddr.family == 0))
			wild = s;
	}
	return wild;
}

void tcp_hash_insert(struct bd_tcp_sock *s)
{
	struct bd_tcp_stack *ts = s->ts;
	uint32_t b =
	    tcp_hash4(&s->laddr, s->lport, &s->raddr, s->rport) & ts->hash_mask;
	s->hnext = ts->hash[b];
	ts->hash[b] = s;
	s->in_hash = true;
}

void tcp_hash_remove(struct bd_tcp_sock *s)
{
	struct bd_tcp_stack *ts = s->ts;
	struct bd_tcp_sock **pp;
	if (!s->in_hash)
		return;
	pp = &ts->hash[tcp_hash4(&s->laddr, s->lport, &s->raddr, s->rport) &
		       ts->hash_mask];
	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == s) {
			*pp = s->hnext;
			break;
		}
	s->hnext = NULL;
	s->in_hash = false;
}

/* --- sockets -------------------------------------------------------------- */

static uint8_t wscale_for(uint32_t buf)
{
	uint8_t ws = 0;
	while (ws < TCP_MAX_WSCALE && (buf >> ws) > 65535)
		ws++;
	return ws;
}

struct bd_tcp_sock *tcp_sock_alloc(struct bd_tcp_stack *ts,
				   const struct bd_tcp_opts *o)
{
	struct bd_tcp_sock *s = calloc(1, sizeof(*s));
	const struct bd_tcp_cc_ops *cc = NULL;
	uint32_t sb, rb;

	if (!s)
		return NULL;
	ts->nsocks++;
	s->ts = ts;
	s->allnext = ts->all_head;
	if (ts->all_head)
		ts->all_head->allprev = s;
	ts->all_head = s;
	s->heap_idx = UINT32_MAX;
	sb = o && o->snd_buf ? o->snd_buf : ts->cfg.snd_buf;
	rb = o && o->rcv_buf ? o->rcv_buf : ts->cfg.rcv_buf;
	if (sb < 1024)
		sb = 1024;
	if (rb < 1024)
		rb = 1024;
	if (rb > (1u << 30))
		rb = 1u << 30;
	if (sb > (1u << 30))
		sb = 1u << 30;
	tcp_ring_init(&s->sbuf, sb);
	tcp_ring_init(&s->rbuf, rb);
	s->rcv_wscale = ts->cfg.wscale ? wscale_for(rb) : 0;
	s->adv_mss = ts->cfg.default_mss;
	if (o) {
		s->lopts = *o;
		s->nagle = o->nagle;
		s->keepalive = o->keepalive;
		s->no_delack = o->no_delack;
		s->tos = o->tos;
		s->ulp = o->ulp;
		s->ulp_ctx = o->ulp_ctx;
		if (o->mss >= TCP_MIN_MSS)
			s->adv_mss = o->mss;
		cc = bd_tcp_cc_find(o->cc);
	}
	s->ka_probes = ts->cfg.keepalive_probes;
	s->rto = ts->cfg.rto_init_us;
	s->snd_mss = 536;
	s->rcv_mss = 536;
	s->cc.cwnd = 10 * 536;
	s->cc.ssthresh = UINT32_MAX;
	tcp_apply_cc(s, cc ? cc : ts->default_cc);
	return s;
}

void tcp_set_state(struct bd_tcp_sock *s, int state)
{
	bool was =
	    s->state == BD_TCP_ESTABLISHED || s->state == BD_TCP_CLOSE_WAIT;
	bool is = state == BD_TCP_ESTABLISHED || state == BD_TCP_CLOSE_WAIT;
	if (was && !is)
		s->ts->mib.CurrEstab--;
	if (!was && is)
		s->ts->mib.CurrEstab++;
	s->state = (uint8_t)state;
}

static void parent_unlink(struct bd_tcp_sock *s)
{
	struct bd_tcp_sock *l = s->parent, **pp;
	if (!l)
		return;
	if (s->in_acceptq) {
		for (pp = &l->acceptq_head; *pp; pp = &(*pp)->qnext)
			if (*pp == s) {
				*pp = s->qnext;
				break;
			}
		l->acceptq_tail = NULL;
		for (struct bd_tcp_sock *c = l->acceptq_head; c; c = c->qnext)
			l->acceptq_tail = c;
		l->acceptq_len--;
		s->in_acceptq = false;
	} else {
		l->synq_len--;
	}
	s->qnext = NULL;
	s->parent = NULL;
}

static void dead_add(struct bd_tcp_sock *s)
{
	if (s->dead)
		return;
	s->dead = true;
	s->qnext = s->ts->dead_head;
	s->ts->dead_head = s;
}

void tcp_done(struct bd_tcp_sock *s, int err)
{
	if (s->state == BD_TCP_CLOSED && !s->in_hash)
		return;
	if (s->ulp && s->ulp->event && s->ulp_ready)
		s->ulp->event(s->ulp_ctx, s, BD_TCP_ULP_CLOSED, (uint32_t)err);
	s->ulp_ready = false;
	tcp_hash_remove(s);
	tcp_timer_clear_all(s);
	tcp_heap_remove(s);
	tcp_set_state(s, BD_TCP_CLOSED);
	if (!s->err)
		s->err = err;
	if (s->parent) {
		/* An embryonic or not yet accepted child: nobody owns it. */
		parent_unlink(s);
		s->app_owned = false;
	}
	if (!s->app_owned)
		dead_add(s);
	else
		tcp_flush_add(s);
}

void tcp_reap(struct bd_tcp_stack *ts)
{
	struct bd_tcp_sock *s, **pp;

	if (ts->depth > 0 || !ts->dead_head)
		return;
	for (pp = &ts->flush_head; *pp;) {
		if ((*pp)->dead) {
			(*pp)->in_flush = false;
			*pp = (*pp)->flnext;
		} else {
			pp = &(*pp)->flnext;
		}
	}
	while ((s = ts->dead_head)) {
		ts->dead_head = s->qnext;
		tcp_sock_free(s);
	}
}

void tcp_flush_add(struct bd_tcp_sock *s)
{
	if (s->in_flush || s->dead)
		return;
	s->in_flush = true;
	s->flnext = s->ts->flush_head;
	s->ts->flush_head = s;
}

/* Deliver pending application callbacks. A callback may close the socket,
 * so app_owned is checked before each. */
void tcp_notify(struct bd_tcp_sock *s)
{
	if (!s->app_owned || s->dead || s->parent)
		return;
	if (s->pending_connected) {
		s->pending_connected = false;
		if (s->cb.on_connected)
			s->cb.on_connected(s->ctx, s);
		if (!s->app_owned)
			return;
	}
	if (s->pending_readable) {
		s->pending_readable = false;
		if (s->cb.on_readable && s->rbuf.len)
			s->cb.on_readable(s->ctx, s);
	}
	if (!s->app_owned)
		return;
	if (s->rcv_fin && !s->fin_notified) {
		s->fin_notified = true;
		if (s->cb.on_peer_fin)
			s->cb.on_peer_fin(s->ctx, s);
	}
	if (!s->app_owned)
		return;
	if (s->want_writable && s->sbuf.len < s->sbuf.cap &&
	    (s->state == BD_TCP_ESTABLISHED || s->state == BD_TCP_CLOSE_WAIT)) {
		s->want_writable = false;
		if (s->cb.on_writable)
			s->cb.on_writable(s->ctx, s);
	}
	if (!s->app_owned)
		return;
	if ((s->state == BD_TCP_CLOSED || s->state == BD_TCP_TIME_WAIT) &&
	    !s->closed_notified) {
		s->closed_notified = true;
		if (s->cb.on_closed)
			s->cb.on_closed(s->ctx, s, s->err);
	}
}

/* A passive child reached ESTABLISHED: move it to the accept queue. */
void tcp_child_established(struct bd_tcp_sock *c)
{
	struct bd_tcp_sock *l = c->parent;
	if (!l)
		return;
	l->synq_len--;
	c->qnext = NULL;
	c->in_acceptq = true;
	if (l->acceptq_tail)
		l->acceptq_tail->qnext = c;
	else
		l->acceptq_head = c;
	l->acceptq_tail = c;
	l->acceptq_len++;
	if (l->app_owned && l->cb.on_accept)
		l->cb.on_accept(l->ctx, l);
}

/* --- ports ---------------------------------------------------------------- */

static int pick_port(struct bd_tcp_stack *ts, const struct bd_ipaddr *la,
		     const struct bd_ipaddr *ra, uint16_t rp, uint16_t *out)
{
	uint32_t range = (uint32_t)ts->cfg.eph_hi - ts->cfg.eph_lo + 1;
	/* RFC 6056 algorithm 3: a keyed offset per destination plus a
	 * counter. */
	uint32_t off = tcp_isn(ts, la, 0, ra, rp) -
		       (uint32_t)(bd_stack_now_us(ts->st) / 4);
	for (uint32_t i = 0; i < range; i++) {
		uint16_t port = (uint16_t)(ts->cfg.eph_lo +
					   (off + ts->eph_next + i) % range);
		if (!tcp_lookup(ts, la, port, ra, rp)) {
			ts->eph_next = (uint16_t)(ts->eph_next + i + 1);
			*out = port;
			return 0;
		}
	}
	MIB_INC(ts, BraidEphemeralExhausted);
	return -BD_EADDRNOTAVAIL;
}

/* Our MSS towards raddr from the route's MTU, or 0 if there is no route. */
uint16_t tcp_route_mss(struct bd_tcp_stack *ts, const struct bd_ipaddr *raddr,
		       const struct bd_ipaddr *laddr)
{
	struct bd_route rt;
	if (bd_ip_route(ts->st, raddr, laddr, &rt) < 0)
		return 0;
	if (rt.mtu <= 40 + TCP_MIN_MSS)
		return 0;
	return (uint16_t)(rt.mtu - 40);
}

/* --- API ------------------------------------------------------------------ */

struct bd_tcp_sock *bd_tcp_listen(struct bd_tcp_stack *ts,
				  const struct bd_ipaddr *laddr, uint16_t port,
				  int backlog, const struct bd_tcp_opts *opts,
				  const struct bd_tcp_callbacks *cb, void *ctx,
				  int *err)
{
	struct bd_tcp_sock *s;
	struct bd_ipaddr any = bd_ip4(0);
	int e = 0;

	if (!laddr)
		laddr = &any;
	if (port == 0) {
		e = -BD_EINVAL;
		goto fail;
	}
	for (s = ts->listeners[port & 63]; s; s = s->hnext)
		if (s->lport == port &&
		    (bd_ipaddr_eq(&s->laddr, laddr) || addr_any(&s->laddr) ||
		     addr_any(laddr))) {
			e = -BD_EADDRINUSE;
			goto fail;
		}
	s = tcp_sock_alloc(ts, opts);
	if (!s) {
		e = -BD_ENOMEM;
		goto fail;
	}
	if (opts)
		s->lopts = *opts;
	s->lopts.cc = s->cc_ops->name;
	s->is_listener = true;
	s->laddr = *laddr;
	s->lport = port;
	s->backlog = backlog > 0 ? backlog : 128;
	s->state = BD_TCP_LISTEN;
	s->app_owned = true;
	if (cb)
		s->cb = *cb;
	s->ctx = ctx;
	s->hnext = ts->listeners[port & 63];
	ts->listeners[port & 63] = s;
	if (err)
		*err = 0;
	return s;
fail:
	if (err)
		*err = e;
	return NULL;
}

struct bd_tcp_sock *bd_tcp_accept(struct bd_tcp_sock *l,
				  const struct bd_tcp_callbacks *cb, void *ctx)
{
	struct bd_tcp_sock *c;

	if (!l || !l->is_listener || !(c = l->acceptq_head))
		return NULL;
	l->acceptq_head = c->qnext;
	if (!l->acceptq_head)
		l->acceptq_tail = NULL;
	l->acceptq_len--;
	c->qnext = NULL;
	c->in_acceptq = false;
	c->parent = NULL;
	c->accepted = true;
	c->app_owned = true;
	if (cb)
		c->cb = *cb;
	c->ctx = ctx;
	if (c->rbuf.len)
		c->pending_readable = true;
	tcp_flush_add(c);
	return c;
}

struct bd_tcp_sock *
bd_tcp_connect(struct bd_tcp_stack *ts, const struct bd_ipaddr *laddr,
	       uint16_t lport, const struct bd_ipaddr *raddr, uint16_t rport,
	       const struct bd_tcp_opts *opts,
	       const struct bd_tcp_callbacks *cb, void *ctx, int *err)
{
	struct bd_tcp_sock *s;
	struct bd_ipaddr la;
	uint16_t mss = 0;
	int e;

	if (!raddr || rport == 0 || addr_any(raddr)) {
		e = -BD_EINVAL;
		goto fail;
	}
	if (laddr && !addr_any(laddr)) {
		la = *laddr;
		mss = tcp_route_mss(ts, raddr, &la);
	} else {
		struct bd_route rt;
		e = bd_ip_route(ts->st, raddr, NULL, &rt);
		if (e < 0)
			goto fail;
		la = rt.saddr;
		if (rt.mtu > 40 + TCP_MIN_MSS)
			mss = (uint16_t)(rt.mtu - 40);
	}
	if (lport == 0) {
		e = pick_port(ts, &la, raddr, rport, &lport);
		if (e < 0)
			goto fail;
	} else if (tcp_lookup(ts, &la, lport, raddr, rport)) {
		e = -BD_EADDRINUSE;
		goto fail;
	}
	s = tcp_sock_alloc(ts, opts);
	if (!s) {
		e = -BD_ENOMEM;
		goto fail;
	}
	if (mss && !(opts && opts->mss))
		s->adv_mss = mss;
	s->laddr = la;
	s->raddr = *raddr;
	s->lport = lport;
	s->rport = rport;
	s->app_owned = true;
	s->accepted = true;
	if (cb)
		s->cb = *cb;
	s->ctx = ctx;
	s->iss = tcp_isn(ts, &la, lport, raddr, rport);
	s->snd_una = s->snd_nxt = s->snd_max = s->iss;
	s->sbuf_seq = s->iss + 1;
	s->ts_offset = tcp_ts_offset(ts, &la, raddr);
	s->high_rxt = s->rescue_rxt = s->recover = s->iss;
	tcp_set_state(s, BD_TCP_SYN_SENT);
	tcp_hash_insert(s);
	MIB_INC(ts, ActiveOpens);
	tcp_flush_add(s);
	if (err)
		*err = 0;
	return s;
fail:
	if (err)
		*err = e;
	return NULL;
}

static bool can_send(const struct bd_tcp_sock *s)
{
	return !s->fin_queued &&
	       (s->state == BD_TCP_ESTABLISHED ||
		s->state == BD_TCP_CLOSE_WAIT || s->state == BD_TCP_SYN_SENT ||
		s->state == BD_TCP_SYN_RECEIVED);
}

/* How many of len bytes the send buffer takes now (its memory allocated),
 * or a negative BD_E*. Asks for a writable event when it takes less. */
static long send_room(struct bd_tcp_sock *s, size_t len)
{
	uint32_t room, n;

	if (!s || s->is_listener || !can_send(s))
		return -BD_ENOTCONN;
	room = s->sbuf.cap - s->sbuf.len;
	n = len < room ? (uint32_t)len : room;
	if (n < len)
		s->want_writable = true;
	if (n && ring_ensure(&s->sbuf) < 0)
		return -BD_ENOMEM;
	return (long)n;
}

long bd_tcp_send(struct bd_tcp_sock *s, const void *buf, size_t len)
{
	long r = send_room(s, len);
	uint32_t n = (uint32_t)r;

	if (r <= 0)
		return r;
	tcp_ring_copy_in(&s->sbuf, s->sbuf.len, buf, n);
	s->sbuf.len += n;
	tcp_flush_add(s);
	return (long)n;
}

long bd_tcp_send_inplace(struct bd_tcp_sock *s, size_t len,
			 void (*fn)(void *ctx, uint8_t *p, size_t n), void *ctx)
{
	long r = send_room(s, len);
	uint32_t n = (uint32_t)r, pos, first;

	if (r <= 0)
		return r;
	pos = (uint32_t)(((uint64_t)s->sbuf.head + s->sbuf.len) % s->sbuf.cap);
	first = s->sbuf.cap - pos < n ? s->sbuf.cap - pos : n;
	fn(ctx, s->sbuf.buf + pos, first);
	if (n > first)
		fn(ctx, s->sbuf.buf, n - first);
	s->sbuf.len += n;
	tcp_flush_add(s);
	return (long)n;
}

/* Send a window update when reading opened the window enough. */
static void maybe_window_update(struct bd_tcp_sock *s)
{
	uint32_t free_sp = s->rbuf.cap - s->rbuf.len;
	uint32_t edge = s->rcv_nxt + free_sp;
	uint32_t thresh = s->rbuf.cap / 2;

	if (thresh > 2 * s->adv_mss)
		thresh = 2 * s->adv_mss;
	if (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_FIN_WAIT_1 &&
	    s->state != BD_TCP_FIN_WAIT_2)
		return;
	if (SEQ_GT(edge, s->rcv_adv) && edge - s->rcv_adv >= thresh) {
		if (s->rcv_adv == s->rcv_nxt)
			MIB_INC(s->ts, TCPFromZeroWindowAdv);
		s->ack_now = true;
		tcp_flush_add(s);
	}
}

/* A read found no bytes: end of stream (0), the error that closed the
 * connection, or -BD_EAGAIN. */
static long recv_nothing(const struct bd_tcp_sock *s)
{
	if (s->rcv_fin)
		return 0;
	if (s->state == BD_TCP_CLOSED)
		return s->err ? -s->err : 0;
	return -BD_EAGAIN;
}

long bd_tcp_recv(struct bd_tcp_sock *s, void *buf, size_t cap)
{
	uint32_t n;

	if (!s || s->is_listener)
		return -BD_ENOTCONN;
	n = cap < s->rbuf.len ? (uint32_t)cap : s->rbuf.len;
	if (!n)
		return recv_nothing(s);
	tcp_ring_copy_out(&s->rbuf, 0, buf, n);
	ring_consume(&s->rbuf, n);
	maybe_window_update(s);
	return (long)n;
}

long bd_tcp_recv_inplace(struct bd_tcp_sock *s, size_t cap,
			 void (*fn)(void *ctx, const uint8_t *p, size_t n),
			 void *ctx)
{
	uint32_t n, pos, first;

	if (!s || s->is_listener)
		return -BD_ENOTCONN;
	n = cap < s->rbuf.len ? (uint32_t)cap : s->rbuf.len;
	if (!n)
		return recv_nothing(s);
	pos = s->rbuf.head % s->rbuf.cap;
	first = s->rbuf.cap - pos < n ? s->rbuf.cap - pos : n;
	fn(ctx, s->rbuf.buf + pos, first);
	if (n > first)
		fn(ctx, s->rbuf.buf, n - first);
	ring_consume(&s->rbuf, n);
	maybe_window_update(s);
	return (long)n;
}

size_t bd_tcp_readable(const struct bd_tcp_sock *s)
{
	return s->rbuf.len;
}

size_t bd_tcp_writable(const struct bd_tcp_sock *s)
{
	return can_send(s) ? s->sbuf.cap - s->sbuf.len : 0;
}

/* Consume n bytes from the head of the receive buffer (ULP delivery). */
void tcp_rbuf_consume(struct bd_tcp_sock *s, uint32_t n)
{
	ring_consume(&s->rbuf, n);
}

int bd_tcp_shutdown(struct bd_tcp_sock *s)
{
	if (!s || s->is_listener)
		return -BD_ENOTCONN;
	switch (s->state) {
	case BD_TCP_SYN_SENT:
	case BD_TCP_SYN_RECEIVED:
		s->fin_queued = true;
		break;
	case BD_TCP_ESTABLISHED:
		s->fin_queued = true;
		tcp_set_state(s, BD_TCP_FIN_WAIT_1);
		break;
	case BD_TCP_CLOSE_WAIT:
		s->fin_queued = true;
		tcp_set_state(s, BD_TCP_LAST_ACK);
		break;
	default:
		return s->fin_queued ? 0 : -BD_ENOTCONN;
	}
	tcp_flush_add(s);
	return 0;
}

static void listener_close(struct bd_tcp_sock *l)
{
	struct bd_tcp_stack *ts = l->ts;
	struct bd_tcp_sock **pp;

	for (pp = &ts->listeners[l->lport & 63]; *pp; pp = &(*pp)->hnext)
		if (*pp == l) {
			*pp = l->hnext;
			break;
		}
	/* Reset the accept queue; orphan embryonic children (they die when
	 * their handshake times out or completes without a parent). */
	while (l->acceptq_head) {
		struct bd_tcp_sock *c = l->acceptq_head;
		tcp_send_reset(c);
		tcp_done(c, BD_ECONNABORTED);
	}
	for (uint32_t i = 0; i <= ts->hash_mask && l->synq_len; i++)
		for (struct bd_tcp_sock *c = ts->hash[i]; c; c = c->hnext)
			if (c->parent == l) {
				c->parent = NULL;
				l->synq_len--;
			}
	l->app_owned = false;
	l->state = BD_TCP_CLOSED;
	dead_add(l);
}

void bd_tcp_close(struct bd_tcp_sock *s)
{
	if (!s || !s->app_owned)
		return;
	if (s->is_listener) {
		listener_close(s);
		return;
	}
	s->app_owned = false;
	memset(&s->cb, 0, sizeof(s->cb));
	switch (s->state) {
	case BD_TCP_CLOSED:
		dead_add(s);
		return;
	case BD_TCP_SYN_SENT:
		tcp_done(s, 0);
		return;
	default:
		break;
	}
	if (s->rbuf.len) {
		/* RFC 2525: unread data is lost; tell the peer. */
		MIB_INC(s->ts, TCPAbortOnClose);
		tcp_send_reset(s);
		tcp_done(s, BD_ECONNABORTED);
		return;
	}
	if (s->state == BD_TCP_TIME_WAIT)
		return;
	if (!s->fin_queued)
		bd_tcp_shutdown(s);
	if (s->state == BD_TCP_FIN_WAIT_2)
		tcp_timer_set(s, TT_KEEPALIVE,
			      bd_stack_now_us(s->ts->st) +
				  s->ts->cfg.fin_wait2_us);
	tcp_flush_add(s);
}

void bd_tcp_abort(struct bd_tcp_sock *s)
{
	if (!s || !s->app_owned)
		return;
	if (s->is_listener) {
		listener_close(s);
		return;
	}
	s->app_owned = false;
	memset(&s->cb, 0, sizeof(s->cb));
	if (s->state == BD_TCP_CLOSED) {
		dead_add(s);
		return;
	}
	if (s->state != BD_TCP_SYN_SENT && s->state != BD_TCP_TIME_WAIT)
		tcp_send_reset(s);
	tcp_done(s, BD_ECONNABORTED);
}

void bd_tcp_set_ctx(struct bd_tcp_sock *s, void *ctx)
{
	s->ctx = ctx;
}

void *bd_tcp_get_ctx(const struct bd_tcp_sock *s)
{
	return s->ctx;
}

int bd_tcp_set_nagle(struct bd_tcp_sock *s, bool on)
{
	s->nagle = on;
	if (!on)
		tcp_flush_add(s);
	return 0;
}

int bd_tcp_set_keepalive(struct bd_tcp_sock *s, bool on, uint32_t idle_us,
			 uint32_t intvl_us, uint8_t probes)
{
	struct bd_tcp_stack *ts = s->ts;
	s->keepalive = on;
	if (idle_us)
		s->lopts.keepalive_idle_us = idle_us;
	if (intvl_us)
		s->lopts.keepalive_intvl_us = intvl_us;
	if (probes)
		s->ka_probes = probes;
	if (on && s->state >= BD_TCP_ESTABLISHED &&
	    s->state != BD_TCP_TIME_WAIT) {
		uint32_t idle = s->lopts.keepalive_idle_us
				    ? s->lopts.keepalive_idle_us
				    : ts->cfg.keepalive_idle_us;
		tcp_timer_set(s, TT_KEEPALIVE, bd_stack_now_us(ts->st) + idle);
	}
	return 0;
}

void bd_tcp_get_addrs(const struct bd_tcp_sock *s, struct bd_ipaddr *laddr,
		      uint16_t *lport, struct bd_ipaddr *raddr, uint16_t *rport)
{
	if (laddr)
		*laddr = s->laddr;
	if (lport)
		*lport = s->lport;
	if (raddr)
		*raddr = s->raddr;
	if (rport)
		*rport = s->rport;
}

static const char *const state_names[] = {
    "CLOSED",	   "LISTEN",	 "SYN_SENT",   "SYN_RECEIVED",
    "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSE_WAIT",
    "CLOSING",	   "LAST_ACK",	 "TIME_WAIT",
};

const char *bd_tcp_state_name(int state)
{
	if (state < 0 || state > BD_TCP_TIME_WAIT)
		return "?";
	return state_names[state];
}

int bd_tcp_state(const struct bd_tcp_sock *s)
{
	return s->state;
}

int bd_tcp_get_info(const struct bd_tcp_sock *s, struct bd_tcp_info *i)
{
	uint64_t now = bd_stack_now_us(s->ts->st);
	uint32_t mss = s->cc.mss ? s->cc.mss : 1;

	memset(i, 0, sizeof(*i));
	i->state = s->state;
	i->ca_state = s->ca_state;
	i->retransmits = s->retries;
	i->probes = s->ka_probes_sent;
	i->backoff = s->backoff;
	i->options = (s->ts_ok ? BD_TCPI_OPT_TIMESTAMPS : 0) |
		     (s->sack_ok ? BD_TCPI_OPT_SACK : 0) |
		     (s->ws_ok ? BD_TCPI_OPT_WSCALE : 0);
	i->snd_wscale = s->snd_wscale;
	i->rcv_wscale = s->rcv_wscale;
	i->rto = s->rto;
	i->snd_mss = s->cc.mss;
	i->rcv_mss = s->rcv_mss;
	i->unacked = (s->snd_max - s->snd_una + mss - 1) / mss;
	i->sacked = (s->sacked_bytes + mss - 1) / mss;
	i->lost = s->lost_est;
	i->retrans = SEQ_GT(s->high_rxt, s->snd_una) ? 1 : 0;
	i->last_data_sent = (uint32_t)((now - s->last_snd_us) / 1000);
	i->last_data_recv = (uint32_t)((now - s->last_rcv_us) / 1000);
	i->last_ack_recv = (uint32_t)((now - s->last_ack_us) / 1000);
	i->rtt = s->srtt;
	i->rttvar = s->rttvar;
	i->min_rtt = s->min_rtt;
	i->snd_ssthresh =
	    s->cc.ssthresh == UINT32_MAX ? 0x7fffffff : s->cc.ssthresh / mss;
	i->snd_cwnd = s->cc.cwnd / mss;
	i->snd_cwnd_bytes = s->cc.cwnd;
	i->advmss = s->adv_mss;
	i->total_retrans = s->total_retrans;
	i->snd_wnd = s->snd_wnd;
	i->rcv_wnd = s->rcv_adv - s->rcv_nxt;
	i->notsent_bytes = s->sbuf_seq + s->sbuf.len - s->snd_max;
	if ((int32_t)i->notsent_bytes < 0)
		i->notsent_bytes = 0;
	i->pipe = tcp_pipe(s);
	i->dsack_dups = s->dsack_dups;
	i->reord_seen = s->reord_seen;
	i->bytes_sent = s->bytes_sent;
	i->bytes_retrans = s->bytes_retrans;
	i->bytes_acked = s->bytes_acked;
	i->bytes_received = s->bytes_received;
	i->segs_out = s->segs_out;
	i->segs_in = s->segs_in;
	i->data_segs_out = s->data_segs_out;
	i->data_segs_in = s->data_segs_in;
	i->delivery_rate = s->delivery_rate;
	strncpy(i->cc, s->cc_ops->name, sizeof(i->cc) - 1);
	return 0;
}

/* --- ULP helpers ---------------------------------------------------------- */

int bd_tcp_set_ulp(struct bd_tcp_sock *s, const struct bd_tcp_ulp_ops *ops,
		   void *uctx)
{
	if (s->state != BD_TCP_CLOSED && s->state != BD_TCP_LISTEN &&
	    !(s->state == BD_TCP_SYN_SENT && s->snd_max == s->iss))
		return -BD_EINVAL;
	s->ulp = ops;
	s->ulp_ctx = uctx;
	if (s->is_listener) {
		s->lopts.ulp = ops;
		s->lopts.ulp_ctx = uctx;
	}
	return 0;
}

void *bd_tcp_get_ulp_ctx(const struct bd_tcp_sock *s)
{
	return s->ulp_ctx;
}

uint32_t bd_tcp_rcv_seq(const struct bd_tcp_sock *s)
{
	return s->rcv_nxt - s->rbuf.len - (s->rcv_fin ? 1 : 0);
}

uint32_t bd_tcp_snd_seq(const struct bd_tcp_sock *s)
{
	return s->sbuf_seq + s->sbuf.len;
}

int bd_tcp_ulp_send_ack(struct bd_tcp_sock *s)
{
	if (s->state < BD_TCP_SYN_RECEIVED || s->state == BD_TCP_TIME_WAIT)
		return -BD_ENOTCONN;
	tcp_send_ack(s);
	return 0;
}

int bd_tcp_ulp_hold_syn(struct bd_tcp_sock *s, bool hold)
{
	if (s->state != BD_TCP_SYN_SENT || s->snd_max != s->iss)
		return -BD_EINVAL;
	s->syn_held = hold;
	if (!hold)
		tcp_flush_add(s);
	return 0;
}

int bd_tcp_ulp_send_probe(struct bd_tcp_sock *s)
{
	if (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_CLOSE_WAIT &&
	    s->state != BD_TCP_FIN_WAIT_1)
		return -BD_ENOTCONN;
	MIB_INC(s->ts, TCPWinProbe);
	return tcp_send_ctl(s, BD_TCP_F_ACK, s->snd_una - 1) < 0 ? -BD_ENOMEM
								 : 0;
}

long bd_tcp_ulp_unqueue(struct bd_tcp_sock *s, uint32_t seq)
{
	uint32_t end = s->sbuf_seq + s->sbuf.len;
	if (s->fin_queued || SEQ_LT(seq, s->snd_max) ||
	    SEQ_LT(seq, s->snd_nxt) || SEQ_GT(seq, end))
		return -BD_EINVAL;
	s->sbuf.len -= end - seq;
	return (long)(end - seq);
}

bool bd_tcp_ulp_restart_rto(struct bd_tcp_sock *s)
{
	if (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_CLOSE_WAIT &&
	    s->state != BD_TCP_FIN_WAIT_1 && s->state != BD_TCP_CLOSING &&
	    s->state != BD_TCP_LAST_ACK)
		return false;
	if (s->snd_una == s->snd_max || s->backoff == 0 || s->zwp)
		return false;
	s->backoff = 0;
	tcp_timer_set(s, TT_RTX,
		      bd_stack_now_us(s->ts->st) + tcp_rto_backed(s));
	return true;
}

bool bd_tcp_ulp_raise_snd_wnd(struct bd_tcp_sock *s, uint32_t wnd)
{
	if (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_CLOSE_WAIT)
		return false;
	if (wnd <= s->snd_wnd)
		return false;
	s->snd_wnd = wnd;
	if (wnd > s->max_snd_wnd)
		s->max_snd_wnd = wnd;
	if (s->zwp) {
		s->zwp = false;
		s->backoff = 0;
		if (s->snd_una == s->snd_max)
			tcp_timer_clear(s, TT_RTX);
	}
	tcp_flush_add(s);
	return true;
}

int tcp_ring_reserve(struct tcp_ring *r)
{
	return ring_ensure(r);
}
