/* SPDX-License-Identifier: Apache-2.0
 *
 * Braid MPTCP v1 (RFC 8684): the protocol core, laid out like Linux
 * net/mptcp, one file per concern:
 *   mptcp_opt.c      options codec (parse validates every length and flag)
 *   mptcp_crypto.c   keys, tokens, IDSNs, HMAC-SHA256 (OpenSSL libcrypto)
 *   mptcp_dss.c      mappings, 32->64-bit DSN expansion, DSS checksums
 *   mptcp_recv.c     data-level reassembly and the shared receive window
 *   mptcp_send.c     data-level send queue, data ACKs and reinjection
 *   mptcp_mib.c      MPTcpExt counters and the mptcp_info-like snapshot
 *   mptcp_ctx.c      socket manager: connections, token table, subflows
 *   mptcp_subflow.c  the glue to TCP through struct bd_tcp_ulp_ops
 *   mptcp_sched.c    packet schedulers (ops table, per connection)
 *   mptcp_pm.c       path manager modes, endpoints, external calls,
 *                    re-establishment, subflow events
 *   mptcp_cc.c       coupled congestion control (LIA, OLIA, BALIA)
 *   mptcp_diag.c     the per-connection telemetry snapshot
 *
 * The data-level pieces (bd_mptcp_rcv, bd_mptcp_snd, bd_mptcp_maps) know
 * nothing of TCP and are tested on their own.
 *
 * Use (one bd_mptcp_stack per worker, after its TCP stack exists):
 *   ms = bd_mptcp_stack_create(st, &cfg);
 *   l = bd_mptcp_listen(ms, NULL, port, backlog, &cb, ctx, &err);
 *   sk = bd_mptcp_connect(ms, &laddr, 0, &raddr, port, &cb, ctx, &err);
 *   bd_mptcp_send / bd_mptcp_recv / bd_mptcp_shutdown / bd_mptcp_close,
 *   callbacks as for TCP sockets; bd_mptcp_add_subflow() for MP_JOIN,
 *   bd_mptcp_announce() / bd_mptcp_remove_addr() for ADD_ADDR /
 *   REMOVE_ADDR, bd_mptcp_set_backup() for MP_PRIO, bd_mptcp_abort() for
 *   MP_FASTCLOSE; bd_mptcp_get_info(), bd_mptcp_snapshot() and
 *   bd_mptcp_mib_get() for telemetry; bd_mptcp_set_scheduler(),
 *   bd_mptcp_set_pm(), bd_mptcp_set_cc(), bd_mptcp_set_weight() and the
 *   bd_mptcp_pm_*() calls per connection while it runs;
 *   bd_mptcp_set_event_handler() for subflow events. Segments flow through the
 * TCP stack as usual (bd_tcp_input, bd_tcp_timers, bd_tcp_flush): MPTCP runs
 * inside its hooks. bd_mptcp_stack_destroy(ms) before the TCP stack goes.
 *
 * Wire behaviour follows the Linux kernel: MP_CAPABLE with both keys on
 * the third ACK and on the first data (with its data-level length), DSS
 * with an 8-byte DSN and a 4-byte data ACK (both widths accepted), a
 * DATA_FIN alone as DSN after the data / SSN 0 / length 1, ADD_ADDR always
 * with its HMAC and echoed on a pure ACK.
 */
#ifndef BRAID_MPTCP_H
#define BRAID_MPTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid/stack.h"

#define BD_TCPOPT_MPTCP	    30
#define BD_MPTCP_VERSION    1
#define BD_MPTCP_OPT_MAX    40 /* longest option (TCP option space) */
#define BD_MPTCP_RM_IDS_MAX 8  /* REMOVE_ADDR ids per option (as Linux) */

/* --- options ------------------------------------------------------------ */

enum bd_mptcp_subtype {
	BD_MPTCPOPT_MP_CAPABLE = 0,
	BD_MPTCPOPT_MP_JOIN = 1,
	BD_MPTCPOPT_DSS = 2,
	BD_MPTCPOPT_ADD_ADDR = 3,
	BD_MPTCPOPT_RM_ADDR = 4,
	BD_MPTCPOPT_MP_PRIO = 5,
	BD_MPTCPOPT_MP_FAIL = 6,
	BD_MPTCPOPT_MP_FASTCLOSE = 7,
	BD_MPTCPOPT_MP_TCPRST = 8,
	BD_MPTCPOPT_NSUBTYPES
};
#define BD_MPTCP_HAS(subtype) (1u << (subtype))

/* MP_CAPABLE flags (byte 3): A (checksum required), B (extensibility, must
 * be 0), C (do not join to the source address), H (HMAC-SHA256). D..G
 * must be 0: like Linux, only the H algorithm is accepted. */
#define BD_MPC_FLAG_A 0x80
#define BD_MPC_FLAG_B 0x40
#define BD_MPC_FLAG_C 0x20
#define BD_MPC_FLAG_H 0x01

/* The forms of MP_CAPABLE and MP_JOIN, told apart by length and SYN/ACK. */
enum bd_mptcp_form {
	BD_MPF_SYN = 0,	      /* MPC: 4 bytes; JOIN: 12 */
	BD_MPF_SYNACK,	      /* MPC: 12 (sender's key); JOIN: 16 */
	BD_MPF_ACK,	      /* MPC: 20 (both keys); JOIN: 24 (full HMAC) */
	BD_MPF_ACK_DATA,      /* MPC only: 22 (+ data-level length) */
	BD_MPF_ACK_DATA_CSUM, /* MPC only: 24 (+ checksum) */
};

/* DSS flags (byte 3, low 5 bits). */
#define BD_DSS_A 0x01 /* data ACK present */
#define BD_DSS_a 0x02 /* data ACK is 8 octets */
#define BD_DSS_M 0x04 /* mapping present */
#define BD_DSS_m 0x08 /* DSN is 8 octets */
#define BD_DSS_F 0x10 /* DATA_FIN */

