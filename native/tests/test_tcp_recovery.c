/* SPDX-License-Identifier: Apache-2.0
 * Loss recovery after a burst of drop-tail losses (slow start overshooting
 * a one-BDP queue drops hundreds of segments in one window): the SACK
 * scoreboard and the receiver's out-of-order queue hold every hole, RFC
 * 6675 recovery repairs them without an RTO, and goodput stays near the
 * link rate. Simulated transfers are hashed end to end. Unit checks cover
 * the range sets past their initial size, NextSeg rule 3 (never beyond the
 * highest SACKed byte), the FIN retransmitted in recovery, the order of
 * SACK blocks sent, and HyStart++ in front of a deep queue. */
#include <stdio.h>
#include <string.h>

#include "braid/scenario.h"
#include "bt.h"
#include "tcp_harness.h"
#include "tcp_impl.h"

#define F_ACK BD_TCP_F_ACK
#define F_FIN BD_TCP_F_FIN

/* One path, rate_mbps, rtt_ms, a drop-tail queue of one BDP. */
static void burst_path(struct bd_scenario *sc, uint64_t mbps, double rtt_ms,
		       const char *cc, uint64_t bytes)
{
	uint64_t bdp =
	    mbps * 1000000ull / 8 * (uint64_t)(rtt_ms * 1000) / 1000000ull;
	bd_scenario_default(sc);
	sc->seed = 1;
	sc->path[0].rate_bps = mbps * 1000000ull;
	sc->path[0].delay_ns = (uint64_t)(rtt_ms * 1e6 / 2);
	sc->path[0].queue_bytes = bdp > 100000 ? bdp : 100000;
	sc->bytes = bytes;
	snprintf(sc->cc, sizeof(sc->cc), "%s", cc);
}

static void show(const char *name, const struct bd_scenario_result *r)
{
	printf("    %s: completed=%d match=%d %.3fs %.1f Mbit/s retrans=%llu "
	       "queue drops=%llu sack recoveries=%llu timeouts=%llu\n",
	       name, r->completed, r->sha256_match, r->duration_s,
	       r->goodput_mbps, (unsigned long long)r->retransmits,
	       (unsigned long long)r->link[0][0].drop_queue,
	       (unsigned long long)r->tcp[0].TCPSackRecovery,
	       (unsigned long long)r->tcp[0].TCPTimeouts);
}

/* The reported case: 1 Gbit/s, 10 ms, a 1.25 MB queue. Slow start
 * overshoots and the queue drops more than a hundred segments (the old
 * 128-range scoreboard and out-of-order queue overflowed: no SACK
 * recovery, one RTO, then everything again). */
static void burst_case(const char *cc, double rtt_ms, uint64_t bytes,
		       double min_mbps)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	char name[64];

	burst_path(&sc, 1000, rtt_ms, cc, bytes);
	BT_EQ(bd_scenario_run(&sc, &r), 0);
	snprintf(name, sizeof(name), "burst %s %.0fms", cc, rtt_ms);
	show(name, &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.hashed && r.sha256_match);
	BT_UEQ(r.bytes, sc.bytes);
	BT_ASSERT(r.link[0][0].drop_queue > 100); /* the burst happened */
	BT_ASSERT(r.tcp[0].TCPSackRecovery >= 1);
	BT_ASSERT(r.tcp[0].TCPTimeouts <= 1);
	/* Every drop repaired about once: no go-back-N after an RTO. */
	BT_ASSERT(r.retransmits < 2 * r.link[0][0].drop_queue + 50);
	BT_ASSERT(r.goodput_mbps > min_mbps);
}

BT_TEST(tcp_recovery_burst_newreno_10ms)
{
	burst_case("newreno", 10, 32u << 20, 700);
}

BT_TEST(tcp_recovery_burst_cubic_10ms)
{
	burst_case("cubic", 10, 32u << 20, 650);
}

BT_TEST(tcp_recovery_burst_newreno_1ms)
{
	burst_case("newreno", 1, 16u << 20, 800);
}

