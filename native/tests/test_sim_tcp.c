/* SPDX-License-Identifier: Apache-2.0
 * Simulated TCP transfers through the scenario runner, hashed end to end:
 * clean, lossy, reordering, a long fat pipe, a blackhole, request/response,
 * determinism, and refused scenarios. */
#include <stdio.h>
#include <string.h>

#include "braid/app.h"
#include "braid/scenario.h"
#include "bt.h"

static int run(const struct bd_scenario *sc, struct bd_scenario_result *r)
{
	int rc = bd_scenario_run(sc, r);
	if (rc)
		printf("    scenario refused: %s\n", r->error);
	return rc;
}

static void path(struct bd_scenario *sc, uint64_t mbps, double delay_ms)
{
	bd_scenario_default(sc);
	sc->path[0].rate_bps = mbps * 1000000ull;
	sc->path[0].delay_ns = (uint64_t)(delay_ms * 1e6);
	sc->path[0].queue_bytes = 0;
}

static void show(const char *name, const struct bd_scenario_result *r)
{
	printf("    %s: completed=%d match=%d %.3fs %.1f Mbit/s retrans=%llu "
	       "events=%llu %s\n",
	       name, r->completed, r->sha256_match, r->duration_s,
	       r->goodput_mbps, (unsigned long long)r->retransmits,
	       (unsigned long long)r->events, r->error);
}

BT_TEST(sim_tcp_bulk_clean_path)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 1000, 1);
	sc.bytes = 4u << 20;
	BT_EQ(run(&sc, &r), 0);
	show("clean", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_UEQ(r.bytes, sc.bytes);
	BT_UEQ(r.retransmits, 0);
	BT_ASSERT(r.have_conn[0] && r.have_conn[1]);
	BT_UEQ(r.conn[0].bytes_acked >= sc.bytes, 1);
	BT_ASSERT(r.goodput_mbps > 300);
}

static void lossy(double loss, uint64_t bytes, const char *cc)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	char name[64];
	path(&sc, 100, 5);
	sc.seed = 3;
	sc.bytes = bytes;
	sc.path[0].loss = loss;
	snprintf(sc.cc, sizeof(sc.cc), "%s", cc);
	BT_EQ(run(&sc, &r), 0);
	snprintf(name, sizeof(name), "loss %.0f%% %s", loss * 100, cc);
	show(name, &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_ASSERT(r.retransmits > 0);
	BT_ASSERT(r.link[0][0].drop_loss > 0 && r.link[0][1].drop_loss > 0);
}

BT_TEST(sim_tcp_bulk_loss_1pct)
{
	lossy(0.01, 2u << 20, "cubic");
}

BT_TEST(sim_tcp_bulk_loss_1pct_newreno)
{
	lossy(0.01, 2u << 20, "newreno");
}

BT_TEST(sim_tcp_bulk_loss_5pct)
{
	lossy(0.05, 1u << 20, "cubic");
}

BT_TEST(sim_tcp_bulk_reorder_10pct)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 100, 5);
	sc.bytes = 2u << 20;
	sc.path[0].reorder = 0.10;
	BT_EQ(run(&sc, &r), 0);
	show("reorder 10%", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_ASSERT(r.link[0][0].reordered > 100);
}

BT_TEST(sim_tcp_bulk_impaired_dup_corrupt_jitter)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 50, 10);
	sc.bytes = 1u << 20;
	sc.path[0].jitter_ns = 2000000;
	sc.path[0].duplicate = 0.02;
	sc.path[0].corrupt = 0.02;
	sc.path[0].loss = 0.01;
	sc.path[0].queue_bytes = 64000;
	BT_EQ(run(&sc, &r), 0);
	show("dup+corrupt+jitter", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_ASSERT(r.link[0][0].corrupted > 0 && r.link[0][0].duplicated > 0);
	/* Corrupted frames die at a checksum, in IP or in TCP. */
	BT_ASSERT(r.net[1].IpInCsumErrors + r.tcp[1].InCsumErrors +
		      r.net[1].IpInHdrErrors + r.net[1].IpInAddrErrors +
		      r.net[1].BdEthInDstMiss + r.net[1].IpInUnknownProtos >
		  0);
}

