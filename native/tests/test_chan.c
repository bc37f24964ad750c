/* SPDX-License-Identifier: Apache-2.0
 * The application channel: rings and FIFOs, the bridge between app slots and
 * Braid TCP on a simulated node (host 0) talking to a peer (host 1) running
 * the in-engine apps, backpressure both ways, an app that vanishes, a
 * misbehaving app, and the Unix-socket attach protocol. The "applications"
 * here are test code on the app side of a channel. */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "braid/app.h"
#include "braid/chan.h"
#include "braid/chan_bridge.h"
#include "braid/net.h"
#include "braid/sim.h"
#include "braid/tcp.h"
#include "bt.h"
#include "chan_impl.h"

/* --- a simulated node with a bridge -------------------------------------- */

struct world {
	struct bd_sim *sim;
	struct bd_stack *node, *peer;
	struct bd_chan_bridge *br;
};

static int world_init(struct world *w, uint64_t mbps, uint32_t node_rcv_buf)
{
	struct bd_link_params lp;
	struct bd_tcp_config tc;
	memset(w, 0, sizeof(*w));
	memset(&lp, 0, sizeof(lp));
	lp.rate_bps = mbps * 1000000ull;
	lp.delay_ns = 1000000; /* 1 ms */
	w->sim = bd_sim_create(11);
	if (!w->sim || bd_sim_add_host(w->sim) != 0 ||
	    bd_sim_add_host(w->sim) != 1 ||
	    bd_sim_add_path(w->sim, 0, 1, &lp, &lp, 1500) != 0)
		return -1;
	w->node = bd_sim_stack(w->sim, 0);
	w->peer = bd_sim_stack(w->sim, 1);
	bd_tcp_config_default(&tc);
	if (node_rcv_buf)
		tc.rcv_buf = node_rcv_buf;
	if (bd_stack_use_tcp(w->node, &tc) < 0 ||
	    bd_stack_use_tcp(w->peer, NULL) < 0)
		return -1;
	w->br = bd_chan_bridge_create(w->node);
	if (!w->br)
		return -1;
	bd_stack_set_poll_hook(w->node, bd_chan_bridge_poll, w->br);
	return 0;
}

static void world_fini(struct world *w)
{
	bd_chan_bridge_destroy(w->br);
	bd_stack_drop_tcp(w->node);
	bd_stack_drop_tcp(w->peer);
	bd_sim_destroy(w->sim);
}

static uint64_t now_us(struct world *w)
{
	return bd_sim_now_ns(w->sim) / 1000;
}

/* Ask the node's stack for a poll now (the app did something). */
static void poke(struct world *w)
{
	bd_stack_wake_at(w->node, now_us(w));
}

typedef bool (*step_fn)(struct world *w, void *ctx);

struct drive_ctx {
	struct world *w;
	step_fn step;
	void *ctx;
};

static bool drive_until(void *ctx, struct bd_sim *sim)
{
	struct drive_ctx *d = ctx;
	(void)sim;
	return d->step(d->w, d->ctx);
}

/* Run app code after every simulation step until it says done or the
 * virtual time limit; at most 1 ms passes without the app running. */
static bool drive(struct world *w, step_fn step, void *ctx, uint64_t limit_ms)
{
	struct drive_ctx d = {w, step, ctx};
	uint64_t limit = limit_ms * 1000000ull;
	while (bd_sim_now_ns(w->sim) < limit) {
		if (step(w, ctx))
			return true;
		bd_stack_wake_at(w->node, now_us(w) + 1000);
		if (bd_sim_run(w->sim, bd_sim_now_ns(w->sim) + 1000000,
			       drive_until, &d))
			return true;
	}
	return false;
}

static void addr4(struct bd_chan_addr *a, uint32_t ip, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = BD_AF_INET;
	a->v4 = ip;
	a->port = port;
}

static int req_connect(struct bd_chan_view *v, uint64_t cookie, uint32_t ip,
		       uint16_t port)
{
	struct bd_chan_msg m;
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_CONNECT;
	m.cookie = cookie;
	addr4(&m.raddr, ip, port);
	return bd_chan_request(v, &m);
}

/* --- an app-side stream: sends a seeded stream, hashes what comes back -- */

struct xfer {
	struct bd_chan_view *v;
	uint32_t slot;
	bool have_slot, sent_all, got_eof, closed, released, failed;
	int err;
	uint64_t total, sent, recvd;
	struct bd_app_stream tx_gen, rx_gen;
	EVP_MD_CTX *tx_sha, *rx_sha;
	bool mismatch;
	uint8_t pend[4096];
	uint32_t pend_off, pend_len;
};

static void xfer_init(struct xfer *x, struct bd_chan_view *v, uint64_t total,
		      uint64_t seed)
{
	memset(x, 0, sizeof(*x));
	x->v = v;
	x->total = total;
	bd_app_stream_init(&x->tx_gen, seed);
	bd_app_stream_init(&x->rx_gen, seed);
	x->tx_sha = EVP_MD_CTX_new();
	x->rx_sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(x->tx_sha, EVP_sha256(), NULL);
	EVP_DigestInit_ex(x->rx_sha, EVP_sha256(), NULL);
}

static bool xfer_hashes_match(struct xfer *x)
{
	uint8_t a[32], b[32];
	unsigned la, lb;
	EVP_DigestFinal_ex(x->tx_sha, a, &la);
	EVP_DigestFinal_ex(x->rx_sha, b, &lb);
	EVP_MD_CTX_free(x->tx_sha);
	EVP_MD_CTX_free(x->rx_sha);
	x->tx_sha = x->rx_sha = NULL;
	return la == 32 && lb == 32 && memcmp(a, b, 32) == 0;
}

static void xfer_free(struct xfer *x)
{
	EVP_MD_CTX_free(x->tx_sha);
	EVP_MD_CTX_free(x->rx_sha);
	x->tx_sha = x->rx_sha = NULL;
}

