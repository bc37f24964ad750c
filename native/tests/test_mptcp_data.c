/* SPDX-License-Identifier: Apache-2.0
 * MPTCP data level without TCP: DSN expansion, DSS checksums, mapping
 * tables, reassembly across subflows, the shared window, DATA_FIN, the
 * send queue with data ACKs and reinjection, and the fallback decisions. */
#include <stdlib.h>
#include <string.h>

#include "braid/csum.h"
#include "braid/mptcp.h"
#include "bt.h"

BT_TEST(mptcp_dss_expand_seq_wraps)
{
	BT_UEQ(bd_mptcp_expand_seq(0x100000010ull, 0x20), 0x100000020ull);
	BT_UEQ(bd_mptcp_expand_seq(0x100000010ull, 0x08), 0x100000008ull);
	/* Just past a 32-bit wrap, and just before. */
	BT_UEQ(bd_mptcp_expand_seq(0x1fffffff0ull, 0x10), 0x200000010ull);
	BT_UEQ(bd_mptcp_expand_seq(0x200000010ull, 0xfffffff0u),
	       0x1fffffff0ull);
	BT_UEQ(bd_mptcp_expand_seq(5, 3), 3);
}

BT_TEST(mptcp_dss_checksum_vector)
{
	/* Pseudo header 1122334455667788 | 00000001 | 000d | 0000 then
	 * "hello, mptcp!": ones' complement sum 0x954c (computed apart). */
	const char *p = "hello, mptcp!";
	size_t n = strlen(p);
	uint32_t s = bd_mptcp_csum_acc(0, 0, (const uint8_t *)p, n);
	BT_UEQ(bd_mptcp_dss_csum(0x1122334455667788ull, 1, (uint16_t)n, s),
	       0x954c);
	/* The same sum gathered in odd-sized pieces. */
	uint32_t acc = 0, off = 0;
	const size_t cuts[] = {3, 1, 4, 5};
	for (unsigned i = 0; i < 4; i++) {
		acc = bd_mptcp_csum_acc(acc, off, (const uint8_t *)p + off,
					cuts[i]);
		off += (uint32_t)cuts[i];
	}
	BT_UEQ(bd_mptcp_dss_csum(0x1122334455667788ull, 1, (uint16_t)n, acc),
	       0x954c);
	/* One flipped bit changes it. */
	char q[32];
	memcpy(q, p, n);
	q[4] ^= 0x10;
	s = bd_mptcp_csum_acc(0, 0, (const uint8_t *)q, n);
	BT_ASSERT(bd_mptcp_dss_csum(0x1122334455667788ull, 1, (uint16_t)n, s) !=
		  0x954c);
}

