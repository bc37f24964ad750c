/* SPDX-License-Identifier: Apache-2.0
 *
 * The channel bridge: app slots <-> transport sockets on one worker.
 *
 * Connection life on the node side:
 *   CONNECTING  connect requested; the slot is allocated but not yet the
 *               app's (it learns the slot from EV_CONNECTED)
 *   OPEN        bytes move both ways; a peer FIN sets the rx FIFO's eof
 *   CLOSING     the app released the slot: drain its tx FIFO into the
 *               transport, then close (FIN) and free the slot
 *   DEAD        the connection is over (EV_CLOSED sent); the slot waits for
 *               the app's RELEASE or ABORT
 * Shared memory is untrusted: the app's indices are checked against the
 * node's private copies; FIFO addresses come from the node's geometry.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "braid/chan_bridge.h"
#include "chan_impl.h"

enum { C_FREE = 0, C_CONNECTING, C_OPEN, C_CLOSING, C_DEAD };

struct br_app;

struct br_conn {
	struct br_app *ba;
	const struct bd_chan_xport *xp;
	void *sk;
	uint32_t slot, gen;
	uint8_t state;
	bool connected;	 /* transport: established (CONNECTING) */
	bool closed;	 /* transport: on_closed */
	bool rx_eof;	 /* eof stored in the rx FIFO */
	bool rx_blocked; /* stopped reading: rx FIFO full */
	bool tx_shut;	 /* transport shutdown after the app's eof */
	int cerr;
	uint64_t cookie;
	uint64_t rx_head, tx_tail; /* the node's own indices */
};

struct br_listener {
	struct br_app *ba;
	const struct bd_chan_xport *xp;
	void *sk;
	bool used, accept_ready;
	uint32_t id;
	uint16_t port;
};

struct br_msgq {
	struct bd_chan_msg m;
	struct br_msgq *next;
};

struct br_app {
	struct bd_chan_bridge *b;
	struct bd_chan_app *app;
	struct br_conn *conns;
	uint32_t *free_stack, nfree;
	struct br_listener lis[BD_CHAN_MAX_LISTENERS];
	struct br_msgq *ovf_head, *ovf_tail;
	bool kick;
	struct br_app *next;
};

struct bd_chan_bridge {
	struct bd_stack *st;
	const struct bd_chan_xport *mptcp;
	void *mptcp_ctx;
	struct br_app *apps;
	struct bd_chan_bridge_stats stats;
	bool draining; /* no listeners, no new connections */
	struct bd_chan_opts defaults;
	bd_chan_listen_fn on_listen;
	void *listen_ctx;
};

/* --- transport callbacks (flags only: the poll does the work) ------------ */

static void wake(struct bd_chan_bridge *b)
{
	bd_stack_wake_at(b->st, bd_stack_now_us(b->st));
}

void bd_chan_bridge_on_connected(void *ctx)
{
	struct br_conn *c = ctx;
	c->connected = true;
	wake(c->ba->b);
}

void bd_chan_bridge_on_closed(void *ctx, int err)
{
	struct br_conn *c = ctx;
	c->closed = true;
	c->cerr = err < 0 ? -err : err;
	wake(c->ba->b);
}

void bd_chan_bridge_on_activity(void *ctx)
{
	struct br_conn *c = ctx;
	wake(c->ba->b);
}

void bd_chan_bridge_on_accept(void *ctx)
{
	struct br_listener *l = ctx;
	l->accept_ready = true;
	wake(l->ba->b);
}

/* --- bridge and apps ------------------------------------------------------ */

struct bd_chan_bridge *bd_chan_bridge_create(struct bd_stack *st)
{
	struct bd_chan_bridge *b = calloc(1, sizeof(*b));
	if (b)
		b->st = st;
	return b;
}

void bd_chan_bridge_set_mptcp(struct bd_chan_bridge *b,
			      const struct bd_chan_xport *xp, void *xctx)
{
	b->mptcp = xp;
	b->mptcp_ctx = xctx;
}

static void *xctx_of(const struct bd_chan_bridge *b,
		     const struct bd_chan_xport *xp)
{
	return xp == b->mptcp ? b->mptcp_ctx : NULL;
}

void bd_chan_bridge_set_defaults(struct bd_chan_bridge *b,
				 const struct bd_chan_opts *o)
{
	b->defaults = *o;
}