/* Move bytes of one transfer; true if anything moved. */
static bool xfer_step(struct xfer *x)
{
	bool moved = false;
	uint8_t buf[8192], want[8192];
	if (!x->have_slot || x->released)
		return false;
	while (!x->sent_all) {
		long n;
		if (!x->pend_len) {
			uint64_t left = x->total - x->sent;
			x->pend_len = left < sizeof(x->pend)
					  ? (uint32_t)left
					  : (uint32_t)sizeof(x->pend);
			x->pend_off = 0;
			bd_app_stream_fill(&x->tx_gen, x->pend, x->pend_len);
			EVP_DigestUpdate(x->tx_sha, x->pend, x->pend_len);
		}
		n = bd_chan_write(x->v, x->slot, x->pend + x->pend_off,
				  x->pend_len - x->pend_off);
		if (n <= 0)
			break;
		moved = true;
		x->pend_off += (uint32_t)n;
		x->sent += (uint64_t)n;
		if (x->pend_off == x->pend_len)
			x->pend_len = 0;
		if (x->sent == x->total) {
			x->sent_all = true;
			bd_chan_shutdown(x->v, x->slot);
		}
	}
	while (!x->got_eof) {
		long n = bd_chan_read(x->v, x->slot, buf, sizeof(buf));
		if (n == 0) {
			x->got_eof = true;
			moved = true;
			break;
		}
		if (n < 0)
			break;
		moved = true;
		bd_app_stream_fill(&x->rx_gen, want, (size_t)n);
		if (memcmp(want, buf, (size_t)n) != 0)
			x->mismatch = true;
		EVP_DigestUpdate(x->rx_sha, buf, (size_t)n);
		x->recvd += (uint64_t)n;
	}
	if (x->got_eof && x->closed && !x->released) {
		if (bd_chan_release(x->v, x->slot, false) == 0)
			x->released = true;
		moved = true;
	}
	return moved;
}

/* Dispatch one app's events to its transfers (cookie = index). */
static bool app_events(struct bd_chan_view *v, struct xfer *xs, unsigned n)
{
	struct bd_chan_msg m;
	bool any = false;
	while (bd_chan_next_event(v, &m) == 1) {
		any = true;
		if (m.type == BD_CHAN_EV_CONNECTED && m.cookie < n) {
			xs[m.cookie].slot = m.slot;
			xs[m.cookie].have_slot = true;
		} else if (m.type == BD_CHAN_EV_ERROR && m.cookie < n) {
			xs[m.cookie].failed = true;
			xs[m.cookie].err = m.err;
		} else if (m.type == BD_CHAN_EV_CLOSED) {
			for (unsigned i = 0; i < n; i++)
				if (xs[i].have_slot && xs[i].slot == m.slot &&
				    !xs[i].released) {
					xs[i].closed = true;
					xs[i].err = m.err;
				}
		}
	}
	return any;
}

/* --- rings and FIFOs on their own ---------------------------------------- */

BT_TEST(chan_ring_order_full_and_wrap)
{
	struct bd_chan_app *a = bd_chan_app_create(4, 4096, 16, "ring");
	struct bd_chan_view *v;
	struct bd_chan_hdr *h;
	struct bd_chan_msg m, out;
	BT_ASSERT(a);
	v = bd_chan_view_of(a);
	BT_ASSERT(v);
	h = bd_chan_hdr(a->base);
	for (int round = 0; round < 5; round++) {
		int k = 0;
		memset(&m, 0, sizeof(m));
		m.type = BD_CHAN_REQ_CONNECT;
		for (k = 0; k < 16; k++) {
			m.cookie = (uint64_t)(round * 100 + k);
			BT_EQ(bd_chan_request(v, &m), 0);
		}
		BT_EQ(bd_chan_request(v, &m), -BD_EAGAIN);
		for (k = 0; k < 16; k++) {
			BT_EQ(bd_chan_ring_get(a->base, &h->req, a->g.req_off,
					       a->g.ring_size, &out),
			      1);
			BT_UEQ(out.cookie, (uint64_t)(round * 100 + k));
		}
		BT_EQ(bd_chan_ring_get(a->base, &h->req, a->g.req_off,
				       a->g.ring_size, &out),
		      0);
	}
	/* A corrupt producer index is reported, not followed. */
	atomic_store(&h->req.head, atomic_load(&h->req.tail) + 1000);
	BT_EQ(bd_chan_ring_get(a->base, &h->req, a->g.req_off, a->g.ring_size,
			       &out),
	      -1);
	/* Slots not held are refused on the app side. */
	BT_EQ(bd_chan_write(v, 0, "x", 1), -BD_EBADF);
	BT_EQ(bd_chan_read(v, 0, &out, 1), -BD_EBADF);
	bd_chan_app_destroy(a);
}

BT_TEST(chan_geometry_limits)
{
	struct bd_chan_geom g;
	BT_EQ(bd_chan_geom(&g, 0, 4096, 16), -BD_EINVAL);
	BT_EQ(bd_chan_geom(&g, 4, 5000, 16), -BD_EINVAL);
	BT_EQ(bd_chan_geom(&g, 4, 1024, 16), -BD_EINVAL);
	BT_EQ(bd_chan_geom(&g, 4, 4096, 10), -BD_EINVAL);
	BT_EQ(bd_chan_geom(&g, 256, 256 * 1024, 1024), 0);
	BT_UEQ(g.data_off % 4096, 0);
	BT_UEQ(g.slot_size % 64, 0);
	BT_UEQ(g.size, g.data_off + 256ull * 2 * 256 * 1024);
	BT_UEQ(sizeof(struct bd_chan_msg), 128);
	BT_UEQ(offsetof(struct bd_chan_fifo, tail) % 64, 0);
	BT_UEQ(offsetof(struct bd_chan_fifo, tail) -
		   offsetof(struct bd_chan_fifo, head),
	       64);
}

/* --- many connections hashed end to end ----------------------------------- */

#define NX 8

struct many {
	struct bd_chan_view *v;
	struct xfer x[NX];
	unsigned n;
};

