/* SPDX-License-Identifier: Apache-2.0
 *
 * Network layer internals shared by stack.c, eth.c, arp.c, ipv4.c, icmp.c.
 */
#ifndef BRAID_NET_IMPL_H
#define BRAID_NET_IMPL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "braid/net.h"
#include "stack_impl.h"

#define BD_ETH_HLEN	  14u
#define BD_ETHERTYPE_IPV4 0x0800u
#define BD_ETHERTYPE_ARP  0x0806u
#define BD_ETHERTYPE_IPV6 0x86ddu
#define BD_IPV4_HLEN	  20u
#define BD_IPPROTO_ICMP	  1u
#define BD_IPPROTO_TCP	  6u
#define BD_IPPROTO_UDP	  17u
#define BD_ARP_LEN	  28u
#define BD_ETH_MIN_FRAME  60u /* without FCS */
#define BD_ARP_SLOTS	  256u
#define BD_ARP_BUCKETS	  64u
#define BD_ARP_NONE	  0xffffu
/* Internal bd_pkt flag: looped back to ourselves (never on a port). */
#define BD_PKT_F_LOOPED (1u << 31)

static inline uint16_t bd_rd16(const uint8_t *b)
{
	return (uint16_t)((uint16_t)b[0] << 8 | b[1]);
}

static inline uint32_t bd_rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static inline void bd_wr16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void bd_wr32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

enum bd_arp_state {
	BD_ARP_FREE = 0,
	BD_ARP_INCOMPLETE,
	BD_ARP_REACHABLE,
};

struct bd_arp_entry {
	uint32_t ip;
	uint16_t port;
	uint8_t state;
	uint8_t tries;
	uint8_t mac[BD_ETH_ALEN];
	bool probing;	   /* unicast refresh sent */
	uint16_t next;	   /* bucket chain / free list */
	uint16_t qlen;	   /* packets held while resolving */
	uint64_t updated;  /* last confirmation (us) */
	uint64_t timer_us; /* retry (INCOMPLETE) or expiry (REACHABLE) */
	struct bd_pkt *qhead, *qtail;
};

struct bd_netport {
	struct bd_port *port;
	uint32_t addr, mask, gw; /* host order; addr 0 = unnumbered */
	uint8_t prefix;
	uint16_t ntx;
	struct bd_pkt *txq[BD_NET_BURST];
	/* Last neighbour used on this port: skips the hash on the fast path. */
	uint16_t last_arp;
};

struct bd_net {
	struct bd_stack_config cfg;
	uint64_t arp_reachable_us, arp_retry_us;
	struct bd_netport ports[BD_NET_MAX_PORTS];
	uint16_t nports;
	bool tx_ref; /* a port takes frames that refer to their payload */
	uint16_t ip_id;
	struct bd_l4_ops l4;
	bd_stack_poll_hook poll_hook;
	void *poll_ctx;
	uint64_t wake_us;
	uint64_t arp_timer_us; /* earliest ARP timer (UINT64_MAX none) */
	/* Datagrams to one of our own addresses, delivered at the next poll. */
	struct bd_pkt *loop_head, *loop_tail;
	uint16_t arp_buckets[BD_ARP_BUCKETS];
	uint16_t arp_free;
	uint16_t arp_used;
	struct bd_arp_entry arp[BD_ARP_SLOTS];
	struct bd_net_stats stats;
};

#define BD_NET_INC(st, field) ((st)->net->stats.field++)

/* eth.c */
void bd_eth_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p);
/* Prepend the Ethernet header and queue the frame for transmit. */
void bd_eth_output(struct bd_stack *st, uint16_t port, struct bd_pkt *p,
		   const uint8_t *dst, uint16_t ethertype);

/* arp.c */
void bd_arp_init(struct bd_net *net);
void bd_arp_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p);
/* Send an IPv4 packet (p->data at the IP header) to next hop nh on port:
 * frames it at once when the neighbour is known, else holds it. */
void bd_arp_resolve_output(struct bd_stack *st, uint16_t port, uint32_t nh,
			   struct bd_pkt *p);
void bd_arp_timers(struct bd_stack *st);
void bd_arp_gratuitous(struct bd_stack *st, uint16_t port);
void bd_arp_flush_all(struct bd_net *net);

/* ipv4.c */
void bd_ipv4_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p);
/* Deliver the datagrams looped back since the last call. */
void bd_ipv4_loopback(struct bd_stack *st);

/* icmp.c */
void bd_icmp_input(struct bd_stack *st, struct bd_pkt *p,
		   const struct bd_ip_meta *m);

#endif