void bd_chan_bridge_set_listen_hook(struct bd_chan_bridge *b,
				    bd_chan_listen_fn fn, void *ctx)
{
	b->on_listen = fn;
	b->listen_ctx = ctx;
}

/* A listener goes: close it, tell the host. */
static void listener_close(struct br_listener *l)
{
	struct bd_chan_bridge *b = l->ba->b;
	l->xp->close(l->sk);
	l->used = false;
	b->stats.listeners--;
	if (b->on_listen)
		b->on_listen(b->listen_ctx, l->port, false);
}

/* Empty options of a request take the node's defaults: the congestion
 * control always, the MPTCP ones (scheduler, path manager, subflows) when
 * the app asked for MPTCP (more than one subflow, a scheduler or a path
 * manager). */
static void with_defaults(const struct bd_chan_bridge *b, struct bd_chan_msg *m)
{
	struct bd_chan_opts *o = &m->opts;
	const struct bd_chan_opts *d = &b->defaults;
	if (!o->cc[0])
		memcpy(o->cc, d->cc, sizeof(o->cc));
	if (o->subflows <= 1 && !o->scheduler[0] && !o->path_manager[0])
		return;
	if (!o->scheduler[0])
		memcpy(o->scheduler, d->scheduler, sizeof(o->scheduler));
	if (!o->path_manager[0])
		memcpy(o->path_manager, d->path_manager,
		       sizeof(o->path_manager));
	if (!o->subflows)
		o->subflows = d->subflows;
}

void bd_chan_bridge_stats(const struct bd_chan_bridge *b,
			  struct bd_chan_bridge_stats *out)
{
	*out = b->stats;
}

int bd_chan_bridge_add(struct bd_chan_bridge *b, struct bd_chan_app *app)
{
	struct br_app *ba = calloc(1, sizeof(*ba));
	uint32_t n = app->g.nslots;
	if (!ba)
		return -BD_ENOMEM;
	ba->conns = calloc(n, sizeof(*ba->conns));
	ba->free_stack = calloc(n, sizeof(*ba->free_stack));
	if (!ba->conns || !ba->free_stack) {
		free(ba->conns);
		free(ba->free_stack);
		free(ba);
		return -BD_ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++) {
		ba->conns[i].ba = ba;
		ba->conns[i].slot = i;
		ba->free_stack[i] = n - 1 - i; /* slot 0 first */
	}
	ba->nfree = n;
	for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++) {
		ba->lis[i].ba = ba;
		ba->lis[i].id = i;
	}
	ba->b = b;
	ba->app = app;
	ba->next = b->apps;
	b->apps = ba;
	app->bridge_priv = ba;
	b->stats.apps++;
	wake(b);
	return 0;
}

static struct bd_chan_slot *slot_of(struct br_conn *c)
{
	return bd_chan_slot_at(c->ba->app->base, &c->ba->app->g, c->slot);
}

static struct br_conn *conn_alloc(struct br_app *ba)
{
	struct br_conn *c;
	struct bd_chan_slot *s;
	if (!ba->nfree)
		return NULL;
	c = &ba->conns[ba->free_stack[--ba->nfree]];
	c->gen++;
	c->state = C_CONNECTING;
	c->connected = c->closed = c->rx_eof = c->rx_blocked = false;
	c->tx_shut = false;
	c->cerr = 0;
	c->rx_head = c->tx_tail = 0;
	c->sk = NULL;
	c->xp = NULL;
	s = slot_of(c);
	atomic_store_explicit(&s->rx.head, 0, memory_order_relaxed);
	atomic_store_explicit(&s->rx.tail, 0, memory_order_relaxed);
	atomic_store_explicit(&s->rx.eof, 0, memory_order_relaxed);
	atomic_store_explicit(&s->tx.head, 0, memory_order_relaxed);
	atomic_store_explicit(&s->tx.tail, 0, memory_order_relaxed);
	atomic_store_explicit(&s->tx.eof, 0, memory_order_relaxed);
	/* Published to the app by the release store of the event ring. */
	ba->b->stats.conns++;
	return c;
}