BT_TEST(sim_tcp_long_fat_pipe_window_scaling)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	/* 1 Gbit/s, 100 ms RTT: a 12.5 MB pipe, 190 times a 64 KiB window. */
	path(&sc, 1000, 50);
	sc.bytes = 48u << 20;
	BT_EQ(run(&sc, &r), 0);
	show("1G x 100ms", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_ASSERT(r.conn[0].snd_wscale > 0 && r.conn[0].rcv_wscale > 0);
	/* Without scaling: 64 KiB per 100 ms = 5 Mbit/s. Slow start to the
	 * 12.5 MB pipe takes about a second of the run. */
	BT_ASSERT(r.goodput_mbps > 200);
	BT_ASSERT(r.conn[0].snd_cwnd_bytes >= 12500000);
}

BT_TEST(sim_tcp_blackhole_2s_mid_transfer)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 100, 5);
	sc.bytes = 24u << 20; /* about 2 s of sending at 100 Mbit/s */
	sc.path[0].nblackholes = 1;
	sc.path[0].blackholes[0].start_ns = 1000000000ull;
	sc.path[0].blackholes[0].end_ns = 3000000000ull;
	BT_EQ(run(&sc, &r), 0);
	show("blackhole 2s", &r);
	BT_ASSERT(r.completed);
	BT_ASSERT(r.sha256_match);
	BT_ASSERT(r.link[0][0].drop_blackhole > 0);
	BT_ASSERT(r.duration_s > 4.0);
	BT_ASSERT(r.tcp[0].TCPTimeouts > 0);
}

BT_TEST(sim_tcp_request_response_latency)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 1000, 1);
	sc.workload = BD_SCEN_RR;
	sc.request_bytes = 100;
	sc.response_bytes = 2000;
	sc.count = 200;
	BT_EQ(run(&sc, &r), 0);
	show("rr", &r);
	BT_ASSERT(r.completed);
	BT_UEQ(r.transactions, 200);
	/* One round trip (2 ms) plus serialisation. */
	BT_ASSERT(r.p50_us >= 2000 && r.p50_us < 2200);
	BT_ASSERT(r.p99_us >= r.p50_us && r.max_us >= r.p99_us);
	BT_UEQ(r.bytes, 200 * 2100);
}

BT_TEST(sim_tcp_same_seed_same_run)
{
	struct bd_scenario sc;
	struct bd_scenario_result a, b;
	path(&sc, 100, 5);
	sc.bytes = 1u << 20;
	sc.path[0].loss = 0.02;
	sc.path[0].jitter_ns = 1000000;
	sc.path[0].reorder = 0.02;
	BT_EQ(run(&sc, &a), 0);
	BT_EQ(run(&sc, &b), 0);
	BT_ASSERT(a.completed && b.completed);
	BT_UEQ(a.events, b.events);
	BT_UEQ(a.sim_end_s * 1e9, b.sim_end_s * 1e9);
	BT_UEQ(a.retransmits, b.retransmits);
	BT_ASSERT(memcmp(a.link, b.link, sizeof(a.link)) == 0);
	BT_ASSERT(memcmp(&a.conn[0], &b.conn[0], sizeof(a.conn[0])) == 0);
	sc.seed = 99;
	BT_EQ(run(&sc, &b), 0);
	BT_ASSERT(a.events != b.events ||
		  memcmp(a.link, b.link, sizeof(a.link)) != 0);
}

/* Jumbo frames, as in a data center: the MSS follows the 9000-byte MTU,
 * the bytes arrive intact in about a sixth of the frames a 1500-byte MTU
 * needs, and an MTU above 9000 is refused. */
