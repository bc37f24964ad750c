/* SPDX-License-Identifier: Apache-2.0
 *
 * DPDK runtime internals shared by dpdk_*.c (the only files that see DPDK
 * headers): the mbuf-backed packet pool and the runtime's objects.
 */
#ifndef BRAID_DPDK_IMPL_H
#define BRAID_DPDK_IMPL_H

#include <rte_ethdev.h>
#include <rte_flow.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include "braid/dpdk.h"
#include "braid/pkt.h"
#include "braid/port.h"

/* --- packets: a bd_pkt lives in its mbuf's private area ------------------- */

#define BD_DPDK_PRIV_SIZE RTE_ALIGN(sizeof(struct bd_pkt), RTE_MBUF_PRIV_ALIGN)

struct bd_dpdk_pool {
	struct bd_pktpool pool; /* first: a bd_pktpool * is a bd_dpdk_pool * */
	struct rte_mempool *mp;
};

static inline struct bd_pkt *bd_dpdk_pkt(struct rte_mbuf *m)
{
	return (struct bd_pkt *)rte_mbuf_to_priv(m);
}

/* Make the bd_pkt of mbuf m describe m's data (after receive or alloc). */
static inline struct bd_pkt *bd_dpdk_pkt_init(struct rte_mbuf *m,
					      struct bd_pktpool *pool)
{
	struct bd_pkt *p = bd_dpdk_pkt(m);
	p->buf = (uint8_t *)m->buf_addr;
	p->buf_len = m->buf_len;
	p->data = p->buf + m->data_off;
	p->len = m->data_len;
	p->flags = 0;
	p->port = 0;
	p->l2_len = p->l3_len = p->l4_len = 0;
	p->ts_us = 0;
	p->pool = pool;
	p->backend = m;
	p->next = NULL;
	return p;
}

/* Make mbuf m describe its bd_pkt's data (before transmit). */
static inline struct rte_mbuf *bd_dpdk_mbuf_sync(struct bd_pkt *p)
{
	struct rte_mbuf *m = (struct rte_mbuf *)p->backend;
	uint64_t ol = 0;
	m->data_off = (uint16_t)(p->data - p->buf);
	m->data_len = (uint16_t)p->len;
	m->pkt_len = p->len;
	m->nb_segs = 1;
	m->next = NULL;
	if (p->flags & (BD_PKT_F_IP_CSUM_TX | BD_PKT_F_L4_CSUM_TX)) {
		ol |= RTE_MBUF_F_TX_IPV4;
		if (p->flags & BD_PKT_F_IP_CSUM_TX)
			ol |= RTE_MBUF_F_TX_IP_CKSUM;
		if (p->flags & BD_PKT_F_L4_CSUM_TX)
			ol |= RTE_MBUF_F_TX_TCP_CKSUM;
		m->l2_len = p->l2_len ? p->l2_len : 14;
		m->l3_len = p->l3_len ? p->l3_len : 20;
	}
	m->ol_flags = ol;
	return m;
}

void bd_dpdk_pool_init(struct bd_dpdk_pool *dp, struct rte_mempool *mp);

#endif
