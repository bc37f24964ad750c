/* SPDX-License-Identifier: Apache-2.0
 *
 * In-engine traffic applications on the TCP socket API (braid/tcp.h), or on
 * MPTCP (braid/mptcp.h) through the *_start_mptcp() variants: a bulk
 * source and sink hashed end to end with SHA-256, an echo server, and a
 * request/response client and server that time each transaction. They read
 * time only through bd_stack_now_us(), so they run the same under the
 * simulator's virtual clock and in a DPDK worker (`braid perf`).
 *
 * Each app object serves one connection. Set it up with its *_start()
 * function, let the stack run, read its fields, then *_fini() it before the
 * TCP stack is destroyed (fini closes its handles; a connection that did not
 * finish is reset). Callbacks never close a handle themselves: they half
 * close with bd_tcp_shutdown() and leave the handle to fini.
 */
#ifndef BRAID_APP_H
#define BRAID_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid/mptcp.h"
#include "braid/stack.h"
#include "braid/tcp.h"

#define BD_APP_CHUNK	    16384u
#define BD_APP_MAX_SUBFLOWS 8

/* A deterministic pseudo-random byte stream (xoshiro256** from a seed). */
struct bd_app_stream {
	uint64_t s[4];
};
void bd_app_stream_init(struct bd_app_stream *g, uint64_t seed);
void bd_app_stream_fill(struct bd_app_stream *g, uint8_t *buf, size_t len);

/* Common state and result fields. */
struct bd_app_conn {
	struct bd_stack *st;
	struct bd_tcp_stack *ts;
	struct bd_tcp_sock *sock;     /* the connection */
	struct bd_tcp_sock *listener; /* servers */
	int err;		      /* 0, or the error that ended it */
	bool done;		      /* finished (successfully or not) */
	bool closed;		      /* on_closed seen */
	uint64_t t_start_us, t_first_us, t_done_us;
	struct bd_tcp_info info; /* snapshot taken when done */
	bool have_info;
	/* MPTCP transport (the *_start_mptcp() functions); NULL for TCP. */
	struct bd_mptcp_stack *ms;
	struct bd_mptcp_sock *msock, *mlistener;
	const struct bd_tcp_callbacks *cb; /* the app's own callbacks */
	bool connected;			   /* on_connected seen (clients) */
	/* Called once the connection is up (clients: connected; servers:
	 * accepted), before the app starts on it (set after *_start(); e.g.
	 * to add MPTCP subflows or announce addresses). */
	void (*on_up)(struct bd_app_conn *c, void *arg);
	void *on_up_arg;
	/* MPTCP snapshot taken with `info`: the connection and its
	 * subflows' TCP info (info above is subflow 0's). */
	struct bd_mptcp_info minfo;
	bool have_minfo;
	unsigned nsubflows;
	struct bd_tcp_info sf_info[BD_APP_MAX_SUBFLOWS];
	struct bd_ipaddr sf_laddr[BD_APP_MAX_SUBFLOWS];
	struct bd_ipaddr sf_raddr[BD_APP_MAX_SUBFLOWS];
	uint16_t sf_lport[BD_APP_MAX_SUBFLOWS], sf_rport[BD_APP_MAX_SUBFLOWS];
	bool sf_active[BD_APP_MAX_SUBFLOWS];
	/* The fullest bd_mptcp_snapshot seen (scheduler, pm, cc, and per
	 * subflow priority, weight, bytes mapped). */
	struct bd_mptcp_snapshot msnap;
	/* The connection fell back to plain TCP, and why (enum
	 * bd_mptcp_fb_reason). */
	bool fallback;
	int fb_reason;
};

/* Refresh c's info snapshot from the live connection (TCP info, or the
 * MPTCP info with every subflow's and the fallback state); the snapshot
 * keeps the fullest view once subflows start going away. */
void bd_app_snapshot(struct bd_app_conn *c);

/* --- bulk source / sink ----------------------------------------------------
 */

/* The stream going the other way with both ways: sent by the sink, read
 * and hashed by the source. */
