/* SPDX-License-Identifier: Apache-2.0
 * IPv4 input checks, routing, output, and ICMP echo. */
#include "braid/net.h"
#include "bt.h"
#include "net_tutil.h"
#include "stack_impl.h"

struct cap {
	int n;
	uint32_t len;
	struct bd_ip_meta m;
	uint8_t first;
};

static void cap_input(struct bd_stack *st, struct bd_pkt *p,
		      const struct bd_ip_meta *m)
{
	struct cap *c = st->l4_out_ctx; /* tests park the capture here */
	c->n++;
	c->len = p->len;
	c->m = *m;
	c->first = p->data[0];
	bd_pkt_free(p);
}

static void send_ip(struct tu_env *e, const uint8_t *ip, uint32_t len)
{
	bd_stack_input(e->st, 0, tu_frame(e, tu_mac_us, 0x0800, ip, len));
}

static void fix_csum(uint8_t *ip)
{
	unsigned ihl = (ip[0] & 15u) * 4;
	ip[10] = ip[11] = 0;
	tu_put16(ip + 10, bd_csum(ip, ihl));
}

BT_TEST(net_ipv4_delivers_tcp_with_meta_and_trims_padding)
{
	struct tu_env e;
	struct cap c = {0};
	struct bd_l4_ops ops = {.tcp_input = cap_input};
	uint8_t ip[80], l4[30];
	uint32_t n;
	BT_ASSERT(tu_env_init(&e) == 0);
	bd_stack_set_l4(e.st, &ops);
	e.st->l4_out_ctx = &c;
	memset(l4, 0x5a, sizeof(l4));
	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 30);
	ip[1] = 0x10;
	fix_csum(ip);
	memset(ip + n, 0, 10); /* Ethernet padding */
	send_ip(&e, ip, n + 10);
	BT_EQ(c.n, 1);
	BT_UEQ(c.len, 30);
	BT_UEQ(c.first, 0x5a);
	BT_UEQ(c.m.saddr.v4, TU_PEER);
	BT_UEQ(c.m.daddr.v4, TU_US);
	BT_UEQ(c.m.tos, 0x10);
	BT_UEQ(c.m.ttl, 64);
	BT_UEQ(tu_ctr(&e, "IpInReceives"), 1);
	BT_UEQ(tu_ctr(&e, "IpInDelivers"), 1);
	/* Options are skipped. */
	{
		uint8_t o[80];
		memcpy(o, ip, 20);
		o[0] = 0x46;
		tu_put16(o + 2, 54);
		memset(o + 20, 1, 4); /* NOPs */
		memcpy(o + 24, l4, 30);
		fix_csum(o);
		send_ip(&e, o, 54);
		BT_EQ(c.n, 2);
		BT_UEQ(c.len, 30);
		BT_UEQ(tu_ctr(&e, "BdIpInOptions"), 1);
	}
	tu_env_fini(&e);
}

