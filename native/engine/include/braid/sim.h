/* SPDX-License-Identifier: Apache-2.0
 *
 * The virtual-time simulator: emulated links, simulated hosts (each a
 * bd_stack with one sim port per path), and an event loop that advances a
 * virtual clock from event to event. Nothing reads the wall clock; the same
 * seed gives a bit-identical run.
 *
 * A link is one direction: a transmit queue drained at `rate_bps`
 * (serialisation; tail drop beyond `queue_bytes`), then propagation `delay`
 * plus `jitter` (uniform in [0, jitter], never reordering by itself), and
 * random impairments: loss, duplication, corruption (one bit flipped past
 * the Ethernet header, so the IP/TCP/ICMP checksum catches it), reordering
 * (the packet is held back by an extra uniform (0, reorder_ns]) and
 * blackhole windows (every packet entering the link inside one is dropped).
 *
 * A path joins two hosts with a full-duplex pair of links and its own
 * subnet: path i (from 0) is 10.(i+1).0.1/24 on host a and 10.(i+1).0.2/24
 * on host b. These addresses exist only inside the simulator.
 */
#ifndef BRAID_SIM_H
#define BRAID_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/net.h"
#include "braid/pkt.h"

#define BD_SIM_MAX_BLACKHOLES 8
#define BD_SIM_MAX_HOSTS      8
#define BD_SIM_MAX_PATHS      8

struct bd_sim_window {
	uint64_t start_ns, end_ns;
};

struct bd_link_params {
	uint64_t rate_bps;    /* 0 = infinite */
	uint64_t delay_ns;    /* one-way propagation */
	uint64_t jitter_ns;   /* extra uniform [0, jitter] */
	uint64_t reorder_ns;  /* hold-back of a reordered packet (0 = 1 ms) */
	uint32_t queue_bytes; /* 0 = unlimited */
	double loss, reorder, duplicate, corrupt; /* probabilities 0..1 */
	uint32_t nblackholes;
	struct bd_sim_window blackholes[BD_SIM_MAX_BLACKHOLES];
	/* Bursty loss (Gilbert-Elliott): each packet moves the link from the
	 * good to the bad state with burst_enter, back with burst_exit; in the
	 * bad state a packet is lost with burst_loss (in the good one, with
	 * loss). burst_enter 0 = no bad state. */
	double burst_enter, burst_exit, burst_loss;
	/* Drop everything while set (a blackhole switched at run time). */
	bool down;
};

struct bd_link_stats {
	uint64_t sent_pkts, sent_bytes;		  /* offered to the link */
	uint64_t delivered_pkts, delivered_bytes; /* handed to the far end */
	uint64_t drop_queue, drop_loss, drop_blackhole, drop_nobuf;
	uint64_t drop_burst; /* lost in the bad state of bursty loss */
	uint64_t corrupted, duplicated, reordered;
	uint64_t max_queue_bytes;
	/* Time spent serialising frames (a link with a rate): the link was
	 * idle for the rest. */
	uint64_t busy_ns;
};

struct bd_link;

/* pool: where duplicates are allocated (not owned). */
struct bd_link *bd_link_create(const struct bd_link_params *lp, uint64_t seed,
			       struct bd_pktpool *pool);
void bd_link_destroy(struct bd_link *l);
/* Offer a frame at time now_ns; consumes it (dropped, or scheduled). */
void bd_link_send(struct bd_link *l, struct bd_pkt *p, uint64_t now_ns);
/* Arrival time of the next packet, UINT64_MAX if none in flight. */
uint64_t bd_link_next_ns(const struct bd_link *l);
/* The next packet that has arrived by now_ns (arrival order), or NULL. */
struct bd_pkt *bd_link_recv(struct bd_link *l, uint64_t now_ns);
const struct bd_link_stats *bd_link_stats(const struct bd_link *l);
const struct bd_link_params *bd_link_params(const struct bd_link *l);
/* Change the parameters at run time: frames sent from now on see the new
 * ones; frames in flight keep their arrival times. */
void bd_link_set_params(struct bd_link *l, const struct bd_link_params *lp);

/* --- the simulated network -------------------------------------------- */

struct bd_sim;

/* A network whose paths have MTUs up to 1500. */
struct bd_sim *bd_sim_create(uint64_t seed);
/* Paths up to max_mtu (1500..9000, e.g. a data center's jumbo frames); its
 * packet buffers are sized for that. NULL if max_mtu is out of range. */
struct bd_sim *bd_sim_create_mtu(uint64_t seed, uint16_t max_mtu);
/* Destroys hosts' stacks, ports, links and the pool. Transports and apps
 * attached to the hosts must be destroyed first. */
void bd_sim_destroy(struct bd_sim *sim);
struct bd_pktpool *bd_sim_pool(struct bd_sim *sim);

/* A host: returns its index or -BD_E*. */
int bd_sim_add_host(struct bd_sim *sim);
struct bd_stack *bd_sim_stack(struct bd_sim *sim, int host);
/* A path between two hosts (a -> b uses ab, b -> a uses ba; ba NULL = same
 * as ab). Adds a port on each host and addresses it. Returns the path
 * index or -BD_E*. */
int bd_sim_add_path(struct bd_sim *sim, int host_a, int host_b,
		    const struct bd_link_params *ab,
		    const struct bd_link_params *ba, uint16_t mtu);
/* Ports of paths added from now on take frames that refer to their payload
 * (BD_PORT_CAP_TX_REF: TCP leaves new data in its send ring until the
 * port's tx_burst, which copies it into the frame the link carries, as
 * memif's transmit copies into its ring). Off by default. */
void bd_sim_set_tx_ref(struct bd_sim *sim, bool on);
/* Frames such ports took with referred payload. */
uint64_t bd_sim_tx_ref_frames(const struct bd_sim *sim);
/* dir 0: a -> b, dir 1: b -> a. */
struct bd_link *bd_sim_link(struct bd_sim *sim, int path, int dir);
/* Address of host side (0 = a, 1 = b) of a path, host order. */
uint32_t bd_sim_path_addr(int path, int side);
unsigned bd_sim_npaths(const struct bd_sim *sim);

uint64_t bd_sim_now_ns(const struct bd_sim *sim);

/* Called after every simulation step; return true to stop the run. */
typedef bool (*bd_sim_until_fn)(void *ctx, struct bd_sim *sim);

/* Advance the clock event by event until `until` says stop, the clock would
 * pass limit_ns, or nothing is left to do (no packet in flight and no
 * deadline). Returns 1 when `until` stopped it, 0 at the time limit or when
 * idle. */
int bd_sim_run(struct bd_sim *sim, uint64_t limit_ns, bd_sim_until_fn until,
	       void *ctx);

struct bd_sim_stats {
	uint64_t steps;	     /* event-loop iterations */
	uint64_t polls;	     /* stack polls */
	uint64_t delivered;  /* frames handed from links to ports */
	uint64_t time_skips; /* forced clock advances (no progress) */
};
const struct bd_sim_stats *bd_sim_stats(const struct bd_sim *sim);

#endif
