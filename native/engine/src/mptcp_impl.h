/* SPDX-License-Identifier: Apache-2.0
 * MPTCP internals shared by the mptcp_*.c files. */
#ifndef BRAID_MPTCP_IMPL_H
#define BRAID_MPTCP_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"

/* 64-bit data sequence numbers compare modulo 2^64 (the IDSN is random,
 * so the space may wrap during a connection). */
static inline bool bd_before64(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) < 0;
}

static inline bool bd_after64(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) > 0;
}

static inline uint64_t bd_min64(uint64_t a, uint64_t b)
{
	return bd_before64(a, b) ? a : b;
}

static inline uint64_t bd_max64(uint64_t a, uint64_t b)
{
	return bd_after64(a, b) ? a : b;
}

/* Largest chunk mapped at once (a mapping's length is 16 bits). */
#define BD_MPTCP_SCHED_BUF 65535u

/* A range of data bytes this end mapped onto a subflow. */
struct bd_mptcp_txmap {
	uint32_t seq; /* absolute subflow sequence number of the first byte */
	uint64_t dsn;
	uint32_t len;
	uint32_t psum; /* payload sum for the DSS checksum */
	/* Its first segment went out, with the mapping: from then on it is
	 * the peer's and stays on this subflow. */
	bool announced;
};

enum {
	SF_MPC = 0, /* the first subflow (MP_CAPABLE) */
	SF_JOIN,    /* an MP_JOIN subflow */
	SF_PLAIN,   /* a plain TCP client on an MPTCP listener */
};

#define BD_MPTCP_SENT_MARKS 32

struct bd_mptcp_subflow {
	struct bd_mptcp_sock *msk; /* NULL once detached (zombie) */
	struct bd_mptcp_stack *ms; /* NULL once the stack is gone */
	/* The TCP socket holding this object as its ULP context, until
	 * TCP's release hook: the object is freed then, not before. */
	struct bd_tcp_sock *tsock;
	bool zombie; /* on ms->zombies */
	bool rst_tx; /* reset sent: carry MP_TCPRST (RFC 8684 3.6) */
	uint8_t rst_tx_reason, rst_tx_flags;
	struct bd_mptcp_sock *lmsk; /* a listener's own context */
	struct bd_tcp_sock *tcp;    /* NULL once the handle is released */
	struct bd_mptcp_subflow *next;
	uint8_t kind;
	bool passive;
	bool tcp_est;	       /* TCP ESTABLISHED seen */
	bool mp_ready;	       /* usable at the data level */
	bool dead;	       /* closed or reset: no more use */
	bool join_bad;	       /* MP_JOIN HMAC/token failure: reset it */
	bool join_ack_pending; /* client: send MP_JOIN ACK (4th ACK wait) */
	bool mpc_ack_pending;  /* client: send MP_CAPABLE ACK */
	bool mpc_synack_seen;
	bool backup, peer_backup;
	bool prio_pending; /* send MP_PRIO */
	bool fail_pending; /* send MP_FAIL */
	bool fail_rst;	   /* reset after MP_FAIL went out */
	bool stalled;	   /* its unacked data was reinjected */
	bool got_data;
	bool synack_ok;	  /* client JOIN: SYN-ACK HMAC checked */
	bool join_ack_ok; /* server JOIN: third ACK HMAC checked */
	bool rst_pending; /* reset at the next safe point */
	bool inf_pending; /* send an infinite mapping (after MP_FAIL) */
	bool fb_base_set; /* fallback: subflow <-> data offset known */
	uint32_t fb_rel;
	uint64_t fb_dsn;
	uint32_t rx_next;      /* relative SSN of the next byte to deliver */
	uint32_t last_opt_ack; /* ACK field of the last segment with MPTCP */
	bool last_opt_valid;
	/* Data ACK and right edge of the data-level window last sent on
	 * this subflow: a data segment repeats them only when they moved. */
	bool dack_sent;
	bool dack_on_data; /* the last data segment carried a data ACK */
	uint64_t dack_last, dack_edge;
	uint32_t dack_tcp;  /* TCP ACK field of that segment */
	uint8_t rst_reason; /* MP_TCPRST received */
	unsigned in_rcv;    /* inside its rcv_data hook */
	uint8_t local_id, remote_id;
	uint32_t local_nonce, remote_nonce;
	uint64_t fail_dsn;
	uint32_t iss, irs;
	uint8_t snd_wscale;
	struct bd_mptcp_maps rx;
	uint8_t *cbuf; /* checksum: the current mapping's bytes */
	uint32_t cbuf_len, cbuf_cap;
	struct bd_mptcp_txmap *tx;
	unsigned ntx, captx;
	uint32_t tcp_una; /* TCP's snd_una (BD_TCP_ULP_ACKED) */
	bool tcp_una_ok;
	struct bd_ipaddr laddr, raddr;
	uint16_t lport, rport;
	/* Scheduler, path manager, telemetry (mptcp_sched.c, mptcp_pm.c). */
	uint32_t weight;      /* "weighted" scheduler (>= 1) */
	uint64_t mapped;      /* data bytes mapped onto it */
	uint64_t red_nxt;     /* redundant: DSN up to which it carried data */
	uint64_t progress_us; /* last ACK progress (or first data mapped) */
	uint64_t ack_gap_us;  /* longest wait for an ACK of late */
	uint32_t sacked_seen; /* segments SACKed at the last stale check */
	bool ss_before;	      /* in slow start before its loss recovery */
	/* When new data went out (stale detection, mptcp_sched.c): marks
	 * of (first subflow seq, time), oldest first, a new one at most
	 * every SRTT/16; when full, the newest one moves to the latest
	 * send (later, never earlier, than its bytes went). */
	struct {
		uint32_t seq;
		uint64_t us;
	} sent[BD_MPTCP_SENT_MARKS];
	uint8_t sent_head, sent_n;
	/* Its TCP's upper-layer timer serves the stale check (when sf's
	 * data becomes overdue), a kick (push from a safe point) and, when
	 * sf is msk->rtx_sf, the data-level retransmission timer; it is
	 * armed for the earliest (mptcp_sf_timer_sync). 0: none. */
	uint64_t stale_due_us, kick_us;
	int8_t want;	   /* PM entry it serves, plus 1 (0: none) */
	bool ev_up;	   /* EV_ESTABLISHED reported */
	bool ev_backup;	   /* backup state last reported */
	bool ev_closed;	   /* EV_CLOSED reported */
	uint8_t close_why; /* enum bd_mptcp_close_reason, if set locally */
	bool steered;	   /* join_fn(up) accepted it: tell it when freed */
	int close_err;	   /* BD_E* TCP reported when it closed */
};

