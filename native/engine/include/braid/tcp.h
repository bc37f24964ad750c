/* SPDX-License-Identifier: Apache-2.0
 *
 * Braid TCP: the transport of one worker's stack (RFC 9293 with RFC 5961,
 * 6528, 7323, 2018, 6675, 6298, 5681/6582 and 9438).
 *
 * Everything is callback driven and never blocks. A socket belongs to the
 * worker (bd_stack) it was created on and is only touched from that worker.
 *
 * Life cycle of the TCP part of a stack:
 *   st->tcp = bd_tcp_stack_create(st, &cfg);   (the stack's creator does this,
 *       before the first segment; cfg NULL = bd_tcp_config_default())
 *   ... per poll: bd_tcp_input() for each segment, bd_tcp_timers() when
 *   bd_tcp_next_deadline() is due (it may return a time a little early:
 *   calling bd_tcp_timers() then is harmless), bd_tcp_flush() at the end of
 *   the batch (segments queued by the API leave there; ACKs and data
 *   triggered by input leave during bd_tcp_input(), or with
 *   cfg.batch_output mostly at the flush).
 *   bd_tcp_stack_destroy(st->tcp);             (frees every socket)
 *
 * Addresses: IPv4 now (segments for other families are dropped and counted
 * as BraidDropBadAddr); struct bd_ipaddr keeps room for IPv6.
 *
 * Socket handles: a handle returned by bd_tcp_connect() or bd_tcp_accept()
 * (and a listener) stays valid until the application calls bd_tcp_close()
 * or bd_tcp_abort(), even after on_closed(); after close/abort no callback
 * fires for it any more. The protocol may keep the connection alive
 * internally after close (FIN_WAIT, TIME_WAIT).
 */
#ifndef BRAID_TCP_H
#define BRAID_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid/stack.h"

struct bd_tcp_sock;

/* --- configuration -------------------------------------------------------- */

struct bd_tcp_config {
	uint32_t snd_buf;	     /* default send buffer (bytes) */
	uint32_t rcv_buf;	     /* default receive buffer (bytes) */
	uint32_t rto_min_us;	     /* RFC 6298 lower bound (Linux: 200 ms) */
	uint32_t rto_max_us;	     /* upper bound (60 s) */
	uint32_t rto_init_us;	     /* before the first RTT sample (1 s) */
	uint32_t delack_us;	     /* delayed ACK timeout (40 ms) */
	uint32_t time_wait_us;	     /* 2*MSL (60 s) */
	uint32_t fin_wait2_us;	     /* orphaned FIN_WAIT_2 timeout (60 s) */
	uint32_t keepalive_idle_us;  /* idle before the first probe (2 h) */
	uint32_t keepalive_intvl_us; /* between probes (75 s) */
	uint8_t keepalive_probes;    /* unanswered probes before abort (9) */
	uint8_t syn_retries;	     /* SYN / SYN-ACK retransmissions (6) */
	uint8_t retries2;	 /* data retransmissions before abort (15) */
	uint16_t default_mss;	 /* our MSS when the route does not say */
	uint16_t eph_lo, eph_hi; /* ephemeral port range (inclusive) */
	uint32_t max_conns;	 /* size of the connection hash table */
	uint32_t challenge_ack_limit;  /* challenge ACKs per second (1000) */
	bool sack, timestamps, wscale; /* what we offer in our SYNs */
	bool tx_csum_offload;	       /* leave the L4 checksum to the port */
	bool no_tlp;	 /* no tail loss probes (RFC 8985 section 7) */
	const char *cc;	 /* default congestion control ("cubic") */
	bool no_hystart; /* plain slow start, no HyStart++ (RFC 9406) */
	/* Leave the ACKs and data that in-order input triggers on an
	 * established plain TCP connection to bd_tcp_flush() (the end of the
	 * poll's batch): one cumulative ACK per burst of segments, one send
	 * pass per burst of ACKs. Out-of-order or duplicate data, SYN, FIN,
	 * RST and loss recovery still answer from bd_tcp_input(). Only for a
	 * caller that calls bd_tcp_flush() after each batch of input (the
	 * DPDK runtime does; false by default). */
	bool batch_output;
};

/* Fill cfg with the defaults listed above. */
void bd_tcp_config_default(struct bd_tcp_config *cfg);

