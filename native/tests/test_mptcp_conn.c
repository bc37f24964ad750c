/* SPDX-License-Identifier: Apache-2.0
 * MPTCP connections between two bare stacks over the TCP test harness
 * link: MP_CAPABLE and MP_JOIN handshakes, hashed transfers over 1-3
 * subflows, subflow death with reinjection, refused joins, fallback when
 * options are stripped, plain TCP clients, ADD_ADDR, MP_PRIO,
 * MP_FASTCLOSE and DSS checksums. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "braid/csum.h"
#include "braid/mptcp.h"
#include "bt.h"
#include "tcp_harness.h"

#define PORT 5001

struct mx {
	struct th_net n;
	struct bd_mptcp_stack *ms[2];
	struct bd_mptcp_sock *l, *cli, *srv;
	uint64_t total, sent, rcvd;
	uint64_t gen_tx, gen_rx;
	EVP_MD_CTX *htx, *hrx;
	bool connected, peer_fin, cli_closed, srv_closed, bad_byte;
	int cli_err, srv_err;
	unsigned extra_subflows; /* joins to open once connected */
	bool close_in_cb;	 /* release handles from inside callbacks */
	bool srv_no_read;
	/* filter knobs */
	bool strip_all, strip_c2s_after_syn, tamper_synack_join,
	    tamper_ack_join, tamper_join_token, tamper_add_addr,
	    corrupt_payload_once;
	uint64_t corrupt_after_us;
	uint64_t strip_s2c_from_us, strip_s2c_to_us; /* server's options */
	uint16_t drop_port; /* client port whose segments vanish */
	uint64_t drop_after_us, drop_until_us; /* until: 0 for ever */
	unsigned tampered;
	/* MP_TCPRST seen on RST segments, per direction (0: from client). */
	unsigned tcprst[2];
	uint8_t tcprst_reason[2], tcprst_flags[2];
	/* Every segment of the server's vanishes in [from, to). */
	uint64_t drop_s2c_from_us, drop_s2c_to_us;
	/* The server's advertised windows: its window scale (SYN-ACK), per
	 * subflow (client port) the last window and data-level right edge
	 * (DATA_ACK + window) of a segment with a DSS data ACK. */
	uint8_t srv_wscale;
	unsigned nwin;
	uint16_t win_port[4];
	uint32_t win_last[4], win_edge[4], win_max;
	unsigned win_segs, edge_left; /* segments seen; edges moved left */
	/* The server sends srv_bytes and its DATA_FIN on accepting; its data
	 * segments vanish until srv_data_from_us, and the client's data
	 * segment number c2s_drop_nth (from 1) vanishes once. Counted: the
	 * server's pure ACKs with a DSS DATA_FIN, with SACK blocks. */
	uint32_t srv_bytes;
	uint64_t srv_data_from_us;
	unsigned c2s_drop_nth, c2s_data_segs;
	unsigned s2c_acks_fin, s2c_acks_sack;
	/* mptcpi_write_seq of each end once established (IDSN + 1). */
	uint64_t cli_seq0, srv_seq0;
};

static uint8_t gen_byte(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (uint8_t)(*st >> 56);
}

static void cli_push(struct mx *x)
{
	uint8_t buf[16384];
	while (x->sent < x->total) {
		size_t n = x->total - x->sent;
		if (n > sizeof(buf))
			n = sizeof(buf);
		uint64_t save = x->gen_tx;
		for (size_t i = 0; i < n; i++)
			buf[i] = gen_byte(&x->gen_tx);
		long k = bd_mptcp_send(x->cli, buf, n);
		if (k <= 0) {
			x->gen_tx = save;
			return;
		}
		if ((size_t)k < n) {
			/* regenerate the generator state for the sent part */
			x->gen_tx = save;
			for (long i = 0; i < k; i++)
				gen_byte(&x->gen_tx);
		}
		EVP_DigestUpdate(x->htx, buf, (size_t)k);
		x->sent += (uint64_t)k;
	}
	bd_mptcp_shutdown(x->cli);
}

static void c_connected(void *ctx, struct bd_mptcp_sock *sk)
{
	struct mx *x = ctx;
	struct bd_ipaddr b = bd_ip4(TH_B_ADDR);
	struct bd_mptcp_info in;
	x->connected = true;
	if (bd_mptcp_get_info(sk, &in) == 0)
		x->cli_seq0 = in.mptcpi_write_seq;
	for (unsigned i = 0; i < x->extra_subflows; i++)
		if (bd_mptcp_add_subflow(sk, NULL, &b, PORT) < 0 &&
		    getenv("MX_DUMP"))
			printf("add_subflow failed\n");
	cli_push(x);
}

static void c_writable(void *ctx, struct bd_mptcp_sock *sk)
{
	(void)sk;
	cli_push(ctx);
}

static void c_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	struct mx *x = ctx;
	x->cli_closed = true;
	x->cli_err = err;
	if (x->close_in_cb) {
		bd_mptcp_close(sk);
		x->cli = NULL;
	}
}

static void s_readable(void *ctx, struct bd_mptcp_sock *sk)
{
	struct mx *x = ctx;
	uint8_t buf[8192];
	long n;
	if (x->srv_no_read)
		return;
	while ((n = bd_mptcp_recv(sk, buf, sizeof(buf))) > 0) {
		for (long i = 0; i < n; i++)
			if (buf[i] != gen_byte(&x->gen_rx))
				x->bad_byte = true;
		EVP_DigestUpdate(x->hrx, buf, (size_t)n);
		x->rcvd += (uint64_t)n;
	}
}

static void s_peer_fin(void *ctx, struct bd_mptcp_sock *sk)
{
	struct mx *x = ctx;
	x->peer_fin = true;
	if (x->close_in_cb) {
		/* Everything was read: an orderly close, from inside. */
		bd_mptcp_close(sk);
		x->srv = NULL;
		x->srv_closed = true;
		return;
	}
	bd_mptcp_shutdown(sk);
}

static void s_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	struct mx *x = ctx;
	(void)sk;
	x->srv_closed = true;
	x->srv_err = err;
}

static const struct bd_mptcp_callbacks ccb = {
    .on_connected = c_connected,
    .on_writable = c_writable,
    .on_closed = c_closed,
};
static const struct bd_mptcp_callbacks scb = {
    .on_readable = s_readable,
    .on_peer_fin = s_peer_fin,
    .on_closed = s_closed,
};

static void l_accept(void *ctx, struct bd_mptcp_sock *l)
{
	struct mx *x = ctx;
	struct bd_mptcp_sock *c;
	while ((c = bd_mptcp_accept(l, &scb, x))) {
		struct bd_mptcp_info in;
		x->srv = c;
		if (bd_mptcp_get_info(c, &in) == 0)
			x->srv_seq0 = in.mptcpi_write_seq;
	}
	if (x->srv)
		s_readable(x, x->srv);
	if (x->srv && x->srv_bytes) {
		static uint8_t b[4096];
		BT_EQ(bd_mptcp_send(x->srv, b, x->srv_bytes),
		      (long)x->srv_bytes);
		BT_EQ(bd_mptcp_shutdown(x->srv), 0);
		x->srv_bytes = 0;
	}
}

static const struct bd_mptcp_callbacks lcb = {.on_accept = l_accept};

/* --- the link filter: drops and rewrites segments ------------------------- */