static void conn_free(struct br_conn *c)
{
	struct br_app *ba = c->ba;
	c->state = C_FREE;
	c->sk = NULL;
	c->xp = NULL;
	ba->free_stack[ba->nfree++] = c->slot;
	ba->b->stats.conns--;
}

static void post(struct br_app *ba, const struct bd_chan_msg *m)
{
	struct bd_chan_app *a = ba->app;
	struct bd_chan_hdr *h = bd_chan_hdr(a->base);
	ba->kick = true;
	ba->b->stats.events++;
	if (!ba->ovf_head &&
	    bd_chan_ring_put(a->base, &h->evt, a->g.evt_off, a->g.ring_size, m))
		return;
	/* The app is not reading its events: keep them in order. Bounded by
	 * the slots (each connection has at most two events outstanding)
	 * plus the requests the app itself made. */
	struct br_msgq *q = malloc(sizeof(*q));
	if (!q)
		return;
	q->m = *m;
	q->next = NULL;
	if (ba->ovf_tail)
		ba->ovf_tail->next = q;
	else
		ba->ovf_head = q;
	ba->ovf_tail = q;
}

static void flush_overflow(struct br_app *ba)
{
	struct bd_chan_app *a = ba->app;
	struct bd_chan_hdr *h = bd_chan_hdr(a->base);
	while (ba->ovf_head &&
	       bd_chan_ring_put(a->base, &h->evt, a->g.evt_off, a->g.ring_size,
				&ba->ovf_head->m)) {
		struct br_msgq *q = ba->ovf_head;
		ba->ovf_head = q->next;
		if (!ba->ovf_head)
			ba->ovf_tail = NULL;
		free(q);
		ba->kick = true;
	}
}

static bool can_post(struct br_app *ba)
{
	return !ba->ovf_head &&
	       !bd_chan_ring_full(&bd_chan_hdr(ba->app->base)->evt,
				  ba->app->g.ring_size);
}

static void ev_simple(struct br_app *ba, uint16_t type, uint64_t cookie,
		      uint32_t slot, uint32_t gen, int err)
{
	struct bd_chan_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.cookie = cookie;
	m.slot = slot;
	m.gen = gen;
	m.err = err < 0 ? -err : err;
	post(ba, &m);
}

static void ev_conn(struct br_conn *c, uint16_t type, uint32_t arg)
{
	struct bd_chan_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.cookie = c->cookie;
	m.slot = c->slot;
	m.gen = c->gen;
	m.arg = arg;
	c->xp->addrs(c->sk, &m.laddr, &m.raddr);
	post(c->ba, &m);
}

static void release_sock(struct br_conn *c, bool abort)
{
	if (c->sk) {
		if (abort)
			c->xp->abort(c->sk);
		else
			c->xp->close(c->sk);
	}
	c->sk = NULL;
}

static void remove_all(struct br_app *ba, bool count)
{
	for (uint32_t i = 0; i < ba->app->g.nslots; i++) {
		struct br_conn *c = &ba->conns[i];
		if (c->state == C_FREE)
			continue;
		if (count && c->state != C_DEAD)
			ba->b->stats.conns_reset_by_removal++;
		release_sock(c, true);
		conn_free(c);
	}
	for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++)
		if (ba->lis[i].used)
			listener_close(&ba->lis[i]);
	while (ba->ovf_head) {
		struct br_msgq *q = ba->ovf_head;
		ba->ovf_head = q->next;
		free(q);
	}
}

static bool pump_tx(struct br_conn *c);

/* The app is gone. What it asked for just before (a RELEASE still in the
 * request ring: an app that ends its connections and exits) is carried
 * out, and a connection it released gracefully keeps its orderly end: the
 * bytes left in its tx FIFO go to the transport and the close sends FIN
 * after them. Only if the transport cannot take them all now is it reset
 * (the region is unmapped once this returns). Everything else is reset. */
