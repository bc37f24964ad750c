/* SPDX-License-Identifier: Apache-2.0
 * Sequence range sets, the SACK scoreboard and SACK-based loss recovery
 * (RFC 2018, 2883, 6675): IsLost(), the pipe estimate and NextSeg(). */
#include <stdlib.h>
#include <string.h>

#include "tcp_impl.h"

/* Room for one more range: the array doubles up to TCP_MAX_RANGES. */
static bool ranges_grow(struct tcp_ranges *rs)
{
	uint32_t nc;
	struct tcp_range *nr;

	if (rs->n < rs->cap)
		return true;
	if (rs->cap >= TCP_MAX_RANGES)
		return false;
	nc = rs->cap ? rs->cap * 2 : TCP_MIN_RANGES;
	if (nc > TCP_MAX_RANGES)
		nc = TCP_MAX_RANGES;
	nr = realloc(rs->r, nc * sizeof(*nr));
	if (!nr)
		return false;
	rs->r = nr;
	rs->cap = nc;
	return true;
}

void tcp_ranges_free(struct tcp_ranges *rs)
{
	free(rs->r);
	rs->r = NULL;
	rs->n = rs->cap = 0;
}

bool tcp_ranges_add(struct tcp_ranges *rs, uint32_t start, uint32_t end,
		    uint32_t *idx)
{
	uint32_t i = 0, j;

	while (i < rs->n && SEQ_LT(rs->r[i].end, start))
		i++;
	if (i < rs->n && SEQ_LEQ(rs->r[i].start, end)) {
		uint32_t ns = SEQ_MIN(rs->r[i].start, start), ne = end;
		j = i;
		while (j < rs->n && SEQ_LEQ(rs->r[j].start, end)) {
			ne = SEQ_MAX(ne, rs->r[j].end);
			j++;
		}
		rs->r[i].start = ns;
		rs->r[i].end = ne;
		memmove(&rs->r[i + 1], &rs->r[j],
			(rs->n - j) * sizeof(rs->r[0]));
		rs->n -= j - i - 1;
	} else {
		if (!ranges_grow(rs))
			return false;
		memmove(&rs->r[i + 1], &rs->r[i],
			(rs->n - i) * sizeof(rs->r[0]));
		rs->r[i].start = start;
		rs->r[i].end = end;
		rs->n++;
	}
	if (idx)
		*idx = i;
	return true;
}

void tcp_ranges_trim(struct tcp_ranges *rs, uint32_t below)
{
	uint32_t i = 0;
	while (i < rs->n && SEQ_LEQ(rs->r[i].end, below))
		i++;
	if (i) {
		memmove(&rs->r[0], &rs->r[i], (rs->n - i) * sizeof(rs->r[0]));
		rs->n -= i;
	}
	if (rs->n && SEQ_LT(rs->r[0].start, below))
		rs->r[0].start = below;
}

uint32_t tcp_ranges_bytes(const struct tcp_ranges *rs)
{
	uint32_t b = 0;
	for (uint32_t i = 0; i < rs->n; i++)
		b += rs->r[i].end - rs->r[i].start;
	return b;
}

bool tcp_ranges_contains(const struct tcp_ranges *rs, uint32_t seq,
			 uint32_t *end)
{
	for (uint32_t i = 0; i < rs->n; i++) {
		if (SEQ_LT(seq, rs->r[i].start))
			return false;
		if (SEQ_LT(seq, rs->r[i].end)) {
			if (end)
				*end = rs->r[i].end;
			return true;
		}
	}
	return false;
}