static void fix_csum(struct mx *x, int from, uint8_t *t, uint32_t len)
{
	uint32_t sa = from == 0 ? TH_A_ADDR : TH_B_ADDR;
	uint32_t da = from == 0 ? TH_B_ADDR : TH_A_ADDR;
	(void)x;
	t[16] = t[17] = 0;
	uint16_t c =
	    bd_csum_fold(bd_csum_add(bd_csum_pseudo4(sa, da, 6, len), t, len));
	t[16] = (uint8_t)(c >> 8);
	t[17] = (uint8_t)c;
}

/* Record the window of a segment from the server (see struct mx). */
static void note_window(struct mx *x, const uint8_t *t, unsigned doff,
			uint16_t cport)
{
	uint8_t flags = t[13];
	uint32_t wnd = (uint32_t)(t[14] << 8 | t[15]);
	for (unsigned i = 20; i < doff;) {
		uint8_t k = t[i];
		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
			break;
		uint8_t ol = t[i + 1];
		if (k == 3 && ol == 3 && (flags & 0x12) == 0x12)
			x->srv_wscale = t[i + 2];
		/* DSS with a 4-byte data ACK */
		if (k == 30 && ol >= 8 && (t[i + 2] >> 4) == 2 &&
		    (t[i + 3] & 0x03) == 0x01 && !(flags & 0x06)) {
			uint32_t ack = (uint32_t)t[i + 4] << 24 |
				       (uint32_t)t[i + 5] << 16 |
				       (uint32_t)t[i + 6] << 8 | t[i + 7];
			uint32_t w = wnd << x->srv_wscale;
			unsigned j = 0;
			while (j < x->nwin && x->win_port[j] != cport)
				j++;
			if (j == x->nwin) {
				if (j == 4)
					return;
				x->nwin++;
				x->win_port[j] = cport;
				x->win_edge[j] = ack + w;
			}
			if ((int32_t)(ack + w - x->win_edge[j]) < 0)
				x->edge_left++;
			else
				x->win_edge[j] = ack + w;
			x->win_last[j] = w;
			if (w > x->win_max)
				x->win_max = w;
			x->win_segs++;
		}
		i += ol;
	}
}

