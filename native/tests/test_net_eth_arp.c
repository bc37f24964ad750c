/* SPDX-License-Identifier: Apache-2.0
 * Ethernet input filter and ARP: requests, replies, cache, queue, ageing. */
#include "braid/net.h"
#include "bt.h"
#include "net_tutil.h"

BT_TEST(net_eth_runt_dstmiss_mcast_unknown_counted)
{
	struct tu_env e;
	uint8_t junk[40] = {0};
	uint8_t other[6] = {0x02, 9, 9, 9, 9, 9};
	uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
	struct bd_pkt *p;
	BT_ASSERT(tu_env_init(&e) == 0);

	p = bd_pkt_alloc(e.pool);
	bd_pkt_append(p, 13);
	bd_stack_input(e.st, 0, p);
	BT_UEQ(tu_ctr(&e, "BdEthInRunts"), 1);

	bd_stack_input(e.st, 0, tu_frame(&e, other, 0x0800, junk, 40));
	BT_UEQ(tu_ctr(&e, "BdEthInDstMiss"), 1);
	bd_stack_input(e.st, 0, tu_frame(&e, mcast, 0x0800, junk, 40));
	BT_UEQ(tu_ctr(&e, "BdEthInMcastDrops"), 1);
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_us, 0x86dd, junk, 40));
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_us, 0x8100, junk, 40));
	BT_UEQ(tu_ctr(&e, "BdEthInUnknownType"), 2);
	bd_stack_input(e.st, 7, tu_frame(&e, tu_mac_us, 0x0800, junk, 40));
	BT_UEQ(tu_ctr(&e, "BdEthInBadPort"), 1);
	BT_UEQ(tu_ctr(&e, "IpInReceives"), 0);
	BT_UEQ(tu_ctr(&e, "BdEthInFrames"), 5);
	tu_env_fini(&e);
	BT_UEQ(e.pool == NULL, 0);
}

BT_TEST(net_counter_table_names_and_offsets)
{
	BT_ASSERT(bd_net_counter_count > 40);
	BT_ASSERT(strcmp(bd_net_counter_table[0].name, "IpInReceives") == 0);
	BT_UEQ(bd_net_counter_table[0].offset, 0);
	for (size_t i = 1; i < bd_net_counter_count; i++)
		BT_UEQ(bd_net_counter_table[i].offset,
		       bd_net_counter_table[i - 1].offset + 8);
}

BT_TEST(net_arp_gratuitous_on_address)
{
	struct tu_env e;
	struct bd_pkt *p;
	BT_ASSERT(tu_env_init(&e) == 0);
	bd_stack_set_ipv4(e.st, 0, TU_US, 24, 0);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 1);
	p = e.tp.tx[0];
	BT_ASSERT(p->len >= 60);
	BT_ASSERT(memcmp(p->data, tu_mac_bcast, 6) == 0);
	BT_UEQ(tu_get16(p->data + 12), 0x0806);
	BT_UEQ(tu_get16(p->data + 14 + 6), 1);
	BT_UEQ(tu_get32(p->data + 14 + 14), TU_US);
	BT_UEQ(tu_get32(p->data + 14 + 24), TU_US);
	BT_UEQ(tu_ctr(&e, "BdArpOutGratuitous"), 2);
	tu_env_fini(&e);
}

BT_TEST(net_arp_gratuitous_on_port_up_and_down_port_unrouted)
{
	struct tu_env e;
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	struct bd_route r;
	BT_ASSERT(tu_env_init(&e) == 0);
	bd_stack_port_up(e.st, 0, false);
	BT_EQ(bd_ip_route(e.st, &d, NULL, &r), -BD_EHOSTUNREACH);
	bd_stack_port_up(e.st, 0, true);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 1);
	BT_UEQ(tu_ctr(&e, "BdArpOutGratuitous"), 2);
	BT_EQ(bd_ip_route(e.st, &d, NULL, &r), 0);
	tu_env_fini(&e);
}

/* An IP packet to the peer leaves at once, without an ARP request. */
static void peer_is_cached(struct tu_env *e)
{
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	struct bd_pkt *p = bd_pkt_alloc(e->pool);
	bd_pkt_append(p, 8);
	memset(p->data, 0, 8);
	BT_EQ(bd_ip_output(e->st, p, NULL, &d, 17, 0), 0);
	bd_stack_tx_flush(e->st);
	BT_UEQ(e->tp.ntx, 1);
	BT_ASSERT(memcmp(e->tp.tx[0]->data, tu_mac_peer, 6) == 0);
	BT_UEQ(tu_ctr(e, "BdArpOutRequests"), 0);
}

