/* SPDX-License-Identifier: Apache-2.0
 * Braid TCP state machine tests (RFC 9293, 5961, 7323): segments are
 * captured and delivered one by one, or built by hand. */
#include <string.h>

#include "bt.h"
#include "tcp_harness.h"
#include "tcp_impl.h"

#define F_SYN BD_TCP_F_SYN
#define F_ACK BD_TCP_F_ACK
#define F_FIN BD_TCP_F_FIN
#define F_RST BD_TCP_F_RST
#define F_PSH BD_TCP_F_PSH

struct cbrec {
	int connected, readable, writable, peer_fin, closed, accepts;
	int err;
};

static void r_connected(void *c, struct bd_tcp_sock *s)
{
	(void)s;
	((struct cbrec *)c)->connected++;
}
static void r_readable(void *c, struct bd_tcp_sock *s)
{
	(void)s;
	((struct cbrec *)c)->readable++;
}
static void r_writable(void *c, struct bd_tcp_sock *s)
{
	(void)s;
	((struct cbrec *)c)->writable++;
}
static void r_fin(void *c, struct bd_tcp_sock *s)
{
	(void)s;
	((struct cbrec *)c)->peer_fin++;
}
static void r_closed(void *c, struct bd_tcp_sock *s, int err)
{
	(void)s;
	((struct cbrec *)c)->closed++;
	((struct cbrec *)c)->err = err;
}
static void r_accept(void *c, struct bd_tcp_sock *l)
{
	(void)l;
	((struct cbrec *)c)->accepts++;
}

static const struct bd_tcp_callbacks rec_cb = {
    .on_accept = r_accept,
    .on_connected = r_connected,
    .on_readable = r_readable,
    .on_writable = r_writable,
    .on_peer_fin = r_fin,
    .on_closed = r_closed,
};

BT_TEST(tcp_handshake_options_and_states)
{
	struct th_net n;
	struct th_seg s, syn;
	struct cbrec ra = {0}, rl = {0};
	struct bd_tcp_sock *a, *b, *l;
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_info ia, ib;

	th_init(&n, 1, NULL, NULL);
	n.n[0].capture = n.n[1].capture = true;
	l = bd_tcp_listen(th_tcp(&n, 1), &ba, 5000, 4, NULL, &rec_cb, &rl,
			  NULL);
	a = bd_tcp_connect(th_tcp(&n, 0), &aa, 40000, &ba, 5000, NULL, &rec_cb,
			   &ra, NULL);
	BT_ASSERT(l && a);
	BT_EQ(bd_tcp_state(a), BD_TCP_SYN_SENT);
	th_flush(&n);
	BT_ASSERT(th_step(&n, 0, &syn) == 0);
	BT_EQ(syn.flags, F_SYN);
	BT_EQ(syn.mss, 1460);
	BT_EQ(syn.wscale, 3); /* 256 KiB buffer */
	BT_ASSERT(syn.sack_ok && syn.has_ts);
	BT_UEQ(syn.tsecr, 0);
	BT_ASSERT(th_step(&n, 1, &s) == 0);
	BT_EQ(s.flags, F_SYN | F_ACK);
	BT_UEQ(s.ack, syn.seq + 1);
	BT_ASSERT(s.mss == 1460 && s.wscale == 3 && s.sack_ok && s.has_ts);
	BT_UEQ(s.tsecr, syn.tsval);
	BT_EQ(l->synq_len, 1);
	BT_EQ(ra.connected, 1);
	BT_EQ(bd_tcp_state(a), BD_TCP_ESTABLISHED);
	BT_ASSERT(th_step(&n, 0, &s) == 0);
	BT_EQ(s.flags, F_ACK);
	BT_EQ(rl.accepts, 1);
	b = bd_tcp_accept(l, NULL, NULL);
	BT_ASSERT(b);
	BT_ASSERT(!bd_tcp_accept(l, NULL, NULL));
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	bd_tcp_get_info(a, &ia);
	bd_tcp_get_info(b, &ib);
	BT_EQ(ia.options,
	      BD_TCPI_OPT_TIMESTAMPS | BD_TCPI_OPT_SACK | BD_TCPI_OPT_WSCALE);
	BT_EQ(ia.snd_wscale, 3);
	BT_EQ(ib.rcv_wscale, 3);
	BT_EQ(ia.snd_mss, 1448); /* 1460 minus timestamps */
	BT_UEQ(th_mib(&n, 0, "ActiveOpens"), 1);
	BT_UEQ(th_mib(&n, 1, "PassiveOpens"), 1);
	BT_UEQ(th_mib(&n, 1, "CurrEstab"), 1);
	bd_tcp_abort(a);
	bd_tcp_abort(b);
	bd_tcp_close(l);
	th_free(&n);
}

BT_TEST(tcp_handshake_without_options)
{
	struct th_net n;
	struct bd_tcp_config cb;
	struct bd_tcp_sock *a, *b, *l;
	struct bd_tcp_info ia;

	bd_tcp_config_default(&cb);
	cb.wscale = cb.sack = cb.timestamps = false;
	th_init(&n, 2, NULL, &cb);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_get_info(a, &ia);
	BT_EQ(ia.options, 0);
	BT_EQ(ia.rcv_wscale, 0);
	BT_EQ(ia.snd_mss, 1460);
	/* Unscaled windows stay within 16 bits. */
	BT_ASSERT(bd_tcp_send(a, "x", 1) == 1);
	{
		struct th_seg s;
		th_flush(&n);
		BT_ASSERT(th_step(&n, 0, &s) == 0);
		BT_EQ(s.optlen, 0);
		BT_EQ(s.wnd, 65535);
	}
	th_free(&n);
}

BT_TEST(tcp_connect_refused_by_rst)
{
	struct th_net n;
	struct th_seg s;
	struct cbrec ra = {0};
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *a;

	th_init(&n, 3, NULL, NULL);
	n.n[0].capture = n.n[1].capture = true;
	a = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 9, NULL, &rec_cb, &ra,
			   NULL);
	th_flush(&n);
	BT_ASSERT(th_step(&n, 0, &s) == 0);
	BT_ASSERT(th_step(&n, 1, &s) == 0); /* no listener: RST */
	BT_EQ(s.flags, F_RST | F_ACK);
	BT_EQ(bd_tcp_state(a), BD_TCP_CLOSED);
	BT_EQ(ra.closed, 1);
	BT_EQ(ra.err, BD_ECONNREFUSED);
	BT_UEQ(th_mib(&n, 1, "BraidDropNoSocket"), 1);
	BT_UEQ(th_mib(&n, 0, "AttemptFails"), 1);
	bd_tcp_close(a);
	th_free(&n);
}

BT_TEST(tcp_syn_retries_then_timeout)
{
	struct th_net n;
	struct bd_tcp_config c;
	struct cbrec ra = {0};
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *a;
	uint64_t t0;

	bd_tcp_config_default(&c);
	c.syn_retries = 2;
	th_init(&n, 4, &c, NULL);
	n.n[0].capture = true;
	a = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 80, NULL, &rec_cb, &ra,
			   NULL);
	th_flush(&n);
	t0 = n.now;
	BT_EQ(n.n[0].ncap, 1);
	BT_UEQ(bd_tcp_next_deadline(&n.n[0].st), t0 + 1000000);
	th_run_until(&n, t0 + 1000000, NULL, NULL);
	BT_EQ(n.n[0].ncap, 2);
	BT_UEQ(bd_tcp_next_deadline(&n.n[0].st), t0 + 3000000);
	th_run_until(&n, t0 + 3000000, NULL, NULL);
	BT_EQ(n.n[0].ncap, 3);
	th_run_until(&n, t0 + 7000000, NULL, NULL);
	BT_EQ(bd_tcp_state(a), BD_TCP_CLOSED);
	BT_EQ(ra.err, BD_ETIMEDOUT);
	bd_tcp_close(a);
	th_free(&n);
}