/* MP_TCPRST: flag T (transient) and the reason codes of RFC 8684 3.6. */
#define BD_TCPRST_FLAG_T 0x01
enum bd_mptcp_rst_reason {
	BD_MPTCP_RST_EUNSPEC = 0,
	BD_MPTCP_RST_EMPTCP = 1,
	BD_MPTCP_RST_ERESOURCE = 2,
	BD_MPTCP_RST_EPROHIBIT = 3,
	BD_MPTCP_RST_EWQ2BIG = 4,
	BD_MPTCP_RST_EBADPERF = 5,
	BD_MPTCP_RST_EMIDDLEBOX = 6,
};

struct bd_mptcp_mpc {
	uint8_t form; /* enum bd_mptcp_form */
	uint8_t version;
	uint8_t flags;	   /* BD_MPC_FLAG_* */
	uint64_t snd_key;  /* SYN-ACK and ACK */
	uint64_t rcv_key;  /* ACK */
	uint16_t data_len; /* ACK_DATA(_CSUM) */
	uint16_t csum;	   /* ACK_DATA_CSUM */
};

struct bd_mptcp_join {
	uint8_t form; /* SYN, SYNACK or ACK */
	bool backup;
	uint8_t addr_id;  /* SYN, SYNACK */
	uint32_t token;	  /* SYN: the receiver's token */
	uint32_t nonce;	  /* SYN, SYNACK: the sender's random number */
	uint64_t thmac;	  /* SYNACK: leftmost 64 bits of the HMAC */
	uint8_t hmac[20]; /* ACK: leftmost 160 bits of the HMAC */
};

struct bd_mptcp_dss {
	uint8_t flags;	   /* BD_DSS_* */
	uint64_t data_ack; /* 32 or 64 bits as on the wire (see BD_DSS_a) */
	uint64_t dsn;	   /* 32 or 64 bits as on the wire (see BD_DSS_m) */
	uint32_t ssn;	   /* relative subflow sequence number */
	uint16_t dll;	   /* data-level length (DATA_FIN counts 1) */
	bool has_csum;
	uint16_t csum;
};

struct bd_mptcp_add_addr {
	bool echo;
	uint8_t addr_id;
	struct bd_ipaddr addr;
	uint16_t port; /* 0: none on the wire */
	uint64_t hmac; /* truncated (rightmost 64 bits); absent on echo */
};

struct bd_mptcp_rm_addr {
	uint8_t n;
	uint8_t ids[BD_MPTCP_RM_IDS_MAX];
};

/* Every MPTCP option of one segment (or one option to write). A repeated
 * subtype in one segment replaces the earlier one, as in Linux. */
struct bd_mptcp_opts {
	uint32_t present; /* BD_MPTCP_HAS(subtype) bits */
	struct bd_mptcp_mpc mpc;
	struct bd_mptcp_join join;
	struct bd_mptcp_dss dss;
	struct bd_mptcp_add_addr add_addr;
	struct bd_mptcp_rm_addr rm_addr;
	bool prio_backup;
	uint64_t fail_dsn;
	uint64_t fastclose_key; /* the option receiver's key */
	uint8_t rst_flags;	/* BD_TCPRST_FLAG_* */
	uint8_t rst_reason;
};

/* Parse errors (negated on return). */
enum bd_mptcp_perr {
	BD_MPTCP_PERR_LEN = 1, /* length wrong for the subtype/form */
	BD_MPTCP_PERR_FLAGS,   /* flags not allowed */
	BD_MPTCP_PERR_VERSION, /* MP_CAPABLE version other than 1 */
	BD_MPTCP_PERR_SUBTYPE, /* unknown subtype */
	BD_MPTCP_PERR_CONTEXT, /* form does not fit the segment's SYN/ACK */
};

struct bd_mptcp_mib;

/* Refused on parse: a length that is not one of the subtype's (or its
 * form's), MP_CAPABLE with a version other than 1, the B flag or a crypto
 * algorithm other than H, an MP_CAPABLE/MP_JOIN form that does not fit
 * the segment's SYN/ACK flags, DSS/ADD_ADDR/... on a SYN, MP_TCPRST
 * without RST, a DATA_FIN without a mapping, an ADD_ADDR port of 0, an
 * unknown subtype. Reserved bits are ignored, as RFC 8684 asks.
 *
 * Parse one option (opt[0] = 30, opt[1] = len = total length) of a segment
 * with TCP flags tcp_flags (BD_TCP_F_*), into o (only the subtype's part
 * and its present bit are written). Returns the subtype, or a negative
 * -BD_MPTCP_PERR_*; a refused option is counted in mib (may be NULL). */
int bd_mptcp_opt_parse(struct bd_mptcp_opts *o, const uint8_t *opt,
		       unsigned len, uint8_t tcp_flags,
		       struct bd_mptcp_mib *mib);
/* Walk a whole TCP option block and parse each MPTCP option in it. Returns
 * the number of MPTCP options accepted, or -BD_MPTCP_PERR_LEN if the block
 * itself is malformed. */
int bd_mptcp_opts_parse_block(struct bd_mptcp_opts *o, const uint8_t *opts,
			      unsigned len, uint8_t tcp_flags,
			      struct bd_mptcp_mib *mib);
/* Wire length of one option of o (subtype), 0 if it cannot be written. */
unsigned bd_mptcp_opt_len(const struct bd_mptcp_opts *o, unsigned subtype);
/* Write one option (subtype) of o at buf. Returns the bytes written, or 0
 * if it does not fit in `space` or o holds something not encodable. */
unsigned bd_mptcp_opt_write(const struct bd_mptcp_opts *o, unsigned subtype,
			    uint8_t *buf, unsigned space);
/* Length of a DSS option with these flags (and checksum or not). */
unsigned bd_mptcp_dss_len(uint8_t flags, bool csum);
const char *bd_mptcp_subtype_name(unsigned subtype);

/* --- crypto (SHA-256 / HMAC-SHA256 from libcrypto) ----------------------- */

