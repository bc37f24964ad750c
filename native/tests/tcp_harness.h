/* SPDX-License-Identifier: Apache-2.0
 * Test harness for Braid TCP: two bare stacks (A = 10.0.0.1, B = 10.0.0.2)
 * joined by an emulated link (delay, rate, loss, reordering, drop filter)
 * under a virtual clock, or with either side's output captured so a test
 * can inspect segments and inject hand-built ones. */
#ifndef BRAID_TCP_HARNESS_H
#define BRAID_TCP_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/pkt.h"
#include "braid/stack.h"
#include "braid/tcp.h"
#include "stack_impl.h"

#define TH_A_ADDR 0x0a000001u
#define TH_B_ADDR 0x0a000002u

struct th_net;

struct th_node {
	struct bd_stack st;
	struct th_net *net;
	int idx;
	struct bd_ipaddr addr;
	bool capture; /* keep output instead of sending it */
	struct bd_pkt *cap_head, *cap_tail;
	uint32_t ncap;
	uint64_t sent; /* segments handed to the link */
};

struct th_item {
	uint64_t at, order;
	int to;
	struct bd_pkt *p;
	struct bd_ipaddr saddr, daddr;
};

struct th_net {
	struct th_node n[2];
	uint64_t now;
	uint64_t delay_us;  /* one way */
	uint64_t rate_bps;  /* 0: infinite */
	uint64_t qlimit_us; /* drop-tail when the link backlog exceeds */
	double loss, reorder;
	double dup, corrupt; /* duplicate / flip a byte (checksum catches) */
	uint64_t reorder_extra_us;
	uint64_t rng;
	uint64_t order;
	uint64_t link_free[2];
	uint64_t dropped, reordered, delivered;
	/* Return true to drop a segment on its way from node `from`. */
	bool (*filter)(void *arg, int from, const uint8_t *tcp, uint32_t len);
	void *filter_arg;
	struct th_item *q;
	uint32_t qlen, qcap;
};

/* Parsed view of a captured segment. */
struct th_seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;
	uint32_t len; /* payload */
	uint8_t optlen;
	uint8_t opt[40];
	const uint8_t *data;
	/* decoded options */
	int mss, wscale, sack_ok, has_ts, nsack;
	uint32_t tsval, tsecr, sack[4][2];
};

void th_init(struct th_net *n, uint64_t seed, const struct bd_tcp_config *ca,
	     const struct bd_tcp_config *cb);
void th_free(struct th_net *n);
struct bd_tcp_stack *th_tcp(struct th_net *n, int node);
/* Advance the virtual clock to t, delivering and running timers. */
void th_run_until(struct th_net *n, uint64_t t, bool (*done)(void *),
		  void *arg);
/* Run up to `us` more microseconds (stops early when done() says so). */
void th_run(struct th_net *n, uint64_t us, bool (*done)(void *), void *arg);
/* Flush both stacks (sends what the API queued). */
void th_flush(struct th_net *n);
/* Set both clocks to t without delivering anything. */
void th_set_time(struct th_net *n, uint64_t t);
/* Captured segments of node i (oldest first); caller frees with
 * bd_pkt_free. NULL if none. */
struct bd_pkt *th_pop(struct th_net *n, int node);
void th_drop_captured(struct th_net *n, int node);
int th_parse(const struct bd_pkt *p, struct th_seg *s);
/* Pop and parse; returns 0, or -1 if nothing was captured. */
int th_pop_seg(struct th_net *n, int node, struct th_seg *s);
/* Hand-build a segment from the other node's address and feed it to node
 * `to`. opts must be a multiple of 4 bytes long. */
void th_inject(struct th_net *n, int to, uint16_t sport, uint16_t dport,
	       uint32_t seq, uint32_t ack, uint8_t flags, uint16_t wnd,
	       const uint8_t *opts, unsigned optlen, const void *data,
	       uint32_t len);
/* Feed raw TCP bytes (checksum fixed up if fix_csum). */
void th_inject_raw(struct th_net *n, int to, const uint8_t *tcp, uint32_t len,
		   bool fix_csum);
uint64_t th_mib(struct th_net *n, int node, const char *name);
/* Deliver captured segments to the other node until both are quiet (or
 * max rounds); returns the number delivered. */
int th_pump(struct th_net *n, int max_rounds);
/* Feed packet p (captured from the other node) to node `to`. */
void th_deliver(struct th_net *n, int to, struct bd_pkt *p);
/* Pop node from's oldest captured segment, parse it into s and deliver it
 * to the other node. -1 if nothing was captured. */
int th_step(struct th_net *n, int from, struct th_seg *s);
/* Pop and parse, without delivering (the segment is lost). */
int th_lose(struct th_net *n, int from, struct th_seg *s);
/* Capture both sides, connect A:lport -> B:5000 (listening), pump the
 * handshake and accept. Returns 0 and the two sockets. */
int th_establish(struct th_net *n, const struct bd_tcp_opts *oa,
		 const struct bd_tcp_opts *ob, struct bd_tcp_sock **a,
		 struct bd_tcp_sock **b, struct bd_tcp_sock **l);

/* --- bulk transfer application -------------------------------------------- */

struct th_bulk {
	struct th_net *net;
	struct bd_tcp_sock *cli, *srv, *lst;
	uint64_t total, sent, rcvd;
	uint64_t gen_state_tx, gen_state_rx;
	uint8_t sha_tx[32], sha_rx[32];
	void *ctx_tx, *ctx_rx; /* EVP_MD_CTX */
	bool fin_seen, closed_cli, closed_srv, shut;
	int err_cli, err_srv;
	uint64_t t_start, t_done, t_half;
	bool done;
	uint32_t read_cap; /* stress: read at most this much per callback */
};
/* Give the server application a chance to read (stress tests). */
void th_bulk_read(struct th_bulk *b);

/* Start a transfer of `bytes` from A (client) to B (server, port 5001);
 * opts for both ends (NULL = defaults). Returns 0. */
int th_bulk_start(struct th_bulk *b, struct th_net *n, uint64_t bytes,
		  const struct bd_tcp_opts *cli, const struct bd_tcp_opts *srv);
bool th_bulk_done(void *b);
/* Finish hashes, release sockets; true if every byte arrived intact. */
bool th_bulk_finish(struct th_bulk *b);

#endif