static bool filt(void *arg, int from, const uint8_t *tcp, uint32_t len)
{
	struct mx *x = arg;
	uint8_t *t = (uint8_t *)tcp;
	uint16_t sport = (uint16_t)(t[0] << 8 | t[1]);
	uint16_t dport = (uint16_t)(t[2] << 8 | t[3]);
	uint16_t cport = from == 0 ? sport : dport;
	uint8_t flags = t[13];
	unsigned doff = (unsigned)(t[12] >> 4) * 4;
	bool changed = false;
	if (x->drop_port && cport == x->drop_port &&
	    x->n.now >= x->drop_after_us &&
	    (!x->drop_until_us || x->n.now < x->drop_until_us))
		return true;
	if (from == 1 && x->n.now >= x->drop_s2c_from_us &&
	    x->n.now < x->drop_s2c_to_us)
		return true;
	if (doff > len)
		return false;
	if (from == 1 && len > doff && x->n.now < x->srv_data_from_us)
		return true;
	if (from == 0 && len > doff && x->c2s_drop_nth &&
	    ++x->c2s_data_segs == x->c2s_drop_nth)
		return true;
	if (from == 1 && len == doff && !(flags & 0x07)) {
		for (unsigned i = 20; i + 1 < doff;) {
			if (t[i] == 0)
				break;
			if (t[i] == 1) {
				i++;
				continue;
			}
			if (t[i + 1] < 2)
				break;
			if (t[i] == 5)
				x->s2c_acks_sack++;
			if (t[i] == 30 && t[i + 1] >= 4 &&
			    (t[i + 2] >> 4) == 2 && (t[i + 3] & 0x10))
				x->s2c_acks_fin++;
			i += t[i + 1];
		}
	}
	if (from == 1)
		note_window(x, t, doff, cport);
	for (unsigned i = 20; i < doff;) {
		uint8_t k = t[i];
		if (k == 0)
			break;
		if (k == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
			break;
		uint8_t ol = t[i + 1];
		if (k == 30) {
			unsigned st = t[i + 2] >> 4;
			bool syn = flags & 0x02;
			if ((flags & 0x04) && st == 8 && ol == 4) {
				x->tcprst[from]++;
				x->tcprst_reason[from] = t[i + 3];
				x->tcprst_flags[from] = t[i + 2] & 0x0f;
			}
			bool s2c = from == 1 && !syn &&
				   x->n.now >= x->strip_s2c_from_us &&
				   x->n.now < x->strip_s2c_to_us;
			if (x->strip_all || s2c ||
			    (x->strip_c2s_after_syn && from == 0 && !syn)) {
				memset(t + i, 1, ol);
				changed = true;
			} else if (x->tamper_synack_join && from == 1 &&
				   st == 1 && ol == 16) {
				t[i + 4] ^= 0xff;
				changed = true;
				x->tampered++;
			} else if (x->tamper_ack_join && from == 0 && st == 1 &&
				   ol == 24) {
				t[i + 10] ^= 0x01;
				changed = true;
				x->tampered++;
			} else if (x->tamper_join_token && from == 0 &&
				   st == 1 && ol == 12) {
				t[i + 4] ^= 0x5a;
				changed = true;
				x->tampered++;
			} else if (x->tamper_add_addr && st == 3 &&
				   !(t[i + 2] & 1)) {
				t[i + ol - 1] ^= 0x01;
				changed = true;
				x->tampered++;
			}
		}
		i += ol;
	}
	if (x->corrupt_payload_once && from == 0 && len > doff + 100 &&
	    x->n.now >= x->corrupt_after_us) {
		x->corrupt_payload_once = false;
		t[doff + 50] ^= 0x20;
		changed = true;
		x->tampered++;
	}
	if (changed)
		fix_csum(x, from, t, len);
	return false;
}

static uint64_t mib(struct mx *x, int node, const char *name);

static void mx_init(struct mx *x, uint64_t seed, uint64_t total,
		    const struct bd_mptcp_config *cc,
		    const struct bd_mptcp_config *sc)
{
	memset(x, 0, sizeof(*x));
	th_init(&x->n, seed, NULL, NULL);
	x->n.rate_bps = 200000000;
	x->n.qlimit_us = 20000;
	x->n.filter = filt;
	x->n.filter_arg = x;
	x->ms[0] = bd_mptcp_stack_create(&x->n.n[0].st, cc);
	x->ms[1] = bd_mptcp_stack_create(&x->n.n[1].st, sc);
	x->total = total;
	x->gen_tx = x->gen_rx = seed;
	x->htx = EVP_MD_CTX_new();
	x->hrx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(x->htx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(x->hrx, EVP_sha256(), NULL);
}

static int mx_start(struct mx *x)
{
	struct bd_ipaddr a = bd_ip4(TH_A_ADDR), b = bd_ip4(TH_B_ADDR);
	int err;
	x->l = bd_mptcp_listen(x->ms[1], NULL, PORT, 16, &lcb, x, &err);
	if (!x->l)
		return err;
	x->cli = bd_mptcp_connect(x->ms[0], &a, 0, &b, PORT, &ccb, x, &err);
	return x->cli ? 0 : err;
}

static bool mx_done(void *arg)
{
	struct mx *x = arg;
	return x->cli_closed && x->srv_closed;
}

/* Run to the end; true if every byte arrived, in order, hashes equal. */
static bool mx_run(struct mx *x, uint64_t us)
{
	th_run(&x->n, us, mx_done, x);
	uint8_t h1[32], h2[32];
	unsigned l1 = 0, l2 = 0;
	EVP_DigestFinal_ex(x->htx, h1, &l1);
	EVP_DigestFinal_ex(x->hrx, h2, &l2);
	return x->rcvd == x->total && x->sent == x->total && !x->bad_byte &&
	       l1 == 32 && memcmp(h1, h2, 32) == 0;
}

static void mx_dump(struct mx *x)
{
	printf("    sent %llu rcvd %llu conn %d fin %d closed %d/%d err %d/%d "
	       "bad %d now %llu\n",
	       (unsigned long long)x->sent, (unsigned long long)x->rcvd,
	       x->connected, x->peer_fin, x->cli_closed, x->srv_closed,
	       x->cli_err, x->srv_err, x->bad_byte,
	       (unsigned long long)x->n.now);
	for (int i = 0; i < 2; i++) {
		printf("    node %d:", i);
		for (const struct bd_mptcp_field *f = bd_mptcp_mib_fields;
		     f->name; f++) {
			uint64_t v = mib(x, i, f->name);
			if (v)
				printf(" %s=%llu", f->name,
				       (unsigned long long)v);
		}
		printf("\n");
	}
	struct bd_mptcp_sock *sk[2] = {x->cli, x->srv};
	for (int i = 0; i < 2; i++) {
		struct bd_mptcp_info in;
		if (!sk[i])
			continue;
		bd_mptcp_get_info(sk[i], &in);
		printf("    sk %d: fb %d subflows %u sent %llu acked %llu "
		       "rcvd %llu retrans %llu\n",
		       i, bd_mptcp_is_fallback(sk[i]), in.mptcpi_subflows,
		       (unsigned long long)in.mptcpi_bytes_sent,
		       (unsigned long long)in.mptcpi_bytes_acked,
		       (unsigned long long)in.mptcpi_bytes_received,
		       (unsigned long long)in.mptcpi_bytes_retrans);
	}
}

/* Release the connection handles. */
static void mx_drop_conn(struct mx *x)
{
	if (x->cli) {
		if (x->cli_closed)
			bd_mptcp_close(x->cli);
		else
			bd_mptcp_abort(x->cli);
	}
	if (x->srv) {
		if (x->srv_closed)
			bd_mptcp_close(x->srv);
		else
			bd_mptcp_abort(x->srv);
	}
	x->cli = x->srv = NULL;
}

static void mx_free(struct mx *x)
{
	if (bt_failed() || getenv("MX_DUMP"))
		mx_dump(x);
	mx_drop_conn(x);
	if (x->l)
		bd_mptcp_close(x->l);
	bd_mptcp_stack_destroy(x->ms[0]);
	bd_mptcp_stack_destroy(x->ms[1]);
	th_free(&x->n);
	EVP_MD_CTX_free(x->htx);
	EVP_MD_CTX_free(x->hrx);
}

static uint64_t mib(struct mx *x, int node, const char *name)
{
	return bd_mptcp_mib_get(x->ms[node], name);
}

BT_TEST(mptcp_conn_one_subflow_hashed)
{
	static struct mx x;
	mx_init(&x, 11, 1u << 20, NULL, NULL);
	BT_EQ(mx_start(&x), 0);
	bool ok = mx_run(&x, 60000000);
	if (!ok || !x.cli_closed || !x.srv_closed)
		mx_dump(&x);
	BT_ASSERT(ok);
	BT_ASSERT(x.cli_closed && x.srv_closed);
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	BT_UEQ(mib(&x, 0, "MPCapableSYNTX"), 1);
	BT_UEQ(mib(&x, 1, "MPCapableSYNRX"), 1);
	BT_UEQ(mib(&x, 0, "MPCapableSYNACKRX"), 1);
	BT_UEQ(mib(&x, 1, "MPCapableACKRX"), 1);
	BT_UEQ(mib(&x, 0, "MPCapableFallbackSYNACK"), 0);
	BT_UEQ(mib(&x, 1, "MPCapableFallbackACK"), 0);
	mx_free(&x);
}

/* As Linux's mptcp_info (msk->write_seq, snd_una, ack_seq): the DATA_FIN
 * takes one data sequence number, counted in write_seq once queued, in
 * snd_una once acknowledged and in the peer's rcv_nxt once received. */
BT_TEST(mptcp_conn_info_dsns_count_the_data_fin)
{
	static struct mx x;
	const uint64_t total = 100000;
	mx_init(&x, 13, total, NULL, NULL);
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(mx_run(&x, 60000000));
	BT_ASSERT(x.cli_closed && x.srv_closed);
	struct bd_mptcp_info ci, si;
	BT_EQ(bd_mptcp_get_info(x.cli, &ci), 0);
	BT_EQ(bd_mptcp_get_info(x.srv, &si), 0);
	BT_UEQ(ci.mptcpi_bytes_acked, total);
	/* Client: the bytes and its DATA_FIN, all acknowledged. */
	BT_UEQ(ci.mptcpi_write_seq, x.cli_seq0 + total + 1);
	BT_UEQ(ci.mptcpi_snd_una, ci.mptcpi_write_seq);
	BT_UEQ(si.mptcpi_rcv_nxt, ci.mptcpi_write_seq);
	/* Server: nothing but its DATA_FIN. */
	BT_UEQ(si.mptcpi_write_seq, x.srv_seq0 + 1);
	BT_UEQ(si.mptcpi_snd_una, si.mptcpi_write_seq);
	BT_UEQ(ci.mptcpi_rcv_nxt, si.mptcpi_write_seq);
	mx_free(&x);
}

/* Bytes the peer acknowledged on subflow i of sk. */
static uint64_t sf_acked(struct bd_mptcp_sock *sk, unsigned i)
{
	struct bd_tcp_info ti;
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(sk, i, NULL);
	if (!t || bd_tcp_get_info(t, &ti))
		return 0;
	return ti.bytes_acked;
}

static bool run_or_dump(struct mx *x, uint64_t us)
{
	bool ok = mx_run(x, us);
	if (!ok)
		mx_dump(x);
	return ok;
}

static bool all_connected(void *arg)
{
	struct mx *x = arg;
	struct bd_mptcp_info ci;
	bd_mptcp_get_info(x->cli, &ci);
	return ci.mptcpi_subflows_total == 1 + x->extra_subflows;
}

BT_TEST(mptcp_conn_three_subflows_hashed)
{
	static struct mx x;
	mx_init(&x, 12, 4u << 20, NULL, NULL);
	x.extra_subflows = 2;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 50000, all_connected, &x);
	struct bd_mptcp_info ci;
	BT_EQ(bd_mptcp_get_info(x.cli, &ci), 0);
	BT_EQ(ci.mptcpi_subflows_total, 3);
	BT_EQ(ci.mptcpi_subflows, 2); /* as Linux: the joined ones */
	uint64_t a[3];
	for (unsigned i = 0; i < 3; i++)
		a[i] = 0;
	th_run(&x.n, 5000, NULL, NULL);
	for (unsigned i = 0; i < 3; i++)
		a[i] = sf_acked(x.cli, i);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	/* Every subflow carried data. */
	for (unsigned i = 0; i < 3; i++)
		BT_ASSERT(a[i] > 0);
	BT_UEQ(mib(&x, 0, "MPJoinSynTx"), 2);
	BT_UEQ(mib(&x, 1, "MPJoinSynRx"), 2);
	BT_UEQ(mib(&x, 0, "MPJoinSynAckRx"), 2);
	BT_UEQ(mib(&x, 1, "MPJoinAckRx"), 2);
	BT_UEQ(mib(&x, 1, "MPJoinAckHMacFailure"), 0);
	BT_UEQ(mib(&x, 0, "MPJoinSynAckHMacFailure"), 0);
	mx_free(&x);
}

static bool half_way(void *arg)
{
	struct mx *x = arg;
	return x->rcvd >= x->total / 4;
}

BT_TEST(mptcp_conn_subflow_death_reinjects)
{
	static struct mx x;
	mx_init(&x, 13, 4u << 20, NULL, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 60000000, half_way, &x);
	BT_ASSERT(x.rcvd >= x.total / 4 && x.rcvd < x.total);
	/* The joined subflow goes dark in both directions. */
	uint16_t lport;
	struct bd_ipaddr la, ra;
	uint16_t rport;
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x.cli, 1, NULL);
	BT_ASSERT(t);
	bd_tcp_get_addrs(t, &la, &lport, &ra, &rport);
	x.drop_port = lport;
	x.drop_after_us = 0;
	BT_ASSERT(run_or_dump(&x, 600000000));
	BT_ASSERT(mib(&x, 0, "MPTCPRetrans") > 0);
	BT_ASSERT(mib(&x, 0, "BraidReinjectBytes") > 0);
	struct bd_mptcp_info ci;
	bd_mptcp_get_info(x.cli, &ci);
	BT_ASSERT(ci.mptcpi_bytes_retrans > 0);
	mx_free(&x);
}