/* token = most significant 32 bits of SHA-256(key), IDSN = least
 * significant 64 bits; the key is hashed in network byte order. */
void bd_mptcp_key_sha(uint64_t key, uint32_t *token, uint64_t *idsn);
uint32_t bd_mptcp_token(uint64_t key);
uint64_t bd_mptcp_idsn(uint64_t key);
/* HMAC-SHA256 with key = key1 || key2 (big-endian) over msg. */
void bd_mptcp_hmac(uint64_t key1, uint64_t key2, const uint8_t *msg, size_t len,
		   uint8_t out[32]);
/* MP_JOIN: HMAC(key1||key2, nonce1||nonce2). The SYN-ACK carries the
 * leftmost 64 bits (sender = key1/nonce1), the third ACK 160 bits. */
void bd_mptcp_join_hmac(uint64_t key1, uint64_t key2, uint32_t nonce1,
			uint32_t nonce2, uint8_t out[32]);
uint64_t bd_mptcp_join_thmac(uint64_t key1, uint64_t key2, uint32_t nonce1,
			     uint32_t nonce2);
/* ADD_ADDR: rightmost 64 bits of HMAC(sender key || receiver key,
 * id || address || port (0 if none)). */
uint64_t bd_mptcp_add_addr_hmac(uint64_t snd_key, uint64_t rcv_key,
				uint8_t addr_id, const struct bd_ipaddr *addr,
				uint16_t port);
/* Constant-time compare. */
bool bd_mptcp_mem_eq(const void *a, const void *b, size_t n);

/* --- counters (MPTcpExt names) and per-connection info ------------------- */

struct bd_mptcp_mib {
	uint64_t MPCapableSYNRX, MPCapableSYNTX, MPCapableSYNACKRX;
	uint64_t MPCapableACKRX, MPCapableFallbackACK, MPCapableFallbackSYNACK;
	uint64_t MPFallbackTokenInit, MPTCPRetrans, MPJoinNoTokenFound;
	uint64_t MPJoinSynRx, MPJoinSynBackupRx, MPJoinSynAckRx;
	uint64_t MPJoinSynAckBackupRx, MPJoinSynAckHMacFailure, MPJoinAckRx;
	uint64_t MPJoinAckHMacFailure, MPJoinSynTx, MPJoinSynTxCreatSkErr;
	uint64_t DSSNotMatching, DSSCorruptionFallback, DSSCorruptionReset;
	uint64_t InfiniteMapTx, InfiniteMapRx, DSSNoMatchTCP, DataCsumErr;
	uint64_t OFOQueueTail, OFOQueue, OFOMerge, NoDSSInWindow;
	uint64_t DuplicateData, AddAddr, AddAddrTx, AddAddrTxDrop, EchoAdd;
	uint64_t EchoAddTx, AddAddrDrop, PortAdd, MismatchPortSynRx;
	uint64_t RmAddr, RmAddrDrop, RmAddrTx, RmSubflow, MPPrioTx, MPPrioRx;
	uint64_t MPFailTx, MPFailRx, MPFastcloseTx, MPFastcloseRx, MPRstTx;
	uint64_t MPRstRx, RcvPruned, SubflowStale, SubflowRecover;
	uint64_t SndWndShared, RcvWndShared, RcvWndConflictUpdate;
	uint64_t MPCurrEstab, Blackhole;
	/* Braid (no kernel counterpart): refused options by reason. */
	uint64_t BraidOptBadLen, BraidOptBadFlags, BraidOptBadVersion;
	uint64_t BraidOptBadSubtype, BraidOptBadContext;
	uint64_t BraidReinjectBytes;
	/* The PM opened a failed subflow again; a scheduler held data back
	 * while a subflow had room (blest, ecf, weighted); a received
	 * mapping found the subflow's mapping table full. */
	uint64_t BraidSubflowRetry, BraidSchedWait, BraidMapTableFull;
	/* Window probes sent while the peer's data-level window was closed
	 * with nothing in flight. */
	uint64_t BraidDataWndProbe;
	/* A subflow set regular again with its retransmission timer backed
	 * off: the backoff started over (its path is probed within an RTO). */
	uint64_t BraidPrioRtoRestart;
	/* Bytes mapped onto a subflow and never sent, taken back when
	 * another subflow failed (mapped again after the reinjection). */
	uint64_t BraidReclaimBytes;
};

struct bd_mptcp_field {
	const char *name;
	uint16_t offset;
	uint8_t size;
	/* A 64-bit data sequence number (mptcp_info's write_seq, snd_una,
	 * rcv_nxt): an identifier that takes any 64-bit value from the start
	 * (random IDSN), not a count; exporters keep it exact (the addon: a
	 * BigInt). */
	bool seq;
};
/* {name, offset, size, seq} of every counter, ending with name NULL. */
extern const struct bd_mptcp_field bd_mptcp_mib_fields[];
/* A counter by name, UINT64_MAX if there is none. */
uint64_t bd_mptcp_mib_value(const struct bd_mptcp_mib *mib, const char *name);

/* Field names of Linux struct mptcp_info. */
struct bd_mptcp_info {
	uint8_t mptcpi_subflows, mptcpi_add_addr_signal;
	uint8_t mptcpi_add_addr_accepted, mptcpi_subflows_max;
	uint8_t mptcpi_add_addr_signal_max, mptcpi_add_addr_accepted_max;
	uint32_t mptcpi_flags;
	uint32_t mptcpi_token;
	uint64_t mptcpi_write_seq, mptcpi_snd_una, mptcpi_rcv_nxt;
	uint8_t mptcpi_local_addr_used, mptcpi_local_addr_max;
	uint8_t mptcpi_csum_enabled;
	uint32_t mptcpi_retransmits;
	uint64_t mptcpi_bytes_retrans, mptcpi_bytes_sent;
	uint64_t mptcpi_bytes_received, mptcpi_bytes_acked;
	uint8_t mptcpi_subflows_total;
	uint32_t mptcpi_last_data_sent, mptcpi_last_data_recv;
	uint32_t mptcpi_last_ack_recv;
};
/* mptcpi_flags bits (as Linux MPTCP_INFO_FLAG_*). */
#define BD_MPTCP_INFO_FLAG_FALLBACK	       0x1
#define BD_MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED 0x2
extern const struct bd_mptcp_field bd_mptcp_info_fields[];

