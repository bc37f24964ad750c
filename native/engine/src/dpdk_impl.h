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

/* The private area: the bd_pkt, then the shared info that an mbuf carrying
 * a frame's referred payload (bd_pkt.ref) as an external buffer needs. */
struct bd_dpdk_priv {
	struct bd_pkt pkt;
	struct rte_mbuf_ext_shared_info shinfo;
};
#define BD_DPDK_PRIV_SIZE                                                      \
	RTE_ALIGN(sizeof(struct bd_dpdk_priv), RTE_MBUF_PRIV_ALIGN)

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
	p->ref = NULL;
	p->ref_len = 0;
	return p;
}

/* The referred bytes belong to their owner (TCP's send ring): freeing the
 * mbuf that carried them gives nothing back. */
static inline void bd_dpdk_ext_nofree(void *addr, void *opaque)
{
	(void)addr;
	(void)opaque;
}

/* An mbuf that carries p's referred bytes as an external buffer (a second
 * segment behind m), or NULL when none is left (the caller copies). */
static inline struct rte_mbuf *bd_dpdk_ref_seg(struct rte_mbuf *m,
					       const struct bd_pkt *p)
{
	struct rte_mbuf *d = rte_pktmbuf_alloc(m->pool);
	struct rte_mbuf_ext_shared_info *si;
	if (!d)
		return NULL;
	si = &((struct bd_dpdk_priv *)rte_mbuf_to_priv(d))->shinfo;
	si->free_cb = bd_dpdk_ext_nofree;
	si->fcb_opaque = NULL;
	rte_mbuf_ext_refcnt_set(si, 1);
	rte_pktmbuf_attach_extbuf(d, (void *)(uintptr_t)p->ref, RTE_BAD_IOVA,
				  (uint16_t)p->ref_len, si);
	d->data_off = 0;
	d->data_len = (uint16_t)p->ref_len;
	d->pkt_len = p->ref_len;
	return d;
}

/* Make mbuf m describe its bd_pkt's data (before transmit). Referred bytes
 * (bd_pkt.ref) become a second segment (an external buffer) when the port
 * takes them (ref_ok: its PMD copies them into its ring within tx_burst and
 * frees the chain there), else are copied into m. */
static inline struct rte_mbuf *bd_dpdk_mbuf_sync(struct bd_pkt *p, bool ref_ok)
{
	struct rte_mbuf *m = (struct rte_mbuf *)p->backend;
	struct rte_mbuf *d = NULL;
	uint64_t ol = 0;
	if (p->ref_len && ref_ok && p->ref_len <= UINT16_MAX)
		d = bd_dpdk_ref_seg(m, p);
	if (!d)
		(void)bd_pkt_linearize(p); /* TCP keeps the room for it */
	m->data_off = (uint16_t)(p->data - p->buf);
	m->data_len = (uint16_t)p->len;
	m->pkt_len = p->len;
	m->nb_segs = 1;
	m->next = NULL;
	if (d) {
		m->next = d;
		m->nb_segs = 2;
		m->pkt_len += d->data_len;
		p->ref = NULL;
		p->ref_len = 0;
	}
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

/* Copy a frame's external second segment (bd_dpdk_mbuf_sync) into m, for a
 * frame that is kept past tx_burst (the referred bytes may change then). */
static inline void bd_dpdk_mbuf_unref(struct rte_mbuf *m)
{
	struct rte_mbuf *d = m->next;
	if (!d || rte_pktmbuf_tailroom(m) < d->data_len)
		return;
	memcpy(rte_pktmbuf_mtod_offset(m, uint8_t *, m->data_len),
	       rte_pktmbuf_mtod(d, const uint8_t *), d->data_len);
	m->data_len = (uint16_t)(m->data_len + d->data_len);
	m->pkt_len = m->data_len;
	m->next = NULL;
	m->nb_segs = 1;
	rte_pktmbuf_free_seg(d);
}

void bd_dpdk_pool_init(struct bd_dpdk_pool *dp, struct rte_mempool *mp);

#endif
