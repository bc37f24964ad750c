/* SPDX-License-Identifier: Apache-2.0
 *
 * IPv4 (RFC 791, host requirements of RFC 1122): input header checks,
 * delivery to ICMP and the transport, route look-up with source address
 * selection, and output with DF set (Braid never fragments: a packet larger
 * than the route's MTU is refused and counted). Fragments received are
 * dropped and counted (no reassembly).
 */
#include "braid/csum.h"
#include "net_impl.h"

#define IP_DF	  0x4000u
#define IP_MF	  0x2000u
#define IP_OFFMSK 0x1fffu

static bool ip_is_bcast(const struct bd_net *net, uint32_t a)
{
	if (a == 0xffffffffu)
		return true;
	for (unsigned i = 0; i < net->nports; i++) {
		const struct bd_netport *np = &net->ports[i];
		if (np->addr && np->prefix < 31 &&
		    (a & ~np->mask) == ~np->mask &&
		    ((a ^ np->addr) & np->mask) == 0)
			return true;
	}
	return false;
}

static int port_of_local(const struct bd_net *net, uint32_t a)
{
	for (unsigned i = 0; i < net->nports; i++)
		if (net->ports[i].addr && net->ports[i].addr == a)
			return (int)i;
	return -1;
}

bool bd_ip_is_local(struct bd_stack *st, const struct bd_ipaddr *addr)
{
	if (!st->net || addr->family != BD_AF_INET)
		return false;
	return port_of_local(st->net, addr->v4) >= 0;
}

/* Port and next hop for daddr; the port that owns `src` first when given. */
static int ip_route4(const struct bd_net *net, uint32_t daddr, int src_port,
		     uint32_t *nexthop)
{
	int best = -1, best_prefix = -1;

	if (src_port >= 0) {
		const struct bd_netport *np = &net->ports[src_port];
		if (((daddr ^ np->addr) & np->mask) == 0) {
			*nexthop = daddr;
			return src_port;
		}
		if (np->gw) {
			*nexthop = np->gw;
			return src_port;
		}
	}
	for (unsigned i = 0; i < net->nports; i++) {
		const struct bd_netport *np = &net->ports[i];
		if (!np->addr || !np->port->up)
			continue;
		if (((daddr ^ np->addr) & np->mask) == 0 &&
		    (int)np->prefix > best_prefix) {
			best = (int)i;
			best_prefix = np->prefix;
		}
	}
	if (best >= 0) {
		*nexthop = daddr;
		return best;
	}
	for (unsigned i = 0; i < net->nports; i++) {
		const struct bd_netport *np = &net->ports[i];
		if (np->addr && np->gw && np->port->up) {
			*nexthop = np->gw;
			return (int)i;
		}
	}
	return -1;
}

int bd_ip_route(struct bd_stack *st, const struct bd_ipaddr *daddr,
		const struct bd_ipaddr *saddr, struct bd_route *out)
{
	struct bd_net *net = st->net;
	int src_port = -1, port;
	uint32_t nh;

	if (!net || daddr->family != BD_AF_INET)
		return -BD_EHOSTUNREACH;
	if (saddr && saddr->family == BD_AF_INET && saddr->v4)
		src_port = port_of_local(net, saddr->v4);
	port = port_of_local(net, daddr->v4); /* ourselves: loopback */
	if (port < 0)
		port = ip_route4(net, daddr->v4, src_port, &nh);
	if (port < 0)
		return -BD_EHOSTUNREACH;
	out->saddr = bd_ip4(src_port >= 0 ? net->ports[src_port].addr
					  : net->ports[port].addr);
	out->mtu = net->ports[port].port->mtu;
	out->port = (uint16_t)port;
	return 0;
}

/* Fill the L4 checksum in software when the transport asked the port to do
 * it and the port cannot. */
static void l4_csum_sw(struct bd_pkt *p, uint32_t saddr, uint32_t daddr,
		       uint8_t proto, uint32_t l4_len)
{
	uint8_t *l4 = p->data + BD_IPV4_HLEN;
	unsigned off;
	uint16_t c;
	if (proto == BD_IPPROTO_TCP && l4_len >= 20)
		off = 16;
	else if (proto == BD_IPPROTO_UDP && l4_len >= 8)
		off = 6;
	else
		return;
	l4[off] = l4[off + 1] = 0;
	c = bd_csum_fold(bd_csum_add(
	    bd_csum_pseudo4(saddr, daddr, proto, l4_len), l4, l4_len));
	if (proto == BD_IPPROTO_UDP && c == 0)
		c = 0xffff;
	bd_wr16(l4 + off, c);
}

