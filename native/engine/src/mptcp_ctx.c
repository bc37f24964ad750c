/* SPDX-License-Identifier: Apache-2.0
 *
 * The MPTCP socket manager: the per-stack token table, connection contexts
 * and their subflow lists, the connection-level socket API (mirroring the
 * TCP one), the packet scheduler that maps data-level bytes onto subflows,
 * and the data-level close.
 */
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"

void bd_mptcp_config_default(struct bd_mptcp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->snd_buf = 1u << 20;
	cfg->rcv_buf = 1u << 20;
	cfg->checksum = false;
	cfg->subflows_max = 8;
	cfg->add_addr_accepted_max = 8;
	cfg->stall_rto = 2;
	cfg->auto_join = true;
	cfg->ndiffports = 2;
	cfg->reconnect_min_us = 200000;
	cfg->reconnect_max_us = 10000000;
	cfg->reconnect_retries = 8;
}

void bd_mptcp_set_steering(struct bd_mptcp_stack *ms, unsigned n, unsigned idx,
			   bd_mptcp_join_fn join, void *ctx)
{
	ms->steer_n = n > 1 && idx < n ? n : 0;
	ms->steer_idx = ms->steer_n ? idx : 0;
	ms->join_fn = join;
	ms->join_ctx = ctx;
}

struct bd_mptcp_stack *bd_mptcp_stack_create(struct bd_stack *st,
					     const struct bd_mptcp_config *cfg)
{
	struct bd_mptcp_stack *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return NULL;
	ms->st = st;
	ms->ts = bd_stack_tcp(st);
	if (cfg)
		ms->cfg = *cfg;
	else
		bd_mptcp_config_default(&ms->cfg);
	if (!ms->cfg.subflows_max)
		ms->cfg.subflows_max = 8;
	if (!ms->cfg.snd_buf)
		ms->cfg.snd_buf = 1u << 20;
	if (!ms->cfg.rcv_buf)
		ms->cfg.rcv_buf = 1u << 20;
	bd_mptcp_cc_register_all();
	ms->buf = malloc(BD_MPTCP_SCHED_BUF);
	ms->tok_mask = 1023;
	ms->tok = calloc(ms->tok_mask + 1, sizeof(*ms->tok));
	if (!ms->tok || !ms->buf) {
		free(ms->tok);
		free(ms->buf);
		free(ms);
		return NULL;
	}
	return ms;
}

static void msk_free(struct bd_mptcp_sock *msk);

/* Passive subflows not accepted yet, of msk (all if NULL), leave it. */
static void embryos_drop(struct bd_mptcp_stack *ms,
			 const struct bd_mptcp_sock *msk)
{
	for (struct bd_mptcp_subflow **pp = &ms->embryos; *pp;) {
		struct bd_mptcp_subflow *sf = *pp;
		if (msk && sf->msk != msk) {
			pp = &sf->next;
			continue;
		}
		*pp = sf->next;
		sf->msk = NULL;
		sf->tcp = NULL;
		mptcp_subflow_drop(sf);
	}
}

void bd_mptcp_stack_destroy(struct bd_mptcp_stack *ms)
{
	if (!ms)
		return;
	ms->ev_fn = NULL;
	while (ms->all) {
		struct bd_mptcp_sock *msk = ms->all;
		while (msk->subflows)
			mptcp_subflow_release(msk->subflows, true);
		if (msk->ltcp) {
			bd_tcp_close(msk->ltcp);
			msk->ltcp = NULL;
		}
		msk->depth = 0;
		msk_free(msk);
	}
	/* Subflows whose TCP socket lives on: TCP's release hook frees
	 * them once the TCP stack goes (after this one). */
	embryos_drop(ms, NULL);
	while (ms->zombies) {
		struct bd_mptcp_subflow *z = ms->zombies;
		ms->zombies = z->next;
		z->zombie = false;
		z->ms = NULL;
		if (!z->tsock)
			mptcp_subflow_free(z);
	}
	free(ms->tok);
	free(ms->buf);
	free(ms);
}

const struct bd_mptcp_mib *bd_mptcp_get_mib(const struct bd_mptcp_stack *ms)
{
	return &ms->mib;
}

void bd_mptcp_live_objects(const struct bd_mptcp_stack *ms, unsigned *subflows,
			   unsigned *conns)
{
	if (subflows)
		*subflows = ms->live_sf;
	if (conns)
		*conns = ms->live_msk;
}

uint64_t bd_mptcp_mib_get(const struct bd_mptcp_stack *ms, const char *name)
{
	return bd_mptcp_mib_value(&ms->mib, name);
}

/* --- token table ---------------------------------------------------------- */