/* Take the SACK blocks of an ACK into the scoreboard. */
void tcp_sack_update(struct bd_tcp_sock *s, const struct tcp_opts *o,
		     uint32_t ack)
{
	struct bd_tcp_stack *ts = s->ts;

	for (unsigned b = 0; b < o->nsack; b++) {
		uint32_t st = o->sack[b][0], en = o->sack[b][1];
		if (!SEQ_LT(st, en)) {
			MIB_INC(ts, TCPSACKDiscard);
			continue;
		}
		/* D-SACK (RFC 2883): the first block below the cumulative
		 * ACK or inside the second block. */
		if (b == 0 && (SEQ_LEQ(en, ack) ||
			       (o->nsack > 1 && SEQ_GEQ(st, o->sack[1][0]) &&
				SEQ_LEQ(en, o->sack[1][1])))) {
			MIB_INC(ts, TCPDSACKRecv);
			s->dsack_dups++;
			continue;
		}
		if (SEQ_GT(en, s->snd_max) || SEQ_LEQ(en, ack) ||
		    SEQ_LT(st, s->snd_una - s->max_snd_wnd)) {
			MIB_INC(ts, TCPSACKDiscard);
			continue;
		}
		if (SEQ_LT(st, ack))
			st = ack;
		if (!tcp_ranges_add(&s->sacked, st, en, NULL))
			MIB_INC(ts, TCPSACKDiscard);
	}
	tcp_ranges_trim(&s->sacked, ack);
	s->sacked_bytes = tcp_ranges_bytes(&s->sacked);
}

/* Every un-SACKed sequence below the returned value is lost (IsLost of
 * RFC 6675: more than (DupThresh - 1) * SMSS bytes or DupThresh blocks
 * SACKed above it). */
uint32_t tcp_lost_boundary(const struct bd_tcp_sock *s)
{
	uint32_t cum = 0, mss = s->cc.mss ? s->cc.mss : 536;

	for (uint32_t i = s->sacked.n; i-- > 0;) {
		cum += s->sacked.r[i].end - s->sacked.r[i].start;
		if (cum > (TCP_DUPTHRESH - 1) * mss ||
		    s->sacked.n - i >= TCP_DUPTHRESH)
			return s->sacked.r[i].start;
	}
	return s->snd_una;
}

static uint32_t clamp_len(uint32_t a, uint32_t b)
{
	return SEQ_LT(a, b) ? b - a : 0;
}

/* Bytes in the network (RFC 6675 SetPipe) in recovery; flight otherwise. */
uint32_t tcp_pipe(const struct bd_tcp_sock *s)
{
	uint32_t pipe = 0, a = s->snd_una, top, lost;

	if (s->ca_state == BD_TCP_CA_OPEN ||
	    s->ca_state == BD_TCP_CA_DISORDER) {
		uint32_t f = s->snd_max - s->snd_una;
		return f > s->sacked_bytes ? f - s->sacked_bytes : 0;
	}
	top = s->ca_state == BD_TCP_CA_LOSS ? s->snd_nxt : s->snd_max;
	lost =
	    s->ca_state == BD_TCP_CA_LOSS ? s->snd_una : tcp_lost_boundary(s);
	for (uint32_t i = 0; i <= s->sacked.n; i++) {
		uint32_t b =
		    i < s->sacked.n ? s->sacked.r[i].start : s->snd_max;
		if (SEQ_GT(b, top))
			b = top;
		if (SEQ_LT(a, b)) {
			/* Hole [a, b). */
			if (s->ca_state == BD_TCP_CA_LOSS) {
				pipe += b - a;
			} else {
				pipe += clamp_len(SEQ_MAX(a, lost), b);
				pipe += clamp_len(a, SEQ_MIN(b, s->high_rxt));
			}
		}
		if (i < s->sacked.n)
			a = SEQ_MAX(a, s->sacked.r[i].end);
	}
	return pipe;
}

/* RFC 6675 NextSeg() rules 1, 3 and 4 (rule 2, new data, is the caller's):
 * the next retransmission in recovery, or false. */
