/* SPDX-License-Identifier: Apache-2.0
 * TCP timers: one min-heap entry per socket keyed by its earliest timer.
 * Pushing a timer later never touches the heap (the entry fires early, and
 * is re-keyed then), so restarting the RTO on every ACK costs O(1).
 * RTO estimation per RFC 6298, keepalive, persist (zero window probes),
 * delayed ACK, TIME_WAIT and handshake retries. */
#include <stdlib.h>

#include "tcp_impl.h"

static void heap_swap(struct bd_tcp_stack *ts, uint32_t a, uint32_t b)
{
	struct bd_tcp_sock *x = ts->heap[a];
	ts->heap[a] = ts->heap[b];
	ts->heap[b] = x;
	ts->heap[a]->heap_idx = a;
	ts->heap[b]->heap_idx = b;
}

static void sift_up(struct bd_tcp_stack *ts, uint32_t i)
{
	while (i > 0) {
		uint32_t p = (i - 1) / 2;
		if (ts->heap[p]->heap_key <= ts->heap[i]->heap_key)
			break;
		heap_swap(ts, i, p);
		i = p;
	}
}

static void sift_down(struct bd_tcp_stack *ts, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < ts->heap_len &&
		    ts->heap[l]->heap_key < ts->heap[m]->heap_key)
			m = l;
		if (r < ts->heap_len &&
		    ts->heap[r]->heap_key < ts->heap[m]->heap_key)
			m = r;
		if (m == i)
			break;
		heap_swap(ts, i, m);
		i = m;
	}
}

static int heap_push(struct bd_tcp_sock *s, uint64_t key)
{
	struct bd_tcp_stack *ts = s->ts;
	if (ts->heap_len == ts->heap_cap) {
		uint32_t nc = ts->heap_cap ? ts->heap_cap * 2 : 64;
		struct bd_tcp_sock **nh = realloc(ts->heap, nc * sizeof(*nh));
		if (!nh)
			return -BD_ENOMEM;
		ts->heap = nh;
		ts->heap_cap = nc;
	}
	s->heap_key = key;
	s->heap_idx = ts->heap_len;
	ts->heap[ts->heap_len++] = s;
	sift_up(ts, s->heap_idx);
	return 0;
}

void tcp_heap_remove(struct bd_tcp_sock *s)
{
	struct bd_tcp_stack *ts = s->ts;
	uint32_t i = s->heap_idx;
	if (i == UINT32_MAX)
		return;
	s->heap_idx = UINT32_MAX;
	ts->heap_len--;
	if (i == ts->heap_len)
		return;
	ts->heap[i] = ts->heap[ts->heap_len];
	ts->heap[i]->heap_idx = i;
	sift_down(ts, i);
	sift_up(ts, i);
}

void tcp_timer_set(struct bd_tcp_sock *s, int id, uint64_t when)
{
	if (s->dead || s->state == BD_TCP_CLOSED)
		return; /* a finished connection keeps no timer */
	if (when == 0)
		when = 1;
	s->timer[id] = when;
	if (s->heap_idx == UINT32_MAX) {
		heap_push(s, when);
	} else if (when < s->heap_key) {
		s->heap_key = when;
		sift_up(s->ts, s->heap_idx);
	}
}

void tcp_timer_clear(struct bd_tcp_sock *s, int id)
{
	s->timer[id] = 0;
}

int bd_tcp_ulp_timer(struct bd_tcp_sock *s, uint64_t at_us)
{
	if (!s->ulp || s->dead || s->state == BD_TCP_CLOSED)
		return -BD_ENOTCONN;
	if (at_us)
		tcp_timer_set(s, TT_ULP, at_us);
	else
		tcp_timer_clear(s, TT_ULP);
	return 0;
}

void tcp_timer_clear_all(struct bd_tcp_sock *s)
{
	for (int i = 0; i < TT_NUM; i++)
		s->timer[i] = 0;
}

uint64_t tcp_rto_backed(const struct bd_tcp_sock *s)
{
	uint64_t rto = (uint64_t)s->rto << s->backoff;
	if (rto > s->ts->cfg.rto_max_us)
		rto = s->ts->cfg.rto_max_us;
	return rto;
}

/* (Re)start the retransmission timer if something is outstanding. */
void tcp_rearm_rtx(struct bd_tcp_sock *s)
{
	if (s->snd_una != s->snd_max) {
		s->zwp = false;
		tcp_timer_set(s, TT_RTX,
			      bd_stack_now_us(s->ts->st) + tcp_rto_backed(s));
	} else if (!s->zwp) {
		tcp_timer_clear(s, TT_RTX);
	}
}

