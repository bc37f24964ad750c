/* SPDX-License-Identifier: Apache-2.0
 *
 * The simulated network: hosts (bd_stack each), sim ports (the port back end
 * of the simulator), paths (a pair of links and a /24 each), and the event
 * loop that moves a virtual clock from one event (a packet arriving, a stack
 * deadline) to the next and polls the stacks that have work.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braid/sim.h"

/* Buffers fit headroom + the largest frame the sim's MTU allows, rounded:
 * 2 KiB for the default 1500, about 9.2 KiB for a data center's 9000. */
#define SIM_MAX_MTU 9000u
static uint32_t sim_buf_size(uint16_t mtu)
{
	return (BD_PKT_HEADROOM + 14u + mtu + 511u) & ~511u;
}

struct sim_port {
	struct bd_port port;
	struct bd_sim *sim;
	int host;
	struct bd_link *out; /* the link this port transmits on */
	struct bd_pkt *rxh, *rxt;
};

struct sim_host {
	struct bd_stack *st;
	bool dirty; /* frames waiting in a port's receive queue */
};

struct sim_path {
	int host[2];
	struct sim_port *port[2];
	struct bd_link *link[2]; /* [0] a -> b, [1] b -> a */
};

struct bd_sim {
	uint64_t seed;
	uint64_t now_ns;
	bool started;
	struct bd_pktpool *pool;
	uint16_t max_mtu; /* the pool's buffers fit a frame of this MTU */
	bool tx_ref;	  /* new ports: BD_PORT_CAP_TX_REF */
	uint64_t tx_ref_frames;
	struct sim_host hosts[BD_SIM_MAX_HOSTS];
	int nhosts;
	struct sim_path paths[BD_SIM_MAX_PATHS];
	int npaths;
	struct bd_sim_stats stats;
};

static uint64_t mix(uint64_t seed, uint64_t salt)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull * (salt + 1);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* --- sim port back end ---------------------------------------------------- */

static uint16_t sim_rx_burst(struct bd_port *port, struct bd_pkt **pkts,
			     uint16_t n)
{
	struct sim_port *sp = port->priv;
	uint16_t k = 0;
	while (k < n && sp->rxh) {
		struct bd_pkt *p = sp->rxh;
		sp->rxh = p->next;
		p->next = NULL;
		pkts[k++] = p;
	}
	if (!sp->rxh)
		sp->rxt = NULL;
	return k;
}

static uint16_t sim_tx_burst(struct bd_port *port, struct bd_pkt **pkts,
			     uint16_t n)
{
	struct sim_port *sp = port->priv;
	for (uint16_t i = 0; i < n; i++) {
		if (pkts[i]->ref_len) {
			/* The link keeps the frame: its bytes come along. */
			sp->sim->tx_ref_frames++;
			(void)bd_pkt_linearize(pkts[i]);
		}
		port->stats.opackets++;
		port->stats.obytes += pkts[i]->len;
		pkts[i]->flags = 0; /* checksums travel in software */
		bd_link_send(sp->out, pkts[i], sp->sim->now_ns);
	}
	return n;
}

static const struct bd_port_ops sim_port_ops = {
    .rx_burst = sim_rx_burst,
    .tx_burst = sim_tx_burst,
};

static void sim_port_deliver(struct sim_port *sp, struct bd_pkt *p)
{
	p->next = NULL;
	if (sp->rxt)
		sp->rxt->next = p;
	else
		sp->rxh = p;
	sp->rxt = p;
}

static void sim_port_free(struct sim_port *sp)
{
	if (!sp)
		return;
	while (sp->rxh) {
		struct bd_pkt *p = sp->rxh;
		sp->rxh = p->next;
		bd_pkt_free(p);
	}
	free(sp);
}

/* --- the network ---------------------------------------------------------- */

struct bd_sim *bd_sim_create(uint64_t seed)
{
	return bd_sim_create_mtu(seed, 1500);
}

