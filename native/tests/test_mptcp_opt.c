/* SPDX-License-Identifier: Apache-2.0
 * MPTCP options codec and crypto: RFC layouts byte by byte, round trips,
 * refusal of malformed options, and SHA-256 / HMAC vectors computed
 * independently (Python hashlib/hmac) from the RFC 8684 definitions. */
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "bt.h"

#define SYN    BD_TCP_F_SYN
#define SYNACK (BD_TCP_F_SYN | BD_TCP_F_ACK)
#define ACK    BD_TCP_F_ACK
#define RST    (BD_TCP_F_RST | BD_TCP_F_ACK)

/* Write subtype st of o, parse it back into a fresh struct. */
static int roundtrip(const struct bd_mptcp_opts *o, unsigned st, uint8_t tf,
		     struct bd_mptcp_opts *back, uint8_t *wire, unsigned *len)
{
	*len = bd_mptcp_opt_write(o, st, wire, 40);
	memset(back, 0, sizeof(*back));
	if (*len == 0)
		return -100;
	return bd_mptcp_opt_parse(back, wire, *len, tf, NULL);
}

BT_TEST(mptcp_opt_mpc_forms_exact_bytes)
{
	struct bd_mptcp_opts o = {0}, b;
	uint8_t w[40];
	unsigned n;
	o.mpc.form = BD_MPF_SYN;
	o.mpc.flags = BD_MPC_FLAG_A;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_CAPABLE, SYN, &b, w, &n), 0);
	const uint8_t syn[] = {30, 4, 0x01, 0x81};
	BT_EQ(n, 4);
	BT_ASSERT(memcmp(w, syn, 4) == 0);
	BT_ASSERT(b.present == BD_MPTCP_HAS(BD_MPTCPOPT_MP_CAPABLE));
	BT_EQ(b.mpc.flags, 0x81);

	o.mpc.form = BD_MPF_SYNACK;
	o.mpc.flags = 0;
	o.mpc.snd_key = 0x0102030405060708ull;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_CAPABLE, SYNACK, &b, w, &n), 0);
	const uint8_t sa[] = {30, 12, 0x01, 0x01, 1, 2, 3, 4, 5, 6, 7, 8};
	BT_EQ(n, 12);
	BT_ASSERT(memcmp(w, sa, 12) == 0);
	BT_UEQ(b.mpc.snd_key, 0x0102030405060708ull);

	o.mpc.form = BD_MPF_ACK;
	o.mpc.rcv_key = 0x1112131415161718ull;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_CAPABLE, ACK, &b, w, &n), 0);
	BT_EQ(n, 20);
	BT_EQ(w[12], 0x11);
	BT_UEQ(b.mpc.rcv_key, 0x1112131415161718ull);
	BT_EQ(b.mpc.form, BD_MPF_ACK);

	o.mpc.form = BD_MPF_ACK_DATA;
	o.mpc.data_len = 1000;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_CAPABLE, ACK, &b, w, &n), 0);
	BT_EQ(n, 22);
	BT_EQ(b.mpc.data_len, 1000);
	BT_EQ(w[20], 0x03);
	BT_EQ(w[21], 0xe8);

	o.mpc.form = BD_MPF_ACK_DATA_CSUM;
	o.mpc.flags = BD_MPC_FLAG_A;
	o.mpc.csum = 0xbeef;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_CAPABLE, ACK, &b, w, &n), 0);
	BT_EQ(n, 24);
	BT_EQ(b.mpc.csum, 0xbeef);
	BT_EQ(b.mpc.flags, 0x81);
	BT_EQ(b.mpc.form, BD_MPF_ACK_DATA_CSUM);
}