struct bd_mptcp_sock *mptcp_token_lookup(struct bd_mptcp_stack *ms,
					 uint32_t token)
{
	for (struct bd_mptcp_sock *m = ms->tok[token & ms->tok_mask]; m;
	     m = m->tnext)
		if (m->local_token == token && !m->reset)
			return m;
	return NULL;
}

static void token_remove(struct bd_mptcp_sock *msk)
{
	if (!msk->in_table)
		return;
	struct bd_mptcp_sock **pp =
	    &msk->ms->tok[msk->local_token & msk->ms->tok_mask];
	while (*pp && *pp != msk)
		pp = &(*pp)->tnext;
	if (*pp)
		*pp = msk->tnext;
	msk->in_table = false;
}

struct bd_mptcp_sock *mptcp_sock_new(struct bd_mptcp_stack *ms)
{
	struct bd_mptcp_sock *msk = calloc(1, sizeof(*msk));
	if (!msk)
		return NULL;
	msk->ms = ms;
	ms->live_msk++;
	msk->all_next = ms->all;
	if (ms->all)
		ms->all->all_prev = msk;
	ms->all = msk;
	msk->next_local_id = 1;
	mptcp_sched_init(msk);
	mptcp_pm_init(msk);
	msk->cc = ms->cfg.cc && *ms->cfg.cc ? bd_tcp_cc_find(ms->cfg.cc) : NULL;
	return msk;
}

/* A fresh local key whose token is unique in this stack, and the send
 * side of the data sequence space that starts at its IDSN + 1. */
int mptcp_sock_keys(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_stack *ms = msk->ms;
	/* With token steering, only keys whose token names this stack count
	 * as tries (each takes n draws on average). */
	unsigned n = ms->steer_n > 1 ? ms->steer_n : 1, draws = 0;
	for (int tries = 0; tries < 64 && draws < 64u * 64u * n; draws++) {
		uint64_t key = bd_stack_rand64(ms->st);
		uint32_t token;
		uint64_t idsn;
		if (!key)
			continue;
		bd_mptcp_key_sha(key, &token, &idsn);
		if (token % n != ms->steer_idx)
			continue;
		tries++;
		if (mptcp_token_lookup(ms, token))
			continue;
		msk->local_key = key;
		msk->local_token = token;
		msk->tnext = ms->tok[token & ms->tok_mask];
		ms->tok[token & ms->tok_mask] = msk;
		msk->in_table = true;
		if (bd_mptcp_snd_init(&msk->snd, idsn + 1, ms->cfg.snd_buf))
			return -BD_ENOMEM;
		return 0;
	}
	ms->mib.MPFallbackTokenInit++;
	return -BD_EAGAIN;
}

/* The peer's key is known: the receive side starts at its IDSN + 1. */
void mptcp_sock_start(struct bd_mptcp_sock *msk)
{
	if (msk->rcv.ring)
		return;
	uint64_t ridsn = 0;
	if (msk->remote_key_known)
		bd_mptcp_key_sha(msk->remote_key, &msk->remote_token, &ridsn);
	if (bd_mptcp_rcv_init(&msk->rcv, ridsn + 1, msk->ms->cfg.rcv_buf) == 0)
		msk->rcv_edge = msk->rcv.rcv_nxt + msk->rcv.rcv_buf;
}

/* The window every subflow advertises (RFC 8684 3.3.4): the free space of
 * the shared receive buffer, relative to the data ACK. Its right edge
 * never moves left, and moves right only by a useful amount (receiver SWS
 * avoidance, RFC 9293 3.8.6.2.2: half the buffer or one MSS). */
uint32_t mptcp_rcv_wnd_adv(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_rcv *r = &msk->rcv;
	if (!r->ring)
		return 0;
	uint64_t edge = r->rcv_nxt + bd_mptcp_rcv_wnd(r);
	/* From the last data byte, not the DATA_FIN the data ACK may cover
	 * too: that one more acknowledged must not pull the edge left by the
	 * window scale's rounding. */
	uint64_t ack = r->rcv_nxt;
	uint32_t thresh = r->rcv_buf / 2 < 1460 ? r->rcv_buf / 2 : 1460;
	if (!bd_before64(edge, msk->rcv_edge + thresh))
		msk->rcv_edge = edge;
	if (!bd_after64(msk->rcv_edge, ack))
		return 0;
	uint64_t w = msk->rcv_edge - ack;
	return w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
}

/* Subflow sockets buffer as much as the shared window may let the peer
 * send on one of them: the window they advertise is the data-level one,
 * not their own buffer's. */
void mptcp_sf_opts(const struct bd_mptcp_stack *ms, struct bd_tcp_opts *o)
{
	o->ulp = &bd_mptcp_ulp;
	o->rcv_buf = ms->cfg.rcv_buf;
}

