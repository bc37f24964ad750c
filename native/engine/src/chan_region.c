/* SPDX-License-Identifier: Apache-2.0
 *
 * The shared region: geometry, event rings, wake-ups, and the application
 * side of the channel (struct bd_chan_view: requests, events, byte FIFOs,
 * the sleep protocol).
 *
 * Memory ordering: a producer writes bytes or a record, then stores its
 * index with release; a consumer loads the other side's index with acquire
 * before touching the bytes, and stores its own index with release after
 * it is done with them. End of stream (fifo.eof) is stored after the last
 * head update, and read before head. The sleep handshake is Dekker's: the
 * sleeper stores its flag, fences (seq_cst) and re-checks for work; the
 * waker publishes, fences (seq_cst) and reads the flag.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chan_impl.h"
#include "chan_view.h"

_Static_assert(sizeof(struct bd_chan_msg) == 128, "chan msg is 128 bytes");

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int bd_chan_geom(struct bd_chan_geom *g, uint32_t nslots, uint32_t fifo_size,
		 uint32_t ring_size)
{
	uint64_t off;
	if (!nslots || nslots > 65536 || !pow2(fifo_size) || fifo_size < 4096 ||
	    fifo_size > (64u << 20) || !pow2(ring_size) || ring_size < 16 ||
	    ring_size > 65536)
		return -BD_EINVAL;
	memset(g, 0, sizeof(*g));
	g->nslots = nslots;
	g->fifo_size = fifo_size;
	g->ring_size = ring_size;
	off = align_up(sizeof(struct bd_chan_hdr), BD_CHAN_CL);
	g->req_off = (uint32_t)off;
	off += (uint64_t)ring_size * sizeof(struct bd_chan_msg);
	g->evt_off = (uint32_t)off;
	off += (uint64_t)ring_size * sizeof(struct bd_chan_msg);
	off = align_up(off, BD_CHAN_CL);
	g->slot_off = (uint32_t)off;
	g->slot_size =
	    (uint32_t)align_up(sizeof(struct bd_chan_slot), BD_CHAN_CL);
	off += (uint64_t)nslots * g->slot_size;
	off = align_up(off, 4096);
	if (off > UINT32_MAX)
		return -BD_EINVAL;
	g->data_off = (uint32_t)off;
	g->size = off + (uint64_t)nslots * 2 * fifo_size;
	if (g->size > (64ull << 30))
		return -BD_EINVAL;
	return 0;
}

void bd_chan_region_init(void *base, const struct bd_chan_geom *g,
			 uint32_t app_id)
{
	struct bd_chan_hdr *h = bd_chan_hdr(base);
	h->magic = BD_CHAN_MAGIC;
	h->version = BD_CHAN_VERSION;
	h->app_id = app_id;
	h->region_size = g->size;
	h->nslots = g->nslots;
	h->fifo_size = g->fifo_size;
	h->ring_size = g->ring_size;
	h->slot_off = g->slot_off;
	h->slot_size = g->slot_size;
	h->data_off = g->data_off;
	h->req.size = h->evt.size = g->ring_size;
	h->req.off = g->req_off;
	h->evt.off = g->evt_off;
	for (uint32_t i = 0; i < g->nslots; i++) {
		struct bd_chan_slot *s = bd_chan_slot_at(base, g, i);
		s->rx.size = s->tx.size = g->fifo_size;
		s->rx.off =
		    (uint32_t)(bd_chan_rx_data(base, g, i) - (uint8_t *)base);
		s->tx.off = s->rx.off + g->fifo_size;
	}
	atomic_store_explicit(&h->node_state, BD_CHAN_NODE_RUNNING,
			      memory_order_release);
}

int bd_chan_region_check(const void *base, uint64_t size,
			 struct bd_chan_geom *g)
{
	const struct bd_chan_hdr *h = base;
	if (size < sizeof(*h) || h->magic != BD_CHAN_MAGIC ||
	    h->version != BD_CHAN_VERSION)
		return -BD_EPROTO;
	if (bd_chan_geom(g, h->nslots, h->fifo_size, h->ring_size) < 0 ||
	    g->size != size || h->region_size != size ||
	    h->data_off != g->data_off || h->slot_off != g->slot_off)
		return -BD_EPROTO;
	return 0;
}

/* --- rings ---------------------------------------------------------------- */