BT_TEST(mptcp_opt_mpc_refusals_counted)
{
	struct bd_mptcp_mib mib = {0};
	struct bd_mptcp_opts o = {0};
	uint8_t v0[] = {30, 4, 0x00, 0x01};    /* version 0 */
	uint8_t bflag[] = {30, 4, 0x01, 0x41}; /* B set */
	uint8_t sha1[] = {30, 4, 0x01, 0x00};  /* no H */
	uint8_t dflag[] = {30, 4, 0x01, 0x11}; /* D set */
	uint8_t len5[] = {30, 5, 0x01, 0x01, 0};
	BT_EQ(bd_mptcp_opt_parse(&o, v0, 4, SYN, &mib), -BD_MPTCP_PERR_VERSION);
	BT_EQ(bd_mptcp_opt_parse(&o, bflag, 4, SYN, &mib),
	      -BD_MPTCP_PERR_FLAGS);
	BT_EQ(bd_mptcp_opt_parse(&o, sha1, 4, SYN, &mib), -BD_MPTCP_PERR_FLAGS);
	BT_EQ(bd_mptcp_opt_parse(&o, dflag, 4, SYN, &mib),
	      -BD_MPTCP_PERR_FLAGS);
	BT_EQ(bd_mptcp_opt_parse(&o, len5, 5, SYN, &mib), -BD_MPTCP_PERR_LEN);
	/* A SYN form on a SYN-ACK, and on a plain ACK. */
	uint8_t syn[] = {30, 4, 0x01, 0x01};
	BT_EQ(bd_mptcp_opt_parse(&o, syn, 4, SYNACK, &mib),
	      -BD_MPTCP_PERR_CONTEXT);
	BT_EQ(bd_mptcp_opt_parse(&o, syn, 4, ACK, &mib),
	      -BD_MPTCP_PERR_CONTEXT);
	/* The option's own length byte must match what TCP framed. */
	BT_EQ(bd_mptcp_opt_parse(&o, syn, 3, SYN, &mib), -BD_MPTCP_PERR_LEN);
	BT_UEQ(o.present, 0);
	BT_UEQ(mib.BraidOptBadVersion, 1);
	BT_UEQ(mib.BraidOptBadFlags, 3);
	BT_UEQ(mib.BraidOptBadLen, 2);
	BT_UEQ(mib.BraidOptBadContext, 2);
	BT_UEQ(bd_mptcp_mib_value(&mib, "BraidOptBadFlags"), 3);
	BT_UEQ(bd_mptcp_mib_value(&mib, "NoSuchCounter"), UINT64_MAX);
}

BT_TEST(mptcp_opt_join_forms)
{
	struct bd_mptcp_opts o = {0}, b;
	uint8_t w[40];
	unsigned n;
	o.join.form = BD_MPF_SYN;
	o.join.backup = true;
	o.join.addr_id = 7;
	o.join.token = 0xdeadbeef;
	o.join.nonce = 0x01020304;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_JOIN, SYN, &b, w, &n), 1);
	const uint8_t syn[] = {30,   12,   0x11, 7, 0xde, 0xad,
			       0xbe, 0xef, 1,	 2, 3,	  4};
	BT_EQ(n, 12);
	BT_ASSERT(memcmp(w, syn, 12) == 0);
	BT_ASSERT(b.join.backup);
	BT_UEQ(b.join.token, 0xdeadbeef);

	o.join.form = BD_MPF_SYNACK;
	o.join.thmac = 0x1122334455667788ull;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_JOIN, SYNACK, &b, w, &n), 1);
	BT_EQ(n, 16);
	BT_UEQ(b.join.thmac, 0x1122334455667788ull);
	BT_UEQ(b.join.nonce, 0x01020304);
	BT_EQ(b.join.addr_id, 7);

	o.join.form = BD_MPF_ACK;
	for (int i = 0; i < 20; i++)
		o.join.hmac[i] = (uint8_t)(i * 7);
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_JOIN, ACK, &b, w, &n), 1);
	BT_EQ(n, 24);
	BT_ASSERT(memcmp(b.join.hmac, o.join.hmac, 20) == 0);
	/* A SYN-ACK form on a SYN, wrong lengths. */
	struct bd_mptcp_opts x = {0};
	BT_EQ(bd_mptcp_opt_parse(&x, w, 24, SYN, NULL), -BD_MPTCP_PERR_CONTEXT);
	w[1] = 20;
	BT_EQ(bd_mptcp_opt_parse(&x, w, 20, ACK, NULL), -BD_MPTCP_PERR_LEN);
}

