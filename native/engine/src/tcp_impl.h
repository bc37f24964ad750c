/* SPDX-License-Identifier: Apache-2.0
 * Braid TCP internals shared by the tcp_*.c files. */
#ifndef BRAID_TCP_IMPL_H
#define BRAID_TCP_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/pkt.h"
#include "braid/stack.h"
#include "braid/tcp.h"

#define SEQ_LT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b)  ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)
#define SEQ_MAX(a, b) (SEQ_GT(a, b) ? (a) : (b))
#define SEQ_MIN(a, b) (SEQ_LT(a, b) ? (a) : (b))

#define TCP_HDR_LEN    20
#define TCP_MAX_OPT    40
#define TCP_MAX_WSCALE 14
#define TCP_DUPTHRESH  3
#define TCP_INIT_CWND  10 /* segments (RFC 6928) */
/* Ranges of a scoreboard or out-of-order queue: grown on demand up to this
 * many, enough for every other segment of a 32k-segment window lost. */
#define TCP_MAX_RANGES	   16384
#define TCP_MIN_RANGES	   16
#define TCP_MIN_MSS	   88
#define TCP_MAX_SACK_BLK   4
#define TCP_RXT_LOG	   64
#define TCP_RXT_LOG	   64
#define TCP_TS_HZ_DIV	   1000 /* timestamp clock: 1 ms */
#define TCP_WIN_UPDATE_DIV 2

/* TCP header on the wire (network byte order fields). */
struct tcp_hdr {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t doff_res; /* data offset << 4 */
	uint8_t flags;
	uint16_t wnd;
	uint16_t csum;
	uint16_t urg;
} __attribute__((packed));

/* Parsed options of a received segment. */
struct tcp_opts {
	uint16_t mss;
	uint8_t wscale;
	bool has_mss, has_wscale, sack_ok, has_ts;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	uint32_t sack[TCP_MAX_SACK_BLK][2];
	bool has_unknown;
};

/* A set of disjoint sequence ranges, kept sorted. */
struct tcp_range {
	uint32_t start, end;
};
struct tcp_ranges {
	uint32_t n, cap;
	struct tcp_range *r; /* cap entries, allocated on first use */
};

/* A byte ring buffer. */
struct tcp_ring {
	uint8_t *buf;
	uint32_t cap, head, len;
};

enum tcp_timer_id {
	TT_RTX = 0, /* retransmission, SYN retry, persist (ZWP) */
	TT_DELACK,
	TT_KEEPALIVE, /* keepalive; also SYN-RECEIVED / FIN_WAIT_2 life */
	TT_TW,	      /* TIME_WAIT */
	TT_RECOV,     /* recovery: retransmissions presumed lost */
	TT_TLP,	      /* tail loss probe (RFC 8985 section 7) */
	TT_ULP,	      /* the upper layer's (bd_tcp_ulp_timer) */
	TT_NUM,
};

struct bd_tcp_sock {
	struct bd_tcp_stack *ts;
	struct bd_tcp_sock *hnext;  /* hash chain */
	struct bd_tcp_sock *qnext;  /* listener queues / flush / dead list */
	struct bd_tcp_sock *parent; /* listener of an embryonic child */
	struct bd_tcp_sock *flnext; /* flush list */
	struct bd_tcp_sock *allnext, *allprev; /* every socket */
	uint8_t state;
	bool app_owned; /* the application holds the handle */
	bool in_hash, in_flush, dead, is_listener, accepted, in_acceptq;
	bool closed_notified, fin_notified, want_writable;
	bool nagle, keepalive, no_delack;
	bool fin_queued; /* shutdown requested: FIN follows the data */
	bool syn_held;	 /* active open: the SYN waits (bd_tcp_ulp_hold_syn) */
	bool fin_sent;
	bool rcv_fin; /* peer's FIN received (in order) */
	bool ack_now; /* an ACK is due at the next output */
	bool ts_ok, sack_ok, ws_ok;
	bool rtt_timing;
	bool in_recovery;
	bool zwp;	/* persist timer armed */
	bool ulp_ready; /* ESTABLISHED reported to the ULP */
	bool pending_readable, pending_fin;
	bool dsack_pending;
	bool passive;	  /* created by a listener */
	bool fin_pending; /* peer FIN seen beyond a hole */
	bool pending_connected;
	uint8_t snd_wscale, rcv_wscale;
	uint8_t ca_state;
	uint8_t tos;
	uint8_t retries; /* consecutive RTO expiries */
	uint8_t backoff; /* RTO backoff shift */
	uint8_t ka_probes_sent, ka_probes;
	uint16_t lport, rport;
	struct bd_ipaddr laddr, raddr;
	int err; /* reason given to on_closed */