bool bd_chan_ring_put(void *base, struct bd_chan_ring *r, uint32_t off,
		      uint32_t size, const struct bd_chan_msg *m)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	struct bd_chan_msg *rec;
	if (head - tail >= size)
		return false;
	rec =
	    (struct bd_chan_msg *)((uint8_t *)base + off) + (head & (size - 1));
	memcpy(rec, m, sizeof(*m));
	atomic_store_explicit(&r->head, head + 1, memory_order_release);
	return true;
}

int bd_chan_ring_get(void *base, struct bd_chan_ring *r, uint32_t off,
		     uint32_t size, struct bd_chan_msg *m)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	const struct bd_chan_msg *rec;
	if (head == tail)
		return 0;
	if (head - tail > size)
		return -1;
	rec = (const struct bd_chan_msg *)((uint8_t *)base + off) +
	      (tail & (size - 1));
	memcpy(m, rec, sizeof(*m));
	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
	return 1;
}

bool bd_chan_ring_empty(struct bd_chan_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) ==
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

bool bd_chan_ring_full(struct bd_chan_ring *r, uint32_t size)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) -
		   atomic_load_explicit(&r->tail, memory_order_acquire) >=
	       size;
}

void bd_chan_kick(_Atomic uint32_t *sleeping, int efd)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (!atomic_load_explicit(sleeping, memory_order_relaxed))
		return;
	if (!atomic_exchange_explicit(sleeping, 0, memory_order_acq_rel))
		return;
	if (efd >= 0) {
		uint64_t one = 1;
		ssize_t n = write(efd, &one, sizeof(one));
		(void)n; /* EAGAIN: the counter is already non-zero */
	}
}

/* --- the application side ------------------------------------------------- */

static struct bd_chan_hdr *vh(struct bd_chan_view *v)
{
	return bd_chan_hdr(v->base);
}

static void kick_node(struct bd_chan_view *v)
{
	bd_chan_kick(&vh(v)->node_sleeping, v->node_efd);
}

int bd_chan_view_init(struct bd_chan_view *v, void *base, uint64_t size)
{
	if (bd_chan_region_check(base, size, &v->g) < 0)
		return -BD_EPROTO;
	v->base = base;
	v->size = size;
	v->app_id = bd_chan_hdr(base)->app_id;
	v->slots = calloc(v->g.nslots, sizeof(*v->slots));
	return v->slots ? 0 : -BD_ENOMEM;
}

int bd_chan_event_fd(const struct bd_chan_view *v)
{
	return v->app_efd;
}

int bd_chan_sock_fd(const struct bd_chan_view *v)
{
	return v->sock;
}

uint32_t bd_chan_nslots(const struct bd_chan_view *v)
{
	return v->g.nslots;
}

uint32_t bd_chan_fifo_size(const struct bd_chan_view *v)
{
	return v->g.fifo_size;
}

uint32_t bd_chan_app_id(const struct bd_chan_view *v)
{
	return v->app_id;
}

bool bd_chan_node_alive(struct bd_chan_view *v)
{
	if (v->node_gone)
		return false;
	if (atomic_load_explicit(&vh(v)->node_state, memory_order_acquire) !=
	    BD_CHAN_NODE_RUNNING)
		v->node_gone = true;
	return !v->node_gone;
}

int bd_chan_request(struct bd_chan_view *v, const struct bd_chan_msg *m)
{
	if (!bd_chan_ring_put(v->base, &vh(v)->req, v->g.req_off,
			      v->g.ring_size, m))
		return -BD_EAGAIN;
	kick_node(v);
	return 0;
}