/* Create the TCP part of a stack. The stack's creator must call this (and
 * store the result in the stack) before feeding any segment; cfg may be
 * NULL for the defaults. */
struct bd_tcp_stack *bd_tcp_stack_create(struct bd_stack *st,
					 const struct bd_tcp_config *cfg);
/* Free every socket (no segment is sent) and the TCP stack. */
void bd_tcp_stack_destroy(struct bd_tcp_stack *ts);

/* --- callbacks and per-socket options ------------------------------------- */

struct bd_tcp_callbacks {
	/* Listener: the accept queue is not empty; call bd_tcp_accept(). */
	void (*on_accept)(void *ctx, struct bd_tcp_sock *listener);
	/* Active open completed (ESTABLISHED). */
	void (*on_connected)(void *ctx, struct bd_tcp_sock *s);
	/* New in-order data can be read with bd_tcp_recv(). */
	void (*on_readable)(void *ctx, struct bd_tcp_sock *s);
	/* Send buffer space was freed after bd_tcp_send() accepted less
	 * than asked. */
	void (*on_writable)(void *ctx, struct bd_tcp_sock *s);
	/* The peer sent FIN (after all its data has been made readable). */
	void (*on_peer_fin)(void *ctx, struct bd_tcp_sock *s);
	/* The connection is over: err 0 (orderly, both FINs acknowledged) or
	 * BD_ECONNRESET, BD_ETIMEDOUT, BD_ECONNREFUSED, BD_ECONNABORTED. The
	 * handle stays valid until bd_tcp_close(). */
	void (*on_closed)(void *ctx, struct bd_tcp_sock *s, int err);
};

struct bd_tcp_ulp_ops;

struct bd_tcp_opts {
	const char *cc;	  /* NULL: the stack default */
	uint32_t snd_buf; /* 0: the stack default */
	uint32_t rcv_buf; /* 0: the stack default */
	uint16_t mss;	  /* 0: from the route / default_mss */
	bool nagle;	  /* Nagle's algorithm (off by default) */
	bool keepalive;	  /* send keepalive probes */
	bool no_delack;	  /* ACK every segment at once */
	uint32_t keepalive_idle_us, keepalive_intvl_us; /* 0: stack default */
	uint8_t tos;
	/* An upper layer (MPTCP) bound to the socket from its SYN on. */
	const struct bd_tcp_ulp_ops *ulp;
	void *ulp_ctx;
};

/* Listen on laddr:port (laddr NULL or 0.0.0.0 = every local address).
 * backlog bounds both the SYN queue and the accept queue. opts (may be
 * NULL) are inherited by accepted sockets. */
struct bd_tcp_sock *bd_tcp_listen(struct bd_tcp_stack *ts,
				  const struct bd_ipaddr *laddr, uint16_t port,
				  int backlog, const struct bd_tcp_opts *opts,
				  const struct bd_tcp_callbacks *cb, void *ctx,
				  int *err);
/* Take one established connection from a listener's accept queue (NULL if
 * empty) and bind callbacks to it. If data or a FIN already arrived, the
 * matching callbacks fire at the next input or flush. */
struct bd_tcp_sock *bd_tcp_accept(struct bd_tcp_sock *listener,
				  const struct bd_tcp_callbacks *cb, void *ctx);
/* Active open. laddr NULL or 0.0.0.0: the route's preferred source address;
 * lport 0: an ephemeral port. The SYN leaves at the next bd_tcp_flush(). */
struct bd_tcp_sock *
bd_tcp_connect(struct bd_tcp_stack *ts, const struct bd_ipaddr *laddr,
	       uint16_t lport, const struct bd_ipaddr *raddr, uint16_t rport,
	       const struct bd_tcp_opts *opts,
	       const struct bd_tcp_callbacks *cb, void *ctx, int *err);

/* Queue up to len bytes; returns the number accepted (possibly 0 when the
 * buffer is full: on_writable fires once space frees), or -BD_ENOTCONN
 * (not connected, after shutdown or close), -BD_ENOMEM. Data leaves at the
 * next bd_tcp_flush() (or with the next ACK processed). Data queued in
 * SYN_SENT goes out once the connection is established. */
long bd_tcp_send(struct bd_tcp_sock *s, const void *buf, size_t len);
/* The same without a source buffer: fn writes up to len bytes straight into
 * the send buffer's free space (one or two spans: the buffer is a ring), in
 * order; returns what bd_tcp_send() would. fn must not call into the
 * socket. */