	/* Send side (RFC 9293 names). */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t max_snd_wnd;
	uint32_t snd_mss;     /* peer's MSS (payload without options) */
	uint32_t adv_mss;     /* ours */
	struct tcp_ring sbuf; /* data from snd_una (first data byte) */
	uint32_t sbuf_seq;    /* seq of sbuf's first byte */
	uint32_t dupacks;
	uint32_t recover;    /* RFC 6582 / 6675 recovery point */
	uint32_t high_rxt;   /* RFC 6675 HighRxt */
	uint32_t rescue_rxt; /* RFC 6675 RescueRxt */
	uint32_t rxt_mark;   /* snd_max at the last retransmission */
	uint32_t rto_head;   /* head whose retransmission restarted the RTO */
	/* Retransmissions in recovery, oldest first: seq range and snd_max
	 * when sent (lost-retransmission detection). */
	struct {
		uint32_t start, end, mark;
	} rxt_log[TCP_RXT_LOG];
	uint8_t rxt_head, rxt_n;
	bool tlp_out;		  /* a probe is outstanding */
	struct tcp_ranges sacked; /* RFC 6675 scoreboard (SACKed ranges) */
	uint32_t sacked_bytes;
	uint32_t rtt_seq;
	uint64_t rtt_start_us;

	/* Receive side. */
	uint32_t irs, rcv_nxt, rcv_adv; /* rcv_adv: right edge advertised */
	uint32_t rcv_mss;
	struct tcp_ring rbuf;  /* in order data, then room for OOO data */
	struct tcp_ranges ooo; /* out of order ranges above rcv_nxt */
	uint32_t ooo_last;     /* index hint: range of the latest OOO seg */
	uint32_t ooo_last_seq;
	/* SACK blocks in the last ACK sent, first one first (RFC 2018 4:
	 * later ACKs repeat them after the newest block). */
	uint32_t sack_rep[TCP_MAX_SACK_BLK][2];
	uint8_t sack_rep_n;
	uint32_t rcv_fin_seq;
	uint32_t dsack[2];
	uint32_t segs_unacked; /* full segments received since last ACK */
	uint32_t ts_recent;
	uint64_t ts_recent_us;
	uint32_t ts_offset;
	uint32_t last_ack_sent;
	/* Last duplicate ACK sent for an unacceptable segment (Linux's
	 * last_oow_ack_time): at most one per TCP_OOW_ACK_GAP_US. */
	uint64_t last_oow_ack_us;

	/* RTT and RTO (us). */
	uint32_t srtt, rttvar, rto, min_rtt;

	/* Timers. */
	uint64_t timer[TT_NUM];
	uint64_t heap_key;
	uint32_t heap_idx; /* UINT32_MAX when not in the heap */
	uint64_t last_rcv_us, last_snd_us, last_ack_us;
	uint64_t ka_sent_us;

	/* HyStart++ (RFC 9406) in slow start: per-round minimum RTT (0 = no
	 * sample), conservative slow start (CSS) after a delay increase. */
	uint32_t hs_round_end, hs_last_min, hs_cur_min, hs_css_base;
	uint8_t hs_samples, hs_css_rounds;
	bool hs_css;

	/* Congestion control. */
	const struct bd_tcp_cc_ops *cc_ops;
	struct bd_tcp_cc_state cc;

	/* Delivery rate sample. */
	uint64_t dr_start_us;
	uint64_t dr_start_acked;
	uint64_t delivery_rate;

	/* Listener. */
	int backlog;
	uint32_t synq_len, acceptq_len;
	struct bd_tcp_sock *acceptq_head, *acceptq_tail;
	struct bd_tcp_opts lopts; /* inherited options */

	/* Application. */
	struct bd_tcp_callbacks cb;
	void *ctx;
	const struct bd_tcp_ulp_ops *ulp;
	void *ulp_ctx;