static bool many_step(struct world *w, void *ctx)
{
	struct many *mm = ctx;
	bool moved = app_events(mm->v, mm->x, mm->n), done = true;
	for (unsigned i = 0; i < mm->n; i++) {
		moved |= xfer_step(&mm->x[i]);
		if (!mm->x[i].released && !mm->x[i].failed)
			done = false;
	}
	if (moved)
		poke(w);
	return done;
}

BT_TEST(chan_sim_many_connections_echo_hashed)
{
	struct world w;
	struct bd_app_echo echo[NX];
	struct bd_chan_app *app;
	struct many mm;
	struct bd_chan_bridge_stats bs;
	BT_ASSERT(world_init(&w, 200, 0) == 0);
	for (unsigned i = 0; i < NX; i++)
		BT_EQ(bd_app_echo_start(&echo[i], w.peer, (uint16_t)(7000 + i),
					NULL),
		      0);
	app = bd_chan_app_create(16, 16384, 64, "many");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&mm, 0, sizeof(mm));
	mm.v = bd_chan_view_of(app);
	mm.n = NX;
	for (unsigned i = 0; i < NX; i++) {
		xfer_init(&mm.x[i], mm.v, (256u << 10) + i * 1000, 100 + i);
		BT_EQ(req_connect(mm.v, i, bd_sim_path_addr(0, 1),
				  (uint16_t)(7000 + i)),
		      0);
	}
	BT_ASSERT(drive(&w, many_step, &mm, 20000));
	for (unsigned i = 0; i < NX; i++) {
		BT_ASSERT(!mm.x[i].failed);
		BT_UEQ(mm.x[i].recvd, mm.x[i].total);
		BT_ASSERT(!mm.x[i].mismatch);
		BT_EQ(mm.x[i].err, 0);
		BT_ASSERT(xfer_hashes_match(&mm.x[i]));
		BT_UEQ(echo[i].echoed, mm.x[i].total);
	}
	/* Every slot came back once the node took the releases. */
	BT_ASSERT(bd_chan_bridge_busy(w.br)); /* the releases wait */
	poke(&w);
	bd_sim_run(w.sim, bd_sim_now_ns(w.sim) + 5000000, NULL, NULL);
	BT_ASSERT(!bd_chan_bridge_busy(w.br));
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.conns, 0);
	BT_UEQ(bs.protocol_errors, 0);
	BT_ASSERT(bs.bytes_from_app > 2u << 20);
	for (unsigned i = 0; i < NX; i++)
		bd_app_echo_fini(&echo[i]);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

BT_TEST(chan_sim_connect_refused)
{
	struct world w;
	struct bd_chan_app *app;
	struct many mm;
	BT_ASSERT(world_init(&w, 100, 0) == 0);
	app = bd_chan_app_create(4, 4096, 16, "refused");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&mm, 0, sizeof(mm));
	mm.v = bd_chan_view_of(app);
	mm.n = 1;
	xfer_init(&mm.x[0], mm.v, 10, 1);
	BT_EQ(req_connect(mm.v, 0, bd_sim_path_addr(0, 1), 4444), 0);
	BT_ASSERT(drive(&w, many_step, &mm, 5000));
	BT_ASSERT(mm.x[0].failed);
	BT_EQ(mm.x[0].err, BD_ECONNREFUSED);
	xfer_free(&mm.x[0]);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

/* --- the host's listen hook: steering a port to the listener's worker ----- */

struct hook_seen {
	uint16_t refuse; /* the port another worker holds */
	unsigned on, off;
	uint16_t last;
};

static int listen_hook(void *ctx, uint16_t port, bool on)
{
	struct hook_seen *h = ctx;
	h->last = port;
	if (!on) {
		h->off++;
		return 0;
	}
	h->on++;
	return port == h->refuse ? -BD_EADDRINUSE : 0;
}

struct lis_wait {
	struct bd_chan_view *v;
	uint64_t cookie;
	uint16_t type;
	uint32_t err, slot;
};

static bool lis_step(struct world *w, void *ctx)
{
	struct lis_wait *l = ctx;
	struct bd_chan_msg m;
	(void)w;
	while (bd_chan_next_event(l->v, &m) == 1)
		if (m.cookie == l->cookie) {
			l->type = m.type;
			l->err = m.err;
			l->slot = m.slot;
			return true;
		}
	return false;
}

static uint16_t listen_on(struct world *w, struct bd_chan_view *v,
			  uint64_t cookie, uint16_t port, uint32_t *err)
{
	struct bd_chan_msg m;
	struct lis_wait l = {v, cookie, 0, 0, 0};
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_LISTEN;
	m.cookie = cookie;
	addr4(&m.laddr, 0, port);
	if (bd_chan_request(v, &m) != 0 ||
	    (poke(w), !drive(w, lis_step, &l, 5000)))
		return 0;
	*err = l.err;
	return l.type;
}

/* A port the host steers to another worker's listener: the LISTEN fails
 * with EADDRINUSE (that listener would never get a connection), the
 * socket it opened is closed again (the port is free on this worker), and
 * nothing is counted as listening. */
BT_TEST(chan_sim_listen_refused_by_host)
{
	struct world w;
	struct bd_chan_app *app;
	struct bd_chan_bridge_stats bs;
	struct hook_seen h = {8001, 0, 0, 0};
	uint32_t err = 0;
	BT_ASSERT(world_init(&w, 100, 0) == 0);
	bd_chan_bridge_set_listen_hook(w.br, listen_hook, &h);
	app = bd_chan_app_create(4, 4096, 16, "lis");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	struct bd_chan_view *v = bd_chan_view_of(app);

	BT_EQ(listen_on(&w, v, 1, 8001, &err), BD_CHAN_EV_ERROR);
	BT_EQ(err, BD_EADDRINUSE);
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.listeners, 0);
	BT_EQ(h.on, 1);
	BT_EQ(h.off, 0);

	BT_EQ(listen_on(&w, v, 2, 8002, &err), BD_CHAN_EV_LISTENING);
	BT_EQ(h.last, 8002);
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.listeners, 1);

	/* The other worker let go: the same port listens now. */
	h.refuse = 0;
	BT_EQ(listen_on(&w, v, 3, 8001, &err), BD_CHAN_EV_LISTENING);
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.listeners, 2);

	bd_chan_bridge_remove(w.br, app);
	BT_EQ(h.off, 2);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