int bd_ip_output(struct bd_stack *st, struct bd_pkt *p,
		 const struct bd_ipaddr *saddr, const struct bd_ipaddr *daddr,
		 uint8_t proto, uint8_t tos)
{
	struct bd_net *net;
	struct bd_netport *np;
	int src_port = -1, port;
	uint32_t nh, src, l4_len = bd_pkt_frame_len(p), tot;
	uint8_t *h;

	if (st->l4_out_hook) {
		if (bd_pkt_linearize(p) < 0) {
			bd_pkt_free(p);
			return -BD_ENOMEM;
		}
		return st->l4_out_hook(st->l4_out_ctx, p, saddr, daddr, proto,
				       tos);
	}
	net = st->net;
	if (!net || daddr->family != BD_AF_INET) {
		bd_pkt_free(p);
		return -BD_ENETUNREACH;
	}
	net->stats.IpOutRequests++;
	if (saddr && saddr->family == BD_AF_INET && saddr->v4) {
		src_port = port_of_local(net, saddr->v4);
		if (src_port < 0) {
			net->stats.IpOutNoRoutes++;
			bd_pkt_free(p);
			return -BD_EADDRNOTAVAIL;
		}
	}
	port = port_of_local(net, daddr->v4);
	if (port >= 0)
		nh = daddr->v4;
	else
		port = ip_route4(net, daddr->v4, src_port, &nh);
	if (port < 0) {
		net->stats.IpOutNoRoutes++;
		bd_pkt_free(p);
		return -BD_EHOSTUNREACH;
	}
	np = &net->ports[port];
	src = src_port >= 0 ? net->ports[src_port].addr : np->addr;
	tot = l4_len + BD_IPV4_HLEN;
	if (tot > np->port->mtu || tot > 0xffff) {
		/* DF is always set: never fragment. */
		net->stats.IpFragFails++;
		net->stats.BdIpOutTooBig++;
		bd_pkt_free(p);
		return -BD_EMSGSIZE;
	}
	h = bd_pkt_prepend(p, BD_IPV4_HLEN);
	if (!h) {
		net->stats.BdIpOutNoHeadroom++;
		net->stats.IpOutDiscards++;
		bd_pkt_free(p);
		return -BD_ENOMEM;
	}
	h[0] = 0x45;
	h[1] = tos;
	bd_wr16(h + 2, (uint16_t)tot);
	bd_wr16(h + 4, net->ip_id++);
	bd_wr16(h + 6, IP_DF);
	h[8] = net->cfg.ttl;
	h[9] = proto;
	h[10] = h[11] = 0;
	bd_wr32(h + 12, src);
	bd_wr32(h + 16, daddr->v4);
	p->l3_len = BD_IPV4_HLEN;
	p->l4_len = (uint16_t)(l4_len > 0xffff ? 0 : l4_len);
	if ((p->flags & BD_PKT_F_L4_CSUM_TX) &&
	    !(np->port->caps & BD_PORT_CAP_L4_CSUM_TX)) {
		if (bd_pkt_linearize(p) < 0) {
			net->stats.IpOutDiscards++;
			bd_pkt_free(p);
			return -BD_ENOMEM;
		}
		l4_csum_sw(p, src, daddr->v4, proto, l4_len);
		p->flags &= ~BD_PKT_F_L4_CSUM_TX;
	}
	if (np->port->caps & BD_PORT_CAP_IP_CSUM_TX)
		p->flags |= BD_PKT_F_IP_CSUM_TX;
	else
		bd_wr16(h + 10, bd_csum(h, BD_IPV4_HLEN));
	if (port_of_local(net, daddr->v4) >= 0) {
		/* To ourselves: no wire, delivered at the next poll (with its
		 * bytes: the input path reads data/len). */
		if (bd_pkt_linearize(p) < 0) {
			net->stats.IpOutDiscards++;
			bd_pkt_free(p);
			return -BD_ENOMEM;
		}
		p->next = NULL;
		p->port = (uint16_t)port;
		if (net->loop_tail)
			net->loop_tail->next = p;
		else
			net->loop_head = p;
		net->loop_tail = p;
		return 0;
	}
	bd_arp_resolve_output(st, (uint16_t)port, nh, p);
	return 0;
}

