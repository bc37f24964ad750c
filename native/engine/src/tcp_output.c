/* SPDX-License-Identifier: Apache-2.0
 * TCP output: building segments (options, window, checksum), the send loop
 * (congestion and receive window, Nagle, FIN), RFC 6675 recovery
 * transmission, RSTs and challenge ACKs. */
#include <string.h>

#include "braid/csum.h"
#include "tcp_impl.h"

static void be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint32_t tcp_now_ts(const struct bd_tcp_sock *s)
{
	return (uint32_t)(bd_stack_now_us(s->ts->st) / TCP_TS_HZ_DIV) +
	       s->ts_offset;
}

bool tcp_challenge_ack_allowed(struct bd_tcp_stack *ts)
{
	uint64_t sec = bd_stack_now_us(ts->st) / 1000000;
	if (sec != ts->chack_second) {
		ts->chack_second = sec;
		ts->chack_count = 0;
	}
	if (ts->chack_count >= ts->cfg.challenge_ack_limit) {
		MIB_INC(ts, TCPChallengeACKLimit);
		return false;
	}
	ts->chack_count++;
	MIB_INC(ts, TCPChallengeACK);
	return true;
}

/* The receive window to advertise (bytes, before scaling): free buffer
 * space, never moving the right edge left (RFC 9293 3.8.6.2.2 receiver
 * SWS avoidance: the edge moves only by a useful amount). */