/* --- data sequence numbers, mappings and DSS checksums ------------------- */

/* The 64-bit value with low 32 bits `low` closest to `ref`. */
uint64_t bd_mptcp_expand_seq(uint64_t ref, uint32_t low);

/* DSS checksum (RFC 8684 3.3.1): ones' complement sum over a pseudo
 * header (DSN 64, relative subflow seq 32, data-level length 16, zero
 * checksum 16) and the payload. payload_sum is bd_csum_add(0, payload,
 * len) over the whole mapping's payload (as one buffer). Returns the value
 * to put on the wire; verification passes when recomputing over the
 * received payload gives the received value. */
uint16_t bd_mptcp_dss_csum(uint64_t dsn, uint32_t ssn, uint16_t dll,
			   uint32_t payload_sum);
/* Add len payload bytes that sit `offset` bytes into a mapping to a
 * running payload sum (odd offsets handled); start with acc 0. */
uint32_t bd_mptcp_csum_acc(uint32_t acc, uint32_t offset, const uint8_t *data,
			   size_t len);

/* One mapping: subflow bytes [ssn, ssn+len) carry data bytes [dsn, ...). */
struct bd_mptcp_map {
	uint64_t dsn;
	uint32_t ssn; /* relative subflow sequence number */
	uint16_t dll; /* data-level length incl. DATA_FIN */
	uint16_t csum;
	bool has_csum;
	bool data_fin;
	bool infinite;
};

#define BD_MPTCP_MAPS 256
/* A subflow's received mappings not yet fully consumed, in SSN order. */
struct bd_mptcp_maps {
	struct bd_mptcp_map m[BD_MPTCP_MAPS];
	unsigned n;
	/* Checksum state of the mapping at m[0] while its data is gathered. */
	uint32_t csum_acc;
	uint32_t csum_done; /* payload bytes summed so far */
};

enum bd_mptcp_map_res {
	BD_MAP_NEW = 0,	 /* added */
	BD_MAP_SAME,	 /* identical to one already held */
	BD_MAP_MISMATCH, /* overlaps a held mapping differently */
	BD_MAP_FULL,	 /* table full */
	BD_MAP_OLD,	 /* entirely before `consumed` */
};
/* Add a mapping; consumed = relative SSN of the next byte to deliver. */
int bd_mptcp_maps_add(struct bd_mptcp_maps *t, const struct bd_mptcp_map *m,
		      uint32_t consumed);
/* The mapping covering relative SSN ssn, or NULL. */
const struct bd_mptcp_map *bd_mptcp_maps_find(const struct bd_mptcp_maps *t,
					      uint32_t ssn);
/* Drop mappings that end at or before relative SSN `consumed`. */
void bd_mptcp_maps_trim(struct bd_mptcp_maps *t, uint32_t consumed);

/* --- data-level receive: reassembly across subflows ---------------------- */

struct bd_mptcp_rseg;
struct bd_mptcp_rcv {
	uint64_t rcv_nxt;	   /* next in-order DSN (= data ACK) */
	uint32_t rcv_buf;	   /* shared receive buffer (bytes) */
	uint8_t *ring;		   /* in-order bytes not yet read */
	uint32_t head, used;	   /* ring read position and fill */
	struct bd_mptcp_rseg *ofo; /* out-of-order, sorted by DSN */
	uint32_t ofo_bytes;
	bool fin_seen;		 /* DATA_FIN received (fin_dsn valid) */
	bool fin_done;		 /* rcv_nxt passed the DATA_FIN */
	uint64_t fin_dsn;	 /* DSN of the DATA_FIN */
	uint64_t bytes_received; /* bytes that became in order */
};
int bd_mptcp_rcv_init(struct bd_mptcp_rcv *r, uint64_t idsn_plus1,
		      uint32_t rcv_buf);
void bd_mptcp_rcv_free(struct bd_mptcp_rcv *r);
/* Data bytes [dsn, dsn+len) from any subflow. Returns the bytes of it that
 * are new (in order or queued out of order); duplicates and data beyond
 * the window are counted and dropped. */
size_t bd_mptcp_rcv_data(struct bd_mptcp_rcv *r, uint64_t dsn,
			 const uint8_t *data, size_t len,
			 struct bd_mptcp_mib *mib);
/* A DATA_FIN at dsn (the data-level sequence number it occupies). */
void bd_mptcp_rcv_fin(struct bd_mptcp_rcv *r, uint64_t dsn);
/* Copy out in-order data; returns bytes (0 if none). */
size_t bd_mptcp_rcv_read(struct bd_mptcp_rcv *r, void *buf, size_t cap);
/* Free receive space: what the shared window advertises. */
uint32_t bd_mptcp_rcv_wnd(const struct bd_mptcp_rcv *r);
/* The data ACK to send (rcv_nxt, counting the DATA_FIN once passed). */
uint64_t bd_mptcp_rcv_ack(const struct bd_mptcp_rcv *r);
/* True once every byte up to the DATA_FIN was read. */
bool bd_mptcp_rcv_eof(const struct bd_mptcp_rcv *r);

/* --- data-level send queue and reinjection ------------------------------- */

struct bd_mptcp_txrange {
	uint64_t dsn;
	uint32_t len;
};