BT_TEST(tcp_simultaneous_open)
{
	struct th_net n;
	struct th_seg s1, s2;
	struct cbrec ra = {0}, rb = {0};
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *a, *b;
	struct bd_pkt *pa, *pb;

	th_init(&n, 5, NULL, NULL);
	n.n[0].capture = n.n[1].capture = true;
	a = bd_tcp_connect(th_tcp(&n, 0), &aa, 1000, &ba, 2000, NULL, &rec_cb,
			   &ra, NULL);
	b = bd_tcp_connect(th_tcp(&n, 1), &ba, 2000, &aa, 1000, NULL, &rec_cb,
			   &rb, NULL);
	th_flush(&n);
	pa = th_pop(&n, 0);
	pb = th_pop(&n, 1);
	BT_ASSERT(pa && pb);
	th_deliver(&n, 1, pa);
	th_deliver(&n, 0, pb);
	BT_EQ(bd_tcp_state(a), BD_TCP_SYN_RECEIVED);
	BT_EQ(bd_tcp_state(b), BD_TCP_SYN_RECEIVED);
	BT_ASSERT(th_step(&n, 0, &s1) == 0);
	BT_ASSERT(th_step(&n, 1, &s2) == 0);
	BT_EQ(s1.flags, F_SYN | F_ACK);
	BT_EQ(s2.flags, F_SYN | F_ACK);
	BT_EQ(bd_tcp_state(a), BD_TCP_ESTABLISHED);
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	BT_EQ(ra.connected, 1);
	BT_EQ(rb.connected, 1);
	/* Data flows. */
	BT_ASSERT(bd_tcp_send(a, "hello", 5) == 5);
	th_pump(&n, 10);
	{
		char buf[8];
		BT_EQ(bd_tcp_recv(b, buf, sizeof(buf)), 5);
		BT_ASSERT(memcmp(buf, "hello", 5) == 0);
	}
	bd_tcp_abort(a);
	bd_tcp_abort(b);
	th_free(&n);
}

static void close_both_ways(bool simultaneous)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct cbrec ra = {0}, rb = {0};
	struct bd_tcp_config c;
	struct bd_pkt *pa, *pb;

	bd_tcp_config_default(&c);
	c.time_wait_us = 2000000;
	th_init(&n, 6, &c, &c);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_set_ctx(a, &ra);
	bd_tcp_set_ctx(b, &rb);
	a->cb = rec_cb;
	b->cb = rec_cb;
	if (simultaneous) {
		bd_tcp_shutdown(a);
		bd_tcp_shutdown(b);
		th_flush(&n);
		pa = th_pop(&n, 0);
		pb = th_pop(&n, 1);
		BT_ASSERT(pa && pb);
		th_deliver(&n, 1, pa);
		th_deliver(&n, 0, pb);
		BT_EQ(bd_tcp_state(a), BD_TCP_CLOSING);
		BT_EQ(bd_tcp_state(b), BD_TCP_CLOSING);
		th_pump(&n, 10);
		BT_EQ(bd_tcp_state(a), BD_TCP_TIME_WAIT);
		BT_EQ(bd_tcp_state(b), BD_TCP_TIME_WAIT);
	} else {
		struct th_seg s;
		bd_tcp_shutdown(a);
		th_flush(&n);
		BT_EQ(bd_tcp_state(a), BD_TCP_FIN_WAIT_1);
		BT_ASSERT(th_step(&n, 0, &s) == 0);
		BT_ASSERT(s.flags & F_FIN);
		BT_EQ(bd_tcp_state(b), BD_TCP_CLOSE_WAIT);
		BT_EQ(rb.peer_fin, 1);
		BT_EQ(bd_tcp_recv(b, &s, 1), 0); /* end of stream */
		BT_ASSERT(th_step(&n, 1, &s) == 0);
		BT_EQ(bd_tcp_state(a), BD_TCP_FIN_WAIT_2);
		bd_tcp_shutdown(b);
		th_flush(&n);
		BT_EQ(bd_tcp_state(b), BD_TCP_LAST_ACK);
		th_pump(&n, 10);
		BT_EQ(bd_tcp_state(a), BD_TCP_TIME_WAIT);
		BT_EQ(bd_tcp_state(b), BD_TCP_CLOSED);
		BT_EQ(rb.closed, 1);
		BT_EQ(rb.err, 0);
	}
	BT_EQ(ra.closed, 1);
	BT_EQ(ra.err, 0);
	/* TIME_WAIT lasts time_wait_us. */
	th_run(&n, 1999000, NULL, NULL);
	BT_EQ(bd_tcp_state(a), BD_TCP_TIME_WAIT);
	th_run(&n, 2000, NULL, NULL);
	BT_EQ(bd_tcp_state(a), BD_TCP_CLOSED);
	BT_ASSERT(th_mib(&n, 0, "TW") == 1);
	bd_tcp_close(a);
	bd_tcp_close(b);
	bd_tcp_close(l);
	th_free(&n);
}

BT_TEST(tcp_close_active_passive_time_wait)
{
	close_both_ways(false);
}

BT_TEST(tcp_simultaneous_close)
{
	close_both_ways(true);
}

/* Two TIME-WAIT ends (a simultaneous close, as MPTCP closes its subflows)
 * stay quiet: a bare ACK in sequence gets no answer, and unacceptable pure
 * ACKs get at most one duplicate ACK per 500 ms (they used to answer each
 * other for the whole TIME-WAIT). */
BT_TEST(tcp_time_wait_pair_is_quiet)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct bd_pkt *pa, *pb;
	struct th_seg s;

	th_init(&n, 61, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_shutdown(a);
	bd_tcp_shutdown(b);
	th_flush(&n);
	pa = th_pop(&n, 0);
	pb = th_pop(&n, 1);
	BT_ASSERT(pa && pb);
	th_deliver(&n, 1, pa);
	th_deliver(&n, 0, pb);
	/* Each acknowledges the other's FIN; those ACKs end it. */
	BT_ASSERT(th_pump(&n, 1000) < 10);
	BT_EQ(bd_tcp_state(a), BD_TCP_TIME_WAIT);
	BT_EQ(bd_tcp_state(b), BD_TCP_TIME_WAIT);
	BT_EQ(n.n[0].ncap, 0);
	BT_EQ(n.n[1].ncap, 0);
	/* The peer's bare ACK again: nothing to answer. */
	th_inject(&n, 1, a->lport, 5000, a->snd_nxt, a->rcv_nxt, F_ACK, 1000,
		  NULL, 0, NULL, 0);
	BT_EQ(n.n[1].ncap, 0);
	/* Unacceptable pure ACKs: one duplicate ACK, then silence. */
	for (int i = 0; i < 5; i++)
		th_inject(&n, 1, a->lport, 5000, a->snd_nxt + 100000u,
			  a->rcv_nxt, F_ACK, 1000, NULL, 0, NULL, 0);
	BT_EQ(n.n[1].ncap, 1);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_UEQ(s.ack, b->rcv_nxt);
	BT_UEQ(th_mib(&n, 1, "TCPACKSkippedTimeWait"), 4);
	/* A retransmitted FIN is always acknowledged. */
	th_inject(&n, 1, a->lport, 5000, a->snd_nxt - 1, a->rcv_nxt,
		  F_ACK | F_FIN, 1000, NULL, 0, NULL, 0);
	BT_EQ(n.n[1].ncap, 1);
	th_drop_captured(&n, 1);
	th_set_time(&n, n.now + 600000);
	th_inject(&n, 1, a->lport, 5000, a->snd_nxt + 100000u, a->rcv_nxt,
		  F_ACK, 1000, NULL, 0, NULL, 0);
	BT_EQ(n.n[1].ncap, 1);
	th_drop_captured(&n, 1);
	bd_tcp_close(a);
	bd_tcp_close(b);
	bd_tcp_close(l);
	th_free(&n);
}