static void finish_released(struct br_app *ba)
{
	struct bd_chan_app *a = ba->app;
	struct bd_chan_hdr *h = bd_chan_hdr(a->base);
	struct bd_chan_msg m;
	struct br_conn *c;
	for (uint32_t i = 0; i < a->g.ring_size; i++) {
		if (bd_chan_ring_get(a->base, &h->req, a->g.req_off,
				     a->g.ring_size, &m) <= 0)
			break;
		if (m.type != BD_CHAN_REQ_RELEASE || m.slot >= a->g.nslots)
			continue;
		c = &ba->conns[m.slot];
		if (c->gen == m.gen && c->state == C_OPEN)
			c->state = C_CLOSING;
	}
	for (uint32_t i = 0; i < a->g.nslots; i++) {
		c = &ba->conns[i];
		if (c->state != C_CLOSING || c->closed || !pump_tx(c))
			continue;
		if (c->tx_tail != atomic_load_explicit(&slot_of(c)->tx.head,
						       memory_order_acquire))
			continue; /* reset by remove_all */
		release_sock(c, false);
		conn_free(c);
	}
}

void bd_chan_bridge_remove(struct bd_chan_bridge *b, struct bd_chan_app *app)
{
	struct br_app **pp;
	for (pp = &b->apps; *pp; pp = &(*pp)->next) {
		struct br_app *ba = *pp;
		if (ba->app != app)
			continue;
		*pp = ba->next;
		finish_released(ba);
		remove_all(ba, true);
		free(ba->conns);
		free(ba->free_stack);
		free(ba);
		app->bridge_priv = NULL;
		b->stats.apps--;
		b->stats.apps_removed++;
		wake(b);
		return;
	}
}

void bd_chan_bridge_destroy(struct bd_chan_bridge *b)
{
	if (!b)
		return;
	while (b->apps)
		bd_chan_bridge_remove(b, b->apps->app);
	free(b);
}

/* --- requests ------------------------------------------------------------- */

static const struct bd_chan_xport *pick(struct bd_chan_bridge *b,
					const struct bd_chan_opts *o)
{
	/* One subflow asked for: plain TCP whatever else is set. */
	if (b->mptcp && o->subflows != 1 &&
	    (o->subflows > 1 || o->path_manager[0] || o->scheduler[0]))
		return b->mptcp;
	return &bd_chan_xport_tcp;
}

static struct br_conn *req_conn(struct br_app *ba, const struct bd_chan_msg *m)
{
	struct br_conn *c;
	if (m->slot >= ba->app->g.nslots)
		goto bad;
	c = &ba->conns[m->slot];
	/* CONNECTING slots are not the app's yet. */
	if (c->state == C_FREE || c->state == C_CONNECTING || c->gen != m->gen)
		goto bad;
	return c;
bad:
	ba->b->stats.protocol_errors++;
	return NULL;
}

