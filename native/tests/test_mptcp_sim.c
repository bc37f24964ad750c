/* SPDX-License-Identifier: Apache-2.0
 * MPTCP on the virtual-time simulator: two hosts joined by 2 or 3 paths
 * (each its own subnet), one subflow per path, hashed bulk transfers with
 * loss, reordering and a path blackholed in the middle of the transfer. */
#include <string.h>

#include <openssl/evp.h>

#include "braid/mptcp.h"
#include "braid/net.h"
#include "braid/sim.h"
#include "braid/tcp.h"
#include "bt.h"

#define SPORT 6001

struct ms_run {
	struct bd_sim *sim;
	struct bd_mptcp_stack *ms[2];
	struct bd_mptcp_sock *l, *cli, *srv;
	unsigned npaths;
	uint64_t total, sent, rcvd, gtx, grx;
	EVP_MD_CTX *htx, *hrx;
	bool bad, cli_closed, srv_closed;
	int cli_err, srv_err;
};

static uint8_t gb(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint8_t)(*s >> 56);
}

static void push(struct ms_run *r)
{
	uint8_t buf[16384];
	while (r->sent < r->total) {
		size_t n = r->total - r->sent, room = bd_mptcp_writable(r->cli);
		if (n > sizeof(buf))
			n = sizeof(buf);
		if (n > room)
			n = room;
		if (!n)
			return;
		for (size_t i = 0; i < n; i++)
			buf[i] = gb(&r->gtx);
		if (bd_mptcp_send(r->cli, buf, n) != (long)n) {
			r->bad = true;
			return;
		}
		EVP_DigestUpdate(r->htx, buf, n);
		r->sent += n;
	}
	bd_mptcp_shutdown(r->cli);
}

static void c_conn(void *ctx, struct bd_mptcp_sock *sk)
{
	struct ms_run *r = ctx;
	for (unsigned i = 1; i < r->npaths; i++) {
		struct bd_ipaddr la = bd_ip4(bd_sim_path_addr((int)i, 0));
		struct bd_ipaddr ra = bd_ip4(bd_sim_path_addr((int)i, 1));
		if (bd_mptcp_add_subflow(sk, &la, &ra, SPORT) < 0)
			r->bad = true;
	}
	push(r);
}

static void c_wr(void *ctx, struct bd_mptcp_sock *sk)
{
	(void)sk;
	push(ctx);
}

static void c_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	struct ms_run *r = ctx;
	(void)sk;
	r->cli_closed = true;
	r->cli_err = err;
}

static void s_rd(void *ctx, struct bd_mptcp_sock *sk)
{
	struct ms_run *r = ctx;
	uint8_t buf[8192];
	long n;
	while ((n = bd_mptcp_recv(sk, buf, sizeof(buf))) > 0) {
		for (long i = 0; i < n; i++)
			if (buf[i] != gb(&r->grx))
				r->bad = true;
		EVP_DigestUpdate(r->hrx, buf, (size_t)n);
		r->rcvd += (uint64_t)n;
	}
}

static void s_fin(void *ctx, struct bd_mptcp_sock *sk)
{
	(void)ctx;
	bd_mptcp_shutdown(sk);
}

static void s_closed(void *ctx, struct bd_mptcp_sock *sk, int err)
{
	struct ms_run *r = ctx;
	(void)sk;
	r->srv_closed = true;
	r->srv_err = err;
}

static const struct bd_mptcp_callbacks ccb = {
    .on_connected = c_conn, .on_writable = c_wr, .on_closed = c_closed};
static const struct bd_mptcp_callbacks scb = {
    .on_readable = s_rd, .on_peer_fin = s_fin, .on_closed = s_closed};

static void l_acc(void *ctx, struct bd_mptcp_sock *l)
{
	struct ms_run *r = ctx;
	struct bd_mptcp_sock *c;
	while ((c = bd_mptcp_accept(l, &scb, r)))
		r->srv = c;
}

static const struct bd_mptcp_callbacks lcb = {.on_accept = l_acc};

static bool until(void *ctx, struct bd_sim *sim)
{
	struct ms_run *r = ctx;
	(void)sim;
	return r->cli_closed && r->srv_closed;
}

