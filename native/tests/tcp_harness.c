/* SPDX-License-Identifier: Apache-2.0
 * Test harness for Braid TCP (see tcp_harness.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "braid/csum.h"
#include "tcp_harness.h"

static uint64_t rnd(struct th_net *n)
{
	uint64_t z = (n->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rnd01(struct th_net *n)
{
	return (double)(rnd(n) >> 11) / (double)(1ull << 53);
}

static bool item_lt(const struct th_item *a, const struct th_item *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void q_push(struct th_net *n, struct th_item it)
{
	uint32_t i;
	if (n->qlen == n->qcap) {
		n->qcap = n->qcap ? 2 * n->qcap : 1024;
		n->q = realloc(n->q, n->qcap * sizeof(*n->q));
	}
	i = n->qlen++;
	n->q[i] = it;
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (!item_lt(&n->q[i], &n->q[p]))
			break;
		struct th_item t = n->q[i];
		n->q[i] = n->q[p];
		n->q[p] = t;
		i = p;
	}
}

static struct th_item q_pop(struct th_net *n)
{
	struct th_item top = n->q[0];
	uint32_t i = 0;
	n->q[0] = n->q[--n->qlen];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < n->qlen && item_lt(&n->q[l], &n->q[m]))
			m = l;
		if (r < n->qlen && item_lt(&n->q[r], &n->q[m]))
			m = r;
		if (m == i)
			break;
		struct th_item t = n->q[i];
		n->q[i] = n->q[m];
		n->q[m] = t;
		i = m;
	}
	return top;
}

static int out_hook(void *ctx, struct bd_pkt *p, const struct bd_ipaddr *saddr,
		    const struct bd_ipaddr *daddr, uint8_t proto, uint8_t tos)
{
	struct th_node *nd = ctx;
	struct th_net *n = nd->net;
	struct th_item it;
	uint64_t at;

	(void)proto;
	(void)tos;
	nd->sent++;
	if (nd->capture) {
		p->next = NULL;
		if (nd->cap_tail)
			nd->cap_tail->next = p;
		else
			nd->cap_head = p;
		nd->cap_tail = p;
		nd->ncap++;
		return 0;
	}
	if (n->filter && n->filter(n->filter_arg, nd->idx, p->data, p->len)) {
		n->dropped++;
		bd_pkt_free(p);
		return 0;
	}
	if (n->loss > 0 && rnd01(n) < n->loss) {
		n->dropped++;
		bd_pkt_free(p);
		return 0;
	}
	at = n->now;
	if (n->rate_bps) {
		uint64_t ser =
		    ((uint64_t)(p->len + 40) * 8 * 1000000ull) / n->rate_bps;
		uint64_t start = n->link_free[nd->idx] > n->now
				     ? n->link_free[nd->idx]
				     : n->now;
		if (n->qlimit_us && start - n->now > n->qlimit_us) {
			n->dropped++;
			bd_pkt_free(p);
			return 0;
		}
		n->link_free[nd->idx] = start + ser;
		at = start + ser;
	}
	at += n->delay_us;
	if (n->reorder > 0 && rnd01(n) < n->reorder) {
		at += n->reorder_extra_us ? n->reorder_extra_us
					  : n->delay_us / 2 + 1;
		n->reordered++;
	}
	if (n->corrupt > 0 && rnd01(n) < n->corrupt && p->len)
		p->data[rnd(n) % p->len] ^= (uint8_t)(1 + rnd(n) % 255);
	if (n->dup > 0 && rnd01(n) < n->dup) {
		struct bd_pkt *c = bd_pkt_alloc(nd->st.pool);
		if (c && bd_pkt_append(c, p->len)) {
			memcpy(c->data, p->data, p->len);
			it.at = at + 1 + rnd(n) % (n->delay_us + 1);
			it.order = n->order++;
			it.to = 1 - nd->idx;
			it.p = c;
			it.saddr = *saddr;
			it.daddr = *daddr;
			q_push(n, it);
		} else if (c) {
			bd_pkt_free(c);
		}
	}
	it.at = at;
	it.order = n->order++;
	it.to = 1 - nd->idx;
	it.p = p;
	it.saddr = *saddr;
	it.daddr = *daddr;
	q_push(n, it);
	return 0;
}

void th_init(struct th_net *n, uint64_t seed, const struct bd_tcp_config *ca,
	     const struct bd_tcp_config *cb)
{
	memset(n, 0, sizeof(*n));
	n->rng = seed * 7919 + 1;
	n->delay_us = 1000;
	for (int i = 0; i < 2; i++) {
		struct th_node *nd = &n->n[i];
		nd->net = n;
		nd->idx = i;
		nd->addr = bd_ip4(i == 0 ? TH_A_ADDR : TH_B_ADDR);
		bd_stack_seed(&nd->st, seed * 2 + (uint64_t)i + 1);
		nd->st.pool = bd_pktpool_heap_create(0, 2048);
		nd->st.now_us = 1000000;
		nd->st.l4_out_hook = out_hook;
		nd->st.l4_out_ctx = nd;
		nd->st.tcp = bd_tcp_stack_create(&nd->st, i == 0 ? ca : cb);
	}
	n->now = 1000000;
}

void th_free(struct th_net *n)
{
	for (uint32_t i = 0; i < n->qlen; i++)
		bd_pkt_free(n->q[i].p);
	free(n->q);
	for (int i = 0; i < 2; i++) {
		th_drop_captured(n, i);
		bd_tcp_stack_destroy(n->n[i].st.tcp);
		bd_pktpool_destroy(n->n[i].st.pool);
	}
	memset(n, 0, sizeof(*n));
}

struct bd_tcp_stack *th_tcp(struct th_net *n, int node)
{
	return n->n[node].st.tcp;
}

void th_set_time(struct th_net *n, uint64_t t)
{
	n->now = t;
	n->n[0].st.now_us = t;
	n->n[1].st.now_us = t;
}

void th_flush(struct th_net *n)
{
	bd_tcp_flush(&n->n[0].st);
	bd_tcp_flush(&n->n[1].st);
}

void th_run_until(struct th_net *n, uint64_t t, bool (*done)(void *), void *arg)
{
	for (;;) {
		uint64_t next = UINT64_MAX, d;
		th_flush(n);
		if (done && done(arg))
			return;
		if (n->qlen)
			next = n->q[0].at;
		for (int i = 0; i < 2; i++) {
			d = bd_tcp_next_deadline(&n->n[i].st);
			if (d < next)
				next = d;
		}
		if (next > t) {
			th_set_time(n, t);
			return;
		}
		if (next > n->now)
			th_set_time(n, next);
		while (n->qlen && n->q[0].at <= n->now) {
			struct th_item it = q_pop(n);
			struct bd_ip_meta m = {0};
			m.saddr = it.saddr;
			m.daddr = it.daddr;
			n->delivered++;
			bd_tcp_input(&n->n[it.to].st, it.p, &m);
		}
		for (int i = 0; i < 2; i++)
			if (bd_tcp_next_deadline(&n->n[i].st) <= n->now)
				bd_tcp_timers(&n->n[i].st);
	}
}

void th_run(struct th_net *n, uint64_t us, bool (*done)(void *), void *arg)
{
	th_run_until(n, n->now + us, done, arg);
}

struct bd_pkt *th_pop(struct th_net *n, int node)
{
	struct th_node *nd = &n->n[node];
	struct bd_pkt *p = nd->cap_head;
	if (!p)
		return NULL;
	nd->cap_head = p->next;
	if (!nd->cap_head)
		nd->cap_tail = NULL;
	nd->ncap--;
	p->next = NULL;
	return p;
}

void th_drop_captured(struct th_net *n, int node)
{
	struct bd_pkt *p;
	while ((p = th_pop(n, node)))
		bd_pkt_free(p);
}

static uint32_t g32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

int th_parse(const struct bd_pkt *p, struct th_seg *s)
{
	const uint8_t *h = p->data;
	unsigned doff, i = 0;

	memset(s, 0, sizeof(*s));
	s->mss = s->wscale = -1;
	if (p->len < 20)
		return -1;
	doff = (unsigned)(h[12] >> 4) * 4;
	s->sport = (uint16_t)(h[0] << 8 | h[1]);
	s->dport = (uint16_t)(h[2] << 8 | h[3]);
	s->seq = g32(h + 4);
	s->ack = g32(h + 8);
	s->flags = h[13];
	s->wnd = (uint16_t)(h[14] << 8 | h[15]);
	s->optlen = (uint8_t)(doff - 20);
	memcpy(s->opt, h + 20, s->optlen);
	s->len = p->len - doff;
	s->data = h + doff;
	while (i < s->optlen) {
		uint8_t k = s->opt[i];
		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		uint8_t l = s->opt[i + 1];
		if (l < 2)
			break;
		if (k == 2)
			s->mss = s->opt[i + 2] << 8 | s->opt[i + 3];
		else if (k == 3)
			s->wscale = s->opt[i + 2];
		else if (k == 4)
			s->sack_ok = 1;
		else if (k == 8) {
			s->has_ts = 1;
			s->tsval = g32(s->opt + i + 2);
			s->tsecr = g32(s->opt + i + 6);
		} else if (k == 5) {
			s->nsack = (l - 2) / 8;
			for (int b = 0; b < s->nsack && b < 4; b++) {
				s->sack[b][0] = g32(s->opt + i + 2 + 8 * b);
				s->sack[b][1] = g32(s->opt + i + 6 + 8 * b);
			}
		}
		i += l;
	}
	return 0;
}

int th_pop_seg(struct th_net *n, int node, struct th_seg *s)
{
	struct bd_pkt *p = th_pop(n, node);
	if (!p)
		return -1;
	th_parse(p, s);
	s->data = NULL; /* the packet is freed below */
	bd_pkt_free(p);
	return 0;
}