struct bd_app_bulk_back {
	bool on;
	uint64_t total, bytes; /* to send / sent (sink), received (source) */
	struct bd_app_stream gen;
	uint32_t off, len;
	bool fin;	   /* sink: everything queued, FIN sent */
	bool eof;	   /* source: all of it read, then the end */
	uint64_t t_eof_us; /* source: when */
	void *sha;
	uint8_t digest[32];
	uint8_t buf[BD_APP_CHUNK];
};

struct bd_app_bulk_src {
	struct bd_app_conn c;
	uint64_t total, queued; /* bytes to send / accepted by TCP */
	struct bd_app_stream gen;
	uint8_t buf[BD_APP_CHUNK];
	uint32_t buf_off, buf_len;
	void *sha;  /* EVP_MD_CTX */
	bool ahead; /* BD_APP_HASH_AHEAD: digest set by the caller */
	uint8_t digest[32];
	struct bd_app_bulk_back back;
	/* Generating straight into TCP's send buffer (ahead, plain TCP): the
	 * stream's position (bytes made, left in the chunk, the word being
	 * written and how much of it is left). */
	uint64_t made, word;
	uint32_t chunk_left, word_left;
};

#define BD_APP_STALLS 16
struct bd_app_stall {
	uint64_t at_us, us;
};

struct bd_app_bulk_sink {
	struct bd_app_conn c;
	uint64_t received;
	/* Longest wait between two reads that returned data (after the
	 * first): the longest stall the application saw. */
	uint64_t last_rx_us, max_gap_us;
	/* The BD_APP_STALLS longest such waits, longest first: when each
	 * began (stack clock) and how long it lasted (0: none). */
	struct bd_app_stall stalls[BD_APP_STALLS];
	void *sha;
	uint8_t digest[32];
	uint8_t buf[BD_APP_CHUNK];
	bool eof; /* everything read */
	struct bd_app_bulk_back back;
};

/* Flags of the bulk apps: BD_APP_NO_HASH sends zeros and hashes nothing
 * (to measure the stack alone). BD_APP_HASH_AHEAD (source only): the source
 * generates its stream without hashing it; the caller computes the stream's
 * digest beforehand, off the data path (bd_app_stream_digest() with the
 * source's seed and length), and stores it in a->digest after the start
 * call: a sender whose data's digest is known before it sends (the sink
 * still hashes what it reads). */
#define BD_APP_NO_HASH	  1u
#define BD_APP_HASH_AHEAD 2u

/* The SHA-256 of the `bytes` first bytes of the stream a bulk source sends
 * with `seed` (all zero if memory runs out). */
void bd_app_stream_digest(uint64_t seed, uint64_t bytes, uint8_t out[32]);

/* Connect to raddr:rport and send `bytes` bytes of the stream seeded with
 * `seed`, then close. opts may be NULL. 0 or -BD_E*. */
int bd_app_bulk_src_start(struct bd_app_bulk_src *a, struct bd_stack *st,
			  const struct bd_ipaddr *laddr,
			  const struct bd_ipaddr *raddr, uint16_t rport,
			  uint64_t bytes, uint64_t seed, unsigned flags,
			  const struct bd_tcp_opts *opts);
/* The same over MPTCP (ms: the host's MPTCP stack). */
int bd_app_bulk_src_start_mptcp(struct bd_app_bulk_src *a, struct bd_stack *st,
				struct bd_mptcp_stack *ms,
				const struct bd_ipaddr *laddr,
				const struct bd_ipaddr *raddr, uint16_t rport,
				uint64_t bytes, uint64_t seed, unsigned flags);
void bd_app_bulk_src_fini(struct bd_app_bulk_src *a);
/* Listen on port (every address), accept one connection, read and hash it
 * to the end, then close. */
int bd_app_bulk_sink_start(struct bd_app_bulk_sink *a, struct bd_stack *st,
			   uint16_t port, unsigned flags,
			   const struct bd_tcp_opts *opts);