BT_TEST(sim_tcp_jumbo_mtu)
{
	struct bd_scenario sc;
	struct bd_scenario_result r, small;
	path(&sc, 10000, 0.05);
	sc.bytes = 8u << 20;
	sc.mtu = 9000;
	BT_EQ(run(&sc, &r), 0);
	show("mtu 9000", &r);
	BT_ASSERT(r.completed && r.sha256_match);
	BT_ASSERT(r.conn[0].snd_mss >= 8900 && r.conn[0].snd_mss <= 8960);
	path(&sc, 10000, 0.05);
	sc.bytes = 8u << 20;
	BT_EQ(run(&sc, &small), 0);
	BT_ASSERT(small.completed && small.sha256_match);
	BT_ASSERT(small.conn[0].snd_mss <= 1460);
	BT_ASSERT(r.link[0][0].sent_pkts * 4 < small.link[0][0].sent_pkts);
	sc.mtu = 9001;
	BT_EQ(bd_scenario_run(&sc, &r), -BD_EINVAL);
	BT_ASSERT(strstr(r.error, "mtu") != NULL);
}

BT_TEST(sim_tcp_refuses_bad_scenarios)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	bd_scenario_default(&sc);
	sc.protocol = 7;
	BT_EQ(bd_scenario_run(&sc, &r), -BD_EINVAL);
	BT_ASSERT(strstr(r.error, "protocol") != NULL);
	bd_scenario_default(&sc);
	snprintf(sc.cc, sizeof(sc.cc), "vegas");
	BT_EQ(bd_scenario_run(&sc, &r), -BD_EINVAL);
	BT_ASSERT(strstr(r.error, "cc") != NULL);
	bd_scenario_default(&sc);
	sc.path[0].loss = 1.5;
	BT_EQ(bd_scenario_run(&sc, &r), -BD_EINVAL);
	BT_ASSERT(strstr(r.error, "paths[0]") != NULL);
}

/* The apps on the sim API directly: an rr client against the echo server
 * (responses are the echoed requests), over the second of two paths. */
struct echo_run {
	struct bd_app_rr_client *cli;
	struct bd_app_echo *echo;
};

static bool echo_done(void *ctx, struct bd_sim *sim)
{
	struct echo_run *r = ctx;
	(void)sim;
	return r->cli->c.done && r->echo->c.done;
}

BT_TEST(sim_tcp_echo_server_over_second_path)
{
	static struct bd_app_rr_client cli;
	static struct bd_app_echo echo;
	struct bd_sim *sim = bd_sim_create(21);
	struct bd_link_params lp = {
	    .rate_bps = 100000000, .delay_ns = 2000000, .loss = 0.01};
	struct bd_link_params lp2 = {.rate_bps = 10000000,
				     .delay_ns = 20000000};
	struct echo_run run = {&cli, &echo};
	struct bd_ipaddr caddr = bd_ip4(bd_sim_path_addr(1, 0));
	struct bd_ipaddr saddr = bd_ip4(bd_sim_path_addr(1, 1));
	BT_EQ(bd_sim_add_host(sim), 0);
	BT_EQ(bd_sim_add_host(sim), 1);
	BT_EQ(bd_sim_add_path(sim, 0, 1, &lp2, NULL, 1500), 0);
	BT_EQ(bd_sim_add_path(sim, 0, 1, &lp, NULL, 1500), 1);
	BT_EQ(bd_stack_use_tcp(bd_sim_stack(sim, 0), NULL), 0);
	BT_EQ(bd_stack_use_tcp(bd_sim_stack(sim, 1), NULL), 0);
	BT_EQ(bd_app_echo_start(&echo, bd_sim_stack(sim, 1), 7, NULL), 0);
	BT_EQ(bd_app_rr_client_start(&cli, bd_sim_stack(sim, 0), &caddr, &saddr,
				     7, 3000, 3000, 100, NULL),
	      0);
	BT_EQ(bd_sim_run(sim, 60000000000ull, echo_done, &run), 1);
	BT_ASSERT(!cli.c.err && !echo.c.err);
	BT_UEQ(cli.done_count, 100);
	BT_UEQ(echo.echoed, 300000);
	BT_UEQ(cli.bytes_received, 300000);
	/* Everything went over path 1 (4 ms RTT); path 0 stayed silent but
	 * for its gratuitous ARPs. */
	BT_ASSERT(bd_link_stats(bd_sim_link(sim, 1, 0))->delivered_pkts > 200);
	BT_UEQ(bd_link_stats(bd_sim_link(sim, 0, 0))->sent_pkts, 1);
	BT_ASSERT(bd_app_percentile(cli.lat_us, cli.done_count, 50) >= 4000);
	bd_app_rr_client_fini(&cli);
	bd_app_echo_fini(&echo);
	bd_stack_drop_tcp(bd_sim_stack(sim, 0));
	bd_stack_drop_tcp(bd_sim_stack(sim, 1));
	bd_sim_destroy(sim);
}