	/* Info. */
	uint64_t bytes_sent, bytes_retrans, bytes_acked, bytes_received;
	uint64_t segs_out, segs_in, data_segs_out, data_segs_in;
	uint32_t total_retrans, dsack_dups, reord_seen, lost_est;
};

struct bd_tcp_stack {
	struct bd_stack *st;
	struct bd_tcp_config cfg;
	struct bd_tcp_mib mib;
	const struct bd_tcp_cc_ops *default_cc;
	struct bd_tcp_sock **hash;
	uint32_t hash_mask;
	struct bd_tcp_sock *listeners[64];
	struct bd_tcp_sock *flush_head;
	struct bd_tcp_sock *dead_head;
	struct bd_tcp_sock *all_head;
	struct bd_tcp_sock **heap;
	uint32_t heap_len, heap_cap;
	uint32_t nsocks;
	uint16_t eph_next;
	uint64_t chack_second;
	uint32_t chack_count;
	int depth; /* nesting of input/timer processing */
	bool rule3;
};

#define MIB_INC(ts, f) ((ts)->mib.f++)

/* tcp_socket.c */
uint32_t tcp_hash4(const struct bd_ipaddr *la, uint16_t lp,
		   const struct bd_ipaddr *ra, uint16_t rp);
struct bd_tcp_sock *tcp_lookup(struct bd_tcp_stack *ts,
			       const struct bd_ipaddr *la, uint16_t lp,
			       const struct bd_ipaddr *ra, uint16_t rp);
struct bd_tcp_sock *tcp_lookup_listener(struct bd_tcp_stack *ts,
					const struct bd_ipaddr *la,
					uint16_t lp);
void tcp_hash_insert(struct bd_tcp_sock *s);
void tcp_hash_remove(struct bd_tcp_sock *s);
struct bd_tcp_sock *tcp_sock_alloc(struct bd_tcp_stack *ts,
				   const struct bd_tcp_opts *o);
void tcp_set_state(struct bd_tcp_sock *s, int state);
/* The connection is over: leave the tables, notify, free when released. */
void tcp_done(struct bd_tcp_sock *s, int err);
void tcp_reap(struct bd_tcp_stack *ts);
void tcp_sock_free(struct bd_tcp_sock *s);
void tcp_rbuf_consume(struct bd_tcp_sock *s, uint32_t n);
int tcp_ring_reserve(struct tcp_ring *r);
void tcp_flush_add(struct bd_tcp_sock *s);
void tcp_notify(struct bd_tcp_sock *s);
void tcp_child_established(struct bd_tcp_sock *child);
uint16_t tcp_route_mss(struct bd_tcp_stack *ts, const struct bd_ipaddr *raddr,
		       const struct bd_ipaddr *laddr);
void tcp_apply_cc(struct bd_tcp_sock *s, const struct bd_tcp_cc_ops *ops);

/* tcp_ring (tcp_socket.c) */
int tcp_ring_init(struct tcp_ring *r, uint32_t cap);
void tcp_ring_free(struct tcp_ring *r);
/* The n bytes at off when they are contiguous in the ring, else NULL. */
const uint8_t *tcp_ring_span(const struct tcp_ring *r, uint32_t off,
			     uint32_t n);
void tcp_ring_copy_out(const struct tcp_ring *r, uint32_t off, void *dst,
		       uint32_t n);
void tcp_ring_copy_in(struct tcp_ring *r, uint32_t off, const void *src,
		      uint32_t n);

/* tcp_opt.c */
int tcp_parse_opts(struct bd_tcp_stack *ts, const uint8_t *p, unsigned len,
		   bool syn, struct tcp_opts *o);
unsigned tcp_write_syn_opts(struct bd_tcp_sock *s, uint8_t *p, bool synack,
			    uint32_t tsval);
/* Timestamps and, with with_sack, as many SACK blocks as fit in budget
 * option bytes (the upper layer's options take the rest). */
unsigned tcp_write_opts(struct bd_tcp_sock *s, uint8_t *p, uint32_t tsval,
			bool with_sack, unsigned budget);
void tcp_walk_unknown(struct bd_tcp_sock *s, const uint8_t *p, unsigned len,
		      const struct bd_tcp_seg_desc *seg);

