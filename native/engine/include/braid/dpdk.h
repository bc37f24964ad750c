/* SPDX-License-Identifier: Apache-2.0
 *
 * The DPDK runtime: ethdev ports as bd_port back ends, one bd_stack per
 * worker lcore (share-nothing), flow steering (rte_flow where the PMD has it,
 * software dispatch through rings otherwise), adaptive polling, and control
 * from the Node thread to the workers through rings.
 *
 * This header has no DPDK type in it: only dpdk_*.c include DPDK headers.
 * EAL must already be running (the addon's ealInit) with at least
 * nworkers + 1 lcores: the caller's thread is the main lcore, workers run on
 * the others.
 *
 * Steering (the owner worker of a received frame):
 *   - TCP to a destination port inside the ephemeral space: the worker whose
 *     block holds the port. Worker w opens its client connections from
 *     [eph_base + w*block, eph_base + (w+1)*block), block a power of two, so
 *     a block is one masked match (an rte_flow rule or a shift in software).
 *   - TCP to a port pinned with bd_rt_pin_port(): that worker.
 *   - other TCP (connections accepted by listeners, which every worker opens
 *     on the same port): a hash of (source address, source port, destination
 *     port) modulo the number of workers, the same on every frame.
 *   - ARP: every worker (each keeps its own neighbour cache).
 *   - everything else (ICMP, ...): worker 0.
 * A worker receiving a frame it does not own hands it to the owner through
 * the owner's ring; with rte_flow rules (or one worker) no frame is handed
 * over.
 */
#ifndef BRAID_DPDK_H
#define BRAID_DPDK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid/mptcp.h"
#include "braid/net.h"

#define BD_RT_MAX_WORKERS 16
#define BD_RT_MAX_PORTS	  4

struct bd_rt_port_config {
	char dev[64];	    /* ethdev name as EAL knows it (net_memif0) */
	uint32_t ipv4;	    /* host order; 0 = unnumbered */
	uint8_t prefix_len; /* 0..32 */
	uint32_t gateway;   /* host order; 0 = none */
	uint16_t mtu;	    /* IP MTU; 0 = 1500 */
	uint16_t rx_desc, tx_desc; /* 0 = 1024 */
	/* Neither compute nor verify IPv4/TCP/ICMP checksums on this port:
	 * its frames are trusted like the kernel's veth trusts local traffic
	 * (CHECKSUM_PARTIAL / CHECKSUM_UNNECESSARY). Only for a trusted
	 * shared-memory link (net_memif, refused on other drivers) between
	 * two Braid engines that both set it: a peer that verifies drops
	 * every frame (InCsumErrors). Off by default. */
	bool csum_off;
};

enum bd_rt_steering {
	BD_RT_STEER_AUTO = 0, /* rte_flow when it validates, else software */
	BD_RT_STEER_SOFTWARE, /* software dispatch only */
};

struct bd_rt_config {
	unsigned nworkers; /* 1..BD_RT_MAX_WORKERS */
	unsigned nports;
	struct bd_rt_port_config ports[BD_RT_MAX_PORTS];
	uint32_t mbufs;	    /* mbufs in the pool; 0 = sized from queues */
	uint32_t ring_size; /* dispatch/control ring entries; 0 = 4096 */
	uint64_t seed;	    /* stacks' PRNG seeds (worker w: seed + w) */
	enum bd_rt_steering steering;
	/* Adaptive polling: a worker keeps polling while it has work and for
	 * spin_us after its last packet; then it sleeps, from
	 * idle_sleep_min_us doubling to idle_sleep_max_us (never past its next
	 * timer). spin_us 0 = 200, min 0 = 50 (at most max), max 0 = 200;
	 * idle_sleep_max_us UINT32_MAX disables sleeping (pure busy poll). */
	uint32_t spin_us;
	uint32_t idle_sleep_min_us;
	uint32_t idle_sleep_max_us;
	/* Ephemeral port space split into per-worker blocks (0 = 32768 and
	 * 32768 ports). */
	uint16_t eph_base;
	uint32_t eph_size;
	bool tcp; /* attach Braid TCP to every worker's stack */
	/* Attach MPTCP (braid/mptcp.h) on top of every worker's TCP (needs
	 * tcp), configured from mptcp_cfg (checksum, subflows_max,
	 * add_addr_accepted_max, auto_join, buffers). */
	bool mptcp;
	struct bd_mptcp_config mptcp_cfg;
};

/* Per-worker runtime counters (read as snapshots). */
struct bd_rt_worker_stats {
	uint64_t polls, busy_polls, idle_polls, sleeps, sleep_us;
	uint64_t rx_frames;	     /* taken from this worker's RX queues */
	uint64_t rx_own;	     /* ... owned by this worker */
	uint64_t disp_out;	     /* ... handed to another worker */
	uint64_t disp_in;	     /* frames other workers handed here */
	uint64_t disp_drops;	     /* owner's ring full */
	uint64_t arp_copies;	     /* ARP frames copied to other workers */
	uint64_t rx_bad;	     /* multi-segment or unusable mbufs */
	uint64_t tx_frames, tx_full; /* taken by / refused by the PMD */
	/* Frames taken whose TCP payload the PMD read in TCP's send ring
	 * (BD_PORT_CAP_TX_REF: no copy into the mbuf). */
	uint64_t tx_ref;
	uint64_t ctl_calls;
	uint64_t link_changes; /* link state changes this worker saw */
	/* MPTCP with several workers: MP_JOIN SYNs read here and steered by
	 * their token; frames of joined subflows steered by the flow table;
	 * joins this worker refused (flow table full). */
	uint64_t join_steered, flow_steered, join_refused;
};