/* A subflow goes dark for a while: its data is mapped onto the other one
 * and acknowledged at the data level. When the path comes back, TCP sends
 * the subflow's old segments again, each still with its mapping (kept until
 * TCP has them acknowledged), so the peer's subflow takes them as
 * duplicates and delivers what follows. (Without the mapping the peer's
 * subflow held bytes in order it could not place, and nothing more went
 * through it.) */
BT_TEST(mptcp_conn_dark_subflow_comes_back_with_its_mappings)
{
	static struct mx x;
	struct bd_ipaddr la, ra;
	uint16_t lport, rport;
	mx_init(&x, 31, 8u << 20, NULL, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 60000000, half_way, &x);
	BT_ASSERT(x.rcvd >= x.total / 4 && x.rcvd < x.total / 2);
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x.cli, 1, NULL);
	BT_ASSERT(t);
	bd_tcp_get_addrs(t, &la, &lport, &ra, &rport);
	x.drop_port = lport;
	x.drop_after_us = 0;
	x.drop_until_us = x.n.now + 1500000;
	BT_ASSERT(run_or_dump(&x, 30000000));
	BT_ASSERT(x.cli_closed && x.srv_closed);
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	BT_ASSERT(mib(&x, 0, "BraidReinjectBytes") > 0);
	BT_ASSERT(mib(&x, 1, "DuplicateData") > 0);
	mx_free(&x);
}

static bool cli_closed(void *arg)
{
	return ((struct mx *)arg)->cli_closed;
}

/* A connect to a port nobody listens on: the peer's RST ends it with
 * ECONNREFUSED (it used to wait for ever). */
BT_TEST(mptcp_conn_connect_refused)
{
	static struct mx x;
	struct bd_ipaddr a = bd_ip4(TH_A_ADDR), b = bd_ip4(TH_B_ADDR);
	int err;
	mx_init(&x, 33, 1000, NULL, NULL);
	x.cli = bd_mptcp_connect(x.ms[0], &a, 0, &b, PORT + 9, &ccb, &x, &err);
	BT_ASSERT(x.cli);
	th_run(&x.n, 5000000, cli_closed, &x);
	BT_ASSERT(x.cli_closed);
	BT_EQ(x.cli_err, BD_ECONNREFUSED);
	BT_ASSERT(!x.connected);
	mx_free(&x);
}

BT_TEST(mptcp_conn_join_bad_synack_hmac_refused)
{
	static struct mx x;
	mx_init(&x, 14, 256u << 10, NULL, NULL);
	x.extra_subflows = 1;
	x.tamper_synack_join = true;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(x.tampered >= 1);
	BT_UEQ(mib(&x, 0, "MPJoinSynAckHMacFailure"), 1);
	struct bd_mptcp_info ci;
	bd_mptcp_get_info(x.cli, &ci);
	BT_UEQ(mib(&x, 0, "MPJoinSynTx"), 1);
	BT_EQ(ci.mptcpi_subflows, 0);
	/* The client resets the join; its RST says why (RFC 8684 3.6). */
	BT_EQ(x.tcprst[0], 1);
	BT_EQ(x.tcprst_reason[0], BD_MPTCP_RST_EMPTCP);
	BT_EQ(x.tcprst_flags[0], 0);
	BT_UEQ(mib(&x, 0, "MPRstTx"), 1);
	BT_UEQ(mib(&x, 1, "MPRstRx"), 1);
	BT_EQ(x.tcprst[1], 0);
	mx_free(&x);
}

BT_TEST(mptcp_conn_join_bad_ack_hmac_refused)
{
	static struct mx x;
	mx_init(&x, 15, 256u << 10, NULL, NULL);
	x.extra_subflows = 1;
	x.tamper_ack_join = true;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(x.tampered >= 1);
	BT_UEQ(mib(&x, 1, "MPJoinAckRx"), 1);
	BT_UEQ(mib(&x, 1, "MPJoinAckHMacFailure"), 1);
	BT_EQ(x.tcprst[1], 1);
	BT_EQ(x.tcprst_reason[1], BD_MPTCP_RST_EPROHIBIT);
	BT_UEQ(mib(&x, 1, "MPRstTx"), 1);
	BT_UEQ(mib(&x, 0, "MPRstRx"), 1);
	mx_free(&x);
}

struct closed_ev {
	unsigned n;
	uint8_t rst_code;
};

static void on_sf_event(void *ctx, struct bd_mptcp_sock *sk,
			const struct bd_mptcp_event *ev)
{
	struct closed_ev *c = ctx;
	(void)sk;
	if (ev->type != BD_MPTCP_EV_CLOSED ||
	    ev->reason != BD_MPTCP_CLOSE_REFUSED)
		return;
	c->n++;
	c->rst_code = ev->rst_code;
}

/* The server refuses a join whose token it does not know with a RST that
 * carries MP_TCPRST (MPTCP error, RFC 8684 3.2); the client reads it on
 * the RST answering its SYN: counted (MPRstRx) and the reason reported
 * with the subflow's close. */
BT_TEST(mptcp_conn_join_unknown_token_refused)
{
	static struct mx x;
	struct closed_ev ce = {0};
	mx_init(&x, 16, 256u << 10, NULL, NULL);
	bd_mptcp_set_event_handler(x.ms[0], on_sf_event, &ce);
	x.extra_subflows = 1;
	x.tamper_join_token = true;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_UEQ(mib(&x, 1, "MPJoinSynRx"), 1);
	BT_UEQ(mib(&x, 1, "MPJoinNoTokenFound"), 1);
	BT_ASSERT(th_mib(&x.n, 1, "BraidDropUlp") >= 1);
	BT_UEQ(mib(&x, 1, "MPRstTx"), 1);
	BT_EQ(x.tcprst[1], 1);
	BT_EQ(x.tcprst_reason[1], BD_MPTCP_RST_EMPTCP);
	BT_UEQ(mib(&x, 0, "MPRstRx"), 1);
	/* The refused subflow's close says why. */
	BT_EQ(ce.n, 1);
	BT_EQ(ce.rst_code, BD_MPTCP_RST_EMPTCP);
	mx_free(&x);
}

static bool both_joined_started(void *arg);

struct join_rec {
	unsigned up, down;
	bool refuse;
	struct bd_ipaddr raddr, laddr;
	uint16_t rport, lport;
};