static void write_info(struct br_conn *c, const struct bd_chan_info *in)
{
	struct bd_chan_slot *s = slot_of(c);
	uint32_t seq = atomic_load_explicit(&s->info_seq, memory_order_relaxed);
	atomic_store_explicit(&s->info_seq, seq + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
	memcpy(&s->info, in, sizeof(*in));
	atomic_store_explicit(&s->info_seq, seq + 2, memory_order_release);
}

static void do_request(struct br_app *ba, const struct bd_chan_msg *req)
{
	struct bd_chan_bridge *b = ba->b;
	struct bd_chan_msg copy = *req;
	const struct bd_chan_msg *m = &copy;
	struct br_conn *c;
	int err = 0;

	if (m->type == BD_CHAN_REQ_CONNECT || m->type == BD_CHAN_REQ_LISTEN)
		with_defaults(b, &copy);

	b->stats.requests++;
	switch (m->type) {
	case BD_CHAN_REQ_CONNECT:
		if (b->draining) {
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, 0, 0,
				  BD_ESHUTDOWN);
			return;
		}
		c = conn_alloc(ba);
		if (!c) {
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, 0, 0,
				  BD_ENOMEM);
			return;
		}
		c->cookie = m->cookie;
		c->xp = pick(b, &m->opts);
		c->sk = c->xp->connect(xctx_of(b, c->xp), b->st, m, c, &err);
		if (!c->sk) {
			conn_free(c);
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, 0, 0,
				  err ? err : BD_EINVAL);
		}
		return;
	case BD_CHAN_REQ_LISTEN: {
		struct br_listener *l = NULL;
		struct bd_chan_msg ev;
		for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++)
			if (!ba->lis[i].used) {
				l = &ba->lis[i];
				break;
			}
		if (!l || b->draining) {
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, 0, 0,
				  b->draining ? BD_ESHUTDOWN : BD_ENOMEM);
			return;
		}
		l->xp = pick(b, &m->opts);
		l->accept_ready = false;
		l->sk = l->xp->listen(xctx_of(b, l->xp), b->st, m, l, &err);
		if (!l->sk) {
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, 0, 0,
				  err ? err : BD_EINVAL);
			return;
		}
		/* Another worker's app listens on the port: its connections
		 * go there, so this listener would never get one. */
		int rc = b->on_listen
			     ? b->on_listen(b->listen_ctx, m->laddr.port, true)
			     : 0;
		if (rc < 0) {
			l->xp->close(l->sk);
			l->sk = NULL;
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, 0, 0, -rc);
			return;
		}
		l->used = true;
		l->port = m->laddr.port;
		b->stats.listeners++;
		memset(&ev, 0, sizeof(ev));
		ev.type = BD_CHAN_EV_LISTENING;
		ev.cookie = m->cookie;
		ev.slot = l->id;
		ev.laddr = m->laddr;
		post(ba, &ev);
		return;
	}
	case BD_CHAN_REQ_CLOSE_LISTENER:
		if (m->slot >= BD_CHAN_MAX_LISTENERS ||
		    !ba->lis[m->slot].used) {
			b->stats.protocol_errors++;
			ev_simple(ba, BD_CHAN_EV_DONE, m->cookie, m->slot, 0,
				  BD_EBADF);
			return;
		}
		listener_close(&ba->lis[m->slot]);
		ev_simple(ba, BD_CHAN_EV_DONE, m->cookie, m->slot, 0, 0);
		return;
	case BD_CHAN_REQ_RELEASE:
		if (!(c = req_conn(ba, m)))
			return;
		if (c->state == C_OPEN) {
			c->state = C_CLOSING;
		} else if (c->state == C_DEAD) {
			release_sock(c, false);
			conn_free(c);
		}
		return;
	case BD_CHAN_REQ_ABORT:
		if (!(c = req_conn(ba, m)))
			return;
		release_sock(c, true);
		conn_free(c);
		return;
	case BD_CHAN_REQ_SETOPT:
		if (!(c = req_conn(ba, m)) || !c->sk) {
			ev_simple(ba, BD_CHAN_EV_DONE, m->cookie, m->slot,
				  m->gen, BD_EBADF);
			return;
		}
		err =
		    c->xp->setopt ? c->xp->setopt(c->sk, &m->opts) : -BD_EINVAL;
		ev_simple(ba, BD_CHAN_EV_DONE, m->cookie, m->slot, m->gen, err);
		return;
	case BD_CHAN_REQ_INFO: {
		struct bd_chan_info info;
		if (!(c = req_conn(ba, m)) || !c->sk) {
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, m->slot,
				  m->gen, BD_EBADF);
			return;
		}
		memset(&info, 0, sizeof(info));
		err = c->xp->info ? c->xp->info(c->sk, &info) : -BD_EINVAL;
		if (err < 0) {
			ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, m->slot,
				  m->gen, err);
			return;
		}
		write_info(c, &info);
		ev_simple(ba, BD_CHAN_EV_INFO, m->cookie, m->slot, m->gen, 0);
		return;
	}
	default:
		b->stats.protocol_errors++;
		ev_simple(ba, BD_CHAN_EV_ERROR, m->cookie, m->slot, m->gen,
			  BD_EINVAL);
	}
}

/* --- moving bytes --------------------------------------------------------- */

/* The app broke the FIFO protocol: reset the connection. */
static void conn_violation(struct br_conn *c)
{
	c->ba->b->stats.protocol_errors++;
	release_sock(c, true);
	c->closed = true;
	c->cerr = BD_EPROTO;
	if (c->state == C_CLOSING) {
		conn_free(c);
		return;
	}
	atomic_store_explicit(&slot_of(c)->rx.eof, 2, memory_order_release);
	c->state = C_DEAD;
	ev_simple(c->ba, BD_CHAN_EV_CLOSED, c->cookie, c->slot, c->gen,
		  BD_EPROTO);
}