static void msk_free(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_stack *ms = msk->ms;
	if (msk->depth) {
		msk->free_pending = true;
		return;
	}
	token_remove(msk);
	if (msk->in_curr_estab) {
		msk->in_curr_estab = false;
		ms->mib.MPCurrEstab--;
	}
	/* Subflows left (their TCP handles already released) become
	 * zombies: TCP may still call their hooks until it frees them. */
	while (msk->subflows) {
		struct bd_mptcp_subflow *sf = msk->subflows;
		msk->subflows = sf->next;
		sf->msk = NULL;
		sf->tcp = NULL;
		mptcp_subflow_drop(sf);
	}
	embryos_drop(ms, msk);
	/* Connections accepted by TCP but never by the application. */
	while (msk->acc_head) {
		struct bd_mptcp_sock *c = msk->acc_head;
		msk->acc_head = c->qnext;
		c->parent = NULL;
		bd_mptcp_abort(c);
	}
	if (msk->lsf) {
		msk->lsf->lmsk = NULL;
		mptcp_subflow_drop(msk->lsf);
	}
	ms->live_msk--;
	if (msk->all_prev)
		msk->all_prev->all_next = msk->all_next;
	else
		ms->all = msk->all_next;
	if (msk->all_next)
		msk->all_next->all_prev = msk->all_prev;
	bd_mptcp_rcv_free(&msk->rcv);
	bd_mptcp_snd_free(&msk->snd);
	free(msk);
}

void mptcp_enter(struct bd_mptcp_sock *msk)
{
	msk->depth++;
}

void mptcp_leave(struct bd_mptcp_sock *msk)
{
	if (--msk->depth)
		return;
	msk->depth++;
	mptcp_pm_check(msk);
	msk->depth--;
	mptcp_notify(msk);
	if (msk->free_pending && !msk->depth) {
		msk->free_pending = false;
		msk_free(msk);
	}
}

/* --- fallback ------------------------------------------------------------- */

void mptcp_fallback(struct bd_mptcp_sock *msk, int reason)
{
	if (msk->fallback)
		return;
	msk->fallback = true;
	msk->fb_reason = reason;
	if (msk->in_curr_estab) {
		msk->in_curr_estab = false;
		msk->ms->mib.MPCurrEstab--;
	}
	msk->established = true;
	if (!msk->rcv.ring)
		mptcp_sock_start(msk);
	/* Only the first subflow survives a fallback. */
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next)
		if (sf->kind == SF_JOIN && !sf->dead)
			mptcp_subflow_release(sf, true);
}

/* --- notifications ---------------------------------------------------------
 */

static bool msk_done(const struct bd_mptcp_sock *msk)
{
	return msk->reset || (msk->snd.fin_acked && msk->rcv.fin_done);
}

void mptcp_notify(struct bd_mptcp_sock *msk)
{
	if (!msk->app_owned || msk->listener)
		return;
	msk->depth++;
	if (msk->connected_pending && !msk->connected_done) {
		msk->connected_pending = false;
		msk->connected_done = true;
		if (msk->active && msk->cb.on_connected)
			msk->cb.on_connected(msk->ctx, msk);
	}
	if (msk->app_owned && msk->rcv.used && msk->cb.on_readable)
		msk->cb.on_readable(msk->ctx, msk);
	if (msk->app_owned && msk->rcv.fin_done && !msk->peer_fin_done &&
	    msk->rcv.used == 0) {
		msk->peer_fin_done = true;
		if (msk->cb.on_peer_fin)
			msk->cb.on_peer_fin(msk->ctx, msk);
	}
	if (msk->app_owned && msk->snd.fin_acked && !msk->fin_acked_done) {
		msk->fin_acked_done = true;
		if (msk->cb.on_fin_acked)
			msk->cb.on_fin_acked(msk->ctx, msk);
	}
	if (msk->app_owned && msk->established && !msk->snd.fin_queued &&
	    !msk->reset && bd_mptcp_snd_space(&msk->snd) > 0 &&
	    msk->cb.on_writable)
		msk->cb.on_writable(msk->ctx, msk);
	if (msk->app_owned && !msk->closed_done &&
	    (msk->reset || (msk_done(msk) && !msk->subflows))) {
		msk->closed_done = true;
		if (msk->cb.on_closed)
			msk->cb.on_closed(msk->ctx, msk, msk->err);
	}
	msk->depth--;
}

/* --- the packet scheduler ---------------------------------------------------
 */

/* Map queued data onto subflows: the reinjection queue first, then new
 * data, on the subflows the connection's scheduler picks (mptcp_sched.c). */
