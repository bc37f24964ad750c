/* SPDX-License-Identifier: Apache-2.0
 * Bulk transfer: a source sending a deterministic pseudo-random stream and a
 * sink reading it, both hashing with SHA-256 (OpenSSL EVP) as they go. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "app_impl.h"

static void *sha_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void sha_final(void *ctx, uint8_t *out)
{
	unsigned n = 0;
	EVP_DigestFinal_ex(ctx, out, &n);
}

/* --- source ----------------------------------------------------------------
 */

/* Write the stream's next n bytes at p, as bd_app_stream_fill() makes them
 * chunk by chunk (BD_APP_CHUNK bytes, the last one shorter, each chunk's
 * last word cut to its length), wherever TCP's spans begin and end. */
static void src_put(void *ctx, uint8_t *p, size_t n)
{
	struct bd_app_bulk_src *a = ctx;
	while (n) {
		size_t k;
		if (!a->chunk_left) {
			uint64_t left = a->total - a->made;
			a->chunk_left =
			    left < BD_APP_CHUNK ? (uint32_t)left : BD_APP_CHUNK;
			a->word_left = 0;
			if (!a->chunk_left)
				return; /* past the end: never asked */
		}
		if (!a->word_left && n >= 8 && a->chunk_left >= 8) {
			/* Whole words, straight into place. */
			k = (n < a->chunk_left ? n : a->chunk_left) &
			    ~(size_t)7;
			bd_app_stream_fill(&a->gen, p, k);
		} else {
			if (!a->word_left) {
				bd_app_stream_fill(&a->gen, (uint8_t *)&a->word,
						   8);
				a->word_left = 8;
			}
			k = a->word_left;
			if (k > n)
				k = n;
			if (k > a->chunk_left)
				k = a->chunk_left;
			memcpy(p,
			       (const uint8_t *)&a->word + (8 - a->word_left),
			       k);
			a->word_left -= (uint32_t)k;
		}
		p += k;
		n -= k;
		a->made += k;
		a->chunk_left -= (uint32_t)k;
		if (!a->chunk_left)
			a->word_left = 0; /* the rest of the word is cut */
	}
}

static void src_pump(struct bd_app_bulk_src *a)
{
	struct bd_app_conn *c = &a->c;
	if (c->done || !bd_app_is_open(c))
		return;
	if (a->ahead && !c->ms) {
		/* Nothing to hash here: the stream is generated where TCP
		 * keeps it, with no staging copy. */
		while (a->queued < a->total) {
			long r = bd_tcp_send_inplace(
			    c->sock, (size_t)(a->total - a->queued), src_put,
			    a);
			if (r < 0) {
				bd_app_finish(c, (int)-r);
				return;
			}
			if (r == 0)
				return;
			a->queued += (uint64_t)r;
		}
	}
	while (a->queued < a->total) {
		long r;
		if (a->buf_off == a->buf_len) {
			uint64_t left = a->total - a->queued;
			uint32_t n =
			    left < BD_APP_CHUNK ? (uint32_t)left : BD_APP_CHUNK;
			if (a->sha || a->ahead)
				bd_app_stream_fill(&a->gen, a->buf, n);
			if (a->sha)
				EVP_DigestUpdate(a->sha, a->buf, n);
			a->buf_off = 0;
			a->buf_len = n;
		}
		r = bd_app_send(c, a->buf + a->buf_off,
				a->buf_len - a->buf_off);
		if (r < 0) {
			bd_app_finish(c, (int)-r);
			return;
		}
		if (r == 0)
			return;
		a->buf_off += (uint32_t)r;
		a->queued += (uint64_t)r;
	}
	if (a->queued == a->total && !a->c.t_first_us) {
		/* Everything queued: FIN after it. */
		c->t_first_us = bd_stack_now_us(c->st);
		if (a->sha)
			sha_final(a->sha, a->digest);
		bd_app_shutdown(c);
	}
}

void bd_app_stream_digest(uint64_t seed, uint64_t bytes, uint8_t out[32])
{
	/* In the chunks src_pump() makes: the generator rounds a chunk's
	 * length up to 8 bytes. */
	struct bd_app_stream g;
	uint8_t *buf = malloc(BD_APP_CHUNK);
	EVP_MD_CTX *sha = sha_new();
	memset(out, 0, 32);
	if (buf && sha) {
		bd_app_stream_init(&g, seed);
		for (uint64_t left = bytes; left;) {
			uint32_t n =
			    left < BD_APP_CHUNK ? (uint32_t)left : BD_APP_CHUNK;
			bd_app_stream_fill(&g, buf, n);
			EVP_DigestUpdate(sha, buf, n);
			left -= n;
		}
		sha_final(sha, out);
	}
	if (sha)
		EVP_MD_CTX_free(sha);
	free(buf);
}

static void src_connected(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	src_pump(ctx);
}

static void src_writable(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	src_pump(ctx);
}