BT_TEST(net_arp_request_for_us_is_answered_and_cached)
{
	struct tu_env e;
	uint8_t a[28], zero[6] = {0};
	struct bd_pkt *p;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_arp(a, 1, tu_mac_peer, TU_PEER, zero, TU_US);
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	bd_stack_tx_flush(e.st);
	BT_UEQ(tu_ctr(&e, "BdArpInRequests"), 1);
	BT_UEQ(tu_ctr(&e, "BdArpOutReplies"), 1);
	BT_UEQ(e.tp.ntx, 1);
	p = e.tp.tx[0];
	BT_ASSERT(memcmp(p->data, tu_mac_peer, 6) == 0);
	BT_ASSERT(memcmp(p->data + 6, tu_mac_us, 6) == 0);
	BT_UEQ(tu_get16(p->data + 14 + 6), 2);
	BT_ASSERT(memcmp(p->data + 14 + 8, tu_mac_us, 6) == 0);
	BT_UEQ(tu_get32(p->data + 14 + 14), TU_US);
	BT_ASSERT(memcmp(p->data + 14 + 18, tu_mac_peer, 6) == 0);
	BT_UEQ(tu_get32(p->data + 14 + 24), TU_PEER);
	tu_port_clear(&e.tp);

	/* The sender was cached: an IP packet to it leaves at once. */
	peer_is_cached(&e);
	tu_env_fini(&e);
}

BT_TEST(net_arp_learn_only_copy_is_cached_not_answered)
{
	struct tu_env e;
	uint8_t a[28], zero[6] = {0};
	struct bd_pkt *p;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_arp(a, 1, tu_mac_peer, TU_PEER, zero, TU_US);
	p = tu_frame(&e, tu_mac_bcast, 0x0806, a, 28);
	p->flags |= BD_PKT_F_LEARN_ONLY; /* another worker answers it */
	bd_stack_input(e.st, 0, p);
	bd_stack_tx_flush(e.st);
	BT_UEQ(tu_ctr(&e, "BdArpInRequests"), 1);
	BT_UEQ(tu_ctr(&e, "BdArpInLearnOnly"), 1);
	BT_UEQ(tu_ctr(&e, "BdArpOutReplies"), 0);
	BT_UEQ(e.tp.ntx, 0);
	/* The sender was still learned. */
	peer_is_cached(&e);
	tu_env_fini(&e);
}

BT_TEST(net_arp_answers_for_another_ports_address)
{
	/* Weak host, as Linux (arp_ignore=0): a request on port 1 for port
	 * 0's address is answered from port 1 with port 1's MAC. */
	struct tu_env e;
	struct tu_port tp2;
	uint8_t a[28], zero[6] = {0};
	const uint32_t us2 = BD_IP4(10, 0, 1, 1), peer2 = BD_IP4(10, 0, 1, 2);
	struct bd_pkt *p;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_port_init(&tp2);
	tp2.port.mac[5] = 0x11;
	BT_EQ(bd_stack_add_port(e.st, &tp2.port), 1);
	bd_stack_set_ipv4(e.st, 1, us2, 24, 0);
	bd_stack_tx_flush(e.st);
	tu_port_clear(&tp2);
	tu_arp(a, 1, tu_mac_peer, peer2, zero, TU_US);
	bd_stack_input(e.st, 1, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	bd_stack_tx_flush(e.st);
	BT_UEQ(tu_ctr(&e, "BdArpOutReplies"), 1);
	BT_UEQ(e.tp.ntx, 0);
	BT_UEQ(tp2.ntx, 1);
	p = tp2.tx[0];
	BT_ASSERT(memcmp(p->data + 14 + 8, tp2.port.mac, 6) == 0);
	BT_UEQ(tu_get32(p->data + 14 + 14), TU_US);
	BT_UEQ(tu_get32(p->data + 14 + 24), peer2);
	tu_port_clear(&tp2);
	/* An address that is nobody's stays unanswered. */
	tu_arp(a, 1, tu_mac_peer, peer2, zero, BD_IP4(10, 0, 1, 9));
	bd_stack_input(e.st, 1, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	bd_stack_tx_flush(e.st);
	BT_UEQ(tu_ctr(&e, "BdArpOutReplies"), 1);
	BT_UEQ(tp2.ntx, 0);
	tu_port_clear(&tp2);
	tu_env_fini(&e);
}

BT_TEST(net_arp_not_for_us_and_malformed_counted)
{
	struct tu_env e;
	uint8_t a[28], zero[6] = {0};
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_arp(a, 1, tu_mac_peer, TU_PEER, zero, BD_IP4(10, 0, 0, 77));
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	BT_UEQ(tu_ctr(&e, "BdArpInNotForUs"), 1);
	BT_UEQ(tu_ctr(&e, "BdArpOutReplies"), 0);

	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 27));
	tu_arp(a, 1, tu_mac_peer, TU_PEER, zero, TU_US);
	a[1] = 6; /* htype 6 */
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	tu_arp(a, 1, tu_mac_peer, TU_PEER, zero, TU_US);
	a[3] = 0xdd; /* ptype */
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	tu_arp(a, 1, tu_mac_peer, TU_PEER, zero, TU_US);
	a[4] = 8; /* hlen */
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	tu_arp(a, 7, tu_mac_peer, TU_PEER, zero, TU_US); /* opcode */
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	tu_arp(a, 1, tu_mac_bcast, TU_PEER, zero, TU_US); /* mcast sender */
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	tu_arp(a, 1, tu_mac_peer, TU_US, zero, TU_US); /* claims our IP */
	bd_stack_input(e.st, 0, tu_frame(&e, tu_mac_bcast, 0x0806, a, 28));
	BT_UEQ(tu_ctr(&e, "BdArpInMalformed"), 7);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 0);
	tu_env_fini(&e);
}