void mptcp_push(struct bd_mptcp_sock *msk)
{
	if (!msk->established || msk->reset || !msk->snd.ring)
		return;
	if (msk->fallback) {
		struct bd_mptcp_subflow *sf = msk->subflows;
		while (sf && (sf->dead || !sf->tcp))
			sf = sf->next;
		if (!sf)
			return;
		/* Plain TCP: the peer's window is TCP's. */
		msk->snd.wnd_end = msk->snd.write_seq;
		for (;;) {
			size_t w = bd_tcp_writable(sf->tcp);
			if (!w ||
			    !mptcp_send_chunk(msk, sf,
					      w > BD_MPTCP_SCHED_BUF
						  ? (uint32_t)BD_MPTCP_SCHED_BUF
						  : (uint32_t)w))
				break;
		}
		if (msk->snd.fin_queued && !msk->fin_sent &&
		    msk->snd.snd_nxt == msk->snd.write_seq) {
			msk->fin_sent = true;
			bd_tcp_shutdown(sf->tcp);
		}
		return;
	}
	mptcp_sched_push(msk);
	/* DATA_FIN once every byte is mapped: in the DSS of the last mapping
	 * (every copy TCP sends of it) and on a pure ACK of every subflow;
	 * the data-level timer repeats it until the peer's DATA_ACK covers
	 * it. No subflow sends its TCP FIN before that (mptcp_check_close),
	 * as Linux does: a subflow that has sent FIN can carry no more data,
	 * and data reinjected from a subflow that dies after the DATA_FIN
	 * needs one that can. */
	if (msk->snd.fin_queued && !msk->fin_sent &&
	    msk->snd.snd_nxt == msk->snd.write_seq && !msk->snd.nreinj) {
		for (struct bd_mptcp_subflow *sf = msk->subflows; sf;
		     sf = sf->next) {
			if (!sf->tcp || !sf->mp_ready || sf->dead)
				continue;
			msk->fin_sent = true;
			bd_tcp_ulp_send_ack(sf->tcp);
		}
	}
	mptcp_rtx_arm(msk, false);
}

/* A data ACK from the peer (64-bit) with its window in bytes. */
void mptcp_data_acked(struct bd_mptcp_sock *msk, uint64_t data_ack,
		      uint32_t wnd)
{
	if (!msk->snd.ring)
		return;
	if (bd_mptcp_snd_ack(&msk->snd, data_ack, wnd) || msk->snd.fin_acked)
		mptcp_rtx_arm(msk, true);
	msk->last_ack_recv_us = bd_stack_now_us(msk->ms->st);
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next)
		mptcp_sf_forget_acked(msk, sf);
	mptcp_check_close(msk);
}

/* A mapping is kept until the peer has its bytes at the data level and
 * TCP has them acknowledged on the subflow: until then TCP may send them
 * again, and every copy carries its mapping. (Forgotten at the data ACK,
 * a subflow's retransmissions of data that another subflow delivered
 * first went without one, and the peer's subflow, its bytes in order but
 * unmapped, could deliver nothing more.) */
void mptcp_sf_forget_acked(struct bd_mptcp_sock *msk,
			   struct bd_mptcp_subflow *sf)
{
	unsigned k = 0;
	for (unsigned i = 0; i < sf->ntx; i++) {
		const struct bd_mptcp_txmap *t = &sf->tx[i];
		bool tcp_acked = sf->tcp_una_ok &&
				 (int32_t)(t->seq + t->len - sf->tcp_una) <= 0;
		if (bd_after64(t->dsn + t->len, msk->snd.snd_una) ||
		    (!tcp_acked && !msk->fallback))
			sf->tx[k++] = *t;
	}
	sf->ntx = k;
}

/* Both DATA_FINs acknowledged: close every subflow. */
void mptcp_check_close(struct bd_mptcp_sock *msk)
{
	if (!msk_done(msk) || msk->fallback)
		return;
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next)
		if (sf->tcp && !sf->dead) {
			int st = bd_tcp_state(sf->tcp);
			if (st == BD_TCP_ESTABLISHED || st == BD_TCP_CLOSE_WAIT)
				bd_tcp_shutdown(sf->tcp);
		}
}

/* --- the socket API ---------------------------------------------------------
 */

static int sk_err(int *err, int e)
{
	if (err)
		*err = e;
	return e;
}

static void listener_accept_cb(void *ctx, struct bd_tcp_sock *l);

static const struct bd_tcp_callbacks listener_cb = {
    .on_accept = listener_accept_cb,
};