int bd_app_bulk_sink_start_mptcp(struct bd_app_bulk_sink *a,
				 struct bd_stack *st, struct bd_mptcp_stack *ms,
				 uint16_t port, unsigned flags);
void bd_app_bulk_sink_fini(struct bd_app_bulk_sink *a);
/* Both ways at once (as the Linux selftest simult_flows), set after the
 * *_start() call and before the connection is up: the sink also sends
 * `bytes` bytes of the stream seeded with `seed` and closes after them
 * (its c.done once it has read to the end and sent everything); the
 * source reads and hashes them (back.eof and back.t_eof_us once all is
 * in and the end seen; closing before that is an error). flags as for
 * the start calls. 0 or -BD_ENOMEM. */
int bd_app_bulk_sink_send_back(struct bd_app_bulk_sink *a, uint64_t bytes,
			       uint64_t seed, unsigned flags);
int bd_app_bulk_src_read_back(struct bd_app_bulk_src *a, uint64_t bytes,
			      unsigned flags);

/* --- echo server -----------------------------------------------------------
 */

struct bd_app_echo {
	struct bd_app_conn c;
	uint64_t echoed;
	uint32_t pend_off, pend_len; /* read but not yet accepted by TCP */
	uint8_t buf[BD_APP_CHUNK];
};
int bd_app_echo_start(struct bd_app_echo *a, struct bd_stack *st, uint16_t port,
		      const struct bd_tcp_opts *opts);
int bd_app_echo_start_mptcp(struct bd_app_echo *a, struct bd_stack *st,
			    struct bd_mptcp_stack *ms, uint16_t port);
void bd_app_echo_fini(struct bd_app_echo *a);

/* --- request / response ----------------------------------------------------
 */

struct bd_app_rr_client {
	struct bd_app_conn c;
	uint32_t req_size, resp_size, count;
	uint32_t done_count;
	uint32_t req_sent; /* bytes of the current request accepted */
	uint32_t resp_got; /* bytes of the current response received */
	uint64_t t_req_us; /* when the current request was started */
	uint32_t *lat_us;  /* count entries, allocated at start */
	uint64_t bytes_sent, bytes_received;
	uint8_t buf[BD_APP_CHUNK];
};

struct bd_app_rr_server {
	struct bd_app_conn c;
	uint32_t req_size, resp_size;
	uint32_t req_got;   /* bytes of the current request */
	uint64_t resp_owed; /* response bytes still to queue */
	uint64_t served;
	uint8_t buf[BD_APP_CHUNK];
};

int bd_app_rr_client_start(struct bd_app_rr_client *a, struct bd_stack *st,
			   const struct bd_ipaddr *laddr,
			   const struct bd_ipaddr *raddr, uint16_t rport,
			   uint32_t req_size, uint32_t resp_size,
			   uint32_t count, const struct bd_tcp_opts *opts);
int bd_app_rr_client_start_mptcp(struct bd_app_rr_client *a,
				 struct bd_stack *st, struct bd_mptcp_stack *ms,
				 const struct bd_ipaddr *laddr,
				 const struct bd_ipaddr *raddr, uint16_t rport,
				 uint32_t req_size, uint32_t resp_size,
				 uint32_t count);
void bd_app_rr_client_fini(struct bd_app_rr_client *a);
int bd_app_rr_server_start(struct bd_app_rr_server *a, struct bd_stack *st,
			   uint16_t port, uint32_t req_size, uint32_t resp_size,
			   const struct bd_tcp_opts *opts);
int bd_app_rr_server_start_mptcp(struct bd_app_rr_server *a,
				 struct bd_stack *st, struct bd_mptcp_stack *ms,
				 uint16_t port, uint32_t req_size,
				 uint32_t resp_size);
void bd_app_rr_server_fini(struct bd_app_rr_server *a);

/* Percentile (0..100) of n latencies (sorted in place); 0 if n is 0. */
uint32_t bd_app_percentile(uint32_t *v, uint32_t n, double pct);

#endif
