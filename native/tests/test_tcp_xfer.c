/* SPDX-License-Identifier: Apache-2.0
 * Braid TCP end-to-end transfers between two bare stacks over the
 * harness link: SHA-256 of the stream compared at both ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt.h"
#include "tcp_harness.h"
#include "tcp_impl.h"

static bool xfer(uint64_t seed, uint64_t bytes, double loss, double reorder,
		 const char *cc, struct bd_tcp_info *ci, struct th_net *keep)
{
	struct th_net n;
	struct th_bulk b;
	struct bd_tcp_opts o = {0};
	bool ok;

	th_init(&n, seed, NULL, NULL);
	n.loss = loss;
	n.reorder = reorder;
	n.rate_bps = 100000000;
	n.qlimit_us = 20000;
	o.cc = cc;
	if (th_bulk_start(&b, &n, bytes, &o, &o) != 0)
		return false;
	th_run(&n, 600000000, th_bulk_done, &b);
	if (ci)
		bd_tcp_get_info(b.cli, ci);
	ok = th_bulk_finish(&b) && b.err_cli == 0 && b.err_srv == 0;
	if (keep)
		*keep = n;
	else
		th_free(&n);
	return ok;
}

BT_TEST(tcp_xfer_clean_4mib)
{
	struct bd_tcp_info ci;
	BT_ASSERT(xfer(1, 4u << 20, 0, 0, NULL, &ci, NULL));
	BT_UEQ(ci.total_retrans, 0);
}

BT_TEST(tcp_xfer_loss_1pct)
{
	struct bd_tcp_info ci;
	BT_ASSERT(xfer(2, 4u << 20, 0.01, 0, NULL, &ci, NULL));
	BT_ASSERT(ci.total_retrans > 0);
}

BT_TEST(tcp_xfer_loss_5pct)
{
	BT_ASSERT(xfer(3, 2u << 20, 0.05, 0, NULL, NULL, NULL));
}

BT_TEST(tcp_xfer_reorder_10pct)
{
	BT_ASSERT(xfer(4, 4u << 20, 0, 0.10, NULL, NULL, NULL));
}

BT_TEST(tcp_xfer_newreno_loss_1pct)
{
	BT_ASSERT(xfer(5, 2u << 20, 0.01, 0, "newreno", NULL, NULL));
}

/* 1 Gbit/s with 100 ms RTT: 12.5 MB in flight are needed, far beyond the
 * 64 KiB an unscaled window allows; with window scaling (rcv_wscale 9 for
 * a 16 MiB buffer) the second half of the transfer runs at link rate. */
BT_TEST(tcp_xfer_long_fat_pipe_window_scaling)
{
	struct th_net n;
	struct th_bulk b;
	struct bd_tcp_opts o = {0};
	struct bd_tcp_info ci, si;
	uint64_t bytes = 64ull << 20;
	double half_rate;

	th_init(&n, 6, NULL, NULL);
	n.rate_bps = 1000000000;
	n.delay_us = 50000;
	o.snd_buf = 32u << 20;
	o.rcv_buf = 16u << 20;
	BT_ASSERT(th_bulk_start(&b, &n, bytes, &o, &o) == 0);
	th_run(&n, 60000000, th_bulk_done, &b);
	bd_tcp_get_info(b.cli, &ci);
	bd_tcp_get_info(b.srv, &si);
	BT_EQ(si.rcv_wscale, 9);
	BT_EQ(ci.snd_wscale, 9);
	BT_ASSERT(ci.snd_wnd > 12000000);
	half_rate =
	    (double)(bytes / 2) * 8 / ((double)(b.t_done - b.t_half) / 1e6);
	printf("    1G x 100ms: %.0f Mbit/s in the second half, cwnd %u, "
	       "rtt %u us\n",
	       half_rate / 1e6, ci.snd_cwnd, ci.rtt);
	BT_ASSERT(half_rate > 0.9e9);
	BT_ASSERT(th_bulk_finish(&b));
	th_free(&n);
}

/* Randomised stress: loss, reordering, duplication, corruption, small and
 * odd buffer sizes, a slow reader, Nagle and both controllers; every byte
 * must arrive intact, in order, exactly once. */