static bool on_join(void *ctx, bool up, const struct bd_ipaddr *raddr,
		    uint16_t rport, const struct bd_ipaddr *laddr,
		    uint16_t lport)
{
	struct join_rec *j = ctx;
	if (!up) {
		j->down++;
		return true;
	}
	j->up++;
	j->raddr = *raddr;
	j->laddr = *laddr;
	j->rport = rport;
	j->lport = lport;
	return !j->refuse;
}

/* Token steering: stack 1 of 3 (client) and 2 of 3 (server) make only
 * tokens naming themselves, on both sides of a connection; the server
 * hears of the passive join with its addresses and ports, and again when
 * it is freed. */
BT_TEST(mptcp_conn_token_steering)
{
	static struct mx x;
	struct join_rec j = {0};
	struct bd_ipaddr a = bd_ip4(TH_A_ADDR), b = bd_ip4(TH_B_ADDR);
	mx_init(&x, 43, 1u << 20, NULL, NULL);
	bd_mptcp_set_steering(x.ms[0], 3, 1, NULL, NULL);
	bd_mptcp_set_steering(x.ms[1], 3, 2, on_join, &j);
	/* Keys stay random: 30 connections, 30 tokens, each naming stack 1. */
	uint32_t tok[30];
	for (unsigned i = 0; i < 30; i++) {
		int err;
		struct bd_mptcp_info in;
		struct bd_mptcp_sock *c =
		    bd_mptcp_connect(x.ms[0], &a, 0, &b, 9, NULL, NULL, &err);
		BT_ASSERT(c);
		BT_EQ(bd_mptcp_get_info(c, &in), 0);
		tok[i] = in.mptcpi_token;
		BT_EQ(tok[i] % 3, 1);
		for (unsigned k = 0; k < i; k++)
			BT_ASSERT(tok[k] != tok[i]);
		bd_mptcp_abort(c);
	}
	BT_UEQ(mib(&x, 0, "MPFallbackTokenInit"), 0);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, both_joined_started, &x);
	BT_ASSERT(both_joined_started(&x));
	struct bd_mptcp_info ci, si;
	BT_EQ(bd_mptcp_get_info(x.cli, &ci), 0);
	BT_EQ(bd_mptcp_get_info(x.srv, &si), 0);
	BT_EQ(ci.mptcpi_token % 3, 1);
	BT_EQ(si.mptcpi_token % 3, 2);
	BT_EQ(j.up, 1);
	BT_EQ(j.down, 0);
	BT_ASSERT(bd_ipaddr_eq(&j.raddr, &a) && bd_ipaddr_eq(&j.laddr, &b));
	BT_EQ(j.lport, PORT);
	struct bd_ipaddr la, ra;
	uint16_t lp = 0, rp = 0;
	struct bd_tcp_sock *t = bd_mptcp_subflow_tcp(x.cli, 1, NULL);
	BT_ASSERT(t);
	bd_tcp_get_addrs(t, &la, &lp, &ra, &rp);
	BT_EQ(j.rport, lp);
	BT_ASSERT(run_or_dump(&x, 60000000));
	/* Freed once its TCP socket goes (after TIME-WAIT at the latest). */
	th_run(&x.n, 130000000, NULL, NULL);
	BT_EQ(j.down, 1);
	mx_free(&x);
}

/* The server's steering refuses the join (no room): a RST with MP_TCPRST
 * "lack of resources", read by the client; the transfer completes on the
 * first subflow. */
BT_TEST(mptcp_conn_token_steering_join_refused)
{
	static struct mx x;
	struct join_rec j = {.refuse = true};
	mx_init(&x, 44, 512u << 10, NULL, NULL);
	bd_mptcp_set_steering(x.ms[1], 2, 0, on_join, &j);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_EQ(j.up, 1);
	BT_EQ(j.down, 0);
	BT_EQ(x.tcprst[1], 1);
	BT_EQ(x.tcprst_reason[1], BD_MPTCP_RST_ERESOURCE);
	BT_UEQ(mib(&x, 0, "MPRstRx"), 1);
	BT_UEQ(mib(&x, 1, "MPJoinSynRx"), 1);
	BT_UEQ(mib(&x, 1, "MPJoinAckRx"), 0);
	mx_free(&x);
}

BT_TEST(mptcp_conn_fallback_all_options_stripped)
{
	static struct mx x;
	mx_init(&x, 17, 1u << 20, NULL, NULL);
	x.strip_all = true;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(bd_mptcp_is_fallback(x.cli));
	BT_ASSERT(bd_mptcp_is_fallback(x.srv));
	BT_EQ(bd_mptcp_fallback_reason(x.cli), BD_MPTCP_FB_NO_SYNACK_MPC);
	BT_EQ(bd_mptcp_fallback_reason(x.srv), BD_MPTCP_FB_PLAIN_PEER);
	BT_UEQ(mib(&x, 0, "MPCapableFallbackSYNACK"), 1);
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	mx_free(&x);
}

BT_TEST(mptcp_conn_fallback_third_ack_stripped)
{
	static struct mx x;
	mx_init(&x, 18, 1u << 20, NULL, NULL);
	x.strip_c2s_after_syn = true;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(bd_mptcp_is_fallback(x.cli));
	BT_ASSERT(bd_mptcp_is_fallback(x.srv));
	BT_EQ(bd_mptcp_fallback_reason(x.srv), BD_MPTCP_FB_NO_ACK_MPC);
	BT_EQ(bd_mptcp_fallback_reason(x.cli), BD_MPTCP_FB_NO_DSS);
	BT_UEQ(mib(&x, 1, "MPCapableFallbackACK"), 1);
	mx_free(&x);
}

/* --- a plain TCP client on an MPTCP listener --------------------------------
 */

struct plain {
	struct mx *x;
	struct bd_tcp_sock *s;
	bool closed;
	uint8_t buf[8192];
	size_t len, off;
};

static void p_push(struct plain *p)
{
	struct mx *x = p->x;
	for (;;) {
		if (p->off == p->len) {
			if (x->sent == x->total) {
				bd_tcp_shutdown(p->s);
				return;
			}
			size_t n = x->total - x->sent;
			if (n > sizeof(p->buf))
				n = sizeof(p->buf);
			for (size_t i = 0; i < n; i++)
				p->buf[i] = gen_byte(&x->gen_tx);
			EVP_DigestUpdate(x->htx, p->buf, n);
			x->sent += n;
			p->len = n;
			p->off = 0;
		}
		long k = bd_tcp_send(p->s, p->buf + p->off, p->len - p->off);
		if (k <= 0)
			return;
		p->off += (size_t)k;
	}
}

static void p_connected(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	p_push(ctx);
}

static void p_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct plain *p = ctx;
	(void)s;
	p->closed = true;
	p->x->cli_closed = true;
	p->x->cli_err = err;
}

BT_TEST(mptcp_conn_plain_tcp_client_accepted)
{
	static struct mx x;
	static struct plain p;
	static const struct bd_tcp_callbacks pcb = {.on_connected = p_connected,
						    .on_writable = p_connected,
						    .on_closed = p_closed};
	struct bd_ipaddr a = bd_ip4(TH_A_ADDR), b = bd_ip4(TH_B_ADDR);
	int err;
	mx_init(&x, 19, 1u << 20, NULL, NULL);
	x.l = bd_mptcp_listen(x.ms[1], NULL, PORT, 16, &lcb, &x, &err);
	BT_ASSERT(x.l);
	p.x = &x;
	p.s = bd_tcp_connect(th_tcp(&x.n, 0), &a, 0, &b, PORT, NULL, &pcb, &p,
			     &err);
	BT_ASSERT(p.s);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(bd_mptcp_is_fallback(x.srv));
	BT_EQ(bd_mptcp_fallback_reason(x.srv), BD_MPTCP_FB_PLAIN_PEER);
	BT_UEQ(mib(&x, 1, "MPCapableSYNRX"), 0);
	bd_tcp_close(p.s);
	mx_free(&x);
}