/* --- the node's view: listing, options, defaults, drain ----------------- */

static bool first_bytes_step(struct world *w, void *ctx)
{
	struct many *mm = ctx;
	many_step(w, mm);
	return mm->x[0].have_slot && mm->x[0].recvd > 0;
}

struct seen {
	unsigned conns, listeners, with_info;
	char cc[16];
	uint16_t rport, lport_listener;
	uint32_t slot, app_id;
	const char *state;
};

static void count_entry(void *ctx, const struct bd_chan_conn_entry *e)
{
	struct seen *s = ctx;
	if (e->listener) {
		s->listeners++;
		s->lport_listener = e->laddr.port;
		return;
	}
	s->conns++;
	s->rport = e->raddr.port;
	s->slot = e->slot;
	s->app_id = e->app_id;
	s->state = e->state;
	if (e->have_info) {
		s->with_info++;
		memcpy(s->cc, e->info.sub[0].tcp.cc, sizeof(s->cc));
		s->cc[sizeof(s->cc) - 1] = 0;
	}
}

BT_TEST(chan_sim_node_view_options_defaults_drain)
{
	struct world w;
	struct bd_app_echo echo;
	struct bd_chan_app *app;
	struct bd_chan_opts defaults, o;
	struct bd_chan_bridge_stats bs;
	struct bd_chan_msg m;
	struct many mm;
	struct seen sn;
	BT_ASSERT(world_init(&w, 200, 0) == 0);
	BT_EQ(bd_app_echo_start(&echo, w.peer, 7000, NULL), 0);
	memset(&defaults, 0, sizeof(defaults));
	strcpy(defaults.cc, "newreno");
	bd_chan_bridge_set_defaults(w.br, &defaults);
	app = bd_chan_app_create(4, 16384, 64, "view");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&mm, 0, sizeof(mm));
	mm.v = bd_chan_view_of(app);
	mm.n = 2;
	xfer_init(&mm.x[0], mm.v, 1u << 20, 7);
	xfer_init(&mm.x[1], mm.v, 10, 8);
	BT_EQ(req_connect(mm.v, 0, bd_sim_path_addr(0, 1), 7000), 0);
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_LISTEN;
	m.cookie = 99;
	addr4(&m.laddr, 0, 8000);
	BT_EQ(bd_chan_request(mm.v, &m), 0);
	poke(&w);
	BT_ASSERT(drive(&w, first_bytes_step, &mm, 5000));

	/* Listing: the connection (open, with tcp_info: the node's default
	 * CC since the app asked none) and the listener. */
	memset(&sn, 0, sizeof(sn));
	bd_chan_bridge_foreach(w.br, true, count_entry, &sn);
	BT_EQ(sn.conns, 1);
	BT_EQ(sn.listeners, 1);
	BT_EQ(sn.with_info, 1);
	BT_EQ(sn.rport, 7000);
	BT_EQ(sn.lport_listener, 8000);
	BT_ASSERT(strcmp(sn.state, "open") == 0);
	BT_ASSERT(strcmp(sn.cc, "newreno") == 0);
	BT_UEQ(sn.app_id, bd_chan_app_id_of(app));

	/* Options from the node: a live connection changes, others are
	 * not found. */
	memset(&o, 0, sizeof(o));
	strcpy(o.cc, "cubic");
	BT_EQ(bd_chan_bridge_setopt(w.br, sn.app_id, sn.slot, &o), 0);
	BT_EQ(bd_chan_bridge_setopt(w.br, sn.app_id, sn.slot + 1, &o),
	      -BD_ENOENT);
	BT_EQ(bd_chan_bridge_setopt(w.br, sn.app_id + 1, sn.slot, &o),
	      -BD_ENOENT);
	BT_EQ(bd_chan_bridge_setopt(w.br, sn.app_id, 4000, &o), -BD_ENOENT);
	memset(&sn, 0, sizeof(sn));
	bd_chan_bridge_foreach(w.br, true, count_entry, &sn);
	BT_ASSERT(strcmp(sn.cc, "cubic") == 0);

	/* Drain: listeners close, new connections are refused, the open
	 * one finishes intact. */
	bd_chan_bridge_drain(w.br);
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.listeners, 0);
	BT_EQ(req_connect(mm.v, 1, bd_sim_path_addr(0, 1), 7000), 0);
	poke(&w);
	BT_ASSERT(drive(&w, many_step, &mm, 20000));
	BT_ASSERT(mm.x[1].failed);
	BT_EQ(mm.x[1].err, BD_ESHUTDOWN);
	BT_ASSERT(!mm.x[0].failed);
	BT_UEQ(mm.x[0].recvd, mm.x[0].total);
	BT_EQ(mm.x[0].err, 0);
	BT_ASSERT(xfer_hashes_match(&mm.x[0]));
	xfer_free(&mm.x[1]);
	memset(&sn, 0, sizeof(sn));
	bd_chan_bridge_foreach(w.br, false, count_entry, &sn);
	BT_EQ(sn.listeners, 0);
	bd_app_echo_fini(&echo);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

/* --- backpressure: a slow reader closes TCP's window ---------------------- */

struct slow {
	struct bd_chan_view *v;
	bool listening, have_slot, eof, released;
	uint32_t lid, slot;
	uint64_t got, budget_us, last_us, t_first_us, t_eof_us;
	EVP_MD_CTX *sha;
	bool saw_fifo_full;
	struct bd_app_bulk_src *src;
	uint32_t min_peer_wnd;
};