#define BD_MPTCP_ADDRS 8

/* A subflow the path manager keeps up (re-established on failure). */
#define BD_MPTCP_PM_WANT 16
struct bd_mptcp_pm_want {
	bool used;
	bool up; /* a subflow serves it now */
	bool backup;
	uint8_t remote_id;
	uint8_t retries; /* failed attempts in a row */
	struct bd_ipaddr laddr, raddr;
	uint16_t lport, rport;
	uint64_t next_try_us; /* 0: not waiting */
};
struct bd_mptcp_addr {
	uint8_t id;
	bool used;
	bool echoed;	   /* ours: the peer echoed it */
	bool echo_pending; /* theirs: echo to send */
	struct bd_ipaddr addr;
	uint16_t port;
};

struct bd_mptcp_sock {
	struct bd_mptcp_stack *ms;
	struct bd_mptcp_sock *tnext; /* token table chain */
	struct bd_mptcp_sock *all_next, *all_prev;
	bool listener;
	struct bd_tcp_sock *ltcp;
	struct bd_mptcp_subflow *lsf; /* the listener's ULP context */
	struct bd_mptcp_sock *acc_head, *acc_tail, *qnext, *parent;
	unsigned acc_len;
	struct bd_mptcp_callbacks cb;
	void *ctx;
	bool app_owned, in_table, accepted;
	bool active; /* opened with bd_mptcp_connect */
	uint64_t local_key, remote_key;
	uint32_t local_token, remote_token;
	bool remote_key_known;
	bool csum;
	bool fallback;
	int fb_reason;
	bool fully_established; /* a DSS arrived from the peer */
	bool joins_held;	/* MP_JOIN SYNs wait for fully_established */
	bool dss_rx;		/* a mapping arrived */
	bool established;	/* MPTCP connection usable */
	bool in_curr_estab;	/* counted in MPCurrEstab */
	bool connected_pending, connected_done;
	bool peer_fin_done, closed_done, fin_acked_done;
	bool fin_sent; /* a DATA_FIN went out at least once */
	bool fastclose_pending, fastclosed;
	bool reset;
	int err;
	unsigned depth; /* hooks and callbacks running for it */
	bool free_pending;
	struct bd_mptcp_rcv rcv;
	struct bd_mptcp_snd snd;
	bool bufs;
	struct bd_mptcp_subflow *subflows;
	unsigned nsub_total;
	uint8_t next_local_id;
	struct bd_mptcp_addr local[BD_MPTCP_ADDRS], remote[BD_MPTCP_ADDRS];
	uint8_t add_addr_accepted, add_addr_signal;
	struct bd_mptcp_rm_addr rm_pending;
	uint64_t last_data_sent_us, last_data_recv_us, last_ack_recv_us;
	uint32_t last_wnd_adv; /* data-level window last advertised */
	uint64_t rcv_edge;     /* its right edge (never moves left) */
	/* Scheduler (mptcp_sched.c). */
	const struct bd_mptcp_sched_ops *sched;
	uint64_t sched_priv[8];
	/* Path manager (mptcp_pm.c). */
	const struct mptcp_pm_ops *pm;
	bool pm_started;     /* the mode's initial actions ran */
	bool pm_announced;   /* signal: endpoints announced */
	uint32_t pm_ep_done; /* endpoints acted on (bit per slot) */
	struct bd_mptcp_pm_want want[BD_MPTCP_PM_WANT];
	/* Coupled (or not) congestion control of every subflow. */
	const struct bd_tcp_cc_ops *cc;
	/* Data-level retransmission timer (mptcp_timer.c): armed on the TCP
	 * socket of rtx_sf. */
	struct bd_mptcp_subflow *rtx_sf;
	uint64_t rtx_due_us;
	uint8_t rtx_backoff;
	bool push_pending; /* mptcp_kick_push() */
};