struct bd_mptcp_sock *bd_mptcp_listen(struct bd_mptcp_stack *ms,
				      const struct bd_ipaddr *laddr,
				      uint16_t port, int backlog,
				      const struct bd_mptcp_callbacks *cb,
				      void *ctx, int *err)
{
	struct bd_mptcp_sock *l = mptcp_sock_new(ms);
	struct bd_tcp_opts o = {0};
	int e;
	if (!l) {
		sk_err(err, -BD_ENOMEM);
		return NULL;
	}
	l->listener = true;
	l->app_owned = true;
	if (cb)
		l->cb = *cb;
	l->ctx = ctx;
	/* Children inherit the listener's hooks; its own context is a
	 * subflow object that only answers syn_rcv. */
	l->lsf = mptcp_subflow_new(NULL, SF_PLAIN);
	if (!l->lsf) {
		msk_free(l);
		sk_err(err, -BD_ENOMEM);
		return NULL;
	}
	l->lsf->lmsk = l;
	mptcp_subflow_own(ms, l->lsf);
	mptcp_sf_opts(ms, &o);
	o.ulp_ctx = l->lsf;
	/* The TCP backlog holds joins too. */
	l->ltcp = bd_tcp_listen(ms->ts, laddr, port, backlog * 2 + 8, &o,
				&listener_cb, l, &e);
	l->lsf->tsock = l->ltcp;
	if (!l->ltcp) {
		msk_free(l);
		sk_err(err, e);
		return NULL;
	}
	sk_err(err, 0);
	return l;
}

/* TCP finished a handshake on the listener: take the child. */
static void listener_accept_cb(void *ctx, struct bd_tcp_sock *lt)
{
	struct bd_mptcp_sock *l = ctx;
	struct bd_tcp_sock *c;
	while ((c = bd_tcp_accept(lt, &bd_mptcp_sf_cb, NULL))) {
		struct bd_mptcp_subflow *sf = bd_tcp_get_ulp_ctx(c);
		if (!sf || !sf->msk) {
			bd_tcp_abort(c);
			continue;
		}
		if (sf->msk->reset) {
			/* Its connection is gone: a zombie from now on. */
			struct bd_mptcp_subflow **zp = &sf->msk->ms->embryos;
			while (*zp && *zp != sf)
				zp = &(*zp)->next;
			if (*zp)
				*zp = sf->next;
			sf->msk = NULL;
			sf->tcp = NULL;
			mptcp_subflow_drop(sf);
			bd_tcp_abort(c);
			continue;
		}
		bd_tcp_set_ctx(c, sf);
		struct bd_mptcp_sock *msk = sf->msk;
		struct bd_mptcp_subflow **pp = &msk->ms->embryos;
		while (*pp && *pp != sf)
			pp = &(*pp)->next;
		if (*pp)
			*pp = sf->next;
		sf->tcp = c;
		mptcp_subflow_attach(msk, sf);
		mptcp_enter(msk);
		if (sf->kind == SF_JOIN) {
			if (sf->join_bad)
				mptcp_subflow_reset(
				    sf, mptcp_subflow_rst_reason(sf), false);
			else if (msk->reset || msk->fallback)
				mptcp_subflow_release(sf, true);
			else
				mptcp_push(msk);
		} else if (!msk->accepted) {
			msk->accepted = true;
			mptcp_listener_accept(l, msk);
		}
		mptcp_leave(msk);
	}
}

void mptcp_listener_accept(struct bd_mptcp_sock *l, struct bd_mptcp_sock *child)
{
	child->parent = l;
	child->qnext = NULL;
	if (l->acc_tail)
		l->acc_tail->qnext = child;
	else
		l->acc_head = child;
	l->acc_tail = child;
	l->acc_len++;
	if (l->app_owned && l->cb.on_accept)
		l->cb.on_accept(l->ctx, l);
}

struct bd_mptcp_sock *bd_mptcp_accept(struct bd_mptcp_sock *l,
				      const struct bd_mptcp_callbacks *cb,
				      void *ctx)
{
	struct bd_mptcp_sock *c = l->acc_head;
	if (!c)
		return NULL;
	l->acc_head = c->qnext;
	if (!l->acc_head)
		l->acc_tail = NULL;
	l->acc_len--;
	c->parent = NULL;
	c->qnext = NULL;
	c->app_owned = true;
	if (cb)
		c->cb = *cb;
	c->ctx = ctx;
	return c;
}