static bool slow_step(struct world *w, void *ctx)
{
	struct slow *s = ctx;
	struct bd_chan_msg m;
	bool moved = false;
	uint8_t buf[4096];
	while (bd_chan_next_event(s->v, &m) == 1) {
		moved = true;
		if (m.type == BD_CHAN_EV_LISTENING) {
			s->listening = true;
			s->lid = m.slot;
		} else if (m.type == BD_CHAN_EV_ACCEPTED) {
			s->have_slot = true;
			s->slot = m.slot;
			s->t_first_us = now_us(w);
			s->last_us = now_us(w);
		}
	}
	if (s->have_slot && !s->eof) {
		/* 4 KiB per virtual millisecond. */
		uint64_t t = now_us(w);
		s->budget_us += t - s->last_us;
		s->last_us = t;
		if (bd_chan_readable(s->v, s->slot) == bd_chan_fifo_size(s->v))
			s->saw_fifo_full = true;
		if (s->src && s->src->c.sock && !s->src->c.done) {
			struct bd_tcp_info ti;
			if (bd_tcp_get_info(s->src->c.sock, &ti) == 0 &&
			    ti.snd_wnd < s->min_peer_wnd)
				s->min_peer_wnd = ti.snd_wnd;
		}
		/* A pause: no reading from 50 to 150 ms. */
		if (t - s->t_first_us >= 50000 && t - s->t_first_us < 150000)
			s->budget_us = 0;
		while (s->budget_us >= 1000) {
			long n = bd_chan_read(s->v, s->slot, buf, sizeof(buf));
			if (n == 0) {
				s->eof = true;
				s->t_eof_us = t;
				break;
			}
			if (n < 0)
				break;
			s->budget_us -= 1000;
			s->got += (uint64_t)n;
			EVP_DigestUpdate(s->sha, buf, (size_t)n);
			moved = true;
		}
		if (s->budget_us > 1000)
			s->budget_us = 1000;
	}
	if (s->eof && !s->released) {
		bd_chan_release(s->v, s->slot, false);
		s->released = true;
		moved = true;
	}
	if (moved)
		poke(w);
	return s->released;
}

BT_TEST(chan_sim_backpressure_slow_reader)
{
	struct world w;
	struct bd_app_bulk_src src;
	struct bd_chan_app *app;
	struct slow s;
	struct bd_chan_msg m;
	struct bd_ipaddr node_ip = bd_ip4(bd_sim_path_addr(0, 0));
	uint8_t d[32];
	unsigned dl;
	const uint64_t total = 1u << 20;
	/* Node TCP receive buffer 64 KiB, app FIFO 16 KiB. */
	BT_ASSERT(world_init(&w, 1000, 65536) == 0);
	app = bd_chan_app_create(4, 16384, 16, "slow");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&s, 0, sizeof(s));
	s.v = bd_chan_view_of(app);
	s.sha = EVP_MD_CTX_new();
	EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL);
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_LISTEN;
	m.cookie = 1;
	addr4(&m.laddr, 0, 9000);
	m.laddr.family = 0; /* every address */
	BT_EQ(bd_chan_request(s.v, &m), 0);
	poke(&w);
	drive(&w, slow_step, &s, 10);
	BT_ASSERT(s.listening);
	BT_EQ(bd_app_bulk_src_start(&src, w.peer, NULL, &node_ip, 9000, total,
				    5, 0, NULL),
	      0);
	bd_stack_wake_at(w.peer, now_us(&w)); /* the SYN leaves at a poll */
	s.src = &src;
	s.min_peer_wnd = UINT32_MAX;
	if (!drive(&w, slow_step, &s, 60000))
		printf("    slow: got %llu slot %d eof %d src err %d done %d "
		       "now %llu passive %llu\n",
		       (unsigned long long)s.got, s.have_slot, s.eof, src.c.err,
		       src.c.done,
		       (unsigned long long)bd_sim_now_ns(w.sim) / 1000000,
		       (unsigned long long)bd_tcp_mib_get(bd_stack_tcp(w.node),
							  "PassiveOpens"));
	EVP_DigestFinal_ex(s.sha, d, &dl);
	EVP_MD_CTX_free(s.sha);
	BT_UEQ(s.got, total);
	BT_ASSERT(memcmp(d, src.digest, 32) == 0);
	/* The reader paced it: 1 MiB at 4 KiB/ms plus a 100 ms pause is
	 * ~350 ms, not the ~10 ms the 1 Gbit/s path allows; the FIFO filled
	 * and TCP's window closed at the node. */
	printf("    slow reader: %.0f ms, smallest window the sender saw %u\n",
	       (double)(s.t_eof_us - s.t_first_us) / 1000, s.min_peer_wnd);
	BT_ASSERT(s.t_eof_us - s.t_first_us > 300000);
	BT_ASSERT(s.saw_fifo_full);
	BT_UEQ(s.min_peer_wnd, 0);
	bd_app_bulk_src_fini(&src);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

/* A writer faster than the path: writes come back short, nothing is lost. */
struct fastw {
	struct bd_chan_view *v;
	struct xfer x;
	uint64_t short_writes;
};

static bool fastw_step(struct world *w, void *ctx)
{
	struct fastw *f = ctx;
	bool moved = app_events(f->v, &f->x, 1);
	if (f->x.have_slot && !f->x.sent_all &&
	    bd_chan_writable(f->v, f->x.slot) == 0)
		f->short_writes++;
	moved |= xfer_step(&f->x);
	if (moved)
		poke(w);
	return f->x.released;
}

BT_TEST(chan_sim_backpressure_fast_writer)
{
	struct world w;
	struct bd_app_echo echo;
	struct bd_chan_app *app;
	struct fastw f;
	BT_ASSERT(world_init(&w, 20, 0) == 0);
	BT_EQ(bd_app_echo_start(&echo, w.peer, 7100, NULL), 0);
	app = bd_chan_app_create(4, 8192, 16, "fast");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&f, 0, sizeof(f));
	f.v = bd_chan_view_of(app);
	xfer_init(&f.x, f.v, 512u << 10, 77);
	BT_EQ(req_connect(f.v, 0, bd_sim_path_addr(0, 1), 7100), 0);
	BT_ASSERT(drive(&w, fastw_step, &f, 60000));
	BT_UEQ(f.x.recvd, f.x.total);
	BT_ASSERT(!f.x.mismatch);
	BT_ASSERT(xfer_hashes_match(&f.x));
	BT_ASSERT(f.short_writes > 10);
	bd_app_echo_fini(&echo);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