int bd_chan_next_event(struct bd_chan_view *v, struct bd_chan_msg *m)
{
	for (;;) {
		int rc = bd_chan_ring_get(v->base, &vh(v)->evt, v->g.evt_off,
					  v->g.ring_size, m);
		struct bd_chan_vslot *vs;
		if (rc <= 0)
			return 0;
		if (m->type == BD_CHAN_EV_CONNECTED ||
		    m->type == BD_CHAN_EV_ACCEPTED) {
			if (m->slot >= v->g.nslots)
				continue;
			vs = &v->slots[m->slot];
			memset(vs, 0, sizeof(*vs));
			vs->held = true;
			vs->gen = m->gen;
			return 1;
		}
		if (m->type == BD_CHAN_EV_CLOSED ||
		    m->type == BD_CHAN_EV_INFO) {
			if (m->slot >= v->g.nslots || !v->slots[m->slot].held ||
			    v->slots[m->slot].gen != m->gen)
				continue; /* for a slot already released */
			if (m->type == BD_CHAN_EV_CLOSED)
				v->slots[m->slot].closed = true;
		}
		return 1;
	}
}

static struct bd_chan_slot *held(struct bd_chan_view *v, uint32_t slot)
{
	if (slot >= v->g.nslots || !v->slots[slot].held)
		return NULL;
	return bd_chan_slot_at(v->base, &v->g, slot);
}

bool bd_chan_holds(const struct bd_chan_view *v, uint32_t slot, uint32_t *gen)
{
	if (slot >= v->g.nslots || !v->slots[slot].held)
		return false;
	if (gen)
		*gen = v->slots[slot].gen;
	return true;
}

long bd_chan_write(struct bd_chan_view *v, uint32_t slot, const void *buf,
		   size_t len)
{
	struct bd_chan_slot *s = held(v, slot);
	uint32_t size = v->g.fifo_size, mask = size - 1;
	uint8_t *data;
	uint64_t head, tail;
	size_t space, n, first;
	if (!s)
		return -BD_EBADF;
	if (v->slots[slot].shut)
		return -BD_EPIPE;
	head = atomic_load_explicit(&s->tx.head, memory_order_relaxed);
	tail = atomic_load_explicit(&s->tx.tail, memory_order_acquire);
	space = size - (size_t)(head - tail);
	n = len < space ? len : space;
	if (n < len)
		v->slots[slot].want_write = true;
	if (!n)
		return 0;
	data = bd_chan_tx_data(v->base, &v->g, slot);
	first = size - (size_t)(head & mask);
	if (first > n)
		first = n;
	memcpy(data + (head & mask), buf, first);
	memcpy(data, (const uint8_t *)buf + first, n - first);
	atomic_store_explicit(&s->tx.head, head + n, memory_order_release);
	kick_node(v);
	return (long)n;
}

int bd_chan_read_peek(struct bd_chan_view *v, uint32_t slot, const void **ptr,
		      size_t *len)
{
	struct bd_chan_slot *s = held(v, slot);
	uint32_t size = v->g.fifo_size, mask = size - 1;
	uint64_t head, tail;
	uint32_t eof;
	size_t avail, first;
	if (!s)
		return -BD_EBADF;
	tail = atomic_load_explicit(&s->rx.tail, memory_order_relaxed);
	eof = atomic_load_explicit(&s->rx.eof, memory_order_acquire);
	head = atomic_load_explicit(&s->rx.head, memory_order_acquire);
	avail = (size_t)(head - tail);
	if (!avail) {
		if (eof)
			v->slots[slot].eof_seen = true;
		if (eof == 2)
			return -BD_ECONNRESET;
		return eof ? 0 : -BD_EAGAIN;
	}
	first = size - (size_t)(tail & mask);
	*ptr = bd_chan_rx_data(v->base, &v->g, slot) + (tail & mask);
	*len = avail < first ? avail : first;
	return 1;
}

void bd_chan_read_commit(struct bd_chan_view *v, uint32_t slot, size_t n)
{
	struct bd_chan_slot *s = held(v, slot);
	uint64_t tail;
	if (!s || !n)
		return;
	tail = atomic_load_explicit(&s->rx.tail, memory_order_relaxed);
	atomic_store_explicit(&s->rx.tail, tail + n, memory_order_release);
	kick_node(v);
}