BT_TEST(net_ipv4_malformed_headers_counted)
{
	struct tu_env e;
	struct cap c = {0};
	struct bd_l4_ops ops = {.tcp_input = cap_input};
	uint8_t ip[80], l4[20] = {0};
	uint32_t n;
	BT_ASSERT(tu_env_init(&e) == 0);
	bd_stack_set_l4(e.st, &ops);
	e.st->l4_out_ctx = &c;

	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	send_ip(&e, ip, 19); /* shorter than a header */
	BT_UEQ(tu_ctr(&e, "IpInTruncatedPkts"), 1);

	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	ip[0] = 0x65;
	fix_csum(ip);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInBadVersion"), 1);

	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	ip[0] = 0x44; /* IHL 16 bytes */
	send_ip(&e, ip, n);
	ip[0] = 0x4f; /* IHL 60 > frame */
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInBadIhl"), 2);

	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	tu_put16(ip + 2, 19); /* total length < header */
	fix_csum(ip);
	send_ip(&e, ip, n);
	tu_put16(ip + 2, 41); /* total length > frame */
	fix_csum(ip);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInBadLen"), 3);
	BT_UEQ(tu_ctr(&e, "IpInTruncatedPkts"), 2);

	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	ip[8] ^= 1; /* TTL changed, checksum not */
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "IpInCsumErrors"), 1);
	BT_UEQ(tu_ctr(&e, "BdIpInBadCsum"), 1);
	/* ... unless the port vouches for it. */
	{
		struct bd_pkt *p = tu_frame(&e, tu_mac_us, 0x0800, ip, n);
		p->flags |= BD_PKT_F_IP_CSUM_OK;
		bd_stack_input(e.st, 0, p);
		BT_EQ(c.n, 1);
	}
	BT_UEQ(tu_ctr(&e, "IpInHdrErrors"), 6);

	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	tu_put16(ip + 6, 0x2000); /* MF */
	fix_csum(ip);
	send_ip(&e, ip, n);
	tu_put16(ip + 6, 0x0010); /* offset */
	fix_csum(ip);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInFragDrops"), 2);
	BT_UEQ(tu_ctr(&e, "IpReasmFails"), 2);

	n = tu_ip(ip, TU_PEER, BD_IP4(10, 0, 0, 9), 6, l4, 20);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "IpInAddrErrors"), 1);
	n = tu_ip(ip, TU_PEER, BD_IP4(10, 0, 0, 255), 6, l4, 20);
	send_ip(&e, ip, n);
	n = tu_ip(ip, TU_PEER, BD_IP4(224, 0, 0, 1), 6, l4, 20);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInBcastDrops"), 2);
	n = tu_ip(ip, BD_IP4(127, 0, 0, 1), TU_US, 6, l4, 20);
	send_ip(&e, ip, n);
	n = tu_ip(ip, BD_IP4(10, 0, 0, 255), TU_US, 6, l4, 20);
	send_ip(&e, ip, n);
	n = tu_ip(ip, TU_US, TU_US, 6, l4, 20); /* our own, from the wire */
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInBadSrc"), 3);
	BT_UEQ(tu_ctr(&e, "IpInAddrErrors"), 4);

	n = tu_ip(ip, TU_PEER, TU_US, 17, l4, 20);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "IpInUnknownProtos"), 1);
	bd_stack_set_l4(e.st, NULL);
	n = tu_ip(ip, TU_PEER, TU_US, 6, l4, 20);
	send_ip(&e, ip, n);
	BT_UEQ(tu_ctr(&e, "BdIpInNoTransport"), 1);
	BT_EQ(c.n, 1);
	BT_UEQ(tu_ctr(&e, "IpInDelivers"), 1);
	BT_UEQ(e.pool->allocs, e.pool->frees);
	tu_env_fini(&e);
}

BT_TEST(net_ipv4_route_connected_gateway_source)
{
	struct tu_env e;
	struct tu_port p2;
	struct bd_route r;
	struct bd_ipaddr d, s;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_port_init(&p2);
	p2.port.mac[5] = 3;
	p2.port.mtu = 9000;
	BT_EQ(bd_stack_add_port(e.st, &p2.port), 1);
	bd_stack_set_ipv4(e.st, 1, BD_IP4(192, 168, 1, 1), 16, 0);

	d = bd_ip4(BD_IP4(192, 168, 7, 7));
	BT_EQ(bd_ip_route(e.st, &d, NULL, &r), 0);
	BT_UEQ(r.port, 1);
	BT_UEQ(r.mtu, 9000);
	BT_UEQ(r.saddr.v4, BD_IP4(192, 168, 1, 1));
	d = bd_ip4(BD_IP4(8, 8, 8, 8)); /* default gateway on port 0 */
	BT_EQ(bd_ip_route(e.st, &d, NULL, &r), 0);
	BT_UEQ(r.port, 0);
	BT_UEQ(r.saddr.v4, TU_US);
	/* Source given: its port, its gateway. */
	s = bd_ip4(TU_US);
	d = bd_ip4(BD_IP4(192, 168, 7, 7));
	BT_EQ(bd_ip_route(e.st, &d, &s, &r), 0);
	BT_UEQ(r.port, 0);
	BT_UEQ(r.saddr.v4, TU_US);
	BT_ASSERT(bd_ip_is_local(e.st, &s));
	BT_ASSERT(!bd_ip_is_local(e.st, &d));
	bd_stack_set_ipv4(e.st, 0, TU_US, 24, 0);
	d = bd_ip4(BD_IP4(8, 8, 8, 8));
	BT_EQ(bd_ip_route(e.st, &d, NULL, &r), -BD_EHOSTUNREACH);
	tu_port_clear(&p2);
	tu_env_fini(&e);
}