static void src_readable(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_app_bulk_src *a = ctx;
	struct bd_app_bulk_back *b = &a->back;
	long r;
	(void)s;
	if (!b->on) {
		uint8_t tmp[256];
		while (bd_app_recv(&a->c, tmp, sizeof(tmp)) > 0)
			;
		return;
	}
	if (b->eof || !bd_app_is_open(&a->c))
		return;
	while ((r = bd_app_recv(&a->c, b->buf, sizeof(b->buf))) > 0) {
		if (b->sha)
			EVP_DigestUpdate(b->sha, b->buf, (size_t)r);
		b->bytes += (uint64_t)r;
	}
	if (r == 0) {
		b->eof = true;
		b->t_eof_us = bd_stack_now_us(a->c.st);
		if (b->sha)
			sha_final(b->sha, b->digest);
	}
}

static void src_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct bd_app_bulk_src *a = ctx;
	(void)s;
	a->c.closed = true;
	bd_app_snapshot(&a->c);
	if (a->back.on && !a->back.eof)
		src_readable(a, NULL);
	if (!err && (a->queued < a->total || (a->back.on && !a->back.eof)))
		err = BD_ECONNABORTED;
	bd_app_finish(&a->c, err);
}

static const struct bd_tcp_callbacks src_cb = {
    .on_connected = src_connected,
    .on_readable = src_readable,
    .on_writable = src_writable,
    .on_peer_fin = src_readable,
    .on_closed = src_closed,
};

static int back_init(struct bd_app_bulk_back *b, uint64_t bytes, uint64_t seed,
		     unsigned flags)
{
	memset(b, 0, sizeof(*b));
	b->on = true;
	b->total = bytes;
	bd_app_stream_init(&b->gen, seed);
	if (!(flags & BD_APP_NO_HASH)) {
		b->sha = sha_new();
		if (!b->sha)
			return -BD_ENOMEM;
	}
	return 0;
}

static void back_fini(struct bd_app_bulk_back *b)
{
	if (b->sha)
		EVP_MD_CTX_free(b->sha);
	b->sha = NULL;
}

int bd_app_bulk_src_read_back(struct bd_app_bulk_src *a, uint64_t bytes,
			      unsigned flags)
{
	return back_init(&a->back, bytes, 0, flags);
}

static int src_start(struct bd_app_bulk_src *a, struct bd_stack *st,
		     struct bd_mptcp_stack *ms, const struct bd_ipaddr *laddr,
		     const struct bd_ipaddr *raddr, uint16_t rport,
		     uint64_t bytes, uint64_t seed, unsigned flags,
		     const struct bd_tcp_opts *opts)
{
	memset(a, 0, sizeof(*a));
	if (bd_app_conn_init(&a->c, st) < 0)
		return -BD_EINVAL;
	a->c.ms = ms;
	a->total = bytes;
	bd_app_stream_init(&a->gen, seed);
	if (!(flags & BD_APP_NO_HASH)) {
		a->sha = sha_new();
		if (!a->sha)
			return -BD_ENOMEM;
	}
	if (a->sha && (flags & BD_APP_HASH_AHEAD)) {
		/* The caller has the digest (bd_app_stream_digest()). */
		EVP_MD_CTX_free(a->sha);
		a->sha = NULL;
		a->ahead = true;
	}
	return bd_app_connect(&a->c, laddr, raddr, rport, opts, &src_cb);
}

int bd_app_bulk_src_start(struct bd_app_bulk_src *a, struct bd_stack *st,
			  const struct bd_ipaddr *laddr,
			  const struct bd_ipaddr *raddr, uint16_t rport,
			  uint64_t bytes, uint64_t seed, unsigned flags,
			  const struct bd_tcp_opts *opts)
{
	return src_start(a, st, NULL, laddr, raddr, rport, bytes, seed, flags,
			 opts);
}

int bd_app_bulk_src_start_mptcp(struct bd_app_bulk_src *a, struct bd_stack *st,
				struct bd_mptcp_stack *ms,
				const struct bd_ipaddr *laddr,
				const struct bd_ipaddr *raddr, uint16_t rport,
				uint64_t bytes, uint64_t seed, unsigned flags)
{
	if (!ms)
		return -BD_EINVAL;
	return src_start(a, st, ms, laddr, raddr, rport, bytes, seed, flags,
			 NULL);
}

void bd_app_bulk_src_fini(struct bd_app_bulk_src *a)
{
	bd_app_conn_fini(&a->c);
	if (a->sha)
		EVP_MD_CTX_free(a->sha);
	a->sha = NULL;
	back_fini(&a->back);
}

/* --- sink ------------------------------------------------------------------
 */

/* Both ways: send the stream back; the FIN after it, and done once the
 * other way has ended too. */