long bd_tcp_send_inplace(struct bd_tcp_sock *s, size_t len,
			 void (*fn)(void *ctx, uint8_t *p, size_t n),
			 void *ctx);
/* Copy up to cap in-order bytes out; > 0 bytes, 0 at end of stream (peer
 * FIN and nothing left), -BD_EAGAIN if nothing yet, -BD_ENOTCONN. Reading
 * opens the receive window (a window update goes out when worth it). */
long bd_tcp_recv(struct bd_tcp_sock *s, void *buf, size_t cap);
/* The same without a copy: hand up to cap in-order bytes to fn where they
 * lie in the receive buffer (one or two spans: the buffer is a ring), then
 * consume them; returns what bd_tcp_recv() would. fn must not call into
 * the socket. */
long bd_tcp_recv_inplace(struct bd_tcp_sock *s, size_t cap,
			 void (*fn)(void *ctx, const uint8_t *p, size_t n),
			 void *ctx);
/* Bytes readable / free send space. */
size_t bd_tcp_readable(const struct bd_tcp_sock *s);
size_t bd_tcp_writable(const struct bd_tcp_sock *s);
/* Half close: FIN after the queued data. */
int bd_tcp_shutdown(struct bd_tcp_sock *s);
/* Release the handle. Orderly close (FIN) unless unread data is pending, in
 * which case (RFC 2525) the connection is reset. A listener stops listening
 * and resets the connections in its queues. */
void bd_tcp_close(struct bd_tcp_sock *s);
/* Release the handle and reset the connection (RST). */
void bd_tcp_abort(struct bd_tcp_sock *s);

void bd_tcp_set_ctx(struct bd_tcp_sock *s, void *ctx);
void *bd_tcp_get_ctx(const struct bd_tcp_sock *s);
int bd_tcp_set_nagle(struct bd_tcp_sock *s, bool on);
int bd_tcp_set_keepalive(struct bd_tcp_sock *s, bool on, uint32_t idle_us,
			 uint32_t intvl_us, uint8_t probes);
/* Switch congestion control by name; -BD_EINVAL if unknown. */
int bd_tcp_set_cc(struct bd_tcp_sock *s, const char *name);
/* Addresses and ports of the connection. */
void bd_tcp_get_addrs(const struct bd_tcp_sock *s, struct bd_ipaddr *laddr,
		      uint16_t *lport, struct bd_ipaddr *raddr,
		      uint16_t *rport);

/* --- states and per-connection info (like Linux tcp_info) ----------------- */

enum bd_tcp_state {
	BD_TCP_CLOSED = 0,
	BD_TCP_LISTEN,
	BD_TCP_SYN_SENT,
	BD_TCP_SYN_RECEIVED,
	BD_TCP_ESTABLISHED,
	BD_TCP_FIN_WAIT_1,
	BD_TCP_FIN_WAIT_2,
	BD_TCP_CLOSE_WAIT,
	BD_TCP_CLOSING,
	BD_TCP_LAST_ACK,
	BD_TCP_TIME_WAIT,
};
const char *bd_tcp_state_name(int state);
int bd_tcp_state(const struct bd_tcp_sock *s);

enum bd_tcp_ca_state {
	BD_TCP_CA_OPEN = 0,
	BD_TCP_CA_DISORDER,
	BD_TCP_CA_RECOVERY,
	BD_TCP_CA_LOSS,
};

#define BD_TCPI_OPT_TIMESTAMPS 1
#define BD_TCPI_OPT_SACK       2
#define BD_TCPI_OPT_WSCALE     4

/* Times in microseconds; snd_cwnd/snd_ssthresh in segments (as in ss -ti),
 * snd_cwnd_bytes in bytes. */
struct bd_tcp_info {
	uint32_t state, ca_state, retransmits, probes, backoff, options;
	uint32_t snd_wscale, rcv_wscale;
	uint32_t rto, snd_mss, rcv_mss, unacked, sacked, lost, retrans;
	uint32_t last_data_sent, last_data_recv, last_ack_recv;
	uint32_t rtt, rttvar, min_rtt, snd_ssthresh, snd_cwnd, advmss;
	uint32_t total_retrans, snd_wnd, rcv_wnd, notsent_bytes;
	uint32_t snd_cwnd_bytes, pipe, dsack_dups, reord_seen;
	uint64_t bytes_sent, bytes_retrans, bytes_acked, bytes_received;
	uint64_t segs_out, segs_in, data_segs_out, data_segs_in;
	uint64_t delivery_rate; /* bytes per second */
	char cc[16];
};
int bd_tcp_get_info(const struct bd_tcp_sock *s, struct bd_tcp_info *info);

