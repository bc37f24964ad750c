/* SPDX-License-Identifier: Apache-2.0
 *
 * Data-level receive: bytes from every subflow, placed by data sequence
 * number into one in-order stream. In-order bytes go to a ring the size of
 * the shared receive buffer; out-of-order bytes wait in a DSN-sorted list
 * of non-overlapping pieces. The window every subflow advertises is the
 * free space of that one buffer, relative to the data ACK (RFC 8684 3.3.4).
 */
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"
#include "mptcp_impl.h"

struct bd_mptcp_rseg {
	struct bd_mptcp_rseg *next;
	uint64_t dsn;
	uint32_t len;
	uint8_t data[];
};

int bd_mptcp_rcv_init(struct bd_mptcp_rcv *r, uint64_t idsn_plus1,
		      uint32_t rcv_buf)
{
	memset(r, 0, sizeof(*r));
	if (rcv_buf == 0)
		return -BD_EINVAL;
	r->ring = malloc(rcv_buf);
	if (!r->ring)
		return -BD_ENOMEM;
	r->rcv_buf = rcv_buf;
	r->rcv_nxt = idsn_plus1;
	return 0;
}

void bd_mptcp_rcv_free(struct bd_mptcp_rcv *r)
{
	struct bd_mptcp_rseg *s = r->ofo;
	while (s) {
		struct bd_mptcp_rseg *n = s->next;
		free(s);
		s = n;
	}
	r->ofo = NULL;
	free(r->ring);
	r->ring = NULL;
}

static void ring_put(struct bd_mptcp_rcv *r, const uint8_t *d, uint32_t len)
{
	uint32_t tail = (r->head + r->used) % r->rcv_buf;
	uint32_t first = r->rcv_buf - tail < len ? r->rcv_buf - tail : len;
	memcpy(r->ring + tail, d, first);
	memcpy(r->ring, d + first, len - first);
	r->used += len;
	r->rcv_nxt += len;
}

uint32_t bd_mptcp_rcv_wnd(const struct bd_mptcp_rcv *r)
{
	return r->rcv_buf - r->used;
}

/* Move out-of-order pieces that became in order into the ring. */
static void drain_ofo(struct bd_mptcp_rcv *r)
{
	while (r->ofo && !bd_after64(r->ofo->dsn, r->rcv_nxt)) {
		struct bd_mptcp_rseg *s = r->ofo;
		uint64_t end = s->dsn + s->len;
		if (bd_after64(end, r->rcv_nxt)) {
			uint32_t off = (uint32_t)(r->rcv_nxt - s->dsn);
			ring_put(r, s->data + off, s->len - off);
		}
		r->ofo_bytes -= s->len;
		r->ofo = s->next;
		free(s);
	}
}

static bool ofo_insert_piece(struct bd_mptcp_rcv *r,
			     struct bd_mptcp_rseg **link, uint64_t dsn,
			     const uint8_t *d, uint32_t len)
{
	struct bd_mptcp_rseg *s = malloc(sizeof(*s) + len);
	if (!s)
		return false;
	s->dsn = dsn;
	s->len = len;
	memcpy(s->data, d, len);
	s->next = *link;
	*link = s;
	r->ofo_bytes += len;
	return true;
}

size_t bd_mptcp_rcv_data(struct bd_mptcp_rcv *r, uint64_t dsn,
			 const uint8_t *data, size_t len,
			 struct bd_mptcp_mib *mib)
{
	uint64_t end = dsn + len;
	uint64_t wnd_end = r->rcv_nxt + bd_mptcp_rcv_wnd(r);
	if (len == 0)
		return 0;
	if (!bd_after64(end, r->rcv_nxt)) {
		if (mib)
			mib->DuplicateData++;
		return 0;
	}
	if (bd_before64(dsn, r->rcv_nxt)) {
		data += r->rcv_nxt - dsn;
		dsn = r->rcv_nxt;
	}
	if (bd_after64(end, wnd_end))
		end = wnd_end;
	if (!bd_before64(dsn, end)) {
		if (mib)
			mib->RcvPruned++;
		return 0;
	}
	uint32_t n = (uint32_t)(end - dsn);
	if (dsn == r->rcv_nxt) {
		uint64_t before = r->rcv_nxt;
		ring_put(r, data, n);
		drain_ofo(r);
		r->bytes_received += r->rcv_nxt - before;
		if (r->fin_seen && !r->fin_done && r->rcv_nxt == r->fin_dsn)
			r->fin_done = true;
		return n;
	}
	/* Out of order: insert the parts no held piece covers. */
	size_t added = 0;
	uint64_t cur = dsn;
	struct bd_mptcp_rseg **link = &r->ofo;
	bool tail = true;
	while (*link && bd_before64(cur, end)) {
		struct bd_mptcp_rseg *s = *link;
		uint64_t send = s->dsn + s->len;
		if (!bd_after64(send, cur)) {
			link = &s->next;
			continue;
		}
		tail = false;
		if (bd_after64(s->dsn, cur)) {
			uint64_t pe = bd_min64(end, s->dsn);
			uint32_t pl = (uint32_t)(pe - cur);
			if (!ofo_insert_piece(r, link, cur, data + (cur - dsn),
					      pl))
				return added;
			added += pl;
			link = &(*link)->next;
		}
		cur = bd_max64(send, cur);
		link = &s->next;
	}
	if (bd_before64(cur, end)) {
		uint32_t pl = (uint32_t)(end - cur);
		if (ofo_insert_piece(r, link, cur, data + (cur - dsn), pl))
			added += pl;
	}
	if (mib) {
		if (added == 0)
			mib->DuplicateData++;
		else if (tail)
			mib->OFOQueueTail++;
		else
			mib->OFOQueue++;
	}
	return added;
}

void bd_mptcp_rcv_fin(struct bd_mptcp_rcv *r, uint64_t dsn)
{
	if (r->fin_seen || bd_before64(dsn, r->rcv_nxt))
		return;
	r->fin_seen = true;
	r->fin_dsn = dsn;
	if (r->rcv_nxt == dsn)
		r->fin_done = true;
}

size_t bd_mptcp_rcv_read(struct bd_mptcp_rcv *r, void *buf, size_t cap)
{
	uint32_t n = cap < r->used ? (uint32_t)cap : r->used;
	uint32_t first = r->rcv_buf - r->head < n ? r->rcv_buf - r->head : n;
	memcpy(buf, r->ring + r->head, first);
	memcpy((uint8_t *)buf + first, r->ring, n - first);
	r->head = (r->head + n) % r->rcv_buf;
	r->used -= n;
	return n;
}

uint64_t bd_mptcp_rcv_ack(const struct bd_mptcp_rcv *r)
{
	return r->rcv_nxt + (r->fin_done ? 1 : 0);
}

bool bd_mptcp_rcv_eof(const struct bd_mptcp_rcv *r)
{
	return r->fin_done && r->used == 0;
}
