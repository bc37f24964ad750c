/* SPDX-License-Identifier: Apache-2.0
 * Braid TCP end-to-end transfers between two bare stacks over the
 * harness link: SHA-256 of the stream compared at both ends. */
#include <stdio.h>
#include <string.h>

#include "bt.h"
#include "tcp_harness.h"

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