struct bd_sim *bd_sim_create_mtu(uint64_t seed, uint16_t max_mtu)
{
	if (max_mtu < 1500 || max_mtu > SIM_MAX_MTU)
		return NULL;
	struct bd_sim *sim = calloc(1, sizeof(*sim));
	if (!sim)
		return NULL;
	sim->seed = seed;
	sim->max_mtu = max_mtu;
	sim->pool = bd_pktpool_heap_create(0, sim_buf_size(max_mtu));
	if (!sim->pool) {
		free(sim);
		return NULL;
	}
	return sim;
}

void bd_sim_destroy(struct bd_sim *sim)
{
	if (!sim)
		return;
	for (int i = 0; i < sim->npaths; i++) {
		for (int d = 0; d < 2; d++) {
			bd_link_destroy(sim->paths[i].link[d]);
			sim_port_free(sim->paths[i].port[d]);
		}
	}
	for (int i = 0; i < sim->nhosts; i++)
		bd_stack_destroy(sim->hosts[i].st);
	bd_pktpool_destroy(sim->pool);
	free(sim);
}

struct bd_pktpool *bd_sim_pool(struct bd_sim *sim)
{
	return sim->pool;
}

int bd_sim_add_host(struct bd_sim *sim)
{
	struct bd_stack_config cfg = {0};
	struct bd_stack *st;
	if (sim->nhosts == BD_SIM_MAX_HOSTS)
		return -BD_ENOMEM;
	cfg.seed = mix(sim->seed, 1000 + (uint64_t)sim->nhosts);
	cfg.pool = sim->pool;
	st = bd_stack_create(&cfg);
	if (!st)
		return -BD_ENOMEM;
	bd_stack_set_now(st, sim->now_ns / 1000);
	sim->hosts[sim->nhosts].st = st;
	return sim->nhosts++;
}

struct bd_stack *bd_sim_stack(struct bd_sim *sim, int host)
{
	if (host < 0 || host >= sim->nhosts)
		return NULL;
	return sim->hosts[host].st;
}

uint32_t bd_sim_path_addr(int path, int side)
{
	return BD_IP4(10, path + 1, 0, side ? 2 : 1);
}

unsigned bd_sim_npaths(const struct bd_sim *sim)
{
	return (unsigned)sim->npaths;
}

void bd_sim_set_tx_ref(struct bd_sim *sim, bool on)
{
	sim->tx_ref = on;
}

uint64_t bd_sim_tx_ref_frames(const struct bd_sim *sim)
{
	return sim->tx_ref_frames;
}

int bd_sim_add_path(struct bd_sim *sim, int host_a, int host_b,
		    const struct bd_link_params *ab,
		    const struct bd_link_params *ba, uint16_t mtu)
{
	struct sim_path *path;
	int idx = sim->npaths;

	if (idx == BD_SIM_MAX_PATHS || host_a < 0 || host_b < 0 ||
	    host_a >= sim->nhosts || host_b >= sim->nhosts || host_a == host_b)
		return -BD_EINVAL;
	if (!mtu)
		mtu = 1500;
	if (mtu < 576 || mtu > sim->max_mtu)
		return -BD_EINVAL;
	if (!ba)
		ba = ab;
	path = &sim->paths[idx];
	memset(path, 0, sizeof(*path));
	path->host[0] = host_a;
	path->host[1] = host_b;
	path->link[0] =
	    bd_link_create(ab, mix(sim->seed, 2 * (uint64_t)idx), sim->pool);
	path->link[1] = bd_link_create(
	    ba, mix(sim->seed, 2 * (uint64_t)idx + 1), sim->pool);
	for (int s = 0; s < 2; s++) {
		struct sim_port *sp = calloc(1, sizeof(*sp));
		struct bd_stack *st = sim->hosts[path->host[s]].st;
		int pi;
		path->port[s] = sp;
		if (!sp || !path->link[s])
			goto fail;
		sp->sim = sim;
		sp->host = path->host[s];
		sp->out = path->link[s];
		sp->port.ops = &sim_port_ops;
		sp->port.priv = sp;
		sp->port.mtu = mtu;
		sp->port.up = true;
		if (sim->tx_ref)
			sp->port.caps |= BD_PORT_CAP_TX_REF;
		sp->port.mac[0] = 0x02;
		sp->port.mac[1] = 0xbd;
		sp->port.mac[3] = (uint8_t)path->host[s];
		sp->port.mac[4] = (uint8_t)idx;
		sp->port.mac[5] = (uint8_t)s;
		pi = bd_stack_add_port(st, &sp->port);
		if (pi < 0)
			goto fail;
		snprintf(sp->port.name, sizeof(sp->port.name), "sim%d.%d",
			 path->host[s], pi);
		bd_stack_set_ipv4(st, (uint16_t)pi, bd_sim_path_addr(idx, s),
				  24, 0);
	}
	sim->npaths++;
	return idx;
fail:
	/* A half-attached port stays on its stack; the sim is unusable. */
	return -BD_ENOMEM;
}

