/* SPDX-License-Identifier: Apache-2.0
 * The adaptation layer: a toy upper layer exercises every hook (options in
 * SYN, SYN-ACK and every segment, unknown options delivered with the
 * segment, subflow events, data taken with its sequence numbers, SYN
 * admission on a listener). */
#include <string.h>

#include "bt.h"
#include "tcp_harness.h"
#include "tcp_impl.h"

struct toy {
	int wrote_syn, wrote_synack, wrote_other;
	int seen_syn, seen_synack, seen_other, seen_bad;
	int ev[4];
	uint32_t acked_to;
	uint32_t next_seq; /* expected seq of the next data chunk */
	bool seq_ok;
	uint64_t taken;
	uint8_t last_byte;
	bool take_half;
	int syn_rcv_calls;
	bool refuse;
	struct toy *child_ctx;
	int releases, wrote_rst;
	uint32_t limit, wnd_clamp;
};

static unsigned toy_write(void *u, struct bd_tcp_sock *s,
			  const struct bd_tcp_seg_desc *seg, uint8_t *opt,
			  unsigned space)
{
	struct toy *t = u;
	(void)s;
	if (space < 4)
		return 0;
	if ((seg->flags & BD_TCP_F_SYN) && (seg->flags & BD_TCP_F_ACK))
		t->wrote_synack++;
	else if (seg->flags & BD_TCP_F_SYN)
		t->wrote_syn++;
	else if (seg->flags & BD_TCP_F_RST)
		t->wrote_rst++;
	else
		t->wrote_other++;
	opt[0] = 30;
	opt[1] = 4;
	opt[2] = 0x5a;
	opt[3] = (uint8_t)seg->seq;
	return 4;
}

static void toy_rcv_opt(void *u, struct bd_tcp_sock *s,
			const struct bd_tcp_seg_desc *seg, const uint8_t *opt,
			unsigned len)
{
	struct toy *t = u;
	(void)s;
	if (opt[0] != 30 || len != 4 || opt[2] != 0x5a ||
	    opt[3] != (uint8_t)seg->seq) {
		t->seen_bad++;
		return;
	}
	if ((seg->flags & BD_TCP_F_SYN) && (seg->flags & BD_TCP_F_ACK))
		t->seen_synack++;
	else if (seg->flags & BD_TCP_F_SYN)
		t->seen_syn++;
	else
		t->seen_other++;
}

static void toy_event(void *u, struct bd_tcp_sock *s, int ev, uint32_t arg)
{
	struct toy *t = u;
	(void)s;
	if (ev >= 0 && ev < 4)
		t->ev[ev]++;
	if (ev == BD_TCP_ULP_ACKED)
		t->acked_to = arg;
}

static size_t toy_rcv_data(void *u, struct bd_tcp_sock *s, uint32_t seq,
			   const uint8_t *data, size_t len)
{
	struct toy *t = u;
	(void)s;
	if (!t->next_seq)
		t->next_seq = seq;
	if (seq != t->next_seq)
		t->seq_ok = false;
	if (t->take_half && len > 1)
		len /= 2;
	t->next_seq = seq + (uint32_t)len;
	t->taken += len;
	t->last_byte = data[len - 1];
	return len;
}

static int toy_syn_rcv(void *u, struct bd_tcp_sock *l, struct bd_tcp_sock *c,
		       const struct bd_tcp_seg_desc *seg, const uint8_t *opts,
		       unsigned optlen, void **child)
{
	struct toy *t = u;
	bool has30 = false;
	(void)l;
	(void)c;
	(void)seg;
	for (unsigned i = 0; i + 1 < optlen;) {
		if (opts[i] == 0)
			break;
		if (opts[i] == 1) {
			i++;
			continue;
		}
		if (opts[i] == 30)
			has30 = true;
		i += opts[i + 1] ? opts[i + 1] : 1;
	}
	t->syn_rcv_calls++;
	if (t->refuse || !has30)
		return -BD_ECONNREFUSED;
	*child = t->child_ctx;
	return 0;
}

static uint32_t toy_seg_limit(void *u, struct bd_tcp_sock *s, uint32_t seq,
			      uint32_t len)
{
	struct toy *t = u;
	(void)s;
	(void)seq;
	return t->limit ? t->limit : len;
}