void bd_ipv4_loopback(struct bd_stack *st)
{
	struct bd_net *net = st->net;
	struct bd_pkt *p = net->loop_head;
	net->loop_head = net->loop_tail = NULL;
	while (p) {
		struct bd_pkt *next = p->next;
		p->next = NULL;
		/* Never left the stack: its checksums may be the port's to
		 * fill (offloads), and there is nothing to verify. */
		p->flags =
		    BD_PKT_F_LOOPED | BD_PKT_F_IP_CSUM_OK | BD_PKT_F_L4_CSUM_OK;
		bd_ipv4_input(st, p->port, p);
		p = next;
	}
}

void bd_ipv4_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p)
{
	struct bd_net *net = st->net;
	struct bd_netport *np = &net->ports[port];
	struct bd_ip_meta m;
	const uint8_t *h = p->data;
	uint32_t ihl, tot, saddr, daddr;
	uint16_t frag;
	uint8_t proto;

	net->stats.IpInReceives++;
	if (p->len < BD_IPV4_HLEN) {
		net->stats.IpInTruncatedPkts++;
		net->stats.BdIpInBadLen++;
		goto hdr_error;
	}
	if ((h[0] >> 4) != 4) {
		net->stats.BdIpInBadVersion++;
		goto hdr_error;
	}
	ihl = (uint32_t)(h[0] & 0x0f) * 4;
	if (ihl < BD_IPV4_HLEN || ihl > p->len) {
		net->stats.BdIpInBadIhl++;
		goto hdr_error;
	}
	tot = bd_rd16(h + 2);
	if (tot < ihl) {
		net->stats.BdIpInBadLen++;
		goto hdr_error;
	}
	if (tot > p->len) {
		net->stats.IpInTruncatedPkts++;
		net->stats.BdIpInBadLen++;
		goto drop;
	}
	if (!(p->flags & BD_PKT_F_IP_CSUM_OK) && bd_csum(h, ihl) != 0) {
		net->stats.IpInCsumErrors++;
		net->stats.BdIpInBadCsum++;
		goto hdr_error;
	}
	/* Ethernet padding beyond the datagram. */
	p->len = tot;
	saddr = bd_rd32(h + 12);
	daddr = bd_rd32(h + 16);
	if ((saddr >> 24) == 127 || (saddr >> 28) >= 0xe ||
	    ip_is_bcast(net, saddr) ||
	    (!(p->flags & BD_PKT_F_LOOPED) && port_of_local(net, saddr) >= 0)) {
		/* Martian source: loopback, multicast/class E, broadcast, or
		 * one of our own addresses coming from the wire. */
		net->stats.BdIpInBadSrc++;
		net->stats.IpInAddrErrors++;
		goto drop;
	}
	if (!np->addr || daddr != np->addr) {
		if (port_of_local(net, daddr) < 0) {
			if (ip_is_bcast(net, daddr) || (daddr >> 28) == 0xe) {
				net->stats.BdIpInBcastDrops++;
				net->stats.IpInDiscards++;
			} else {
				/* Not ours and Braid does not forward. */
				net->stats.IpInAddrErrors++;
			}
			goto drop;
		}
	}
	frag = bd_rd16(h + 6);
	if (frag & (IP_MF | IP_OFFMSK)) {
		net->stats.BdIpInFragDrops++;
		net->stats.IpReasmFails++;
		goto drop;
	}
	if (ihl > BD_IPV4_HLEN)
		net->stats.BdIpInOptions++; /* accepted, not interpreted */
	/* RFC 1122 3.2.1.7: a host does not drop for a low TTL. */
	proto = h[9];
	m.saddr = bd_ip4(saddr);
	m.daddr = bd_ip4(daddr);
	m.tos = h[1];
	m.ttl = h[8];
	m.port = port;
	p->l3_len = (uint16_t)ihl;
	bd_pkt_pull(p, ihl);
	switch (proto) {
	case BD_IPPROTO_ICMP:
		net->stats.IpInDelivers++;
		bd_icmp_input(st, p, &m);
		return;
	case BD_IPPROTO_TCP:
		if (!net->l4.tcp_input) {
			net->stats.BdIpInNoTransport++;
			net->stats.IpInUnknownProtos++;
			goto drop;
		}
		net->stats.IpInDelivers++;
		net->l4.tcp_input(st, p, &m);
		return;
	default:
		net->stats.IpInUnknownProtos++;
		goto drop;
	}
hdr_error:
	net->stats.IpInHdrErrors++;
drop:
	bd_pkt_free(p);
}