/* In a synchronized state too: unacceptable pure ACKs are answered at most
 * once per 500 ms, unacceptable data always. */
BT_TEST(tcp_out_of_window_dupacks_rate_limited)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	uint8_t d[100] = {0};

	th_init(&n, 62, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	for (int i = 0; i < 5; i++)
		th_inject(&n, 1, a->lport, 5000, a->snd_nxt + 10000000u,
			  a->rcv_nxt, F_ACK, 1000, NULL, 0, NULL, 0);
	BT_EQ(n.n[1].ncap, 1);
	BT_UEQ(th_mib(&n, 1, "TCPACKSkippedSeq"), 4);
	th_drop_captured(&n, 1);
	for (int i = 0; i < 3; i++)
		th_inject(&n, 1, a->lport, 5000, a->snd_nxt + 10000000u,
			  a->rcv_nxt, F_ACK, 1000, NULL, 0, d, sizeof(d));
	BT_EQ(n.n[1].ncap, 3);
	th_drop_captured(&n, 1);
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	bd_tcp_close(a);
	bd_tcp_close(b);
	bd_tcp_close(l);
	th_free(&n);
}

BT_TEST(tcp_time_wait_reuse_by_new_syn)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l, *a2;
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct cbrec ra = {0};

	th_init(&n, 7, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	/* The server closes first and ends in TIME_WAIT. */
	bd_tcp_shutdown(b);
	th_pump(&n, 10);
	bd_tcp_close(a);
	th_pump(&n, 10);
	BT_EQ(bd_tcp_state(b), BD_TCP_TIME_WAIT);
	bd_tcp_close(b);
	th_set_time(&n, n.now + 1000000);
	a2 = bd_tcp_connect(th_tcp(&n, 0), &aa, 40000, &ba, 5000, NULL, &rec_cb,
			    &ra, NULL);
	BT_ASSERT(a2);
	th_pump(&n, 10);
	BT_EQ(bd_tcp_state(a2), BD_TCP_ESTABLISHED);
	BT_UEQ(th_mib(&n, 1, "TWRecycled"), 1);
	BT_EQ(l->acceptq_len, 1);
	bd_tcp_close(a2);
	bd_tcp_close(l);
	th_free(&n);
}

BT_TEST(tcp_rst_exact_inwindow_outofwindow)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct cbrec rb = {0};
	struct th_seg s;

	th_init(&n, 8, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	b->cb = rec_cb;
	b->ctx = &rb;
	/* In the window but not exact: challenge ACK (RFC 5961 3.2). */
	th_inject(&n, 1, 40000, 5000, b->rcv_nxt + 100, 0, F_RST, 0, NULL, 0,
		  NULL, 0);
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.flags, F_ACK);
	BT_UEQ(s.ack, b->rcv_nxt);
	BT_UEQ(th_mib(&n, 1, "TCPChallengeACK"), 1);
	/* Out of the window: dropped silently. */
	th_inject(&n, 1, 40000, 5000, b->rcv_nxt + 0x40000000u, 0, F_RST, 0,
		  NULL, 0, NULL, 0);
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	BT_EQ(n.n[1].ncap, 0);
	BT_UEQ(th_mib(&n, 1, "BraidDropRst"), 1);
	/* Exact: reset. */
	th_inject(&n, 1, 40000, 5000, b->rcv_nxt, 0, F_RST, 0, NULL, 0, NULL,
		  0);
	BT_EQ(bd_tcp_state(b), BD_TCP_CLOSED);
	BT_EQ(rb.closed, 1);
	BT_EQ(rb.err, BD_ECONNRESET);
	BT_UEQ(th_mib(&n, 1, "EstabResets"), 1);
	BT_EQ(bd_tcp_recv(b, &s, 1), -BD_ECONNRESET);
	bd_tcp_close(b);
	bd_tcp_abort(a);
	bd_tcp_close(l);
	th_free(&n);
}

BT_TEST(tcp_syn_in_established_challenge_ack_rate_limited)
{
	struct th_net n;
	struct bd_tcp_config c;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;

	bd_tcp_config_default(&c);
	c.challenge_ack_limit = 2;
	th_init(&n, 9, NULL, &c);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	for (int i = 0; i < 5; i++)
		th_inject(&n, 1, 40000, 5000, 12345u + (uint32_t)i * 99991u, 0,
			  F_SYN, 1000, NULL, 0, NULL, 0);
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	BT_EQ(n.n[1].ncap, 2);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.flags, F_ACK);
	BT_UEQ(s.ack, b->rcv_nxt);
	BT_UEQ(th_mib(&n, 1, "TCPSYNChallenge"), 5);
	BT_UEQ(th_mib(&n, 1, "TCPChallengeACK"), 2);
	BT_UEQ(th_mib(&n, 1, "TCPChallengeACKLimit"), 3);
	/* A new second refills the budget. */
	th_set_time(&n, n.now + 1000000);
	th_drop_captured(&n, 1);
	th_inject(&n, 1, 40000, 5000, 5, 0, F_SYN, 1000, NULL, 0, NULL, 0);
	BT_EQ(n.n[1].ncap, 1);
	th_free(&n);
}

BT_TEST(tcp_ack_beyond_snd_nxt_dropped)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;

	th_init(&n, 10, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	th_inject(&n, 1, 40000, 5000, b->rcv_nxt, b->snd_max + 1000, F_ACK,
		  1000, NULL, 0, "zz", 2);
	BT_EQ(bd_tcp_readable(b), 0);
	BT_UEQ(th_mib(&n, 1, "BraidDropBadAck"), 1);
	BT_EQ(n.n[1].ncap, 1); /* challenge ACK */
	th_free(&n);
}

static unsigned ts_opt(uint8_t *o, uint32_t val, uint32_t ecr)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	for (int i = 0; i < 4; i++) {
		o[4 + i] = (uint8_t)(val >> (24 - 8 * i));
		o[8 + i] = (uint8_t)(ecr >> (24 - 8 * i));
	}
	return 12;
}