BT_TEST(mptcp_dss_maps_add_find_trim)
{
	struct bd_mptcp_maps t;
	memset(&t, 0, sizeof(t));
	struct bd_mptcp_map a = {.dsn = 1000, .ssn = 1, .dll = 100};
	struct bd_mptcp_map b = {.dsn = 5000, .ssn = 101, .dll = 50};
	BT_EQ(bd_mptcp_maps_add(&t, &b, 1), BD_MAP_NEW);
	BT_EQ(bd_mptcp_maps_add(&t, &a, 1), BD_MAP_NEW);
	BT_EQ(t.m[0].ssn, 1); /* sorted by SSN */
	BT_EQ(bd_mptcp_maps_add(&t, &a, 1), BD_MAP_SAME);
	/* Re-segmented retransmission inside a: consistent, same. */
	struct bd_mptcp_map a2 = {.dsn = 1010, .ssn = 11, .dll = 20};
	BT_EQ(bd_mptcp_maps_add(&t, &a2, 1), BD_MAP_SAME);
	/* Same subflow bytes, other data bytes: not matching. */
	struct bd_mptcp_map bad = {.dsn = 7000, .ssn = 50, .dll = 10};
	BT_EQ(bd_mptcp_maps_add(&t, &bad, 1), BD_MAP_MISMATCH);
	BT_UEQ(bd_mptcp_maps_find(&t, 1)->dsn, 1000);
	BT_UEQ(bd_mptcp_maps_find(&t, 100)->dsn, 1000);
	BT_UEQ(bd_mptcp_maps_find(&t, 101)->dsn, 5000);
	BT_ASSERT(bd_mptcp_maps_find(&t, 151) == NULL);
	bd_mptcp_maps_trim(&t, 101);
	BT_EQ(t.n, 1);
	BT_EQ(bd_mptcp_maps_add(&t, &a, 101), BD_MAP_OLD);
	/* A DATA_FIN mapping: dll counts the FIN, not a subflow byte. */
	struct bd_mptcp_map f = {
	    .dsn = 5050, .ssn = 151, .dll = 11, .data_fin = true};
	BT_EQ(bd_mptcp_maps_add(&t, &f, 101), BD_MAP_NEW);
	BT_ASSERT(bd_mptcp_maps_find(&t, 160) != NULL);
	BT_ASSERT(bd_mptcp_maps_find(&t, 161) == NULL);
	/* Sequence wrap of the subflow space. */
	struct bd_mptcp_maps w;
	memset(&w, 0, sizeof(w));
	struct bd_mptcp_map x = {.dsn = 1, .ssn = 0xfffffff0u, .dll = 0x20};
	BT_EQ(bd_mptcp_maps_add(&w, &x, 0xfffffff0u), BD_MAP_NEW);
	BT_UEQ(bd_mptcp_maps_find(&w, 0x8)->dsn, 1);
	/* Full table. */
	struct bd_mptcp_maps full;
	memset(&full, 0, sizeof(full));
	for (unsigned i = 0; i < BD_MPTCP_MAPS; i++) {
		struct bd_mptcp_map m = {
		    .dsn = 10u * i, .ssn = 1 + 10u * i, .dll = 10};
		BT_EQ(bd_mptcp_maps_add(&full, &m, 1), BD_MAP_NEW);
	}
	struct bd_mptcp_map m = {.dsn = 10000, .ssn = 10000, .dll = 10};
	BT_EQ(bd_mptcp_maps_add(&full, &m, 1), BD_MAP_FULL);
}

static void fill(uint8_t *b, size_t n, uint64_t dsn0)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((dsn0 + i) * 131 + 7);
}

BT_TEST(mptcp_recv_interleaved_dup_overlap)
{
	struct bd_mptcp_rcv r;
	struct bd_mptcp_mib mib = {0};
	/* The data sequence space wraps past 2^64 in the middle. */
	const uint64_t base = 0xfffffffffffffc00ull;
	BT_EQ(bd_mptcp_rcv_init(&r, base, 8192), 0);
	uint8_t src[4000], out[4000];
	fill(src, sizeof(src), base);
	/* Three "subflows" deliver pieces out of order, with duplicates and
	 * overlaps. */
	const struct {
		uint32_t off, len;
	} pieces[] = {
	    {1000, 500}, {3000, 1000}, {1200, 600}, /* overlaps 1000..1500 */
	    {1000, 500},			    /* exact duplicate (ofo) */
	    {2500, 700},			    /* overlaps 3000 */
	    {0, 800},	 {700, 400},		    /* in order, overlapping */
	    {1800, 800}, {0, 100},		    /* old duplicate */
	};
	for (unsigned i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++)
		bd_mptcp_rcv_data(&r, base + pieces[i].off, src + pieces[i].off,
				  pieces[i].len, &mib);
	BT_UEQ(r.rcv_nxt, base + 4000);
	BT_UEQ(r.ofo_bytes, 0);
	BT_UEQ(r.ofo, NULL);
	BT_EQ(bd_mptcp_rcv_read(&r, out, sizeof(out)), 4000);
	BT_ASSERT(memcmp(src, out, 4000) == 0);
	BT_UEQ(r.bytes_received, 4000);
	BT_UEQ(mib.DuplicateData, 2);
	BT_ASSERT(mib.OFOQueue + mib.OFOQueueTail >= 3);
	bd_mptcp_rcv_free(&r);
}

