/* SPDX-License-Identifier: Apache-2.0
 * TCP input: validation of every segment (lengths, checksum, flags,
 * options; all drops counted), demultiplexing, the RFC 9293 state machine
 * with RFC 5961 (RST, SYN and ACK checks with rate-limited challenge ACKs)
 * and RFC 7323 PAWS, ACK processing with congestion control and
 * RFC 6675/6582 recovery, and the receive path (reassembly in the receive
 * ring, D-SACK, delayed ACKs). */
#include <string.h>

#include "braid/csum.h"
#include "tcp_impl.h"

struct seg {
	uint32_t seq, ack, len;
	uint16_t wnd;
	uint8_t flags;
	const uint8_t *data;
	const uint8_t *opt;
	unsigned optlen;
	struct tcp_opts o;
	const struct bd_ip_meta *m;
	const struct tcp_hdr *th;
	struct bd_tcp_seg_desc d;
};

#define PAWS_24DAYS_US (24ull * 86400ull * 1000000ull)

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t now_of(const struct bd_tcp_sock *s)
{
	return bd_stack_now_us(s->ts->st);
}

static bool bad_v4(uint32_t a)
{
	return (a >> 28) == 0xe || a == 0xffffffffu || a == 0;
}

static uint32_t seg_space(const struct seg *sg)
{
	return sg->len + ((sg->flags & BD_TCP_F_SYN) ? 1 : 0) +
	       ((sg->flags & BD_TCP_F_FIN) ? 1 : 0);
}

/* Options learnt from the peer's SYN or SYN-ACK. */
static void negotiate(struct bd_tcp_sock *s, const struct tcp_opts *o)
{
	const struct bd_tcp_config *cfg = &s->ts->cfg;
	uint32_t mss = o->has_mss ? o->mss : 536;

	s->ws_ok = cfg->wscale && o->has_wscale;
	if (s->ws_ok) {
		s->snd_wscale = o->wscale;
	} else {
		s->snd_wscale = 0;
		s->rcv_wscale = 0;
	}
	s->sack_ok = cfg->sack && o->sack_ok;
	s->ts_ok = cfg->timestamps && o->has_ts;
	if (s->ts_ok) {
		s->ts_recent = o->tsval;
		s->ts_recent_us = now_of(s);
	}
	if (mss < TCP_MIN_MSS)
		mss = TCP_MIN_MSS;
	if (mss > s->adv_mss)
		mss = s->adv_mss;
	s->snd_mss = mss;
	s->rcv_mss = s->adv_mss;
	tcp_cc_sync(s);
	s->cc.cwnd = TCP_INIT_CWND * s->cc.mss;
	if (s->retries)
		s->cc.cwnd = s->cc.mss; /* RFC 6298 5.7 */
}

static void ulp_established(struct bd_tcp_sock *s)
{
	if (s->ulp && s->ulp->event && !s->ulp_ready) {
		s->ulp_ready = true;
		s->ulp->event(s->ulp_ctx, s, BD_TCP_ULP_ESTABLISHED, 0);
	}
}

static void arm_keepalive(struct bd_tcp_sock *s)
{
	if (s->keepalive) {
		uint32_t idle = s->lopts.keepalive_idle_us
				    ? s->lopts.keepalive_idle_us
				    : s->ts->cfg.keepalive_idle_us;
		tcp_timer_set(s, TT_KEEPALIVE, now_of(s) + idle);
	}
}

static void enter_established(struct bd_tcp_sock *s)
{
	tcp_set_state(s, BD_TCP_ESTABLISHED);
	s->retries = 0;
	s->backoff = 0;
	if (s->snd_una == s->snd_max)
		tcp_timer_clear(s, TT_RTX);
	arm_keepalive(s);
	if (s->fin_queued)
		tcp_set_state(s, BD_TCP_FIN_WAIT_1);
	ulp_established(s);
}

static void enter_time_wait(struct bd_tcp_sock *s)
{
	tcp_set_state(s, BD_TCP_TIME_WAIT);
	tcp_timer_clear_all(s);
	tcp_timer_set(s, TT_TW, now_of(s) + s->ts->cfg.time_wait_us);
	s->ack_now = true;
	if (s->ulp && s->ulp->event && s->ulp_ready) {
		s->ulp_ready = false;
		s->ulp->event(s->ulp_ctx, s, BD_TCP_ULP_CLOSED, 0);
	}
}

/* --- SYN-SENT ------------------------------------------------------------- */

static void rcv_syn_sent(struct bd_tcp_sock *s, struct seg *sg)
{
	struct bd_tcp_stack *ts = s->ts;

	if (sg->flags & BD_TCP_F_ACK) {
		if (SEQ_LEQ(sg->ack, s->iss) || SEQ_GT(sg->ack, s->snd_max)) {
			MIB_INC(ts, BraidDropBadAck);
			tcp_send_rst_reply(ts, sg->th, seg_space(sg), sg->m);
			return;
		}
	}
	if (sg->flags & BD_TCP_F_RST) {
		if (sg->flags & BD_TCP_F_ACK) {
			MIB_INC(ts, AttemptFails);
			/* The upper layer reads why (MPTCP's MP_TCPRST on a
			 * refused join). */
			if (sg->o.has_unknown)
				tcp_walk_unknown(s, sg->opt, sg->optlen,
						 &sg->d);
			tcp_done(s, BD_ECONNREFUSED);
		} else {
			MIB_INC(ts, BraidDropRst);
		}
		return;
	}
	if (!(sg->flags & BD_TCP_F_SYN)) {
		MIB_INC(ts, BraidDropState);
		return;
	}
	s->irs = sg->seq;
	s->rcv_nxt = sg->seq + 1;
	negotiate(s, &sg->o);
	s->snd_wnd = sg->wnd;
	s->max_snd_wnd = s->snd_wnd;
	s->snd_wl1 = sg->seq;
	s->snd_wl2 = sg->ack;
	if (sg->o.has_unknown)
		tcp_walk_unknown(s, sg->opt, sg->optlen, &sg->d);
	if (sg->flags & BD_TCP_F_ACK) {
		s->snd_una = sg->ack;
		if (s->rtt_timing && SEQ_GEQ(sg->ack, s->rtt_seq)) {
			tcp_rtt_sample(s,
				       (uint32_t)(now_of(s) - s->rtt_start_us));
			s->rtt_timing = false;
		}
		s->last_ack_us = now_of(s);
		enter_established(s);
		s->ack_now = true;
		s->pending_connected = true;
	} else {
		/* Simultaneous open (RFC 9293 figure 7). */
		tcp_set_state(s, BD_TCP_SYN_RECEIVED);
		s->snd_nxt = s->iss;
		tcp_send_synack(s);
	}
}