/* Generic field table for printing bd_tcp_info (names as in Linux). Sizes
 * are 4 or 8 bytes; the list ends with name NULL. */
struct bd_tcp_field {
	const char *name;
	uint16_t offset;
	uint8_t size;
};
extern const struct bd_tcp_field bd_tcp_info_fields[];

/* --- global counters (Tcp / TcpExt MIB names, plus Braid drops) ----------- */

struct bd_tcp_mib {
	/* Tcp: */
	uint64_t ActiveOpens, PassiveOpens, AttemptFails, EstabResets;
	uint64_t CurrEstab, InSegs, OutSegs, RetransSegs, InErrs, OutRsts;
	uint64_t InCsumErrors;
	/* TcpExt: */
	uint64_t SyncookiesSent, EmbryonicRsts, TW, TWRecycled, TWKilled;
	uint64_t PAWSActive, PAWSEstab, DelayedACKs, ListenOverflows;
	uint64_t ListenDrops, TCPHPHits, TCPPureAcks, TCPHPAcks;
	uint64_t TCPSackRecovery, TCPRenoRecovery, TCPSACKReneging;
	uint64_t TCPSackFailures, TCPLossFailures, TCPFastRetrans;
	uint64_t TCPSlowStartRetrans, TCPTimeouts, TCPLossProbes;
	uint64_t TCPRenoRecoveryFail, TCPSackRecoveryFail;
	uint64_t TCPDSACKOldSent, TCPDSACKOfoSent, TCPDSACKRecv;
	uint64_t TCPDSACKOfoRecv, TCPAbortOnData, TCPAbortOnClose;
	uint64_t TCPAbortOnTimeout, TCPAbortOnLinger, TCPAbortFailed;
	uint64_t TCPSACKDiscard, TCPDSACKIgnoredOld, TCPSpuriousRTOs;
	uint64_t TCPSackShifted, TCPSackMerged, TCPBacklogDrop;
	uint64_t TCPOFOQueue, TCPOFODrop, TCPOFOMerge;
	uint64_t TCPChallengeACK, TCPSYNChallenge, TCPChallengeACKLimit;
	uint64_t TCPFastOpenActive, TCPSpuriousRtxHostQueues;
	uint64_t TCPRcvCoalesce, TCPZeroWindowDrop, TCPRcvQDrop;
	uint64_t TCPWantZeroWindowAdv, TCPToZeroWindowAdv;
	uint64_t TCPFromZeroWindowAdv, TCPWinProbe, TCPKeepAlive;
	uint64_t TCPOrigDataSent, TCPACKSkippedPAWS, TCPACKSkippedSeq;
	uint64_t TCPACKSkippedChallenge, TCPDelivered, TCPAckCompressed;
	uint64_t TCPACKSkippedTimeWait;
	uint64_t TCPTimeWaitOverflow, OutOfWindowIcmps, TCPMemoryPressures;
	uint64_t TCPLostRetransmit;
	/* Braid drops and events (no kernel counterpart): */
	uint64_t BraidDropShort;       /* shorter than a TCP header */
	uint64_t BraidDropBadDoff;     /* data offset < 5 or past the end */
	uint64_t BraidDropBadCsum;     /* checksum mismatch */
	uint64_t BraidDropBadOption;   /* bogus option length / value */
	uint64_t BraidDropBadFlags;    /* SYN+FIN, SYN+RST, no flags, ... */
	uint64_t BraidDropBadPort;     /* port 0 */
	uint64_t BraidDropBadAddr;     /* broadcast/multicast/unsupported */
	uint64_t BraidDropOutOfWindow; /* sequence not acceptable */
	uint64_t BraidDropBadAck;      /* ACK outside the acceptable range */
	uint64_t BraidDropNoSocket;    /* nothing listening: RST sent */
	uint64_t BraidDropNoMem;       /* packet or socket allocation */
	uint64_t BraidDropState;       /* not acceptable in this state */
	uint64_t BraidDropUlp;	       /* refused by the upper layer */
	uint64_t BraidDropRst;	       /* RST ignored (out of window) */
	uint64_t BraidDropSynRecvAck;  /* bad ACK in SYN-RECEIVED */
	uint64_t BraidOutNoMem;	       /* segment not sent: no buffer */
	uint64_t BraidOutErrors;       /* bd_ip_output refused a segment */
	uint64_t BraidRtoMax;	       /* RTO clamped at rto_max */
	uint64_t BraidEphemeralExhausted;
	uint64_t TCPHystartDelayDetect; /* slow start left by HyStart++ */
};
/* The name table: {name, offset} of every field, ending with name NULL. */
extern const struct bd_tcp_field bd_tcp_mib_fields[];
const struct bd_tcp_mib *bd_tcp_get_mib(const struct bd_tcp_stack *ts);
/* The value of a counter by name, or UINT64_MAX if no such counter. */
uint64_t bd_tcp_mib_get(const struct bd_tcp_stack *ts, const char *name);