bool tcp_next_seg(struct bd_tcp_sock *s, uint32_t *seq, uint32_t *len,
		  bool *rescue)
{
	uint32_t lost = tcp_lost_boundary(s), a = s->snd_una;
	uint32_t mss = s->cc.mss;
	uint32_t data_end = s->sbuf_seq + s->sbuf.len;

	*rescue = false;
	if (SEQ_GT(s->high_rxt, a))
		a = s->high_rxt;
	/* Rule 1: the first lost, un-SACKed, not yet retransmitted byte. */
	for (uint32_t i = 0; i <= s->sacked.n; i++) {
		uint32_t b =
		    i < s->sacked.n ? s->sacked.r[i].start : s->snd_max;
		if (i < s->sacked.n && SEQ_LEQ(s->sacked.r[i].end, a))
			continue;
		if (SEQ_LT(a, b) && SEQ_LT(a, lost)) {
			uint32_t e = SEQ_MIN(b, lost);
			if (SEQ_GT(e, data_end))
				e = data_end;
			if (SEQ_LT(a, e)) {
				*seq = a;
				*len = e - a < mss ? e - a : mss;
				return true;
			}
		}
		if (i < s->sacked.n)
			a = SEQ_MAX(a, s->sacked.r[i].end);
	}
	return false;
}

/* Rule 3 and 4 candidates when no new data can go: the first un-SACKed
 * byte above HighRxt and below the highest SACKed byte (rule 3: IsLost's
 * conditions 1.a and 1.b without 1.c; what no SACK has passed yet is only
 * in flight, not a candidate), else a rescue retransmission of the last
 * segment once per recovery (rule 4). */
static bool next_seg_tail(struct bd_tcp_sock *s, uint32_t *seq, uint32_t *len)
{
	uint32_t a = SEQ_MAX(s->snd_una, s->high_rxt);
	uint32_t mss = s->cc.mss;
	uint32_t end, top;

	if (!s->sacked.n)
		return false;
	top = s->sacked.r[s->sacked.n - 1].end;
	while (SEQ_LT(a, top)) {
		if (tcp_ranges_contains(&s->sacked, a, &end)) {
			a = end;
			continue;
		}
		end = top;
		for (uint32_t i = 0; i < s->sacked.n; i++)
			if (SEQ_GT(s->sacked.r[i].start, a)) {
				end = s->sacked.r[i].start;
				break;
			}
		if (SEQ_GT(end, s->sbuf_seq + s->sbuf.len))
			end = s->sbuf_seq + s->sbuf.len;
		if (!SEQ_LT(a, end))
			return false;
		*seq = a;
		*len = end - a < mss ? end - a : mss;
		return true;
	}
	return false;
}

bool tcp_next_seg_tail(struct bd_tcp_sock *s, uint32_t *seq, uint32_t *len,
		       bool *rescue)
{
	*rescue = false;
	if (s->ts->rule3 && next_seg_tail(s, seq, len))
		return true;
	if (SEQ_GT(s->snd_una, s->rescue_rxt)) {
		/* The highest un-SACKed hole below HighData. */
		uint32_t data_end = s->sbuf_seq + s->sbuf.len;
		uint32_t top = SEQ_MIN(s->snd_max, data_end), hs, he, l;
		uint32_t i = s->sacked.n;
		while (i > 0 && SEQ_GEQ(s->sacked.r[i - 1].start, top))
			i--;
		he = top;
		if (i > 0 && SEQ_GEQ(s->sacked.r[i - 1].end, top))
			he = s->sacked.r[--i].start;
		hs = i > 0 ? s->sacked.r[i - 1].end : s->snd_una;
		if (SEQ_LT(hs, s->snd_una))
			hs = s->snd_una;
		if (!SEQ_LT(hs, he) || !SEQ_GT(he, s->high_rxt))
			return false;
		l = he - hs;
		if (l > s->cc.mss)
			l = s->cc.mss;
		*seq = he - l;
		*len = l;
		*rescue = true;
		return true;
	}
	return false;
}

/* The out-of-order range holding seq, or -1. */
static int ooo_find(const struct bd_tcp_sock *s, uint32_t seq)
{
	for (uint32_t i = 0; i < s->ooo.n; i++) {
		if (SEQ_LT(seq, s->ooo.r[i].start))
			return -1;
		if (SEQ_LT(seq, s->ooo.r[i].end))
			return (int)i;
	}
	return -1;
}