/* --- LISTEN --------------------------------------------------------------- */

static void listen_input(struct bd_tcp_sock *l, struct seg *sg)
{
	struct bd_tcp_stack *ts = l->ts;
	const struct bd_ip_meta *m = sg->m;
	struct bd_tcp_sock *c;

	if (sg->flags & BD_TCP_F_RST) {
		MIB_INC(ts, BraidDropRst);
		return;
	}
	if (sg->flags & BD_TCP_F_ACK) {
		MIB_INC(ts, BraidDropNoSocket);
		tcp_send_rst_reply(ts, sg->th, seg_space(sg), m);
		return;
	}
	if (!(sg->flags & BD_TCP_F_SYN)) {
		MIB_INC(ts, BraidDropState);
		return;
	}
	if ((int)l->synq_len >= l->backlog ||
	    (int)l->acceptq_len >= l->backlog) {
		MIB_INC(ts, ListenOverflows);
		MIB_INC(ts, ListenDrops);
		return;
	}
	c = tcp_sock_alloc(ts, &l->lopts);
	if (!c) {
		MIB_INC(ts, BraidDropNoMem);
		MIB_INC(ts, ListenDrops);
		return;
	}
	c->lopts = l->lopts;
	c->passive = true;
	c->laddr = m->daddr;
	c->raddr = m->saddr;
	c->lport = l->lport;
	c->rport = (uint16_t)(((const uint8_t *)sg->th)[0] << 8 |
			      ((const uint8_t *)sg->th)[1]);
	c->irs = sg->seq;
	c->rcv_nxt = sg->seq + 1;
	if (!l->lopts.mss) {
		uint16_t mss = tcp_route_mss(ts, &c->raddr, &c->laddr);
		if (mss)
			c->adv_mss = mss;
	}
	negotiate(c, &sg->o);
	c->iss = tcp_isn(ts, &c->laddr, c->lport, &c->raddr, c->rport);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	c->sbuf_seq = c->iss + 1;
	c->high_rxt = c->rescue_rxt = c->recover = c->iss;
	c->ts_offset = tcp_ts_offset(ts, &c->laddr, &c->raddr);
	c->snd_wnd = sg->wnd;
	c->max_snd_wnd = c->snd_wnd;
	c->snd_wl1 = sg->seq;
	c->snd_wl2 = c->iss;
	c->ulp = l->lopts.ulp;
	c->ulp_ctx = l->lopts.ulp_ctx;
	if (l->ulp && l->ulp->syn_rcv) {
		void *cu = l->ulp_ctx;
		int r = l->ulp->syn_rcv(l->ulp_ctx, l, c, &sg->d, sg->opt,
					sg->optlen, &cu);
		if (r < 0) {
			MIB_INC(ts, BraidDropUlp);
			if (r == -BD_ECONNREFUSED) {
				uint8_t ro[TCP_MAX_OPT];
				unsigned rl = 0;
				if (l->ulp->refuse_opts)
					rl = l->ulp->refuse_opts(
					    l->ulp_ctx, l, ro, sizeof(ro));
				tcp_send_rst_reply_opts(
				    ts, sg->th, seg_space(sg), m, ro,
				    rl > sizeof(ro) ? 0 : rl);
			}
			c->ulp = NULL; /* refused: never bound */
			tcp_sock_free(c);
			return;
		}
		c->ulp_ctx = cu;
	}
	c->parent = l;
	l->synq_len++;
	tcp_set_state(c, BD_TCP_SYN_RECEIVED);
	tcp_hash_insert(c);
	MIB_INC(ts, PassiveOpens);
	c->segs_in++;
	c->last_rcv_us = now_of(c);
	if (sg->o.has_unknown)
		tcp_walk_unknown(c, sg->opt, sg->optlen, &sg->d);
	tcp_send_synack(c);
}

/* --- receive path --------------------------------------------------------- */

static void set_dsack(struct bd_tcp_sock *s, uint32_t a, uint32_t b)
{
	if (!s->sack_ok)
		return;
	s->dsack[0] = a;
	s->dsack[1] = b;
	s->dsack_pending = true;
	MIB_INC(s->ts, TCPDSACKOldSent);
}

static void deliver(struct bd_tcp_sock *s)
{
	if (s->ulp && s->ulp->rcv_data) {
		while (s->rbuf.len) {
			uint32_t seq0 =
			    s->rcv_nxt - s->rbuf.len - (s->rcv_fin ? 1 : 0);
			uint32_t chunk = s->rbuf.cap - s->rbuf.head;
			size_t took;
			if (chunk > s->rbuf.len)
				chunk = s->rbuf.len;
			took =
			    s->ulp->rcv_data(s->ulp_ctx, s, seq0,
					     s->rbuf.buf + s->rbuf.head, chunk);
			if (took > chunk)
				took = chunk;
			tcp_rbuf_consume(s, (uint32_t)took);
			if (took < chunk)
				break;
		}
	}
	if (s->rbuf.len)
		s->pending_readable = true;
}