struct bd_link *bd_sim_link(struct bd_sim *sim, int path, int dir)
{
	if (path < 0 || path >= sim->npaths || dir < 0 || dir > 1)
		return NULL;
	return sim->paths[path].link[dir];
}

uint64_t bd_sim_now_ns(const struct bd_sim *sim)
{
	return sim->now_ns;
}

const struct bd_sim_stats *bd_sim_stats(const struct bd_sim *sim)
{
	return &sim->stats;
}

static uint64_t us_to_ns(uint64_t us)
{
	return us >= UINT64_MAX / 1000 ? UINT64_MAX : us * 1000;
}

static void poll_host(struct bd_sim *sim, struct sim_host *h)
{
	bd_stack_set_now(h->st, sim->now_ns / 1000);
	bd_stack_poll(h->st);
	h->dirty = false;
	sim->stats.polls++;
}

int bd_sim_run(struct bd_sim *sim, uint64_t limit_ns, bd_sim_until_fn until,
	       void *ctx)
{
	uint64_t deadline[BD_SIM_MAX_HOSTS];
	unsigned stuck = 0;

	if (!sim->started) {
		sim->started = true;
		for (int i = 0; i < sim->nhosts; i++)
			poll_host(sim, &sim->hosts[i]);
	}
	for (;;) {
		uint64_t t = UINT64_MAX;

		if (until && until(ctx, sim))
			return 1;
		for (int i = 0; i < sim->npaths; i++)
			for (int d = 0; d < 2; d++) {
				uint64_t a =
				    bd_link_next_ns(sim->paths[i].link[d]);
				if (a < t)
					t = a;
			}
		for (int i = 0; i < sim->nhosts; i++) {
			deadline[i] =
			    us_to_ns(bd_stack_next_deadline(sim->hosts[i].st));
			if (deadline[i] < t)
				t = deadline[i];
		}
		if (t == UINT64_MAX)
			return 0;
		if (t > limit_ns) {
			if (limit_ns > sim->now_ns)
				sim->now_ns = limit_ns;
			return 0;
		}
		if (t <= sim->now_ns) {
			t = sim->now_ns;
			/* A deadline that polling does not move: step the
			 * clock by a microsecond rather than spin. */
			if (++stuck > 1000) {
				t = sim->now_ns + 1000;
				stuck = 0;
				sim->stats.time_skips++;
			}
		} else {
			stuck = 0;
		}
		sim->now_ns = t;
		sim->stats.steps++;
		for (int i = 0; i < sim->npaths; i++) {
			struct sim_path *path = &sim->paths[i];
			for (int d = 0; d < 2; d++) {
				struct sim_port *dst = path->port[1 - d];
				struct bd_pkt *p;
				while ((p = bd_link_recv(path->link[d], t))) {
					sim_port_deliver(dst, p);
					sim->hosts[dst->host].dirty = true;
					sim->stats.delivered++;
				}
			}
		}
		for (int i = 0; i < sim->nhosts; i++) {
			struct sim_host *h = &sim->hosts[i];
			if (h->dirty || deadline[i] <= t)
				poll_host(sim, h);
		}
	}
}