static bool joined(void *arg)
{
	struct mx *x = arg;
	struct bd_mptcp_info ci;
	if (!x->cli)
		return false;
	bd_mptcp_get_info(x->cli, &ci);
	return ci.mptcpi_subflows_total >= 2;
}

static bool started(void *arg)
{
	struct mx *x = arg;
	return x->srv && x->rcvd > 0;
}

BT_TEST(mptcp_conn_add_addr_echo_and_join)
{
	static struct mx x;
	struct bd_ipaddr b = bd_ip4(TH_B_ADDR);
	mx_init(&x, 20, 2u << 20, NULL, NULL);
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, started, &x);
	BT_ASSERT(x.srv);
	BT_EQ(bd_mptcp_announce(x.srv, 7, &b, PORT), 0);
	th_run(&x.n, 10000000, joined, &x);
	BT_ASSERT(joined(&x));
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(mib(&x, 0, "AddAddr") >= 1);
	BT_UEQ(mib(&x, 0, "AddAddrDrop"), 0);
	BT_ASSERT(mib(&x, 1, "EchoAdd") >= 1);
	BT_UEQ(mib(&x, 0, "MPJoinSynTx"), 1);
	BT_UEQ(mib(&x, 1, "MPJoinAckRx"), 1);
	uint8_t ids[4];
	uint16_t ports[4];
	BT_EQ(bd_mptcp_peer_addrs(x.cli, ids, NULL, ports, 4), 1);
	BT_EQ(ids[0], 7);
	BT_EQ(ports[0], PORT);
	struct bd_mptcp_info si;
	bd_mptcp_get_info(x.srv, &si);
	BT_EQ(si.mptcpi_add_addr_signal, 1);
	mx_free(&x);
}

BT_TEST(mptcp_conn_add_addr_bad_hmac_ignored)
{
	static struct mx x;
	struct bd_ipaddr b = bd_ip4(TH_B_ADDR);
	mx_init(&x, 21, 1u << 20, NULL, NULL);
	x.tamper_add_addr = true;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, started, &x);
	BT_ASSERT(x.srv);
	BT_EQ(bd_mptcp_announce(x.srv, 7, &b, PORT), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(x.tampered >= 1);
	BT_ASSERT(mib(&x, 0, "AddAddrDrop") >= 1);
	BT_UEQ(mib(&x, 0, "AddAddr"), 0);
	BT_UEQ(mib(&x, 0, "MPJoinSynTx"), 0);
	BT_EQ(bd_mptcp_peer_addrs(x.cli, NULL, NULL, NULL, 4), 0);
	mx_free(&x);
}

BT_TEST(mptcp_conn_mp_prio_backup)
{
	static struct mx x;
	mx_init(&x, 22, 2u << 20, NULL, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, joined, &x);
	BT_ASSERT(joined(&x));
	BT_EQ(bd_mptcp_set_backup(x.cli, 1, true), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_UEQ(mib(&x, 0, "MPPrioTx"), 1);
	BT_UEQ(mib(&x, 1, "MPPrioRx"), 1);
	mx_free(&x);
}

BT_TEST(mptcp_conn_fastclose_resets_peer)
{
	static struct mx x;
	mx_init(&x, 23, 4u << 20, NULL, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, joined, &x);
	th_run(&x.n, 10000000, half_way, &x);
	bd_mptcp_abort(x.cli);
	x.cli = NULL;
	th_run(&x.n, 1000000, NULL, NULL);
	BT_UEQ(mib(&x, 0, "MPFastcloseTx"), 1);
	BT_UEQ(mib(&x, 1, "MPFastcloseRx"), 1);
	BT_ASSERT(x.srv_closed);
	BT_EQ(x.srv_err, BD_ECONNRESET);
	mx_free(&x);
}

BT_TEST(mptcp_conn_checksum_negotiated_and_verified)
{
	static struct mx x;
	struct bd_mptcp_config cc;
	bd_mptcp_config_default(&cc);
	cc.checksum = true;
	mx_init(&x, 24, 2u << 20, &cc, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	struct bd_mptcp_info ci, si;
	bd_mptcp_get_info(x.cli, &ci);
	bd_mptcp_get_info(x.srv, &si);
	BT_EQ(ci.mptcpi_csum_enabled, 1);
	BT_EQ(si.mptcpi_csum_enabled, 1);
	BT_UEQ(mib(&x, 1, "DataCsumErr"), 0);
	mx_free(&x);
}

/* Every DATA_ACK vanishes until the client's data-level send buffer is
 * full: TCP acknowledges every segment, so no subflow has anything in
 * flight and nothing would ever move again. The data-level retransmission
 * timer sends the oldest unacknowledged bytes again once the options
 * pass; the peer answers with its DATA_ACK and the transfer completes. */
BT_TEST(mptcp_conn_lost_data_acks_recovered_by_data_level_rtx)
{
	static struct mx x;
	mx_init(&x, 25, 4u << 20, NULL, NULL);
	x.strip_s2c_from_us = x.n.now + 6000;
	x.strip_s2c_to_us = x.n.now + 150000;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 10000000));
	if (getenv("MX_DUMP"))
		mx_dump(&x);
	BT_ASSERT(x.cli_closed && x.srv_closed);
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	BT_ASSERT(!bd_mptcp_is_fallback(x.cli));
	BT_ASSERT(mib(&x, 0, "MPTCPRetrans") >= 1);
	BT_ASSERT(mib(&x, 1, "DuplicateData") >= 1);
	BT_ASSERT(x.n.now > x.strip_s2c_to_us);
	mx_free(&x);
}

/* The server's reader pauses until the data-level window is closed and
 * nothing is in flight; then it reads again from outside any callback.
 * The window update goes out on a pure ACK that acknowledges nothing new
 * at the subflow level: the client sends again at once. And no callback
 * of the reader runs inside its own bd_mptcp_recv() (a nested read would
 * take the bytes after the ones being returned: they arrive out of
 * order, the hash differs). */
BT_TEST(mptcp_conn_window_update_on_duplicate_ack_resumes)
{
	static struct mx x;
	mx_init(&x, 26, 8u << 20, NULL, NULL);
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, started, &x);
	BT_ASSERT(x.srv);
	x.srv_no_read = true;
	th_run(&x.n, 300000, NULL, NULL);
	uint64_t stuck = x.sent;
	BT_ASSERT(stuck < x.total);
	th_run(&x.n, 100000, NULL, NULL);
	BT_UEQ(x.sent, stuck); /* nothing moves while nobody reads */
	x.srv_no_read = false;
	s_readable(&x, x.srv);
	uint64_t t0 = x.n.now;
	th_run(&x.n, 100000, NULL, NULL);
	BT_ASSERT(x.sent > stuck);
	BT_ASSERT(run_or_dump(&x, 10000000));
	BT_ASSERT(x.n.now - t0 < 1000000);
	mx_free(&x);
}

static bool both_joined_started(void *arg)
{
	struct mx *x = arg;
	struct bd_mptcp_info ci;
	if (!x->cli || !x->srv || x->rcvd == 0)
		return false;
	bd_mptcp_get_info(x->cli, &ci);
	return ci.mptcpi_subflows == 1 && x->nwin == 2;
}