BT_TEST(sim_tcp_unreachable_path_stops_at_time_limit)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 100, 5);
	sc.path[0].nblackholes = 1;
	sc.path[0].blackholes[0].end_ns = 1000000000000ull;
	sc.time_limit_ns = 5000000000ull;
	BT_EQ(run(&sc, &r), 0);
	BT_ASSERT(!r.completed);
	BT_ASSERT(!r.sha256_match);
	BT_UEQ(r.bytes, 0);
	BT_ASSERT(strstr(r.error, "time limit") != NULL);
	BT_ASSERT(r.sim_end_s >= 4.99 && r.sim_end_s <= 5.01);
	BT_ASSERT(r.net[0].BdArpResolveFails > 0);
}

/* BD_APP_HASH_AHEAD: the source sends its stream without hashing it, and
 * bd_app_stream_digest() gives beforehand the digest a source hashing as it
 * sends ends with; the sink reads the same bytes. An odd length ends the
 * stream in a partial chunk and a partial word. */
struct bulk_run {
	struct bd_app_bulk_src *src;
	struct bd_app_bulk_sink *sink;
};

static bool bulk_done(void *ctx, struct bd_sim *sim)
{
	struct bulk_run *r = ctx;
	(void)sim;
	return r->src->c.done && r->sink->c.done;
}

static void bulk_once(unsigned flags, uint8_t src_digest[32],
		      uint8_t sink_digest[32], bool *hashing,
		      const struct bd_tcp_opts *src_opts)
{
	static struct bd_app_bulk_src src;
	static struct bd_app_bulk_sink sink;
	const uint64_t total = (3u << 20) + 12345;
	struct bd_sim *sim = bd_sim_create(5);
	struct bd_link_params lp = {.rate_bps = 1000000000,
				    .delay_ns = 1000000};
	struct bulk_run run = {&src, &sink};
	struct bd_ipaddr caddr = bd_ip4(bd_sim_path_addr(0, 0));
	struct bd_ipaddr saddr = bd_ip4(bd_sim_path_addr(0, 1));
	BT_EQ(bd_sim_add_host(sim), 0);
	BT_EQ(bd_sim_add_host(sim), 1);
	BT_EQ(bd_sim_add_path(sim, 0, 1, &lp, NULL, 1500), 0);
	BT_EQ(bd_stack_use_tcp(bd_sim_stack(sim, 0), NULL), 0);
	BT_EQ(bd_stack_use_tcp(bd_sim_stack(sim, 1), NULL), 0);
	BT_EQ(bd_app_bulk_sink_start(&sink, bd_sim_stack(sim, 1), 9, 0, NULL),
	      0);
	BT_EQ(bd_app_bulk_src_start(&src, bd_sim_stack(sim, 0), &caddr, &saddr,
				    9, total, 77, flags, src_opts),
	      0);
	*hashing = src.sha != NULL;
	if (flags & BD_APP_HASH_AHEAD)
		bd_app_stream_digest(77, total, src.digest);
	BT_EQ(bd_sim_run(sim, 60000000000ull, bulk_done, &run), 1);
	BT_ASSERT(!src.c.err && !sink.c.err);
	BT_UEQ(sink.received, total);
	memcpy(src_digest, src.digest, 32);
	memcpy(sink_digest, sink.digest, 32);
	bd_app_bulk_src_fini(&src);
	bd_app_bulk_sink_fini(&sink);
	bd_stack_drop_tcp(bd_sim_stack(sim, 0));
	bd_stack_drop_tcp(bd_sim_stack(sim, 1));
	bd_sim_destroy(sim);
}

