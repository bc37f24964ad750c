/* SPDX-License-Identifier: Apache-2.0
 * IPv4 output. (Routing, ARP resolution and Ethernet framing are added by
 * the network layer; until a port is attached only the L4 hook is served.) */
#include "stack_impl.h"

int bd_ip_output(struct bd_stack *st, struct bd_pkt *p,
		 const struct bd_ipaddr *saddr, const struct bd_ipaddr *daddr,
		 uint8_t proto, uint8_t tos)
{
	if (st->l4_out_hook)
		return st->l4_out_hook(st->l4_out_ctx, p, saddr, daddr, proto,
				       tos);
	bd_pkt_free(p);
	return -BD_ENETUNREACH;
}