BT_TEST(tcp_paws_rejects_old_timestamp)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	uint8_t o[12];
	char buf[8];

	th_init(&n, 11, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	ts_opt(o, b->ts_recent - 10, 0);
	th_inject(&n, 1, 40000, 5000, b->rcv_nxt, b->snd_una, F_ACK | F_PSH,
		  1000, o, 12, "old", 3);
	BT_EQ(bd_tcp_readable(b), 0);
	BT_UEQ(th_mib(&n, 1, "PAWSEstab"), 1);
	BT_EQ(n.n[1].ncap, 1); /* a duplicate ACK */
	ts_opt(o, b->ts_recent + 1, 0);
	th_inject(&n, 1, 40000, 5000, b->rcv_nxt, b->snd_una, F_ACK | F_PSH,
		  1000, o, 12, "new", 3);
	BT_EQ(bd_tcp_recv(b, buf, sizeof(buf)), 3);
	BT_ASSERT(memcmp(buf, "new", 3) == 0);
	th_free(&n);
}

BT_TEST(tcp_window_scaling_negotiation)
{
	struct th_net n;
	struct bd_tcp_opts oa = {0}, ob = {0};
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	struct bd_tcp_info ia, ib;

	oa.rcv_buf = 1u << 20;
	ob.rcv_buf = 4u << 20;
	th_init(&n, 12, NULL, NULL);
	BT_ASSERT(th_establish(&n, &oa, &ob, &a, &b, &l) == 0);
	bd_tcp_get_info(a, &ia);
	bd_tcp_get_info(b, &ib);
	BT_EQ(ia.rcv_wscale, 5);
	BT_EQ(ib.snd_wscale, 5);
	BT_EQ(ib.rcv_wscale, 7);
	BT_EQ(ia.snd_wscale, 7);
	/* The SYN-ACK's window is never scaled; the next segment is. */
	BT_UEQ(a->snd_wnd, 65535);
	bd_tcp_send(b, "abc", 3);
	th_flush(&n);
	BT_ASSERT(th_step(&n, 1, &s) == 0);
	BT_EQ(s.wnd, (4u << 20) >> 7);
	BT_UEQ(a->snd_wnd, 4u << 20);
	th_free(&n);
}

static unsigned sack_opt(uint8_t *o, unsigned nb, const uint32_t (*blk)[2])
{
	unsigned k = 0;
	o[k++] = 1;
	o[k++] = 1;
	o[k++] = 5;
	o[k++] = (uint8_t)(2 + 8 * nb);
	for (unsigned i = 0; i < nb; i++)
		for (int j = 0; j < 2; j++)
			for (int q = 0; q < 4; q++)
				o[k++] = (uint8_t)(blk[i][j] >> (24 - 8 * q));
	return k;
}

BT_TEST(tcp_sack_blocks_for_holes_and_dsack)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[3000];
	uint32_t r0;
	char buf[4000];

	for (int i = 0; i < 3000; i++)
		data[i] = (uint8_t)i;
	th_init(&n, 13, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	r0 = b->rcv_nxt;
	th_inject(&n, 1, 40000, 5000, r0 + 1000, b->snd_una, F_ACK, 1000, NULL,
		  0, data + 1000, 500);
	BT_ASSERT(th_lose(&n, 1, &s) == 0); /* immediate duplicate ACK */
	BT_UEQ(s.ack, r0);
	BT_EQ(s.nsack, 1);
	BT_UEQ(s.sack[0][0], r0 + 1000);
	BT_UEQ(s.sack[0][1], r0 + 1500);
	th_inject(&n, 1, 40000, 5000, r0 + 2000, b->snd_una, F_ACK, 1000, NULL,
		  0, data + 2000, 500);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.nsack, 2);
	BT_UEQ(s.sack[0][0], r0 + 2000); /* most recent first */
	BT_UEQ(s.sack[1][0], r0 + 1000);
	/* Fill the first hole: the ACK covers it and the next range. */
	th_inject(&n, 1, 40000, 5000, r0, b->snd_una, F_ACK, 1000, NULL, 0,
		  data, 1000);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_UEQ(s.ack, r0 + 1500);
	BT_EQ(s.nsack, 1);
	BT_UEQ(s.sack[0][0], r0 + 2000);
	th_inject(&n, 1, 40000, 5000, r0 + 1500, b->snd_una, F_ACK, 1000, NULL,
		  0, data + 1500, 500);
	th_flush(&n);
	th_drop_captured(&n, 1);
	BT_EQ(bd_tcp_recv(b, buf, sizeof(buf)), 2500);
	BT_ASSERT(memcmp(buf, data, 2500) == 0);
	/* A duplicate is reported with a D-SACK block (RFC 2883). */
	th_inject(&n, 1, 40000, 5000, r0, b->snd_una, F_ACK, 1000, NULL, 0,
		  data, 100);
	th_flush(&n);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.nsack, 1);
	BT_UEQ(s.sack[0][0], r0);
	BT_UEQ(s.sack[0][1], r0 + 100);
	BT_UEQ(th_mib(&n, 1, "TCPDSACKOldSent"), 1);
	th_free(&n);
}

BT_TEST(tcp_rfc6675_recovery_retransmits_holes)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[20000];
	uint32_t u0, mss, blk[2][2];
	uint8_t o[40];
	unsigned ol;
	int segs = 0;

	memset(data, 7, sizeof(data));
	th_init(&n, 14, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	mss = a->cc.mss;
	u0 = a->snd_una;
	BT_EQ(bd_tcp_send(a, data, 10 * mss), (long)(10 * mss));
	th_flush(&n);
	while (th_lose(&n, 0, &s) == 0)
		segs++;
	BT_EQ(segs, 10); /* initial window 10 */
	/* Segments 2 and 5 are lost: the receiver acks 0-1 and SACKs. */
	blk[0][0] = u0 + 3 * mss;
	blk[0][1] = u0 + 5 * mss;
	ol = sack_opt(o, 1, (const uint32_t(*)[2])blk);
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 2 * mss, F_ACK, 1000, o,
		  ol, NULL, 0);
	blk[0][0] = u0 + 6 * mss;
	blk[0][1] = u0 + 8 * mss;
	blk[1][0] = u0 + 3 * mss;
	blk[1][1] = u0 + 5 * mss;
	ol = sack_opt(o, 2, (const uint32_t(*)[2])blk);
	BT_EQ(n.n[0].ncap, 0); /* 2 segments SACKed: not yet */
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 2 * mss, F_ACK, 1000, o,
		  ol, NULL, 0);
	/* 4 segments SACKed above segment 2: IsLost (RFC 6675 4). */
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	BT_UEQ(th_mib(&n, 0, "TCPSackRecovery"), 1);
	BT_ASSERT(th_lose(&n, 0, &s) == 0);
	BT_UEQ(s.seq, u0 + 2 * mss);
	BT_UEQ(s.len, mss);
	{
		bool saw5 = false;
		while (th_lose(&n, 0, &s) == 0) {
			BT_ASSERT(s.seq != u0 + 3 * mss &&
				  s.seq != u0 + 6 * mss);
			if (s.seq == u0 + 5 * mss)
				saw5 = true;
		}
		BT_ASSERT(saw5);
	}
	/* Cumulative ACK of everything ends recovery. Nothing is in flight:
	 * cwnd = min(ssthresh, max(FlightSize + SMSS, IW)) (RFC 6582 3.2
	 * step 3, no burst of ssthresh at once, never below the initial
	 * window); ssthresh is below 10 segments here. */
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 10 * mss, F_ACK, 1000,
		  NULL, 0, NULL, 0);
	BT_EQ(a->ca_state, BD_TCP_CA_OPEN);
	BT_ASSERT(a->cc.ssthresh < 10 * a->cc.mss);
	BT_UEQ(a->cc.cwnd, a->cc.ssthresh);
	th_free(&n);
}