#define BD_MPTCP_REINJ_MAX 64
struct bd_mptcp_snd {
	uint64_t snd_una;   /* oldest unacknowledged DSN */
	uint64_t snd_nxt;   /* next new DSN to map onto a subflow */
	uint64_t write_seq; /* DSN after the last queued byte */
	uint64_t wnd_end;   /* peer's window right edge (data level); no
			     * new data goes out before the first ACK */
	uint32_t snd_buf;
	uint8_t *ring;	 /* bytes [snd_una, write_seq) */
	uint32_t head;	 /* ring index of snd_una */
	bool fin_queued; /* DATA_FIN after write_seq */
	bool fin_acked;
	/* Ranges to send again (from dead or stalled subflows). */
	struct bd_mptcp_txrange reinj[BD_MPTCP_REINJ_MAX];
	unsigned nreinj;
	uint64_t bytes_sent, bytes_acked, bytes_retrans;
	uint32_t retransmits;
};
int bd_mptcp_snd_init(struct bd_mptcp_snd *s, uint64_t idsn_plus1,
		      uint32_t snd_buf);
void bd_mptcp_snd_free(struct bd_mptcp_snd *s);
/* Queue bytes; returns how many fit. */
size_t bd_mptcp_snd_write(struct bd_mptcp_snd *s, const void *buf, size_t len);
size_t bd_mptcp_snd_space(const struct bd_mptcp_snd *s);
/* A data ACK (64-bit, already expanded) and the window it came with
 * (bytes, already scaled). Returns the bytes newly acknowledged; an ACK
 * beyond what was sent is ignored. */
uint64_t bd_mptcp_snd_ack(struct bd_mptcp_snd *s, uint64_t data_ack,
			  uint32_t wnd);
/* Next chunk to put on a subflow: reinjection first, then new data within
 * the peer's window. Returns its length (<= max, 0 if none) and sets
 * *dsn; *reinject tells which. Copy bytes with bd_mptcp_snd_copy(). */
uint32_t bd_mptcp_snd_next(struct bd_mptcp_snd *s, uint32_t max, uint64_t *dsn,
			   bool *reinject);
/* Copy len queued bytes starting at dsn (must be in [snd_una,
 * write_seq)). Returns bytes copied. */
size_t bd_mptcp_snd_copy(const struct bd_mptcp_snd *s, uint64_t dsn, void *buf,
			 size_t len);
/* Queue [dsn, dsn+len) for reinjection (the part not yet acknowledged).
 * Returns false when the queue is full. */
bool bd_mptcp_snd_reinject(struct bd_mptcp_snd *s, uint64_t dsn, uint32_t len);
/* Queue a DATA_FIN after everything written. */
void bd_mptcp_snd_fin(struct bd_mptcp_snd *s);

/* --- fallback (RFC 8684 3.7) --------------------------------------------- */

enum bd_mptcp_fb_reason {
	BD_MPTCP_FB_NONE = 0,
	BD_MPTCP_FB_NO_SYNACK_MPC, /* SYN-ACK without MP_CAPABLE */
	BD_MPTCP_FB_NO_ACK_MPC,	   /* third ACK / first data without MPC */
	BD_MPTCP_FB_NO_DSS,	   /* first data without a DSS mapping */
	BD_MPTCP_FB_CSUM,	   /* checksum failure on the only subflow */
	BD_MPTCP_FB_INFINITE,	   /* peer sent an infinite mapping */
	BD_MPTCP_FB_PLAIN_PEER,	   /* a SYN without MP_CAPABLE (listener) */
};

/* What a receiver does with a mapping whose checksum failed (RFC 8684
 * 3.7): fall back (infinite mapping, MP_FAIL) if it is the only subflow
 * and no data is in flight on others, else reset the subflow (MP_FAIL +
 * RST). */
enum bd_mptcp_fail_action {
	BD_MPTCP_FAIL_FALLBACK = 0,
	BD_MPTCP_FAIL_RESET_SUBFLOW,
};
int bd_mptcp_csum_fail_action(unsigned nsubflows, bool others_unacked);

/* --- connections (socket manager) ---------------------------------------- */

struct bd_tcp_stack;
struct bd_mptcp_stack;
struct bd_mptcp_sock;

struct bd_mptcp_config {
	uint32_t snd_buf, rcv_buf;     /* data-level buffers (bytes) */
	bool checksum;		       /* ask for DSS checksums (flag A) */
	uint8_t subflows_max;	       /* per connection, incl. the first (8) */
	uint8_t add_addr_accepted_max; /* ADD_ADDRs acted on (8) */
	uint32_t stall_rto;	       /* RTO backoffs before reinjecting (2) */
	bool auto_join;		       /* join the addresses a peer announces */
	/* Per-connection defaults (names as in bd_mptcp_set_scheduler(),
	 * bd_mptcp_set_pm(), bd_mptcp_set_cc()); NULL or "" = built-in
	 * default ("lowrtt", "kernel", the TCP stack's controller). */
	const char *scheduler;
	const char *pm;
	const char *cc;
	uint8_t ndiffports; /* pm "ndiffports": subflows in all (2) */
	/* Re-establishing a failed subflow: first wait, doubled per failed
	 * attempt up to the max (us), at most retries attempts in a row
	 * (0: never re-establish). Defaults 200 ms, 10 s, 8. */
	uint32_t reconnect_min_us, reconnect_max_us;
	uint8_t reconnect_retries;
};
void bd_mptcp_config_default(struct bd_mptcp_config *cfg);

/* The MPTCP part of a stack (after its TCP part exists); cfg may be NULL.
 * Destroy it before the TCP stack: connections still open are aborted. */
struct bd_mptcp_stack *bd_mptcp_stack_create(struct bd_stack *st,
					     const struct bd_mptcp_config *cfg);
void bd_mptcp_stack_destroy(struct bd_mptcp_stack *ms);
/* Subflow and connection objects the stack holds now (listeners and
 * subflows waiting for TCP to free their socket included): 0 and 0 once
 * every connection is closed and its TCP sockets are gone. */
void bd_mptcp_live_objects(const struct bd_mptcp_stack *ms, unsigned *subflows,
			   unsigned *conns);
