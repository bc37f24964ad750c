/* SPDX-License-Identifier: Apache-2.0
 *
 * The per-worker stack object. Owned by the network layer (stack.c, eth.c,
 * arp.c, ipv4.c, icmp.c); the transport sees it only through braid/stack.h.
 */
#ifndef BRAID_STACK_IMPL_H
#define BRAID_STACK_IMPL_H

#include "braid/stack.h"

/* Test hook: when set, bd_ip_output hands the L4 packet here instead of
 * routing it (unit tests of the transport use it to capture segments). */
typedef int (*bd_l4_out_hook)(void *ctx, struct bd_pkt *p,
			      const struct bd_ipaddr *saddr,
			      const struct bd_ipaddr *daddr, uint8_t proto,
			      uint8_t tos);

struct bd_stack {
	uint64_t now_us;
	uint64_t rng[4]; /* xoshiro256** state */
	uint8_t secret[32];
	struct bd_pktpool *pool;
	struct bd_tcp_stack *tcp;

	bd_l4_out_hook l4_out_hook;
	void *l4_out_ctx;

	/* The network layer adds its own state below (ports, ARP, routes,
	 * counters). */
	struct bd_net *net;
};

#endif
