/* SPDX-License-Identifier: Apache-2.0
 * Helpers for the network layer tests: a capture port and frame builders. */
#ifndef BRAID_NET_TUTIL_H
#define BRAID_NET_TUTIL_H

#include <string.h>

#include "braid/csum.h"
#include "braid/net.h"
#include "braid/port.h"

#define TU_MAXQ 256

struct tu_port {
	struct bd_port port;
	struct bd_pkt *tx[TU_MAXQ];
	unsigned ntx;
	struct bd_pkt *rx[TU_MAXQ];
	unsigned nrx, rx_pos;
	unsigned tx_limit; /* accept at most this many per burst (0 = all) */
};

static inline uint16_t tu_rx_burst(struct bd_port *port, struct bd_pkt **pkts,
				   uint16_t n)
{
	struct tu_port *tp = port->priv;
	uint16_t k = 0;
	while (k < n && tp->rx_pos < tp->nrx)
		pkts[k++] = tp->rx[tp->rx_pos++];
	if (tp->rx_pos == tp->nrx)
		tp->rx_pos = tp->nrx = 0;
	return k;
}

static inline uint16_t tu_tx_burst(struct bd_port *port, struct bd_pkt **pkts,
				   uint16_t n)
{
	struct tu_port *tp = port->priv;
	uint16_t k = 0;
	while (k < n && tp->ntx < TU_MAXQ &&
	       (!tp->tx_limit || k < tp->tx_limit))
		tp->tx[tp->ntx++] = pkts[k++];
	return k;
}

static const struct bd_port_ops tu_port_ops = {
    .rx_burst = tu_rx_burst,
    .tx_burst = tu_tx_burst,
};

static const uint8_t tu_mac_us[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t tu_mac_peer[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t tu_mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static inline void tu_port_init(struct tu_port *tp)
{
	memset(tp, 0, sizeof(*tp));
	tp->port.ops = &tu_port_ops;
	tp->port.priv = tp;
	memcpy(tp->port.mac, tu_mac_us, 6);
	tp->port.mtu = 1500;
	tp->port.up = true;
}

static inline void tu_port_clear(struct tu_port *tp)
{
	for (unsigned i = 0; i < tp->ntx; i++)
		bd_pkt_free(tp->tx[i]);
	tp->ntx = 0;
	for (unsigned i = tp->rx_pos; i < tp->nrx; i++)
		bd_pkt_free(tp->rx[i]);
	tp->nrx = tp->rx_pos = 0;
}

/* A stack with one capture port at 10.0.0.1/24, gateway 10.0.0.254. */
struct tu_env {
	struct bd_pktpool *pool;
	struct bd_stack *st;
	struct tu_port tp;
};

#define TU_US	BD_IP4(10, 0, 0, 1)
#define TU_PEER BD_IP4(10, 0, 0, 2)
#define TU_GW	BD_IP4(10, 0, 0, 254)

static inline int tu_env_init(struct tu_env *e)
{
	struct bd_stack_config cfg = {0};
	memset(e, 0, sizeof(*e));
	e->pool = bd_pktpool_heap_create(1024, 2048);
	cfg.pool = e->pool;
	cfg.seed = 1;
	e->st = bd_stack_create(&cfg);
	if (!e->st)
		return -1;
	tu_port_init(&e->tp);
	if (bd_stack_add_port(e->st, &e->tp.port) != 0)
		return -1;
	bd_stack_set_ipv4(e->st, 0, TU_US, 24, TU_GW);
	bd_stack_tx_flush(e->st); /* gratuitous ARP */
	tu_port_clear(&e->tp);
	return 0;
}

static inline void tu_env_fini(struct tu_env *e)
{
	tu_port_clear(&e->tp);
	bd_stack_destroy(e->st);
	bd_pktpool_destroy(e->pool);
}

static inline uint64_t tu_ctr(struct tu_env *e, const char *name)
{
	const struct bd_net_stats *s = bd_stack_stats(e->st);
	for (size_t i = 0; i < bd_net_counter_count; i++)
		if (strcmp(bd_net_counter_table[i].name, name) == 0)
			return *(
			    const uint64_t *)((const char *)s +
					      bd_net_counter_table[i].offset);
	return UINT64_MAX;
}

static inline void tu_put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static inline void tu_put32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static inline uint16_t tu_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] << 8 | b[1]);
}

static inline uint32_t tu_get32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* A frame with the given bytes after an Ethernet header. */
static inline struct bd_pkt *tu_frame(struct tu_env *e, const uint8_t *dst,
				      uint16_t type, const void *payload,
				      uint32_t len)
{
	struct bd_pkt *p = bd_pkt_alloc(e->pool);
	uint8_t *b = bd_pkt_append(p, 14 + len);
	memcpy(b, dst, 6);
	memcpy(b + 6, tu_mac_peer, 6);
	tu_put16(b + 12, type);
	if (len)
		memcpy(b + 14, payload, len);
	return p;
}

/* An IPv4 header (20 bytes, checksummed) in front of l4 bytes. */
static inline uint32_t tu_ip(uint8_t *buf, uint32_t saddr, uint32_t daddr,
			     uint8_t proto, const void *l4, uint32_t l4len)
{
	memset(buf, 0, 20);
	buf[0] = 0x45;
	tu_put16(buf + 2, (uint16_t)(20 + l4len));
	tu_put16(buf + 4, 0x1234);
	tu_put16(buf + 6, 0x4000);
	buf[8] = 64;
	buf[9] = proto;
	tu_put32(buf + 12, saddr);
	tu_put32(buf + 16, daddr);
	tu_put16(buf + 10, bd_csum(buf, 20));
	if (l4len)
		memcpy(buf + 20, l4, l4len);
	return 20 + l4len;
}

/* An ARP packet (28 bytes). */
static inline void tu_arp(uint8_t *a, uint16_t op, const uint8_t *sha,
			  uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	tu_put16(a, 1);
	tu_put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	tu_put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	tu_put32(a + 14, spa);
	memcpy(a + 18, tha, 6);
	tu_put32(a + 24, tpa);
}

/* Teach the stack the peer's MAC (an ARP reply to us). */
static inline void tu_learn_peer(struct tu_env *e, uint32_t ip)
{
	uint8_t a[28];
	tu_arp(a, 2, tu_mac_peer, ip, tu_mac_us, TU_US);
	bd_stack_input(e->st, 0, tu_frame(e, tu_mac_us, 0x0806, a, 28));
}

#endif