void tcp_rtt_sample(struct bd_tcp_sock *s, uint32_t r)
{
	const struct bd_tcp_config *cfg = &s->ts->cfg;
	uint64_t rto;

	if (r == 0)
		r = 1;
	if (!s->srtt) {
		s->srtt = r;
		s->rttvar = r / 2;
	} else {
		uint32_t d = s->srtt > r ? s->srtt - r : r - s->srtt;
		s->rttvar = (3 * s->rttvar + d) / 4;
		s->srtt = (7 * s->srtt + r) / 8;
	}
	if (!s->min_rtt || r < s->min_rtt)
		s->min_rtt = r;
	s->cc.last_rtt_us = r;
	rto = (uint64_t)s->srtt +
	      (4 * (uint64_t)s->rttvar > 1000 ? 4 * (uint64_t)s->rttvar : 1000);
	if (rto < cfg->rto_min_us)
		rto = cfg->rto_min_us;
	if (rto > cfg->rto_max_us)
		rto = cfg->rto_max_us;
	s->rto = (uint32_t)rto;
}

void tcp_arm_recovery_timer(struct bd_tcp_sock *s)
{
	uint32_t srtt = s->srtt ? s->srtt : 100000;
	uint32_t var = s->rttvar * 2 > srtt / 4 ? s->rttvar * 2 : srtt / 4;
	tcp_timer_set(s, TT_RECOV,
		      bd_stack_now_us(s->ts->st) + srtt + var + 1000);
}

static void recovery_timeout(struct bd_tcp_sock *s)
{
	if (s->ca_state != BD_TCP_CA_RECOVERY ||
	    !SEQ_GT(s->high_rxt, s->snd_una))
		return;
	MIB_INC(s->ts, TCPLostRetransmit);
	s->high_rxt = s->snd_una;
	s->rxt_mark = s->snd_max;
	tcp_output(s);
}

/* Tail loss probe (RFC 8985 section 7): with SACK, in the open state and
 * data outstanding, probe after 2 SRTT (plus a delayed-ACK allowance for a
 * single segment) rather than waiting for the RTO, so that a lost tail is
 * repaired by fast recovery. */
void tcp_arm_tlp(struct bd_tcp_sock *s)
{
	uint64_t now = bd_stack_now_us(s->ts->st), pto;
	uint32_t flight = s->snd_max - s->snd_una;

	if (s->ts->cfg.no_tlp || !s->sack_ok || !s->srtt || s->tlp_out ||
	    s->ca_state != BD_TCP_CA_OPEN || !flight || s->zwp ||
	    (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_CLOSE_WAIT)) {
		tcp_timer_clear(s, TT_TLP);
		return;
	}
	pto = 2ull * s->srtt;
	if (flight <= s->cc.mss)
		pto += s->ts->cfg.delack_us;
	if (pto < 2000)
		pto = 2000;
	if (s->timer[TT_RTX] && now + pto >= s->timer[TT_RTX]) {
		tcp_timer_clear(s, TT_TLP);
		return;
	}
	tcp_timer_set(s, TT_TLP, now + pto);
}

static void tlp_timeout(struct bd_tcp_sock *s, uint64_t now)
{
	uint32_t data_end = s->sbuf_seq + s->sbuf.len, top, len;
	uint32_t wnd_end = s->snd_una + s->snd_wnd;

	if (s->tlp_out || s->ca_state != BD_TCP_CA_OPEN ||
	    s->snd_una == s->snd_max ||
	    (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_CLOSE_WAIT))
		return;
	MIB_INC(s->ts, TCPLossProbes);
	s->tlp_out = true;
	if (SEQ_LT(s->snd_max, data_end) && SEQ_LT(s->snd_max, wnd_end)) {
		/* New data as the probe. */
		len = data_end - s->snd_max;
		if (len > wnd_end - s->snd_max)
			len = wnd_end - s->snd_max;
		if (len > s->cc.mss)
			len = s->cc.mss;
		int n = tcp_xmit(s, s->snd_max, len, BD_TCP_F_ACK, false);
		if (n > 0) {
			s->snd_max += (uint32_t)n;
			s->snd_nxt = s->snd_max;
		}
	} else {
		/* The last segment again. */
		top = SEQ_MIN(s->snd_max, data_end);
		len = SEQ_GT(top, s->snd_una) ? top - s->snd_una : 0;
		if (len > s->cc.mss)
			len = s->cc.mss;
		if (len)
			tcp_xmit(s, top - len, len, BD_TCP_F_ACK, true);
	}
	tcp_timer_set(s, TT_RTX, now + tcp_rto_backed(s));
}

static uint32_t ka_idle(const struct bd_tcp_sock *s)
{
	return s->lopts.keepalive_idle_us ? s->lopts.keepalive_idle_us
					  : s->ts->cfg.keepalive_idle_us;
}

static uint32_t ka_intvl(const struct bd_tcp_sock *s)
{
	return s->lopts.keepalive_intvl_us ? s->lopts.keepalive_intvl_us
					   : s->ts->cfg.keepalive_intvl_us;
}

