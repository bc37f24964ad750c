/* SPDX-License-Identifier: Apache-2.0
 * The per-worker stack object: clock, PRNG, secret, packet pool, ports and
 * the poll loop. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "net_impl.h"
#include "braid/rng.h"
#include "stack_impl.h"

uint64_t bd_stack_now_us(const struct bd_stack *st)
{
	return st->now_us;
}

struct bd_pktpool *bd_stack_pool(struct bd_stack *st)
{
	return st->pool;
}

struct bd_tcp_stack *bd_stack_tcp(struct bd_stack *st)
{
	return st->tcp;
}

const uint8_t *bd_stack_secret(const struct bd_stack *st)
{
	return st->secret;
}

uint64_t bd_stack_rand64(struct bd_stack *st)
{
	return bd_rng_next(st->rng);
}

void bd_stack_seed(struct bd_stack *st, uint64_t seed)
{
	uint64_t x = seed;
	bd_rng_seed(st->rng, &x);
	for (int i = 0; i < 4; i++) {
		uint64_t v = bd_splitmix64(&x);
		memcpy(st->secret + 8 * i, &v, 8);
	}
}

/* --- stack object, ports, poll loop --------------------------------------- */

const struct bd_counter_desc bd_net_counter_table[] = {
#define BD_NET_DESC(n) {#n, (uint32_t)offsetof(struct bd_net_stats, n)},
    BD_NET_COUNTERS(BD_NET_DESC)
#undef BD_NET_DESC
};
const size_t bd_net_counter_count =
    sizeof(bd_net_counter_table) / sizeof(bd_net_counter_table[0]);

struct bd_stack *bd_stack_create(const struct bd_stack_config *cfg)
{
	struct bd_stack *st;
	struct bd_net *net;

	if (!cfg || !cfg->pool)
		return NULL;
	st = calloc(1, sizeof(*st));
	net = calloc(1, sizeof(*net));
	if (!st || !net) {
		free(st);
		free(net);
		return NULL;
	}
	st->net = net;
	st->pool = cfg->pool;
	net->cfg = *cfg;
	if (!net->cfg.ttl)
		net->cfg.ttl = 64;
	if (!net->cfg.arp_reachable_ms)
		net->cfg.arp_reachable_ms = 60000;
	if (!net->cfg.arp_retry_ms)
		net->cfg.arp_retry_ms = 1000;
	if (!net->cfg.arp_tries)
		net->cfg.arp_tries = 3;
	/* About what Linux holds per neighbour (unres_qlen_bytes, 208 KiB):
	 * a burst of SYNs to a peer not yet resolved waits, not drops. */
	if (!net->cfg.arp_queue_len)
		net->cfg.arp_queue_len = 128;
	net->arp_reachable_us = (uint64_t)net->cfg.arp_reachable_ms * 1000;
	net->arp_retry_us = (uint64_t)net->cfg.arp_retry_ms * 1000;
	net->wake_us = UINT64_MAX;
	bd_arp_init(net);
	bd_stack_seed(st, cfg->seed);
	net->ip_id = (uint16_t)bd_stack_rand64(st);
	return st;
}

void bd_stack_destroy(struct bd_stack *st)
{
	struct bd_net *net;
	if (!st)
		return;
	net = st->net;
	if (net) {
		bd_arp_flush_all(net);
		while (net->loop_head) {
			struct bd_pkt *p = net->loop_head;
			net->loop_head = p->next;
			bd_pkt_free(p);
		}
		for (unsigned i = 0; i < net->nports; i++) {
			struct bd_netport *np = &net->ports[i];
			for (unsigned k = 0; k < np->ntx; k++)
				bd_pkt_free(np->txq[k]);
			np->ntx = 0;
		}
		free(net);
	}
	free(st);
}

void bd_stack_set_l4(struct bd_stack *st, const struct bd_l4_ops *ops)
{
	if (ops)
		st->net->l4 = *ops;
	else
		memset(&st->net->l4, 0, sizeof(st->net->l4));
}

void bd_stack_set_tcp(struct bd_stack *st, struct bd_tcp_stack *tcp)
{
	st->tcp = tcp;
}

void bd_stack_set_poll_hook(struct bd_stack *st, bd_stack_poll_hook fn,
			    void *ctx)
{
	st->net->poll_hook = fn;
	st->net->poll_ctx = ctx;
}

int bd_stack_add_port(struct bd_stack *st, struct bd_port *port)
{
	struct bd_net *net = st->net;
	struct bd_netport *np;
	if (!port || !port->ops || !port->ops->rx_burst || !port->ops->tx_burst)
		return -BD_EINVAL;
	if (net->nports == BD_NET_MAX_PORTS)
		return -BD_ENOMEM;
	np = &net->ports[net->nports];
	memset(np, 0, sizeof(*np));
	np->port = port;
	np->last_arp = BD_ARP_NONE;
	port->index = net->nports;
	/* A port's capabilities are set before it is added. */
	if (port->caps & BD_PORT_CAP_TX_REF)
		net->tx_ref = true;
	return net->nports++;
}

struct bd_port *bd_stack_port(struct bd_stack *st, uint16_t index)
{
	if (!st->net || index >= st->net->nports)
		return NULL;
	return st->net->ports[index].port;
}

unsigned bd_stack_nports(const struct bd_stack *st)
{
	return st->net ? st->net->nports : 0;
}