BT_TEST(mptcp_opt_dss_every_combination)
{
	/* Every A/a/M/m/F combination with and without checksum. */
	for (unsigned fl = 0; fl < 32; fl++) {
		for (int cs = 0; cs < 2; cs++) {
			struct bd_mptcp_opts o = {0}, b;
			uint8_t w[40];
			unsigned n;
			o.dss.flags = (uint8_t)fl;
			o.dss.data_ack = (fl & BD_DSS_a) ? 0xa1a2a3a4a5a6a7a8ull
							 : 0xb1b2b3b4;
			o.dss.dsn = (fl & BD_DSS_m) ? 0xc1c2c3c4c5c6c7c8ull
						    : 0xd1d2d3d4;
			o.dss.ssn = 0x11223344;
			o.dss.dll = 1400;
			o.dss.has_csum = cs;
			o.dss.csum = 0x5555;
			int r = roundtrip(&o, BD_MPTCPOPT_DSS, ACK, &b, w, &n);
			bool bad_f = (fl & BD_DSS_F) && !(fl & BD_DSS_M);
			if (bad_f) {
				/* not written, and refused when received */
				BT_EQ(r, -100);
				uint8_t h[8] = {30, 8, 0x20, (uint8_t)fl};
				if (!(fl & BD_DSS_A))
					h[1] = 4;
				else if (fl & BD_DSS_a)
					h[1] = 12;
				BT_EQ(
				    bd_mptcp_opt_parse(&b, h, h[1], ACK, NULL),
				    -BD_MPTCP_PERR_FLAGS);
				continue;
			}
			BT_EQ(r, 2);
			uint8_t eff = (uint8_t)fl;
			if (!(fl & BD_DSS_A))
				eff &= (uint8_t)~BD_DSS_a;
			if (!(fl & BD_DSS_M))
				eff &= (uint8_t)~BD_DSS_m;
			BT_EQ(b.dss.flags, eff);
			BT_EQ(n, bd_mptcp_dss_len(eff, cs && (fl & BD_DSS_M)));
			if (fl & BD_DSS_A)
				BT_UEQ(b.dss.data_ack, o.dss.data_ack);
			if (fl & BD_DSS_M) {
				BT_UEQ(b.dss.dsn, o.dss.dsn);
				BT_UEQ(b.dss.ssn, 0x11223344);
				BT_EQ(b.dss.dll, 1400);
				BT_EQ(b.dss.has_csum, cs);
				if (cs)
					BT_EQ(b.dss.csum, 0x5555);
			}
		}
	}
}

BT_TEST(mptcp_opt_dss_kernel_default_layout)
{
	/* Linux default: 4-byte data ACK, 8-byte DSN, no checksum: len 22. */
	struct bd_mptcp_opts o = {0};
	uint8_t w[40];
	o.dss.flags = BD_DSS_A | BD_DSS_M | BD_DSS_m;
	o.dss.data_ack = 0x01020304;
	o.dss.dsn = 0x1112131415161718ull;
	o.dss.ssn = 1;
	o.dss.dll = 0x0203;
	BT_EQ(bd_mptcp_opt_write(&o, BD_MPTCPOPT_DSS, w, 40), 22);
	const uint8_t exp[] = {30,   22,   0x20, 0x0d, 1,    2,	   3,	 4,
			       0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
			       0,    0,	   0,	 1,    2,    3};
	BT_ASSERT(memcmp(w, exp, 22) == 0);
	/* Not enough space: nothing written. */
	BT_EQ(bd_mptcp_opt_write(&o, BD_MPTCPOPT_DSS, w, 21), 0);
	/* Wrong lengths for the flags are refused. */
	struct bd_mptcp_opts b = {0};
	struct bd_mptcp_mib mib = {0};
	for (unsigned l = 4; l <= 40; l++) {
		uint8_t buf[40] = {30, (uint8_t)l, 0x20, 0x0d};
		int r = bd_mptcp_opt_parse(&b, buf, l, ACK, &mib);
		if (l == 22 || l == 24)
			BT_EQ(r, 2);
		else
			BT_EQ(r, -BD_MPTCP_PERR_LEN);
	}
	BT_UEQ(mib.BraidOptBadLen, 35);
	/* DSS on a SYN is out of context. */
	BT_EQ(bd_mptcp_opt_parse(&b, w, 22, SYN, &mib), -BD_MPTCP_PERR_CONTEXT);
}