struct bd_mptcp_endpoint {
	bool used;
	uint8_t id;
	uint32_t flags; /* BD_MPTCP_EP_* */
	struct bd_ipaddr addr;
	uint16_t port;
};

struct bd_mptcp_stack {
	struct bd_stack *st;
	struct bd_tcp_stack *ts;
	struct bd_mptcp_config cfg;
	struct bd_mptcp_mib mib;
	struct bd_mptcp_sock **tok;
	uint32_t tok_mask;
	struct bd_mptcp_sock *all;
	/* Released subflows whose TCP socket is not freed yet. */
	struct bd_mptcp_subflow *zombies;
	unsigned live_sf, live_msk; /* objects allocated, for leak checks */
	/* Passive subflows TCP has not handed over yet (their TCP socket
	 * may vanish without notice until accepted). */
	struct bd_mptcp_subflow *embryos;
	struct bd_tcp_sock *hook_tcp; /* socket whose write_opts runs */
	uint8_t *buf; /* scheduler copy buffer (per stack: per worker) */
	struct bd_mptcp_endpoint ep[BD_MPTCP_EP_MAX];
	bd_mptcp_event_fn ev_fn;
	void *ev_ctx;
	/* Token steering (bd_mptcp_set_steering). */
	unsigned steer_n, steer_idx;
	bd_mptcp_join_fn join_fn;
	void *join_ctx;
};

/* A path manager mode (mptcp_pm.c). */
struct mptcp_pm_ops {
	const char *name;
	/* The connection became usable (client and server side). */
	void (*established)(struct bd_mptcp_sock *msk);
	/* The peer announced an address (already recorded, HMAC checked). */
	void (*add_addr)(struct bd_mptcp_sock *msk,
			 const struct bd_mptcp_addr *a);
};

/* mptcp_timer.c */
void mptcp_rtx_arm(struct bd_mptcp_sock *msk, bool progress);
void mptcp_rtx_stop(struct bd_mptcp_sock *msk);
void mptcp_kick_push(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf);
void mptcp_sf_timer(void *uctx, struct bd_tcp_sock *s);
/* Arm sf's upper-layer timer for the earliest of its uses; 0 or
 * -BD_ENOTCONN (no TCP socket to hold it). */
int mptcp_sf_timer_sync(struct bd_mptcp_subflow *sf);

/* mptcp_ctx.c */
struct bd_mptcp_sock *mptcp_token_lookup(struct bd_mptcp_stack *ms,
					 uint32_t token);
struct bd_mptcp_sock *mptcp_sock_new(struct bd_mptcp_stack *ms);
int mptcp_sock_keys(struct bd_mptcp_sock *msk);
void mptcp_sock_start(struct bd_mptcp_sock *msk);
void mptcp_push(struct bd_mptcp_sock *msk);
void mptcp_fallback(struct bd_mptcp_sock *msk, int reason);
void mptcp_notify(struct bd_mptcp_sock *msk);
void mptcp_enter(struct bd_mptcp_sock *msk);
void mptcp_leave(struct bd_mptcp_sock *msk);
void mptcp_data_acked(struct bd_mptcp_sock *msk, uint64_t data_ack,
		      uint32_t wnd);