uint32_t tcp_rcv_window(const struct bd_tcp_sock *s)
{
	uint32_t free_sp = s->rbuf.cap - s->rbuf.len;
	uint32_t cur =
	    SEQ_GT(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	uint32_t thresh = s->rbuf.cap / 2;
	uint32_t max = 65535u << s->rcv_wscale;

	if (thresh > s->adv_mss)
		thresh = s->adv_mss;
	if (free_sp > cur && free_sp - cur < thresh)
		free_sp = cur;
	if (free_sp < cur)
		free_sp = cur;
	if (free_sp > max)
		free_sp = max;
	return free_sp;
}

/* The window to advertise: the upper layer's when it has one (*ulp set:
 * it keeps its own right edge, and TCP still accepts data up to the edge
 * it advertised before). */
static uint32_t adv_window(const struct bd_tcp_sock *s, bool *ulp)
{
	uint32_t w = tcp_rcv_window(s);
	*ulp = false;
	if (s->ulp && s->ulp->rcv_wnd) {
		w = s->ulp->rcv_wnd(s->ulp_ctx, (struct bd_tcp_sock *)s, w);
		*ulp = true;
	}
	return w;
}

static uint32_t pkt_room(struct bd_tcp_stack *ts)
{
	uint32_t bs = bd_stack_pool(ts->st)->buf_size;
	uint32_t fixed = BD_PKT_HEADROOM + TCP_HDR_LEN + TCP_MAX_OPT;
	return bs > fixed ? bs - fixed : 0;
}

/* Payload bytes per segment given the options it will carry. */
static uint32_t data_mss(const struct bd_tcp_sock *s)
{
	uint32_t m = s->snd_mss, o = 0, room = pkt_room(s->ts);
	if (s->ts_ok)
		o += 12;
	if (s->sack_ok && (s->ooo.n || s->dsack_pending)) {
		uint32_t nb = s->ooo.n + (s->dsack_pending ? 1 : 0);
		uint32_t max = s->ts_ok ? 3 : 4;
		o += 4 + 8 * (nb < max ? nb : max);
	}
	if (s->ulp)
		o += (s->ulp->data_opt_reserve + 3u) & ~3u;
	if (o > TCP_MAX_OPT)
		o = TCP_MAX_OPT;
	m = m > o + 1 ? m - o : 1;
	if (m > room)
		m = room;
	return m ? m : 1;
}

int tcp_xmit(struct bd_tcp_sock *s, uint32_t seq, uint32_t len, uint8_t flags,
	     bool rtx)
{
	struct bd_tcp_stack *ts = s->ts;
	struct bd_stack *st = ts->st;
	struct bd_pkt *p = bd_pkt_alloc(bd_stack_pool(st));
	uint8_t opt[TCP_MAX_OPT], *h;
	unsigned olen;
	uint32_t win, wfield, tcplen, maxp;
	bool with_sack = false;
	uint64_t now = bd_stack_now_us(st);

	if (!p) {
		MIB_INC(ts, BraidOutNoMem);
		return -BD_ENOMEM;
	}
	if (flags & BD_TCP_F_SYN) {
		olen = tcp_write_syn_opts(s, opt, flags & BD_TCP_F_ACK,
					  tcp_now_ts(s));
	} else {
		with_sack = (flags & BD_TCP_F_ACK) && s->sack_ok &&
			    (s->ooo.n || s->dsack_pending);
		olen = s->ts_ok ? 12 : 0; /* written below */
	}
	/* A retransmission never carries bytes that were not sent. */
	if (rtx && len && SEQ_GT(seq + len, s->snd_max))
		len = SEQ_GT(s->snd_max, seq) ? s->snd_max - seq : 0;
	if (len && s->ulp && s->ulp->seg_limit) {
		uint32_t lim = s->ulp->seg_limit(s->ulp_ctx, s, seq, len);
		if (lim && lim < len) {
			len = lim;
			flags &= (uint8_t)~BD_TCP_F_FIN;
		}
	}
	/* The upper layer's options first (an MPTCP mapping must not lose
	 * its room to SACK blocks, as in Linux), TCP's with what is left;
	 * the payload is cut to fit below. */
	uint8_t uopt[TCP_MAX_OPT];
	unsigned ulen = 0;
	if (s->ulp && s->ulp->write_opts) {
		struct bd_tcp_seg_desc d = {.seq = seq,
					    .ack = s->rcv_nxt,
					    .len = len,
					    .flags = flags,
					    .rtx = rtx && len,
					    .sack = with_sack};
		unsigned space = TCP_MAX_OPT - olen;
		ulen = s->ulp->write_opts(s->ulp_ctx, s, &d, uopt, space);
		if (ulen > space)
			ulen = space;
	}
	if (!(flags & BD_TCP_F_SYN)) {
		unsigned base = s->ts_ok ? 12 : 0;
		olen = tcp_write_opts(s, opt, tcp_now_ts(s), with_sack,
				      TCP_MAX_OPT - ((ulen + 3u) & ~3u));
		if (olen <= base)
			with_sack = false; /* no room for a block */
	}
	memcpy(opt + olen, uopt, ulen);
	olen += ulen;
	while (olen & 3)
		opt[olen++] = 1;
	maxp = s->snd_mss > olen ? s->snd_mss - olen : 1;
	if (maxp > pkt_room(ts))
		maxp = pkt_room(ts);
	if (len > maxp) {
		len = maxp;
		flags &= (uint8_t)~BD_TCP_F_FIN;
	}
	tcplen = TCP_HDR_LEN + olen + len;
	h = bd_pkt_append(p, tcplen);
	if (!h) {
		bd_pkt_free(p);
		MIB_INC(ts, BraidOutNoMem);
		return -BD_ENOMEM;
	}
	if (flags & BD_TCP_F_SYN) {
		win = s->rbuf.cap - s->rbuf.len;
		if (s->ulp && s->ulp->rcv_wnd)
			win = s->ulp->rcv_wnd(s->ulp_ctx, s, win);
		wfield = win > 65535 ? 65535 : win;
	} else {
		bool ulp_wnd;
		win = adv_window(s, &ulp_wnd);
		wfield = win >> s->rcv_wscale;
		if (!ulp_wnd &&
		    SEQ_LT(s->rcv_nxt + (wfield << s->rcv_wscale), s->rcv_adv))
			wfield++;
		if (wfield > 65535)
			wfield = 65535;
	}
	be16(h, s->lport);
	be16(h + 2, s->rport);
	be32(h + 4, seq);
	be32(h + 8, (flags & BD_TCP_F_ACK) ? s->rcv_nxt : 0);
	h[12] = (uint8_t)(((TCP_HDR_LEN + olen) / 4) << 4);
	h[13] = flags;
	be16(h + 14, (uint16_t)wfield);
	be16(h + 16, 0);
	be16(h + 18, 0);
	memcpy(h + TCP_HDR_LEN, opt, olen);
	if (len) {
		const uint8_t *span = NULL;
		/* Bytes never sent before stay in the send ring, referred to,
		 * when a port takes such frames: nothing can acknowledge them
		 * (and free their room) before they leave at this poll's
		 * flush. Retransmissions, and segments across the ring's
		 * end, are copied. */
		if (!rtx && !SEQ_LT(seq, s->snd_max) && bd_stack_tx_ref(st))
			span = tcp_ring_span(&s->sbuf, seq - s->sbuf_seq, len);
		if (span) {
			p->len -= len; /* the room stays: bd_pkt_linearize */
			p->ref = span;
			p->ref_len = len;
		} else {
			tcp_ring_copy_out(&s->sbuf, seq - s->sbuf_seq,
					  h + TCP_HDR_LEN + olen, len);
		}
	}
	if (s->laddr.family == BD_AF_INET) {
		uint32_t sum =
		    bd_csum_pseudo4(s->laddr.v4, s->raddr.v4, 6, tcplen);
		if (ts->cfg.tx_csum_offload) {
			p->flags |= BD_PKT_F_L4_CSUM_TX;
			be16(h + 16, (uint16_t)~bd_csum_fold(sum));
		} else {
			/* The header is a multiple of 4 bytes long: its sum
			 * and the payload's add up as one. */
			sum = bd_csum_add(sum, h, tcplen - p->ref_len);
			if (p->ref_len)
				sum = bd_csum_add(sum, p->ref, p->ref_len);
			be16(h + 16, bd_csum_fold(sum));
		}
	}
	p->l4_len = (uint16_t)(TCP_HDR_LEN + olen);

	if (flags & BD_TCP_F_ACK) {
		uint32_t edge = s->rcv_nxt + (wfield << s->rcv_wscale);
		if (flags & BD_TCP_F_SYN)
			edge = s->rcv_nxt + wfield;
		if (SEQ_GT(edge, s->rcv_adv) || s->rcv_adv == 0)
			s->rcv_adv = edge;
		if (wfield == 0 && s->rcv_adv != s->rcv_nxt)
			MIB_INC(ts, TCPToZeroWindowAdv);
		s->last_ack_sent = s->rcv_nxt;
		s->ack_now = false;
		s->segs_unacked = 0;
		tcp_timer_clear(s, TT_DELACK);
		if (with_sack)
			s->dsack_pending = false;
	}
	s->segs_out++;
	MIB_INC(ts, OutSegs);
	if (flags & BD_TCP_F_RST)
		MIB_INC(ts, OutRsts);
	if (len) {
		s->data_segs_out++;
		s->bytes_sent += len;
		s->last_snd_us = now;
		if (!rtx)
			MIB_INC(ts, TCPOrigDataSent);
	}
	if (rtx) {
		MIB_INC(ts, RetransSegs);
		s->total_retrans++;
		s->bytes_retrans += len;
		if (s->rtt_timing && SEQ_LT(seq, s->rtt_seq))
			s->rtt_timing = false; /* Karn */
	} else if (!s->rtt_timing && (len || (flags & BD_TCP_F_SYN))) {
		s->rtt_timing = true;
		s->rtt_seq = seq + len + ((flags & BD_TCP_F_SYN) ? 1 : 0);
		s->rtt_start_us = now;
	}
	if (bd_ip_output(st, p, &s->laddr, &s->raddr, 6, s->tos) < 0)
		MIB_INC(ts, BraidOutErrors);
	return (int)len;
}

int tcp_send_ctl(struct bd_tcp_sock *s, uint8_t flags, uint32_t seq)
{
	return tcp_xmit(s, seq, 0, flags, false);
}

void tcp_send_ack(struct bd_tcp_sock *s)
{
	tcp_xmit(s, s->snd_nxt, 0, BD_TCP_F_ACK, false);
}

void tcp_send_syn(struct bd_tcp_sock *s)
{
	tcp_xmit(s, s->iss, 0, BD_TCP_F_SYN, s->snd_max != s->iss);
	s->snd_nxt = s->iss + 1;
	if (SEQ_GT(s->snd_nxt, s->snd_max))
		s->snd_max = s->snd_nxt;
	if (!s->timer[TT_RTX])
		tcp_rearm_rtx(s);
}

void tcp_send_synack(struct bd_tcp_sock *s)
{
	tcp_xmit(s, s->iss, 0, BD_TCP_F_SYN | BD_TCP_F_ACK,
		 s->snd_max != s->iss);
	s->snd_nxt = s->iss + 1;
	if (SEQ_GT(s->snd_nxt, s->snd_max))
		s->snd_max = s->snd_nxt;
	if (!s->timer[TT_RTX])
		tcp_rearm_rtx(s);
}

void tcp_send_reset(struct bd_tcp_sock *s)
{
	if (s->state == BD_TCP_CLOSED || s->state == BD_TCP_LISTEN ||
	    s->state == BD_TCP_SYN_SENT)
		return;
	tcp_xmit(s, s->snd_max, 0, BD_TCP_F_RST | BD_TCP_F_ACK, false);
}

/* RST for a segment that matches no connection (RFC 9293 3.10.7.1). */
void tcp_send_rst_reply(struct bd_tcp_stack *ts, const struct tcp_hdr *th,
			uint32_t seglen, const struct bd_ip_meta *m)
{
	tcp_send_rst_reply_opts(ts, th, seglen, m, NULL, 0);
}

void tcp_send_rst_reply_opts(struct bd_tcp_stack *ts, const struct tcp_hdr *th,
			     uint32_t seglen, const struct bd_ip_meta *m,
			     const uint8_t *opt, unsigned olen)
{
	const uint8_t *in = (const uint8_t *)th;
	struct bd_pkt *p;
	uint8_t *h, flags = th->flags;
	uint32_t seq = 0, ack = 0, hlen;

	if (olen > TCP_MAX_OPT)
		olen = 0;
	hlen = TCP_HDR_LEN + ((olen + 3u) & ~3u);

	if (flags & BD_TCP_F_RST)
		return;
	if (m->saddr.family != BD_AF_INET)
		return;
	p = bd_pkt_alloc(bd_stack_pool(ts->st));
	if (!p) {
		MIB_INC(ts, BraidOutNoMem);
		return;
	}
	h = bd_pkt_append(p, hlen);
	if (!h) {
		bd_pkt_free(p);
		return;
	}
	memset(h, 0, hlen);
	if (olen) {
		memcpy(h + TCP_HDR_LEN, opt, olen);
		memset(h + TCP_HDR_LEN + olen, 1, hlen - TCP_HDR_LEN - olen);
	}
	memcpy(h, in + 2, 2);
	memcpy(h + 2, in, 2);
	if (flags & BD_TCP_F_ACK) {
		memcpy(h + 4, in + 8, 4);
		h[13] = BD_TCP_F_RST;
	} else {
		seq = (uint32_t)in[4] << 24 | (uint32_t)in[5] << 16 |
		      (uint32_t)in[6] << 8 | in[7];
		ack = seq + seglen;
		be32(h + 4, 0);
		be32(h + 8, ack);
		h[13] = BD_TCP_F_RST | BD_TCP_F_ACK;
	}
	(void)seq;
	h[12] = (uint8_t)((hlen / 4) << 4);
	be16(h + 16,
	     bd_csum_fold(bd_csum_add(
		 bd_csum_pseudo4(m->daddr.v4, m->saddr.v4, 6, hlen), h, hlen)));
	p->l4_len = (uint16_t)hlen;
	MIB_INC(ts, OutSegs);
	MIB_INC(ts, OutRsts);
	if (bd_ip_output(ts->st, p, &m->daddr, &m->saddr, 6, 0) < 0)
		MIB_INC(ts, BraidOutErrors);
}

/* RTO: RFC 5681 section 3.1 / RFC 6298 5.5: ssthresh from the controller
 * (once per loss episode), cwnd = 1 SMSS, go back to snd_una. */
void tcp_enter_loss(struct bd_tcp_sock *s)
{
	tcp_cc_sync(s);
	if (s->ca_state != BD_TCP_CA_LOSS)
		s->cc.ssthresh = s->cc_ops->ssthresh(&s->cc);
	s->cc.cwnd = s->cc.mss;
	s->ca_state = BD_TCP_CA_LOSS;
	s->cc.ca_state = BD_TCP_CA_LOSS;
	tcp_timer_clear(s, TT_TLP);
	if (s->cc_ops->set_state)
		s->cc_ops->set_state(&s->cc, BD_TCP_CA_LOSS);
	if (s->cc_ops->cwnd_event)
		s->cc_ops->cwnd_event(&s->cc, BD_CC_EV_LOSS_RTO);
	s->recover = s->snd_max;
	s->snd_nxt = s->snd_una;
	s->high_rxt = s->snd_una;
	s->dupacks = 0;
	s->rtt_timing = false;
	if (s->retries >= 2 && s->sacked.n) {
		/* The receiver may have reneged: forget its SACKs. */
		MIB_INC(s->ts, TCPSACKReneging);
		s->sacked.n = 0;
		s->sacked_bytes = 0;
	}
	s->lost_est = (s->snd_max - s->snd_una) / (s->cc.mss ? s->cc.mss : 1);
}

static bool fin_allowed(const struct bd_tcp_sock *s)
{
	return s->fin_queued &&
	       (s->state == BD_TCP_FIN_WAIT_1 || s->state == BD_TCP_CLOSING ||
		s->state == BD_TCP_LAST_ACK);
}

static void note_sent(struct bd_tcp_sock *s)
{
	if (!s->timer[TT_RTX] || s->zwp)
		tcp_rearm_rtx(s);
	if (!s->timer[TT_TLP])
		tcp_arm_tlp(s);
}

/* RFC 6675 section 5 step (C): send while cwnd - pipe >= 1 SMSS. */
static int recovery_send(struct bd_tcp_sock *s, uint32_t dmss)
{
	uint32_t pipe = tcp_pipe(s), seq, len;
	uint32_t data_end = s->sbuf_seq + s->sbuf.len;
	bool rescue, lost_sent = false;
	int sent = 0, n;

	while (pipe + dmss <= s->cc.cwnd || (pipe == 0 && !sent)) {
		if (tcp_next_seg(s, &seq, &len, &rescue)) {
			n = tcp_xmit(s, seq, len, BD_TCP_F_ACK, true);
			if (n <= 0)
				break;
			if (seq == s->snd_una && seq != s->rto_head) {
				/* The first hole went again: give it a full RTO
				 * before the timer presumes it lost (as Linux
				 * restarts it on retransmitting the head). Once
				 * per head: if the same head keeps going (the
				 * recovery timer), the RTO still fires, backs
				 * off and ends a dead connection. */
				s->rto_head = seq;
				tcp_timer_clear(s, TT_RTX);
				tcp_rearm_rtx(s);
			}
			lost_sent = true;
			s->high_rxt = seq + (uint32_t)n;
			tcp_rxt_log(s, seq, (uint32_t)n);
			s->lost_est++;
			pipe += (uint32_t)n;
			sent++;
			continue;
		}
		if (SEQ_LT(s->snd_max, data_end)) {
			uint32_t wnd_end = s->snd_una + s->snd_wnd;
			uint32_t rwnd = SEQ_LT(s->snd_max, wnd_end)
					    ? wnd_end - s->snd_max
					    : 0;
			len = data_end - s->snd_max;
			if (len > dmss)
				len = dmss;
			if (len > rwnd)
				len = rwnd;
			if (len) {
				bool fin = fin_allowed(s) &&
					   s->snd_max + len == data_end;
				n = tcp_xmit(s, s->snd_max, len,
					     BD_TCP_F_ACK |
						 (fin ? BD_TCP_F_FIN : 0),
					     false);
				if (n <= 0)
					break;
				s->snd_max += (uint32_t)n;
				if (fin && (uint32_t)n == len) {
					s->snd_max++;
					s->fin_sent = true;
				}
				s->snd_nxt = s->snd_max;
				pipe += (uint32_t)n;
				sent++;
				continue;
			}
		}
		if (s->fin_sent && s->snd_una == data_end &&
		    s->snd_max == data_end + 1 &&
		    !SEQ_GT(s->high_rxt, data_end)) {
			/* Only the FIN is missing: it is a sequence octet like
			 * any other (RFC 9293 3.10.4), retransmit it once per
			 * recovery. */
			n = tcp_xmit(s, data_end, 0,
				     BD_TCP_F_ACK | BD_TCP_F_FIN, true);
			if (n < 0)
				break;
			s->high_rxt = s->snd_max;
			sent++;
			break;
		}
		if (tcp_next_seg_tail(s, &seq, &len, &rescue)) {
			n = tcp_xmit(s, seq, len, BD_TCP_F_ACK, true);
			if (n <= 0)
				break;
			if (rescue)
				s->rescue_rxt = s->recover;
			else
				s->high_rxt = seq + (uint32_t)n;
			pipe += (uint32_t)n;
			sent++;
			if (rescue)
				break;
			continue;
		}
		break;
	}
	if (sent)
		note_sent(s);
	/* The recovery timer measures the age of the oldest retransmission
	 * not known to have arrived: arming it again on every send (new data,
	 * rule 3) would push it out for as long as ACKs keep coming. */
	if (lost_sent && !s->timer[TT_RECOV])
		tcp_arm_recovery_timer(s);
	return sent;
}

void tcp_output(struct bd_tcp_sock *s)
{
	uint32_t data_end, dmss;
	int sent = 0;

	switch (s->state) {
	case BD_TCP_CLOSED:
	case BD_TCP_LISTEN:
		return;
	case BD_TCP_SYN_SENT:
		if (s->snd_max == s->iss && !s->syn_held)
			tcp_send_syn(s);
		return;
	case BD_TCP_SYN_RECEIVED:
		s->ack_now = false;
		return;
	case BD_TCP_TIME_WAIT:
	case BD_TCP_FIN_WAIT_2:
		if (s->ack_now)
			tcp_send_ack(s);
		return;
	default:
		break;
	}
	tcp_cc_sync(s);
	data_end = s->sbuf_seq + s->sbuf.len;
	dmss = data_mss(s);
	if (s->ca_state == BD_TCP_CA_RECOVERY) {
		sent = recovery_send(s, dmss);
	} else {
		for (;;) {
			uint32_t e, flight, avail, wnd_end, rwnd, cw, len;
			bool fin, rtx;
			uint8_t fl;
			int n;

			while (SEQ_LT(s->snd_nxt, s->snd_max) &&
			       tcp_ranges_contains(&s->sacked, s->snd_nxt, &e))
				s->snd_nxt = SEQ_MIN(e, s->snd_max);
			flight = tcp_pipe(s);
			avail = SEQ_LT(s->snd_nxt, data_end)
				    ? data_end - s->snd_nxt
				    : 0;
			wnd_end = s->snd_una + s->snd_wnd;
			rwnd = SEQ_LT(s->snd_nxt, wnd_end)
				   ? wnd_end - s->snd_nxt
				   : 0;
			cw = s->cc.cwnd;
			/* Limited transmit (RFC 3042): one new segment per
			 * the first two duplicate ACKs. */
			if (s->ca_state == BD_TCP_CA_DISORDER && s->dupacks)
				cw += (s->dupacks < 2 ? s->dupacks : 2) * dmss;
			cw = cw > flight ? cw - flight : 0;
			len = avail;
			if (len > dmss)
				len = dmss;
			if (len > rwnd)
				len = rwnd;
			if (len > cw)
				len = cw;
			fin = fin_allowed(s) && s->snd_nxt + len == data_end &&
			      (cw > 0 || flight == 0);
			if (len == 0 && !fin)
				break;
			if (len < dmss && len < avail && flight > 0)
				break; /* sender SWS avoidance */
			if (s->nagle && len < dmss && len == avail &&
			    flight > 0 && !fin)
				break;
			rtx = SEQ_LT(s->snd_nxt, s->snd_max);
			fl = BD_TCP_F_ACK | (fin ? BD_TCP_F_FIN : 0);
			if (len && s->snd_nxt + len == data_end)
				fl |= BD_TCP_F_PSH;
			if (!rtx && flight == 0 && s->cc_ops->cwnd_event &&
			    s->last_snd_us &&
			    bd_stack_now_us(s->ts->st) - s->last_snd_us >
				s->rto)
				s->cc_ops->cwnd_event(&s->cc,
						      BD_CC_EV_TX_START);
			n = tcp_xmit(s, s->snd_nxt, len, fl, rtx);
			if (n < 0 || (n == 0 && len && !fin))
				break;
			s->snd_nxt += (uint32_t)n;
			if (fin && (uint32_t)n == len) {
				s->snd_nxt++;
				s->fin_sent = true;
			}
			if (SEQ_GT(s->snd_nxt, s->snd_max))
				s->snd_max = s->snd_nxt;
			sent++;
			note_sent(s);
			if (fin && (uint32_t)n == len)
				break;
		}
	}
	/* Zero window: arm the persist timer (RFC 9293 3.8.6.1). */
	if (SEQ_LT(s->snd_nxt, data_end) && s->snd_una == s->snd_max &&
	    SEQ_GEQ(s->snd_nxt, s->snd_una + s->snd_wnd) && !s->zwp) {
		s->zwp = true;
		tcp_timer_set(s, TT_RTX,
			      bd_stack_now_us(s->ts->st) + tcp_rto_backed(s));
	}
	if (s->ack_now && !sent)
		tcp_send_ack(s);
}

void bd_tcp_flush(struct bd_stack *st)
{
	struct bd_tcp_stack *ts = bd_stack_tcp(st);
	struct bd_tcp_sock *s;

	if (!ts)
		return;
	ts->depth++;
	while ((s = ts->flush_head)) {
		ts->flush_head = s->flnext;
		s->in_flush = false;
		if (s->dead)
			continue;
		tcp_notify(s);
		tcp_output(s);
	}
	ts->depth--;
	tcp_reap(ts);
}