BT_TEST(mptcp_opt_add_addr_forms)
{
	struct bd_ipaddr v4 = bd_ip4(0x0a020001), v6 = {.family = BD_AF_INET6};
	for (int i = 0; i < 16; i++)
		v6.v6[i] = (uint8_t)i;
	const struct {
		struct bd_ipaddr *a;
		uint16_t port;
		bool echo;
		unsigned len;
	} cases[] = {
	    {&v4, 0, true, 8},	    {&v4, 8080, true, 10}, {&v4, 0, false, 16},
	    {&v4, 8080, false, 18}, {&v6, 0, true, 20},	   {&v6, 443, true, 22},
	    {&v6, 0, false, 28},    {&v6, 443, false, 30},
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct bd_mptcp_opts o = {0}, b;
		uint8_t w[40];
		unsigned n;
		o.add_addr.addr = *cases[i].a;
		o.add_addr.addr_id = (uint8_t)(i + 1);
		o.add_addr.port = cases[i].port;
		o.add_addr.echo = cases[i].echo;
		o.add_addr.hmac = 0x0123456789abcdefull;
		BT_EQ(roundtrip(&o, BD_MPTCPOPT_ADD_ADDR, ACK, &b, w, &n), 3);
		BT_EQ(n, cases[i].len);
		BT_EQ(b.add_addr.echo, cases[i].echo);
		BT_EQ(b.add_addr.port, cases[i].port);
		BT_EQ(b.add_addr.addr_id, i + 1);
		BT_ASSERT(bd_ipaddr_eq(&b.add_addr.addr, cases[i].a));
		BT_UEQ(b.add_addr.hmac,
		       cases[i].echo ? 0 : 0x0123456789abcdefull);
		/* Every other length is refused. */
		for (unsigned l = 4; l <= 40; l++) {
			if (l == 8 || l == 10 || l == 20 || l == 22 ||
			    (!cases[i].echo &&
			     (l == 16 || l == 18 || l == 28 || l == 30)))
				continue;
			uint8_t buf[40] = {0};
			memcpy(buf, w, n < l ? n : l);
			buf[1] = (uint8_t)l;
			BT_ASSERT(bd_mptcp_opt_parse(&b, buf, l, ACK, NULL) <
				  0);
		}
	}
	/* Port present but 0 is refused. */
	uint8_t z[] = {30, 10, 0x31, 1, 10, 2, 0, 1, 0, 0};
	struct bd_mptcp_opts b = {0};
	BT_EQ(bd_mptcp_opt_parse(&b, z, 10, ACK, NULL), -BD_MPTCP_PERR_FLAGS);
}