BT_TEST(tcp_reno_fast_retransmit_without_sack)
{
	struct th_net n;
	struct bd_tcp_config c;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[20000];
	uint32_t u0, mss;

	bd_tcp_config_default(&c);
	c.sack = false;
	memset(data, 1, sizeof(data));
	th_init(&n, 15, &c, &c);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	mss = a->cc.mss;
	u0 = a->snd_una;
	bd_tcp_send(a, data, 10 * mss);
	th_flush(&n);
	th_drop_captured(&n, 0);
	for (int i = 0; i < 4; i++)
		th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + mss, F_ACK, 1000,
			  NULL, 0, NULL, 0);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	BT_UEQ(th_mib(&n, 0, "TCPRenoRecovery"), 1);
	BT_ASSERT(th_lose(&n, 0, &s) == 0);
	BT_UEQ(s.seq, u0 + mss);
	/* Partial ACK (RFC 6582): the next hole goes at once. */
	th_drop_captured(&n, 0);
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 4 * mss, F_ACK, 1000,
		  NULL, 0, NULL, 0);
	BT_ASSERT(th_lose(&n, 0, &s) == 0);
	BT_UEQ(s.seq, u0 + 4 * mss);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	th_free(&n);
}

BT_TEST(tcp_rto_backoff_and_karn)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint64_t t0, r;
	uint32_t srtt;
	struct bd_tcp_config c;

	bd_tcp_config_default(&c);
	c.no_tlp = true; /* the RTO alone */
	th_init(&n, 16, &c, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	/* Give A a real RTT sample: 50 ms. */
	bd_tcp_send(a, "1", 1);
	th_flush(&n);
	th_set_time(&n, n.now + 50000);
	th_step(&n, 0, &s);
	th_run(&n, 100000, NULL, NULL); /* B's delayed ACK */
	th_step(&n, 1, &s);
	BT_ASSERT(a->srtt > 10000);
	srtt = a->srtt;
	r = a->rto;
	BT_ASSERT(r >= 200000); /* rto_min */
	bd_tcp_send(a, "2", 1);
	th_flush(&n);
	t0 = n.now;
	th_drop_captured(&n, 0);
	th_run_until(&n, t0 + r - 1, NULL, NULL);
	BT_EQ(n.n[0].ncap, 0);
	th_run_until(&n, t0 + r, NULL, NULL);
	BT_EQ(n.n[0].ncap, 1);
	BT_UEQ(th_mib(&n, 0, "TCPTimeouts"), 1);
	th_run_until(&n, t0 + 3 * r - 1, NULL, NULL);
	BT_EQ(n.n[0].ncap, 1);
	th_run_until(&n, t0 + 3 * r, NULL, NULL);
	BT_EQ(n.n[0].ncap, 2);
	th_run_until(&n, t0 + 7 * r - 1, NULL, NULL);
	BT_EQ(n.n[0].ncap, 2);
	BT_EQ(a->backoff, 2);
	BT_EQ(a->ca_state, BD_TCP_CA_LOSS);
	/* The retransmission is acknowledged: Karn, no RTT sample. */
	th_drop_captured(&n, 0);
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, a->snd_max, F_ACK, 1000, NULL,
		  0, NULL, 0);
	BT_UEQ(a->srtt, srtt);
	BT_EQ(a->backoff, 0);
	BT_EQ(a->ca_state, BD_TCP_CA_OPEN);
	BT_UEQ(th_mib(&n, 0, "RetransSegs"), 2);
	th_free(&n);
}

BT_TEST(tcp_delayed_ack_timing)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint64_t t0;

	th_init(&n, 17, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_send(a, "x", 1);
	th_flush(&n);
	th_step(&n, 0, &s);
	t0 = n.now;
	BT_EQ(n.n[1].ncap, 0);
	BT_UEQ(bd_tcp_next_deadline(&n.n[1].st), t0 + 40000);
	th_run_until(&n, t0 + 39999, NULL, NULL);
	BT_EQ(n.n[1].ncap, 0);
	th_run_until(&n, t0 + 40000, NULL, NULL);
	BT_EQ(n.n[1].ncap, 1);
	BT_UEQ(th_mib(&n, 1, "DelayedACKs"), 1);
	th_step(&n, 1, &s);
	/* Two segments: ACK at once. */
	{
		uint8_t big[3000] = {0};
		bd_tcp_send(a, big, 2 * a->cc.mss);
		th_flush(&n);
		th_step(&n, 0, &s);
		BT_EQ(n.n[1].ncap, 0);
		th_step(&n, 0, &s);
		BT_EQ(n.n[1].ncap, 1);
	}
	th_free(&n);
}

BT_TEST(tcp_zero_window_probe_and_reopen)
{
	struct th_net n;
	struct bd_tcp_opts ob = {0};
	struct bd_tcp_sock *a, *b, *l;
	static uint8_t data[20000], got[20000];
	uint32_t got_n = 0;
	long r;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	ob.rcv_buf = 4096;
	th_init(&n, 18, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, &ob, &a, &b, &l) == 0);
	BT_EQ(bd_tcp_send(a, data, sizeof(data)), (long)sizeof(data));
	th_pump(&n, 20);
	th_run(&n, 50000, NULL, NULL);
	th_pump(&n, 20);
	BT_EQ(bd_tcp_readable(b), 4096);
	BT_UEQ(a->snd_wnd, 0);
	BT_ASSERT(a->zwp);
	/* Persist timer: probes with backoff, answered with window 0. */
	th_run(&n, 200000, NULL, NULL);
	BT_UEQ(th_mib(&n, 0, "TCPWinProbe"), 1);
	BT_EQ(n.n[0].ncap, 1);
	th_pump(&n, 5);
	th_run(&n, 400000, NULL, NULL);
	BT_UEQ(th_mib(&n, 0, "TCPWinProbe"), 2);
	th_pump(&n, 5);
	BT_EQ(bd_tcp_state(a), BD_TCP_ESTABLISHED);
	/* Reading reopens the window; everything arrives. */
	for (int round = 0; round < 100 && got_n < sizeof(data); round++) {
		while ((r = bd_tcp_recv(b, got + got_n, sizeof(got) - got_n)) >
		       0)
			got_n += (uint32_t)r;
		th_pump(&n, 20);
		th_run(&n, 1000, NULL, NULL);
	}
	BT_UEQ(got_n, sizeof(data));
	BT_ASSERT(memcmp(got, data, sizeof(data)) == 0);
	th_free(&n);
}