long bd_chan_read(struct bd_chan_view *v, uint32_t slot, void *buf, size_t cap)
{
	size_t done = 0;
	while (done < cap) {
		const void *p;
		size_t n;
		int rc = bd_chan_read_peek(v, slot, &p, &n);
		if (rc <= 0)
			return done ? (long)done : rc;
		if (n > cap - done)
			n = cap - done;
		memcpy((uint8_t *)buf + done, p, n);
		bd_chan_read_commit(v, slot, n);
		done += n;
	}
	return (long)done;
}

size_t bd_chan_readable(struct bd_chan_view *v, uint32_t slot)
{
	struct bd_chan_slot *s = held(v, slot);
	if (!s)
		return 0;
	return (
	    size_t)(atomic_load_explicit(&s->rx.head, memory_order_acquire) -
		    atomic_load_explicit(&s->rx.tail, memory_order_relaxed));
}

size_t bd_chan_writable(struct bd_chan_view *v, uint32_t slot)
{
	struct bd_chan_slot *s = held(v, slot);
	if (!s || v->slots[slot].shut)
		return 0;
	return v->g.fifo_size -
	       (size_t)(atomic_load_explicit(&s->tx.head,
					     memory_order_relaxed) -
			atomic_load_explicit(&s->tx.tail,
					     memory_order_acquire));
}

int bd_chan_shutdown(struct bd_chan_view *v, uint32_t slot)
{
	struct bd_chan_slot *s = held(v, slot);
	if (!s)
		return -BD_EBADF;
	if (v->slots[slot].shut)
		return 0;
	v->slots[slot].shut = true;
	atomic_store_explicit(&s->tx.eof, 1, memory_order_release);
	kick_node(v);
	return 0;
}

int bd_chan_read_info(struct bd_chan_view *v, uint32_t slot,
		      struct bd_chan_info *out)
{
	struct bd_chan_slot *s = held(v, slot);
	if (!s)
		return -BD_EBADF;
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t a =
		    atomic_load_explicit(&s->info_seq, memory_order_acquire);
		if (a & 1)
			continue;
		memcpy(out, &s->info, sizeof(*out));
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&s->info_seq, memory_order_relaxed) ==
		    a) {
			if (out->nsubflows > BD_CHAN_MAX_SUBFLOWS)
				out->nsubflows = BD_CHAN_MAX_SUBFLOWS;
			return 0;
		}
	}
	return -BD_EAGAIN;
}

int bd_chan_release(struct bd_chan_view *v, uint32_t slot, bool abort)
{
	struct bd_chan_msg m;
	int rc;
	if (!held(v, slot))
		return -BD_EBADF;
	memset(&m, 0, sizeof(m));
	m.type = abort ? BD_CHAN_REQ_ABORT : BD_CHAN_REQ_RELEASE;
	m.slot = slot;
	m.gen = v->slots[slot].gen;
	rc = bd_chan_request(v, &m);
	if (rc == 0)
		v->slots[slot].held = false;
	return rc;
}

static bool pending(struct bd_chan_view *v)
{
	if (!bd_chan_ring_empty(&vh(v)->evt) || !bd_chan_node_alive(v))
		return true;
	for (uint32_t i = 0; i < v->g.nslots; i++) {
		struct bd_chan_slot *s;
		if (!v->slots[i].held)
			continue;
		s = bd_chan_slot_at(v->base, &v->g, i);
		if (!v->slots[i].paused && !v->slots[i].eof_seen &&
		    (atomic_load_explicit(&s->rx.head, memory_order_acquire) !=
			 atomic_load_explicit(&s->rx.tail,
					      memory_order_relaxed) ||
		     atomic_load_explicit(&s->rx.eof, memory_order_acquire)))
			return true;
		/* Room again after a short write: report it once. */
		if (v->slots[i].want_write && bd_chan_writable(v, i) > 0) {
			v->slots[i].want_write = false;
			return true;
		}
	}
	return false;
}

