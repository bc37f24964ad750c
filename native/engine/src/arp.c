/* SPDX-License-Identifier: Apache-2.0
 *
 * ARP (RFC 826) for IPv4 over Ethernet: requests and replies, a cache with
 * ageing (entries expire arp_reachable_ms after their last confirmation and
 * are refreshed by a unicast request from half that age on while in use),
 * gratuitous ARP when a port gets its address, and a small per-neighbour
 * queue of packets held while resolving. Everything dropped is counted.
 */
#include "net_impl.h"

#define ARP_OP_REQUEST 1u
#define ARP_OP_REPLY   2u

static const uint8_t bcast[BD_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[BD_ETH_ALEN];

static unsigned bucket_of(uint32_t ip, uint16_t port)
{
	uint32_t h = (ip ^ ((uint32_t)port << 16)) * 0x9e3779b1u;
	return h >> 26; /* 64 buckets */
}

void bd_arp_init(struct bd_net *net)
{
	for (unsigned i = 0; i < BD_ARP_BUCKETS; i++)
		net->arp_buckets[i] = BD_ARP_NONE;
	for (unsigned i = 0; i < BD_ARP_SLOTS; i++) {
		net->arp[i].state = BD_ARP_FREE;
		net->arp[i].next =
		    (uint16_t)(i + 1 < BD_ARP_SLOTS ? i + 1 : BD_ARP_NONE);
	}
	net->arp_free = 0;
	net->arp_used = 0;
	net->arp_timer_us = UINT64_MAX;
}

static struct bd_arp_entry *arp_find(struct bd_net *net, uint32_t ip,
				     uint16_t port)
{
	uint16_t i = net->arp_buckets[bucket_of(ip, port)];
	while (i != BD_ARP_NONE) {
		struct bd_arp_entry *e = &net->arp[i];
		if (e->ip == ip && e->port == port)
			return e;
		i = e->next;
	}
	return NULL;
}

static struct bd_arp_entry *arp_new(struct bd_stack *st, uint32_t ip,
				    uint16_t port)
{
	struct bd_net *net = st->net;
	unsigned b = bucket_of(ip, port);
	uint16_t i = net->arp_free;
	struct bd_arp_entry *e;

	if (i == BD_ARP_NONE) {
		BD_NET_INC(st, BdArpCacheFull);
		return NULL;
	}
	e = &net->arp[i];
	net->arp_free = e->next;
	memset(e, 0, sizeof(*e));
	e->ip = ip;
	e->port = port;
	e->next = net->arp_buckets[b];
	net->arp_buckets[b] = i;
	net->arp_used++;
	return e;
}

static void arp_drop_queue(struct bd_stack *st, struct bd_arp_entry *e)
{
	while (e->qhead) {
		struct bd_pkt *p = e->qhead;
		e->qhead = p->next;
		BD_NET_INC(st, BdArpUnresolvedDrops);
		BD_NET_INC(st, IpOutDiscards);
		bd_pkt_free(p);
	}
	e->qtail = NULL;
	e->qlen = 0;
}

static void arp_release(struct bd_stack *st, struct bd_arp_entry *e)
{
	struct bd_net *net = st->net;
	uint16_t idx = (uint16_t)(e - net->arp);
	uint16_t *link = &net->arp_buckets[bucket_of(e->ip, e->port)];

	arp_drop_queue(st, e);
	while (*link != BD_ARP_NONE && *link != idx)
		link = &net->arp[*link].next;
	if (*link == idx)
		*link = e->next;
	if (e->port < net->nports && net->ports[e->port].last_arp == idx)
		net->ports[e->port].last_arp = BD_ARP_NONE;
	e->state = BD_ARP_FREE;
	e->next = net->arp_free;
	net->arp_free = idx;
	net->arp_used--;
}

void bd_arp_flush_all(struct bd_net *net)
{
	for (unsigned i = 0; i < BD_ARP_SLOTS; i++) {
		struct bd_arp_entry *e = &net->arp[i];
		while (e->state != BD_ARP_FREE && e->qhead) {
			struct bd_pkt *p = e->qhead;
			e->qhead = p->next;
			bd_pkt_free(p);
		}
		e->qtail = NULL;
		e->qlen = 0;
	}
}

static void arp_timer_at(struct bd_net *net, uint64_t t)
{
	if (t < net->arp_timer_us)
		net->arp_timer_us = t;
}

/* Build and queue an ARP packet on port. */
static void arp_send(struct bd_stack *st, uint16_t port, uint16_t op,
		     const uint8_t *eth_dst, const uint8_t *tha, uint32_t tpa,
		     uint32_t spa)
{
	struct bd_netport *np = &st->net->ports[port];
	struct bd_pkt *p = bd_pkt_alloc(st->pool);
	uint8_t *a;

	if (!p) {
		BD_NET_INC(st, BdNoBuf);
		return;
	}
	/* Padded to the Ethernet minimum (60 bytes with the header). */
	a = bd_pkt_append(p, BD_ETH_MIN_FRAME - BD_ETH_HLEN);
	memset(a, 0, BD_ETH_MIN_FRAME - BD_ETH_HLEN);
	bd_wr16(a, 1);			   /* htype Ethernet */
	bd_wr16(a + 2, BD_ETHERTYPE_IPV4); /* ptype */
	a[4] = BD_ETH_ALEN;
	a[5] = 4;
	bd_wr16(a + 6, op);
	memcpy(a + 8, np->port->mac, BD_ETH_ALEN);
	bd_wr32(a + 14, spa);
	memcpy(a + 18, tha, BD_ETH_ALEN);
	bd_wr32(a + 24, tpa);
	bd_eth_output(st, port, p, eth_dst, BD_ETHERTYPE_ARP);
}

void bd_arp_gratuitous(struct bd_stack *st, uint16_t port)
{
	uint32_t ip = st->net->ports[port].addr;
	if (!ip)
		return;
	BD_NET_INC(st, BdArpOutGratuitous);
	arp_send(st, port, ARP_OP_REQUEST, bcast, zero_mac, ip, ip);
}

static void arp_request(struct bd_stack *st, struct bd_arp_entry *e,
			bool unicast)
{
	uint32_t spa = st->net->ports[e->port].addr;
	BD_NET_INC(st, BdArpOutRequests);
	arp_send(st, e->port, ARP_OP_REQUEST, unicast ? e->mac : bcast,
		 unicast ? e->mac : zero_mac, e->ip, spa);
}

/* The neighbour is known: send what was held for it. */
static void arp_confirmed(struct bd_stack *st, struct bd_arp_entry *e,
			  const uint8_t *mac)
{
	struct bd_net *net = st->net;
	memcpy(e->mac, mac, BD_ETH_ALEN);
	e->state = BD_ARP_REACHABLE;
	e->probing = false;
	e->tries = 0;
	e->updated = st->now_us;
	e->timer_us = st->now_us + net->arp_reachable_us;
	arp_timer_at(net, e->timer_us);
	while (e->qhead) {
		struct bd_pkt *p = e->qhead;
		e->qhead = p->next;
		p->next = NULL;
		bd_eth_output(st, e->port, p, e->mac, BD_ETHERTYPE_IPV4);
	}
	e->qtail = NULL;
	e->qlen = 0;
}

void bd_arp_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p)
{
	struct bd_netport *np = &st->net->ports[port];
	const uint8_t *a = p->data;
	struct bd_arp_entry *e;
	uint16_t op;
	uint32_t spa, tpa;
	struct bd_ipaddr tpa_ip;
	const uint8_t *sha;
	bool for_us;

	if (p->len < BD_ARP_LEN || bd_rd16(a) != 1 ||
	    bd_rd16(a + 2) != BD_ETHERTYPE_IPV4 || a[4] != BD_ETH_ALEN ||
	    a[5] != 4) {
		BD_NET_INC(st, BdArpInMalformed);
		goto out;
	}
	op = bd_rd16(a + 6);
	sha = a + 8;
	spa = bd_rd32(a + 14);
	tpa = bd_rd32(a + 24);
	if ((op != ARP_OP_REQUEST && op != ARP_OP_REPLY) || (sha[0] & 1) ||
	    memcmp(sha, np->port->mac, BD_ETH_ALEN) == 0) {
		/* Bad opcode, a multicast sender or our own frame looped. */
		BD_NET_INC(st, BdArpInMalformed);
		goto out;
	}
	if (op == ARP_OP_REQUEST)
		BD_NET_INC(st, BdArpInRequests);
	else
		BD_NET_INC(st, BdArpInReplies);
	/* For us: the port's own address, or (like Linux with arp_ignore=0)
	 * any address of this stack: a peer that binds a subflow to the link
	 * facing another port asks this port for that port's address. */
	tpa_ip = bd_ip4(tpa);
	for_us = np->addr && tpa != 0 && bd_ip_is_local(st, &tpa_ip);
	if (spa && spa == np->addr) {
		/* Someone claims our address; never cache it. */
		BD_NET_INC(st, BdArpInMalformed);
		goto out;
	}
	/* RFC 826 merge: update a known sender; add it if the packet is for
	 * us. A gratuitous ARP (spa == tpa) refreshes known entries. */
	e = spa ? arp_find(st->net, spa, port) : NULL;
	if (e)
		arp_confirmed(st, e, sha);
	else if (for_us && spa &&
		 (np->mask == 0 || ((spa ^ np->addr) & np->mask) == 0)) {
		e = arp_new(st, spa, port);
		if (e)
			arp_confirmed(st, e, sha);
	}
	if (!for_us) {
		if (!e)
			BD_NET_INC(st, BdArpInNotForUs);
		goto out;
	}
	if (op == ARP_OP_REQUEST && (p->flags & BD_PKT_F_LEARN_ONLY)) {
		/* Another worker of this port answers it. */
		BD_NET_INC(st, BdArpInLearnOnly);
	} else if (op == ARP_OP_REQUEST) {
		BD_NET_INC(st, BdArpOutReplies);
		arp_send(st, port, ARP_OP_REPLY, sha, sha, spa, tpa);
	}
out:
	bd_pkt_free(p);
}