const struct bd_mptcp_mib *bd_mptcp_get_mib(const struct bd_mptcp_stack *ms);
uint64_t bd_mptcp_mib_get(const struct bd_mptcp_stack *ms, const char *name);

/* Token steering, for stacks that share addresses (one per DPDK worker):
 * stack `idx` of `n` makes only local keys whose token % n == idx (random
 * keys drawn again until one does: n tries on average), so the token of an
 * MP_JOIN names the stack holding its connection, whichever side opened
 * it. `join` (may be NULL) hears when a passive MP_JOIN subflow starts (up
 * true; return false to refuse the join: RST with MP_TCPRST
 * "lack of resources") and when it is freed (up false), with its remote and
 * local address and port, so that its later segments can be steered here
 * too. Set before the first connection. */
typedef bool (*bd_mptcp_join_fn)(void *ctx, bool up,
				 const struct bd_ipaddr *raddr, uint16_t rport,
				 const struct bd_ipaddr *laddr, uint16_t lport);
void bd_mptcp_set_steering(struct bd_mptcp_stack *ms, unsigned n, unsigned idx,
			   bd_mptcp_join_fn join, void *ctx);

/* Callbacks, as for TCP sockets. */
struct bd_mptcp_callbacks {
	void (*on_accept)(void *ctx, struct bd_mptcp_sock *listener);
	void (*on_connected)(void *ctx, struct bd_mptcp_sock *sk);
	void (*on_readable)(void *ctx, struct bd_mptcp_sock *sk);
	void (*on_writable)(void *ctx, struct bd_mptcp_sock *sk);
	void (*on_peer_fin)(void *ctx, struct bd_mptcp_sock *sk);
	/* The peer acknowledged everything sent, DATA_FIN included: the
	 * subflows' send counters are final and the subflows still there. */
	void (*on_fin_acked)(void *ctx, struct bd_mptcp_sock *sk);
	void (*on_closed)(void *ctx, struct bd_mptcp_sock *sk, int err);
};

/* The socket API mirrors Braid TCP's (braid/tcp.h): handles stay valid
 * until bd_mptcp_close()/bd_mptcp_abort(). A listener accepts MPTCP and
 * plain TCP clients alike (the latter as fallen-back connections) and
 * takes MP_JOIN subflows for its connections. */
struct bd_mptcp_sock *bd_mptcp_listen(struct bd_mptcp_stack *ms,
				      const struct bd_ipaddr *laddr,
				      uint16_t port, int backlog,
				      const struct bd_mptcp_callbacks *cb,
				      void *ctx, int *err);
struct bd_mptcp_sock *bd_mptcp_accept(struct bd_mptcp_sock *listener,
				      const struct bd_mptcp_callbacks *cb,
				      void *ctx);
struct bd_mptcp_sock *
bd_mptcp_connect(struct bd_mptcp_stack *ms, const struct bd_ipaddr *laddr,
		 uint16_t lport, const struct bd_ipaddr *raddr, uint16_t rport,
		 const struct bd_mptcp_callbacks *cb, void *ctx, int *err);
long bd_mptcp_send(struct bd_mptcp_sock *sk, const void *buf, size_t len);
long bd_mptcp_recv(struct bd_mptcp_sock *sk, void *buf, size_t cap);
size_t bd_mptcp_readable(const struct bd_mptcp_sock *sk);
size_t bd_mptcp_writable(const struct bd_mptcp_sock *sk);
/* DATA_FIN after the queued data. */
int bd_mptcp_shutdown(struct bd_mptcp_sock *sk);
/* Release the handle: orderly (DATA_FIN, then the subflows close). */
void bd_mptcp_close(struct bd_mptcp_sock *sk);
/* Release the handle and reset: MP_FASTCLOSE on a subflow, RST on all. */
void bd_mptcp_abort(struct bd_mptcp_sock *sk);
void bd_mptcp_set_ctx(struct bd_mptcp_sock *sk, void *ctx);
void *bd_mptcp_get_ctx(const struct bd_mptcp_sock *sk);

/* Open one more subflow (MP_JOIN) from laddr (NULL: route's choice) to
 * raddr:rport. Returns the local address id used (>= 1) or -BD_E*. Asked
 * for before the connection is fully established (the client before the
 * peer's first DSS), its SYN waits until it is: the peer could not check
 * an earlier MP_JOIN. */
int bd_mptcp_add_subflow(struct bd_mptcp_sock *sk,
			 const struct bd_ipaddr *laddr,
			 const struct bd_ipaddr *raddr, uint16_t rport);
/* Announce a local address to the peer (ADD_ADDR with HMAC; repeated
 * until echoed). port 0: no port in the option. */
int bd_mptcp_announce(struct bd_mptcp_sock *sk, uint8_t id,
		      const struct bd_ipaddr *addr, uint16_t port);
/* Withdraw an announced address id (REMOVE_ADDR). */
int bd_mptcp_remove_addr(struct bd_mptcp_sock *sk, uint8_t id);
/* MP_PRIO: ask the peer to treat subflow i (0 = first) as backup. */
int bd_mptcp_set_backup(struct bd_mptcp_sock *sk, unsigned i, bool backup);
/* Addresses announced by the peer, as (id, addr, port); returns count. */
unsigned bd_mptcp_peer_addrs(const struct bd_mptcp_sock *sk, uint8_t *ids,
			     struct bd_ipaddr *addrs, uint16_t *ports,
			     unsigned max);
/* Subflow i's TCP socket (NULL past the end) and whether it is usable. */
struct bd_tcp_sock *bd_mptcp_subflow_tcp(const struct bd_mptcp_sock *sk,
					 unsigned i, bool *active);
bool bd_mptcp_is_fallback(const struct bd_mptcp_sock *sk);
/* enum bd_mptcp_fb_reason of a fallen-back connection. */
int bd_mptcp_fallback_reason(const struct bd_mptcp_sock *sk);
int bd_mptcp_get_info(const struct bd_mptcp_sock *sk,
		      struct bd_mptcp_info *info);