/* tcp_isn.c */
uint32_t tcp_isn(struct bd_tcp_stack *ts, const struct bd_ipaddr *la,
		 uint16_t lp, const struct bd_ipaddr *ra, uint16_t rp);
uint32_t tcp_ts_offset(struct bd_tcp_stack *ts, const struct bd_ipaddr *la,
		       const struct bd_ipaddr *ra);

/* tcp_sack.c */
bool tcp_ranges_add(struct tcp_ranges *rs, uint32_t start, uint32_t end,
		    uint32_t *idx);
void tcp_ranges_trim(struct tcp_ranges *rs, uint32_t below);
void tcp_ranges_free(struct tcp_ranges *rs);
uint32_t tcp_ranges_bytes(const struct tcp_ranges *rs);
bool tcp_ranges_contains(const struct tcp_ranges *rs, uint32_t seq,
			 uint32_t *end);
void tcp_sack_update(struct bd_tcp_sock *s, const struct tcp_opts *o,
		     uint32_t ack);
uint32_t tcp_lost_boundary(const struct bd_tcp_sock *s);
uint32_t tcp_pipe(const struct bd_tcp_sock *s);
bool tcp_next_seg(struct bd_tcp_sock *s, uint32_t *seq, uint32_t *len,
		  bool *rescue);
bool tcp_next_seg_tail(struct bd_tcp_sock *s, uint32_t *seq, uint32_t *len,
		       bool *rescue);
unsigned tcp_build_sack_blocks(struct bd_tcp_sock *s, uint32_t blk[][2],
			       unsigned max);

/* tcp_timer.c */
void tcp_timer_set(struct bd_tcp_sock *s, int id, uint64_t when);
void tcp_timer_clear(struct bd_tcp_sock *s, int id);
void tcp_timer_clear_all(struct bd_tcp_sock *s);
void tcp_rearm_rtx(struct bd_tcp_sock *s);
/* The current RTO with backoff, clamped at rto_max. */
uint64_t tcp_rto_backed(const struct bd_tcp_sock *s);
/* After a retransmission in recovery: if no progress within about an RTT,
 * the retransmissions are presumed lost and go again. */
void tcp_arm_recovery_timer(struct bd_tcp_sock *s);
/* Arm the tail loss probe timer if a probe may be sent. */
void tcp_arm_tlp(struct bd_tcp_sock *s);
/* Log a retransmission made in recovery; check the log against SACKs. */
void tcp_rxt_log(struct bd_tcp_sock *s, uint32_t seq, uint32_t len);
void tcp_rxt_check(struct bd_tcp_sock *s);
void tcp_rtt_sample(struct bd_tcp_sock *s, uint32_t rtt_us);
void tcp_heap_remove(struct bd_tcp_sock *s);

/* tcp_output.c */
void tcp_output(struct bd_tcp_sock *s);
int tcp_send_ctl(struct bd_tcp_sock *s, uint8_t flags, uint32_t seq);
void tcp_send_ack(struct bd_tcp_sock *s);
void tcp_send_synack(struct bd_tcp_sock *s);
void tcp_send_syn(struct bd_tcp_sock *s);
int tcp_xmit(struct bd_tcp_sock *s, uint32_t seq, uint32_t len, uint8_t flags,
	     bool rtx);
void tcp_send_rst_reply(struct bd_tcp_stack *ts, const struct tcp_hdr *th,
			uint32_t seglen, const struct bd_ip_meta *m);
/* The same with options (a listener's ULP refusing a SYN). */
void tcp_send_rst_reply_opts(struct bd_tcp_stack *ts, const struct tcp_hdr *th,
			     uint32_t seglen, const struct bd_ip_meta *m,
			     const uint8_t *opt, unsigned olen);
void tcp_send_reset(struct bd_tcp_sock *s);
uint32_t tcp_rcv_window(const struct bd_tcp_sock *s);
bool tcp_challenge_ack_allowed(struct bd_tcp_stack *ts);
uint32_t tcp_now_ts(const struct bd_tcp_sock *s);
void tcp_enter_loss(struct bd_tcp_sock *s);

/* tcp_cc.c */
/* Controllers registered (builtins included). */
int tcp_cc_count(void);
uint32_t tcp_flight(const struct bd_tcp_sock *s);
void tcp_cc_sync(struct bd_tcp_sock *s);

#endif