BT_TEST(tcp_recovery_burst_cubic_1ms)
{
	burst_case("cubic", 1, 16u << 20, 800);
}

/* Random loss on top of the queue: SACK repairs it, no RTO needed. */
BT_TEST(tcp_recovery_random_loss_no_rto)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;

	burst_path(&sc, 100, 10, "cubic", 4u << 20);
	sc.path[0].loss = 0.001;
	BT_EQ(bd_scenario_run(&sc, &r), 0);
	show("cubic 0.1% 10ms", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_ASSERT(r.tcp[0].TCPSackRecovery >= 1);
	BT_UEQ(r.tcp[0].TCPTimeouts, 0);
}

/* HyStart++ (RFC 9406): behind a deep queue (16 BDPs) the RTT grows
 * rounds before the queue overflows; slow start ends through conservative
 * slow start, and nothing is dropped. */
BT_TEST(tcp_hystart_leaves_slow_start_before_a_deep_queue_overflows)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;

	burst_path(&sc, 100, 10, "cubic", 16u << 20);
	sc.path[0].queue_bytes *= 16;
	BT_EQ(bd_scenario_run(&sc, &r), 0);
	show("hystart cubic 100M 10ms deep queue", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_UEQ(r.tcp[0].TCPHystartDelayDetect, 1);
	BT_UEQ(r.link[0][0].drop_queue, 0);
	BT_UEQ(r.retransmits, 0);
	BT_ASSERT(r.goodput_mbps > 85);
}

/* --- unit checks ------------------------------------------------------- */

BT_TEST(tcp_ranges_grow_past_initial_size_and_merge)
{
	struct tcp_ranges rs;
	uint32_t base = 0xfffff000u; /* wraps */

	memset(&rs, 0, sizeof(rs));
	/* 2000 disjoint ranges, every other 100 bytes, added backwards. */
	for (uint32_t i = 2000; i-- > 0;)
		BT_ASSERT(tcp_ranges_add(&rs, base + i * 200,
					 base + i * 200 + 100, NULL));
	BT_UEQ(rs.n, 2000);
	BT_ASSERT(rs.cap >= 2000 && rs.cap <= TCP_MAX_RANGES);
	BT_UEQ(tcp_ranges_bytes(&rs), 200000);
	/* Filling one gap merges two neighbours. */
	BT_ASSERT(tcp_ranges_add(&rs, base + 100, base + 200, NULL));
	BT_UEQ(rs.n, 1999);
	BT_UEQ(rs.r[0].end, base + 300);
	/* One range over everything. */
	BT_ASSERT(tcp_ranges_add(&rs, base, base + 2000 * 200, NULL));
	BT_UEQ(rs.n, 1);
	tcp_ranges_trim(&rs, base + 1000);
	BT_UEQ(rs.r[0].start, base + 1000);
	tcp_ranges_free(&rs);
	BT_UEQ(rs.n, 0);
	BT_ASSERT(rs.r == NULL);
}

BT_TEST(tcp_ranges_capacity_is_bounded)
{
	struct tcp_ranges rs;
	uint32_t i;

	memset(&rs, 0, sizeof(rs));
	for (i = 0; i < TCP_MAX_RANGES; i++)
		BT_ASSERT(tcp_ranges_add(&rs, i * 10, i * 10 + 5, NULL));
	BT_ASSERT(!tcp_ranges_add(&rs, i * 10, i * 10 + 5, NULL));
	/* A merge needs no room. */
	BT_ASSERT(tcp_ranges_add(&rs, 0, 15, NULL));
	BT_UEQ(rs.n, TCP_MAX_RANGES - 1);
	tcp_ranges_free(&rs);
}

static unsigned sack_opt(uint8_t *o, unsigned nb, const uint32_t (*b)[2])
{
	unsigned l = 0;
	o[l++] = 1;
	o[l++] = 1;
	o[l++] = 5;
	o[l++] = (uint8_t)(2 + 8 * nb);
	for (unsigned i = 0; i < nb; i++)
		for (int k = 0; k < 2; k++) {
			o[l++] = (uint8_t)(b[i][k] >> 24);
			o[l++] = (uint8_t)(b[i][k] >> 16);
			o[l++] = (uint8_t)(b[i][k] >> 8);
			o[l++] = (uint8_t)b[i][k];
		}
	return l;
}