/* Returns false if the segment's end (and so its FIN) was cut off. */
static bool rcv_data(struct bd_tcp_sock *s, struct seg *sg)
{
	struct bd_tcp_stack *ts = s->ts;
	uint32_t seq = sg->seq, len = sg->len, space, off;
	const uint8_t *d = sg->data;
	bool whole = true;

	if (SEQ_LT(seq, s->rcv_nxt)) {
		uint32_t skip = s->rcv_nxt - seq;
		if (skip >= len) {
			set_dsack(s, seq, seq + len);
			s->ack_now = true;
			return true;
		}
		set_dsack(s, seq, s->rcv_nxt);
		d += skip;
		len -= skip;
		seq = s->rcv_nxt;
	}
	space = s->rbuf.cap - s->rbuf.len;
	off = seq - s->rcv_nxt;
	if (off >= space) {
		MIB_INC(ts, TCPRcvQDrop);
		s->ack_now = true;
		return false;
	}
	if (len > space - off) {
		len = space - off;
		whole = false;
	}
	if (tcp_ring_reserve(&s->rbuf) < 0) {
		MIB_INC(ts, BraidDropNoMem);
		return false;
	}
	s->data_segs_in++;
	if (off == 0) {
		bool had_ooo = s->ooo.n > 0;
		tcp_ring_copy_in(&s->rbuf, s->rbuf.len, d, len);
		s->rbuf.len += len;
		s->rcv_nxt += len;
		s->bytes_received += len;
		while (s->ooo.n && SEQ_LEQ(s->ooo.r[0].start, s->rcv_nxt)) {
			if (SEQ_GT(s->ooo.r[0].end, s->rcv_nxt)) {
				uint32_t add = s->ooo.r[0].end - s->rcv_nxt;
				s->rbuf.len += add;
				s->bytes_received += add;
				s->rcv_nxt = s->ooo.r[0].end;
			}
			memmove(&s->ooo.r[0], &s->ooo.r[1],
				(s->ooo.n - 1) * sizeof(s->ooo.r[0]));
			s->ooo.n--;
		}
		s->segs_unacked++;
		if (s->no_delack || s->segs_unacked >= 2 || had_ooo ||
		    (sg->flags & BD_TCP_F_PSH && s->segs_unacked >= 2))
			s->ack_now = true;
		else if (!s->timer[TT_DELACK])
			tcp_timer_set(s, TT_DELACK,
				      now_of(s) + ts->cfg.delack_us);
		deliver(s);
	} else {
		uint32_t idx;
		if (!tcp_ranges_add(&s->ooo, seq, seq + len, &idx)) {
			MIB_INC(ts, TCPOFODrop);
			s->ack_now = true;
			return false;
		}
		tcp_ring_copy_in(&s->rbuf, s->rbuf.len + off, d, len);
		s->ooo_last_seq = seq;
		MIB_INC(ts, TCPOFOQueue);
		s->ack_now = true;
	}
	return whole;
}

static void process_fin(struct bd_tcp_sock *s)
{
	s->fin_pending = false;
	s->rcv_fin = true;
	s->rcv_nxt++;
	s->ack_now = true;
	if (s->ulp && s->ulp->event && s->ulp_ready)
		s->ulp->event(s->ulp_ctx, s, BD_TCP_ULP_PEER_FIN,
			      s->rcv_nxt - 1);
	switch (s->state) {
	case BD_TCP_SYN_RECEIVED:
	case BD_TCP_ESTABLISHED:
		tcp_set_state(s, BD_TCP_CLOSE_WAIT);
		break;
	case BD_TCP_FIN_WAIT_1:
		tcp_set_state(s, BD_TCP_CLOSING);
		break;
	case BD_TCP_FIN_WAIT_2:
		enter_time_wait(s);
		break;
	default:
		break;
	}
}

/* --- ACK processing ------------------------------------------------------- */

static void enter_recovery(struct bd_tcp_sock *s)
{
	struct bd_tcp_stack *ts = s->ts;
	uint32_t data_end = s->sbuf_seq + s->sbuf.len, len;

	tcp_cc_sync(s);
	if (s->cc.cwnd < s->cc.ssthresh && s->cc.ssthresh != UINT32_MAX) {
		/* Growing back towards ssthresh after an earlier reduction
		 * (the window left at recovery exit follows the flight, not a
		 * congestion estimate): reduce from that estimate, not from
		 * the small window, or one more loss right after recovery
		 * would collapse ssthresh. */
		s->cc.cwnd = s->cc.ssthresh;
		if (s->cc.bytes_in_flight < s->cc.ssthresh)
			s->cc.bytes_in_flight = s->cc.ssthresh;
	}
	s->cc.ssthresh = s->cc_ops->ssthresh(&s->cc);
	s->cc.cwnd = s->cc.ssthresh;
	s->ca_state = BD_TCP_CA_RECOVERY;
	s->cc.ca_state = BD_TCP_CA_RECOVERY;
	if (s->cc_ops->set_state)
		s->cc_ops->set_state(&s->cc, BD_TCP_CA_RECOVERY);
	s->recover = s->snd_max;
	s->high_rxt = s->snd_una;
	s->rescue_rxt = s->snd_una - 1;
	s->rto_head = s->snd_una - 1;
	if (s->sack_ok)
		MIB_INC(ts, TCPSackRecovery);
	else
		MIB_INC(ts, TCPRenoRecovery);
	MIB_INC(ts, TCPFastRetrans);
	/* RFC 6675 step 4.3 / RFC 5681: retransmit the first segment. */
	/* Only what was sent: never beyond snd_max. */
	data_end = SEQ_MIN(data_end, s->snd_max);
	len = SEQ_LT(s->snd_una, data_end) ? data_end - s->snd_una : 0;
	if (len > s->cc.mss)
		len = s->cc.mss;
	if (len) {
		int n = tcp_xmit(s, s->snd_una, len, BD_TCP_F_ACK, true);
		if (n > 0) {
			s->high_rxt = s->snd_una + (uint32_t)n;
			s->rxt_n = 0;
			tcp_rxt_log(s, s->snd_una, (uint32_t)n);
			s->lost_est++;
		}
	}
}

static void exit_recovery(struct bd_tcp_sock *s, uint8_t to)
{
	if (s->ca_state == BD_TCP_CA_RECOVERY) {
		/* RFC 6582 section 3.2 step 3, second option: cwnd =
		 * min(ssthresh, max(FlightSize, SMSS) + SMSS). A full ssthresh
		 * over a nearly empty pipe would go out as one line-rate burst
		 * and overflow the bottleneck queue again; below ssthresh the
		 * window grows back in slow start, clocked by the ACKs. Never
		 * below the initial window (RFC 6928): a burst that size is
		 * safe, and a short response after recovery still goes in one
		 * round trip. */
		uint32_t mss = s->cc.mss ? s->cc.mss : 536;
		uint32_t fl = s->snd_max - s->snd_una;
		uint32_t w = (fl > mss ? fl : mss) + mss;
		if (w < TCP_INIT_CWND * mss)
			w = TCP_INIT_CWND * mss;
		s->cc.cwnd = w < s->cc.ssthresh ? w : s->cc.ssthresh;
	}
	s->ca_state = to;
	s->cc.ca_state = to;
	s->dupacks = 0;
	if (s->cc_ops->set_state)
		s->cc_ops->set_state(&s->cc, to);
	if (s->cc_ops->cwnd_event)
		s->cc_ops->cwnd_event(&s->cc, BD_CC_EV_RECOVERY_END);
}