static uint32_t toy_rcv_wnd(void *u, struct bd_tcp_sock *s, uint32_t wnd)
{
	struct toy *t = u;
	(void)s;
	return t->wnd_clamp && t->wnd_clamp < wnd ? t->wnd_clamp : wnd;
}

static void toy_release(void *u, struct bd_tcp_sock *s)
{
	struct toy *t = u;
	(void)s;
	t->releases++;
}

static const struct bd_tcp_ulp_ops toy_ops = {
    .name = "toy",
    .data_opt_reserve = 4,
    .write_opts = toy_write,
    .rcv_opt = toy_rcv_opt,
    .event = toy_event,
    .rcv_data = toy_rcv_data,
    .syn_rcv = toy_syn_rcv,
    .seg_limit = toy_seg_limit,
    .rcv_wnd = toy_rcv_wnd,
    .release = toy_release,
};

BT_TEST(tcp_ulp_every_hook)
{
	struct th_net n;
	struct toy tc = {0}, tl = {0}, tchild = {0};
	struct bd_tcp_opts oa = {0}, ob = {0};
	struct bd_tcp_sock *a, *b, *l;
	static uint8_t data[20000];
	uint32_t a_seq0, b_seq0;
	struct th_seg s;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i % 251);
	tc.seq_ok = tchild.seq_ok = true;
	tl.child_ctx = &tchild;
	oa.ulp = &toy_ops;
	oa.ulp_ctx = &tc;
	ob.ulp = &toy_ops;
	ob.ulp_ctx = &tl;
	th_init(&n, 50, NULL, NULL);
	BT_ASSERT(th_establish(&n, &oa, &ob, &a, &b, &l) == 0);
	BT_ASSERT(bd_tcp_get_ulp_ctx(b) == &tchild);
	BT_EQ(tl.syn_rcv_calls, 1);
	BT_EQ(tc.wrote_syn, 1);
	BT_EQ(tchild.wrote_synack, 1);
	BT_EQ(tchild.seen_syn, 1);   /* the SYN's option, to the child */
	BT_EQ(tc.seen_synack, 1);    /* and the SYN-ACK's */
	BT_EQ(tchild.seen_other, 1); /* the third ACK */
	BT_EQ(tc.ev[BD_TCP_ULP_ESTABLISHED], 1);
	BT_EQ(tchild.ev[BD_TCP_ULP_ESTABLISHED], 1);

	/* Data A -> B: taken by the upper layer with its sequence. */
	a_seq0 = bd_tcp_snd_seq(a);
	b_seq0 = bd_tcp_rcv_seq(b);
	BT_UEQ(a_seq0, b_seq0);
	BT_EQ(bd_tcp_send(a, data, sizeof(data)), (long)sizeof(data));
	th_flush(&n);
	BT_ASSERT(th_step(&n, 0, &s) == 0);
	BT_UEQ(s.len, a->snd_mss - 12 - 4); /* room kept for the option */
	th_pump(&n, 50);
	th_run(&n, 100000, NULL, NULL);
	th_pump(&n, 50);
	BT_UEQ(tchild.taken, sizeof(data));
	BT_ASSERT(tchild.seq_ok);
	BT_UEQ(tchild.next_seq, a_seq0 + sizeof(data));
	BT_EQ(tchild.last_byte, data[sizeof(data) - 1]);
	BT_EQ(bd_tcp_readable(b), 0);
	BT_UEQ(tc.acked_to, a_seq0 + sizeof(data));
	BT_ASSERT(tc.ev[BD_TCP_ULP_ACKED] > 0);
	BT_ASSERT(tchild.seen_other > 5 && tc.seen_other > 0);
	BT_ASSERT(tc.wrote_other > 5 && tchild.wrote_other > 0);
	BT_EQ(tc.seen_bad + tchild.seen_bad, 0);

	/* An upper layer that takes only part leaves the rest readable. */
	tchild.take_half = true;
	bd_tcp_send(a, data, 1000);
	th_pump(&n, 10);
	BT_EQ(bd_tcp_readable(b), 500);
	BT_UEQ(bd_tcp_rcv_seq(b), a_seq0 + sizeof(data) + 500);

	/* A pure ACK on demand carries the option too. */
	th_drop_captured(&n, 1);
	BT_EQ(bd_tcp_ulp_send_ack(b), 0);
	BT_ASSERT(th_step(&n, 1, &s) == 0);
	BT_EQ(s.optlen, 16);
	/* Segment limit: no payload larger than the upper layer allows. */
	tc.limit = 700;
	bd_tcp_send(a, data, 3000);
	th_flush(&n);
	{
		int segs = 0;
		while (th_step(&n, 0, &s) == 0) {
			BT_ASSERT(s.len <= 700);
			segs++;
		}
		BT_EQ(segs, 5);
	}
	th_pump(&n, 10);
	/* Window clamp: B's right edge stops moving (it never moves left,
	 * and rcv_nxt + 5000 stays below it). */
	{
		uint32_t edge0;
		th_run(&n, 100000, NULL, NULL);
		th_pump(&n, 10);
		edge0 = b->rcv_adv;
		tchild.wnd_clamp = 5000;
		tc.limit = 0;
		bd_tcp_send(a, data, 20000);
		th_pump(&n, 10);
		th_run(&n, 100000, NULL, NULL);
		th_pump(&n, 10);
		BT_UEQ(b->rcv_adv, edge0);
		tchild.wnd_clamp = 0;
		bd_tcp_send(a, data, 3000);
		th_pump(&n, 10);
		th_run(&n, 100000, NULL, NULL);
		th_pump(&n, 10);
		BT_ASSERT(SEQ_GT(b->rcv_adv, edge0));
	}
	/* Queued bytes that never went out can be taken back, from snd_max
	 * on only; the rest goes as usual. */
	{
		uint32_t from = bd_tcp_snd_seq(a);
		BT_UEQ(from, a->snd_max);
		BT_EQ(bd_tcp_send(a, data, 3000), 3000);
		BT_EQ(bd_tcp_ulp_unqueue(a, from - 1), -BD_EINVAL);
		BT_EQ(bd_tcp_ulp_unqueue(a, from + 3001), -BD_EINVAL);
		BT_EQ(bd_tcp_ulp_unqueue(a, from + 1000), 2000);
		BT_UEQ(bd_tcp_snd_seq(a), from + 1000);
		th_pump(&n, 10);
		th_run(&n, 100000, NULL, NULL);
		th_pump(&n, 10);
		BT_UEQ(a->snd_max, from + 1000);
		BT_UEQ(a->snd_una, from + 1000);
	}
	/* FIN and close events; the RST carries the option too. */
	bd_tcp_shutdown(a);
	BT_EQ(bd_tcp_ulp_unqueue(a, a->snd_max), -BD_EINVAL);
	th_pump(&n, 10);
	BT_EQ(tchild.ev[BD_TCP_ULP_PEER_FIN], 1);
	bd_tcp_abort(b);
	BT_EQ(tchild.wrote_rst, 1);
	th_pump(&n, 10);
	BT_EQ(tchild.ev[BD_TCP_ULP_CLOSED], 1);
	BT_EQ(tc.ev[BD_TCP_ULP_CLOSED], 1);
	BT_EQ(tc.seen_bad + tchild.seen_bad, 0);
	/* release: once per socket when TCP frees it. */
	BT_EQ(tchild.releases, 1); /* freed at the end of the input batch */
	th_free(&n);
	BT_EQ(tc.releases, 1);
	BT_EQ(tl.releases, 1); /* the listener */
}

BT_TEST(tcp_ulp_listener_refuses_syn)
{
	struct th_net n;
	struct toy tl = {0};
	struct bd_tcp_opts ob = {0};
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *a, *l;
	struct th_seg s;

	tl.refuse = true;
	ob.ulp = &toy_ops;
	ob.ulp_ctx = &tl;
	th_init(&n, 51, NULL, NULL);
	n.n[0].capture = n.n[1].capture = true;
	l = bd_tcp_listen(th_tcp(&n, 1), &ba, 5000, 4, &ob, NULL, NULL, NULL);
	a = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 5000, NULL, NULL, NULL,
			   NULL);
	BT_ASSERT(l && a);
	th_flush(&n);
	th_step(&n, 0, &s);
	BT_EQ(tl.syn_rcv_calls, 1);
	BT_EQ(l->synq_len, 0);
	BT_UEQ(th_mib(&n, 1, "BraidDropUlp"), 1);
	BT_ASSERT(th_step(&n, 1, &s) == 0);
	BT_ASSERT(s.flags & BD_TCP_F_RST);
	BT_EQ(bd_tcp_state(a), BD_TCP_CLOSED);
	th_free(&n);
	BT_EQ(tl.releases, 1); /* the refused child was never bound */
}