/* --- packet schedulers (mptcp_sched.c) -------------------------------------
 *
 * Like Linux's struct mptcp_sched_ops: per connection, switchable while it
 * runs. Before each chunk is mapped the scheduler sees every usable subflow
 * (established at the MPTCP level, not stalled) and picks the ones the next
 * chunk goes on, or none to wait for a better subflow. Backup subflows
 * (ours or the peer's MP_PRIO/MP_JOIN B flag) are offered only when no
 * other subflow is usable. Built in:
 *   "lowrtt"     lowest RTT with room (default; Linux "default")
 *   "roundrobin" the next subflow with room, in turn
 *   "redundant"  every chunk on every subflow with room
 *   "weighted"   bytes in proportion to per-subflow weights
 *   "blest"      lowest RTT, but skips a slow subflow whose data would
 *                block the shared window (BLEST, Ferlin et al. 2016)
 *   "ecf"        earliest completion first (Lim et al. 2017): waits for
 *                the fastest subflow when that finishes the queue sooner
 */
#define BD_MPTCP_SF_MAX 16 /* subflows a scheduler sees */

struct bd_mptcp_sched_cand {
	unsigned index;	  /* position in the connection's subflow list */
	uint32_t room;	  /* bytes it can take now (0: none) */
	uint32_t srtt_us; /* 0 until measured; the latest sample if larger */
	uint32_t rttvar_us;
	uint32_t cwnd;	   /* bytes */
	uint32_t inflight; /* bytes sent and not acknowledged */
	uint32_t notsent;  /* bytes queued on it and not sent yet */
	uint32_t mss;
	uint32_t weight;	/* "weighted" (default 1) */
	uint64_t mapped;	/* data bytes this connection mapped onto it */
	uint64_t delivery_rate; /* bytes/s TCP delivered over its last RTT */
	bool backup;
};

struct bd_mptcp_sched_data {
	unsigned n;
	struct bd_mptcp_sched_cand c[BD_MPTCP_SF_MAX];
	uint64_t queued;   /* data bytes waiting to be mapped */
	uint64_t wnd_left; /* data-level send window left (bytes) */
	bool reinject;	   /* the next chunk is a reinjection */
	/* Out: bit i set = send the next chunk on c[i]; 0 = wait. */
	uint32_t pick;
};

struct bd_mptcp_sched_ops {
	const char *name;
	/* Optional: state in priv (zeroed before) when chosen. */
	void (*init)(uint64_t priv[8]);
	/* Fill d->pick. */
	void (*get_send)(uint64_t priv[8], struct bd_mptcp_sched_data *d);
};

/* Register a scheduler (at start-up); at most 16. 0, -BD_EADDRINUSE,
 * -BD_EINVAL, -BD_ENOMEM. */
int bd_mptcp_sched_register(const struct bd_mptcp_sched_ops *ops);
const struct bd_mptcp_sched_ops *bd_mptcp_sched_find(const char *name);
/* Switch the scheduler of a running connection (-BD_EINVAL: unknown). */
int bd_mptcp_set_scheduler(struct bd_mptcp_sock *sk, const char *name);
const char *bd_mptcp_get_scheduler(const struct bd_mptcp_sock *sk);
/* "weighted": the weight (1..1000) of subflow i (0 = first). */
int bd_mptcp_set_weight(struct bd_mptcp_sock *sk, unsigned i, uint32_t weight);

/* --- coupled congestion control (mptcp_cc.c) -------------------------------
 *
 * Controllers as struct bd_tcp_cc_ops (registered with TCP on the first
 * bd_mptcp_stack_create()): "lia" (RFC 6356), "olia" (Khalili et al.,
 * RFC-draft), "balia" (Peng et al.). Each subflow's controller reads its
 * siblings through the connection context (bd_tcp_set_cc_conn). The
 * uncoupled "cubic" and "newreno" stay available. */
extern const struct bd_tcp_cc_ops bd_mptcp_cc_lia;
extern const struct bd_tcp_cc_ops bd_mptcp_cc_olia;
extern const struct bd_tcp_cc_ops bd_mptcp_cc_balia;
void bd_mptcp_cc_register_all(void);
/* Every subflow of the connection (and every later one) uses `name`. */
int bd_mptcp_set_cc(struct bd_mptcp_sock *sk, const char *name);
const char *bd_mptcp_get_cc(const struct bd_mptcp_sock *sk);

/* --- path manager (mptcp_pm.c) ---------------------------------------------
 *
 * Modes (per connection, switchable):
 *   "kernel"     as Linux's in-kernel PM: join the addresses the peer
 *                announces (client side, within add_addr_accepted_max),
 *                subflows from BD_MPTCP_EP_SUBFLOW endpoints to the
 *                peer's first address, ADD_ADDR for BD_MPTCP_EP_SIGNAL
 *                endpoints (default)
 *   "fullmesh"   a subflow from every local endpoint to every address of
 *                the peer (the first one and the announced ones)
 *   "ndiffports" cfg.ndiffports subflows on the first address pair, each
 *                from another source port (another ECMP path)
 *   "signal"     announce every local endpoint (ADD_ADDR, with its port)
 *   "backup"     like "fullmesh", the extra subflows marked backup
 *   "external"   nothing by itself: bd_mptcp_pm_subflow_create() and
 *                friends (the node agent drives it)
 * In every mode: at most subflows_max subflows, announced addresses
 * beyond add_addr_accepted_max ignored (AddAddrDrop), REMOVE_ADDR answered
 * by closing the subflows to that address, and a subflow the PM opened
 * that fails while the connection lives is opened again after
 * reconnect_min_us, doubling up to reconnect_max_us, at most
 * reconnect_retries times in a row. The waits are checked whenever the
 * connection is active (any segment or timer of any subflow). */
#define BD_MPTCP_EP_SIGNAL  0x1 /* announce it */
#define BD_MPTCP_EP_SUBFLOW 0x2 /* open a subflow from it */
#define BD_MPTCP_EP_BACKUP  0x4 /* its subflows are backup */
#define BD_MPTCP_EP_MAX	    8