/* --- congestion control ops ----------------------------------------------- */

/* The part of a socket a congestion controller sees and changes. cwnd and
 * ssthresh are in bytes. */
struct bd_tcp_cc_state {
	uint32_t cwnd, ssthresh, mss;
	uint32_t srtt_us, min_rtt_us, last_rtt_us;
	uint32_t bytes_in_flight;
	uint32_t snd_una, snd_nxt;
	uint64_t now_us;
	uint8_t ca_state; /* enum bd_tcp_ca_state */
	/* Connection-level context for coupled controllers (MPTCP: the
	 * connection holding every subflow's bd_tcp_cc_state); set with
	 * bd_tcp_set_cc_conn(). NULL for plain TCP. */
	void *conn;
	struct bd_tcp_sock *sk;
	/* Private state of the controller. */
	uint64_t priv[16];
};

/* Events for cwnd_event. */
enum bd_tcp_cc_event {
	BD_CC_EV_TX_START = 0, /* first transmission after idle */
	BD_CC_EV_LOSS_RTO,     /* retransmission timeout */
	BD_CC_EV_RECOVERY_END, /* fast recovery finished */
};

struct bd_tcp_cc_ops {
	const char *name;
	void (*init)(struct bd_tcp_cc_state *cc);
	void (*release)(struct bd_tcp_cc_state *cc);
	/* New ssthresh (bytes) on a loss event (fast retransmit or RTO). */
	uint32_t (*ssthresh)(struct bd_tcp_cc_state *cc);
	/* An ACK acknowledged `acked` new bytes outside loss recovery:
	 * grow cc->cwnd (slow start and congestion avoidance). A coupled
	 * controller reads its siblings through cc->conn here. */
	void (*cong_avoid)(struct bd_tcp_cc_state *cc, uint32_t acked);
	/* Optional: an RTT sample (us) taken from this ACK. */
	void (*pkts_acked)(struct bd_tcp_cc_state *cc, uint32_t acked,
			   uint32_t rtt_us);
	/* Optional: a state change (enum bd_tcp_ca_state). */
	void (*set_state)(struct bd_tcp_cc_state *cc, uint8_t new_state);
	/* Optional: see enum bd_tcp_cc_event. */
	void (*cwnd_event)(struct bd_tcp_cc_state *cc, int ev);
};

/* Register a controller (at start-up, before workers run); at most 16. */
int bd_tcp_cc_register(const struct bd_tcp_cc_ops *ops);
const struct bd_tcp_cc_ops *bd_tcp_cc_find(const char *name);
extern const struct bd_tcp_cc_ops bd_tcp_cc_newreno;
extern const struct bd_tcp_cc_ops bd_tcp_cc_cubic;
/* Set the connection-level context a coupled controller sees. */
void bd_tcp_set_cc_conn(struct bd_tcp_sock *s, void *conn);
const struct bd_tcp_cc_state *bd_tcp_get_cc_state(const struct bd_tcp_sock *s);
/* The end of the highest SACKed block (snd_una when nothing is SACKed) and
 * the highest sequence sent (snd_max). */
void bd_tcp_sack_edge(const struct bd_tcp_sock *s, uint32_t *sack_high,
		      uint32_t *snd_max);

/* --- the adaptation layer (upper layer protocol hooks) -------------------- */

/* One segment, as the upper layer sees it. seq/len are the segment's
 * sequence number and payload length (SYN and FIN not counted in len). */