struct bd_mptcp_sock *
bd_mptcp_connect(struct bd_mptcp_stack *ms, const struct bd_ipaddr *laddr,
		 uint16_t lport, const struct bd_ipaddr *raddr, uint16_t rport,
		 const struct bd_mptcp_callbacks *cb, void *ctx, int *err)
{
	struct bd_mptcp_sock *msk = mptcp_sock_new(ms);
	struct bd_tcp_opts o = {0};
	int e = 0;
	if (!msk) {
		sk_err(err, -BD_ENOMEM);
		return NULL;
	}
	msk->active = true;
	msk->app_owned = true;
	msk->csum = ms->cfg.checksum;
	if (cb)
		msk->cb = *cb;
	msk->ctx = ctx;
	/* Without a unique token the connection is plain TCP from the
	 * start (MPFallbackTokenInit), as in Linux. */
	bool plain = mptcp_sock_keys(msk) != 0;
	if (plain && !msk->snd.ring &&
	    bd_mptcp_snd_init(&msk->snd, 1, ms->cfg.snd_buf)) {
		msk_free(msk);
		sk_err(err, -BD_ENOMEM);
		return NULL;
	}
	struct bd_mptcp_subflow *sf =
	    mptcp_subflow_new(msk, plain ? SF_PLAIN : SF_MPC);
	if (!sf) {
		msk_free(msk);
		sk_err(err, -BD_ENOMEM);
		return NULL;
	}
	mptcp_sf_opts(ms, &o);
	o.ulp_ctx = sf;
	sf->tcp = bd_tcp_connect(ms->ts, laddr, lport, raddr, rport, &o,
				 &bd_mptcp_sf_cb, sf, &e);
	sf->tsock = sf->tcp;
	if (!sf->tcp) {
		mptcp_subflow_free(sf);
		msk_free(msk);
		sk_err(err, e);
		return NULL;
	}
	mptcp_subflow_attach(msk, sf);
	if (!plain)
		ms->mib.MPCapableSYNTX++;
	sk_err(err, 0);
	return msk;
}

long bd_mptcp_send(struct bd_mptcp_sock *sk, const void *buf, size_t len)
{
	if (sk->reset)
		return -BD_ECONNRESET;
	if (!sk->snd.ring || sk->snd.fin_queued || sk->listener)
		return -BD_ENOTCONN;
	size_t n = bd_mptcp_snd_write(&sk->snd, buf, len);
	mptcp_enter(sk);
	mptcp_push(sk);
	sk->depth--; /* no notification from inside send */
	return (long)n;
}

long bd_mptcp_recv(struct bd_mptcp_sock *sk, void *buf, size_t cap)
{
	if (sk->listener || !sk->rcv.ring)
		return sk->reset ? -BD_ECONNRESET : -BD_ENOTCONN;
	size_t n = bd_mptcp_rcv_read(&sk->rcv, buf, cap);
	if (n) {
		/* Freed space may let data waiting in subflow buffers in,
		 * and a big enough opening is worth a window update. No
		 * callback of the caller's may run inside its own recv (an
		 * on_readable that reads would take the bytes after these
		 * before the caller has handled these): the caller reads on
		 * until -BD_EAGAIN anyway. */
		uint32_t before = sk->last_wnd_adv;
		sk->depth++;
		for (struct bd_mptcp_subflow *sf = sk->subflows; sf;
		     sf = sf->next)
			mptcp_subflow_pull(sf);
		/* The window opened (doubled, or by a quarter of the buffer):
		 * tell the peer on every subflow, as each has a window of its
		 * own at the peer's TCP (a zero one may hold data there). Not
		 * on a subflow handing data over right now (read from inside
		 * its delivery): its TCP still counts those bytes as held, so
		 * its window would move the right edge left; it acknowledges
		 * them itself once they are taken. */
		uint32_t wnd = sk->fallback ? 0 : mptcp_rcv_wnd_adv(sk);
		if (wnd > before &&
		    (wnd / 2 >= before || wnd - before >= sk->rcv.rcv_buf / 4))
			for (struct bd_mptcp_subflow *sf = sk->subflows; sf;
			     sf = sf->next)
				if (sf->tcp && sf->mp_ready && !sf->dead &&
				    !sf->in_rcv)
					bd_tcp_ulp_send_ack(sf->tcp);
		sk->depth--;
		return (long)n;
	}
	if (bd_mptcp_rcv_eof(&sk->rcv))
		return 0;
	if (sk->reset)
		return -BD_ECONNRESET;
	return -BD_EAGAIN;
}

size_t bd_mptcp_readable(const struct bd_mptcp_sock *sk)
{
	return sk->rcv.ring ? sk->rcv.used : 0;
}

size_t bd_mptcp_writable(const struct bd_mptcp_sock *sk)
{
	return sk->snd.ring && !sk->reset ? bd_mptcp_snd_space(&sk->snd) : 0;
}

int bd_mptcp_shutdown(struct bd_mptcp_sock *sk)
{
	if (!sk->snd.ring || sk->listener)
		return -BD_ENOTCONN;
	if (sk->snd.fin_queued)
		return 0;
	bd_mptcp_snd_fin(&sk->snd);
	mptcp_enter(sk);
	mptcp_push(sk);
	sk->depth--;
	return 0;
}

/* Reset the connection: MP_FASTCLOSE (on an ACK: TCP writes no options
 * on RSTs) on one subflow, then RST on every subflow. */
