/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "braid/csum.h"
#include "braid/pkt.h"
#include "bt.h"

BT_TEST(pkt_headroom_prepend_pull_append)
{
	struct bd_pktpool *pool = bd_pktpool_heap_create(4, 2048);
	struct bd_pkt *p = bd_pkt_alloc(pool);
	BT_ASSERT(p);
	BT_EQ(p->data - p->buf, BD_PKT_HEADROOM);
	BT_ASSERT(bd_pkt_append(p, 100));
	BT_EQ(p->len, 100);
	BT_ASSERT(bd_pkt_prepend(p, 20));
	BT_EQ(p->len, 120);
	BT_ASSERT(!bd_pkt_prepend(p, BD_PKT_HEADROOM));
	BT_ASSERT(bd_pkt_pull(p, 20));
	BT_ASSERT(!bd_pkt_pull(p, 101));
	BT_ASSERT(!bd_pkt_append(p, 2048));
	bd_pkt_free(p);
	BT_UEQ(pool->allocs, pool->frees);
	bd_pktpool_destroy(pool);
}

BT_TEST(pkt_pool_limit_counts_failures)
{
	struct bd_pktpool *pool = bd_pktpool_heap_create(2, 256);
	struct bd_pkt *a = bd_pkt_alloc(pool), *b = bd_pkt_alloc(pool);
	BT_ASSERT(a && b);
	BT_ASSERT(!bd_pkt_alloc(pool));
	BT_UEQ(pool->alloc_fail, 1);
	bd_pkt_free(a);
	bd_pkt_free(b);
	bd_pktpool_destroy(pool);
}

BT_TEST(csum_rfc1071_example)
{
	/* RFC 1071 section 3 example bytes: sum 0xddf2, checksum ~0xddf2. */
	const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	BT_UEQ(bd_csum(b, sizeof(b)), (uint16_t)~0xddf2);
}
