/* SPDX-License-Identifier: Apache-2.0
 * Braid TCP end-to-end transfers between two bare stacks over the
 * harness link: SHA-256 of the stream compared at both ends. */
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