/* tx FIFO -> transport. Returns false after a violation. */
static bool pump_tx(struct br_conn *c)
{
	struct bd_chan_app *a = c->ba->app;
	struct bd_chan_slot *s = slot_of(c);
	uint32_t size = a->g.fifo_size, mask = size - 1;
	uint8_t *data = bd_chan_tx_data(a->base, &a->g, c->slot);
	uint32_t eof = atomic_load_explicit(&s->tx.eof, memory_order_acquire);
	uint64_t head = atomic_load_explicit(&s->tx.head, memory_order_acquire);
	uint64_t avail = head - c->tx_tail;
	uint64_t start = c->tx_tail;

	if (avail > size) {
		conn_violation(c);
		return false;
	}
	while (avail) {
		size_t off = (size_t)(c->tx_tail & mask);
		size_t chunk = size - off < avail ? size - off : (size_t)avail;
		long n = c->xp->send(c->sk, data + off, chunk);
		if (n <= 0)
			break;
		c->tx_tail += (uint64_t)n;
		avail -= (uint64_t)n;
		if ((size_t)n < chunk)
			break;
	}
	if (c->tx_tail != start) {
		atomic_store_explicit(&s->tx.tail, c->tx_tail,
				      memory_order_release);
		c->ba->b->stats.bytes_from_app += c->tx_tail - start;
		c->ba->kick = true;
	}
	if (eof && !avail && !c->tx_shut && c->state == C_OPEN) {
		c->tx_shut = true;
		c->xp->shutdown(c->sk);
	}
	return true;
}

static void set_rx_eof(struct br_conn *c, uint32_t how)
{
	if (c->rx_eof)
		return;
	c->rx_eof = true;
	atomic_store_explicit(&slot_of(c)->rx.eof, how, memory_order_release);
	c->ba->kick = true;
}

/* transport -> rx FIFO, as far as the FIFO has room. */
static bool pump_rx(struct br_conn *c)
{
	struct bd_chan_app *a = c->ba->app;
	struct bd_chan_slot *s = slot_of(c);
	uint32_t size = a->g.fifo_size, mask = size - 1;
	uint8_t *data = bd_chan_rx_data(a->base, &a->g, c->slot);
	uint64_t tail = atomic_load_explicit(&s->rx.tail, memory_order_acquire);
	uint64_t used = c->rx_head - tail;
	uint64_t start = c->rx_head;

	if (used > size) {
		conn_violation(c);
		return false;
	}
	c->rx_blocked = false;
	while (!c->rx_eof) {
		size_t off = (size_t)(c->rx_head & mask);
		size_t space = (size_t)(size - used);
		size_t chunk = size - off < space ? size - off : space;
		long n;
		if (!chunk) {
			c->rx_blocked = true;
			break;
		}
		n = c->xp->recv(c->sk, data + off, chunk);
		if (n == -BD_EAGAIN)
			break;
		if (n <= 0) {
			/* End of stream, or the connection is gone: an
			 * orderly end unless on_closed says otherwise. */
			if (n < 0 && c->closed && c->cerr)
				break;
			if (c->rx_head != start) {
				atomic_store_explicit(&s->rx.head, c->rx_head,
						      memory_order_release);
				start = c->rx_head;
			}
			set_rx_eof(c, 1);
			break;
		}
		c->rx_head += (uint64_t)n;
		used += (uint64_t)n;
	}
	if (c->rx_head != start) {
		atomic_store_explicit(&s->rx.head, c->rx_head,
				      memory_order_release);
		c->ba->b->stats.bytes_to_app += c->rx_head - start;
		c->ba->kick = true;
	}
	return true;
}

static void pump(struct br_conn *c)
{
	switch (c->state) {
	case C_CONNECTING:
		if (c->closed) {
			release_sock(c, false);
			conn_free(c);
			ev_simple(c->ba, BD_CHAN_EV_ERROR, c->cookie, 0, 0,
				  c->cerr ? c->cerr : BD_ECONNREFUSED);
			return;
		}
		if (!c->connected || !can_post(c->ba))
			return;
		c->state = C_OPEN;
		ev_conn(c, BD_CHAN_EV_CONNECTED, 0);
		/* data may already be there */
		__attribute__((fallthrough));
	case C_OPEN:
		if (!pump_tx(c) || !pump_rx(c))
			return;
		if (c->closed && (c->cerr || c->rx_eof)) {
			set_rx_eof(c, c->cerr ? 2 : 1);
			c->state = C_DEAD;
			ev_simple(c->ba, BD_CHAN_EV_CLOSED, c->cookie, c->slot,
				  c->gen, c->cerr);
		}
		return;
	case C_CLOSING:
		if (c->closed) {
			release_sock(c, c->cerr != 0);
			conn_free(c);
			return;
		}
		if (!pump_tx(c))
			return;
		if (c->tx_tail == atomic_load_explicit(&slot_of(c)->tx.head,
						       memory_order_acquire)) {
			release_sock(c, false);
			conn_free(c);
		}
		return;
	default:
		return;
	}
}