BT_TEST(tcp_keepalive_probes_then_timeout)
{
	struct th_net n;
	struct bd_tcp_opts oa = {0};
	struct bd_tcp_sock *a, *b, *l;
	struct cbrec ra = {0};
	struct th_seg s;

	oa.keepalive = true;
	oa.keepalive_idle_us = 1000000;
	oa.keepalive_intvl_us = 100000;
	th_init(&n, 19, NULL, NULL);
	BT_ASSERT(th_establish(&n, &oa, NULL, &a, &b, &l) == 0);
	a->cb = rec_cb;
	a->ctx = &ra;
	bd_tcp_set_keepalive(a, true, 0, 0, 3);
	th_run(&n, 1000000, NULL, NULL);
	BT_UEQ(th_mib(&n, 0, "TCPKeepAlive"), 1);
	/* The probe is answered: the connection stays. */
	BT_ASSERT(th_step(&n, 0, &s) == 0);
	BT_UEQ(s.seq, a->snd_una - 1);
	BT_ASSERT(th_step(&n, 1, &s) == 0);
	BT_UEQ(s.ack, a->snd_una);
	th_run(&n, 500000, NULL, NULL);
	BT_EQ(a->ka_probes_sent, 0);
	/* Now the peer is gone: 3 probes, then ETIMEDOUT. */
	th_run(&n, 1500000, NULL, NULL);
	th_drop_captured(&n, 0);
	th_run(&n, 1000000, NULL, NULL);
	BT_EQ(bd_tcp_state(a), BD_TCP_CLOSED);
	BT_EQ(ra.closed, 1);
	BT_EQ(ra.err, BD_ETIMEDOUT);
	BT_ASSERT(th_mib(&n, 0, "TCPKeepAlive") >= 4);
	th_free(&n);
}

BT_TEST(tcp_nagle_on_and_off)
{
	struct th_net n;
	struct bd_tcp_opts oa = {0};
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;

	oa.nagle = true;
	th_init(&n, 20, NULL, NULL);
	BT_ASSERT(th_establish(&n, &oa, NULL, &a, &b, &l) == 0);
	bd_tcp_send(a, "aaaa", 4);
	th_flush(&n);
	BT_EQ(n.n[0].ncap, 1);
	bd_tcp_send(a, "bbbb", 4);
	bd_tcp_send(a, "cccc", 4);
	th_flush(&n);
	BT_EQ(n.n[0].ncap, 1); /* held while data is unacknowledged */
	th_step(&n, 0, &s);
	th_run(&n, 50000, NULL, NULL); /* delayed ACK */
	th_step(&n, 1, &s);
	BT_EQ(n.n[0].ncap, 1);
	th_lose(&n, 0, &s);
	BT_EQ(s.len, 8); /* coalesced */
	/* Off (the default): every write leaves at once. */
	bd_tcp_set_nagle(a, false);
	bd_tcp_send(a, "d", 1);
	th_flush(&n);
	bd_tcp_send(a, "e", 1);
	th_flush(&n);
	BT_EQ(n.n[0].ncap, 2);
	th_free(&n);
}

BT_TEST(tcp_send_buffer_backpressure)
{
	struct th_net n;
	struct bd_tcp_opts oa = {0};
	struct bd_tcp_sock *a, *b, *l;
	struct cbrec ra = {0};
	static uint8_t data[10000];

	oa.snd_buf = 4096;
	th_init(&n, 21, NULL, NULL);
	BT_ASSERT(th_establish(&n, &oa, NULL, &a, &b, &l) == 0);
	a->cb = rec_cb;
	a->ctx = &ra;
	BT_EQ(bd_tcp_send(a, data, sizeof(data)), 4096);
	BT_EQ(bd_tcp_writable(a), 0);
	BT_EQ(bd_tcp_send(a, data, 10), 0);
	th_pump(&n, 10);
	th_run(&n, 100000, NULL, NULL);
	th_pump(&n, 10);
	BT_EQ(ra.writable, 1);
	BT_EQ(bd_tcp_writable(a), 4096);
	BT_EQ(bd_tcp_readable(b), 4096);
	/* After shutdown nothing more is accepted. */
	bd_tcp_shutdown(a);
	BT_EQ(bd_tcp_send(a, data, 1), -BD_ENOTCONN);
	th_free(&n);
}

BT_TEST(tcp_ephemeral_ports)
{
	struct th_net n;
	struct bd_tcp_config c;
	struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *s1, *s2, *s3;
	uint16_t p1, p2;
	int err = 0;

	bd_tcp_config_default(&c);
	c.eph_lo = 50000;
	c.eph_hi = 50001;
	th_init(&n, 22, &c, NULL);
	s1 = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 80, NULL, NULL, NULL,
			    &err);
	s2 = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 80, NULL, NULL, NULL,
			    &err);
	BT_ASSERT(s1 && s2);
	bd_tcp_get_addrs(s1, NULL, &p1, NULL, NULL);
	bd_tcp_get_addrs(s2, NULL, &p2, NULL, NULL);
	BT_ASSERT(p1 != p2);
	BT_ASSERT(p1 >= 50000 && p1 <= 50001 && p2 >= 50000 && p2 <= 50001);
	s3 = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 80, NULL, NULL, NULL,
			    &err);
	BT_ASSERT(!s3);
	BT_EQ(err, -BD_EADDRNOTAVAIL);
	BT_UEQ(th_mib(&n, 0, "BraidEphemeralExhausted"), 1);
	/* Another destination port may reuse them. */
	s3 = bd_tcp_connect(th_tcp(&n, 0), &aa, 0, &ba, 81, NULL, NULL, NULL,
			    &err);
	BT_ASSERT(s3);
	/* An explicit port in use is refused. */
	bd_tcp_get_addrs(s1, NULL, &p1, NULL, NULL);
	BT_ASSERT(!bd_tcp_connect(th_tcp(&n, 0), &aa, p1, &ba, 80, NULL, NULL,
				  NULL, &err));
	BT_EQ(err, -BD_EADDRINUSE);
	th_free(&n);
}

BT_TEST(tcp_listen_backlog_overflow)
{
	struct th_net n;
	struct bd_ipaddr ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *l;

	th_init(&n, 23, NULL, NULL);
	n.n[1].capture = true;
	l = bd_tcp_listen(th_tcp(&n, 1), &ba, 80, 2, NULL, NULL, NULL, NULL);
	BT_ASSERT(l);
	for (int i = 0; i < 3; i++)
		th_inject(&n, 1, (uint16_t)(1000 + i), 80, 77, 0, F_SYN, 1000,
			  NULL, 0, NULL, 0);
	BT_EQ(l->synq_len, 2);
	BT_EQ(n.n[1].ncap, 2);
	BT_UEQ(th_mib(&n, 1, "ListenOverflows"), 1);
	/* The SYN queue entries die after their SYN-ACK retries. */
	th_run(&n, 200000000, NULL, NULL);
	BT_EQ(l->synq_len, 0);
	/* A second listener on the same port is refused. */
	BT_ASSERT(
	    !bd_tcp_listen(th_tcp(&n, 1), NULL, 80, 2, NULL, NULL, NULL, NULL));
	th_free(&n);
}

BT_TEST(tcp_close_with_unread_data_resets)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;

	th_init(&n, 24, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_send(a, "unread", 6);
	th_pump(&n, 5);
	bd_tcp_close(b);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_ASSERT(s.flags & F_RST);
	BT_UEQ(th_mib(&n, 1, "TCPAbortOnClose"), 1);
	th_free(&n);
}

