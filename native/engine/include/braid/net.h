/* SPDX-License-Identifier: Apache-2.0
 *
 * The network layer's public API: creating a per-worker stack, attaching
 * ports and addresses, polling, and the counters (named like the kernel's
 * Ip/Icmp MIB as `nstat` prints them, plus Braid's own Bd* drop counters).
 *
 * Driving a stack (simulator or DPDK worker loop):
 *
 *     bd_stack_set_now(st, now_us);
 *     bd_stack_poll(st);          rx -> eth -> arp/ip -> icmp/l4, timers,
 *                                 poll hook (apps), l4 flush, tx
 *     next = bd_stack_next_deadline(st);
 */
#ifndef BRAID_NET_H
#define BRAID_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid/pkt.h"
#include "braid/port.h"
#include "braid/stack.h"

#define BD_NET_MAX_PORTS 16
#define BD_NET_BURST	 32

struct bd_stack_config {
	uint64_t seed;		 /* PRNG and secret (bd_stack_seed) */
	struct bd_pktpool *pool; /* required; not owned */
	uint8_t ttl;		 /* default 64 */
	/* ARP: entry lifetime, retry interval and tries while resolving,
	 * packets held per unresolved neighbour. 0 = defaults (60 s, 1 s,
	 * 3, 128). */
	uint32_t arp_reachable_ms;
	uint32_t arp_retry_ms;
	uint32_t arp_tries;
	uint32_t arp_queue_len;
};

/* The transport the IP layer delivers to and polls. The simulator and the
 * DPDK runtime install bd_tcp_* here (bd_stack_use_tcp); network unit tests
 * install their own. Any member may be NULL. */
struct bd_l4_ops {
	void (*tcp_input)(struct bd_stack *st, struct bd_pkt *p,
			  const struct bd_ip_meta *m);
	void (*timers)(struct bd_stack *st);
	uint64_t (*next_deadline)(struct bd_stack *st);
	void (*flush)(struct bd_stack *st);
};

/* Called by bd_stack_poll after input and timers, before the l4 flush:
 * where applications (app_*.c) do their work. */
typedef void (*bd_stack_poll_hook)(void *ctx, struct bd_stack *st);

struct bd_stack *bd_stack_create(const struct bd_stack_config *cfg);
/* Frees the stack, its held packets and queues (not the ports, not the
 * pool, not the transport: destroy those first or after, as they own). */
void bd_stack_destroy(struct bd_stack *st);

void bd_stack_set_l4(struct bd_stack *st, const struct bd_l4_ops *ops);
/* Create Braid TCP on the stack (bd_tcp_stack_create, cfg NULL = defaults)
 * and install it as the transport; bd_stack_drop_tcp destroys it. */
struct bd_tcp_config;
int bd_stack_use_tcp(struct bd_stack *st, const struct bd_tcp_config *cfg);
void bd_stack_drop_tcp(struct bd_stack *st);
void bd_stack_set_tcp(struct bd_stack *st, struct bd_tcp_stack *tcp);
void bd_stack_set_poll_hook(struct bd_stack *st, bd_stack_poll_hook fn,
			    void *ctx);

/* Attach a port (not owned); returns its index or -BD_E*. */
int bd_stack_add_port(struct bd_stack *st, struct bd_port *port);
struct bd_port *bd_stack_port(struct bd_stack *st, uint16_t index);
unsigned bd_stack_nports(const struct bd_stack *st);
/* Address a port: addr/prefix_len, optional gateway (0 = none), all in host
 * byte order. Sends a gratuitous ARP when the port is up. */
int bd_stack_set_ipv4(struct bd_stack *st, uint16_t port, uint32_t addr,
		      uint8_t prefix_len, uint32_t gateway);
/* Link state: a down port is not chosen by routes; going up sends a
 * gratuitous ARP for the port's address. */
void bd_stack_port_up(struct bd_stack *st, uint16_t port, bool up);
/* The IPv4 address of a port (0 if none). */
uint32_t bd_stack_port_ipv4(const struct bd_stack *st, uint16_t port);