BT_TEST(mptcp_recv_random_segments_three_subflows)
{
	struct bd_mptcp_rcv r;
	const uint64_t base = 12345;
	const size_t total = 200000;
	BT_EQ(bd_mptcp_rcv_init(&r, base, 65536), 0);
	uint8_t *src = malloc(total), *dst = malloc(total);
	fill(src, total, base);
	size_t got = 0;
	uint64_t sent[3] = {0, 0, 0};
	uint32_t seed = 1;
	/* Each subflow takes every third chunk; chunks arrive in random
	 * subflow order, each subflow in order, some chunks twice. */
	while (got < total) {
		seed = seed * 1103515245u + 12345u;
		unsigned sf = (seed >> 16) % 3;
		uint64_t off = sent[sf] * 3000 * 3 + sf * 3000;
		if (off < total && off + 3000 <= r.rcv_nxt - base + 60000) {
			size_t len = total - off < 3000 ? total - off : 3000;
			bd_mptcp_rcv_data(&r, base + off, src + off, len, NULL);
			if ((seed >> 8) % 7 == 0) /* duplicate */
				bd_mptcp_rcv_data(&r, base + off, src + off,
						  len, NULL);
			sent[sf]++;
		}
		got += bd_mptcp_rcv_read(&r, dst + got, total - got);
		BT_ASSERT(bd_mptcp_rcv_wnd(&r) <= 65536);
		if (sent[0] * 9000 >= total && sent[1] * 9000 + 3000 >= total &&
		    sent[2] * 9000 + 6000 >= total && r.used == 0 &&
		    got < total) {
			BT_ASSERT(0 && "stuck");
		}
	}
	BT_ASSERT(memcmp(src, dst, total) == 0);
	free(src);
	free(dst);
	bd_mptcp_rcv_free(&r);
}

BT_TEST(mptcp_recv_window_and_data_fin)
{
	struct bd_mptcp_rcv r;
	struct bd_mptcp_mib mib = {0};
	BT_EQ(bd_mptcp_rcv_init(&r, 100, 1000), 0);
	uint8_t src[2000], out[2000];
	fill(src, sizeof(src), 100);
	/* Beyond the shared window: cut at the right edge. */
	BT_EQ(bd_mptcp_rcv_data(&r, 100, src, 1500, &mib), 1000);
	BT_EQ(bd_mptcp_rcv_wnd(&r), 0);
	BT_EQ(bd_mptcp_rcv_data(&r, 1100, src + 1000, 10, &mib), 0);
	BT_UEQ(mib.RcvPruned, 1);
	BT_EQ(bd_mptcp_rcv_read(&r, out, 400), 400);
	BT_EQ(bd_mptcp_rcv_wnd(&r), 400);
	/* DATA_FIN known before its data arrived. */
	bd_mptcp_rcv_fin(&r, 1300);
	BT_ASSERT(!r.fin_done);
	BT_UEQ(bd_mptcp_rcv_ack(&r), 1100);
	BT_EQ(bd_mptcp_rcv_data(&r, 1100, src + 1000, 200, &mib), 200);
	BT_ASSERT(r.fin_done);
	BT_UEQ(bd_mptcp_rcv_ack(&r), 1301);
	BT_ASSERT(!bd_mptcp_rcv_eof(&r));
	BT_EQ(bd_mptcp_rcv_read(&r, out + 400, 2000), 800);
	BT_ASSERT(memcmp(out, src, 1200) == 0);
	BT_ASSERT(bd_mptcp_rcv_eof(&r));
	bd_mptcp_rcv_free(&r);
}