BT_TEST(tcp_orphan_receiving_data_resets)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;

	th_init(&n, 25, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_close(a); /* FIN; A is an orphan in FIN_WAIT_1 */
	th_pump(&n, 10);
	BT_EQ(bd_tcp_state(b), BD_TCP_CLOSE_WAIT);
	bd_tcp_send(b, "late", 4);
	th_flush(&n);
	BT_ASSERT(th_step(&n, 1, &s) == 0);
	BT_UEQ(th_mib(&n, 0, "TCPAbortOnData"), 1);
	BT_ASSERT(th_step(&n, 0, &s) == 0);
	BT_ASSERT(s.flags & F_RST);
	BT_EQ(bd_tcp_state(b), BD_TCP_CLOSED);
	th_free(&n);
}

BT_TEST(tcp_orphan_fin_wait_2_times_out)
{
	struct th_net n;
	struct bd_tcp_config c;
	struct bd_tcp_sock *a, *b, *l;

	bd_tcp_config_default(&c);
	c.fin_wait2_us = 3000000;
	th_init(&n, 26, &c, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	bd_tcp_close(a);
	th_pump(&n, 10);
	BT_EQ(a->state, BD_TCP_FIN_WAIT_2);
	BT_EQ(th_tcp(&n, 0)->nsocks, 1);
	th_run(&n, 2900000, NULL, NULL);
	BT_EQ(th_tcp(&n, 0)->nsocks, 1);
	th_run(&n, 200000, NULL, NULL);
	BT_EQ(th_tcp(&n, 0)->nsocks, 0); /* gone and freed */
	th_free(&n);
}

BT_TEST(tcp_listener_close_resets_accept_queue)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct cbrec ra = {0};

	th_init(&n, 27, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	a->cb = rec_cb;
	a->ctx = &ra;
	/* A second connection waits in the accept queue. */
	{
		struct bd_ipaddr aa = bd_ip4(TH_A_ADDR), ba = bd_ip4(TH_B_ADDR);
		struct bd_tcp_sock *a2;
		struct cbrec r2 = {0};
		a2 = bd_tcp_connect(th_tcp(&n, 0), &aa, 40001, &ba, 5000, NULL,
				    &rec_cb, &r2, NULL);
		th_pump(&n, 10);
		BT_EQ(l->acceptq_len, 1);
		bd_tcp_close(l);
		th_pump(&n, 10);
		BT_EQ(bd_tcp_state(a2), BD_TCP_CLOSED);
		BT_EQ(r2.err, BD_ECONNRESET);
		bd_tcp_close(a2);
	}
	/* The accepted one lives on. */
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	th_free(&n);
}

BT_TEST(tcp_syn_received_bad_ack_gets_rst)
{
	struct th_net n;
	struct bd_ipaddr ba = bd_ip4(TH_B_ADDR);
	struct bd_tcp_sock *l;
	struct th_seg s;

	th_init(&n, 28, NULL, NULL);
	n.n[1].capture = true;
	l = bd_tcp_listen(th_tcp(&n, 1), &ba, 80, 4, NULL, NULL, NULL, NULL);
	th_inject(&n, 1, 1234, 80, 1000, 0, F_SYN, 1000, NULL, 0, NULL, 0);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.flags, F_SYN | F_ACK);
	/* An ACK that does not acknowledge our SYN. */
	th_inject(&n, 1, 1234, 80, 1001, s.seq + 77, F_ACK, 1000, NULL, 0, NULL,
		  0);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.flags, F_RST);
	BT_EQ(l->synq_len, 1);
	BT_EQ(l->acceptq_len, 0);
	/* A bare ACK to the listener: RST too. */
	th_inject(&n, 1, 1235, 80, 5, 6, F_ACK, 1000, NULL, 0, NULL, 0);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.flags, F_RST);
	BT_UEQ(s.seq, 6);
	th_free(&n);
}

BT_TEST(tcp_out_of_order_fin_waits_for_the_hole)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct cbrec rb = {0};
	uint32_t r0;
	char buf[16];

	th_init(&n, 29, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	b->cb = rec_cb;
	b->ctx = &rb;
	r0 = b->rcv_nxt;
	th_inject(&n, 1, 40000, 5000, r0 + 5, b->snd_una, F_ACK | F_FIN, 1000,
		  NULL, 0, "world", 5);
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	BT_EQ(rb.peer_fin, 0);
	th_inject(&n, 1, 40000, 5000, r0, b->snd_una, F_ACK, 1000, NULL, 0,
		  "hello", 5);
	BT_EQ(bd_tcp_state(b), BD_TCP_CLOSE_WAIT);
	BT_EQ(rb.peer_fin, 1);
	BT_EQ(bd_tcp_recv(b, buf, sizeof(buf)), 10);
	BT_ASSERT(memcmp(buf, "helloworld", 10) == 0);
	BT_EQ(bd_tcp_recv(b, buf, sizeof(buf)), 0);
	th_free(&n);
}

BT_TEST(tcp_isn_rfc6528_keyed_and_clocked)
{
	struct th_net n;
	struct bd_ipaddr a = bd_ip4(TH_A_ADDR), b = bd_ip4(TH_B_ADDR);
	uint32_t i1, i2, i3, i4;

	th_init(&n, 60, NULL, NULL);
	i1 = tcp_isn(th_tcp(&n, 0), &a, 1000, &b, 80);
	i2 = tcp_isn(th_tcp(&n, 0), &a, 1001, &b, 80);
	i3 = tcp_isn(th_tcp(&n, 1), &a, 1000, &b, 80); /* other secret */
	BT_ASSERT(i1 != i2 && i1 != i3);
	/* Same 4-tuple later: advanced by the 4 us clock. */
	th_set_time(&n, n.now + 4000);
	i4 = tcp_isn(th_tcp(&n, 0), &a, 1000, &b, 80);
	BT_UEQ(i4 - i1, 1000);
	th_free(&n);
}

BT_TEST(tcp_info_after_transfer)
{
	struct th_net n;
	struct th_bulk b;
	struct bd_tcp_info ci, si;

	th_init(&n, 61, NULL, NULL);
	n.rate_bps = 50000000;
	n.delay_us = 5000;
	BT_ASSERT(th_bulk_start(&b, &n, 1u << 20, NULL, NULL) == 0);
	th_run(&n, 60000000, th_bulk_done, &b);
	bd_tcp_get_info(b.cli, &ci);
	bd_tcp_get_info(b.srv, &si);
	BT_UEQ(ci.bytes_acked, 1u << 20);
	BT_UEQ(si.bytes_received, 1u << 20);
	BT_ASSERT(ci.bytes_sent >= 1u << 20);
	BT_ASSERT(ci.data_segs_out >= (1u << 20) / 1448);
	BT_UEQ(si.data_segs_in, ci.data_segs_out);
	BT_ASSERT(ci.rtt >= 10000 && ci.rtt < 40000);
	BT_ASSERT(ci.min_rtt >= 10000);
	BT_ASSERT(ci.delivery_rate > 1000000 && ci.delivery_rate < 7000000);
	BT_EQ(ci.state, BD_TCP_TIME_WAIT);
	BT_EQ(si.state, BD_TCP_CLOSED);
	BT_ASSERT(strcmp(ci.cc, "cubic") == 0);
	BT_ASSERT(th_bulk_finish(&b));
	/* Idle stack: the only timer is TIME_WAIT. */
	BT_ASSERT(bd_tcp_next_deadline(&n.n[1].st) == UINT64_MAX);
	BT_ASSERT(bd_tcp_next_deadline(&n.n[0].st) != UINT64_MAX);
	th_free(&n);
}