BT_TEST(mptcp_opt_small_options)
{
	struct bd_mptcp_opts o = {0}, b;
	uint8_t w[40];
	unsigned n;
	o.rm_addr.n = 3;
	o.rm_addr.ids[0] = 1;
	o.rm_addr.ids[1] = 5;
	o.rm_addr.ids[2] = 9;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_RM_ADDR, ACK, &b, w, &n), 4);
	BT_EQ(n, 6);
	BT_EQ(b.rm_addr.n, 3);
	BT_EQ(b.rm_addr.ids[2], 9);
	o.rm_addr.n = 0;
	BT_EQ(bd_mptcp_opt_write(&o, BD_MPTCPOPT_RM_ADDR, w, 40), 0);
	uint8_t rm_long[12] = {30, 12, 0x40};
	BT_EQ(bd_mptcp_opt_parse(&b, rm_long, 12, ACK, NULL),
	      -BD_MPTCP_PERR_LEN);
	uint8_t rm_empty[3] = {30, 3, 0x40};
	BT_EQ(bd_mptcp_opt_parse(&b, rm_empty, 3, ACK, NULL),
	      -BD_MPTCP_PERR_LEN);

	o.prio_backup = true;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_PRIO, ACK, &b, w, &n), 5);
	const uint8_t prio[] = {30, 3, 0x51};
	BT_EQ(n, 3);
	BT_ASSERT(memcmp(w, prio, 3) == 0);
	BT_ASSERT(b.prio_backup);
	uint8_t prio4[] = {30, 4, 0x51, 0};
	BT_EQ(bd_mptcp_opt_parse(&b, prio4, 4, ACK, NULL), -BD_MPTCP_PERR_LEN);

	o.fail_dsn = 0x0102030405060708ull;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_FAIL, ACK, &b, w, &n), 6);
	BT_EQ(n, 12);
	BT_UEQ(b.fail_dsn, 0x0102030405060708ull);
	BT_EQ(w[2], 0x60);

	o.fastclose_key = 0xfedcba9876543210ull;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_FASTCLOSE, ACK, &b, w, &n), 7);
	BT_UEQ(b.fastclose_key, 0xfedcba9876543210ull);
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_FASTCLOSE, RST, &b, w, &n), 7);

	o.rst_flags = BD_TCPRST_FLAG_T;
	o.rst_reason = BD_MPTCP_RST_EMIDDLEBOX;
	BT_EQ(roundtrip(&o, BD_MPTCPOPT_MP_TCPRST, RST, &b, w, &n), 8);
	const uint8_t rst[] = {30, 4, 0x81, 6};
	BT_ASSERT(memcmp(w, rst, 4) == 0);
	BT_EQ(b.rst_reason, 6);
	BT_EQ(b.rst_flags, BD_TCPRST_FLAG_T);
	/* MP_TCPRST only on a RST. */
	BT_EQ(bd_mptcp_opt_parse(&b, w, 4, ACK, NULL), -BD_MPTCP_PERR_CONTEXT);
	/* Unknown subtypes 9..15. */
	for (unsigned st = 9; st < 16; st++) {
		uint8_t u[4] = {30, 4, (uint8_t)(st << 4), 0};
		BT_EQ(bd_mptcp_opt_parse(&b, u, 4, ACK, NULL),
		      -BD_MPTCP_PERR_SUBTYPE);
	}
	BT_ASSERT(strcmp(bd_mptcp_subtype_name(2), "DSS") == 0);
}

BT_TEST(mptcp_opt_block_walk)
{
	/* NOP NOP TS(10) DSS(8: data ACK 32) MP_PRIO(3) EOL */
	uint8_t blk[] = {1,  1, 8,    10, 0, 0, 0, 1, 0,  0, 0,	   2,
			 30, 8, 0x20, 1,  0, 0, 0, 9, 30, 3, 0x50, 0};
	struct bd_mptcp_opts o = {0};
	BT_EQ(bd_mptcp_opts_parse_block(&o, blk, sizeof(blk), ACK, NULL), 2);
	BT_ASSERT(o.present & BD_MPTCP_HAS(BD_MPTCPOPT_DSS));
	BT_ASSERT(o.present & BD_MPTCP_HAS(BD_MPTCPOPT_MP_PRIO));
	BT_UEQ(o.dss.data_ack, 9);
	uint8_t bad[] = {30, 9, 0x20, 1};
	BT_EQ(bd_mptcp_opts_parse_block(&o, bad, sizeof(bad), ACK, NULL),
	      -BD_MPTCP_PERR_LEN);
}

BT_TEST(mptcp_crypto_token_idsn_vector)
{
	/* SHA-256(01 23 45 67 89 ab cd ef): first 4 bytes 55c53f5d, last 8
	 * bytes 570762cd38be9818. */
	uint32_t t;
	uint64_t i;
	bd_mptcp_key_sha(0x0123456789abcdefull, &t, &i);
	BT_UEQ(t, 0x55c53f5du);
	BT_UEQ(i, 0x570762cd38be9818ull);
	BT_UEQ(bd_mptcp_token(0x0123456789abcdefull), 0x55c53f5du);
	BT_UEQ(bd_mptcp_idsn(0x0123456789abcdefull), 0x570762cd38be9818ull);
}