/* RFC 8684 3.3.4: one receive window shared by the subflows. The server's
 * data-level buffer is 64 KiB; its reader stops. Over two subflows the
 * client sends no more than that buffer past what was read (each subflow's
 * own TCP buffer would take as much again), both subflows advertise the
 * data-level window (relative to the DATA_ACK: zero once the buffer is
 * full), whose right edge never moves left. Once the reader drains, the
 * transfer completes, every byte in order. Round robin, so that both
 * subflows carry data before the window closes (lowrtt may put all of
 * 64 KiB on the faster one). */
BT_TEST(mptcp_conn_shared_window_slow_reader_two_subflows)
{
	static struct mx x;
	struct bd_mptcp_config sc, cc;
	const uint32_t buf = 64 * 1024;
	bd_mptcp_config_default(&sc);
	bd_mptcp_config_default(&cc);
	sc.rcv_buf = buf;
	cc.scheduler = "roundrobin";
	mx_init(&x, 41, 4u << 20, &cc, &sc);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, both_joined_started, &x);
	BT_ASSERT(both_joined_started(&x));
	/* Slow reader: the application stops reading. */
	x.srv_no_read = true;
	uint64_t read = x.rcvd;
	th_run(&x.n, 2000000, NULL, NULL);
	struct bd_mptcp_info ci, si;
	BT_EQ(bd_mptcp_get_info(x.cli, &ci), 0);
	BT_EQ(bd_mptcp_get_info(x.srv, &si), 0);
	/* Limited at the data level: what was read plus one buffer. */
	BT_ASSERT(ci.mptcpi_bytes_sent > read);
	BT_ASSERT(ci.mptcpi_bytes_sent <= read + buf);
	/* The buffer is full (to the scaled window's granularity). */
	size_t held = bd_mptcp_readable(x.srv);
	BT_ASSERT(held <= buf && held > buf - 4096);
	BT_UEQ(si.mptcpi_bytes_received, read + held);
	BT_ASSERT(x.sent < x.total);
	/* Both subflows advertise the closed data-level window. */
	BT_EQ(x.nwin, 2);
	BT_EQ(x.win_last[0], 0);
	BT_EQ(x.win_last[1], 0);
	BT_EQ(x.win_edge[0], x.win_edge[1]);
	BT_ASSERT(x.win_max <= buf);
	BT_EQ(x.edge_left, 0);
	/* Both subflows carried data. */
	BT_ASSERT(sf_acked(x.cli, 0) > 0 && sf_acked(x.cli, 1) > 0);
	/* Nothing moves while nobody reads. */
	uint64_t stuck = ci.mptcpi_bytes_sent;
	th_run(&x.n, 1000000, NULL, NULL);
	BT_EQ(bd_mptcp_get_info(x.cli, &ci), 0);
	BT_UEQ(ci.mptcpi_bytes_sent, stuck);
	/* The reader drains, from outside any callback. */
	x.srv_no_read = false;
	s_readable(&x, x.srv);
	uint64_t t0 = x.n.now;
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_ASSERT(x.n.now - t0 < 20000000);
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	BT_EQ(x.edge_left, 0);
	BT_ASSERT(x.win_max <= buf);
	mx_free(&x);
}

/* The window updates that reopen the data-level window are lost (every
 * segment of the server's vanishes while its reader drains): nothing is
 * in flight, so the client probes the closed window; the answer carries
 * the open window and the transfer completes. */
BT_TEST(mptcp_conn_shared_window_lost_update_probed)
{
	static struct mx x;
	struct bd_mptcp_config sc;
	bd_mptcp_config_default(&sc);
	sc.rcv_buf = 64 * 1024;
	mx_init(&x, 42, 2u << 20, NULL, &sc);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, both_joined_started, &x);
	BT_ASSERT(both_joined_started(&x));
	x.srv_no_read = true;
	th_run(&x.n, 2000000, NULL, NULL);
	BT_EQ(x.win_last[0], 0);
	BT_EQ(x.win_last[1], 0);
	x.drop_s2c_from_us = x.n.now;
	x.drop_s2c_to_us = x.n.now + 50000;
	x.srv_no_read = false;
	s_readable(&x, x.srv);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_EQ(x.cli_err, 0);
	BT_EQ(x.srv_err, 0);
	BT_ASSERT(mib(&x, 0, "BraidDataWndProbe") >= 1);
	mx_free(&x);
}

BT_TEST(mptcp_conn_checksum_failure_resets_subflow)
{
	static struct mx x;
	struct bd_mptcp_config cc;
	bd_mptcp_config_default(&cc);
	cc.checksum = true;
	mx_init(&x, 25, 2u << 20, &cc, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, joined, &x);
	BT_ASSERT(joined(&x));
	x.corrupt_payload_once = true;
	BT_ASSERT(run_or_dump(&x, 600000000));
	BT_ASSERT(x.tampered == 1);
	BT_UEQ(mib(&x, 1, "DataCsumErr"), 1);
	BT_UEQ(mib(&x, 1, "MPFailTx"), 1);
	BT_UEQ(mib(&x, 0, "MPFailRx"), 1);
	/* The broken subflow's reset names the middlebox (RFC 8684 3.7). */
	BT_ASSERT(x.tcprst[0] + x.tcprst[1] >= 1);
	for (int d = 0; d < 2; d++)
		if (x.tcprst[d])
			BT_EQ(x.tcprst_reason[d], BD_MPTCP_RST_EMIDDLEBOX);
	BT_UEQ(mib(&x, 0, "MPRstTx") + mib(&x, 1, "MPRstTx"),
	       x.tcprst[0] + x.tcprst[1]);
	mx_free(&x);
}

BT_TEST(mptcp_conn_two_subflows_loss_reorder)
{
	static struct mx x;
	mx_init(&x, 26, 2u << 20, NULL, NULL);
	x.extra_subflows = 1;
	x.n.loss = 0.01;
	x.n.reorder = 0.02;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 600000000));
	BT_EQ(x.cli_err, 0);
	mx_free(&x);
}

BT_TEST(mptcp_conn_checksum_failure_single_subflow_falls_back)
{
	static struct mx x;
	struct bd_mptcp_config cc;
	bd_mptcp_config_default(&cc);
	cc.checksum = true;
	mx_init(&x, 27, 1u << 20, &cc, NULL);
	x.corrupt_payload_once = true;
	x.corrupt_after_us = x.n.now + 20000;
	BT_EQ(mx_start(&x), 0);
	mx_run(&x, 600000000);
	/* The changed byte is delivered as plain TCP would deliver it;
	 * everything else arrives, and both ends continue as TCP. */
	BT_ASSERT(x.tampered == 1);
	BT_UEQ(x.rcvd, x.total);
	BT_ASSERT(x.cli_closed && x.srv_closed);
	BT_UEQ(mib(&x, 1, "DataCsumErr"), 1);
	BT_UEQ(mib(&x, 1, "DSSCorruptionFallback"), 1);
	BT_UEQ(mib(&x, 1, "MPFailTx"), 1);
	BT_UEQ(mib(&x, 0, "MPFailRx"), 1);
	BT_UEQ(mib(&x, 0, "InfiniteMapTx"), 1);
	BT_ASSERT(bd_mptcp_is_fallback(x.cli));
	BT_ASSERT(bd_mptcp_is_fallback(x.srv));
	BT_EQ(bd_mptcp_fallback_reason(x.srv), BD_MPTCP_FB_CSUM);
	mx_free(&x);
}

