/* SPDX-License-Identifier: Apache-2.0
 *
 * Data-level send queue: bytes stay queued from snd_una (the peer's data
 * ACK) to write_seq whatever subflow carried them, so a range sent on a
 * subflow that dies or stalls can be mapped again onto another one
 * (reinjection, RFC 8684 3.3.6). New data is limited by the peer's shared
 * window, whose right edge never moves left.
 */
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"
#include "mptcp_impl.h"

int bd_mptcp_snd_init(struct bd_mptcp_snd *s, uint64_t idsn_plus1,
		      uint32_t snd_buf)
{
	memset(s, 0, sizeof(*s));
	if (snd_buf == 0)
		return -BD_EINVAL;
	s->ring = malloc(snd_buf);
	if (!s->ring)
		return -BD_ENOMEM;
	s->snd_buf = snd_buf;
	s->snd_una = s->snd_nxt = s->write_seq = idsn_plus1;
	s->wnd_end = idsn_plus1; /* until the first window is known */
	return 0;
}

void bd_mptcp_snd_free(struct bd_mptcp_snd *s)
{
	free(s->ring);
	s->ring = NULL;
}

size_t bd_mptcp_snd_space(const struct bd_mptcp_snd *s)
{
	if (s->fin_queued)
		return 0;
	return s->snd_buf - (size_t)(s->write_seq - s->snd_una);
}

size_t bd_mptcp_snd_write(struct bd_mptcp_snd *s, const void *buf, size_t len)
{
	size_t room = bd_mptcp_snd_space(s);
	uint32_t n = (uint32_t)(len < room ? len : room);
	uint32_t tail =
	    (uint32_t)((s->head + (s->write_seq - s->snd_una)) % s->snd_buf);
	uint32_t first = s->snd_buf - tail < n ? s->snd_buf - tail : n;
	memcpy(s->ring + tail, buf, first);
	memcpy(s->ring, (const uint8_t *)buf + first, n - first);
	s->write_seq += n;
	return n;
}

void bd_mptcp_snd_fin(struct bd_mptcp_snd *s)
{
	s->fin_queued = true;
}

uint64_t bd_mptcp_snd_ack(struct bd_mptcp_snd *s, uint64_t data_ack,
			  uint32_t wnd)
{
	/* The DATA_FIN occupies one DSN after the data. */
	uint64_t max = s->snd_nxt;
	if (s->fin_queued && s->snd_nxt == s->write_seq)
		max++;
	if (bd_before64(data_ack, s->snd_una) || bd_after64(data_ack, max))
		return 0;
	if (bd_after64(data_ack + wnd, s->wnd_end))
		s->wnd_end = data_ack + wnd;
	uint64_t acked = data_ack - s->snd_una;
	if (bd_after64(data_ack, s->write_seq)) {
		s->fin_acked = true;
		acked--;
		data_ack = s->write_seq;
	}
	s->head = (uint32_t)((s->head + (data_ack - s->snd_una)) % s->snd_buf);
	s->snd_una = data_ack;
	s->bytes_acked += acked;
	/* Drop reinjection ranges that are now acknowledged. */
	unsigned k = 0;
	for (unsigned i = 0; i < s->nreinj; i++) {
		struct bd_mptcp_txrange *r = &s->reinj[i];
		uint64_t end = r->dsn + r->len;
		if (!bd_after64(end, s->snd_una))
			continue;
		if (bd_before64(r->dsn, s->snd_una)) {
			r->len = (uint32_t)(end - s->snd_una);
			r->dsn = s->snd_una;
		}
		s->reinj[k++] = *r;
	}
	s->nreinj = k;
	return acked;
}

bool bd_mptcp_snd_reinject(struct bd_mptcp_snd *s, uint64_t dsn, uint32_t len)
{
	uint64_t end = dsn + len;
	if (bd_after64(end, s->snd_nxt))
		end = s->snd_nxt;
	if (bd_before64(dsn, s->snd_una))
		dsn = s->snd_una;
	if (!bd_before64(dsn, end))
		return true;
	if (s->nreinj == BD_MPTCP_REINJ_MAX)
		return false;
	s->reinj[s->nreinj].dsn = dsn;
	s->reinj[s->nreinj].len = (uint32_t)(end - dsn);
	s->nreinj++;
	return true;
}

uint32_t bd_mptcp_snd_next(struct bd_mptcp_snd *s, uint32_t max, uint64_t *dsn,
			   bool *reinject)
{
	if (max == 0)
		return 0;
	if (s->nreinj) {
		struct bd_mptcp_txrange *r = &s->reinj[0];
		uint32_t n = r->len < max ? r->len : max;
		*dsn = r->dsn;
		*reinject = true;
		r->dsn += n;
		r->len -= n;
		if (r->len == 0) {
			memmove(&s->reinj[0], &s->reinj[1],
				(s->nreinj - 1) * sizeof(s->reinj[0]));
			s->nreinj--;
		}
		s->bytes_retrans += n;
		s->retransmits++;
		return n;
	}
	uint64_t lim = bd_min64(s->write_seq, s->wnd_end);
	if (!bd_before64(s->snd_nxt, lim))
		return 0;
	uint64_t avail = lim - s->snd_nxt;
	uint32_t n = avail < max ? (uint32_t)avail : max;
	*dsn = s->snd_nxt;
	*reinject = false;
	s->snd_nxt += n;
	s->bytes_sent += n;
	return n;
}

size_t bd_mptcp_snd_copy(const struct bd_mptcp_snd *s, uint64_t dsn, void *buf,
			 size_t len)
{
	if (bd_before64(dsn, s->snd_una) || !bd_before64(dsn, s->write_seq))
		return 0;
	if (len > s->write_seq - dsn)
		len = (size_t)(s->write_seq - dsn);
	uint32_t pos = (uint32_t)((s->head + (dsn - s->snd_una)) % s->snd_buf);
	uint32_t first =
	    s->snd_buf - pos < len ? s->snd_buf - pos : (uint32_t)len;
	memcpy(buf, s->ring + pos, first);
	memcpy((uint8_t *)buf + first, s->ring, len - first);
	return len;
}