/* Rule 3 of NextSeg retransmits only below the highest SACKed byte: what
 * no SACK has passed is in flight, not lost. */
BT_TEST(tcp_recovery_rule3_stays_below_highest_sack)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[40000];
	uint32_t u0, mss, blk[1][2], top;
	uint8_t o[40];
	unsigned ol;
	int rescues = 0;
	struct bd_tcp_config c;

	bd_tcp_config_default(&c);
	memset(data, 3, sizeof(data));
	th_init(&n, 21, &c, &c);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	mss = a->cc.mss;
	u0 = a->snd_una;
	BT_EQ(bd_tcp_send(a, data, 10 * mss), (long)(10 * mss));
	th_flush(&n);
	while (th_lose(&n, 0, &s) == 0)
		;
	/* Segment 0 lost, 1-4 SACKed, 5-9 in flight, nothing more to send. */
	blk[0][0] = u0 + mss;
	blk[0][1] = top = u0 + 5 * mss;
	ol = sack_opt(o, 1, (const uint32_t(*)[2])blk);
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0, F_ACK, 1000, o, ol, NULL,
		  0);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	/* Room in the window for everything: segment 0 again, and at most
	 * the one rescue retransmission of the last segment (rule 4); never
	 * segments 5-8. */
	a->cc.cwnd = 30 * mss;
	tcp_output(a);
	while (th_lose(&n, 0, &s) == 0) {
		if (s.len == 0 || SEQ_LT(s.seq, top))
			continue;
		BT_UEQ(s.seq, u0 + 9 * mss);
		rescues++;
	}
	BT_ASSERT(rescues <= 1);
	th_free(&n);
}

/* Only the FIN is missing in recovery: it goes again, no RTO needed. */
BT_TEST(tcp_recovery_retransmits_lost_fin)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[40000];
	uint32_t u0, mss, blk[1][2];
	uint8_t o[40];
	unsigned ol;
	bool fin = false;

	memset(data, 5, sizeof(data));
	th_init(&n, 22, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	mss = a->cc.mss;
	u0 = a->snd_una;
	BT_EQ(bd_tcp_send(a, data, 6 * mss), (long)(6 * mss));
	bd_tcp_shutdown(a);
	th_flush(&n);
	while (th_lose(&n, 0, &s) == 0)
		;
	BT_ASSERT(a->fin_sent);
	/* Segment 0 lost, 1-5 SACKed: recovery, segment 0 again. */
	blk[0][0] = u0 + mss;
	blk[0][1] = u0 + 6 * mss;
	ol = sack_opt(o, 1, (const uint32_t(*)[2])blk);
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0, F_ACK, 1000, o, ol, NULL,
		  0);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	th_drop_captured(&n, 0);
	/* Every byte arrives, the FIN did not: the partial ACK brings it. */
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 6 * mss, F_ACK, 1000,
		  NULL, 0, NULL, 0);
	while (th_lose(&n, 0, &s) == 0)
		if ((s.flags & F_FIN) && s.seq == u0 + 6 * mss)
			fin = true;
	BT_ASSERT(fin);
	BT_UEQ(th_mib(&n, 0, "TCPTimeouts"), 0);
	th_free(&n);
}

/* RFC 2018 section 4: the newest block first, then the blocks of the
 * previous ACK again, before older ones from the top. */
