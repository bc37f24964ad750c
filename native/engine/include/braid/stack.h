/* SPDX-License-Identifier: Apache-2.0
 *
 * The seam between the network layer (eth/arp/ip/icmp, ports, the per-worker
 * stack object) and the transport layer (tcp_*.c). One bd_stack per worker:
 * nothing in it is shared between workers, and nothing in it takes a lock.
 *
 * Time is never read from the wall clock inside the engine: whoever drives the
 * stack (the simulator's virtual clock, or a DPDK worker loop) sets now_us
 * before each bd_stack_poll().
 */
#ifndef BRAID_STACK_H
#define BRAID_STACK_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/pkt.h"

#define BD_AF_INET  4
#define BD_AF_INET6 6

/* An IP address; IPv4 now, room for IPv6. v4 is in host byte order. */
struct bd_ipaddr {
	uint8_t family; /* BD_AF_INET or BD_AF_INET6 */
	uint8_t pad[3];
	union {
		uint32_t v4;
		uint8_t v6[16];
	};
};

static inline struct bd_ipaddr bd_ip4(uint32_t host_order)
{
	struct bd_ipaddr a = {.family = BD_AF_INET};
	a.v4 = host_order;
	return a;
}

static inline bool bd_ipaddr_eq(const struct bd_ipaddr *a,
				const struct bd_ipaddr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == BD_AF_INET)
		return a->v4 == b->v4;
	for (int i = 0; i < 16; i++)
		if (a->v6[i] != b->v6[i])
			return false;
	return true;
}

/* What the IP layer tells the transport about a received packet. */
struct bd_ip_meta {
	struct bd_ipaddr saddr, daddr;
	uint8_t tos;
	uint8_t ttl;
	uint16_t port; /* port index it arrived on */
};

/* Route look-up result for a destination. */
struct bd_route {
	struct bd_ipaddr saddr; /* preferred source address */
	uint16_t mtu;		/* MTU of the outgoing port */
	uint16_t port;		/* outgoing port index */
};

struct bd_stack; /* defined in stack_impl.h, owned by the network layer */
struct bd_tcp_stack;

/* --- provided by the network layer (stack.c, ipv4.c) ---------------------- */

uint64_t bd_stack_now_us(const struct bd_stack *st);
struct bd_pktpool *bd_stack_pool(struct bd_stack *st);
/* Deterministic per-stack PRNG (seeded from config; the simulator's seed). */
uint64_t bd_stack_rand64(struct bd_stack *st);
/* The per-stack secret for keyed hashes (ISNs, MPTCP keys): 32 bytes. */
const uint8_t *bd_stack_secret(const struct bd_stack *st);
struct bd_tcp_stack *bd_stack_tcp(struct bd_stack *st);
/* Seed the PRNG and derive the secret from it (deterministic runs). */
void bd_stack_seed(struct bd_stack *st, uint64_t seed);

/* Find the route for daddr (and, if saddr is given and local, the port that
 * owns it). 0 or -BD_EHOSTUNREACH. */
int bd_ip_route(struct bd_stack *st, const struct bd_ipaddr *daddr,
		const struct bd_ipaddr *saddr, struct bd_route *out);
/* True if addr is one of this stack's addresses. */
bool bd_ip_is_local(struct bd_stack *st, const struct bd_ipaddr *addr);

/* Send an L4 payload: p->data points at the L4 header, p->len covers it
 * (and p->ref_len more bytes the packet refers to, see bd_pkt.ref).
 * The IP layer prepends its header and Ethernet, resolves ARP (queueing the
 * packet while it waits) and transmits. The packet is always consumed.
 * Returns 0, or a negative BD_E* when the packet was dropped. */
int bd_ip_output(struct bd_stack *st, struct bd_pkt *p,
		 const struct bd_ipaddr *saddr, const struct bd_ipaddr *daddr,
		 uint8_t proto, uint8_t tos);

/* True when a port of the stack takes frames that refer to their payload
 * (BD_PORT_CAP_TX_REF): a transport may then leave payload where it is
 * until the frame's tx_burst (frames for other ports are linearized). */
bool bd_stack_tx_ref(const struct bd_stack *st);
/* Copy into their frames the referred bytes, within [lo, lo + len), of the
 * frames queued for transmit: before that memory is freed or reused. */
void bd_stack_tx_unref(struct bd_stack *st, const void *lo, size_t len);

/* --- provided by the transport layer (tcp_*.c) ---------------------------- */

/* A TCP segment for this stack: p->data at the TCP header, p->len = the IP
 * payload length. TCP verifies the checksum unless BD_PKT_F_L4_CSUM_OK is
 * set. Always consumes p. */
void bd_tcp_input(struct bd_stack *st, struct bd_pkt *p,
		  const struct bd_ip_meta *m);
/* Run due timers (retransmission, delayed ACK, keepalive, TIME_WAIT, ...). */
void bd_tcp_timers(struct bd_stack *st);
/* Earliest time (us) at which bd_tcp_timers has work; UINT64_MAX if none. */
uint64_t bd_tcp_next_deadline(struct bd_stack *st);
/* Send what became sendable since the last call (batched output). */
void bd_tcp_flush(struct bd_stack *st);

/* Error numbers (negated on return). Values follow Linux errno. */
#define BD_EAGAIN	 11
#define BD_ENOMEM	 12
#define BD_EINVAL	 22
#define BD_EMSGSIZE	 90
#define BD_EADDRINUSE	 98
#define BD_EADDRNOTAVAIL 99
#define BD_ENETUNREACH	 101
#define BD_ECONNABORTED	 103
#define BD_ECONNRESET	 104
#define BD_ENOTCONN	 107
#define BD_ETIMEDOUT	 110
#define BD_ECONNREFUSED	 111
#define BD_EHOSTUNREACH	 113

#endif