BT_TEST(mptcp_conn_remove_addr_closes_joined_subflow)
{
	static struct mx x;
	struct bd_ipaddr b = bd_ip4(TH_B_ADDR);
	mx_init(&x, 28, 4u << 20, NULL, NULL);
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, started, &x);
	BT_ASSERT(x.srv);
	BT_EQ(bd_mptcp_announce(x.srv, 9, &b, PORT), 0);
	th_run(&x.n, 10000000, joined, &x);
	BT_ASSERT(joined(&x));
	BT_EQ(bd_mptcp_remove_addr(x.srv, 9), 0);
	th_run(&x.n, 20000, NULL, NULL);
	BT_ASSERT(x.rcvd < x.total);
	struct bd_mptcp_info ci;
	bd_mptcp_get_info(x.cli, &ci);
	BT_EQ(ci.mptcpi_subflows_total, 1);
	BT_ASSERT(run_or_dump(&x, 600000000));
	BT_UEQ(mib(&x, 1, "RmAddrTx"), 1);
	BT_UEQ(mib(&x, 0, "RmAddr"), 1);
	/* The subflow to the withdrawn address closes (the server resets
	 * its end of it; the client would close it on REMOVE_ADDR). */
	BT_UEQ(mib(&x, 0, "RmSubflow") + mib(&x, 1, "RmSubflow"), 1);
	BT_EQ(bd_mptcp_peer_addrs(x.cli, NULL, NULL, NULL, 4), 0);
	mx_free(&x);
}

BT_TEST(mptcp_conn_close_from_callbacks)
{
	static struct mx x;
	mx_init(&x, 29, 1u << 20, NULL, NULL);
	x.extra_subflows = 1;
	x.close_in_cb = true;
	BT_EQ(mx_start(&x), 0);
	BT_ASSERT(run_or_dump(&x, 60000000));
	BT_EQ(x.cli_err, 0);
	BT_ASSERT(x.cli == NULL && x.srv == NULL);
	/* Nothing is left behind in either stack's connection table. */
	th_run(&x.n, 200000000, NULL, NULL);
	mx_free(&x);
}

static bool some_data(void *arg)
{
	struct mx *x = arg;
	return x->srv && bd_mptcp_readable(x->srv) > 0;
}

BT_TEST(mptcp_conn_close_with_unread_data_resets)
{
	static struct mx x;
	mx_init(&x, 30, 1u << 20, NULL, NULL);
	BT_EQ(mx_start(&x), 0);
	th_run(&x.n, 10000000, started, &x);
	BT_ASSERT(x.srv);
	/* The server stops reading; data piles up, then it closes. */
	x.srv_no_read = true;
	th_run(&x.n, 10000000, some_data, &x);
	BT_ASSERT(bd_mptcp_readable(x.srv) > 0);
	bd_mptcp_close(x.srv);
	x.srv = NULL;
	th_run(&x.n, 1000000, NULL, NULL);
	BT_UEQ(mib(&x, 1, "MPFastcloseTx"), 1);
	BT_UEQ(mib(&x, 0, "MPFastcloseRx"), 1);
	BT_ASSERT(x.cli_closed);
	BT_EQ(x.cli_err, BD_ECONNRESET);
	mx_free(&x);
}

/* The next connection on the same two stacks (listener kept). */
static void mx_again(struct mx *x)
{
	struct bd_ipaddr a = bd_ip4(TH_A_ADDR), b = bd_ip4(TH_B_ADDR);
	int err;
	mx_drop_conn(x);
	x->sent = x->rcvd = 0;
	x->gen_rx = x->gen_tx;
	x->connected = x->peer_fin = x->cli_closed = x->srv_closed = false;
	x->bad_byte = x->srv_no_read = false;
	x->tamper_synack_join = x->tamper_ack_join = false;
	x->cli_err = x->srv_err = 0;
	EVP_DigestInit_ex(x->htx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(x->hrx, EVP_sha256(), NULL);
	x->cli = bd_mptcp_connect(x->ms[0], &a, 0, &b, PORT, &ccb, x, &err);
}

static void live(struct mx *x, int node, unsigned *sf, unsigned *conn)
{
	bd_mptcp_live_objects(x->ms[node], sf, conn);
}

/* Many connections with joined subflows, closed in order, reset by
 * either end and with refused joins: once TCP has freed the sockets,
 * no subflow or connection object is left in either stack. */
BT_TEST(mptcp_conn_many_connections_leave_no_objects)
{
	static struct mx x;
	unsigned sf, conn;
	mx_init(&x, 31, 64u << 10, NULL, NULL);
	x.extra_subflows = 1;
	BT_EQ(mx_start(&x), 0);
	for (int i = 0; i < 16; i++) {
		if (i)
			mx_again(&x);
		BT_ASSERT(x.cli != NULL);
		switch (i % 4) {
		case 0: /* orderly close of both subflows */
			BT_ASSERT(run_or_dump(&x, 60000000));
			break;
		case 1: /* a refused join, then an orderly close */
			x.tamper_ack_join = true;
			BT_ASSERT(run_or_dump(&x, 60000000));
			break;
		case 2: /* the client resets the connection mid-transfer */
			th_run(&x.n, 10000000, joined, &x);
			BT_ASSERT(joined(&x));
			bd_mptcp_abort(x.cli);
			x.cli = NULL;
			th_run(&x.n, 2000000, NULL, NULL);
			BT_ASSERT(x.srv_closed);
			break;
		case 3: /* the server closes with unread data: a reset */
			th_run(&x.n, 10000000, joined, &x);
			BT_ASSERT(joined(&x));
			x.srv_no_read = true;
			th_run(&x.n, 10000000, some_data, &x);
			bd_mptcp_close(x.srv);
			x.srv = NULL;
			th_run(&x.n, 2000000, NULL, NULL);
			BT_ASSERT(x.cli_closed);
			break;
		}
	}
	mx_drop_conn(&x);
	BT_UEQ(mib(&x, 0, "MPJoinSynTx"), 16);
	BT_ASSERT(mib(&x, 1, "MPJoinAckHMacFailure") >= 4);
	/* TIME_WAIT ends; TCP frees every socket. */
	th_run(&x.n, 200000000, NULL, NULL);
	live(&x, 0, &sf, &conn);
	BT_EQ(sf, 0);
	BT_EQ(conn, 0);
	live(&x, 1, &sf, &conn);
	BT_EQ(sf, 1); /* the listener's own */
	BT_EQ(conn, 1);
	bd_mptcp_close(x.l);
	x.l = NULL;
	th_run(&x.n, 1000000, NULL, NULL);
	live(&x, 1, &sf, &conn);
	BT_EQ(sf, 0);
	BT_EQ(conn, 0);
	mx_free(&x);
}

/* The server's DATA_FIN is out and unacknowledged (the data before it has
 * not reached the client) when a client segment is lost: the server's
 * duplicate ACKs carry SACK blocks, not the DATA_FIN (with timestamps, a
 * DATA_FIN's DSS leaves no room for a block, and a sender without them
 * cannot tell what was lost). The DATA_FIN still goes out before and
 * after, and everything arrives. */
BT_TEST(mptcp_conn_sack_before_data_fin_on_pure_acks)
{
	static struct mx x;
	mx_init(&x, 31, 1u << 20, NULL, NULL);
	x.srv_bytes = 1000;
	x.srv_data_from_us = x.n.now + 400000;
	x.c2s_drop_nth = 40;
	BT_EQ(mx_start(&x), 0);
	bool ok = mx_run(&x, 60000000);
	BT_ASSERT(ok);
	BT_ASSERT(x.cli_closed && x.srv_closed);
	BT_ASSERT(x.c2s_data_segs >= 40);
	BT_ASSERT(x.s2c_acks_fin > 0);
	BT_ASSERT(x.s2c_acks_sack >= 3);
	mx_free(&x);
}