static void accept_ready(struct br_app *ba, struct br_listener *l)
{
	while (l->accept_ready) {
		struct br_conn *c;
		if (!ba->nfree || !can_post(ba)) {
			ba->b->stats.accepts_deferred++;
			return;
		}
		c = conn_alloc(ba);
		c->xp = l->xp;
		c->cookie = 0;
		c->sk = l->xp->accept(l->sk, c);
		if (!c->sk) {
			conn_free(c);
			l->accept_ready = false;
			return;
		}
		c->state = C_OPEN;
		c->connected = true;
		ev_conn(c, BD_CHAN_EV_ACCEPTED, l->id);
		pump(c);
	}
}

static void poll_app(struct br_app *ba)
{
	struct bd_chan_app *a = ba->app;
	struct bd_chan_hdr *h = bd_chan_hdr(a->base);
	struct bd_chan_msg m;
	int rc;

	flush_overflow(ba);
	/* Requests, a bounded batch per poll. */
	for (uint32_t i = 0; i < a->g.ring_size; i++) {
		rc = bd_chan_ring_get(a->base, &h->req, a->g.req_off,
				      a->g.ring_size, &m);
		if (rc < 0)
			ba->b->stats.protocol_errors++;
		if (rc <= 0)
			break;
		do_request(ba, &m);
	}
	for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++)
		if (ba->lis[i].used && ba->lis[i].accept_ready)
			accept_ready(ba, &ba->lis[i]);
	for (uint32_t i = 0; i < a->g.nslots; i++)
		if (ba->conns[i].state != C_FREE)
			pump(&ba->conns[i]);
	flush_overflow(ba);
	if (ba->kick) {
		ba->kick = false;
		bd_chan_kick(&h->app_sleeping, a->app_efd);
	}
}

void bd_chan_bridge_poll(void *ctx, struct bd_stack *st)
{
	struct bd_chan_bridge *b = ctx;
	(void)st;
	for (struct br_app *ba = b->apps; ba; ba = ba->next)
		poll_app(ba);
}

/* --- sleeping drivers ----------------------------------------------------- */

static bool app_pending(struct br_app *ba)
{
	struct bd_chan_app *a = ba->app;
	struct bd_chan_hdr *h = bd_chan_hdr(a->base);
	if (!bd_chan_ring_empty(&h->req) || ba->ovf_head)
		return true;
	for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++)
		if (ba->lis[i].used && ba->lis[i].accept_ready)
			return true;
	for (uint32_t i = 0; i < a->g.nslots; i++) {
		struct br_conn *c = &ba->conns[i];
		struct bd_chan_slot *s;
		if (c->state != C_OPEN && c->state != C_CLOSING)
			continue;
		s = slot_of(c);
		if (atomic_load_explicit(&s->tx.head, memory_order_acquire) !=
			c->tx_tail ||
		    (atomic_load_explicit(&s->tx.eof, memory_order_acquire) &&
		     !c->tx_shut))
			return true;
		if (c->rx_blocked &&
		    atomic_load_explicit(&s->rx.tail, memory_order_acquire) !=
			c->rx_head - a->g.fifo_size)
			return true;
	}
	return false;
}

bool bd_chan_bridge_busy(struct bd_chan_bridge *b)
{
	for (struct br_app *ba = b->apps; ba; ba = ba->next)
		if (app_pending(ba))
			return true;
	return false;
}