/* A local address of the stack for the PM (like `ip mptcp endpoint`).
 * id 0: the next free one. Returns the id (>= 1) or -BD_E*. */
int bd_mptcp_pm_add_endpoint(struct bd_mptcp_stack *ms,
			     const struct bd_ipaddr *addr, uint16_t port,
			     uint8_t id, uint32_t flags);
int bd_mptcp_pm_del_endpoint(struct bd_mptcp_stack *ms, uint8_t id);
int bd_mptcp_set_pm(struct bd_mptcp_sock *sk, const char *name);
bool bd_mptcp_pm_exists(const char *name);
const char *bd_mptcp_get_pm(const struct bd_mptcp_sock *sk);

/* External calls (any mode). Open a subflow laddr (NULL: the first
 * subflow's) -> raddr:rport, lport 0 = ephemeral; backup sets the MP_JOIN
 * B flag. Returns the subflow's index in the connection or -BD_E*; its
 * SYN waits until the connection is fully established, as for
 * bd_mptcp_add_subflow(). The PM re-establishes it on failure unless
 * destroyed. */
int bd_mptcp_pm_subflow_create(struct bd_mptcp_sock *sk,
			       const struct bd_ipaddr *laddr, uint16_t lport,
			       const struct bd_ipaddr *raddr, uint16_t rport,
			       bool backup);
/* Reset subflow i (its RST carries MP_TCPRST, reason unspecified) and
 * forget it. */
int bd_mptcp_pm_subflow_destroy(struct bd_mptcp_sock *sk, unsigned i);
/* MP_PRIO on subflow i. */
int bd_mptcp_pm_set_prio(struct bd_mptcp_sock *sk, unsigned i, bool backup);

/* Subflow events (every change of every connection of a stack). */
enum bd_mptcp_event_type {
	BD_MPTCP_EV_ESTABLISHED = 1, /* usable at the MPTCP level */
	BD_MPTCP_EV_CLOSED,	     /* gone (reason, err) */
	BD_MPTCP_EV_PRIORITY,	     /* backup flag (ours or peer's) changed */
	BD_MPTCP_EV_ANNOUNCED,	     /* the peer announced an address */
	BD_MPTCP_EV_REMOVED,	     /* the peer removed an address */
};
enum bd_mptcp_close_reason {
	BD_MPTCP_CLOSE_NONE = 0,
	BD_MPTCP_CLOSE_FIN,	  /* orderly close */
	BD_MPTCP_CLOSE_RESET,	  /* reset by the peer (rst_reason) */
	BD_MPTCP_CLOSE_TIMEOUT,	  /* retransmissions gave up */
	BD_MPTCP_CLOSE_REFUSED,	  /* the join was refused / failed */
	BD_MPTCP_CLOSE_REMOVED,	  /* REMOVE_ADDR from the peer */
	BD_MPTCP_CLOSE_LOCAL,	  /* closed by this end (API, PM) */
	BD_MPTCP_CLOSE_CONN_DOWN, /* the connection went */
};
struct bd_mptcp_event {
	int type; /* enum bd_mptcp_event_type */
	unsigned index;
	uint8_t local_id, remote_id;
	struct bd_ipaddr laddr, raddr;
	uint16_t lport, rport;
	bool backup;	  /* EV_ESTABLISHED, EV_PRIORITY: ours or peer's */
	int reason;	  /* EV_CLOSED: enum bd_mptcp_close_reason */
	int err;	  /* EV_CLOSED: BD_E* from TCP (0 if orderly) */
	uint8_t rst_code; /* EV_CLOSED: MP_TCPRST reason from the peer */
};
typedef void (*bd_mptcp_event_fn)(void *ctx, struct bd_mptcp_sock *sk,
				  const struct bd_mptcp_event *ev);
/* One handler per stack (NULL to remove). Called from inside the stack:
 * record the event and act on it afterwards (no MPTCP calls from it). */
void bd_mptcp_set_event_handler(struct bd_mptcp_stack *ms, bd_mptcp_event_fn fn,
				void *ctx);

/* --- telemetry snapshot (mptcp_diag.c) -------------------------------------
 *
 * Cheap (no allocation, O(subflows)): everything the agent publishes. */
enum bd_mptcp_sf_state {
	BD_MPTCP_SF_CONNECTING = 0, /* handshake */
	BD_MPTCP_SF_ACTIVE,	    /* usable */
	BD_MPTCP_SF_STALLED,	    /* its data was reinjected */
	BD_MPTCP_SF_CLOSING,
};
struct bd_mptcp_sf_snapshot {
	uint8_t sf_state; /* enum bd_mptcp_sf_state */
	uint8_t tcp_state;
	bool backup, peer_backup;
	uint8_t local_id, remote_id;
	uint32_t weight;
	struct bd_ipaddr laddr, raddr;
	uint16_t lport, rport;
	/* tcp_info names; times in us, snd_cwnd in segments. */
	uint32_t rtt, rttvar, min_rtt, snd_cwnd, snd_ssthresh, snd_mss;
	uint32_t unacked, retrans, total_retrans, rto, backoff;
	uint64_t bytes_sent, bytes_acked, bytes_received, bytes_retrans;
	uint64_t delivery_rate; /* bytes per second */
	uint64_t mapped;	/* data-level bytes mapped onto it */
	char cc[16];
};
struct bd_mptcp_snapshot {
	struct bd_mptcp_info info;
	char scheduler[16], pm[16], cc[16];
	unsigned nsubflows; /* entries filled in sf[] */
	struct bd_mptcp_sf_snapshot sf[BD_MPTCP_SF_MAX];
};
int bd_mptcp_snapshot(const struct bd_mptcp_sock *sk,
		      struct bd_mptcp_snapshot *snap);
const char *bd_mptcp_sf_state_name(int state);
const char *bd_mptcp_close_reason_name(int reason);

#endif