static void abort_internal(struct bd_mptcp_sock *sk)
{
	sk->depth++;
	if (sk->established && !sk->fallback && sk->remote_key_known &&
	    !sk->reset) {
		for (struct bd_mptcp_subflow *sf = sk->subflows; sf;
		     sf = sf->next) {
			if (sf->tcp && sf->mp_ready && !sf->dead) {
				sk->fastclose_pending = true;
				if (bd_tcp_ulp_send_ack(sf->tcp) == 0)
					break;
			}
		}
	}
	sk->fastclose_pending = false;
	sk->reset = true;
	token_remove(sk);
	while (sk->subflows)
		mptcp_subflow_release(sk->subflows, true);
	sk->depth--;
	if (!sk->app_owned)
		msk_free(sk);
}

static void listener_close(struct bd_mptcp_sock *l)
{
	l->app_owned = false;
	if (l->ltcp) {
		bd_tcp_close(l->ltcp);
		l->ltcp = NULL;
	}
	msk_free(l);
}

void bd_mptcp_close(struct bd_mptcp_sock *sk)
{
	if (!sk || !sk->app_owned)
		return;
	if (sk->listener) {
		listener_close(sk);
		return;
	}
	sk->app_owned = false;
	memset(&sk->cb, 0, sizeof(sk->cb));
	if (sk->reset || !sk->established || (sk->rcv.ring && sk->rcv.used)) {
		abort_internal(sk);
		return;
	}
	bd_mptcp_shutdown(sk);
	if (!sk->subflows)
		msk_free(sk);
}

void bd_mptcp_abort(struct bd_mptcp_sock *sk)
{
	if (!sk)
		return;
	if (sk->listener) {
		listener_close(sk);
		return;
	}
	sk->app_owned = false;
	memset(&sk->cb, 0, sizeof(sk->cb));
	abort_internal(sk);
}

void bd_mptcp_set_ctx(struct bd_mptcp_sock *sk, void *ctx)
{
	sk->ctx = ctx;
}

void *bd_mptcp_get_ctx(const struct bd_mptcp_sock *sk)
{
	return sk->ctx;
}

/* Put an option-only pure ACK on the first usable subflow. */
static void kick(struct bd_mptcp_sock *sk)
{
	for (struct bd_mptcp_subflow *sf = sk->subflows; sf; sf = sf->next)
		if (sf->tcp && sf->mp_ready && !sf->dead &&
		    bd_tcp_ulp_send_ack(sf->tcp) == 0)
			return;
}

int bd_mptcp_announce(struct bd_mptcp_sock *sk, uint8_t id,
		      const struct bd_ipaddr *addr, uint16_t port)
{
	if (!sk->established || sk->fallback || !sk->remote_key_known)
		return -BD_ENOTCONN;
	struct bd_mptcp_addr *free_slot = NULL;
	for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++) {
		if (sk->local[i].used && sk->local[i].id == id)
			free_slot = &sk->local[i];
		else if (!sk->local[i].used && !free_slot)
			free_slot = &sk->local[i];
	}
	if (!free_slot)
		return -BD_ENOMEM;
	free_slot->used = true;
	free_slot->id = id;
	free_slot->addr = *addr;
	free_slot->port = port;
	free_slot->echoed = false;
	sk->add_addr_signal++;
	sk->ms->mib.AddAddrTx++;
	kick(sk);
	return 0;
}

int bd_mptcp_remove_addr(struct bd_mptcp_sock *sk, uint8_t id)
{
	if (!sk->established || sk->fallback)
		return -BD_ENOTCONN;
	for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++)
		if (sk->local[i].used && sk->local[i].id == id)
			sk->local[i].used = false;
	if (sk->rm_pending.n == BD_MPTCP_RM_IDS_MAX)
		return -BD_EAGAIN;
	sk->rm_pending.ids[sk->rm_pending.n++] = id;
	/* Our own subflows from that address go too. */
	for (struct bd_mptcp_subflow *sf = sk->subflows; sf;) {
		struct bd_mptcp_subflow *nx = sf->next;
		if (sf->kind == SF_JOIN && sf->local_id == id) {
			sk->ms->mib.RmSubflow++;
			mptcp_subflow_release(sf, true);
		}
		sf = nx;
	}
	kick(sk);
	return 0;
}

int bd_mptcp_set_backup(struct bd_mptcp_sock *sk, unsigned i, bool backup)
{
	struct bd_mptcp_subflow *sf = sk->subflows;
	while (sf && i--)
		sf = sf->next;
	if (!sf || !sf->tcp || sk->fallback)
		return -BD_EINVAL;
	/* Back in use after it was set aside (e.g. when its path went dark):
	 * retransmit within an RTO, not after the backed-off wait, so a path
	 * that works again carries data again at once. */
	if (sf->backup && !backup && bd_tcp_ulp_restart_rto(sf->tcp))
		sk->ms->mib.BraidPrioRtoRestart++;
	sf->backup = backup;
	sf->prio_pending = true;
	if (sf->mp_ready)
		bd_tcp_ulp_send_ack(sf->tcp);
	return 0;
}