void bd_stack_set_now(struct bd_stack *st, uint64_t now_us);
/* One round of work; returns the number of frames received. */
unsigned bd_stack_poll(struct bd_stack *st);
/* Earliest time the stack has timer work (ARP, transport, wake-ups). */
uint64_t bd_stack_next_deadline(struct bd_stack *st);
/* Ask for a poll no later than t_us (applications' own timers). */
void bd_stack_wake_at(struct bd_stack *st, uint64_t t_us);

/* Hand one received Ethernet frame to the stack (what bd_stack_poll does
 * for each frame of a burst; also the fuzzers' entry). Consumes p. */
void bd_stack_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p);
/* Push frames queued for transmit to the ports. */
void bd_stack_tx_flush(struct bd_stack *st);

/* Counters. */
#define BD_NET_COUNTERS(X)                                                     \
	X(IpInReceives)                                                        \
	X(IpInHdrErrors)                                                       \
	X(IpInAddrErrors)                                                      \
	X(IpInUnknownProtos)                                                   \
	X(IpInDiscards)                                                        \
	X(IpInDelivers)                                                        \
	X(IpInTruncatedPkts)                                                   \
	X(IpInCsumErrors)                                                      \
	X(IpOutRequests)                                                       \
	X(IpOutDiscards)                                                       \
	X(IpOutNoRoutes)                                                       \
	X(IpReasmFails)                                                        \
	X(IpFragFails)                                                         \
	X(IcmpInMsgs)                                                          \
	X(IcmpInErrors)                                                        \
	X(IcmpInCsumErrors)                                                    \
	X(IcmpInEchos)                                                         \
	X(IcmpInEchoReps)                                                      \
	X(IcmpInDestUnreachs)                                                  \
	X(IcmpOutMsgs)                                                         \
	X(IcmpOutEchoReps)                                                     \
	X(BdEthInFrames)                                                       \
	X(BdEthInRunts)                                                        \
	X(BdEthInDstMiss)                                                      \
	X(BdEthInMcastDrops)                                                   \
	X(BdEthInUnknownType)                                                  \
	X(BdEthInBadPort)                                                      \
	X(BdEthOutFrames)                                                      \
	X(BdArpInRequests)                                                     \
	X(BdArpInReplies)                                                      \
	X(BdArpInMalformed)                                                    \
	X(BdArpInNotForUs)                                                     \
	X(BdArpInLearnOnly)                                                    \
	X(BdArpOutRequests)                                                    \
	X(BdArpOutReplies)                                                     \
	X(BdArpOutGratuitous)                                                  \
	X(BdArpRefreshes)                                                      \
	X(BdArpExpired)                                                        \
	X(BdArpResolveFails)                                                   \
	X(BdArpQueued)                                                         \
	X(BdArpQueueDrops)                                                     \
	X(BdArpUnresolvedDrops)                                                \
	X(BdArpCacheFull)                                                      \
	X(BdIpInBadVersion)                                                    \
	X(BdIpInBadIhl)                                                        \
	X(BdIpInBadLen)                                                        \
	X(BdIpInBadCsum)                                                       \
	X(BdIpInBadSrc)                                                        \
	X(BdIpInBcastDrops)                                                    \
	X(BdIpInFragDrops)                                                     \
	X(BdIpInOptions)                                                       \
	X(BdIpInNoTransport)                                                   \
	X(BdIpOutTooBig)                                                       \
	X(BdIpOutNoHeadroom)                                                   \
	X(BdIcmpInTruncated)                                                   \
	X(BdIcmpInBcastEchoDrops)                                              \
	X(BdIcmpOutNoBuf)                                                      \
	X(BdPortTxFull)                                                        \
	X(BdNoBuf)

struct bd_net_stats {
#define BD_NET_FIELD(n) uint64_t n;
	BD_NET_COUNTERS(BD_NET_FIELD)
#undef BD_NET_FIELD
};

struct bd_counter_desc {
	const char *name;
	uint32_t offset; /* byte offset of the uint64_t in its struct */
};

extern const struct bd_counter_desc bd_net_counter_table[];
extern const size_t bd_net_counter_count;

const struct bd_net_stats *bd_stack_stats(const struct bd_stack *st);

/* IPv4 dotted-quad helper for tests and tools (host order). */
#define BD_IP4(a, b, c, d)                                                     \
	((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 |      \
	 (uint32_t)(d))

#endif