/* SACK blocks to send (receiver side), RFC 2018 section 4: a pending
 * D-SACK first (RFC 2883), then the range holding the latest segment, then
 * the ranges reported in the previous ACK in their order (so that each
 * block is reported several times and a lost ACK loses nothing), then the
 * others from the highest down. */
unsigned tcp_build_sack_blocks(struct bd_tcp_sock *s, uint32_t blk[][2],
			       unsigned max)
{
	unsigned n = 0, nr = 0, first;
	int used[TCP_MAX_SACK_BLK];
	int k;

	if (max == 0)
		return 0;
	if (max > TCP_MAX_SACK_BLK)
		max = TCP_MAX_SACK_BLK;
	if (s->dsack_pending) {
		blk[n][0] = s->dsack[0];
		blk[n][1] = s->dsack[1];
		n++;
	}
	first = n;
	k = ooo_find(s, s->ooo_last_seq);
	if (k >= 0 && n < max)
		used[nr++] = k;
	for (unsigned j = 0; j < s->sack_rep_n && n + nr < max; j++) {
		bool dup = false;
		k = ooo_find(s, s->sack_rep[j][0]);
		for (unsigned q = 0; q < nr; q++)
			dup = dup || used[q] == k;
		if (k >= 0 && !dup)
			used[nr++] = k;
	}
	for (uint32_t i = s->ooo.n; i-- > 0 && n + nr < max;) {
		bool dup = false;
		for (unsigned q = 0; q < nr; q++)
			dup = dup || used[q] == (int)i;
		if (!dup)
			used[nr++] = (int)i;
	}
	for (unsigned q = 0; q < nr; q++) {
		blk[n][0] = s->ooo.r[used[q]].start;
		blk[n][1] = s->ooo.r[used[q]].end;
		n++;
	}
	s->sack_rep_n = (uint8_t)(n - first);
	for (unsigned q = first; q < n; q++) {
		s->sack_rep[q - first][0] = blk[q][0];
		s->sack_rep[q - first][1] = blk[q][1];
	}
	return n;
}

void tcp_rxt_log(struct bd_tcp_sock *s, uint32_t seq, uint32_t len)
{
	unsigned i;
	if (s->rxt_n == TCP_RXT_LOG) {
		s->rxt_head = (uint8_t)((s->rxt_head + 1) % TCP_RXT_LOG);
		s->rxt_n--;
	}
	i = (s->rxt_head + s->rxt_n) % TCP_RXT_LOG;
	s->rxt_log[i].start = seq;
	s->rxt_log[i].end = seq + len;
	s->rxt_log[i].mark = s->snd_max;
	s->rxt_n++;
}

/* A retransmission is lost when data sent after it is SACKed by DupThresh
 * segments while it is still missing: send it again. */
void tcp_rxt_check(struct bd_tcp_sock *s)
{
	uint32_t hs =
	    s->sacked.n ? s->sacked.r[s->sacked.n - 1].end : s->snd_una;
	uint32_t mss = s->cc.mss ? s->cc.mss : 536;

	while (s->rxt_n) {
		uint32_t st = s->rxt_log[s->rxt_head].start;
		uint32_t en = s->rxt_log[s->rxt_head].end;
		uint32_t mk = s->rxt_log[s->rxt_head].mark;
		uint32_t e2;
		bool done = SEQ_LEQ(en, s->snd_una) ||
			    (tcp_ranges_contains(
				 &s->sacked, SEQ_MAX(st, s->snd_una), &e2) &&
			     SEQ_GEQ(e2, en));
		if (!done) {
			if (!SEQ_GEQ(hs, mk + TCP_DUPTHRESH * mss))
				break;
			MIB_INC(s->ts, TCPLostRetransmit);
			st = SEQ_MAX(st, s->snd_una);
			if (SEQ_LT(st, s->high_rxt))
				s->high_rxt = st;
		}
		s->rxt_head = (uint8_t)((s->rxt_head + 1) % TCP_RXT_LOG);
		s->rxt_n--;
	}
}
