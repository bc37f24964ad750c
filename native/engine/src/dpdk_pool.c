/* SPDX-License-Identifier: Apache-2.0
 * A bd_pktpool over an rte_mempool: every bd_pkt sits in the private area of
 * its mbuf, so a packet goes from the PMD to the stack and back without a
 * copy. */
#include "dpdk_impl.h"

static struct bd_pkt *dpool_alloc(struct bd_pktpool *pool)
{
	struct bd_dpdk_pool *dp = (struct bd_dpdk_pool *)pool;
	struct rte_mbuf *m = rte_pktmbuf_alloc(dp->mp);
	if (!m)
		return NULL;
	return bd_dpdk_pkt_init(m, pool);
}

static void dpool_free(struct bd_pktpool *pool, struct bd_pkt *p)
{
	(void)pool;
	rte_pktmbuf_free((struct rte_mbuf *)p->backend);
}

static const struct bd_pktpool_ops dpool_ops = {
    .alloc = dpool_alloc,
    .free = dpool_free,
};

void bd_dpdk_pool_init(struct bd_dpdk_pool *dp, struct rte_mempool *mp)
{
	memset(dp, 0, sizeof(*dp));
	dp->pool.ops = &dpool_ops;
	dp->pool.buf_size = rte_pktmbuf_data_room_size(mp);
	dp->mp = mp;
}
