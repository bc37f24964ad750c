/* SPDX-License-Identifier: Apache-2.0
 * Braid TCP input hardening: every malformed segment is dropped and counted
 * per kind; the fuzz entry point survives random input; counter tables. */
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "tcp_harness.h"
#include "tcp_impl.h"

static void hdr(uint8_t *h, uint16_t sp, uint16_t dp, uint32_t seq,
		uint32_t ack, unsigned doff, uint8_t flags)
{
	memset(h, 0, 20);
	h[0] = (uint8_t)(sp >> 8);
	h[1] = (uint8_t)sp;
	h[2] = (uint8_t)(dp >> 8);
	h[3] = (uint8_t)dp;
	for (int i = 0; i < 4; i++) {
		h[4 + i] = (uint8_t)(seq >> (24 - 8 * i));
		h[8 + i] = (uint8_t)(ack >> (24 - 8 * i));
	}
	h[12] = (uint8_t)((doff / 4) << 4);
	h[13] = flags;
	h[14] = 0x10;
}

BT_TEST(tcp_malformed_segments_counted_per_kind)
{
	struct th_net n;
	struct bd_tcp_sock *a, *b, *l;
	uint8_t seg[80];
	uint64_t inerrs0;

	th_init(&n, 30, NULL, NULL);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	inerrs0 = th_mib(&n, 1, "InErrs");

	/* Shorter than a header. */
	hdr(seg, 40000, 5000, b->rcv_nxt, b->snd_una, 20, BD_TCP_F_ACK);
	th_inject_raw(&n, 1, seg, 12, false);
	BT_UEQ(th_mib(&n, 1, "BraidDropShort"), 1);
	/* Data offset below 5 words, and beyond the segment. */
	hdr(seg, 40000, 5000, b->rcv_nxt, b->snd_una, 16, BD_TCP_F_ACK);
	th_inject_raw(&n, 1, seg, 20, true);
	hdr(seg, 40000, 5000, b->rcv_nxt, b->snd_una, 60, BD_TCP_F_ACK);
	th_inject_raw(&n, 1, seg, 40, true);
	BT_UEQ(th_mib(&n, 1, "BraidDropBadDoff"), 2);
	/* Bad checksum. */
	hdr(seg, 40000, 5000, b->rcv_nxt, b->snd_una, 20, BD_TCP_F_ACK);
	seg[16] = 0xde;
	seg[17] = 0xad;
	th_inject_raw(&n, 1, seg, 20, false);
	BT_UEQ(th_mib(&n, 1, "BraidDropBadCsum"), 1);
	BT_UEQ(th_mib(&n, 1, "InCsumErrors"), 1);
	/* Bogus option lengths: MSS of length 5, length 0, running past
	 * the header, a SACK block of 7 bytes, a timestamp of length 9. */
	{
		static const uint8_t bad[][8] = {
		    {2, 5, 1, 1, 1, 0, 0, 0}, {1, 1, 8, 0, 0, 0, 0, 0},
		    {1, 1, 1, 1, 1, 1, 3, 9}, {5, 7, 0, 0, 0, 0, 0, 0},
		    {8, 9, 0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1, 1, 30},
		};
		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			hdr(seg, 40000, 5000, b->rcv_nxt, b->snd_una, 28,
			    BD_TCP_F_ACK);
			memcpy(seg + 20, bad[i], 8);
			th_inject_raw(&n, 1, seg, 28, true);
		}
		BT_UEQ(th_mib(&n, 1, "BraidDropBadOption"), 6);
	}
	/* Flag combinations: SYN+FIN, SYN+RST, none at all. */
	hdr(seg, 40000, 5000, b->rcv_nxt, 0, 20, BD_TCP_F_SYN | BD_TCP_F_FIN);
	th_inject_raw(&n, 1, seg, 20, true);
	hdr(seg, 40000, 5000, b->rcv_nxt, 0, 20, BD_TCP_F_SYN | BD_TCP_F_RST);
	th_inject_raw(&n, 1, seg, 20, true);
	hdr(seg, 40000, 5000, b->rcv_nxt, 0, 20, 0);
	th_inject_raw(&n, 1, seg, 20, true);
	hdr(seg, 40000, 5000, b->rcv_nxt, 0, 20, BD_TCP_F_FIN | BD_TCP_F_PSH);
	th_inject_raw(&n, 1, seg, 20, true);
	BT_UEQ(th_mib(&n, 1, "BraidDropBadFlags"), 4);
	/* Port zero. */
	hdr(seg, 0, 5000, b->rcv_nxt, b->snd_una, 20, BD_TCP_F_ACK);
	th_inject_raw(&n, 1, seg, 20, true);
	BT_UEQ(th_mib(&n, 1, "BraidDropBadPort"), 1);
	BT_UEQ(th_mib(&n, 1, "InErrs") - inerrs0, 1 + 2 + 1 + 6 + 4 + 1);
	/* Out of the window: dropped, answered with an ACK. */
	hdr(seg, 40000, 5000, b->rcv_nxt + (1u << 30), b->snd_una, 20,
	    BD_TCP_F_ACK);
	memcpy(seg + 20, "data", 4);
	th_inject_raw(&n, 1, seg, 24, true);
	BT_UEQ(th_mib(&n, 1, "BraidDropOutOfWindow"), 1);
	/* No such connection: RST. */
	th_drop_captured(&n, 1);
	hdr(seg, 40001, 5001, 1, 2, 20, BD_TCP_F_ACK);
	th_inject_raw(&n, 1, seg, 20, true);
	BT_UEQ(th_mib(&n, 1, "BraidDropNoSocket"), 1);
	BT_EQ(n.n[1].ncap, 1);
	{
		struct th_seg s;
		th_lose(&n, 1, &s);
		BT_EQ(s.flags, BD_TCP_F_RST);
		BT_UEQ(s.seq, 2);
	}
	/* Nothing of it reached the connection. */
	BT_EQ(bd_tcp_state(b), BD_TCP_ESTABLISHED);
	BT_EQ(bd_tcp_readable(b), 0);
	th_free(&n);
}

BT_TEST(tcp_mib_and_info_tables_complete)
{
	unsigned nm = 0, ni = 0, bytes = 0;
	for (const struct bd_tcp_field *f = bd_tcp_mib_fields; f->name; f++)
		nm++;
	BT_EQ(nm * 8, sizeof(struct bd_tcp_mib));
	for (const struct bd_tcp_field *f = bd_tcp_info_fields; f->name; f++) {
		ni++;
		bytes += f->size;
	}
	BT_ASSERT(ni > 30);
	BT_ASSERT(bytes + 16 <= sizeof(struct bd_tcp_info));
	{
		struct th_net n;
		th_init(&n, 31, NULL, NULL);
		BT_UEQ(th_mib(&n, 0, "InSegs"), 0);
		BT_UEQ(th_mib(&n, 0, "NoSuchCounter"), UINT64_MAX);
		th_free(&n);
	}
}

BT_TEST(tcp_fuzz_entry_random_inputs)
{
	uint64_t x = 12345;
	uint8_t buf[600];
	for (int it = 0; it < 3000; it++) {
		size_t len;
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		len = (size_t)(x >> 33) % sizeof(buf);
		for (size_t i = 0; i < len; i++) {
			x = x * 6364136223846793005ull + 1;
			buf[i] = (uint8_t)(x >> 56);
		}
		/* Mostly plausible headers: fix the data offset. */
		if (len > 21 && (it & 1))
			buf[13] = (uint8_t)((5 + (buf[13] & 3)) << 4);
		bd_tcp_fuzz_one(buf, len);
	}
	BT_ASSERT(1);
}