/* --- an application that vanishes ----------------------------------------- */

struct two {
	struct many a, b;
	bool a_gone;
};

static bool two_step(struct world *w, void *ctx)
{
	struct two *t = ctx;
	bool moved = false, done = true;
	if (!t->a_gone) {
		moved |= app_events(t->a.v, t->a.x, t->a.n);
		for (unsigned i = 0; i < t->a.n; i++)
			moved |= xfer_step(&t->a.x[i]);
	}
	moved |= app_events(t->b.v, t->b.x, t->b.n);
	for (unsigned i = 0; i < t->b.n; i++) {
		moved |= xfer_step(&t->b.x[i]);
		if (!t->b.x[i].released)
			done = false;
	}
	if (moved)
		poke(w);
	return done;
}

static bool a_flowing(struct world *w, void *ctx)
{
	struct two *t = ctx;
	two_step(w, ctx);
	for (unsigned i = 0; i < t->a.n; i++)
		if (t->a.x[i].recvd < 64 * 1024)
			return false;
	return true;
}

BT_TEST(chan_sim_app_vanishes_peers_reset)
{
	struct world w;
	struct bd_app_echo echo[4];
	struct bd_chan_app *app_a, *app_b;
	struct bd_chan_bridge_stats bs;
	struct two t;
	BT_ASSERT(world_init(&w, 100, 0) == 0);
	for (unsigned i = 0; i < 4; i++)
		BT_EQ(bd_app_echo_start(&echo[i], w.peer, (uint16_t)(7200 + i),
					NULL),
		      0);
	app_a = bd_chan_app_create(8, 16384, 16, "doomed");
	app_b = bd_chan_app_create(8, 16384, 16, "survivor");
	BT_ASSERT(app_a && app_b);
	BT_EQ(bd_chan_bridge_add(w.br, app_a), 0);
	BT_EQ(bd_chan_bridge_add(w.br, app_b), 0);
	memset(&t, 0, sizeof(t));
	t.a.v = bd_chan_view_of(app_a);
	t.b.v = bd_chan_view_of(app_b);
	t.a.n = 3;
	t.b.n = 1;
	for (unsigned i = 0; i < 3; i++) {
		xfer_init(&t.a.x[i], t.a.v, 64u << 20, 300 + i);
		BT_EQ(req_connect(t.a.v, i, bd_sim_path_addr(0, 1),
				  (uint16_t)(7200 + i)),
		      0);
	}
	xfer_init(&t.b.x[0], t.b.v, 2u << 20, 400);
	BT_EQ(req_connect(t.b.v, 0, bd_sim_path_addr(0, 1), 7203), 0);
	BT_ASSERT(drive(&w, a_flowing, &t, 20000));
	/* The app dies: its socket closed, the node removes it. */
	bd_chan_bridge_remove(w.br, app_a);
	bd_chan_app_destroy(app_a);
	t.a_gone = true;
	for (unsigned i = 0; i < 3; i++)
		xfer_free(&t.a.x[i]);
	BT_ASSERT(drive(&w, two_step, &t, 60000));
	for (unsigned i = 0; i < 3; i++) {
		BT_ASSERT(echo[i].c.done);
		BT_EQ(echo[i].c.err, BD_ECONNRESET);
	}
	BT_UEQ(t.b.x[0].recvd, t.b.x[0].total);
	BT_ASSERT(!t.b.x[0].mismatch);
	BT_ASSERT(xfer_hashes_match(&t.b.x[0]));
	BT_EQ(echo[3].c.err, 0);
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.apps, 1);
	BT_UEQ(bs.apps_removed, 1);
	BT_UEQ(bs.conns_reset_by_removal, 3);
	for (unsigned i = 0; i < 4; i++)
		bd_app_echo_fini(&echo[i]);
	bd_chan_bridge_remove(w.br, app_b);
	bd_chan_app_destroy(app_b);
	world_fini(&w);
}

/* An app ends a connection and exits at once: its last bytes, its shutdown
 * and its RELEASE are still in shared memory when the node removes it. The
 * peer gets every byte and an orderly end, not a reset. */
struct quick_exit {
	struct bd_chan_view *v;
	uint32_t slot;
	bool have_slot;
};

static bool quick_connected(struct world *w, void *ctx)
{
	struct quick_exit *q = ctx;
	struct bd_chan_msg m;
	(void)w;
	while (bd_chan_next_event(q->v, &m) == 1)
		if (m.type == BD_CHAN_EV_CONNECTED) {
			q->slot = m.slot;
			q->have_slot = true;
		}
	return q->have_slot;
}

static bool sink_done(struct world *w, void *ctx)
{
	(void)w;
	return ((struct bd_app_bulk_sink *)ctx)->c.done;
}

BT_TEST(chan_sim_app_exits_after_release_peer_gets_orderly_end)
{
	struct world w;
	struct bd_app_bulk_sink sink;
	struct bd_chan_app *app;
	struct bd_chan_bridge_stats bs;
	struct quick_exit q;
	struct bd_app_stream gen;
	uint8_t data[12000], want[32];
	unsigned wl = 0;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();

	BT_ASSERT(world_init(&w, 100, 0) == 0);
	BT_EQ(bd_app_bulk_sink_start(&sink, w.peer, 7400, 0, NULL), 0);
	app = bd_chan_app_create(8, 16384, 16, "quick");
	BT_ASSERT(app && sha);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&q, 0, sizeof(q));
	q.v = bd_chan_view_of(app);
	BT_EQ(req_connect(q.v, 1, bd_sim_path_addr(0, 1), 7400), 0);
	BT_ASSERT(drive(&w, quick_connected, &q, 5000));
	bd_app_stream_init(&gen, 77);
	bd_app_stream_fill(&gen, data, sizeof(data));
	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	EVP_DigestUpdate(sha, data, sizeof(data));
	EVP_DigestFinal_ex(sha, want, &wl);
	EVP_MD_CTX_free(sha);
	/* Write, end, release, exit: no node poll in between. */
	BT_EQ(bd_chan_write(q.v, q.slot, data, sizeof(data)),
	      (long)sizeof(data));
	BT_EQ(bd_chan_shutdown(q.v, q.slot), 0);
	BT_EQ(bd_chan_release(q.v, q.slot, false), 0);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	BT_ASSERT(drive(&w, sink_done, &sink, 10000));
	BT_EQ(sink.c.err, 0);
	BT_UEQ(sink.received, sizeof(data));
	BT_ASSERT(memcmp(sink.digest, want, 32) == 0);
	bd_chan_bridge_stats(w.br, &bs);
	BT_UEQ(bs.conns_reset_by_removal, 0);
	BT_UEQ(bs.conns, 0);
	bd_app_bulk_sink_fini(&sink);
	world_fini(&w);
}