BT_TEST(net_ipv4_output_header_df_mtu_and_sw_l4_csum)
{
	struct tu_env e;
	struct bd_ipaddr d = bd_ip4(TU_PEER), bad = bd_ip4(BD_IP4(1, 2, 3, 4));
	struct bd_pkt *p;
	uint8_t *ip;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_learn_peer(&e, TU_PEER);
	p = bd_pkt_alloc(e.pool);
	memset(bd_pkt_append(p, 40), 0, 40); /* a TCP header + 20 bytes */
	p->data[12] = 0x50;
	p->flags |= BD_PKT_F_L4_CSUM_TX;
	BT_EQ(bd_ip_output(e.st, p, NULL, &d, 6, 0x20), 0);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 1);
	p = e.tp.tx[0];
	ip = p->data + 14;
	BT_UEQ(ip[0], 0x45);
	BT_UEQ(ip[1], 0x20);
	BT_UEQ(tu_get16(ip + 2), 60);
	BT_UEQ(tu_get16(ip + 6), 0x4000);
	BT_UEQ(ip[8], 64);
	BT_UEQ(ip[9], 6);
	BT_UEQ(tu_get32(ip + 12), TU_US);
	BT_UEQ(tu_get32(ip + 16), TU_PEER);
	BT_UEQ(bd_csum(ip, 20), 0);
	BT_UEQ(p->flags & BD_PKT_F_L4_CSUM_TX, 0);
	BT_UEQ(bd_csum_fold(bd_csum_add(bd_csum_pseudo4(TU_US, TU_PEER, 6, 40),
					ip + 20, 40)),
	       0);
	BT_UEQ(tu_ctr(&e, "IpOutRequests"), 1);
	/* Larger than the MTU: refused (DF, never fragment). */
	p = bd_pkt_alloc(e.pool);
	bd_pkt_append(p, 1481);
	BT_EQ(bd_ip_output(e.st, p, NULL, &d, 6, 0), -BD_EMSGSIZE);
	BT_UEQ(tu_ctr(&e, "IpFragFails"), 1);
	/* Source not ours. */
	p = bd_pkt_alloc(e.pool);
	bd_pkt_append(p, 20);
	BT_EQ(bd_ip_output(e.st, p, &bad, &d, 6, 0), -BD_EADDRNOTAVAIL);
	BT_UEQ(tu_ctr(&e, "IpOutNoRoutes"), 1);
	tu_env_fini(&e);
}

static int hook_n;
static int out_hook(void *ctx, struct bd_pkt *p, const struct bd_ipaddr *s,
		    const struct bd_ipaddr *d, uint8_t proto, uint8_t tos)
{
	(void)ctx;
	(void)s;
	(void)d;
	(void)proto;
	(void)tos;
	hook_n++;
	bd_pkt_free(p);
	return 0;
}

BT_TEST(net_ipv4_l4_out_hook_still_first)
{
	struct bd_stack st = {0};
	struct bd_pktpool *pool = bd_pktpool_heap_create(4, 512);
	struct bd_ipaddr d = bd_ip4(TU_PEER);
	struct bd_route r;
	st.pool = pool;
	st.l4_out_hook = out_hook;
	BT_EQ(bd_ip_output(&st, bd_pkt_alloc(pool), NULL, &d, 6, 0), 0);
	BT_EQ(hook_n, 1);
	/* A bare stack (no network layer) routes nothing and is safe. */
	BT_EQ(bd_ip_route(&st, &d, NULL, &r), -BD_EHOSTUNREACH);
	BT_ASSERT(!bd_ip_is_local(&st, &d));
	st.l4_out_hook = NULL;
	BT_EQ(bd_ip_output(&st, bd_pkt_alloc(pool), NULL, &d, 6, 0),
	      -BD_ENETUNREACH);
	BT_UEQ(pool->allocs, pool->frees);
	bd_pktpool_destroy(pool);
}

static uint32_t icmp_echo(uint8_t *b, uint8_t type, uint32_t datalen)
{
	b[0] = type;
	b[1] = 0;
	b[2] = b[3] = 0;
	tu_put16(b + 4, 0x4242);
	tu_put16(b + 6, 7);
	for (uint32_t i = 0; i < datalen; i++)
		b[8 + i] = (uint8_t)i;
	tu_put16(b + 2, bd_csum(b, 8 + datalen));
	return 8 + datalen;
}

BT_TEST(net_icmp_echo_reply_and_drops)
{
	struct tu_env e;
	uint8_t ic[100], ip[140];
	uint32_t n, m;
	uint8_t *r;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_learn_peer(&e, TU_PEER);
	n = icmp_echo(ic, 8, 56);
	m = tu_ip(ip, TU_PEER, TU_US, 1, ic, n);
	send_ip(&e, ip, m);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 1);
	r = e.tp.tx[0]->data + 14;
	BT_UEQ(tu_get32(r + 12), TU_US);
	BT_UEQ(tu_get32(r + 16), TU_PEER);
	BT_UEQ(r[9], 1);
	BT_UEQ(r[20], 0);
	BT_UEQ(tu_get16(r + 24), 0x4242);
	BT_UEQ(tu_get16(r + 26), 7);
	BT_UEQ(bd_csum(r + 20, n), 0);
	BT_ASSERT(memcmp(r + 28, ic + 8, 56) == 0);
	BT_UEQ(tu_ctr(&e, "IcmpInEchos"), 1);
	BT_UEQ(tu_ctr(&e, "IcmpOutEchoReps"), 1);
	tu_port_clear(&e.tp);

	ic[10] ^= 0xff; /* bad checksum */
	m = tu_ip(ip, TU_PEER, TU_US, 1, ic, n);
	send_ip(&e, ip, m);
	BT_UEQ(tu_ctr(&e, "IcmpInCsumErrors"), 1);
	m = tu_ip(ip, TU_PEER, TU_US, 1, ic, 7); /* truncated */
	send_ip(&e, ip, m);
	BT_UEQ(tu_ctr(&e, "BdIcmpInTruncated"), 1);
	BT_UEQ(tu_ctr(&e, "IcmpInErrors"), 2);
	n = icmp_echo(ic, 0, 4); /* an echo reply: counted, no answer */
	m = tu_ip(ip, TU_PEER, TU_US, 1, ic, n);
	send_ip(&e, ip, m);
	n = icmp_echo(ic, 3, 4);
	m = tu_ip(ip, TU_PEER, TU_US, 1, ic, n);
	send_ip(&e, ip, m);
	BT_UEQ(tu_ctr(&e, "IcmpInEchoReps"), 1);
	BT_UEQ(tu_ctr(&e, "IcmpInDestUnreachs"), 1);
	BT_UEQ(tu_ctr(&e, "IcmpInMsgs"), 5);
	bd_stack_tx_flush(e.st);
	BT_UEQ(e.tp.ntx, 0);
	tu_env_fini(&e);
}

