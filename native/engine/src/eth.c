/* SPDX-License-Identifier: Apache-2.0
 * Ethernet II: destination filter, ethertype dispatch, framing on output. */
#include "net_impl.h"

static const uint8_t bcast[BD_ETH_ALEN] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void bd_eth_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p)
{
	struct bd_port *pt = st->net->ports[port].port;
	const uint8_t *h = p->data;
	uint16_t type;

	BD_NET_INC(st, BdEthInFrames);
	if (p->len < BD_ETH_HLEN) {
		BD_NET_INC(st, BdEthInRunts);
		goto drop;
	}
	if (memcmp(h, pt->mac, BD_ETH_ALEN) != 0) {
		if (memcmp(h, bcast, BD_ETH_ALEN) != 0) {
			if (h[0] & 1)
				BD_NET_INC(st, BdEthInMcastDrops);
			else
				BD_NET_INC(st, BdEthInDstMiss);
			goto drop;
		}
	}
	type = bd_rd16(h + 12);
	p->l2_len = BD_ETH_HLEN;
	bd_pkt_pull(p, BD_ETH_HLEN);
	switch (type) {
	case BD_ETHERTYPE_IPV4:
		bd_ipv4_input(st, port, p);
		return;
	case BD_ETHERTYPE_ARP:
		bd_arp_input(st, port, p);
		return;
	default:
		/* IPv6, VLAN tags and the rest are not served yet. */
		BD_NET_INC(st, BdEthInUnknownType);
		goto drop;
	}
drop:
	bd_pkt_free(p);
}

void bd_eth_output(struct bd_stack *st, uint16_t port, struct bd_pkt *p,
		   const uint8_t *dst, uint16_t ethertype)
{
	struct bd_netport *np = &st->net->ports[port];
	uint8_t *h = bd_pkt_prepend(p, BD_ETH_HLEN);

	if (p->ref_len && !(np->port->caps & BD_PORT_CAP_TX_REF) &&
	    bd_pkt_linearize(p) < 0)
		h = NULL;
	if (!h) {
		BD_NET_INC(st, BdIpOutNoHeadroom);
		bd_pkt_free(p);
		return;
	}
	memcpy(h, dst, BD_ETH_ALEN);
	memcpy(h + 6, np->port->mac, BD_ETH_ALEN);
	bd_wr16(h + 12, ethertype);
	p->l2_len = BD_ETH_HLEN;
	p->port = port;
	BD_NET_INC(st, BdEthOutFrames);
	if (np->ntx == BD_NET_BURST)
		bd_stack_tx_flush(st);
	np->txq[np->ntx++] = p;
}