/* --- an app that breaks the FIFO protocol --------------------------------- */

BT_TEST(chan_sim_bad_indices_reset_only_that_connection)
{
	struct world w;
	struct bd_app_echo echo[2];
	struct bd_chan_app *app;
	struct bd_chan_bridge_stats bs;
	struct bd_chan_msg m;
	struct many mm;
	struct bd_chan_slot *s;
	BT_ASSERT(world_init(&w, 100, 0) == 0);
	for (unsigned i = 0; i < 2; i++)
		BT_EQ(bd_app_echo_start(&echo[i], w.peer, (uint16_t)(7300 + i),
					NULL),
		      0);
	app = bd_chan_app_create(4, 4096, 16, "bad");
	BT_ASSERT(app);
	BT_EQ(bd_chan_bridge_add(w.br, app), 0);
	memset(&mm, 0, sizeof(mm));
	mm.v = bd_chan_view_of(app);
	mm.n = 2;
	for (unsigned i = 0; i < 2; i++) {
		xfer_init(&mm.x[i], mm.v, 100000, 500 + i);
		BT_EQ(req_connect(mm.v, i, bd_sim_path_addr(0, 1),
				  (uint16_t)(7300 + i)),
		      0);
	}
	/* Wait for both connections, then scribble on the first's tx head. */
	while (!(mm.x[0].have_slot && mm.x[1].have_slot) &&
	       bd_sim_now_ns(w.sim) < 1000000000ull) {
		app_events(mm.v, mm.x, 2);
		bd_stack_wake_at(w.node, now_us(&w) + 1000);
		bd_sim_run(w.sim, bd_sim_now_ns(w.sim) + 1000000, NULL, NULL);
	}
	BT_ASSERT(mm.x[0].have_slot && mm.x[1].have_slot);
	s = bd_chan_slot_at(app->base, &app->g, mm.x[0].slot);
	atomic_store(&s->tx.head, 1ull << 40);
	/* And a release for a slot that is not the app's. */
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_RELEASE;
	m.slot = 3;
	m.gen = 99;
	BT_EQ(bd_chan_request(mm.v, &m), 0);
	mm.x[0].have_slot = false; /* the test stops driving it */
	BT_ASSERT(drive(&w, many_step, &mm, 20000) || mm.x[1].released);
	BT_UEQ(mm.x[1].recvd, mm.x[1].total);
	BT_ASSERT(xfer_hashes_match(&mm.x[1]));
	BT_EQ(echo[0].c.err, BD_ECONNRESET);
	bd_chan_bridge_stats(w.br, &bs);
	BT_ASSERT(bs.protocol_errors >= 2);
	xfer_free(&mm.x[0]);
	for (unsigned i = 0; i < 2; i++)
		bd_app_echo_fini(&echo[i]);
	bd_chan_bridge_remove(w.br, app);
	bd_chan_app_destroy(app);
	world_fini(&w);
}

/* --- the Unix socket attach protocol -------------------------------------- */

struct srv_ctx {
	int attached, detached;
	struct bd_chan_app *last;
};

static int on_attach(void *ctx, struct bd_chan_app *a)
{
	struct srv_ctx *c = ctx;
	c->attached++;
	c->last = a;
	return 0;
}

static void on_detach(void *ctx, struct bd_chan_app *a)
{
	struct srv_ctx *c = ctx;
	(void)a;
	c->detached++;
}

struct attach_thr {
	const char *path;
	struct bd_chan_view *v;
	int rc;
	char err[256];
};

static void *attach_main(void *arg)
{
	struct attach_thr *t = arg;
	t->rc = bd_chan_attach(t->path, "attach-test", 3000, &t->v, t->err,
			       sizeof(t->err));
	return NULL;
}

static int serve_until(struct bd_chan_server *s, int *counter, int want)
{
	for (int i = 0; i < 3000 && *counter < want; i++) {
		bd_chan_server_process(s);
		usleep(1000);
	}
	return *counter >= want ? 0 : -1;
}