BT_TEST(mptcp_send_ack_window_reinject)
{
	struct bd_mptcp_snd s;
	BT_EQ(bd_mptcp_snd_init(&s, 1000, 4096), 0);
	uint64_t d0;
	bool r0;
	BT_EQ(bd_mptcp_snd_next(&s, 1000, &d0, &r0), 0); /* no window yet */
	uint8_t src[5000], buf[5000];
	fill(src, sizeof(src), 1000);
	BT_EQ(bd_mptcp_snd_write(&s, src, 5000), 4096);
	BT_EQ(bd_mptcp_snd_space(&s), 0);
	/* Peer window 1500 from data ACK 1000. */
	BT_UEQ(bd_mptcp_snd_ack(&s, 1000, 1500), 0);
	uint64_t dsn;
	bool re;
	uint32_t n = bd_mptcp_snd_next(&s, 1000, &dsn, &re);
	BT_EQ(n, 1000);
	BT_UEQ(dsn, 1000);
	BT_ASSERT(!re);
	n = bd_mptcp_snd_next(&s, 1000, &dsn, &re);
	BT_EQ(n, 500); /* window edge at 2500 */
	BT_EQ(bd_mptcp_snd_next(&s, 1000, &dsn, &re), 0);
	/* An ACK for data never sent is ignored. */
	BT_UEQ(bd_mptcp_snd_ack(&s, 3000, 5000), 0);
	BT_UEQ(s.snd_una, 1000);
	/* The subflow that carried [1000, 2000) dies: reinject; the part
	 * acknowledged meanwhile is not sent again. */
	BT_ASSERT(bd_mptcp_snd_reinject(&s, 1000, 1000));
	BT_UEQ(bd_mptcp_snd_ack(&s, 1200, 3000), 200);
	n = bd_mptcp_snd_next(&s, 500, &dsn, &re);
	BT_ASSERT(re);
	BT_UEQ(dsn, 1200);
	BT_EQ(n, 500);
	BT_EQ(bd_mptcp_snd_copy(&s, dsn, buf, n), 500);
	BT_ASSERT(memcmp(buf, src + 200, 500) == 0);
	n = bd_mptcp_snd_next(&s, 5000, &dsn, &re);
	BT_ASSERT(re);
	BT_UEQ(dsn, 1700);
	BT_EQ(n, 300);
	/* Then new data up to the new window edge (4200) / write_seq. */
	n = bd_mptcp_snd_next(&s, 5000, &dsn, &re);
	BT_ASSERT(!re);
	BT_UEQ(dsn, 2500);
	BT_EQ(n, 1700);
	BT_UEQ(s.bytes_retrans, 800);
	/* The window's right edge never moves left. */
	bd_mptcp_snd_ack(&s, 1300, 10);
	BT_UEQ(s.wnd_end, 4200);
	/* Ring wrap: ACK everything sent, refill. */
	BT_UEQ(bd_mptcp_snd_ack(&s, 4200, 8000), 2900);
	BT_EQ(bd_mptcp_snd_write(&s, src + 4096, 904), 904);
	n = bd_mptcp_snd_next(&s, 5000, &dsn, &re);
	BT_EQ(n, 1800);
	BT_EQ(bd_mptcp_snd_copy(&s, dsn, buf, n), n);
	BT_ASSERT(memcmp(buf, src + 3200, n) == 0);
	/* DATA_FIN: acknowledged by data ACK write_seq + 1. */
	bd_mptcp_snd_fin(&s);
	BT_EQ(bd_mptcp_snd_space(&s), 0);
	BT_UEQ(bd_mptcp_snd_ack(&s, 6001, 8000), 1800);
	BT_ASSERT(s.fin_acked);
	BT_UEQ(s.snd_una, 6000);
	BT_UEQ(s.bytes_acked, 5000);
	bd_mptcp_snd_free(&s);
}

BT_TEST(mptcp_fallback_csum_fail_decision)
{
	/* RFC 8684 3.7: only subflow, nothing outstanding elsewhere: fall
	 * back (MP_FAIL + infinite mapping); otherwise reset the subflow. */
	BT_EQ(bd_mptcp_csum_fail_action(1, false), BD_MPTCP_FAIL_FALLBACK);
	BT_EQ(bd_mptcp_csum_fail_action(1, true), BD_MPTCP_FAIL_RESET_SUBFLOW);
	BT_EQ(bd_mptcp_csum_fail_action(2, false), BD_MPTCP_FAIL_RESET_SUBFLOW);
}