static void sink_pump(struct bd_app_bulk_sink *a)
{
	struct bd_app_conn *c = &a->c;
	struct bd_app_bulk_back *b = &a->back;
	if (!b->on || b->fin || c->done || !bd_app_is_open(c))
		return;
	while (b->bytes < b->total) {
		if (b->off == b->len) {
			uint64_t left = b->total - b->bytes;
			uint32_t n =
			    left < BD_APP_CHUNK ? (uint32_t)left : BD_APP_CHUNK;
			if (b->sha) {
				bd_app_stream_fill(&b->gen, b->buf, n);
				EVP_DigestUpdate(b->sha, b->buf, n);
			}
			b->off = 0;
			b->len = n;
		}
		long r = bd_app_send(c, b->buf + b->off, b->len - b->off);
		if (r < 0) {
			bd_app_finish(c, (int)-r);
			return;
		}
		if (r == 0)
			return;
		b->off += (uint32_t)r;
		b->bytes += (uint64_t)r;
	}
	b->fin = true;
	if (b->sha)
		sha_final(b->sha, b->digest);
	bd_app_shutdown(c);
	if (a->eof)
		bd_app_finish(c, 0);
}

/* A read returned data at now: keep the longest gaps since the one
 * before, longest first. */
static void note_gap(struct bd_app_bulk_sink *a, uint64_t now)
{
	uint64_t gap = now - a->last_rx_us;
	if (gap > a->max_gap_us)
		a->max_gap_us = gap;
	unsigned i = BD_APP_STALLS;
	while (i > 0 && a->stalls[i - 1].us < gap)
		i--;
	if (i == BD_APP_STALLS)
		return;
	memmove(&a->stalls[i + 1], &a->stalls[i],
		(BD_APP_STALLS - 1 - i) * sizeof(a->stalls[0]));
	a->stalls[i].at_us = a->last_rx_us;
	a->stalls[i].us = gap;
}

static void sink_hash(void *ctx, const uint8_t *p, size_t n)
{
	struct bd_app_bulk_sink *a = ctx;
	if (a->sha)
		EVP_DigestUpdate(a->sha, p, n);
}

static void sink_drain(struct bd_app_bulk_sink *a)
{
	struct bd_app_conn *c = &a->c;
	long r;
	if (c->done || !bd_app_is_open(c) || a->eof)
		return;
	/* Hashed where TCP holds the bytes: no copy into a->buf. */
	while ((r = bd_app_recv_inplace(c, a->buf, sizeof(a->buf), sink_hash,
					a)) > 0) {
		uint64_t now = bd_stack_now_us(c->st);
		if (!a->received)
			c->t_first_us = now;
		else
			note_gap(a, now);
		a->last_rx_us = now;
		a->received += (uint64_t)r;
	}
	if (r == 0) {
		/* End of stream: answer the FIN (both ways: once everything
		 * went back). */
		a->eof = true;
		if (a->sha)
			sha_final(a->sha, a->digest);
		if (!a->back.on || a->back.fin) {
			bd_app_finish(c, 0);
			if (!a->back.on)
				bd_app_shutdown(c);
		}
	} else if (r != -BD_EAGAIN) {
		bd_app_finish(c, (int)-r);
	}
}

static void sink_readable(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	sink_drain(ctx);
	sink_pump(ctx);
}

static void sink_writable(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	sink_pump(ctx);
}

static void sink_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct bd_app_bulk_sink *a = ctx;
	(void)s;
	a->c.closed = true;
	if (!a->c.done)
		sink_drain(a);
	bd_app_finish(&a->c, err ? err : BD_ECONNABORTED);
}

static const struct bd_tcp_callbacks sink_cb = {
    .on_readable = sink_readable,
    .on_writable = sink_writable,
    .on_peer_fin = sink_readable,
    .on_closed = sink_closed,
};

static int sink_start(struct bd_app_bulk_sink *a, struct bd_stack *st,
		      struct bd_mptcp_stack *ms, uint16_t port, unsigned flags,
		      const struct bd_tcp_opts *opts)
{
	memset(a, 0, sizeof(*a));
	if (bd_app_conn_init(&a->c, st) < 0)
		return -BD_EINVAL;
	a->c.ms = ms;
	if (!(flags & BD_APP_NO_HASH)) {
		a->sha = sha_new();
		if (!a->sha)
			return -BD_ENOMEM;
	}
	return bd_app_listen(&a->c, port, opts, &sink_cb);
}

int bd_app_bulk_sink_start(struct bd_app_bulk_sink *a, struct bd_stack *st,
			   uint16_t port, unsigned flags,
			   const struct bd_tcp_opts *opts)
{
	return sink_start(a, st, NULL, port, flags, opts);
}

int bd_app_bulk_sink_start_mptcp(struct bd_app_bulk_sink *a,
				 struct bd_stack *st, struct bd_mptcp_stack *ms,
				 uint16_t port, unsigned flags)
{
	if (!ms)
		return -BD_EINVAL;
	return sink_start(a, st, ms, port, flags, NULL);
}

void bd_app_bulk_sink_fini(struct bd_app_bulk_sink *a)
{
	bd_app_conn_fini(&a->c);
	if (a->sha)
		EVP_MD_CTX_free(a->sha);
	a->sha = NULL;
	back_fini(&a->back);
}

int bd_app_bulk_sink_send_back(struct bd_app_bulk_sink *a, uint64_t bytes,
			       uint64_t seed, unsigned flags)
{
	return back_init(&a->back, bytes, seed, flags);
}