/* Run a transfer of `bytes` over the paths; lp[i] for path i. */
static bool sim_xfer(struct ms_run *r, uint64_t seed, unsigned npaths,
		     const struct bd_link_params *lp, uint64_t bytes)
{
	memset(r, 0, sizeof(*r));
	r->npaths = npaths;
	r->total = bytes;
	r->gtx = r->grx = seed;
	r->htx = EVP_MD_CTX_new();
	r->hrx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(r->htx, EVP_sha256(), NULL);
	EVP_DigestInit_ex(r->hrx, EVP_sha256(), NULL);
	r->sim = bd_sim_create(seed);
	if (bd_sim_add_host(r->sim) != 0 || bd_sim_add_host(r->sim) != 1)
		return false;
	for (unsigned i = 0; i < npaths; i++)
		if (bd_sim_add_path(r->sim, 0, 1, &lp[i], &lp[i], 1500) < 0)
			return false;
	for (int h = 0; h < 2; h++) {
		struct bd_tcp_config tc;
		bd_tcp_config_default(&tc);
		tc.snd_buf = tc.rcv_buf = 1u << 20;
		if (bd_stack_use_tcp(bd_sim_stack(r->sim, h), &tc) < 0)
			return false;
		r->ms[h] = bd_mptcp_stack_create(bd_sim_stack(r->sim, h), NULL);
	}
	int err;
	struct bd_ipaddr ca = bd_ip4(bd_sim_path_addr(0, 0));
	struct bd_ipaddr sa = bd_ip4(bd_sim_path_addr(0, 1));
	r->l = bd_mptcp_listen(r->ms[1], NULL, SPORT, 8, &lcb, r, &err);
	r->cli = bd_mptcp_connect(r->ms[0], &ca, 0, &sa, SPORT, &ccb, r, &err);
	if (!r->l || !r->cli)
		return false;
	bd_sim_run(r->sim, 300ull * 1000000000ull, until, r);
	uint8_t h1[32], h2[32];
	unsigned l1 = 0, l2 = 0;
	EVP_DigestFinal_ex(r->htx, h1, &l1);
	EVP_DigestFinal_ex(r->hrx, h2, &l2);
	return !r->bad && r->rcvd == r->total && r->sent == r->total &&
	       l1 == 32 && l2 == 32 && memcmp(h1, h2, 32) == 0;
}

static void sim_free(struct ms_run *r)
{
	if (r->cli)
		bd_mptcp_close(r->cli);
	if (r->srv)
		bd_mptcp_close(r->srv);
	if (r->l)
		bd_mptcp_close(r->l);
	for (int h = 0; h < 2; h++) {
		bd_mptcp_stack_destroy(r->ms[h]);
		if (r->sim && bd_sim_stack(r->sim, h))
			bd_stack_drop_tcp(bd_sim_stack(r->sim, h));
	}
	bd_sim_destroy(r->sim);
	EVP_MD_CTX_free(r->htx);
	EVP_MD_CTX_free(r->hrx);
}

static void lp_set(struct bd_link_params *lp, uint64_t mbps, uint64_t ms)
{
	memset(lp, 0, sizeof(*lp));
	lp->rate_bps = mbps * 1000000ull;
	lp->delay_ns = ms * 1000000ull;
	lp->queue_bytes = 256u << 10;
}

BT_TEST(mptcp_sim_two_paths_loss_reorder)
{
	static struct ms_run r;
	struct bd_link_params lp[2];
	lp_set(&lp[0], 100, 5);
	lp_set(&lp[1], 50, 10);
	lp[0].loss = 0.005;
	lp[1].loss = 0.01;
	lp[0].reorder = lp[1].reorder = 0.01;
	bool ok = sim_xfer(&r, 31, 2, lp, 4u << 20);
	BT_ASSERT(ok);
	/* Both paths carried data. */
	BT_ASSERT(bd_link_stats(bd_sim_link(r.sim, 0, 0))->delivered_bytes >
		  (1u << 20));
	BT_ASSERT(bd_link_stats(bd_sim_link(r.sim, 1, 0))->delivered_bytes >
		  (1u << 20));
	BT_EQ(r.cli_err, 0);
	BT_EQ(r.srv_err, 0);
	BT_UEQ(bd_mptcp_mib_get(r.ms[1], "MPJoinAckRx"), 1);
	sim_free(&r);
}

BT_TEST(mptcp_sim_three_paths_one_blackholed)
{
	static struct ms_run r;
	struct bd_link_params lp[3];
	for (int i = 0; i < 3; i++)
		lp_set(&lp[i], 50, 4 + 2 * (uint64_t)i);
	/* Path 1 drops everything from 150 ms on, in both directions. */
	lp[1].nblackholes = 1;
	lp[1].blackholes[0].start_ns = 150000000ull;
	lp[1].blackholes[0].end_ns = UINT64_MAX;
	lp[2].loss = 0.005;
	bool ok = sim_xfer(&r, 32, 3, lp, 6u << 20);
	if (!ok)
		printf("    rcvd %llu of %llu bad %d closed %d/%d\n",
		       (unsigned long long)r.rcvd, (unsigned long long)r.total,
		       r.bad, r.cli_closed, r.srv_closed);
	BT_ASSERT(ok);
	BT_UEQ(bd_mptcp_mib_get(r.ms[1], "MPJoinAckRx"), 2);
	BT_ASSERT(bd_mptcp_mib_get(r.ms[0], "MPTCPRetrans") > 0);
	BT_ASSERT(bd_link_stats(bd_sim_link(r.sim, 1, 0))->drop_blackhole > 0);
	sim_free(&r);
}