struct bd_tcp_seg_desc {
	uint32_t seq, ack, len;
	uint8_t flags; /* BD_TCP_F_* */
	uint16_t wnd;  /* raw window field */
	bool rtx;      /* out: bytes sent before (a retransmission) */
	/* out: TCP has SACK blocks for this segment, written after the
	 * upper layer's options in what room is left (an option the peer
	 * can do without for one segment had better leave room for them). */
	bool sack;
};

#define BD_TCP_F_FIN 0x01
#define BD_TCP_F_SYN 0x02
#define BD_TCP_F_RST 0x04
#define BD_TCP_F_PSH 0x08
#define BD_TCP_F_ACK 0x10
#define BD_TCP_F_URG 0x20
#define BD_TCP_F_ECE 0x40
#define BD_TCP_F_CWR 0x80

enum bd_tcp_ulp_event {
	BD_TCP_ULP_ESTABLISHED = 0, /* arg unused */
	BD_TCP_ULP_ACKED,	    /* arg = new snd_una (subflow seq) */
	BD_TCP_ULP_PEER_FIN,	    /* arg = seq of the FIN */
	BD_TCP_ULP_CLOSED,	    /* arg = errno (0 orderly) */
};

/* Hooks through which a protocol above TCP (MPTCP) works at subflow level.
 * Every hook is optional. They run inside TCP processing: they must not
 * close or abort the socket they are called for (they may send, and may
 * call bd_tcp_ulp_send_ack()). */
struct bd_tcp_ulp_ops {
	const char *name;
	/* Option bytes write_opts usually adds to a data segment, for
	 * sizing payload; 0..40. write_opts runs before TCP's own options
	 * (SACK blocks take what it leaves) and a segment is cut to fit
	 * whatever it wrote. */
	uint8_t data_opt_reserve;
	/* Write options into an outgoing segment (SYN, SYN-ACK and every
	 * other segment, including pure ACKs, retransmissions and the RSTs a
	 * connection sends; flags tells which). At most
	 * `space` bytes; returns the bytes written (TCP pads to 4). */
	unsigned (*write_opts)(void *uctx, struct bd_tcp_sock *s,
			       const struct bd_tcp_seg_desc *seg, uint8_t *opt,
			       unsigned space);
	/* Every option TCP does not understand (opt[0] = kind, opt[1] =
	 * len, len bytes), of every accepted segment including the SYN and
	 * SYN-ACK, before TCP processes the segment's ACK and data. */
	void (*rcv_opt)(void *uctx, struct bd_tcp_sock *s,
			const struct bd_tcp_seg_desc *seg, const uint8_t *opt,
			unsigned len);
	/* Subflow events (enum bd_tcp_ulp_event). */
	void (*event)(void *uctx, struct bd_tcp_sock *s, int ev, uint32_t arg);
	/* In-order received data with the subflow sequence number of its
	 * first byte. Returns how many bytes the upper layer took; the rest
	 * stays in the receive buffer (take it later with bd_tcp_recv(); its
	 * first byte's seq is bd_tcp_rcv_seq()). Without this hook, data goes
	 * to the buffer and on_readable. */
	size_t (*rcv_data)(void *uctx, struct bd_tcp_sock *s, uint32_t seq,
			   const uint8_t *data, size_t len);
	/* Listener only: a SYN arrived and `child` (SYN-RECEIVED) was made
	 * for it. opts/optlen is the SYN's raw option block. Return 0 to
	 * accept (and set *child_uctx, the child's hook context), or
	 * -BD_ECONNREFUSED to answer with RST, or another negative value to
	 * drop the SYN silently. */
	int (*syn_rcv)(void *uctx, struct bd_tcp_sock *listener,
		       struct bd_tcp_sock *child,
		       const struct bd_tcp_seg_desc *seg, const uint8_t *opts,
		       unsigned optlen, void **child_uctx);
	/* Listener only: options for the RST that answers a SYN syn_rcv
	 * refused with -BD_ECONNREFUSED (MPTCP's MP_TCPRST with the reason).
	 * At most `space` bytes; returns the bytes written. */
	unsigned (*refuse_opts)(void *uctx, struct bd_tcp_sock *listener,
				uint8_t *opt, unsigned space);
	/* Cap the payload of a data segment starting at seq (first
	 * transmissions and retransmissions alike), e.g. so that no segment
	 * spans two upper-layer mappings. Returns 1..len; 0 or more than len
	 * means len. */
	uint32_t (*seg_limit)(void *uctx, struct bd_tcp_sock *s, uint32_t seq,
			      uint32_t len);
	/* The upper layer's receive window (bytes; TCP's own value is
	 * `wnd`): returns the window TCP advertises instead, smaller or
	 * larger. TCP advertises it even if that moves this socket's right
	 * edge left (the upper layer keeps a right edge of its own that never
	 * does, as MPTCP's data-level one, RFC 8684 3.3.4), still accepts
	 * data up to the edge it advertised before, and accepts in-window data
	 * by this window too; what then does not fit in its buffer is dropped
	 * (TCPRcvQDrop) and comes again. */
	uint32_t (*rcv_wnd)(void *uctx, struct bd_tcp_sock *s, uint32_t wnd);
	/* The socket is being freed (once per socket, with its uctx): no
	 * hook is called for it afterwards. */
	void (*release)(void *uctx, struct bd_tcp_sock *s);
	/* The timer armed with bd_tcp_ulp_timer() is due (it runs among
	 * TCP's timers; it may send, like the other hooks). */
	void (*timer)(void *uctx, struct bd_tcp_sock *s);
};