int bd_stack_set_ipv4(struct bd_stack *st, uint16_t port, uint32_t addr,
		      uint8_t prefix_len, uint32_t gateway)
{
	struct bd_netport *np;
	if (port >= st->net->nports || prefix_len > 32)
		return -BD_EINVAL;
	np = &st->net->ports[port];
	np->addr = addr;
	np->prefix = prefix_len;
	np->mask = prefix_len ? ~(uint32_t)0 << (32 - prefix_len) : 0;
	np->gw = gateway;
	if (addr && np->port->up)
		bd_arp_gratuitous(st, port);
	return 0;
}

void bd_stack_port_up(struct bd_stack *st, uint16_t port, bool up)
{
	struct bd_netport *np;
	if (port >= st->net->nports)
		return;
	np = &st->net->ports[port];
	if (up && !np->port->up && np->addr) {
		np->port->up = true;
		bd_arp_gratuitous(st, port);
	}
	np->port->up = up;
}

uint32_t bd_stack_port_ipv4(const struct bd_stack *st, uint16_t port)
{
	if (!st->net || port >= st->net->nports)
		return 0;
	return st->net->ports[port].addr;
}

void bd_stack_set_now(struct bd_stack *st, uint64_t now_us)
{
	st->now_us = now_us;
}

void bd_stack_wake_at(struct bd_stack *st, uint64_t t_us)
{
	if (t_us < st->net->wake_us)
		st->net->wake_us = t_us;
}

const struct bd_net_stats *bd_stack_stats(const struct bd_stack *st)
{
	return &st->net->stats;
}

void bd_stack_input(struct bd_stack *st, uint16_t port, struct bd_pkt *p)
{
	if (port >= st->net->nports) {
		BD_NET_INC(st, BdEthInBadPort);
		bd_pkt_free(p);
		return;
	}
	p->port = port;
	bd_eth_input(st, port, p);
}

bool bd_stack_tx_ref(const struct bd_stack *st)
{
	return st->net && st->net->tx_ref;
}

void bd_stack_tx_unref(struct bd_stack *st, const void *lo, size_t len)
{
	struct bd_net *net = st->net;
	const uint8_t *a = lo, *b = a + len;
	if (!net)
		return;
	for (unsigned i = 0; i < net->nports; i++) {
		struct bd_netport *np = &net->ports[i];
		unsigned keep = 0;
		for (unsigned k = 0; k < np->ntx; k++) {
			struct bd_pkt *p = np->txq[k];
			if (p->ref_len && p->ref < b &&
			    p->ref + p->ref_len > a &&
			    bd_pkt_linearize(p) < 0) {
				/* No room (transports refer only to what fits
				 * the buffer): never send stale bytes. */
				np->port->stats.oerrors++;
				bd_pkt_free(p);
				continue;
			}
			np->txq[keep++] = p;
		}
		np->ntx = keep;
	}
}

void bd_stack_tx_flush(struct bd_stack *st)
{
	struct bd_net *net = st->net;
	for (unsigned i = 0; i < net->nports; i++) {
		struct bd_netport *np = &net->ports[i];
		uint16_t sent;
		if (!np->ntx)
			continue;
		sent = np->port->ops->tx_burst(np->port, np->txq, np->ntx);
		for (unsigned k = sent; k < np->ntx; k++) {
			np->port->stats.oerrors++;
			BD_NET_INC(st, BdPortTxFull);
			bd_pkt_free(np->txq[k]);
		}
		np->ntx = 0;
	}
}

unsigned bd_stack_poll(struct bd_stack *st)
{
	struct bd_net *net = st->net;
	struct bd_pkt *burst[BD_NET_BURST];
	unsigned total = 0;

	for (unsigned i = 0; i < net->nports; i++) {
		struct bd_port *port = net->ports[i].port;
		uint16_t n;
		/* Bounded: a few bursts per port per poll, then the rest. */
		for (int round = 0; round < 8; round++) {
			n = port->ops->rx_burst(port, burst, BD_NET_BURST);
			for (uint16_t k = 0; k < n; k++) {
				port->stats.ipackets++;
				port->stats.ibytes += burst[k]->len;
				burst[k]->port = (uint16_t)i;
				bd_eth_input(st, (uint16_t)i, burst[k]);
			}
			total += n;
			if (n < BD_NET_BURST)
				break;
		}
	}
	if (net->loop_head)
		bd_ipv4_loopback(st);
	if (net->arp_timer_us <= st->now_us)
		bd_arp_timers(st);
	if (net->l4.timers &&
	    (!net->l4.next_deadline || net->l4.next_deadline(st) <= st->now_us))
		net->l4.timers(st);
	if (net->wake_us <= st->now_us)
		net->wake_us = UINT64_MAX;
	if (net->poll_hook)
		net->poll_hook(net->poll_ctx, st);
	if (net->l4.flush)
		net->l4.flush(st);
	bd_stack_tx_flush(st);
	return total;
}

uint64_t bd_stack_next_deadline(struct bd_stack *st)
{
	struct bd_net *net = st->net;
	uint64_t t = net->arp_timer_us;
	if (net->loop_head)
		return st->now_us;
	if (net->wake_us < t)
		t = net->wake_us;
	if (net->l4.next_deadline) {
		uint64_t l4 = net->l4.next_deadline(st);
		if (l4 < t)
			t = l4;
	}
	return t;
}