void bd_arp_resolve_output(struct bd_stack *st, uint16_t port, uint32_t nh,
			   struct bd_pkt *p)
{
	struct bd_net *net = st->net;
	struct bd_netport *np = &net->ports[port];
	struct bd_arp_entry *e = NULL;

	if (np->last_arp != BD_ARP_NONE) {
		e = &net->arp[np->last_arp];
		if (e->ip != nh || e->state == BD_ARP_FREE)
			e = NULL;
	}
	if (!e) {
		e = arp_find(net, nh, port);
		if (e && e->state == BD_ARP_REACHABLE)
			np->last_arp = (uint16_t)(e - net->arp);
	}
	if (e && e->state == BD_ARP_REACHABLE) {
		if (!e->probing &&
		    st->now_us >= e->updated + net->arp_reachable_us / 2) {
			/* In use and half aged: confirm by unicast. */
			e->probing = true;
			BD_NET_INC(st, BdArpRefreshes);
			arp_request(st, e, true);
		}
		bd_eth_output(st, port, p, e->mac, BD_ETHERTYPE_IPV4);
		return;
	}
	if (!e) {
		e = arp_new(st, nh, port);
		if (!e) {
			BD_NET_INC(st, IpOutDiscards);
			bd_pkt_free(p);
			return;
		}
		e->state = BD_ARP_INCOMPLETE;
		e->tries = 1;
		e->timer_us = st->now_us + net->arp_retry_us;
		arp_timer_at(net, e->timer_us);
		arp_request(st, e, false);
	}
	if (e->qlen >= net->cfg.arp_queue_len) {
		BD_NET_INC(st, BdArpQueueDrops);
		BD_NET_INC(st, IpOutDiscards);
		bd_pkt_free(p);
		return;
	}
	if (bd_pkt_linearize(p) < 0) {
		/* Held past this poll: it must hold its bytes. */
		BD_NET_INC(st, IpOutDiscards);
		bd_pkt_free(p);
		return;
	}
	BD_NET_INC(st, BdArpQueued);
	p->next = NULL;
	if (e->qtail)
		e->qtail->next = p;
	else
		e->qhead = p;
	e->qtail = p;
	e->qlen++;
}

void bd_arp_timers(struct bd_stack *st)
{
	struct bd_net *net = st->net;
	uint64_t now = st->now_us, next = UINT64_MAX;

	for (unsigned i = 0; i < BD_ARP_SLOTS; i++) {
		struct bd_arp_entry *e = &net->arp[i];
		if (e->state == BD_ARP_FREE)
			continue;
		if (e->timer_us <= now) {
			if (e->state == BD_ARP_INCOMPLETE) {
				if (e->tries < net->cfg.arp_tries) {
					e->tries++;
					e->timer_us = now + net->arp_retry_us;
					arp_request(st, e, false);
				} else {
					BD_NET_INC(st, BdArpResolveFails);
					arp_release(st, e);
					continue;
				}
			} else {
				BD_NET_INC(st, BdArpExpired);
				arp_release(st, e);
				continue;
			}
		}
		if (e->timer_us < next)
			next = e->timer_us;
	}
	net->arp_timer_us = next;
}