BT_TEST(net_stack_poll_rx_burst_ping)
{
	struct tu_env e;
	uint8_t ic[100], ip[140];
	uint32_t n, m;
	BT_ASSERT(tu_env_init(&e) == 0);
	tu_learn_peer(&e, TU_PEER);
	n = icmp_echo(ic, 8, 16);
	m = tu_ip(ip, TU_PEER, TU_US, 1, ic, n);
	for (int i = 0; i < 40; i++)
		e.tp.rx[e.tp.nrx++] = tu_frame(&e, tu_mac_us, 0x0800, ip, m);
	BT_UEQ(bd_stack_poll(e.st), 40);
	BT_UEQ(e.tp.ntx, 40);
	BT_UEQ(e.tp.port.stats.ipackets, 40);
	BT_UEQ(tu_ctr(&e, "IcmpOutEchoReps"), 40);
	tu_env_fini(&e);
}

/* The word-at-a-time checksum equals the byte-pair definition. */
static uint32_t ref_csum_add(uint32_t sum, const uint8_t *b, size_t len)
{
	while (len > 1) {
		sum += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

BT_TEST(net_csum_fast_matches_reference)
{
	static uint8_t buf[9100];
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	for (int round = 0; round < 3000; round++) {
		size_t off, len;
		uint32_t init;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		off = x % 64;
		len = (x >> 8) % (sizeof(buf) - 64);
		init = (uint32_t)(x >> 32) & 0xfffff;
		if (round % 7 == 0)
			memset(buf + off, round % 2 ? 0xff : 0, len);
		BT_UEQ(bd_csum_fold(bd_csum_add(init, buf + off, len)),
		       bd_csum_fold(ref_csum_add(init, buf + off, len)));
	}
}

BT_TEST(net_ipv4_to_our_own_address_loops_back)
{
	struct tu_env e;
	struct bd_ipaddr self = bd_ip4(TU_US);
	struct bd_route r;
	struct bd_pkt *p;
	uint8_t *ic;
	uint16_t c;
	BT_ASSERT(tu_env_init(&e) == 0);
	BT_EQ(bd_ip_route(e.st, &self, NULL, &r), 0);
	BT_UEQ(r.saddr.v4, TU_US);
	p = bd_pkt_alloc(e.pool);
	ic = bd_pkt_append(p, 8);
	BT_ASSERT(ic);
	memset(ic, 0, 8);
	ic[0] = 8;
	c = bd_csum(ic, 8);
	tu_put16(ic + 2, c);
	BT_EQ(bd_ip_output(e.st, p, NULL, &self, 1, 0), 0);
	/* Nothing on the wire, and the stack wants to run now. */
	bd_stack_set_now(e.st, 5);
	BT_UEQ(bd_stack_next_deadline(e.st), 5);
	bd_stack_poll(e.st); /* the request arrives, the reply is looped */
	bd_stack_poll(e.st); /* the reply arrives */
	BT_UEQ(e.tp.ntx, 0);
	BT_UEQ(tu_ctr(&e, "IcmpInEchos"), 1);
	BT_UEQ(tu_ctr(&e, "IcmpInEchoReps"), 1);
	BT_UEQ(tu_ctr(&e, "BdArpOutRequests"), 0);
	/* Left in the loop at destroy: freed. */
	p = bd_pkt_alloc(e.pool);
	bd_pkt_append(p, 8);
	BT_EQ(bd_ip_output(e.st, p, NULL, &self, 1, 0), 0);
	tu_env_fini(&e);
}