/* Bind an upper layer to a socket that has not sent its SYN yet (or use
 * bd_tcp_opts.ulp). */
int bd_tcp_set_ulp(struct bd_tcp_sock *s, const struct bd_tcp_ulp_ops *ops,
		   void *uctx);
void *bd_tcp_get_ulp_ctx(const struct bd_tcp_sock *s);
/* Sequence number of the next byte bd_tcp_recv() returns. */
uint32_t bd_tcp_rcv_seq(const struct bd_tcp_sock *s);
/* Sequence number the next new byte queued with bd_tcp_send() gets. */
uint32_t bd_tcp_snd_seq(const struct bd_tcp_sock *s);
/* Send a pure ACK now (e.g. to carry an upper-layer option). */
int bd_tcp_ulp_send_ack(struct bd_tcp_sock *s);
/* Keep back (hold) or let go the SYN of an active open that has not sent
 * it yet, e.g. until the upper layer's peer can accept it. A held SYN
 * leaves at the next bd_tcp_flush() after it is let go; until then no
 * timer runs for it. -BD_EINVAL once the SYN went out. */
int bd_tcp_ulp_hold_syn(struct bd_tcp_sock *s, bool hold);
/* Send a window probe now (a segment below snd_una, which the peer
 * answers with an ACK carrying its current window). */
int bd_tcp_ulp_send_probe(struct bd_tcp_sock *s);
/* Take back queued bytes that never went out: the send buffer ends at seq
 * again (seq at or past everything sent, no FIN queued). Returns the
 * bytes taken back, or -BD_EINVAL. */
long bd_tcp_ulp_unqueue(struct bd_tcp_sock *s, uint32_t seq);
/* Start the retransmission timer's backoff over: with data unacknowledged
 * and the timer backed off, the next retransmission is due one RTO from
 * now instead of after the doubled wait (e.g. a path the upper layer puts
 * back into use after it went dark). Returns true if the timer moved. */
bool bd_tcp_ulp_restart_rto(struct bd_tcp_sock *s);
/* The upper layer learnt that the peer takes wnd bytes past snd_una (its
 * shared window): raise the send window to it if smaller, leaving the
 * persist state. Returns true if raised. */
bool bd_tcp_ulp_raise_snd_wnd(struct bd_tcp_sock *s, uint32_t wnd);
/* Arm the upper layer's one-shot timer of s for at_us (stack clock; 0
 * cancels): the ULP's `timer` hook runs then, unless the socket closed.
 * -BD_ENOTCONN for a socket without ULP or already closed. */
int bd_tcp_ulp_timer(struct bd_tcp_sock *s, uint64_t at_us);

/* --- fuzzing -------------------------------------------------------------- */

/* Build a stack with a listener (10.0.0.1:80) and an established
 * connection (10.0.0.1:80 <-> 10.0.0.2:40000), feed `data` as the TCP
 * segment (first byte chooses target, checksum and option handling), run
 * the timers, and free everything. Never crashes on any input. */
int bd_tcp_fuzz_one(const uint8_t *data, size_t len);

#endif
