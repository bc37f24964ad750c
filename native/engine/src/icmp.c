/* SPDX-License-Identifier: Apache-2.0
 * ICMP (RFC 792): echo reply, counted input. Replies are built in place in
 * the request's buffer. */
#include "braid/csum.h"
#include "net_impl.h"

#define ICMP_ECHOREPLY	  0u
#define ICMP_DEST_UNREACH 3u
#define ICMP_ECHO	  8u

void bd_icmp_input(struct bd_stack *st, struct bd_pkt *p,
		   const struct bd_ip_meta *m)
{
	struct bd_net *net = st->net;
	uint8_t *h = p->data;
	struct bd_ipaddr src;
	int rc;

	net->stats.IcmpInMsgs++;
	if (p->len < 8) {
		net->stats.BdIcmpInTruncated++;
		net->stats.IcmpInErrors++;
		goto drop;
	}
	if (!(p->flags & BD_PKT_F_L4_CSUM_OK) && bd_csum(h, p->len) != 0) {
		net->stats.IcmpInCsumErrors++;
		net->stats.IcmpInErrors++;
		goto drop;
	}
	switch (h[0]) {
	case ICMP_ECHO:
		net->stats.IcmpInEchos++;
		if (!bd_ip_is_local(st, &m->daddr)) {
			/* Echo to a broadcast address: ignored. */
			net->stats.BdIcmpInBcastEchoDrops++;
			goto drop;
		}
		break;
	case ICMP_ECHOREPLY:
		net->stats.IcmpInEchoReps++;
		goto drop;
	case ICMP_DEST_UNREACH:
		net->stats.IcmpInDestUnreachs++;
		goto drop;
	default:
		goto drop;
	}
	/* Turn the request around: same identifier, sequence and data. */
	h[0] = ICMP_ECHOREPLY;
	h[1] = 0;
	h[2] = h[3] = 0;
	bd_wr16(h + 2, bd_csum(h, p->len));
	p->flags = 0;
	src = m->daddr;
	net->stats.IcmpOutMsgs++;
	net->stats.IcmpOutEchoReps++;
	rc = bd_ip_output(st, p, &src, &m->saddr, BD_IPPROTO_ICMP, m->tos);
	(void)rc;
	return;
drop:
	bd_pkt_free(p);
}