void th_inject_raw(struct th_net *n, int to, const uint8_t *tcp, uint32_t len,
		   bool fix_csum)
{
	struct th_node *nd = &n->n[to];
	struct bd_pkt *p = bd_pkt_alloc(nd->st.pool);
	struct bd_ip_meta m = {0};
	uint8_t *h;

	if (!p)
		return;
	h = bd_pkt_append(p, len);
	if (!h) {
		bd_pkt_free(p);
		return;
	}
	memcpy(h, tcp, len);
	m.saddr = n->n[1 - to].addr;
	m.daddr = nd->addr;
	if (fix_csum && len >= 20) {
		h[16] = h[17] = 0;
		uint16_t c = bd_csum_fold(bd_csum_add(
		    bd_csum_pseudo4(m.saddr.v4, m.daddr.v4, 6, len), h, len));
		h[16] = (uint8_t)(c >> 8);
		h[17] = (uint8_t)c;
	}
	bd_tcp_input(&nd->st, p, &m);
}

void th_inject(struct th_net *n, int to, uint16_t sport, uint16_t dport,
	       uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
	       const uint8_t *opts, unsigned optlen, const void *data,
	       uint32_t len)
{
	uint8_t *b = calloc(1, 60 + len);
	unsigned doff = 20 + optlen;
	b[0] = (uint8_t)(sport >> 8);
	b[1] = (uint8_t)sport;
	b[2] = (uint8_t)(dport >> 8);
	b[3] = (uint8_t)dport;
	for (int i = 0; i < 4; i++) {
		b[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		b[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	b[12] = (uint8_t)((doff / 4) << 4);
	b[13] = flags;
	b[14] = (uint8_t)(wnd >> 8);
	b[15] = (uint8_t)wnd;
	if (optlen)
		memcpy(b + 20, opts, optlen);
	if (len)
		memcpy(b + doff, data, len);
	th_inject_raw(n, to, b, doff + len, true);
	free(b);
}

uint64_t th_mib(struct th_net *n, int node, const char *name)
{
	return bd_tcp_mib_get(th_tcp(n, node), name);
}

/* --- bulk ----------------------------------------------------------------- */

static void gen_fill(uint64_t *st, uint8_t *buf, size_t len, uint64_t off)
{
	/* Deterministic content: a function of the stream offset (8-byte
	 * words of a mixed counter). */
	(void)st;
	for (size_t i = 0; i < len;) {
		uint64_t w = (off + i) / 8, x = w * 0x9e3779b97f4a7c15ull;
		x ^= x >> 29;
		size_t k = (off + i) % 8;
		for (; k < 8 && i < len; k++, i++)
			buf[i] = (uint8_t)(x >> (8 * k));
	}
}

static void bulk_push(struct th_bulk *b)
{
	uint8_t buf[16384];
	while (b->sent < b->total) {
		uint64_t want = b->total - b->sent;
		long n;
		if (want > sizeof(buf))
			want = sizeof(buf);
		gen_fill(&b->gen_state_tx, buf, want, b->sent);
		n = bd_tcp_send(b->cli, buf, want);
		if (n <= 0)
			return;
		EVP_DigestUpdate(b->ctx_tx, buf, (size_t)n);
		b->sent += (uint64_t)n;
	}
	if (!b->shut) {
		b->shut = true;
		bd_tcp_shutdown(b->cli);
	}
}

static void cli_connected(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	bulk_push(ctx);
}

static void cli_writable(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	bulk_push(ctx);
}

static void cli_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct th_bulk *b = ctx;
	(void)s;
	b->closed_cli = true;
	b->err_cli = err;
}

static void srv_readable(void *ctx, struct bd_tcp_sock *s)
{
	struct th_bulk *b = ctx;
	uint8_t buf[16384];
	size_t cap = b->read_cap && b->read_cap < sizeof(buf) ? b->read_cap
							      : sizeof(buf);
	long n;
	while ((n = bd_tcp_recv(s, buf, cap)) > 0) {
		EVP_DigestUpdate(b->ctx_rx, buf, (size_t)n);
		b->rcvd += (uint64_t)n;
		if (!b->t_half && b->rcvd >= b->total / 2)
			b->t_half = b->net->now;
		if (!b->t_done && b->rcvd == b->total)
			b->t_done = b->net->now;
		if (b->read_cap)
			break;
	}
}

static void srv_fin(void *ctx, struct bd_tcp_sock *s)
{
	struct th_bulk *b = ctx;
	srv_readable(ctx, s);
	b->fin_seen = true;
	if (b->rcvd == b->total && !b->t_done)
		b->t_done = b->net->now;
	bd_tcp_shutdown(s);
}

static void srv_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct th_bulk *b = ctx;
	(void)s;
	b->closed_srv = true;
	b->err_srv = err;
}

static void lst_accept(void *ctx, struct bd_tcp_sock *l)
{
	struct th_bulk *b = ctx;
	static const struct bd_tcp_callbacks cbs = {
	    .on_readable = srv_readable,
	    .on_peer_fin = srv_fin,
	    .on_closed = srv_closed,
	};
	b->srv = bd_tcp_accept(l, &cbs, b);
}

int th_bulk_start(struct th_bulk *b, struct th_net *n, uint64_t bytes,
		  const struct bd_tcp_opts *cli, const struct bd_tcp_opts *srv)
{
	static const struct bd_tcp_callbacks ccb = {
	    .on_connected = cli_connected,
	    .on_writable = cli_writable,
	    .on_closed = cli_closed,
	};
	static const struct bd_tcp_callbacks lcb = {.on_accept = lst_accept};
	struct bd_ipaddr a = n->n[0].addr, bb = n->n[1].addr;
	int err;

	memset(b, 0, sizeof(*b));
	b->net = n;
	b->total = bytes;
	b->ctx_tx = EVP_MD_CTX_new();
	b->ctx_rx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(b->ctx_tx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(b->ctx_rx, EVP_sha256(), NULL);
	b->lst = bd_tcp_listen(th_tcp(n, 1), &bb, 5001, 16, srv, &lcb, b, &err);
	if (!b->lst)
		return err;
	b->cli =
	    bd_tcp_connect(th_tcp(n, 0), &a, 0, &bb, 5001, cli, &ccb, b, &err);
	if (!b->cli)
		return err;
	b->t_start = n->now;
	return 0;
}

bool th_bulk_done(void *arg)
{
	struct th_bulk *b = arg;
	return b->closed_cli && b->closed_srv;
}

bool th_bulk_finish(struct th_bulk *b)
{
	unsigned int l;
	bool ok;
	EVP_DigestFinal_ex(b->ctx_tx, b->sha_tx, &l);
	EVP_DigestFinal_ex(b->ctx_rx, b->sha_rx, &l);
	EVP_MD_CTX_free(b->ctx_tx);
	EVP_MD_CTX_free(b->ctx_rx);
	ok = b->rcvd == b->total && b->sent == b->total &&
	     memcmp(b->sha_tx, b->sha_rx, 32) == 0;
	if (b->cli)
		bd_tcp_close(b->cli);
	if (b->srv)
		bd_tcp_close(b->srv);
	if (b->lst)
		bd_tcp_close(b->lst);
	return ok;
}

void th_deliver(struct th_net *n, int to, struct bd_pkt *p)
{
	struct bd_ip_meta m = {0};
	m.saddr = n->n[1 - to].addr;
	m.daddr = n->n[to].addr;
	bd_tcp_input(&n->n[to].st, p, &m);
}

int th_pump(struct th_net *n, int max_rounds)
{
	int total = 0;
	for (int r = 0; r < max_rounds; r++) {
		int moved = 0;
		th_flush(n);
		for (int i = 0; i < 2; i++) {
			struct bd_pkt *p;
			while ((p = th_pop(n, i))) {
				th_deliver(n, 1 - i, p);
				moved++;
			}
		}
		th_flush(n);
		total += moved;
		if (!moved && !n->n[0].ncap && !n->n[1].ncap)
			break;
	}
	return total;
}

static void est_accept(void *ctx, struct bd_tcp_sock *l)
{
	struct bd_tcp_sock **out = ctx;
	if (!*out)
		*out = bd_tcp_accept(l, NULL, NULL);
}

int th_establish(struct th_net *n, const struct bd_tcp_opts *oa,
		 const struct bd_tcp_opts *ob, struct bd_tcp_sock **a,
		 struct bd_tcp_sock **b, struct bd_tcp_sock **l)
{
	static struct bd_tcp_sock *accepted;
	static const struct bd_tcp_callbacks lcb = {.on_accept = est_accept};
	struct bd_ipaddr aa = n->n[0].addr, ba = n->n[1].addr;
	int err;

	n->n[0].capture = n->n[1].capture = true;
	accepted = NULL;
	*l = bd_tcp_listen(th_tcp(n, 1), &ba, 5000, 8, ob, &lcb, &accepted,
			   &err);
	if (!*l)
		return err;
	*a = bd_tcp_connect(th_tcp(n, 0), &aa, 40000, &ba, 5000, oa, NULL, NULL,
			    &err);
	if (!*a)
		return err;
	th_pump(n, 10);
	*b = accepted;
	if (!*b || bd_tcp_state(*a) != BD_TCP_ESTABLISHED ||
	    bd_tcp_state(*b) != BD_TCP_ESTABLISHED)
		return -1;
	return 0;
}

int th_step(struct th_net *n, int from, struct th_seg *s)
{
	struct bd_pkt *p = th_pop(n, from);
	if (!p)
		return -1;
	th_parse(p, s);
	s->data = NULL;
	th_deliver(n, 1 - from, p);
	return 0;
}

int th_lose(struct th_net *n, int from, struct th_seg *s)
{
	return th_pop_seg(n, from, s);
}

void th_bulk_read(struct th_bulk *b)
{
	if (b->srv)
		srv_readable(b, b->srv);
	if (b->fin_seen && b->srv && bd_tcp_readable(b->srv) == 0 &&
	    bd_tcp_state(b->srv) == BD_TCP_CLOSE_WAIT)
		bd_tcp_shutdown(b->srv);
}