unsigned bd_mptcp_peer_addrs(const struct bd_mptcp_sock *sk, uint8_t *ids,
			     struct bd_ipaddr *addrs, uint16_t *ports,
			     unsigned max)
{
	unsigned n = 0;
	for (unsigned i = 0; i < BD_MPTCP_ADDRS && n < max; i++) {
		if (!sk->remote[i].used)
			continue;
		if (ids)
			ids[n] = sk->remote[i].id;
		if (addrs)
			addrs[n] = sk->remote[i].addr;
		if (ports)
			ports[n] = sk->remote[i].port;
		n++;
	}
	return n;
}

struct bd_tcp_sock *bd_mptcp_subflow_tcp(const struct bd_mptcp_sock *sk,
					 unsigned i, bool *active)
{
	struct bd_mptcp_subflow *sf = sk->subflows;
	while (sf && i--)
		sf = sf->next;
	if (!sf)
		return NULL;
	if (active)
		*active = sf->mp_ready && !sf->dead && sf->tcp;
	return sf->tcp;
}

bool bd_mptcp_is_fallback(const struct bd_mptcp_sock *sk)
{
	return sk->fallback;
}

int bd_mptcp_fallback_reason(const struct bd_mptcp_sock *sk)
{
	return sk->fb_reason;
}

int bd_mptcp_get_info(const struct bd_mptcp_sock *sk, struct bd_mptcp_info *i)
{
	uint64_t now = bd_stack_now_us(sk->ms->st);
	memset(i, 0, sizeof(*i));
	/* As Linux: subflows = the additional (joined) ones in use,
	 * subflows_total = every subflow in use, the first included. */
	unsigned joined = 0, total = 0;
	for (const struct bd_mptcp_subflow *sf = sk->subflows; sf;
	     sf = sf->next) {
		if (!sf->tcp || sf->dead || !sf->mp_ready)
			continue;
		total++;
		if (sf->kind == SF_JOIN)
			joined++;
	}
	if (sk->fallback && sk->subflows && sk->subflows->tcp)
		total = 1;
	i->mptcpi_subflows = (uint8_t)joined;
	i->mptcpi_subflows_max = sk->ms->cfg.subflows_max;
	i->mptcpi_subflows_total = (uint8_t)total;
	i->mptcpi_add_addr_signal = sk->add_addr_signal;
	i->mptcpi_add_addr_accepted = sk->add_addr_accepted;
	i->mptcpi_add_addr_signal_max = BD_MPTCP_ADDRS;
	i->mptcpi_add_addr_accepted_max = sk->ms->cfg.add_addr_accepted_max;
	if (sk->fallback)
		i->mptcpi_flags |= BD_MPTCP_INFO_FLAG_FALLBACK;
	if (sk->remote_key_known)
		i->mptcpi_flags |= BD_MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED;
	i->mptcpi_token = sk->local_token;
	/* As Linux's msk->write_seq, snd_una and ack_seq: the DATA_FIN takes
	 * one data sequence number once queued, acknowledged, received. */
	i->mptcpi_write_seq = sk->snd.write_seq + (sk->snd.fin_queued ? 1 : 0);
	i->mptcpi_snd_una = sk->snd.snd_una + (sk->snd.fin_acked ? 1 : 0);
	i->mptcpi_rcv_nxt = bd_mptcp_rcv_ack(&sk->rcv);
	i->mptcpi_local_addr_used = (uint8_t)(sk->next_local_id - 1);
	i->mptcpi_local_addr_max = BD_MPTCP_ADDRS;
	i->mptcpi_csum_enabled = sk->csum;
	i->mptcpi_retransmits = sk->snd.retransmits;
	i->mptcpi_bytes_retrans = sk->snd.bytes_retrans;
	i->mptcpi_bytes_sent = sk->snd.bytes_sent + sk->snd.bytes_retrans;
	i->mptcpi_bytes_received = sk->rcv.bytes_received;
	i->mptcpi_bytes_acked = sk->snd.bytes_acked;
	i->mptcpi_last_data_sent =
	    (uint32_t)((now - sk->last_data_sent_us) / 1000);
	i->mptcpi_last_data_recv =
	    (uint32_t)((now - sk->last_data_recv_us) / 1000);
	i->mptcpi_last_ack_recv =
	    (uint32_t)((now - sk->last_ack_recv_us) / 1000);
	return 0;
}