BT_TEST(sim_tcp_bulk_hash_ahead_same_stream)
{
	uint8_t s1[32], k1[32], s2[32], k2[32], s3[32], k3[32];
	bool hashing1, hashing2, hashing3;
	/* A send buffer of an odd size: the source (ahead) generates into
	 * its free spans, which start and end inside words and chunks. */
	struct bd_tcp_opts odd = {.snd_buf = 7001};
	bulk_once(0, s1, k1, &hashing1, NULL);
	bulk_once(BD_APP_HASH_AHEAD, s2, k2, &hashing2, NULL);
	bulk_once(BD_APP_HASH_AHEAD, s3, k3, &hashing3, &odd);
	BT_ASSERT(hashing1);
	BT_ASSERT(!hashing2);
	BT_ASSERT(!hashing3);
	BT_ASSERT(memcmp(s1, k1, 32) == 0);
	BT_ASSERT(memcmp(s2, k2, 32) == 0);
	BT_ASSERT(memcmp(s1, s2, 32) == 0);
	BT_ASSERT(memcmp(s1, k3, 32) == 0);
}

/* Ports that take frames referring to TCP's send ring (BD_PORT_CAP_TX_REF,
 * as memif in copy mode): new data leaves in place and the port copies it,
 * retransmissions are copies. Through 2 % loss the stream arrives intact,
 * the checksums (computed over the header and the referred payload) hold,
 * and the run is the run of the same seed with copies, step for step. */
BT_TEST(sim_tcp_tx_ref_loss_same_run)
{
	struct bd_scenario sc;
	struct bd_scenario_result r, copy;
	path(&sc, 100, 5);
	sc.seed = 5;
	sc.bytes = 2u << 20;
	sc.path[0].loss = 0.02;
	sc.tx_ref = true;
	BT_EQ(run(&sc, &r), 0);
	show("tx_ref, loss 2%", &r);
	BT_ASSERT(r.completed && r.sha256_match);
	BT_ASSERT(r.retransmits > 0);
	BT_ASSERT(r.tcp[1].InCsumErrors == 0 && r.tcp[0].InCsumErrors == 0);
	/* Most data segments went by reference; ACKs and retransmissions
	 * did not. */
	BT_ASSERT(r.tx_ref_frames > (sc.bytes / 1448) * 9 / 10);
	BT_ASSERT(r.tx_ref_frames < r.frames);
	sc.tx_ref = false;
	BT_EQ(run(&sc, &copy), 0);
	BT_UEQ(copy.tx_ref_frames, 0);
	BT_UEQ(r.events, copy.events);
	BT_UEQ(r.retransmits, copy.retransmits);
	BT_ASSERT(memcmp(r.link, copy.link, sizeof(r.link)) == 0);
	BT_ASSERT(memcmp(r.sha_received, copy.sha_received, 32) == 0);
}

/* The same at a jumbo MTU (segments of 8948 bytes; those across the end of
 * the send ring are copied). */
BT_TEST(sim_tcp_tx_ref_jumbo)
{
	struct bd_scenario sc;
	struct bd_scenario_result r;
	path(&sc, 10000, 0.05);
	sc.bytes = 8u << 20;
	sc.mtu = 9000;
	sc.path[0].loss = 0.005;
	sc.tx_ref = true;
	BT_EQ(run(&sc, &r), 0);
	show("tx_ref, mtu 9000", &r);
	BT_ASSERT(r.completed && r.sha256_match);
	BT_ASSERT(r.tx_ref_frames > (sc.bytes / 8948) * 9 / 10);
}