/* HyStart++ (RFC 9406). */
#define HS_MIN_RTT_THRESH  4000u  /* us */
#define HS_MAX_RTT_THRESH  16000u /* us */
#define HS_MIN_RTT_DIVISOR 8u
#define HS_N_RTT_SAMPLE	   8u
#define HS_CSS_DIVISOR	   4u
#define HS_CSS_ROUNDS	   5u

static bool in_slow_start(const struct bd_tcp_sock *s)
{
	return s->ca_state == BD_TCP_CA_OPEN && s->cc.cwnd < s->cc.ssthresh;
}

/* A new round starts when the ACK passes the highest sequence sent when
 * the previous round started (section 4.2). */
static void hystart_round(struct bd_tcp_sock *s, uint32_t ack)
{
	if (s->hs_round_end && SEQ_LT(ack, s->hs_round_end))
		return;
	s->hs_round_end = s->snd_max;
	s->hs_last_min = s->hs_cur_min;
	s->hs_cur_min = 0;
	s->hs_samples = 0;
	if (s->hs_css && ++s->hs_css_rounds >= HS_CSS_ROUNDS) {
		/* Enough rounds of CSS: slow start is over. */
		s->hs_css = false;
		s->cc.ssthresh = s->cc.cwnd;
		MIB_INC(s->ts, TCPHystartDelayDetect);
	}
}

static void hystart_sample(struct bd_tcp_sock *s, uint32_t rtt)
{
	if (!rtt)
		rtt = 1;
	if (!s->hs_cur_min || rtt < s->hs_cur_min)
		s->hs_cur_min = rtt;
	if (s->hs_samples < 255)
		s->hs_samples++;
	if (s->hs_css) {
		/* The delay went back down: the increase was spurious. */
		if (s->hs_cur_min < s->hs_css_base)
			s->hs_css = false;
		return;
	}
	if (s->hs_samples >= HS_N_RTT_SAMPLE && s->hs_last_min) {
		uint32_t th = s->hs_last_min / HS_MIN_RTT_DIVISOR;
		if (th < HS_MIN_RTT_THRESH)
			th = HS_MIN_RTT_THRESH;
		if (th > HS_MAX_RTT_THRESH)
			th = HS_MAX_RTT_THRESH;
		if (s->hs_cur_min >= s->hs_last_min + th) {
			s->hs_css = true;
			s->hs_css_base = s->hs_cur_min;
			s->hs_css_rounds = 0;
		}
	}
}

/* With SACK, a partial ACK in recovery that covers retransmitted bytes
 * while the byte at the new snd_una is neither SACKed nor retransmitted:
 * that byte was sent before the retransmission that has now arrived, so
 * it is lost (RFC 6582's partial ACK; RFC 8985's RACK concludes the same
 * from the send times). Without this, a receiver whose ACKs carry no SACK
 * blocks (no room left by other options) leaves NextSeg nothing to
 * retransmit, and every further hole costs an RTO. */
static bool partial_ack_lost(const struct bd_tcp_sock *s, bool acked_rtx)
{
	uint32_t end;
	return acked_rtx && s->high_rxt == s->snd_una &&
	       !tcp_ranges_contains(&s->sacked, s->snd_una, &end);
}