/* The data-level receive window to advertise on every subflow. */
uint32_t mptcp_rcv_wnd_adv(struct bd_mptcp_sock *msk);
/* The options of a new subflow's TCP socket. */
void mptcp_sf_opts(const struct bd_mptcp_stack *ms, struct bd_tcp_opts *o);
/* Forget sf's mappings the peer has at both levels. */
void mptcp_sf_forget_acked(struct bd_mptcp_sock *msk,
			   struct bd_mptcp_subflow *sf);
void mptcp_check_close(struct bd_mptcp_sock *msk);
void mptcp_listener_accept(struct bd_mptcp_sock *l,
			   struct bd_mptcp_sock *child);

/* mptcp_sched.c */
void mptcp_sched_init(struct bd_mptcp_sock *msk);
/* Schedulers registered (builtins included). */
int mptcp_sched_count(void);
/* Map queued data onto subflows as the connection's scheduler says. */
void mptcp_sched_push(struct bd_mptcp_sock *msk);
/* Map the next chunk (up to room bytes) onto sf. */
bool mptcp_send_chunk(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf,
		      uint32_t room);
/* Take back the mappings the other usable subflows have not begun to
 * send (their TCP's queue tail), so that data reinjected after sf failed
 * goes out first; the bytes are mapped again after it. */
void mptcp_sched_reclaim(struct bd_mptcp_sock *msk,
			 struct bd_mptcp_subflow *sf);

/* mptcp_pm.c */
void mptcp_pm_init(struct bd_mptcp_sock *msk);
/* Run from mptcp_leave(): the mode's actions, re-establishment, events. */
void mptcp_pm_check(struct bd_mptcp_sock *msk);
/* The peer announced (or removed) an address. */
void mptcp_pm_add_addr(struct bd_mptcp_sock *msk, const struct bd_mptcp_addr *a,
		       bool is_new);
void mptcp_pm_rm_addr(struct bd_mptcp_sock *msk, uint8_t id);
/* sf leaves its connection (from mptcp_subflow_release). */
void mptcp_pm_sf_closed(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf);
/* A subflow attached (set its controller and connection context). */
void mptcp_cc_attach(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf);

/* mptcp_subflow.c */
extern const struct bd_tcp_ulp_ops bd_mptcp_ulp;
extern const struct bd_tcp_callbacks bd_mptcp_sf_cb;
struct bd_mptcp_subflow *mptcp_subflow_new(struct bd_mptcp_sock *msk,
					   uint8_t kind);
void mptcp_subflow_attach(struct bd_mptcp_sock *msk,
			  struct bd_mptcp_subflow *sf);
/* Release the TCP handle (close or abort) and detach from msk. */
void mptcp_subflow_release(struct bd_mptcp_subflow *sf, bool abort);
void mptcp_subflow_free(struct bd_mptcp_subflow *sf);
/* Count sf as ms's (live_sf). */
void mptcp_subflow_own(struct bd_mptcp_stack *ms, struct bd_mptcp_subflow *sf);
/* Free sf now, or park it on ms->zombies until TCP's release hook when a
 * TCP socket still holds it. */
void mptcp_subflow_drop(struct bd_mptcp_subflow *sf);
/* Reset sf; its RST carries MP_TCPRST (reason, T flag if transient). */
void mptcp_subflow_reset(struct bd_mptcp_subflow *sf, uint8_t reason,
			 bool transient);
uint8_t mptcp_subflow_rst_reason(const struct bd_mptcp_subflow *sf);
void mptcp_subflow_reinject(struct bd_mptcp_subflow *sf);
/* When the oldest byte of sf not acknowledged (from una on) was first
 * sent, or 0 if not known (*mark_seq: the first byte sent then); forgets
 * the marks before it. */
uint64_t mptcp_sf_oldest_sent(struct bd_mptcp_subflow *sf, uint32_t una,
			      uint32_t *mark_seq);
/* When the new data holding seq went out (the latest mark at or before
 * it, whose sequence goes in *mark_seq), 0 if no mark covers it. */
uint64_t mptcp_sf_sent_at(const struct bd_mptcp_subflow *sf, uint32_t seq,
			  uint32_t *mark_seq);
size_t mptcp_subflow_pull(struct bd_mptcp_subflow *sf);
unsigned mptcp_subflow_count(const struct bd_mptcp_sock *msk, bool usable);
int mptcp_listener_syn(struct bd_mptcp_sock *l, struct bd_tcp_sock *child,
		       const struct bd_tcp_seg_desc *seg, const uint8_t *opts,
		       unsigned optlen, void **child_uctx);

#endif