static void rtx_timeout(struct bd_tcp_sock *s, uint64_t now)
{
	struct bd_tcp_stack *ts = s->ts;

	if (s->state == BD_TCP_SYN_SENT || s->state == BD_TCP_SYN_RECEIVED) {
		if (++s->retries > ts->cfg.syn_retries) {
			if (s->state == BD_TCP_SYN_SENT)
				MIB_INC(ts, AttemptFails);
			tcp_done(s, BD_ETIMEDOUT);
			return;
		}
		if (s->backoff < 30)
			s->backoff++;
		s->rtt_timing = false;
		s->snd_nxt = s->iss;
		if (s->state == BD_TCP_SYN_SENT)
			tcp_send_syn(s);
		else
			tcp_send_synack(s);
		MIB_INC(ts, TCPTimeouts);
		tcp_timer_set(s, TT_RTX, now + tcp_rto_backed(s));
		return;
	}
	if (s->zwp && s->snd_una == s->snd_max) {
		/* Persist timer: probe the zero window. */
		MIB_INC(ts, TCPWinProbe);
		tcp_send_ctl(s, BD_TCP_F_ACK, s->snd_una - 1);
		if (s->backoff < 30)
			s->backoff++;
		tcp_timer_set(s, TT_RTX, now + tcp_rto_backed(s));
		return;
	}
	if (s->snd_una == s->snd_max)
		return;
	MIB_INC(ts, TCPTimeouts);
	if (++s->retries > ts->cfg.retries2) {
		MIB_INC(ts, TCPAbortOnTimeout);
		tcp_send_reset(s);
		tcp_done(s, BD_ETIMEDOUT);
		return;
	}
	if (s->backoff < 30)
		s->backoff++;
	if ((uint64_t)s->rto << s->backoff > ts->cfg.rto_max_us)
		MIB_INC(ts, BraidRtoMax);
	tcp_enter_loss(s);
	tcp_output(s);
	tcp_timer_set(s, TT_RTX, now + tcp_rto_backed(s));
}

static void keepalive_timeout(struct bd_tcp_sock *s, uint64_t now)
{
	struct bd_tcp_stack *ts = s->ts;

	if (s->state == BD_TCP_FIN_WAIT_2 && !s->app_owned) {
		tcp_done(s, 0);
		return;
	}
	if (!s->keepalive ||
	    (s->state != BD_TCP_ESTABLISHED && s->state != BD_TCP_CLOSE_WAIT &&
	     s->state != BD_TCP_FIN_WAIT_2))
		return;
	if (s->ka_probes_sent && s->last_rcv_us >= s->ka_sent_us)
		s->ka_probes_sent = 0; /* answered */
	if (s->ka_probes_sent == 0 && now - s->last_rcv_us < ka_idle(s)) {
		tcp_timer_set(s, TT_KEEPALIVE, s->last_rcv_us + ka_idle(s));
		return;
	}
	if (s->ka_probes_sent >= s->ka_probes) {
		tcp_send_reset(s);
		tcp_done(s, BD_ETIMEDOUT);
		return;
	}
	s->ka_probes_sent++;
	s->ka_sent_us = now;
	MIB_INC(ts, TCPKeepAlive);
	tcp_send_ctl(s, BD_TCP_F_ACK, s->snd_una - 1);
	tcp_timer_set(s, TT_KEEPALIVE, now + ka_intvl(s));
}

static void run_socket(struct bd_tcp_sock *s, uint64_t now)
{
	for (int id = 0; id < TT_NUM; id++) {
		if (!s->timer[id] || s->timer[id] > now)
			continue;
		s->timer[id] = 0;
		switch (id) {
		case TT_RTX:
			rtx_timeout(s, now);
			break;
		case TT_DELACK:
			if (s->ack_now || s->rcv_nxt != s->last_ack_sent) {
				MIB_INC(s->ts, DelayedACKs);
				tcp_send_ack(s);
			}
			break;
		case TT_KEEPALIVE:
			keepalive_timeout(s, now);
			break;
		case TT_RECOV:
			recovery_timeout(s);
			break;
		case TT_TLP:
			tlp_timeout(s, now);
			break;
		case TT_ULP:
			if (s->ulp && s->ulp->timer)
				s->ulp->timer(s->ulp_ctx, s);
			break;
		case TT_TW:
			if (s->state == BD_TCP_TIME_WAIT) {
				MIB_INC(s->ts, TW);
				tcp_done(s, 0);
			}
			break;
		}
		if (s->state == BD_TCP_CLOSED)
			return;
	}
}

void bd_tcp_timers(struct bd_stack *st)
{
	struct bd_tcp_stack *ts = bd_stack_tcp(st);
	uint64_t now;

	if (!ts)
		return;
	now = bd_stack_now_us(st);
	ts->depth++;
	while (ts->heap_len && ts->heap[0]->heap_key <= now) {
		struct bd_tcp_sock *s = ts->heap[0];
		uint64_t next = UINT64_MAX;
		tcp_heap_remove(s);
		run_socket(s, now);
		tcp_heap_remove(s);
		for (int id = 0; id < TT_NUM; id++)
			if (s->timer[id] && s->timer[id] < next)
				next = s->timer[id];
		if (next != UINT64_MAX && !s->dead && s->state != BD_TCP_CLOSED)
			heap_push(s, next > now ? next : now + 1);
		tcp_notify(s);
	}
	ts->depth--;
	tcp_reap(ts);
}

uint64_t bd_tcp_next_deadline(struct bd_stack *st)
{
	struct bd_tcp_stack *ts = bd_stack_tcp(st);
	if (!ts || !ts->heap_len)
		return UINT64_MAX;
	return ts->heap[0]->heap_key;
}