static void process_ack(struct bd_tcp_sock *s, struct seg *sg)
{
	struct bd_tcp_stack *ts = s->ts;
	uint32_t ack = sg->ack;
	uint64_t now = now_of(s);
	bool win_changed = false;
	uint32_t sacked_before = s->sacked_bytes;

	if (SEQ_LT(s->snd_wl1, sg->seq) ||
	    (s->snd_wl1 == sg->seq && SEQ_LEQ(s->snd_wl2, ack))) {
		uint32_t nw = (uint32_t)sg->wnd << s->snd_wscale;
		win_changed = nw != s->snd_wnd;
		s->snd_wnd = nw;
		s->snd_wl1 = sg->seq;
		s->snd_wl2 = ack;
		if (nw > s->max_snd_wnd)
			s->max_snd_wnd = nw;
		if (nw && s->zwp) {
			s->zwp = false;
			s->backoff = 0;
			if (s->snd_una == s->snd_max)
				tcp_timer_clear(s, TT_RTX);
		}
	}
	if (s->sack_ok && sg->o.nsack)
		tcp_sack_update(s, &sg->o,
				SEQ_GT(ack, s->snd_una) ? ack : s->snd_una);

	if (SEQ_GT(ack, s->snd_una)) {
		uint32_t acked = ack - s->snd_una;
		uint32_t flight_before =
		    s->snd_max - s->snd_una - sacked_before;
		uint32_t delivered;
		uint32_t data_acked = 0;

		if (SEQ_GT(ack, s->sbuf_seq)) {
			data_acked = ack - s->sbuf_seq;
			if (data_acked > s->sbuf.len)
				data_acked = s->sbuf.len;
			if (data_acked) {
				s->sbuf.head =
				    (uint32_t)(((uint64_t)s->sbuf.head +
						data_acked) %
					       s->sbuf.cap);
				s->sbuf.len -= data_acked;
				s->sbuf_seq += data_acked;
			}
		}
		/* This ACK covers retransmitted bytes (recovery). */
		bool acked_rtx = SEQ_GT(s->high_rxt, s->snd_una);
		s->snd_una = ack;
		if (SEQ_LT(s->snd_nxt, ack))
			s->snd_nxt = ack;
		if (SEQ_LT(s->high_rxt, ack))
			s->high_rxt = ack;
		s->bytes_acked += data_acked;
		s->last_ack_us = now;
		if (s->rtt_timing && SEQ_GEQ(ack, s->rtt_seq)) {
			uint32_t r = (uint32_t)(now - s->rtt_start_us);
			tcp_rtt_sample(s, r);
			s->rtt_timing = false;
			if (s->cc_ops->pkts_acked) {
				tcp_cc_sync(s);
				s->cc_ops->pkts_acked(&s->cc, acked, r);
			}
		}
		if (in_slow_start(s) && !s->ts->cfg.no_hystart) {
			hystart_round(s, ack);
			/* Every ACK gives a sample through the timestamp it
			 * echoes; without timestamps, the timed segment. */
			if (s->ts_ok && sg->o.has_ts && sg->o.tsecr &&
			    SEQ_GEQ(tcp_now_ts(s), sg->o.tsecr) &&
			    s->snd_una == s->high_rxt)
				hystart_sample(s,
					       (tcp_now_ts(s) - sg->o.tsecr) *
						   TCP_TS_HZ_DIV);
			else if (!s->ts_ok && s->rtt_timing &&
				 SEQ_GEQ(ack, s->rtt_seq))
				hystart_sample(
				    s, (uint32_t)(now - s->rtt_start_us));
		} else {
			s->hs_css = false;
		}
		s->tlp_out = false;
		s->retries = 0;
		s->backoff = 0;
		tcp_ranges_trim(&s->sacked, ack);
		s->sacked_bytes = tcp_ranges_bytes(&s->sacked);
		tcp_cc_sync(s);
		if (s->ca_state == BD_TCP_CA_RECOVERY) {
			/* Retransmissions are arriving: time the ones still
			 * out from now. */
			if (s->timer[TT_RECOV])
				tcp_arm_recovery_timer(s);
			if (SEQ_GEQ(ack, s->recover)) {
				exit_recovery(s, BD_TCP_CA_OPEN);
				tcp_timer_clear(s, TT_RECOV);
			} else if (!s->sack_ok ||
				   partial_ack_lost(s, acked_rtx)) {
				/* RFC 6582 partial ACK: retransmit the next
				 * segment. */
				uint32_t de = s->sbuf_seq + s->sbuf.len;
				uint32_t len;
				de = SEQ_MIN(de, s->snd_max);
				len = SEQ_LT(ack, de) ? de - ack : 0;
				if (len > s->cc.mss)
					len = s->cc.mss;
				if (len) {
					int n = tcp_xmit(s, ack, len,
							 BD_TCP_F_ACK, true);
					if (n > 0 && SEQ_GT(ack + (uint32_t)n,
							    s->high_rxt))
						s->high_rxt = ack + (uint32_t)n;
					if (n > 0)
						tcp_rxt_log(s, ack,
							    (uint32_t)n);
				}
			}
		} else {
			if (s->ca_state == BD_TCP_CA_LOSS &&
			    SEQ_GEQ(ack, s->recover))
				exit_recovery(s, BD_TCP_CA_OPEN);
			s->dupacks = 0;
			/* Bytes that newly reached the receiver: what was
			 * already SACKed does not count again, and one ACK
			 * grows the window by at most one window. */
			delivered = acked + s->sacked_bytes;
			delivered = delivered > sacked_before
					? delivered - sacked_before
					: 0;
			if (delivered > s->cc.cwnd)
				delivered = s->cc.cwnd;
			/* Conservative slow start grows a quarter as fast
			 * (RFC 9406 section 4.3). */
			if (s->hs_css && in_slow_start(s))
				delivered = delivered / HS_CSS_DIVISOR
						? delivered / HS_CSS_DIVISOR
						: 1;
			if (flight_before * 2 >= s->cc.cwnd && delivered) {
				tcp_cc_sync(s);
				s->cc_ops->cong_avoid(&s->cc, delivered);
			}
		}
		/* Delivery rate over about one RTT. */
		if (!s->dr_start_us) {
			s->dr_start_us = now;
			s->dr_start_acked = s->bytes_acked;
		} else if (now - s->dr_start_us >= (s->srtt ? s->srtt : 1000)) {
			s->delivery_rate =
			    (s->bytes_acked - s->dr_start_acked) * 1000000ull /
			    (now - s->dr_start_us);
			s->dr_start_us = now;
			s->dr_start_acked = s->bytes_acked;
		}
		if (s->ulp && s->ulp->event && s->ulp_ready)
			s->ulp->event(s->ulp_ctx, s, BD_TCP_ULP_ACKED, ack);
		if (data_acked && s->want_writable)
			tcp_flush_add(s);
		if (s->snd_una == s->snd_max) {
			if (!s->zwp)
				tcp_timer_clear(s, TT_RTX);
			tcp_timer_clear(s, TT_TLP);
		} else {
			tcp_timer_clear(s, TT_RTX);
			tcp_rearm_rtx(s);
			tcp_arm_tlp(s);
		}
	} else if (ack == s->snd_una && sg->len == 0 &&
		   !(sg->flags & (BD_TCP_F_SYN | BD_TCP_F_FIN)) &&
		   s->snd_max != s->snd_una && !win_changed &&
		   !(s->sack_ok && sg->o.nsack &&
		     s->sacked_bytes <= sacked_before)) {
		/* With SACK, an ACK whose blocks tell nothing new (a D-SACK
		 * for a needless retransmission, or blocks already known) is
		 * no sign of a loss and no duplicate ACK (RFC 6675 section 2);
		 * counting it would start a spurious recovery. An ACK without
		 * blocks still counts: a receiver short of option space may
		 * send none. */
		uint32_t mss = s->cc.mss ? s->cc.mss : 536;
		uint32_t oseg = (s->snd_max - s->snd_una + mss - 1) / mss;
		uint32_t thresh = TCP_DUPTHRESH;
		/* Early retransmit (RFC 5827): fewer than 4 segments out
		 * and nothing new to send lower the threshold. */
		if (oseg < 4 &&
		    (SEQ_GEQ(s->snd_max, s->sbuf_seq + s->sbuf.len) ||
		     SEQ_GEQ(s->snd_max, s->snd_una + s->snd_wnd)))
			thresh = oseg > 2 ? oseg - 1 : 1;
		s->dupacks++;
		if (s->ca_state == BD_TCP_CA_OPEN ||
		    s->ca_state == BD_TCP_CA_DISORDER) {
			if (s->dupacks >= thresh)
				enter_recovery(s);
			else
				s->ca_state = BD_TCP_CA_DISORDER;
		}
	}
	if (s->ca_state == BD_TCP_CA_RECOVERY && s->rxt_n)
		tcp_rxt_check(s);
	if (s->sack_ok &&
	    (s->ca_state == BD_TCP_CA_OPEN ||
	     s->ca_state == BD_TCP_CA_DISORDER) &&
	    SEQ_GT(tcp_lost_boundary(s), s->snd_una))
		enter_recovery(s);
	if (s->ca_state == BD_TCP_CA_OPEN && (s->sacked_bytes || s->dupacks))
		s->ca_state = BD_TCP_CA_DISORDER;
	else if (s->ca_state == BD_TCP_CA_DISORDER && !s->sacked_bytes &&
		 !s->dupacks)
		s->ca_state = BD_TCP_CA_OPEN;
	(void)ts;
}