BT_TEST(tcp_xfer_stress_random_impairments)
{
	uint64_t x = getenv("BT_STRESS_X")
			 ? strtoull(getenv("BT_STRESS_X"), 0, 10)
			 : 99,
		 bad_csum = 0;
	int nseeds = getenv("BT_STRESS") ? atoi(getenv("BT_STRESS")) : 8;
	for (int seed = 1; seed <= nseeds; seed++) {
		struct th_net n;
		struct th_bulk b;
		struct bd_tcp_opts oc = {0}, os = {0};
		uint64_t bytes;
		bool ok;
#define RND() (x = x * 6364136223846793005ull + 1442695040888963407ull, x >> 33)
		th_init(&n, (uint64_t)seed * 31, NULL, NULL);
		n.loss = (RND() % 3) * 0.01;
		n.reorder = (RND() % 3) * 0.05;
		n.dup = (RND() % 2) * 0.02;
		n.corrupt = 0.01;
		n.rate_bps = 20000000 + RND() % 80000000;
		n.delay_us = 200 + RND() % 20000;
		n.qlimit_us = 5000 + RND() % 50000;
		oc.snd_buf = 2048 + (uint32_t)(RND() % (256 * 1024));
		os.rcv_buf = 2048 + (uint32_t)(RND() % (256 * 1024));
		oc.nagle = RND() & 1;
		oc.cc = (RND() & 1) ? "newreno" : "cubic";
		bytes = 64 * 1024 + RND() % (768 * 1024);
		BT_ASSERT(th_bulk_start(&b, &n, bytes, &oc, &os) == 0);
		b.read_cap = 100 + (uint32_t)(RND() % 16000);
		while (!th_bulk_done(&b) && n.now < 900000000ull) {
			th_run(&n, 2000 + RND() % 20000, th_bulk_done, &b);
			th_bulk_read(&b);
		}
		for (int i = 0; i < 10000 && b.rcvd < b.total; i++)
			th_bulk_read(&b);
#undef RND
		if (!th_bulk_done(&b) || b.rcvd != bytes)
			printf(
			    "    seed %d: done %d rcvd %llu of %llu cli %s srv "
			    "%s\n",
			    seed, th_bulk_done(&b), (unsigned long long)b.rcvd,
			    (unsigned long long)bytes,
			    bd_tcp_state_name(bd_tcp_state(b.cli)),
			    b.srv ? bd_tcp_state_name(bd_tcp_state(b.srv))
				  : "-");
		if (!th_bulk_done(&b) || b.rcvd != bytes) {
			printf("    err %d/%d loss %.2f reo %.2f dup %.2f rate "
			       "%llu delay %llu q %llu sbuf %u rbuf %u cap %u "
			       "nagle %d %s now %llu\n",
			       b.err_cli, b.err_srv, n.loss, n.reorder, n.dup,
			       (unsigned long long)n.rate_bps,
			       (unsigned long long)n.delay_us,
			       (unsigned long long)n.qlimit_us, oc.snd_buf,
			       os.rcv_buf, b.read_cap, oc.nagle, oc.cc,
			       (unsigned long long)n.now);
			for (const struct bd_tcp_field *f = bd_tcp_mib_fields;
			     f->name; f++) {
				uint64_t v0 = th_mib(&n, 0, f->name),
					 v1 = th_mib(&n, 1, f->name);
				if (v0 || v1)
					printf("      %s %llu %llu\n", f->name,
					       (unsigned long long)v0,
					       (unsigned long long)v1);
			}
		}
		BT_ASSERT(th_bulk_done(&b));
		ok = th_bulk_finish(&b);
		BT_ASSERT(ok);
		bad_csum += th_mib(&n, 1, "BraidDropBadCsum") +
			    th_mib(&n, 0, "BraidDropBadCsum");
		th_free(&n);
	}
	BT_ASSERT(bad_csum > 0); /* corruption was caught, never delivered */
}

/* cfg.batch_output (the DPDK runtime's setting): in-order segments are
 * acknowledged once at the flush that ends the batch, out-of-order ones at
 * once with their SACK. */
BT_TEST(tcp_batch_output_one_ack_per_burst)
{
	struct th_net n;
	struct bd_tcp_config cb;
	struct bd_tcp_sock *a, *b, *l;
	struct th_seg s;
	uint8_t data[1000];
	uint32_t r0;

	memset(data, 7, sizeof(data));
	bd_tcp_config_default(&cb);
	cb.batch_output = true;
	th_init(&n, 41, NULL, &cb);
	BT_ASSERT(th_establish(&n, NULL, NULL, &a, &b, &l) == 0);
	th_drop_captured(&n, 1);
	r0 = b->rcv_nxt;
	for (uint32_t i = 0; i < 8; i++) {
		th_inject(&n, 1, 40000, 5000, r0 + i * 1000, b->snd_una,
			  BD_TCP_F_ACK, 1000, NULL, 0, data, 1000);
		BT_ASSERT(th_pop(&n, 1) == NULL);
	}
	th_flush(&n);
	BT_ASSERT(th_pop_seg(&n, 1, &s) == 0);
	BT_UEQ(s.ack, r0 + 8000);
	BT_UEQ(s.len, 0);
	BT_ASSERT(th_pop(&n, 1) == NULL);
	/* A hole: the duplicate ACK leaves without waiting for the flush. */
	th_inject(&n, 1, 40000, 5000, r0 + 9000, b->snd_una, BD_TCP_F_ACK, 1000,
		  NULL, 0, data, 1000);
	BT_ASSERT(th_pop_seg(&n, 1, &s) == 0);
	BT_UEQ(s.ack, r0 + 8000);
	BT_EQ(s.nsack, 1);
	BT_UEQ(s.sack[0][0], r0 + 9000);
	/* Filling it: answered at once too (the receiver had a hole). */
	th_inject(&n, 1, 40000, 5000, r0 + 8000, b->snd_una, BD_TCP_F_ACK, 1000,
		  NULL, 0, data, 1000);
	BT_ASSERT(th_pop_seg(&n, 1, &s) == 0);
	BT_UEQ(s.ack, r0 + 10000);
	th_flush(&n);
	BT_ASSERT(th_pop(&n, 1) == NULL);
	th_free(&n);
}

/* Transfers with batch_output at both ends under loss, reordering and
 * duplication: every byte arrives, in order, once. */
BT_TEST(tcp_xfer_batch_output_impairments)
{
	for (int seed = 1; seed <= 4; seed++) {
		struct th_net n;
		struct th_bulk b;
		struct bd_tcp_config c;
		bd_tcp_config_default(&c);
		c.batch_output = true;
		th_init(&n, 700 + (uint64_t)seed, &c, &c);
		n.loss = 0.01 * (seed - 1);
		n.reorder = 0.05 * (seed & 1);
		n.dup = 0.01 * (seed >> 1);
		n.rate_bps = 100000000;
		n.qlimit_us = 20000;
		BT_ASSERT(th_bulk_start(&b, &n, 2u << 20, NULL, NULL) == 0);
		th_run(&n, 600000000, th_bulk_done, &b);
		BT_ASSERT(th_bulk_finish(&b));
		BT_EQ(b.err_cli, 0);
		BT_EQ(b.err_srv, 0);
		th_free(&n);
	}
}