struct bd_rt_port_info {
	char dev[64];
	char driver[32];
	uint16_t port_id;
	uint8_t mac[6];
	uint16_t mtu;
	uint16_t nrxq, ntxq;
	bool csum_off; /* the port's config: no checksums (trusted link) */
	bool link_up;
	uint32_t link_speed_mbps;
	uint32_t caps;	      /* BD_PORT_CAP_* */
	bool flow_steering;   /* rte_flow rules installed */
	char flow_reason[96]; /* why not, when not */
	uint64_t ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors;
	uint64_t rx_nombuf;
};

struct bd_rt;

/* Fill cfg with defaults (1 worker, no ports). */
void bd_rt_config_default(struct bd_rt_config *cfg);
/* Open the ports, mempool, rings and stacks. NULL on failure with a reason
 * in err. Workers are not running yet. */
struct bd_rt *bd_rt_create(const struct bd_rt_config *cfg, char *err,
			   size_t errlen);
/* Launch the workers on their lcores. 0 or -BD_E* (reason in err). */
int bd_rt_start(struct bd_rt *rt, char *err, size_t errlen);
/* Stop the workers (they finish their current poll). */
void bd_rt_stop(struct bd_rt *rt);
/* Stop, then free stacks, ports (stopped and closed) and pools. Apps must
 * have been destroyed (through bd_rt_call) before. */
void bd_rt_destroy(struct bd_rt *rt);

unsigned bd_rt_nworkers(const struct bd_rt *rt);
bool bd_rt_running(const struct bd_rt *rt);

/* Run fn(stack, worker, arg) on worker w's own thread between two polls and
 * wait for it (when the workers are not running, on the caller's thread).
 * This is how the control thread touches a worker's stack, sockets and
 * apps: nothing else does. 0, or -BD_ETIMEDOUT after timeout_ms (the call
 * may still run later: arg must then stay valid). */
typedef void (*bd_rt_fn)(struct bd_stack *st, unsigned worker, void *arg);
int bd_rt_call(struct bd_rt *rt, unsigned w, bd_rt_fn fn, void *arg,
	       uint32_t timeout_ms);

/* The worker that owns frames to local TCP port lport from raddr:rport. */
unsigned bd_rt_owner(const struct bd_rt *rt, uint32_t raddr, uint16_t rport,
		     uint16_t lport);
/* Send every connection to local TCP port lport to worker w (call before
 * start). -BD_EINVAL if w is out of range. */
int bd_rt_pin_port(struct bd_rt *rt, uint16_t lport, unsigned w);
/* While running (any thread): send connections to lport to worker w
 * from now on (on), or stop (off: only if w pinned it). Frames are handed
 * to w in software (the rte_flow rules stay those of the start). 0,
 * -BD_EADDRINUSE if lport is pinned elsewhere (on) or not to w (off). */
int bd_rt_pin_port_live(struct bd_rt *rt, uint16_t lport, unsigned w, bool on);
/* The worker lport is pinned to, or -1. */
int bd_rt_pinned(const struct bd_rt *rt, uint16_t lport);
/* The ephemeral block of worker w. */
void bd_rt_eph_block(const struct bd_rt *rt, unsigned w, uint16_t *lo,
		     uint16_t *hi);

/* Snapshots (taken on the worker through bd_rt_call when running). */
int bd_rt_worker_stats(struct bd_rt *rt, unsigned w,
		       struct bd_rt_worker_stats *out);
int bd_rt_net_stats(struct bd_rt *rt, unsigned w, struct bd_net_stats *out);
int bd_rt_port_info(struct bd_rt *rt, unsigned port,
		    struct bd_rt_port_info *out);
/* The stack of worker w: touch it only from bd_rt_call (or before start). */
struct bd_stack *bd_rt_stack(struct bd_rt *rt, unsigned w);
/* The MPTCP stack of worker w (NULL without mptcp): same rule. Its MIB
 * (MPTcpExt* counters) is per worker; bd_rt_mptcp_mib() snapshots it. */
struct bd_mptcp_stack *bd_rt_mptcp(struct bd_rt *rt, unsigned w);
/* Snapshot of worker w's MPTCP counters (-BD_EINVAL without mptcp). */
int bd_rt_mptcp_mib(struct bd_rt *rt, unsigned w, struct bd_mptcp_mib *out);

/* Raw device rate: worker w transmits frame_len-byte frames (ethertype
 * 0x88b5, local experimental) to dst_mac on port as fast as the PMD takes
 * them for duration_us, inside one control call (the worker does nothing
 * else meanwhile). Counts what the PMD accepted. */
struct bd_rt_blast {
	uint64_t frames, bytes, refused, elapsed_us;
};
int bd_rt_blast(struct bd_rt *rt, unsigned w, unsigned port,
		const uint8_t dst_mac[6], uint32_t frame_len,
		uint64_t duration_us, struct bd_rt_blast *out);

/* Microseconds on the runtime clock (what workers give their stacks). */
uint64_t bd_rt_now_us(const struct bd_rt *rt);

#endif