/* --- synchronized states -------------------------------------------------- */

/* A duplicate ACK answering an unacceptable segment that carries no data
 * (nor FIN) goes out at most once per OOW_ACK_GAP_US per socket (Linux's
 * tcp_oow_rate_limited, net.ipv4.tcp_invalid_ratelimit): two ends that
 * each find the other's pure ACKs unacceptable would otherwise answer
 * each other for ever. A segment with data or FIN is always answered. */
#define OOW_ACK_GAP_US 500000u

static bool oow_ack_allowed(struct bd_tcp_sock *s, const struct seg *sg)
{
	uint64_t now = now_of(s);
	if (seg_space(sg) && !(sg->flags & BD_TCP_F_SYN))
		return true;
	if (s->last_oow_ack_us && now - s->last_oow_ack_us < OOW_ACK_GAP_US)
		return false;
	s->last_oow_ack_us = now ? now : 1;
	return true;
}

static bool in_wnd(uint32_t x, uint32_t lo, uint32_t wnd)
{
	return SEQ_GEQ(x, lo) && SEQ_LT(x, lo + wnd);
}

static void rcv_sync(struct bd_tcp_sock *s, struct seg *sg)
{
	struct bd_tcp_stack *ts = s->ts;
	uint32_t seglen = seg_space(sg), rwnd;
	uint8_t fl = sg->flags;
	bool acceptable, fin_ok = true;
	uint32_t data_end;

	rwnd = SEQ_GT(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	if (s->ulp && s->ulp->rcv_wnd && s->state >= BD_TCP_ESTABLISHED) {
		/* An upper layer with its own window (MPTCP: the shared
		 * data-level one, RFC 8684 3.3.4) accepts what fits in it,
		 * even past the edge this subflow last advertised. */
		uint32_t u =
		    s->ulp->rcv_wnd(s->ulp_ctx, s, s->rbuf.cap - s->rbuf.len);
		if (u > rwnd)
			rwnd = u;
	}

	/* Simultaneous open: the peer's SYN-ACK repeats the SYN we already
	 * have; take it as the ACK it carries. */
	if (s->state == BD_TCP_SYN_RECEIVED && !s->passive &&
	    (fl & BD_TCP_F_SYN) && (fl & BD_TCP_F_ACK) && sg->seq == s->irs) {
		sg->seq++;
		sg->flags &= (uint8_t)~BD_TCP_F_SYN;
		fl = sg->flags;
		seglen--;
	}
	/* A retransmitted SYN in SYN-RECEIVED: repeat the SYN-ACK. */
	if (s->state == BD_TCP_SYN_RECEIVED && (fl & BD_TCP_F_SYN) &&
	    !(fl & BD_TCP_F_ACK) && sg->seq == s->irs) {
		s->snd_nxt = s->iss;
		tcp_send_synack(s);
		return;
	}
	/* PAWS (RFC 7323 section 5). */
	if (s->ts_ok && sg->o.has_ts && !(fl & BD_TCP_F_RST) &&
	    SEQ_LT(sg->o.tsval, s->ts_recent) &&
	    now_of(s) - s->ts_recent_us < PAWS_24DAYS_US) {
		MIB_INC(ts, PAWSEstab);
		if (oow_ack_allowed(s, sg))
			s->ack_now = true;
		else
			MIB_INC(ts, TCPACKSkippedPAWS);
		return;
	}
	if (seglen == 0)
		acceptable = rwnd == 0 ? sg->seq == s->rcv_nxt
				       : in_wnd(sg->seq, s->rcv_nxt, rwnd);
	else
		acceptable = rwnd != 0 &&
			     (in_wnd(sg->seq, s->rcv_nxt, rwnd) ||
			      in_wnd(sg->seq + seglen - 1, s->rcv_nxt, rwnd));

	/* RST (RFC 5961 section 3.2). */
	if (fl & BD_TCP_F_RST) {
		if (sg->seq == s->rcv_nxt) {
			/* The upper layer reads why (MPTCP's MP_TCPRST). */
			tcp_walk_unknown(s, sg->opt, sg->optlen, &sg->d);
			switch (s->state) {
			case BD_TCP_SYN_RECEIVED:
				if (s->passive) {
					tcp_done(s, BD_ECONNRESET);
					return;
				}
				tcp_done(s, BD_ECONNREFUSED);
				return;
			case BD_TCP_ESTABLISHED:
			case BD_TCP_CLOSE_WAIT:
				MIB_INC(ts, EstabResets);
				tcp_done(s, BD_ECONNRESET);
				return;
			default:
				tcp_done(s, BD_ECONNRESET);
				return;
			}
		}
		if (in_wnd(sg->seq, s->rcv_nxt, rwnd ? rwnd : 1)) {
			if (tcp_challenge_ack_allowed(ts))
				tcp_send_ack(s);
			return;
		}
		MIB_INC(ts, BraidDropRst);
		return;
	}
	/* SYN in a synchronized state, whatever its sequence number
	 * (RFC 5961 section 4). */
	if (fl & BD_TCP_F_SYN) {
		MIB_INC(ts, TCPSYNChallenge);
		if (tcp_challenge_ack_allowed(ts))
			tcp_send_ack(s);
		return;
	}
	if (!acceptable) {
		if (sg->len && SEQ_LEQ(sg->seq + sg->len, s->rcv_nxt))
			set_dsack(s, sg->seq, sg->seq + sg->len);
		if (rwnd == 0 && sg->len && sg->seq == s->rcv_nxt)
			MIB_INC(ts, TCPZeroWindowDrop);
		else
			MIB_INC(ts, BraidDropOutOfWindow);
		if (oow_ack_allowed(s, sg))
			s->ack_now = true;
		else
			MIB_INC(ts, TCPACKSkippedSeq);
		return;
	}
	if (!(fl & BD_TCP_F_ACK)) {
		MIB_INC(ts, BraidDropState);
		return;
	}
	/* RFC 5961 section 5: the ACK must be within what was sent. */
	if (SEQ_GT(sg->ack, s->snd_max) ||
	    SEQ_LT(sg->ack, s->snd_una - s->max_snd_wnd)) {
		MIB_INC(ts, BraidDropBadAck);
		if (s->state == BD_TCP_SYN_RECEIVED) {
			tcp_send_rst_reply(ts, sg->th, seglen, sg->m);
			return;
		}
		if (tcp_challenge_ack_allowed(ts))
			tcp_send_ack(s);
		return;
	}
	/* Timestamp to echo (RFC 7323 section 4.3). */
	if (s->ts_ok && sg->o.has_ts && SEQ_GEQ(sg->o.tsval, s->ts_recent) &&
	    SEQ_LEQ(sg->seq, s->last_ack_sent)) {
		s->ts_recent = sg->o.tsval;
		s->ts_recent_us = now_of(s);
	}
	if (sg->o.has_unknown)
		tcp_walk_unknown(s, sg->opt, sg->optlen, &sg->d);
	if (s->state == BD_TCP_CLOSED)
		return;

	if (s->state == BD_TCP_SYN_RECEIVED) {
		if (!SEQ_GT(sg->ack, s->snd_una)) {
			MIB_INC(ts, BraidDropSynRecvAck);
			tcp_send_rst_reply(ts, sg->th, seglen, sg->m);
			return;
		}
		if (s->parent &&
		    (int)s->parent->acceptq_len >= s->parent->backlog) {
			MIB_INC(ts, ListenOverflows);
			MIB_INC(ts, ListenDrops);
			return;
		}
		s->snd_wnd = (uint32_t)sg->wnd << s->snd_wscale;
		s->max_snd_wnd = s->snd_wnd;
		s->snd_wl1 = sg->seq;
		s->snd_wl2 = sg->ack;
		enter_established(s);
		if (s->passive && !s->parent && !s->app_owned) {
			/* Its listener is gone. */
			tcp_send_reset(s);
			tcp_done(s, BD_ECONNABORTED);
			return;
		}
		if (s->parent)
			tcp_child_established(s);
		else
			s->pending_connected = true;
		if (s->state == BD_TCP_CLOSED)
			return;
	}
	process_ack(s, sg);
	if (s->state == BD_TCP_CLOSED)
		return;
	data_end = s->sbuf_seq + s->sbuf.len;
	if (s->fin_sent && s->sbuf.len == 0 && s->snd_una == data_end + 1) {
		switch (s->state) {
		case BD_TCP_FIN_WAIT_1:
			tcp_set_state(s, BD_TCP_FIN_WAIT_2);
			tcp_timer_clear(s, TT_RTX);
			if (!s->app_owned)
				tcp_timer_set(s, TT_KEEPALIVE,
					      now_of(s) + ts->cfg.fin_wait2_us);
			break;
		case BD_TCP_CLOSING:
			enter_time_wait(s);
			return;
		case BD_TCP_LAST_ACK:
			tcp_done(s, 0);
			return;
		default:
			break;
		}
	}
	if (sg->len) {
		switch (s->state) {
		case BD_TCP_ESTABLISHED:
		case BD_TCP_FIN_WAIT_1:
		case BD_TCP_FIN_WAIT_2:
			if (!s->app_owned && !s->parent && !s->ulp) {
				/* Data for a closed socket. */
				MIB_INC(ts, TCPAbortOnData);
				tcp_send_reset(s);
				tcp_done(s, BD_ECONNABORTED);
				return;
			}
			fin_ok = rcv_data(s, sg);
			break;
		default:
			break;
		}
	}
	if ((fl & BD_TCP_F_FIN) && fin_ok && !s->rcv_fin &&
	    (s->state == BD_TCP_ESTABLISHED || s->state == BD_TCP_FIN_WAIT_1 ||
	     s->state == BD_TCP_FIN_WAIT_2)) {
		s->fin_pending = true;
		s->rcv_fin_seq = sg->seq + sg->len;
		if (s->rcv_fin_seq != s->rcv_nxt)
			s->ack_now = true;
	}
	if (s->fin_pending && s->rcv_nxt == s->rcv_fin_seq && !s->rcv_fin)
		process_fin(s);
}

/* --- TIME-WAIT ------------------------------------------------------------ */

static void tw_input(struct bd_tcp_sock *s, struct seg *sg)
{
	struct bd_tcp_stack *ts = s->ts;
	uint8_t fl = sg->flags;

	if (fl & BD_TCP_F_RST) {
		/* RFC 1337: do not let a RST cut TIME-WAIT short. */
		MIB_INC(ts, BraidDropRst);
		return;
	}
	if ((fl & BD_TCP_F_SYN) && !(fl & BD_TCP_F_ACK)) {
		bool newer = SEQ_GT(sg->seq, s->rcv_nxt) ||
			     (s->ts_ok && sg->o.has_ts &&
			      SEQ_GT(sg->o.tsval, s->ts_recent));
		struct bd_tcp_sock *l =
		    tcp_lookup_listener(ts, &sg->m->daddr, s->lport);
		if (newer && l) {
			MIB_INC(ts, TWRecycled);
			tcp_done(s, 0);
			listen_input(l, sg);
			return;
		}
	}
	if (s->ts_ok && sg->o.has_ts && SEQ_LT(sg->o.tsval, s->ts_recent)) {
		MIB_INC(ts, PAWSEstab);
		if (oow_ack_allowed(s, sg))
			tcp_send_ack(s);
		else
			MIB_INC(ts, TCPACKSkippedPAWS);
		return;
	}
	/* A bare ACK in sequence is what the peer's own close ends with:
	 * nothing to answer (as Linux's TIME-WAIT). Answering it made the
	 * two TIME-WAIT ends of a simultaneous close (MPTCP closes every
	 * subflow from both sides at once) ACK each other for ever. */
	if (!seg_space(sg) && sg->seq == s->rcv_nxt)
		return;
	if (fl & BD_TCP_F_FIN)
		tcp_timer_set(s, TT_TW, now_of(s) + ts->cfg.time_wait_us);
	if (oow_ack_allowed(s, sg))
		tcp_send_ack(s);
	else
		MIB_INC(ts, TCPACKSkippedTimeWait);
}

/* --- entry ---------------------------------------------------------------- */

/* With cfg.batch_output: may what this segment triggers wait for the
 * flush at the end of the batch? Only the steady state of a plain
 * connection: in-order data and ACKs. A hole (or a segment that fills
 * one: the caller checks), a duplicate (D-SACK), a control flag or loss
 * recovery is answered at once, so that the peer gets one duplicate ACK
 * per out-of-order segment and an immediate ACK when the gap closes
 * (RFC 5681 4.2). */
static bool output_can_wait(const struct bd_tcp_sock *s, const struct seg *sg)
{
	/* A batch can be longer than the window: every quarter of the
	 * receive buffer (at most 64 KiB, what Linux's GRO merges into one
	 * segment) is acknowledged at once, so that the sender never waits
	 * for the end of the batch with its whole window in flight. */
	uint32_t ack_every = s->rbuf.cap / 4 < 65536 ? s->rbuf.cap / 4 : 65536;
	if (s->rcv_nxt - s->last_ack_sent >= ack_every)
		return false;
	return (s->state == BD_TCP_ESTABLISHED ||
		s->state == BD_TCP_CLOSE_WAIT) &&
	       !s->ulp && !s->ooo.n && !s->dsack_pending &&
	       s->ca_state == BD_TCP_CA_OPEN && !s->dupacks &&
	       !(sg->flags & (BD_TCP_F_SYN | BD_TCP_F_FIN | BD_TCP_F_RST));
}

static void input_one(struct bd_tcp_stack *ts, struct bd_pkt *p,
		      const struct bd_ip_meta *m)
{
	const uint8_t *h = p->data;
	struct bd_tcp_sock *s;
	struct seg sg;
	unsigned doff;
	uint16_t sport, dport;
	bool had_hole;

	MIB_INC(ts, InSegs);
	if (p->len < TCP_HDR_LEN) {
		MIB_INC(ts, BraidDropShort);
		MIB_INC(ts, InErrs);
		return;
	}
	doff = (unsigned)(h[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || doff > p->len) {
		MIB_INC(ts, BraidDropBadDoff);
		MIB_INC(ts, InErrs);
		return;
	}
	if (m->saddr.family != BD_AF_INET || m->daddr.family != BD_AF_INET ||
	    bad_v4(m->saddr.v4) || bad_v4(m->daddr.v4)) {
		MIB_INC(ts, BraidDropBadAddr);
		MIB_INC(ts, InErrs);
		return;
	}
	if (!(p->flags & BD_PKT_F_L4_CSUM_OK)) {
		uint32_t sum =
		    bd_csum_pseudo4(m->saddr.v4, m->daddr.v4, 6, p->len);
		if (bd_csum_fold(bd_csum_add(sum, h, p->len)) != 0) {
			MIB_INC(ts, BraidDropBadCsum);
			MIB_INC(ts, InCsumErrors);
			MIB_INC(ts, InErrs);
			return;
		}
	}
	sport = (uint16_t)(h[0] << 8 | h[1]);
	dport = (uint16_t)(h[2] << 8 | h[3]);
	if (!sport || !dport) {
		MIB_INC(ts, BraidDropBadPort);
		MIB_INC(ts, InErrs);
		return;
	}
	memset(&sg, 0, sizeof(sg));
	sg.flags = h[13];
	if (((sg.flags & BD_TCP_F_SYN) &&
	     (sg.flags & (BD_TCP_F_FIN | BD_TCP_F_RST))) ||
	    !(sg.flags & (BD_TCP_F_SYN | BD_TCP_F_RST | BD_TCP_F_ACK))) {
		MIB_INC(ts, BraidDropBadFlags);
		MIB_INC(ts, InErrs);
		return;
	}
	sg.opt = h + TCP_HDR_LEN;
	sg.optlen = doff - TCP_HDR_LEN;
	if (tcp_parse_opts(ts, sg.opt, sg.optlen, sg.flags & BD_TCP_F_SYN,
			   &sg.o) < 0) {
		MIB_INC(ts, InErrs);
		return;
	}
	sg.seq = rd32(h + 4);
	sg.ack = rd32(h + 8);
	sg.wnd = (uint16_t)(h[14] << 8 | h[15]);
	sg.data = h + doff;
	sg.len = p->len - doff;
	sg.m = m;
	sg.th = (const struct tcp_hdr *)(const void *)h;
	sg.d.seq = sg.seq;
	sg.d.ack = sg.ack;
	sg.d.len = sg.len;
	sg.d.flags = sg.flags;
	sg.d.wnd = sg.wnd;

	s = tcp_lookup(ts, &m->daddr, dport, &m->saddr, sport);
	if (!s) {
		struct bd_tcp_sock *l =
		    tcp_lookup_listener(ts, &m->daddr, dport);
		if (l) {
			listen_input(l, &sg);
			return;
		}
		MIB_INC(ts, BraidDropNoSocket);
		tcp_send_rst_reply(ts, sg.th, seg_space(&sg), m);
		return;
	}
	s->segs_in++;
	s->last_rcv_us = now_of(s);
	had_hole = s->ooo.n > 0;
	switch (s->state) {
	case BD_TCP_SYN_SENT:
		rcv_syn_sent(s, &sg);
		break;
	case BD_TCP_TIME_WAIT:
		tw_input(s, &sg);
		return;
	default:
		rcv_sync(s, &sg);
		break;
	}
	if (s->dead)
		return;
	tcp_notify(s);
	if (s->dead)
		return;
	if (ts->cfg.batch_output && !had_hole && output_can_wait(s, &sg))
		tcp_flush_add(s);
	else
		tcp_output(s);
}

void bd_tcp_input(struct bd_stack *st, struct bd_pkt *p,
		  const struct bd_ip_meta *m)
{
	struct bd_tcp_stack *ts = bd_stack_tcp(st);

	if (!ts) {
		bd_pkt_free(p);
		return;
	}
	ts->depth++;
	input_one(ts, p, m);
	bd_pkt_free(p);
	ts->depth--;
	tcp_reap(ts);
}