bool bd_chan_bridge_arm(struct bd_chan_bridge *b)
{
	for (struct br_app *ba = b->apps; ba; ba = ba->next)
		atomic_store_explicit(
		    &bd_chan_hdr(ba->app->base)->node_sleeping, 1,
		    memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	for (struct br_app *ba = b->apps; ba; ba = ba->next)
		if (app_pending(ba)) {
			bd_chan_bridge_woken(b);
			return false;
		}
	return true;
}

void bd_chan_bridge_woken(struct bd_chan_bridge *b)
{
	for (struct br_app *ba = b->apps; ba; ba = ba->next) {
		uint64_t cnt;
		ssize_t n;
		atomic_store_explicit(
		    &bd_chan_hdr(ba->app->base)->node_sleeping, 0,
		    memory_order_relaxed);
		n = read(ba->app->node_efd, &cnt, sizeof(cnt));
		(void)n;
	}
}

/* --- the node's view ------------------------------------------------------ */

static const char *conn_state_name(const struct br_conn *c)
{
	switch (c->state) {
	case C_CONNECTING:
		return "connecting";
	case C_OPEN:
		return "open";
	case C_CLOSING:
		return "closing";
	default:
		return "closed";
	}
}

void bd_chan_bridge_foreach(struct bd_chan_bridge *b, bool with_info,
			    bd_chan_conn_fn fn, void *ctx)
{
	struct bd_chan_conn_entry *e = malloc(sizeof(*e));
	if (!e)
		return;
	for (struct br_app *ba = b->apps; ba; ba = ba->next) {
		struct bd_chan_app *a = ba->app;
		for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++) {
			struct br_listener *l = &ba->lis[i];
			if (!l->used)
				continue;
			memset(e, 0, sizeof(*e));
			e->app_id = a->id;
			e->app_pid = a->pid;
			e->app_name = a->name;
			e->slot = l->id;
			e->listener = true;
			e->state = "listen";
			e->transport = l->xp->name;
			l->xp->addrs(l->sk, &e->laddr, &e->raddr);
			fn(ctx, e);
		}
		for (uint32_t i = 0; i < a->g.nslots; i++) {
			struct br_conn *c = &ba->conns[i];
			if (c->state == C_FREE)
				continue;
			memset(e, 0, sizeof(*e));
			e->app_id = a->id;
			e->app_pid = a->pid;
			e->app_name = a->name;
			e->slot = c->slot;
			e->gen = c->gen;
			e->state = conn_state_name(c);
			e->transport = c->xp ? c->xp->name : "";
			e->bytes_to_app = c->rx_head;
			e->bytes_from_app = c->tx_tail;
			if (c->sk) {
				c->xp->addrs(c->sk, &e->laddr, &e->raddr);
				if (with_info && c->xp->info &&
				    c->xp->info(c->sk, &e->info) == 0)
					e->have_info = true;
			}
			fn(ctx, e);
		}
	}
	free(e);
}

/* The open connection in an app's slot, or NULL. */
static struct br_conn *find_conn(struct bd_chan_bridge *b, uint32_t app_id,
				 uint32_t slot)
{
	for (struct br_app *ba = b->apps; ba; ba = ba->next) {
		struct br_conn *c;
		if (ba->app->id != app_id)
			continue;
		if (slot >= ba->app->g.nslots)
			return NULL;
		c = &ba->conns[slot];
		return c->state == C_FREE || !c->sk ? NULL : c;
	}
	return NULL;
}

int bd_chan_bridge_setopt(struct bd_chan_bridge *b, uint32_t app_id,
			  uint32_t slot, const struct bd_chan_opts *o)
{
	struct br_conn *c = find_conn(b, app_id, slot);
	if (!c)
		return -BD_ENOENT;
	return c->xp->setopt ? c->xp->setopt(c->sk, o) : -BD_EINVAL;
}

int bd_chan_bridge_set_prio(struct bd_chan_bridge *b, uint32_t app_id,
			    uint32_t slot, unsigned subflow, bool backup)
{
	struct br_conn *c = find_conn(b, app_id, slot);
	if (!c)
		return -BD_ENOENT;
	return c->xp->set_prio ? c->xp->set_prio(c->sk, subflow, backup)
			       : -BD_EINVAL;
}

void bd_chan_bridge_drain(struct bd_chan_bridge *b)
{
	b->draining = true;
	for (struct br_app *ba = b->apps; ba; ba = ba->next)
		for (uint32_t i = 0; i < BD_CHAN_MAX_LISTENERS; i++)
			if (ba->lis[i].used)
				listener_close(&ba->lis[i]);
}