BT_TEST(tcp_tail_loss_probe)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[6000] = {0};
	uint64_t t0;

	th_init(&n, 62, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	a->srtt = 10000; /* as if measured: 10 ms */
	/* Four segments; the last one is lost. */
	bd_tcp_send(a, data, 4 * a->cc.mss);
	th_flush(&n);
	t0 = n.now;
	for (int i = 0; i < 3; i++)
		th_step(&n, 0, &s);
	th_lose(&n, 0, &s);
	th_run(&n, 50000, NULL, NULL); /* B's delayed ACK */
	while (th_step(&n, 1, &s) == 0)
		;
	BT_UEQ(a->snd_una, a->snd_max - a->cc.mss);
	/* No RTO (200 ms): a probe after 2 SRTT resends the tail. */
	th_run_until(&n, t0 + 200000, NULL, NULL);
	BT_UEQ(th_mib(&n, 0, "TCPLossProbes"), 1);
	BT_UEQ(th_mib(&n, 0, "TCPTimeouts"), 0);
	BT_ASSERT(th_step(&n, 0, &s) == 0);
	BT_UEQ(s.seq, a->snd_max - a->cc.mss);
	th_run(&n, 50000, NULL, NULL);
	th_pump(&n, 5);
	BT_UEQ(a->snd_una, a->snd_max);
	BT_EQ(bd_tcp_readable(b), 4 * a->cc.mss);
	th_free(&n);
}

/* bd_tcp_recv_inplace(): the bytes where they lie in the receive buffer,
 * across the ring's end in two spans, consumed as bd_tcp_recv() does (the
 * window reopens: the rest of the data comes in). */
struct inplace_got {
	uint8_t out[12000];
	size_t len;
	unsigned spans;
};

static void inplace_take(void *ctx, const uint8_t *p, size_t n)
{
	struct inplace_got *g = ctx;
	memcpy(g->out + g->len, p, n);
	g->len += n;
	g->spans++;
}

BT_TEST(tcp_recv_inplace_spans_the_ring)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct bd_tcp_opts ob = {0};
	static struct inplace_got g;
	uint8_t data[12000], buf[3000];
	long r;
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + (i >> 8));
	memset(&g, 0, sizeof(g));
	th_init(&n, 41, NULL, NULL);
	ob.rcv_buf = 4096;
	BT_ASSERT(th_establish(&n, NULL, &ob, &a, &b, &l) == 0);
	BT_UEQ(b->rbuf.cap, 4096);
	BT_EQ(bd_tcp_recv_inplace(b, 100, inplace_take, &g), -BD_EAGAIN);
	/* 3000 bytes in and read: the ring's head moves to 3000. */
	BT_EQ(bd_tcp_send(a, data, 3000), 3000);
	th_flush(&n);
	th_pump(&n, 20);
	BT_EQ(bd_tcp_recv(b, buf, sizeof(buf)), 3000);
	BT_ASSERT(memcmp(buf, data, 3000) == 0);
	/* 9000 more: 4096 at most fit, from 3000 across the end. */
	BT_EQ(bd_tcp_send(a, data + 3000, 9000), 9000);
	th_flush(&n);
	th_pump(&n, 20);
	BT_ASSERT(bd_tcp_readable(b) > 1096);
	r = bd_tcp_recv_inplace(b, sizeof(g.out), inplace_take, &g);
	BT_ASSERT(r > 1096);
	BT_EQ(g.spans, 2);
	/* Consumed: the window update lets the rest come. */
	BT_UEQ(bd_tcp_readable(b), 0);
	while (g.len < 9000) {
		th_flush(&n);
		if (th_pump(&n, 20) == 0 && bd_tcp_readable(b) == 0)
			break;
		r = bd_tcp_recv_inplace(b, sizeof(g.out) - g.len, inplace_take,
					&g);
		BT_ASSERT(r > 0 || r == -BD_EAGAIN);
	}
	BT_UEQ(g.len, 9000);
	BT_ASSERT(memcmp(g.out, data + 3000, 9000) == 0);
	/* The end of the stream reads as bd_tcp_recv() says it. */
	BT_EQ(bd_tcp_shutdown(a), 0);
	th_flush(&n);
	th_pump(&n, 20);
	BT_EQ(bd_tcp_recv_inplace(b, 100, inplace_take, &g), 0);
	th_free(&n);
}

/* bd_tcp_send_inplace(): the writer fills the send buffer's free space in
 * order, across the ring's end in two spans, and the peer reads exactly
 * those bytes. */
struct inplace_put {
	const uint8_t *src;
	size_t off;
	unsigned spans;
};

static void inplace_give(void *ctx, uint8_t *p, size_t n)
{
	struct inplace_put *g = ctx;
	memcpy(p, g->src + g->off, n);
	g->off += n;
	g->spans++;
}

BT_TEST(tcp_send_inplace_spans_the_ring)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct bd_tcp_opts oa = {0};
	static uint8_t data[12000], got[12000];
	struct inplace_put g = {data, 0, 0};
	size_t have = 0;
	long r, room;
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + (i >> 7));
	th_init(&n, 43, NULL, NULL);
	oa.snd_buf = 4096;
	BT_ASSERT(th_establish(&n, &oa, NULL, &a, &b, &l) == 0);
	BT_UEQ(a->sbuf.cap, 4096);
	/* 3000 bytes sent and acknowledged: the ring's head moves to 3000. */
	BT_EQ(bd_tcp_send_inplace(a, 3000, inplace_give, &g), 3000);
	BT_EQ(g.spans, 1);
	for (unsigned i = 0; i < 20 && have < 3000; i++) {
		th_flush(&n);
		th_pump(&n, 20);
		r = bd_tcp_recv(b, got + have, sizeof(got) - have);
		if (r > 0)
			have += (size_t)r;
	}
	BT_UEQ(have, 3000);
	/* What is still unacknowledged ends at 3000: the free space wraps,
	 * 1096 bytes at the end and the rest from the start. */
	BT_ASSERT(a->sbuf.len < 3000);
	room = 4096 - (long)a->sbuf.len;
	g.spans = 0;
	BT_EQ(bd_tcp_send_inplace(a, 9000, inplace_give, &g), room);
	BT_EQ(g.spans, 2);
	BT_EQ(bd_tcp_send_inplace(a, 9000, inplace_give, &g), 0);
	while (have < 12000) {
		th_flush(&n);
		if (th_pump(&n, 20) == 0 && bd_tcp_readable(b) == 0 &&
		    g.off == 12000)
			break;
		r = bd_tcp_recv(b, got + have, sizeof(got) - have);
		BT_ASSERT(r > 0 || r == -BD_EAGAIN);
		if (r > 0)
			have += (size_t)r;
		if (g.off < 12000) {
			r = bd_tcp_send_inplace(a, 12000 - g.off, inplace_give,
						&g);
			BT_ASSERT(r >= 0);
		}
	}
	BT_UEQ(have, 12000);
	BT_ASSERT(memcmp(got, data, 12000) == 0);
	th_free(&n);
}