BT_TEST(chan_unix_attach_detach_and_node_stop)
{
	char path[64], err[256];
	struct srv_ctx sc = {0};
	struct bd_chan_server_config cfg = {0};
	struct bd_chan_server *s;
	struct attach_thr t = {0};
	struct bd_chan_view *v2 = NULL;
	pthread_t th;
	struct bd_chan_msg m;

	snprintf(path, sizeof(path), "/tmp/braid-chan-test-%d.sock",
		 (int)getpid());
	/* No node: a clear error. */
	BT_EQ(bd_chan_attach(path, "x", 100, &v2, err, sizeof(err)), -ENOENT);
	BT_ASSERT(strstr(err, "no Braid node at"));
	cfg.path = path;
	cfg.nslots = 8;
	cfg.fifo_size = 8192;
	cfg.ring_size = 16;
	cfg.allow_uid = -1;
	cfg.on_attach = on_attach;
	cfg.on_detach = on_detach;
	cfg.ctx = &sc;
	cfg.node_name = "test-node";
	s = bd_chan_server_create(&cfg, err, sizeof(err));
	BT_ASSERT(s);
	/* A second node on the same path is refused. */
	BT_ASSERT(bd_chan_server_create(&cfg, err, sizeof(err)) == NULL);
	t.path = path;
	pthread_create(&th, NULL, attach_main, &t);
	BT_EQ(serve_until(s, &sc.attached, 1), 0);
	pthread_join(th, NULL);
	BT_EQ(t.rc, 0);
	BT_ASSERT(t.v);
	BT_UEQ(bd_chan_nslots(t.v), 8);
	BT_UEQ(bd_chan_fifo_size(t.v), 8192);
	BT_UEQ(bd_chan_server_napps(s), 1);
	BT_UEQ(bd_chan_app_pid(sc.last), (uint32_t)getpid());
	BT_UEQ(bd_chan_app_uid(sc.last), (uint32_t)getuid());
	BT_ASSERT(strcmp(bd_chan_app_name(sc.last), "attach-test") == 0);
	BT_UEQ(bd_chan_app_id(t.v), bd_chan_app_id_of(sc.last));
	/* Same memory on both sides: a request crosses. */
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_INFO;
	m.cookie = 42;
	BT_EQ(bd_chan_request(t.v, &m), 0);
	{
		struct bd_chan_app *a = sc.last;
		struct bd_chan_msg got;
		BT_EQ(bd_chan_ring_get(a->base, &bd_chan_hdr(a->base)->req,
				       a->g.req_off, a->g.ring_size, &got),
		      1);
		BT_UEQ(got.cookie, 42);
	}
	/* The app goes away: the node sees it. */
	bd_chan_detach(t.v);
	BT_EQ(serve_until(s, &sc.detached, 1), 0);
	BT_UEQ(bd_chan_server_napps(s), 0);
	/* A second app; then the node stops: the app gets a clear answer. */
	memset(&t, 0, sizeof(t));
	t.path = path;
	pthread_create(&th, NULL, attach_main, &t);
	BT_EQ(serve_until(s, &sc.attached, 2), 0);
	pthread_join(th, NULL);
	BT_EQ(t.rc, 0);
	BT_ASSERT(bd_chan_node_alive(t.v));
	bd_chan_server_destroy(s);
	BT_EQ(sc.detached, 2);
	BT_EQ(bd_chan_wait(t.v, 1000), -BD_ESHUTDOWN);
	BT_ASSERT(!bd_chan_node_alive(t.v));
	bd_chan_detach(t.v);
	BT_ASSERT(access(path, F_OK) != 0);
}

/* --- the sleep protocol --------------------------------------------------- */

BT_TEST(chan_arm_wake_pause_and_eof)
{
	struct bd_chan_app *a = bd_chan_app_create(4, 4096, 16, "sleep");
	struct bd_chan_view *v;
	struct bd_chan_hdr *h;
	struct bd_chan_slot *s;
	struct bd_chan_msg m;
	uint64_t cnt = 0;
	char buf[16];
	BT_ASSERT(a);
	v = bd_chan_view_of(a);
	h = bd_chan_hdr(a->base);
	/* Nothing pending: the app may sleep, and says so. */
	BT_ASSERT(bd_chan_arm(v));
	BT_UEQ(atomic_load(&h->app_sleeping), 1);
	/* The node hands out slot 2 and wakes the sleeper once. */
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_EV_ACCEPTED;
	m.slot = 2;
	m.gen = 1;
	BT_ASSERT(bd_chan_ring_put(a->base, &h->evt, a->g.evt_off,
				   a->g.ring_size, &m));
	bd_chan_kick(&h->app_sleeping, a->app_efd);
	BT_UEQ(atomic_load(&h->app_sleeping), 0);
	BT_EQ(read(a->app_efd, &cnt, sizeof(cnt)), (long)sizeof(cnt));
	BT_UEQ(cnt, 1);
	/* A second kick while awake costs no system call. */
	bd_chan_kick(&h->app_sleeping, a->app_efd);
	BT_EQ(read(a->app_efd, &cnt, sizeof(cnt)), -1);
	/* An event is pending: arm refuses. */
	BT_ASSERT(!bd_chan_arm(v));
	BT_EQ(bd_chan_next_event(v, &m), 1);
	BT_ASSERT(bd_chan_holds(v, 2, NULL));
	BT_ASSERT(bd_chan_arm(v));
	bd_chan_woken(v);
	/* Data in the slot's rx FIFO: pending, unless the app paused it. */
	s = bd_chan_slot_at(a->base, &a->g, 2);
	memcpy(bd_chan_rx_data(a->base, &a->g, 2), "hello", 5);
	atomic_store(&s->rx.head, 5);
	BT_ASSERT(!bd_chan_arm(v));
	bd_chan_pause(v, 2, true);
	BT_ASSERT(bd_chan_arm(v));
	bd_chan_woken(v);
	bd_chan_pause(v, 2, false);
	BT_EQ(bd_chan_read(v, 2, buf, sizeof(buf)), 5);
	BT_ASSERT(memcmp(buf, "hello", 5) == 0);
	BT_EQ(bd_chan_read(v, 2, buf, sizeof(buf)), -BD_EAGAIN);
	/* End of stream: pending until the app has read it, then not. */
	atomic_store(&s->rx.eof, 1);
	BT_ASSERT(!bd_chan_arm(v));
	BT_EQ(bd_chan_read(v, 2, buf, sizeof(buf)), 0);
	BT_ASSERT(bd_chan_arm(v));
	bd_chan_woken(v);
	/* A write that comes up short asks to hear about room, once. */
	{
		char big[8192];
		memset(big, 1, sizeof(big));
		BT_EQ(bd_chan_write(v, 2, big, sizeof(big)), 4096);
		BT_ASSERT(bd_chan_arm(v));
		bd_chan_woken(v);
		atomic_store(&s->tx.tail, 100);
		BT_ASSERT(!bd_chan_arm(v));
		BT_ASSERT(bd_chan_arm(v));
		bd_chan_woken(v);
	}
	/* The node stops: never sleep again. */
	atomic_store(&h->node_state, BD_CHAN_NODE_STOPPED);
	BT_ASSERT(!bd_chan_arm(v));
	BT_ASSERT(!bd_chan_node_alive(v));
	bd_chan_app_destroy(a);
}
