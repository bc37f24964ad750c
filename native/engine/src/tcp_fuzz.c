/* SPDX-License-Identifier: Apache-2.0
 * Fuzzing entry point for TCP input: a fresh stack with a listener and an
 * established connection, fed one (or two) arbitrary segments. */
#include <stdlib.h>
#include <string.h>

#include "braid/csum.h"
#include "stack_impl.h"
#include "tcp_impl.h"

struct fuzz_ctx {
	uint32_t last_seq, last_ack;
	uint32_t nout;
};

static int fuzz_out(void *ctx, struct bd_pkt *p, const struct bd_ipaddr *sa,
		    const struct bd_ipaddr *da, uint8_t proto, uint8_t tos)
{
	struct fuzz_ctx *f = ctx;
	(void)sa;
	(void)da;
	(void)proto;
	(void)tos;
	if (p->len >= 20) {
		const uint8_t *h = p->data;
		f->last_seq = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 |
			      (uint32_t)h[6] << 8 | h[7];
		f->last_ack = (uint32_t)h[8] << 24 | (uint32_t)h[9] << 16 |
			      (uint32_t)h[10] << 8 | h[11];
	}
	f->nout++;
	bd_pkt_free(p);
	return 0;
}

static void feed(struct bd_stack *st, const uint8_t *b, size_t len,
		 bool csum_ok)
{
	struct bd_pkt *p = bd_pkt_alloc(st->pool);
	struct bd_ip_meta m;
	uint8_t *d;

	if (!p)
		return;
	if (len > p->buf_len - BD_PKT_HEADROOM)
		len = p->buf_len - BD_PKT_HEADROOM;
	d = bd_pkt_append(p, (uint32_t)len);
	if (!d) {
		bd_pkt_free(p);
		return;
	}
	memcpy(d, b, len);
	memset(&m, 0, sizeof(m));
	m.saddr = bd_ip4(0x0a000002);
	m.daddr = bd_ip4(0x0a000001);
	if (csum_ok)
		p->flags |= BD_PKT_F_L4_CSUM_OK;
	bd_tcp_input(st, p, &m);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void hdr(uint8_t *h, uint16_t sp, uint16_t dp, uint32_t seq,
		uint32_t ack, uint8_t doff, uint8_t flags)
{
	memset(h, 0, 20);
	h[0] = (uint8_t)(sp >> 8);
	h[1] = (uint8_t)sp;
	h[2] = (uint8_t)(dp >> 8);
	h[3] = (uint8_t)dp;
	put32(h + 4, seq);
	put32(h + 8, ack);
	h[12] = (uint8_t)((doff / 4) << 4);
	h[13] = flags;
	h[14] = 0xff;
	h[15] = 0xff;
}

static void accept_cb(void *ctx, struct bd_tcp_sock *l)
{
	struct bd_tcp_sock **out = ctx;
	*out = bd_tcp_accept(l, NULL, NULL);
}

int bd_tcp_fuzz_one(const uint8_t *data, size_t len)
{
	struct bd_stack *st = calloc(1, sizeof(*st));
	struct fuzz_ctx f = {0};
	struct bd_tcp_sock *l, *c = NULL;
	struct bd_tcp_callbacks lcb = {.on_accept = accept_cb};
	struct bd_ipaddr la = bd_ip4(0x0a000001);
	uint8_t syn[40], buf[2048];
	uint8_t mode;
	uint32_t peer_isn = 1000;

	if (!st)
		return 0;
	bd_stack_seed(st, 1);
	st->pool = bd_pktpool_heap_create(512, 2048);
	st->now_us = 1000000;
	st->l4_out_hook = fuzz_out;
	st->l4_out_ctx = &f;
	st->tcp = bd_tcp_stack_create(st, NULL);
	l = bd_tcp_listen(st->tcp, &la, 80, 4, NULL, &lcb, &c, NULL);

	/* Handshake 10.0.0.2:40000 -> 10.0.0.1:80 with every option. */
	hdr(syn, 40000, 80, peer_isn, 0, 40, BD_TCP_F_SYN);
	{
		static const uint8_t o[20] = {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0,
					      0, 1, 0, 0,    0, 0, 1, 3,  3, 7};
		memcpy(syn + 20, o, 20);
	}
	feed(st, syn, 40, true);
	hdr(syn, 40000, 80, peer_isn + 1, f.last_seq + 1, 20, BD_TCP_F_ACK);
	feed(st, syn, 20, true);
	bd_tcp_flush(st);

	if (len) {
		mode = data[0];
		data++;
		len--;
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, data, len);
		if ((mode & 2) && len >= 20 && c) {
			/* Aim at the established connection. */
			buf[0] = 40000 >> 8;
			buf[1] = 40000 & 0xff;
			buf[2] = 0;
			buf[3] = 80;
			if (mode & 4) {
				put32(buf + 4,
				      c->rcv_nxt + (uint32_t)(int8_t)buf[4]);
				put32(buf + 8,
				      c->snd_una + (uint32_t)(int8_t)buf[8]);
			}
		} else if ((mode & 8) && len >= 4) {
			/* Aim at the listener from another port. */
			buf[2] = 0;
			buf[3] = 80;
		}
		if (c && (mode & 16))
			bd_tcp_send(c, data, len < 3000 ? len : 3000);
		bd_tcp_flush(st);
		if (mode & 32) {
			size_t half = len / 2;
			feed(st, buf, half, !(mode & 1));
			feed(st, buf + half, len - half, !(mode & 1));
		} else {
			feed(st, buf, len, !(mode & 1));
		}
		bd_tcp_flush(st);
		if (c && (mode & 64)) {
			char rb[512];
			while (bd_tcp_recv(c, rb, sizeof(rb)) > 0)
				;
			bd_tcp_shutdown(c);
			bd_tcp_flush(st);
		}
		for (int i = 0; i < 4; i++) {
			uint64_t d = bd_tcp_next_deadline(st);
			if (d == UINT64_MAX)
				break;
			st->now_us = d > st->now_us ? d : st->now_us + 1;
			bd_tcp_timers(st);
			bd_tcp_flush(st);
		}
		if (c && (mode & 128))
			bd_tcp_abort(c);
	}
	bd_tcp_stack_destroy(st->tcp);
	bd_pktpool_destroy(st->pool);
	free(st);
	(void)l;
	return 0;
}