void bd_chan_pause(struct bd_chan_view *v, uint32_t slot, bool paused)
{
	if (slot < v->g.nslots)
		v->slots[slot].paused = paused;
}

bool bd_chan_arm(struct bd_chan_view *v)
{
	atomic_store_explicit(&vh(v)->app_sleeping, 1, memory_order_seq_cst);
	atomic_thread_fence(memory_order_seq_cst);
	if (pending(v)) {
		atomic_store_explicit(&vh(v)->app_sleeping, 0,
				      memory_order_relaxed);
		return false;
	}
	return true;
}

void bd_chan_woken(struct bd_chan_view *v)
{
	uint64_t cnt;
	atomic_store_explicit(&vh(v)->app_sleeping, 0, memory_order_relaxed);
	if (v->app_efd >= 0) {
		ssize_t n = read(v->app_efd, &cnt, sizeof(cnt));
		(void)n;
	}
}

int bd_chan_wait(struct bd_chan_view *v, int timeout_ms)
{
	struct pollfd p[2];
	int n = 0, rc;
	if (!bd_chan_node_alive(v))
		return -BD_ESHUTDOWN;
	if (!bd_chan_arm(v))
		return 1;
	p[n].fd = v->app_efd;
	p[n++].events = POLLIN;
	if (v->sock >= 0) {
		p[n].fd = v->sock;
		p[n++].events = POLLIN;
	}
	rc = poll(p, (nfds_t)n, timeout_ms);
	if (n > 1 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
		char b[64];
		ssize_t r = recv(v->sock, b, sizeof(b), MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
			v->node_gone = true;
	}
	bd_chan_woken(v);
	if (!bd_chan_node_alive(v))
		return -BD_ESHUTDOWN;
	return rc > 0 ? 1 : 0;
}

/* --- in-process attachment (tests and fixtures) -------------------------- */

struct bd_chan_app *bd_chan_app_create(uint32_t nslots, uint32_t fifo_size,
				       uint32_t ring_size, const char *name)
{
	static _Atomic uint32_t next_id = 1u << 31;
	struct bd_chan_app *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->memfd = a->sock = -1;
	a->app_efd = a->node_efd = -1;
	if (bd_chan_geom(&a->g, nslots, fifo_size, ring_size) < 0)
		goto fail;
	a->base = mmap(NULL, a->g.size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (a->base == MAP_FAILED) {
		a->base = NULL;
		goto fail;
	}
	a->id = atomic_fetch_add(&next_id, 1);
	bd_chan_region_init(a->base, &a->g, a->id);
	a->app_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	a->node_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->app_efd < 0 || a->node_efd < 0)
		goto fail;
	a->pid = (int32_t)getpid();
	a->uid = (uint32_t)getuid();
	strncpy(a->name, name ? name : "", sizeof(a->name) - 1);
	a->welcomed = true;
	return a;
fail:
	bd_chan_app_destroy(a);
	return NULL;
}

struct bd_chan_view *bd_chan_view_of(struct bd_chan_app *a)
{
	struct bd_chan_view *v;
	if (a->view)
		return a->view;
	v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->app_efd = a->app_efd;
	v->node_efd = a->node_efd;
	v->sock = -1;
	v->borrowed = true;
	if (bd_chan_view_init(v, a->base, a->g.size) < 0) {
		free(v);
		return NULL;
	}
	a->view = v;
	return v;
}

void bd_chan_app_destroy(struct bd_chan_app *a)
{
	if (!a)
		return;
	if (a->view) {
		free(a->view->slots);
		free(a->view);
	}
	if (a->base)
		munmap(a->base, a->g.size);
	if (a->memfd >= 0)
		close(a->memfd);
	if (a->app_efd >= 0)
		close(a->app_efd);
	if (a->node_efd >= 0)
		close(a->node_efd);
	if (a->sock >= 0)
		close(a->sock);
	free(a);
}