BT_TEST(mptcp_crypto_join_hmac_vector)
{
	/* RFC 8684 3.2: HMAC-A = HMAC(Key=(Key-A||Key-B), Msg=(R-A||R-B)),
	 * HMAC-B = HMAC(Key=(Key-B||Key-A), Msg=(R-B||R-A)). */
	const uint64_t ka = 0x0102030405060708ull, kb = 0x1112131415161718ull;
	const uint32_t ra = 0x21222324, rb = 0x31323334;
	uint8_t h[32];
	const uint8_t exp_a[20] = {0xe1, 0x9a, 0xd4, 0xac, 0x22, 0xd5, 0x1c,
				   0x2f, 0x06, 0x4d, 0x49, 0x66, 0x24, 0x31,
				   0xbc, 0x8f, 0x9d, 0x6b, 0x3a, 0x29};
	bd_mptcp_join_hmac(ka, kb, ra, rb, h);
	BT_ASSERT(memcmp(h, exp_a, 20) == 0);
	BT_ASSERT(bd_mptcp_mem_eq(h, exp_a, 20));
	BT_UEQ(bd_mptcp_join_thmac(kb, ka, rb, ra), 0x0fce2597e55e87efull);
	h[19] ^= 1;
	BT_ASSERT(!bd_mptcp_mem_eq(h, exp_a, 20));
}

BT_TEST(mptcp_crypto_add_addr_hmac_vector)
{
	/* Rightmost 64 bits of HMAC(Key-A||Key-B, id||addr||port). */
	const uint64_t ka = 0x0102030405060708ull, kb = 0x1112131415161718ull;
	struct bd_ipaddr a = bd_ip4(0x0a020001);
	BT_UEQ(bd_mptcp_add_addr_hmac(ka, kb, 1, &a, 0), 0xa21e533cc25e1322ull);
	BT_UEQ(bd_mptcp_add_addr_hmac(ka, kb, 1, &a, 8080),
	       0x04abea368caf7922ull);
	struct bd_ipaddr v6 = {.family = BD_AF_INET6};
	for (int i = 0; i < 16; i++)
		v6.v6[i] = (uint8_t)i;
	BT_UEQ(bd_mptcp_add_addr_hmac(ka, kb, 2, &v6, 443),
	       0x632dbd582b532260ull);
}

BT_TEST(mptcp_mib_and_info_tables)
{
	struct bd_mptcp_mib mib = {0};
	mib.MPJoinSynRx = 3;
	mib.MPTCPRetrans = 4;
	BT_UEQ(bd_mptcp_mib_value(&mib, "MPJoinSynRx"), 3);
	BT_UEQ(bd_mptcp_mib_value(&mib, "MPTCPRetrans"), 4);
	BT_UEQ(bd_mptcp_mib_value(&mib, "MPCapableSYNRX"), 0);
	unsigned n = 0;
	for (const struct bd_mptcp_field *f = bd_mptcp_mib_fields; f->name; f++)
		n++;
	BT_EQ(n * 8, sizeof(struct bd_mptcp_mib));
	for (const struct bd_mptcp_field *f = bd_mptcp_mib_fields; f->name; f++)
		BT_ASSERT(!f->seq);
	bool subflows = false, csum = false;
	unsigned seqs = 0;
	for (const struct bd_mptcp_field *f = bd_mptcp_info_fields; f->name;
	     f++) {
		subflows |= strcmp(f->name, "mptcpi_subflows") == 0;
		csum |= strcmp(f->name, "mptcpi_csum_enabled") == 0;
		/* Exactly the three data sequence numbers are marked, each
		 * 64 bits. */
		bool dsn = strcmp(f->name, "mptcpi_write_seq") == 0 ||
			   strcmp(f->name, "mptcpi_snd_una") == 0 ||
			   strcmp(f->name, "mptcpi_rcv_nxt") == 0;
		BT_EQ(f->seq, dsn);
		if (f->seq) {
			BT_EQ(f->size, 8);
			seqs++;
		}
	}
	BT_ASSERT(subflows && csum);
	BT_EQ(seqs, 3);
}