static struct bd_pkt *udp_like(struct tu_env *e, uint32_t n)
{
	struct bd_pkt *p = bd_pkt_alloc(e->pool);
	memset(bd_pkt_append(p, n), 0xab, n);
	return p;
}

BT_TEST(net_arp_resolve_queue_then_flush_on_reply)
{
	struct tu_env e;
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	BT_ASSERT(tu_env_init(&e) == 0);
	for (int i = 0; i < 140; i++)
		bd_ip_output(e.st, udp_like(&e, 100), NULL, &d, 17, 0);
	bd_stack_tx_flush(e.st);
	/* One broadcast request; 128 held, 12 dropped. */
	BT_UEQ(e.tp.ntx, 1);
	BT_ASSERT(memcmp(e.tp.tx[0]->data, tu_mac_bcast, 6) == 0);
	BT_UEQ(tu_get32(e.tp.tx[0]->data + 14 + 24), TU_PEER);
	BT_UEQ(tu_ctr(&e, "BdArpQueued"), 128);
	BT_UEQ(tu_ctr(&e, "BdArpQueueDrops"), 12);
	BT_UEQ(tu_ctr(&e, "IpOutDiscards"), 12);
	tu_port_clear(&e.tp);
	tu_learn_peer(&e, TU_PEER);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 128);
	for (unsigned i = 0; i < e.tp.ntx; i++) {
		BT_ASSERT(memcmp(e.tp.tx[i]->data, tu_mac_peer, 6) == 0);
		BT_UEQ(tu_get16(e.tp.tx[i]->data + 12), 0x0800);
		BT_UEQ(bd_csum(e.tp.tx[i]->data + 14, 20), 0);
	}
	tu_env_fini(&e);
}

BT_TEST(net_arp_retries_then_fails_and_drops_held)
{
	struct tu_env e;
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	uint64_t t;
	BT_ASSERT(tu_env_init(&e) == 0);
	bd_ip_output(e.st, udp_like(&e, 10), NULL, &d, 17, 0);
	bd_ip_output(e.st, udp_like(&e, 10), NULL, &d, 17, 0);
	BT_UEQ(bd_stack_next_deadline(e.st), 1000000);
	for (t = 0; t <= 3000000; t += 500000) {
		bd_stack_set_now(e.st, t);
		bd_stack_poll(e.st);
	}
	BT_UEQ(tu_ctr(&e, "BdArpOutRequests"), 3);
	BT_UEQ(tu_ctr(&e, "BdArpResolveFails"), 1);
	BT_UEQ(tu_ctr(&e, "BdArpUnresolvedDrops"), 2);
	BT_UEQ(bd_stack_next_deadline(e.st), UINT64_MAX);
	BT_UEQ(e.pool->allocs - e.pool->frees, e.tp.ntx);
	tu_env_fini(&e);
	BT_UEQ(1, 1);
}

BT_TEST(net_arp_refresh_by_unicast_then_expiry)
{
	struct tu_env e;
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_learn_peer(&e, TU_PEER);
	/* Half aged and in use: a unicast request goes with the packet. */
	bd_stack_set_now(e.st, 31000000);
	bd_ip_output(e.st, udp_like(&e, 10), NULL, &d, 17, 0);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 2);
	BT_UEQ(tu_ctr(&e, "BdArpRefreshes"), 1);
	BT_ASSERT(memcmp(e.tp.tx[0]->data, tu_mac_peer, 6) == 0);
	BT_UEQ(tu_get16(e.tp.tx[0]->data + 12), 0x0806);
	tu_port_clear(&e.tp);
	/* No answer: the entry expires at 60 s and the next packet asks by
	 * broadcast. */
	bd_stack_set_now(e.st, 60000000);
	bd_stack_poll(e.st);
	BT_UEQ(tu_ctr(&e, "BdArpExpired"), 1);
	bd_ip_output(e.st, udp_like(&e, 10), NULL, &d, 17, 0);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 1);
	BT_ASSERT(memcmp(e.tp.tx[0]->data, tu_mac_bcast, 6) == 0);
	tu_port_clear(&e.tp);
	/* A reply refreshes and releases the held packet. */
	tu_learn_peer(&e, TU_PEER);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 1);
	BT_UEQ(tu_get16(e.tp.tx[0]->data + 12), 0x0800);
	tu_env_fini(&e);
}

BT_TEST(net_port_tx_refusal_counted)
{
	struct tu_env e;
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_learn_peer(&e, TU_PEER);
	e.tp.tx_limit = 2;
	for (int i = 0; i < 5; i++)
		bd_ip_output(e.st, udp_like(&e, 10), NULL, &d, 17, 0);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 2);
	BT_UEQ(tu_ctr(&e, "BdPortTxFull"), 3);
	BT_UEQ(e.tp.port.stats.oerrors, 3);
	tu_env_fini(&e);
}