BT_TEST(tcp_sack_blocks_repeat_the_most_recent)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[10000];
	uint32_t r0;

	memset(data, 9, sizeof(data));
	th_init(&n, 23, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	r0 = b->rcv_nxt;
	/* Four islands arriving from the highest down. */
	for (int i = 3; i >= 0; i--) {
		uint32_t off = 1000 + (uint32_t)i * 2000;
		th_inject(&n, 1, 40000, 5000, r0 + off, b->snd_una, F_ACK, 1000,
			  NULL, 0, data + off, 500);
		BT_ASSERT(th_lose(&n, 1, &s) == 0);
		BT_UEQ(s.ack, r0);
		BT_UEQ(s.sack[0][0], r0 + off); /* the newest first */
	}
	/* With timestamps three blocks fit: 1000, then 3000 and 5000 from
	 * the previous ACK, not the older 7000. */
	BT_EQ(s.nsack, 3);
	BT_UEQ(s.sack[1][0], r0 + 3000);
	BT_UEQ(s.sack[2][0], r0 + 5000);
	/* A segment growing the 5000 island: it goes first, 1000 and 3000
	 * follow. */
	th_inject(&n, 1, 40000, 5000, r0 + 5500, b->snd_una, F_ACK, 1000, NULL,
		  0, data + 5500, 500);
	BT_ASSERT(th_lose(&n, 1, &s) == 0);
	BT_EQ(s.nsack, 3);
	BT_UEQ(s.sack[0][0], r0 + 5000);
	BT_UEQ(s.sack[0][1], r0 + 6000);
	BT_UEQ(s.sack[1][0], r0 + 1000);
	BT_UEQ(s.sack[2][0], r0 + 3000);
	th_free(&n);
}

/* Everything lost during recovery (a blackhole): the recovery timer keeps
 * sending the first hole again, but the RTO still fires and backs off. */
BT_TEST(tcp_recovery_blackhole_still_times_out)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	struct bd_stack *st;
	uint8_t data[40000];
	uint32_t u0, mss, blk[1][2];
	uint8_t o[40];
	unsigned ol;
	uint64_t t0;

	memset(data, 1, sizeof(data));
	th_init(&n, 24, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	st = th_tcp(&n, 0)->st;
	mss = a->cc.mss;
	u0 = a->snd_una;
	BT_EQ(bd_tcp_send(a, data, 10 * mss), (long)(10 * mss));
	th_flush(&n);
	while (th_lose(&n, 0, &s) == 0)
		;
	blk[0][0] = u0 + mss;
	blk[0][1] = u0 + 6 * mss;
	ol = sack_opt(o, 1, (const uint32_t(*)[2])blk);
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0, F_ACK, 1000, o, ol, NULL,
		  0);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	/* Room to send the holes again at every recovery timeout. */
	a->cc.cwnd = a->cc.ssthresh = 30 * mss;
	t0 = bd_stack_now_us(st);
	for (uint64_t t = t0;
	     t < t0 + 3000000 && th_mib(&n, 0, "TCPTimeouts") < 2; t += 1000) {
		th_set_time(&n, t);
		bd_tcp_timers(st);
		th_drop_captured(&n, 0);
	}
	BT_ASSERT(th_mib(&n, 0, "TCPTimeouts") >= 2);
	BT_ASSERT(a->backoff >= 2);
	th_free(&n);
}

/* A SACK connection whose client has sent ten full segments, all of them
 * taken off the wire (the test decides what the client hears back); *ap
 * stays NULL if that fails. */
static void ten_out(struct th_net *n, uint32_t seed, struct bd_tcp_sock **ap,
		    uint32_t *u0, uint32_t *mss)
{
	static uint8_t data[40000];
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;

	*ap = NULL;
	memset(data, (int)seed, sizeof(data));
	th_init(n, seed, NULL, NULL);
	BT_ASSERT(th_establish(n, NULL, NULL, &a, &b, &l) == 0);
	BT_ASSERT(a->sack_ok);
	*mss = a->cc.mss;
	*u0 = a->snd_una;
	BT_EQ(bd_tcp_send(a, data, 10 * *mss), (long)(10 * *mss));
	th_flush(n);
	while (th_lose(n, 0, &s) == 0)
		;
	*ap = a;
}

/* SACK recovery entered on plain duplicate ACKs (the receiver had no room
 * for SACK blocks): a partial ACK that covers the retransmission shows the
 * segment at the new snd_una lost (it was sent before the retransmission
 * that has arrived), so it goes at once, not after an RTO. */
BT_TEST(tcp_recovery_partial_ack_without_sack_blocks)
{
	struct th_net n;
	struct bd_tcp_sock *a;
	struct th_seg s;
	uint32_t u0, mss;
	bool head = false, third = false;

	ten_out(&n, 25, &a, &u0, &mss);
	BT_ASSERT(a);
	/* Segments 0 and 2 lost; the others arrive and are answered with
	 * duplicate ACKs that carry no SACK option. */
	for (int i = 0; i < 4 && a->ca_state != BD_TCP_CA_RECOVERY; i++)
		th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0, F_ACK, 1000, NULL,
			  0, NULL, 0);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	while (th_lose(&n, 0, &s) == 0)
		if (s.len && s.seq == u0)
			head = true;
	BT_ASSERT(head);
	/* The retransmitted segment 0 and segment 1 are in: a partial ACK. */
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 2 * mss, F_ACK, 1000,
		  NULL, 0, NULL, 0);
	BT_EQ(a->ca_state, BD_TCP_CA_RECOVERY);
	while (th_lose(&n, 0, &s) == 0)
		if (s.len && s.seq == u0 + 2 * mss)
			third = true;
	BT_ASSERT(third);
	BT_UEQ(th_mib(&n, 0, "TCPTimeouts"), 0);
	th_free(&n);
}

/* count ACKs of ack to the client, each carrying the one SACK block
 * [start, end). */
static void acks_with_block(struct th_net *n, struct bd_tcp_sock *a,
			    uint32_t ack, uint32_t start, uint32_t end,
			    int count)
{
	uint8_t o[40];
	uint32_t blk[1][2] = {{start, end}};
	unsigned ol = sack_opt(o, 1, (const uint32_t(*)[2])blk);
	for (int i = 0; i < count; i++)
		th_inject(n, 0, 5000, 40000, a->rcv_nxt, ack, F_ACK, 1000, o,
			  ol, NULL, 0);
}

/* With SACK, only an ACK that SACKs something new is a duplicate ACK (RFC
 * 6675 section 2). D-SACKs for needless retransmissions and blocks the
 * sender already holds are no sign of a new loss: three of them must not
 * start a fast retransmit and halve the window. */
BT_TEST(tcp_recovery_dsack_and_known_blocks_are_no_dupacks)
{
	struct th_net n;
	struct bd_tcp_sock *a;
	struct th_seg s;
	uint32_t u0, mss, cwnd;
	int rtx = 0;

	ten_out(&n, 27, &a, &u0, &mss);
	BT_ASSERT(a);
	/* Segments 0-4 acknowledged; 5-9 still in flight. */
	th_inject(&n, 0, 5000, 40000, a->rcv_nxt, u0 + 5 * mss, F_ACK, 1000,
		  NULL, 0, NULL, 0);
	BT_UEQ(a->snd_una, u0 + 5 * mss);
	while (th_lose(&n, 0, &s) == 0)
		;
	cwnd = a->cc.cwnd;
	/* Four ACKs that only report a duplicate of segment 0 (D-SACK). */
	acks_with_block(&n, a, u0 + 5 * mss, u0, u0 + mss, 4);
	BT_ASSERT(a->ca_state != BD_TCP_CA_RECOVERY);
	BT_UEQ(a->dupacks, 0);
	/* One ACK SACKing segment 6 (new: a duplicate ACK), then the same
	 * block three times more (nothing new). */
	acks_with_block(&n, a, u0 + 5 * mss, u0 + 6 * mss, u0 + 7 * mss, 4);
	BT_ASSERT(a->ca_state != BD_TCP_CA_RECOVERY);
	BT_UEQ(a->dupacks, 1);
	BT_ASSERT(a->cc.cwnd >= cwnd);
	while (th_lose(&n, 0, &s) == 0)
		if (s.len && SEQ_LT(s.seq, a->snd_max) &&
		    SEQ_GEQ(s.seq, u0 + 5 * mss))
			rtx++;
	BT_EQ(rtx, 0);
	BT_UEQ(th_mib(&n, 0, "TCPSackRecovery"), 0);
	th_free(&n);
}
