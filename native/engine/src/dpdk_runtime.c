/* SPDX-License-Identifier: Apache-2.0
 *
 * The DPDK runtime: ethdev ports behind bd_port, one bd_stack per worker
 * lcore, steering (rte_flow or software dispatch through rings), adaptive
 * polling and the control rings. See braid/dpdk.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_devargs.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_memory.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "braid/tcp.h"
#include "dpdk_impl.h"

#define RT_OWNER_ALL 0xffffu
#define RT_NO_PIN    0xffu
/* Frames a worker holds per port while the PMD's TX ring is full (a memif
 * peer that has not read yet): sent first at the next burst or poll
 * instead of dropped, like a kernel interface's qdisc. */
#define RT_TX_HOLD 2048u
/* Default TCP send and receive buffers of the runtime's stacks: a window
 * one worker wake-up can keep busy (the kernel's autotuning grows to
 * 4-6 MiB; 256 KiB held a memif pair to one window per scheduling delay). */
#define RT_TCP_BUF (2u << 20)
/* Joined subflows' steering table (see "MP_JOIN steering" below). */
#define RT_FLOWS       16384u
#define RT_FLOW_PROBES 16u
#define RT_FLOW_EMPTY  0ull
#define RT_FLOW_GONE   (~0ull)

struct bd_rt;
struct rt_worker;

/* One port as seen by one worker: its own bd_port, RX and TX queues. */
struct rt_wport {
	struct bd_port port;
	struct rt_worker *w;
	unsigned pidx;
	uint16_t port_id;
	uint16_t txq;
	bool has_rxq;
	bool csum_off; /* frames trusted: no checksums (cfg.csum_off) */
	uint16_t rxq;
	uint64_t tx_seen;	    /* opackets at the last poll (activity) */
	uint32_t hold_head, hold_n; /* frames the PMD refused, in order */
	struct rte_mbuf *hold[RT_TX_HOLD];
};

struct rt_port {
	struct bd_rt_port_config cfg;
	uint16_t port_id;
	bool started;
	uint16_t nrxq, ntxq, mtu;
	uint32_t caps;
	struct rte_ether_addr mac;
	char driver[32];
	/* The kernel interface under the port (net_af_packet), whose carrier
	 * is the link: that PMD reports its link up from start to stop. */
	char ifname[IF_NAMESIZE];
	struct rte_ring *disp[BD_RT_MAX_WORKERS]; /* frames for worker w */
	struct rte_flow *flows[BD_RT_MAX_WORKERS + 64];
	unsigned nflows;
	bool flow_ok;
	char flow_reason[96];
};

struct rt_call {
	bd_rt_fn fn;
	void *arg;
	int done; /* set (release) by the worker */
};

struct rt_worker {
	struct bd_rt *rt;
	unsigned idx;
	unsigned lcore;
	struct bd_stack *st;
	struct bd_mptcp_stack *ms;
	struct bd_dpdk_pool pool;
	struct rt_wport wports[BD_RT_MAX_PORTS];
	struct rte_ring *ctl;
	uint64_t next_link_us;
	struct bd_rt_worker_stats stats;
	bool launched;
};

/* A joined subflow's (remote address, remote port, local port) and the
 * worker holding its connection. */
struct rt_flow {
	uint64_t key; /* RT_FLOW_EMPTY, RT_FLOW_GONE, or the flow */
	uint32_t val; /* owner + 1 (0: being written) | references << 8 */
	uint32_t pad;
};

struct bd_rt {
	struct bd_rt_config cfg;
	struct rte_mempool *mp;
	unsigned nports, nworkers;
	struct rt_port ports[BD_RT_MAX_PORTS];
	struct rt_worker workers[BD_RT_MAX_WORKERS];
	int stop;
	bool running;
	uint64_t tsc0, tsc_hz;
	uint64_t us_mult; /* 2^32 * 1e6 / tsc_hz */
	uint16_t eph_base;
	uint32_t eph_block;
	unsigned eph_shift;
	uint8_t pin[65536];
	int ifsock; /* for SIOCGIFFLAGS; -1 when no port needs it */
	/* MP_JOIN steering (several workers with MPTCP). */
	struct rt_flow *flows;
	unsigned flows_live;
};

static unsigned rt_seq;

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

void bd_rt_config_default(struct bd_rt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->nworkers = 1;
	cfg->spin_us = 200;
	cfg->idle_sleep_min_us = 50;
	cfg->idle_sleep_max_us = 200;
	cfg->eph_base = 32768;
	cfg->eph_size = 32768;
	cfg->ring_size = 4096;
	cfg->tcp = true;
	cfg->mptcp = true;
	bd_mptcp_config_default(&cfg->mptcp_cfg);
}

uint64_t bd_rt_now_us(const struct bd_rt *rt)
{
	uint64_t c = rte_get_tsc_cycles() - rt->tsc0;
	/* Start at 1 s so that no timestamp of the engine is 0. A multiply
	 * and a shift (no division: workers read the clock several times a
	 * poll). */
	return 1000000u +
	       (uint64_t)(((unsigned __int128)c * rt->us_mult) >> 32);
}

unsigned bd_rt_nworkers(const struct bd_rt *rt)
{
	return rt->nworkers;
}

bool bd_rt_running(const struct bd_rt *rt)
{
	return rt->running;
}

struct bd_stack *bd_rt_stack(struct bd_rt *rt, unsigned w)
{
	return w < rt->nworkers ? rt->workers[w].st : NULL;
}

struct bd_mptcp_stack *bd_rt_mptcp(struct bd_rt *rt, unsigned w)
{
	return w < rt->nworkers ? rt->workers[w].ms : NULL;
}

/* --- steering ------------------------------------------------------------- */

unsigned bd_rt_owner(const struct bd_rt *rt, uint32_t raddr, uint16_t rport,
		     uint16_t lport)
{
	uint32_t h;
	uint8_t pin;
	if (rt->nworkers == 1)
		return 0;
	if (lport >= rt->eph_base && (uint32_t)(lport - rt->eph_base) <
					 rt->eph_block * (uint32_t)rt->nworkers)
		return (unsigned)(lport - rt->eph_base) >> rt->eph_shift;
	pin = __atomic_load_n(&rt->pin[lport], __ATOMIC_RELAXED);
	if (pin != RT_NO_PIN)
		return pin;
	h = raddr * 0x9e3779b1u;
	h ^= ((uint32_t)rport << 16 | lport) * 0x85ebca6bu;
	h ^= h >> 15;
	h *= 0xc2b2ae35u;
	h ^= h >> 13;
	return h % rt->nworkers;
}

int bd_rt_pin_port(struct bd_rt *rt, uint16_t lport, unsigned w)
{
	if (w >= rt->nworkers || rt->running)
		return -BD_EINVAL;
	rt->pin[lport] = (uint8_t)w;
	return 0;
}

int bd_rt_pin_port_live(struct bd_rt *rt, uint16_t lport, unsigned w, bool on)
{
	uint8_t want = on ? (uint8_t)w : (uint8_t)RT_NO_PIN;
	uint8_t cur = on ? (uint8_t)RT_NO_PIN : (uint8_t)w;
	if (w >= rt->nworkers)
		return -BD_EINVAL;
	if (rt->nworkers == 1)
		return 0;
	/* Only a free port is pinned, only this worker's pin removed. */
	return __atomic_compare_exchange_n(&rt->pin[lport], &cur, want, false,
					   __ATOMIC_RELEASE, __ATOMIC_RELAXED)
		   ? 0
		   : -BD_EADDRINUSE;
}

int bd_rt_pinned(const struct bd_rt *rt, uint16_t lport)
{
	uint8_t pin = __atomic_load_n(&rt->pin[lport], __ATOMIC_RELAXED);
	return pin == RT_NO_PIN ? -1 : pin;
}

void bd_rt_eph_block(const struct bd_rt *rt, unsigned w, uint16_t *lo,
		     uint16_t *hi)
{
	uint32_t l = rt->eph_base + rt->eph_block * w;
	*lo = (uint16_t)l;
	*hi = (uint16_t)(l + rt->eph_block - 1);
}

static inline uint16_t rd16(const uint8_t *b)
{
	return (uint16_t)((uint16_t)b[0] << 8 | b[1]);
}

static inline uint32_t rd32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* --- MP_JOIN steering ------------------------------------------------------
 *
 * Each worker's MPTCP stack makes only keys whose token % nworkers is the
 * worker (bd_mptcp_set_steering), so an MP_JOIN SYN goes to the worker its
 * token names, whichever worker its addresses hash to. The owner then
 * records the subflow (remote address and port, local port) in one table
 * shared by the workers, and the dispatcher steers the subflow's later
 * segments by it; the owner removes it when the subflow is freed. Writers
 * are owners (each its own flows, claiming slots by compare-and-swap);
 * readers are whichever worker reads a frame. Open addressing, at most
 * RT_FLOW_PROBES slots from the hash; a removed flow leaves RT_FLOW_GONE so
 * that later ones stay reachable. A join that finds no slot is refused
 * (RST with MP_TCPRST "lack of resources", counted in join_refused). */

static inline uint64_t flow_key(uint32_t raddr, uint16_t rport, uint16_t lport)
{
	return (uint64_t)raddr << 32 | (uint32_t)rport << 16 | lport;
}

static inline uint32_t flow_slot(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	return (uint32_t)key & (RT_FLOWS - 1);
}

/* The owner of a joined subflow, or -1. */
static int flow_owner(const struct bd_rt *rt, uint64_t key)
{
	uint32_t i = flow_slot(key);
	for (unsigned p = 0; p < RT_FLOW_PROBES; p++) {
		const struct rt_flow *f = &rt->flows[(i + p) & (RT_FLOWS - 1)];
		uint64_t k = __atomic_load_n(&f->key, __ATOMIC_ACQUIRE);
		if (k == RT_FLOW_EMPTY)
			return -1;
		if (k == key) {
			uint32_t v = __atomic_load_n(&f->val, __ATOMIC_ACQUIRE);
			return (v & 0xff) ? (int)(v & 0xff) - 1 : -1;
		}
	}
	return -1;
}

static bool flow_add(struct bd_rt *rt, uint64_t key, unsigned owner)
{
	uint32_t i = flow_slot(key);
	for (unsigned p = 0; p < RT_FLOW_PROBES; p++) {
		struct rt_flow *f = &rt->flows[(i + p) & (RT_FLOWS - 1)];
		uint64_t k = __atomic_load_n(&f->key, __ATOMIC_ACQUIRE);
		if (k == RT_FLOW_EMPTY)
			break;
		if (k == key) {
			/* Its tuple again (an earlier subflow still in
			 * TIME-WAIT): one more reference, the latest owner. */
			uint32_t v = __atomic_load_n(&f->val, __ATOMIC_ACQUIRE);
			v = ((v >> 8) + 1) << 8 | (owner + 1);
			__atomic_store_n(&f->val, v, __ATOMIC_RELEASE);
			return true;
		}
	}
	for (unsigned p = 0; p < RT_FLOW_PROBES; p++) {
		struct rt_flow *f = &rt->flows[(i + p) & (RT_FLOWS - 1)];
		uint64_t k = __atomic_load_n(&f->key, __ATOMIC_ACQUIRE);
		if (k != RT_FLOW_EMPTY && k != RT_FLOW_GONE)
			continue;
		__atomic_store_n(&f->val, 0, __ATOMIC_RELEASE);
		if (!__atomic_compare_exchange_n(&f->key, &k, key, false,
						 __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE))
			continue; /* another worker took it */
		__atomic_store_n(&f->val, 1u << 8 | (owner + 1),
				 __ATOMIC_RELEASE);
		__atomic_fetch_add(&rt->flows_live, 1, __ATOMIC_RELEASE);
		return true;
	}
	return false;
}

static void flow_del(struct bd_rt *rt, uint64_t key)
{
	uint32_t i = flow_slot(key);
	for (unsigned p = 0; p < RT_FLOW_PROBES; p++) {
		struct rt_flow *f = &rt->flows[(i + p) & (RT_FLOWS - 1)];
		uint64_t k = __atomic_load_n(&f->key, __ATOMIC_ACQUIRE);
		if (k == RT_FLOW_EMPTY)
			return;
		if (k != key)
			continue;
		uint32_t v = __atomic_load_n(&f->val, __ATOMIC_ACQUIRE);
		if ((v >> 8) > 1) {
			__atomic_store_n(&f->val, v - (1u << 8),
					 __ATOMIC_RELEASE);
			return;
		}
		__atomic_store_n(&f->val, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&f->key, RT_FLOW_GONE, __ATOMIC_RELEASE);
		__atomic_fetch_sub(&rt->flows_live, 1, __ATOMIC_RELEASE);
		return;
	}
}

/* The MPTCP stack of worker w accepted (up) or freed a passive MP_JOIN
 * subflow (bd_mptcp_set_steering). Runs on w. */
static bool rt_join(void *ctx, bool up, const struct bd_ipaddr *raddr,
		    uint16_t rport, const struct bd_ipaddr *laddr,
		    uint16_t lport)
{
	struct rt_worker *w = ctx;
	struct bd_rt *rt = w->rt;
	(void)laddr;
	if (raddr->family != BD_AF_INET || !rt->flows)
		return true;
	uint64_t key = flow_key(raddr->v4, rport, lport);
	if (!up) {
		flow_del(rt, key);
		return true;
	}
	if (flow_add(rt, key, w->idx))
		return true;
	w->stats.join_refused++;
	return false;
}

/* The token of an MP_JOIN SYN's option block, if it has one. */
static bool join_token(const uint8_t *o, unsigned len, uint32_t *token)
{
	for (unsigned i = 0; i < len;) {
		if (o[i] == 0)
			break;
		if (o[i] == 1) {
			i++;
			continue;
		}
		if (len - i < 2 || o[i + 1] < 2 || o[i + 1] > len - i)
			break;
		if (o[i] == 30 && o[i + 1] == 12 && (o[i + 2] >> 4) == 1) {
			*token = rd32(o + i + 4);
			return true;
		}
		i += o[i + 1];
	}
	return false;
}

/* The owner of a received Ethernet frame (RT_OWNER_ALL: every worker). */
static unsigned classify(const struct bd_rt *rt, struct rt_worker *w,
			 const uint8_t *f, uint32_t len)
{
	const uint8_t *ip, *tcp;
	uint32_t ihl;
	uint16_t type;
	if (len < 14)
		return 0;
	type = rd16(f + 12);
	if (type == 0x0806)
		return RT_OWNER_ALL;
	if (type != 0x0800 || len < 14 + 20)
		return 0;
	ip = f + 14;
	ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (ip[9] != 6 || ihl < 20 || len < 14 + ihl + 4 ||
	    (rd16(ip + 6) & 0x1fff))
		return 0;
	tcp = ip + ihl;
	if (rt->flows && len >= 14 + ihl + 20) {
		unsigned doff = (unsigned)(tcp[12] >> 4) * 4;
		uint32_t token;
		int o;
		/* An MP_JOIN SYN: the worker its token names. */
		if ((tcp[13] & 0x16) == 0x02 && doff > 20 &&
		    len >= 14 + ihl + doff &&
		    join_token(tcp + 20, doff - 20, &token)) {
			w->stats.join_steered++;
			return token % rt->nworkers;
		}
		/* A joined subflow's segment: its connection's worker. */
		if (__atomic_load_n(&rt->flows_live, __ATOMIC_ACQUIRE) &&
		    (o = flow_owner(rt, flow_key(rd32(ip + 12), rd16(tcp),
						 rd16(tcp + 2)))) >= 0) {
			w->stats.flow_steered++;
			return (unsigned)o;
		}
	}
	return bd_rt_owner(rt, rd32(ip + 12), rd16(tcp), rd16(tcp + 2));
}

/* --- the port back end ---------------------------------------------------- */

static void hand_over(struct rt_worker *w, struct rt_port *rp, unsigned to,
		      struct bd_pkt *p)
{
	if (rte_ring_mp_enqueue(rp->disp[to], p) != 0) {
		w->stats.disp_drops++;
		bd_pkt_free(p);
		return;
	}
	w->stats.disp_out++;
}

static uint16_t rt_rx_burst(struct bd_port *port, struct bd_pkt **pkts,
			    uint16_t n)
{
	struct rt_wport *wp = port->priv;
	struct rt_worker *w = wp->w;
	struct bd_rt *rt = w->rt;
	struct rt_port *rp = &rt->ports[wp->pidx];
	struct rte_mbuf *mb[BD_NET_BURST];
	uint16_t k = 0, nb;

	if (rt->nworkers > 1) {
		k = (uint16_t)rte_ring_sc_dequeue_burst(rp->disp[w->idx],
							(void **)pkts, n, NULL);
		for (uint16_t i = 0; i < k; i++)
			pkts[i]->pool = &w->pool.pool;
		w->stats.disp_in += k;
	}
	if (k == n || !wp->has_rxq)
		return k;
	nb = rte_eth_rx_burst(wp->port_id, wp->rxq, mb,
			      (uint16_t)RTE_MIN(n - k, BD_NET_BURST));
	w->stats.rx_frames += nb;
	for (uint16_t i = 0; i < nb; i++) {
		struct rte_mbuf *m = mb[i];
		struct bd_pkt *p;
		unsigned owner;
		if (m->nb_segs != 1) {
			w->stats.rx_bad++;
			rte_pktmbuf_free(m);
			continue;
		}
		p = bd_dpdk_pkt_init(m, &w->pool.pool);
		if (wp->csum_off)
			p->flags |= BD_PKT_F_IP_CSUM_OK | BD_PKT_F_L4_CSUM_OK;
		if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) ==
		    RTE_MBUF_F_RX_IP_CKSUM_GOOD)
			p->flags |= BD_PKT_F_IP_CSUM_OK;
		if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) ==
		    RTE_MBUF_F_RX_L4_CKSUM_GOOD)
			p->flags |= BD_PKT_F_L4_CSUM_OK;
		p->ts_us = bd_stack_now_us(w->st);
		owner = classify(rt, w, p->data, p->len);
		if (owner == RT_OWNER_ALL) {
			for (unsigned o = 0; o < rt->nworkers; o++) {
				struct bd_pkt *c;
				if (o == w->idx)
					continue;
				c = bd_pkt_alloc(&w->pool.pool);
				if (!c) {
					w->stats.disp_drops++;
					continue;
				}
				memcpy(c->data, p->data, p->len);
				c->len = p->len;
				/* The reading worker answers; the others
				 * only learn the neighbour. */
				c->flags = p->flags | BD_PKT_F_LEARN_ONLY;
				c->ts_us = p->ts_us;
				w->stats.arp_copies++;
				hand_over(w, rp, o, c);
			}
			owner = w->idx;
		}
		if (owner == w->idx) {
			w->stats.rx_own++;
			pkts[k++] = p;
		} else {
			hand_over(w, rp, owner, p);
		}
	}
	return k;
}

/* Hand frames to the PMD; returns how many it took. */
static uint16_t pmd_send(struct rt_wport *wp, struct rte_mbuf **mb, uint16_t n)
{
	uint32_t len[BD_NET_BURST];
	uint64_t bytes = 0;
	uint16_t sent;
	/* The lengths first: the PMD frees what it sends. */
	for (uint16_t i = 0; i < n && i < BD_NET_BURST; i++)
		len[i] = mb[i]->pkt_len;
	sent = rte_eth_tx_burst(wp->port_id, wp->txq, mb,
				(uint16_t)RTE_MIN(n, BD_NET_BURST));
	for (uint16_t i = 0; i < sent; i++)
		bytes += len[i];
	wp->port.stats.opackets += sent;
	wp->port.stats.obytes += bytes;
	wp->w->stats.tx_frames += sent;
	return sent;
}

/* Send what the port holds; true when nothing is left. */
static bool hold_drain(struct rt_wport *wp)
{
	while (wp->hold_n) {
		uint32_t c = RT_TX_HOLD - wp->hold_head;
		uint16_t sent;
		if (c > wp->hold_n)
			c = wp->hold_n;
		if (c > BD_NET_BURST)
			c = BD_NET_BURST;
		sent = pmd_send(wp, &wp->hold[wp->hold_head], (uint16_t)c);
		wp->hold_head = (wp->hold_head + sent) % RT_TX_HOLD;
		wp->hold_n -= sent;
		if (sent < c)
			return false;
	}
	wp->hold_head = 0;
	return true;
}

static uint16_t rt_tx_burst(struct bd_port *port, struct bd_pkt **pkts,
			    uint16_t n)
{
	struct rt_wport *wp = port->priv;
	struct rte_mbuf *mb[BD_NET_BURST];
	uint16_t done = 0;
	bool open = hold_drain(wp);

	const bool ref_ok = (wp->port.caps & BD_PORT_CAP_TX_REF) != 0;

	while (open && done < n) {
		uint16_t c = (uint16_t)RTE_MIN(n - done, BD_NET_BURST), sent;
		uint16_t nref = 0;
		for (uint16_t i = 0; i < c; i++) {
			mb[i] = bd_dpdk_mbuf_sync(pkts[done + i], ref_ok);
			nref = (uint16_t)(nref + (mb[i]->nb_segs > 1));
		}
		sent = pmd_send(wp, mb, c);
		done += sent;
		if (sent < c) {
			/* Held past this call: their bytes come along. */
			for (uint16_t i = sent; i < c; i++) {
				nref = (uint16_t)(nref - (mb[i]->nb_segs > 1));
				bd_dpdk_mbuf_unref(mb[i]);
			}
			open = false;
		}
		wp->w->stats.tx_ref += nref;
	}
	/* The ring is full: hold the rest (in order, behind what is held). */
	while (done < n && wp->hold_n < RT_TX_HOLD) {
		wp->hold[(wp->hold_head + wp->hold_n) % RT_TX_HOLD] =
		    bd_dpdk_mbuf_sync(pkts[done++], false);
		wp->hold_n++;
	}
	if (done < n)
		wp->w->stats.tx_full += (uint64_t)(n - done);
	return done;
}

static const struct bd_port_ops rt_port_ops = {
    .rx_burst = rt_rx_burst,
    .tx_burst = rt_tx_burst,
};

/* --- opening ports -------------------------------------------------------- */

/* The value of a vdev's devarg `key` (up to the next comma), or NULL. */
static const char *devarg(const struct rte_device *dev, const char *key)
{
	const struct rte_devargs *da = dev ? rte_dev_devargs(dev) : NULL;
	const char *a = da ? da->args : NULL;
	size_t kl = strlen(key);
	for (const char *p = a; p && *p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return p + kl + 1;
	}
	return NULL;
}

/* A memif vdev's packet buffer size (its `bsize` devarg, else 2048). */
static uint32_t memif_bsize(const struct rte_device *dev)
{
	const char *v = devarg(dev, "bsize");
	return v ? (uint32_t)strtoul(v, NULL, 0) : 2048;
}

/* An af_packet ring frame as it reaches the port: the kernel puts a
 * received frame at the ring slot's TPACKET_V2 MAC offset (the header and a
 * 16-byte aligned network header: 66 bytes) and cuts what does not fit, and
 * the PMD sends from 32 bytes in, copying a received frame into one mbuf.
 * For an MTU above 1500 the slot must hold the MTU's frame after that
 * offset: AFP_FRAMESZ (a multiple of 1 KiB, so that a block of four slots is
 * whole pages) is what the runtime sizes its mbufs for and suggests. */
#define AFP_RX_MACOFF	 (TPACKET_ALIGN(TPACKET2_HDRLEN + 16) - 14)
#define AFP_TX_OFF	 (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
#define AFP_FRAMESZ(mtu) RTE_ALIGN((uint32_t)(mtu) + 14 + AFP_RX_MACOFF, 1024)

/* Whether a devarg's value (up to a comma) is `want`. */
static bool devarg_is(const char *v, const char *want)
{
	size_t n = strlen(want);
	return v && strncmp(v, want, n) == 0 && (v[n] == ',' || v[n] == 0);
}

static int port_open(struct bd_rt *rt, struct rt_port *rp, char *err,
		     size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t pid, nrxd, ntxd, mtu;
	uint64_t rx_want, tx_want;
	int rc, sock;

	if (rte_eth_dev_get_port_by_name(rp->cfg.dev, &pid) != 0) {
		char names[256] = "";
		uint16_t id;
		size_t used = 0;
		RTE_ETH_FOREACH_DEV(id)
		{
			char nm[RTE_ETH_NAME_MAX_LEN];
			if (rte_eth_dev_get_name_by_port(id, nm) == 0 &&
			    used < sizeof(names))
				used += (size_t)snprintf(
				    names + used, sizeof(names) - used, "%s%s",
				    used ? ", " : "", nm);
		}
		errf(err, errlen,
		     "port %s cannot be opened: EAL has no such device "
		     "(devices: %s)",
		     rp->cfg.dev, used ? names : "none");
		return -BD_EINVAL;
	}
	rp->port_id = pid;
	rc = rte_eth_dev_info_get(pid, &info);
	if (rc != 0) {
		errf(err, errlen, "port %s: device info: %s", rp->cfg.dev,
		     rte_strerror(-rc));
		return -BD_EINVAL;
	}
	snprintf(rp->driver, sizeof(rp->driver), "%s",
		 info.driver_name ? info.driver_name : "");
	rp->ifname[0] = 0;
	if (strcmp(rp->driver, "net_af_packet") == 0 && info.if_index &&
	    !if_indextoname(info.if_index, rp->ifname))
		rp->ifname[0] = 0;
	if (info.max_tx_queues < rt->nworkers) {
		errf(err, errlen,
		     "port %s (%s) has %u TX queues, %u workers need one each",
		     rp->cfg.dev, rp->driver, info.max_tx_queues, rt->nworkers);
		return -BD_EINVAL;
	}
	rp->nrxq = (uint16_t)RTE_MIN(rt->nworkers, info.max_rx_queues);
	rp->ntxq = (uint16_t)rt->nworkers;
	if (!rp->nrxq) {
		errf(err, errlen, "port %s has no RX queue", rp->cfg.dev);
		return -BD_EINVAL;
	}
	memset(&conf, 0, sizeof(conf));
	if (rp->nrxq > 1 && info.flow_type_rss_offloads) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf =
		    info.flow_type_rss_offloads &
		    (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP);
	}
	rx_want = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	tx_want = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	conf.rxmode.offloads = info.rx_offload_capa & rx_want;
	conf.txmode.offloads = info.tx_offload_capa & tx_want;
	rp->caps = 0;
	if (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
		rp->caps |= BD_PORT_CAP_IP_CSUM_RX;
	if (conf.rxmode.offloads & RTE_ETH_RX_OFFLOAD_TCP_CKSUM)
		rp->caps |= BD_PORT_CAP_L4_CSUM_RX;
	if (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		rp->caps |= BD_PORT_CAP_IP_CSUM_TX;
	if (conf.txmode.offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM)
		rp->caps |= BD_PORT_CAP_L4_CSUM_TX;
	if (rp->cfg.csum_off) {
		/* A trusted shared-memory link: the stack leaves every checksum
		 * to "the port", which neither computes nor checks any. */
		if (strcmp(rp->driver, "net_memif") != 0) {
			errf(err, errlen,
			     "port %s: checksum \"off\" is only for a trusted "
			     "shared-memory link (net_memif), not %s",
			     rp->cfg.dev, rp->driver);
			return -BD_EINVAL;
		}
		rp->caps |= BD_PORT_CAP_IP_CSUM_RX | BD_PORT_CAP_L4_CSUM_RX |
			    BD_PORT_CAP_IP_CSUM_TX | BD_PORT_CAP_L4_CSUM_TX;
	}
	rc = rte_eth_dev_configure(pid, rp->nrxq, rp->ntxq, &conf);
	if (rc != 0) {
		errf(err, errlen,
		     "port %s: configure (%u rx, %u tx queues): %s",
		     rp->cfg.dev, rp->nrxq, rp->ntxq, rte_strerror(-rc));
		return -BD_EINVAL;
	}
	mtu = rp->cfg.mtu ? rp->cfg.mtu : 1500;
	rc = rte_eth_dev_set_mtu(pid, mtu);
	if (rc == -ENOTSUP && strcmp(rp->driver, "net_memif") == 0) {
		/* memif has no MTU setting: it carries frames as long as its
		 * buffers (`bsize`, checked below), and the mempool's data
		 * room holds the configured MTU. */
	} else if (rc != 0 && strcmp(rp->driver, "net_af_packet") == 0 &&
		   mtu > 1500) {
		/* This DPDK's af_packet reports 1518-byte frames at most, so
		 * ethdev refuses any larger MTU before asking the PMD; the
		 * PMD itself sends and receives whatever its ring slots hold.
		 * With slots for the frame, the interface gets the MTU as the
		 * PMD's own MTU setting would give it (SIOCSIFMTU). */
		const char *fs = devarg(info.device, "framesz");
		uint32_t slot = fs ? (uint32_t)strtoul(fs, NULL, 0) : 2048;
		uint32_t room =
		    rte_pktmbuf_data_room_size(rt->mp) - RTE_PKTMBUF_HEADROOM;
		struct ifreq ifr;
		if (slot < (uint32_t)mtu + 14 + AFP_RX_MACOFF) {
			errf(err, errlen,
			     "port %s: MTU %u over af_packet needs ring frames "
			     "of at least %u bytes (framesz is %u: add "
			     "framesz=%u,blocksz=%u)",
			     rp->cfg.dev, mtu,
			     (unsigned)(mtu + 14 + AFP_RX_MACOFF), slot,
			     AFP_FRAMESZ(mtu), 4 * AFP_FRAMESZ(mtu));
			return -BD_EINVAL;
		}
		if (slot - AFP_TX_OFF > room) {
			errf(err, errlen,
			     "port %s: af_packet frames of %u bytes do not fit "
			     "the runtime's mbufs (%u bytes for MTU %u: use "
			     "framesz=%u)",
			     rp->cfg.dev, slot, room, mtu, AFP_FRAMESZ(mtu));
			return -BD_EINVAL;
		}
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", rp->ifname);
		ifr.ifr_mtu = mtu;
		if (!rp->ifname[0] || rt->ifsock < 0 ||
		    ioctl(rt->ifsock, SIOCSIFMTU, &ifr) != 0) {
			errf(err, errlen, "port %s: MTU %u on interface %s: %s",
			     rp->cfg.dev, mtu,
			     rp->ifname[0] ? rp->ifname : "(unknown)",
			     strerror(errno));
			return -BD_EINVAL;
		}
	} else if (rc != 0) {
		uint16_t cur = 0;
		if (rte_eth_dev_get_mtu(pid, &cur) == 0 && cur && cur < mtu)
			mtu = cur;
	}
	rp->mtu = mtu;
	if (strcmp(rp->driver, "net_memif") == 0 &&
	    memif_bsize(info.device) < (uint32_t)mtu + 18) {
		/* A frame in chained descriptors reaches this DPDK's memif
		 * receive path as a chain of mbufs of which only some are
		 * counted: refuse rather than drop (rx_bad) every big one. */
		errf(err, errlen,
		     "port %s: MTU %u needs memif buffers of at least %u bytes "
		     "(the vdev's bsize is %u: add bsize=%u)",
		     rp->cfg.dev, mtu, mtu + 18u, memif_bsize(info.device),
		     RTE_ALIGN(mtu + 18u, 64));
		return -BD_EINVAL;
	}
	if (strcmp(rp->driver, "net_memif") == 0 &&
	    devarg(info.device, "zero-copy") &&
	    !devarg_is(devarg(info.device, "zero-copy"), "no")) {
		/* zero-copy=yes: the client hands the server its own mbufs
		 * (EAL memory as memif region 1); the server writes received
		 * frames straight into them, up to their data room, and reads
		 * sent ones from them. The server side ignores the devarg. */
		const char *role = devarg(info.device, "role");
		uint32_t room =
		    rte_pktmbuf_data_room_size(rt->mp) - RTE_PKTMBUF_HEADROOM;
		if (!devarg_is(devarg(info.device, "zero-copy"), "yes")) {
			errf(err, errlen,
			     "port %s: zero-copy must be yes or no",
			     rp->cfg.dev);
			return -BD_EINVAL;
		}
		if (devarg_is(role, "server") || devarg_is(role, "master")) {
			errf(err, errlen,
			     "port %s: zero-copy=yes is for the memif client "
			     "(role=client); a server copies whatever it is "
			     "given",
			     rp->cfg.dev);
			return -BD_EINVAL;
		}
		if (room < memif_bsize(info.device) ||
		    room < (uint32_t)mtu + 18) {
			/* The server fills a buffer as long as its own bsize
			 * without looking at the descriptor's length. */
			errf(
			    err, errlen,
			    "port %s: zero-copy needs mbufs that hold a memif "
			    "buffer: data room %u < bsize %u or frame %u (give "
			    "the port an MTU of at least %u, or bsize=%u)",
			    rp->cfg.dev, room, memif_bsize(info.device),
			    mtu + 18u, memif_bsize(info.device) - 18u, room);
			return -BD_EINVAL;
		}
	}
	if (strcmp(rp->driver, "net_memif") == 0 &&
	    (!devarg(info.device, "zero-copy") ||
	     devarg_is(devarg(info.device, "zero-copy"), "no")) &&
	    memif_bsize(info.device) <
		(uint32_t)rte_pktmbuf_data_room_size(rt->mp) -
		    RTE_PKTMBUF_HEADROOM) {
		/* Copy mode over buffers smaller than the mbufs: memif's
		 * transmit copies every segment of a frame into one buffer
		 * and frees the frame before it returns, so a frame may carry
		 * TCP's payload in place (an external buffer, read there). */
		rp->caps |= BD_PORT_CAP_TX_REF;
	}
	/* af_packet's transmit does the same into its ring slots (a frame
	 * too long for a slot is freed unsent, as a copy would be). */
	if (strcmp(rp->driver, "net_af_packet") == 0)
		rp->caps |= BD_PORT_CAP_TX_REF;
	nrxd = rp->cfg.rx_desc ? rp->cfg.rx_desc : 1024;
	ntxd = rp->cfg.tx_desc ? rp->cfg.tx_desc : 1024;
	rte_eth_dev_adjust_nb_rx_tx_desc(pid, &nrxd, &ntxd);
	sock = rte_eth_dev_socket_id(pid);
	if (sock < 0)
		sock = (int)rte_socket_id();
	for (uint16_t q = 0; q < rp->nrxq; q++) {
		rc = rte_eth_rx_queue_setup(pid, q, nrxd, (unsigned)sock, NULL,
					    rt->mp);
		if (rc != 0) {
			errf(err, errlen, "port %s: RX queue %u: %s",
			     rp->cfg.dev, q, rte_strerror(-rc));
			return -BD_EINVAL;
		}
	}
	for (uint16_t q = 0; q < rp->ntxq; q++) {
		rc = rte_eth_tx_queue_setup(pid, q, ntxd, (unsigned)sock, NULL);
		if (rc != 0) {
			errf(err, errlen, "port %s: TX queue %u: %s",
			     rp->cfg.dev, q, rte_strerror(-rc));
			return -BD_EINVAL;
		}
	}
	rc = rte_eth_dev_start(pid);
	if (rc != 0) {
		errf(err, errlen, "port %s cannot be started: %s", rp->cfg.dev,
		     rte_strerror(-rc));
		return -BD_EINVAL;
	}
	rp->started = true;
	rte_eth_macaddr_get(pid, &rp->mac);
	if (rp->ifname[0]) {
		/* A port on a kernel interface gets a MAC of its own (the
		 * interface's with another locally administered bit): frames
		 * for Braid are then PACKET_OTHERHOST to the kernel under it,
		 * which drops them on entry instead of routing each one. */
		rp->mac.addr_bytes[0] |= 0x02;
		rp->mac.addr_bytes[0] ^= 0x04;
		rte_eth_promiscuous_enable(pid);
	}
	return 0;
}

/* Link state of a port: the ethdev's, and for a port on a kernel interface
 * (af_packet) also that interface's: administratively up with carrier (a
 * veth loses carrier when its peer goes down). */
static bool port_link(const struct bd_rt *rt, const struct rt_port *rp,
		      uint32_t *speed)
{
	struct rte_eth_link link;
	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(rp->port_id, &link) != 0 ||
	    link.link_status != RTE_ETH_LINK_UP)
		return false;
	if (speed)
		*speed = link.link_speed;
	if (rp->ifname[0] && rt->ifsock >= 0) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", rp->ifname);
		if (ioctl(rt->ifsock, SIOCGIFFLAGS, &ifr) == 0 &&
		    (ifr.ifr_flags & (IFF_UP | IFF_RUNNING)) !=
			(IFF_UP | IFF_RUNNING))
			return false;
	}
	return true;
}

/* rte_flow: one masked rule per worker's ephemeral block and one per pinned
 * port, each to the worker's RX queue. Any refusal: software dispatch. */
static void flow_try(struct bd_rt *rt, struct rt_port *rp)
{
	struct rte_flow_attr attr = {.ingress = 1};
	struct rte_flow_item_eth eth_spec, eth_mask;
	struct rte_flow_item_ipv4 ip_spec, ip_mask;
	struct rte_flow_item_tcp tcp_spec, tcp_mask;
	struct rte_flow_action_queue queue;
	struct rte_flow_error ferr;
	struct rte_flow_item pattern[4];
	struct rte_flow_action actions[2];
	unsigned nrules = rt->nworkers;
	uint32_t lport[BD_RT_MAX_WORKERS + 64];
	uint16_t lmask[BD_RT_MAX_WORKERS + 64];
	unsigned lq[BD_RT_MAX_WORKERS + 64];

	rp->flow_ok = false;
	if (rt->nworkers == 1) {
		snprintf(rp->flow_reason, sizeof(rp->flow_reason),
			 "one worker: nothing to steer");
		return;
	}
	if (rt->cfg.steering == BD_RT_STEER_SOFTWARE) {
		snprintf(rp->flow_reason, sizeof(rp->flow_reason),
			 "software steering configured");
		return;
	}
	if (rp->nrxq < rt->nworkers) {
		snprintf(rp->flow_reason, sizeof(rp->flow_reason),
			 "%u RX queues for %u workers", rp->nrxq, rt->nworkers);
		return;
	}
	for (unsigned w = 0; w < rt->nworkers; w++) {
		lport[w] = rt->eph_base + rt->eph_block * w;
		lmask[w] = (uint16_t) ~(rt->eph_block - 1);
		lq[w] = w;
	}
	for (uint32_t p = 0; p < 65536 && nrules < RTE_DIM(lport); p++) {
		if (rt->pin[p] == RT_NO_PIN)
			continue;
		lport[nrules] = p;
		lmask[nrules] = 0xffff;
		lq[nrules++] = rt->pin[p];
	}
	memset(&eth_spec, 0, sizeof(eth_spec));
	memset(&eth_mask, 0, sizeof(eth_mask));
	memset(&ip_spec, 0, sizeof(ip_spec));
	memset(&ip_mask, 0, sizeof(ip_mask));
	ip_spec.hdr.next_proto_id = 6;
	ip_mask.hdr.next_proto_id = 0xff;
	for (unsigned r = 0; r < nrules; r++) {
		memset(&tcp_spec, 0, sizeof(tcp_spec));
		memset(&tcp_mask, 0, sizeof(tcp_mask));
		tcp_spec.hdr.dst_port = rte_cpu_to_be_16((uint16_t)lport[r]);
		tcp_mask.hdr.dst_port = rte_cpu_to_be_16(lmask[r]);
		memset(pattern, 0, sizeof(pattern));
		pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
		pattern[0].spec = &eth_spec;
		pattern[0].mask = &eth_mask;
		pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
		pattern[1].spec = &ip_spec;
		pattern[1].mask = &ip_mask;
		pattern[2].type = RTE_FLOW_ITEM_TYPE_TCP;
		pattern[2].spec = &tcp_spec;
		pattern[2].mask = &tcp_mask;
		pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
		queue.index = (uint16_t)lq[r];
		memset(actions, 0, sizeof(actions));
		actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
		actions[0].conf = &queue;
		actions[1].type = RTE_FLOW_ACTION_TYPE_END;
		memset(&ferr, 0, sizeof(ferr));
		if (rte_flow_validate(rp->port_id, &attr, pattern, actions,
				      &ferr) != 0 ||
		    !(rp->flows[rp->nflows] = rte_flow_create(
			  rp->port_id, &attr, pattern, actions, &ferr))) {
			snprintf(rp->flow_reason, sizeof(rp->flow_reason),
				 "rte_flow refused: %s",
				 ferr.message ? ferr.message : "not supported");
			for (unsigned i = 0; i < rp->nflows; i++)
				rte_flow_destroy(rp->port_id, rp->flows[i],
						 &ferr);
			rp->nflows = 0;
			return;
		}
		rp->nflows++;
	}
	rp->flow_ok = true;
	rp->flow_reason[0] = 0;
}

/* --- memory set up front -------------------------------------------------
 *
 * Without hugepages (--no-huge) EAL's memory and a memif region (a shared
 * memfd) are ordinary pages that fault in on first touch, each fault a trap
 * of its own (19 us of CPU on this machine's paravirtualized guest): a
 * fresh engine paid about 5000 of them in the first 256 MiB over memif. The
 * mempool is populated when it is made and a memif port's regions when its
 * link comes up, one madvise each, as hugepages would be. Best effort: a
 * kernel without MADV_POPULATE_WRITE (5.14) leaves them to fault in. */

static void populate(void *addr, size_t len)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)addr & ~(pg - 1);
	uintptr_t e = ((uintptr_t)addr + len + pg - 1) & ~(pg - 1);
	if (e > a)
		madvise((void *)a, e - a, MADV_POPULATE_WRITE);
#else
	(void)addr;
	(void)len;
#endif
}

static void populate_chunk(struct rte_mempool *mp, void *opaque,
			   struct rte_mempool_memhdr *memhdr, unsigned idx)
{
	(void)mp;
	(void)opaque;
	(void)idx;
	populate(memhdr->addr, memhdr->len);
}

/* The pages of a shared mapping that its file holds already (mincore):
 * the memory another process lends this one, without allocating the rest. */
static void populate_resident(void *addr, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = len / pg, i = 0;
	unsigned char *v = malloc(n ? n : 1);
	if (!v || mincore(addr, len, v) != 0) {
		free(v);
		return;
	}
	while (i < n) {
		size_t j = i;
		while (j < n && (v[j] & 1))
			j++;
		if (j > i)
			populate((uint8_t *)addr + i * pg, (j - i) * pg);
		i = j + 1;
	}
	free(v);
}

/* The memif regions mapped into this process (memfd "memif_region_N"), and
 * on a server a zero-copy client's EAL memory (its memfd "nohuge": the
 * client's mbufs, which this side writes into and reads from; about 2600
 * faults per fresh pair otherwise). */
static void populate_memif_regions(void)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2 || hi <= lo)
			continue;
		if (strstr(line, "memif_region"))
			populate((void *)lo, hi - lo);
		else if (strstr(line, "memfd:nohuge") &&
			 !rte_mem_virt2memseg_list((void *)lo))
			populate_resident((void *)lo, hi - lo);
	}
	fclose(f);
}

/* --- create / destroy ----------------------------------------------------- */

static int make_stack(struct bd_rt *rt, struct rt_worker *w, char *err,
		      size_t errlen)
{
	struct bd_stack_config sc;
	bool l4_tx = true;
	memset(&sc, 0, sizeof(sc));
	sc.seed = rt->cfg.seed + w->idx;
	sc.pool = &w->pool.pool;
	w->st = bd_stack_create(&sc);
	if (!w->st) {
		errf(err, errlen, "worker %u: no memory for its stack", w->idx);
		return -BD_ENOMEM;
	}
	bd_stack_set_now(w->st, bd_rt_now_us(rt));
	for (unsigned i = 0; i < rt->nports; i++) {
		struct rt_port *rp = &rt->ports[i];
		struct rt_wport *wp = &w->wports[i];
		bool up = port_link(rt, rp, NULL);
		int rc;
		if (up && w->idx == 0 && strcmp(rp->driver, "net_memif") == 0)
			populate_memif_regions();
		memset(wp, 0, sizeof(*wp));
		wp->w = w;
		wp->pidx = i;
		wp->port_id = rp->port_id;
		wp->txq = (uint16_t)w->idx;
		wp->has_rxq = w->idx < rp->nrxq;
		wp->csum_off = rp->cfg.csum_off;
		wp->rxq = (uint16_t)w->idx;
		wp->port.ops = &rt_port_ops;
		wp->port.priv = wp;
		{
			size_t nl =
			    strnlen(rp->cfg.dev, sizeof(wp->port.name) - 1);
			memcpy(wp->port.name, rp->cfg.dev, nl);
			wp->port.name[nl] = 0;
		}
		memcpy(wp->port.mac, rp->mac.addr_bytes, 6);
		wp->port.mtu = rp->mtu;
		wp->port.caps = rp->caps;
		if (!(rp->caps & BD_PORT_CAP_L4_CSUM_TX))
			l4_tx = false;
		/* Worker 0 announces the address (gratuitous ARP); the
		 * others share the port and stay quiet. */
		wp->port.up = up && w->idx == 0;
		rc = bd_stack_add_port(w->st, &wp->port);
		if (rc < 0) {
			errf(err, errlen, "worker %u: port %s: %d", w->idx,
			     rp->cfg.dev, rc);
			return rc;
		}
		rc = bd_stack_set_ipv4(w->st, (uint16_t)rc, rp->cfg.ipv4,
				       rp->cfg.prefix_len, rp->cfg.gateway);
		if (rc < 0) {
			errf(err, errlen, "port %s: invalid address",
			     rp->cfg.dev);
			return rc;
		}
		wp->port.up = up;
	}
	if (rt->cfg.tcp) {
		struct bd_tcp_config tc;
		int rc;
		bd_tcp_config_default(&tc);
		bd_rt_eph_block(rt, w->idx, &tc.eph_lo, &tc.eph_hi);
		tc.tx_csum_offload = l4_tx && rt->nports > 0;
		tc.snd_buf = RT_TCP_BUF;
		tc.rcv_buf = RT_TCP_BUF;
		/* The poll loop flushes after every batch of input. */
		tc.batch_output = true;
		rc = bd_stack_use_tcp(w->st, &tc);
		if (rc < 0) {
			errf(err, errlen, "worker %u: TCP: error %d", w->idx,
			     rc);
			return rc;
		}
		if (rt->cfg.mptcp) {
			w->ms =
			    bd_mptcp_stack_create(w->st, &rt->cfg.mptcp_cfg);
			if (!w->ms) {
				errf(err, errlen,
				     "worker %u: no memory for MPTCP", w->idx);
				return -BD_ENOMEM;
			}
			if (rt->flows)
				bd_mptcp_set_steering(w->ms, rt->nworkers,
						      w->idx, rt_join, w);
		}
	}
	return 0;
}

static void free_ring_pkts(struct rte_ring *r)
{
	void *obj;
	if (!r)
		return;
	while (rte_ring_dequeue(r, &obj) == 0)
		bd_pkt_free((struct bd_pkt *)obj);
	rte_ring_free(r);
}

void bd_rt_destroy(struct bd_rt *rt)
{
	if (!rt)
		return;
	bd_rt_stop(rt);
	for (unsigned w = 0; w < rt->nworkers; w++) {
		struct rt_worker *wk = &rt->workers[w];
		for (unsigned i = 0; i < rt->nports; i++) {
			struct rt_wport *wp = &wk->wports[i];
			for (; wp->hold_n; wp->hold_n--) {
				rte_pktmbuf_free(wp->hold[wp->hold_head]);
				wp->hold_head =
				    (wp->hold_head + 1) % RT_TX_HOLD;
			}
		}
		if (wk->ms) {
			bd_mptcp_stack_destroy(wk->ms);
			wk->ms = NULL;
		}
		if (wk->st) {
			if (rt->cfg.tcp && bd_stack_tcp(wk->st))
				bd_stack_drop_tcp(wk->st);
			bd_stack_destroy(wk->st);
		}
		if (wk->ctl)
			rte_ring_free(wk->ctl);
	}
	for (unsigned i = 0; i < rt->nports; i++) {
		struct rt_port *rp = &rt->ports[i];
		struct rte_flow_error ferr;
		for (unsigned f = 0; f < rp->nflows; f++)
			rte_flow_destroy(rp->port_id, rp->flows[f], &ferr);
		for (unsigned w = 0; w < rt->nworkers; w++)
			free_ring_pkts(rp->disp[w]);
		if (rp->started)
			rte_eth_dev_stop(rp->port_id);
	}
	if (rt->mp)
		rte_mempool_free(rt->mp);
	if (rt->ifsock >= 0)
		close(rt->ifsock);
	free(rt->flows);
	free(rt);
}

static bool valid_prefix(uint32_t addr, uint8_t prefix)
{
	uint32_t host;
	if (prefix > 32)
		return false;
	if (!addr)
		return true;
	if ((addr >> 24) == 0 || (addr >> 24) == 127 || (addr >> 28) >= 0xe)
		return false;
	if (prefix >= 31)
		return true;
	host = addr & ~(prefix ? ~(uint32_t)0 << (32 - prefix) : 0);
	return host != 0 &&
	       host != (~(prefix ? ~(uint32_t)0 << (32 - prefix) : 0));
}

struct bd_rt *bd_rt_create(const struct bd_rt_config *cfg, char *err,
			   size_t errlen)
{
	struct bd_rt *rt;
	char name[RTE_MEMPOOL_NAMESIZE];
	uint32_t mbufs, data_room, max_mtu = 1500, ring, afp_room = 0;
	bool memif = false;
	unsigned id = __atomic_fetch_add(&rt_seq, 1, __ATOMIC_RELAXED);

	if (!cfg || cfg->nworkers < 1 || cfg->nworkers > BD_RT_MAX_WORKERS) {
		errf(err, errlen, "workers must be 1..%d", BD_RT_MAX_WORKERS);
		return NULL;
	}
	if (cfg->nports > BD_RT_MAX_PORTS) {
		errf(err, errlen, "at most %d ports", BD_RT_MAX_PORTS);
		return NULL;
	}
	if (rte_lcore_count() == 0) {
		errf(err, errlen, "EAL is not running");
		return NULL;
	}
	if (rte_lcore_count() < cfg->nworkers + 1) {
		errf(err, errlen,
		     "EAL has %u lcores: %u workers need %u (the main lcore "
		     "stays with the control thread)",
		     rte_lcore_count(), cfg->nworkers, cfg->nworkers + 1);
		return NULL;
	}
	for (unsigned i = 0; i < cfg->nports; i++) {
		const struct bd_rt_port_config *pc = &cfg->ports[i];
		if (!valid_prefix(pc->ipv4, pc->prefix_len)) {
			errf(err, errlen,
			     "port %s: invalid IPv4 address %u.%u.%u.%u/%u",
			     pc->dev, pc->ipv4 >> 24, (pc->ipv4 >> 16) & 255,
			     (pc->ipv4 >> 8) & 255, pc->ipv4 & 255,
			     pc->prefix_len);
			return NULL;
		}
		if (pc->mtu && (pc->mtu < 576 || pc->mtu > 9000)) {
			errf(err, errlen, "port %s: MTU %u outside 576..9000",
			     pc->dev, pc->mtu);
			return NULL;
		}
		if (pc->mtu > max_mtu)
			max_mtu = pc->mtu;
		if (strncmp(pc->dev, "net_memif", 9) == 0)
			memif = true;
		if (strncmp(pc->dev, "net_af_packet", 13) == 0 &&
		    pc->mtu > 1500 &&
		    AFP_FRAMESZ(pc->mtu) - AFP_TX_OFF > afp_room)
			afp_room = AFP_FRAMESZ(pc->mtu) - AFP_TX_OFF;
	}
	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		errf(err, errlen, "no memory");
		return NULL;
	}
	rt->cfg = *cfg;
	rt->nworkers = cfg->nworkers;
	rt->nports = cfg->nports;
	for (unsigned i = 0; i < cfg->nports; i++)
		rt->ports[i].cfg = cfg->ports[i];
	memset(rt->pin, RT_NO_PIN, sizeof(rt->pin));
	rt->ifsock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	rt->tsc_hz = rte_get_tsc_hz();
	rt->us_mult = (uint64_t)((1000000ull << 32) / rt->tsc_hz);
	rt->tsc0 = rte_get_tsc_cycles();
	if (!rt->cfg.spin_us)
		rt->cfg.spin_us = 200;
	if (!rt->cfg.idle_sleep_min_us)
		rt->cfg.idle_sleep_min_us = 50;
	if (!rt->cfg.idle_sleep_max_us)
		rt->cfg.idle_sleep_max_us = 200;
	if (rt->cfg.idle_sleep_min_us > rt->cfg.idle_sleep_max_us)
		rt->cfg.idle_sleep_min_us = rt->cfg.idle_sleep_max_us;
	rt->eph_base = cfg->eph_base ? cfg->eph_base : 32768;
	{
		uint32_t size = cfg->eph_size ? cfg->eph_size : 32768;
		uint32_t block = 1;
		if (size > 65536u - rt->eph_base)
			size = 65536u - rt->eph_base;
		while (block * 2 * rt->nworkers <= size)
			block *= 2;
		if (block < 64) {
			errf(err, errlen, "ephemeral space too small");
			free(rt);
			return NULL;
		}
		rt->eph_block = block;
		rt->eph_shift = (unsigned)__builtin_ctz(block);
	}
	ring = cfg->ring_size ? cfg->ring_size : 4096;
	ring = rte_align32pow2(ring);

	mbufs = cfg->mbufs;
	if (!mbufs)
		mbufs = rt->nports * rt->nworkers *
			    (1024 + 1024 + RT_TX_HOLD + ring) +
			rt->nworkers * 1024 + 4096;
	data_room = RTE_PKTMBUF_HEADROOM + max_mtu + 18;
	if (data_room < RTE_MBUF_DEFAULT_BUF_SIZE)
		data_room = RTE_MBUF_DEFAULT_BUF_SIZE;
	data_room = RTE_ALIGN(data_room, 64);
	/* One cache line more than a memif buffer of the largest frame (the
	 * `bsize` memifVdev sets): memif then sends a frame of two segments
	 * (TCP payload referred to in its send ring, BD_PORT_CAP_TX_REF) by
	 * copying both into one buffer, where with mbufs as large as its
	 * buffers it would give each segment a descriptor of its own. Its
	 * receive path still copies a buffer into one mbuf. */
	if (memif)
		data_room += 64;
	/* The af_packet PMD copies a ring slot's worth into one mbuf. */
	if (data_room < RTE_PKTMBUF_HEADROOM + afp_room)
		data_room = RTE_ALIGN(RTE_PKTMBUF_HEADROOM + afp_room, 64);
	if (RTE_PKTMBUF_HEADROOM < BD_PKT_HEADROOM) {
		errf(err, errlen, "mbuf headroom %u < %u", RTE_PKTMBUF_HEADROOM,
		     BD_PKT_HEADROOM);
		free(rt);
		return NULL;
	}
	snprintf(name, sizeof(name), "bd_mp%u", id);
	rt->mp =
	    rte_pktmbuf_pool_create(name, mbufs, 256, BD_DPDK_PRIV_SIZE,
				    (uint16_t)data_room, (int)rte_socket_id());
	if (!rt->mp) {
		errf(err, errlen,
		     "mempool of %u mbufs of %u bytes: %s (raise EAL memory "
		     "with -m)",
		     mbufs, data_room, rte_strerror(rte_errno));
		free(rt);
		return NULL;
	}
	rte_mempool_mem_iter(rt->mp, populate_chunk, NULL);
	if (cfg->nworkers > 1 && cfg->tcp && cfg->mptcp) {
		rt->flows = calloc(RT_FLOWS, sizeof(*rt->flows));
		if (!rt->flows) {
			errf(err, errlen, "no memory for the flow table");
			goto fail;
		}
	}
	for (unsigned i = 0; i < rt->nports; i++) {
		struct rt_port *rp = &rt->ports[i];
		if (port_open(rt, rp, err, errlen) != 0)
			goto fail;
		for (unsigned w = 0; w < rt->nworkers && rt->nworkers > 1;
		     w++) {
			char rn[RTE_RING_NAMESIZE];
			snprintf(rn, sizeof(rn), "bd_d%u_%u_%u", id, i, w);
			rp->disp[w] = rte_ring_create(rn, ring, SOCKET_ID_ANY,
						      RING_F_SC_DEQ);
			if (!rp->disp[w]) {
				errf(err, errlen, "dispatch ring: %s",
				     rte_strerror(rte_errno));
				goto fail;
			}
		}
	}
	{
		unsigned lcore = rte_get_next_lcore(-1, 1, 0);
		for (unsigned w = 0; w < rt->nworkers; w++) {
			struct rt_worker *wk = &rt->workers[w];
			char rn[RTE_RING_NAMESIZE];
			wk->rt = rt;
			wk->idx = w;
			wk->lcore = lcore;
			lcore = rte_get_next_lcore(lcore, 1, 0);
			bd_dpdk_pool_init(&wk->pool, rt->mp);
			snprintf(rn, sizeof(rn), "bd_c%u_%u", id, w);
			wk->ctl = rte_ring_create(rn, 256, SOCKET_ID_ANY,
						  RING_F_SC_DEQ);
			if (!wk->ctl) {
				errf(err, errlen, "control ring: %s",
				     rte_strerror(rte_errno));
				goto fail;
			}
			if (make_stack(rt, wk, err, errlen) != 0)
				goto fail;
		}
	}
	return rt;
fail:
	bd_rt_destroy(rt);
	return NULL;
}

/* --- workers -------------------------------------------------------------- */

static void refresh_links(struct rt_worker *w, uint64_t now, bool force);

static void run_calls(struct rt_worker *w)
{
	void *objs[16];
	unsigned n = rte_ring_sc_dequeue_burst(w->ctl, objs, 16, NULL);
	if (n)
		/* A call may open connections: route with the current links. */
		refresh_links(w, bd_rt_now_us(w->rt), true);
	for (unsigned i = 0; i < n; i++) {
		struct rt_call *c = objs[i];
		bd_stack_set_now(w->st, bd_rt_now_us(w->rt));
		c->fn(w->st, w->idx, c->arg);
		w->stats.ctl_calls++;
		__atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
	}
}

static void refresh_links(struct rt_worker *w, uint64_t now, bool force)
{
	struct bd_rt *rt = w->rt;
	if (now < w->next_link_us && !force)
		return;
	w->next_link_us = now + 100000;
	for (unsigned i = 0; i < rt->nports; i++) {
		struct rt_wport *wp = &w->wports[i];
		bool up = port_link(rt, &rt->ports[i], NULL);
		if (up == wp->port.up)
			continue;
		w->stats.link_changes++;
		if (up && w->idx == 0 &&
		    strcmp(rt->ports[i].driver, "net_memif") == 0)
			populate_memif_regions();
		if (w->idx == 0)
			/* Announces the address again when the link comes
			 * back (gratuitous ARP): once per port. */
			bd_stack_port_up(w->st, (uint16_t)i, up);
		else
			wp->port.up = up;
	}
}

static void sleep_us(uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
			      .tv_nsec = (long)(us % 1000000) * 1000};
	nanosleep(&ts, NULL);
}

static int worker_main(void *arg)
{
	struct rt_worker *w = arg;
	struct bd_rt *rt = w->rt;
	uint64_t last_work = bd_rt_now_us(rt);
	uint64_t nap = rt->cfg.idle_sleep_min_us;
	const bool may_sleep = rt->cfg.idle_sleep_max_us != UINT32_MAX;

	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	while (!__atomic_load_n(&rt->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now, next, tx = 0;
		unsigned n;
		run_calls(w);
		now = bd_rt_now_us(rt);
		refresh_links(w, now, false);
		bd_stack_set_now(w->st, now);
		n = bd_stack_poll(w->st);
		w->stats.polls++;
		for (unsigned i = 0; i < rt->nports; i++) {
			struct rt_wport *wp = &w->wports[i];
			if (wp->hold_n)
				hold_drain(wp);
			tx += wp->port.stats.opackets - wp->tx_seen;
			wp->tx_seen = wp->port.stats.opackets;
		}
		if (n || tx) {
			w->stats.busy_polls++;
			last_work = now;
			nap = rt->cfg.idle_sleep_min_us;
			continue;
		}
		w->stats.idle_polls++;
		now = bd_rt_now_us(rt);
		if (!may_sleep || now - last_work < rt->cfg.spin_us) {
			rte_pause();
			continue;
		}
		next = bd_stack_next_deadline(w->st);
		if (next <= now)
			continue;
		if (next - now < nap)
			nap = next - now;
		sleep_us(nap);
		w->stats.sleeps++;
		w->stats.sleep_us += nap;
		nap *= 2;
		if (nap > rt->cfg.idle_sleep_max_us)
			nap = rt->cfg.idle_sleep_max_us;
	}
	return 0;
}

int bd_rt_start(struct bd_rt *rt, char *err, size_t errlen)
{
	if (rt->running)
		return 0;
	for (unsigned i = 0; i < rt->nports; i++)
		flow_try(rt, &rt->ports[i]);
	__atomic_store_n(&rt->stop, 0, __ATOMIC_RELEASE);
	for (unsigned w = 0; w < rt->nworkers; w++) {
		struct rt_worker *wk = &rt->workers[w];
		int rc;
		if (wk->lcore >= RTE_MAX_LCORE) {
			errf(err, errlen, "no lcore left for worker %u", w);
			bd_rt_stop(rt);
			return -BD_EINVAL;
		}
		rc = rte_eal_remote_launch(worker_main, wk, wk->lcore);
		if (rc != 0) {
			errf(err, errlen, "lcore %u is busy (%s)", wk->lcore,
			     rte_strerror(-rc));
			bd_rt_stop(rt);
			return -BD_EINVAL;
		}
		wk->launched = true;
	}
	rt->running = true;
	return 0;
}

void bd_rt_stop(struct bd_rt *rt)
{
	__atomic_store_n(&rt->stop, 1, __ATOMIC_RELEASE);
	for (unsigned w = 0; w < rt->nworkers; w++) {
		struct rt_worker *wk = &rt->workers[w];
		if (wk->launched) {
			rte_eal_wait_lcore(wk->lcore);
			wk->launched = false;
		}
		/* Calls that arrived after the last poll run here. */
		if (wk->ctl && wk->st)
			run_calls(wk);
	}
	rt->running = false;
}

int bd_rt_call(struct bd_rt *rt, unsigned w, bd_rt_fn fn, void *arg,
	       uint32_t timeout_ms)
{
	struct rt_call *c;
	uint64_t deadline;
	if (w >= rt->nworkers)
		return -BD_EINVAL;
	if (!rt->running) {
		bd_stack_set_now(rt->workers[w].st, bd_rt_now_us(rt));
		fn(rt->workers[w].st, w, arg);
		return 0;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -BD_ENOMEM;
	c->fn = fn;
	c->arg = arg;
	if (rte_ring_mp_enqueue(rt->workers[w].ctl, c) != 0) {
		free(c);
		return -BD_EAGAIN;
	}
	deadline = bd_rt_now_us(rt) + (uint64_t)timeout_ms * 1000;
	/* A worker answers at its next poll, or when its nap ends: wait in
	 * naps that double (20 us to 640 us), so that the caller's thread
	 * wakes up (and takes a CPU from a worker) a few times per call. */
	for (uint64_t nap = 20; !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE);
	     nap = nap < 640 ? nap * 2 : nap) {
		if (bd_rt_now_us(rt) > deadline)
			return -BD_ETIMEDOUT; /* c stays with the worker */
		sleep_us(nap);
	}
	free(c);
	return 0;
}

/* --- snapshots ------------------------------------------------------------ */

static void snap_worker(struct bd_stack *st, unsigned w, void *arg)
{
	struct rt_worker *wk;
	(void)st;
	wk = (struct rt_worker *)((void **)arg)[0];
	(void)w;
	memcpy(((void **)arg)[1], &wk->stats, sizeof(wk->stats));
}

int bd_rt_worker_stats(struct bd_rt *rt, unsigned w,
		       struct bd_rt_worker_stats *out)
{
	void *args[2];
	if (w >= rt->nworkers)
		return -BD_EINVAL;
	args[0] = &rt->workers[w];
	args[1] = out;
	return bd_rt_call(rt, w, snap_worker, args, 5000);
}

static void snap_net(struct bd_stack *st, unsigned w, void *arg)
{
	(void)w;
	memcpy(arg, bd_stack_stats(st), sizeof(struct bd_net_stats));
}

int bd_rt_net_stats(struct bd_rt *rt, unsigned w, struct bd_net_stats *out)
{
	return bd_rt_call(rt, w, snap_net, out, 5000);
}

static void snap_mptcp(struct bd_stack *st, unsigned w, void *arg)
{
	struct bd_rt *rt = ((void **)arg)[0];
	(void)st;
	memcpy(((void **)arg)[1], bd_mptcp_get_mib(rt->workers[w].ms),
	       sizeof(struct bd_mptcp_mib));
}

int bd_rt_mptcp_mib(struct bd_rt *rt, unsigned w, struct bd_mptcp_mib *out)
{
	void *args[2] = {rt, out};
	if (w >= rt->nworkers || !rt->workers[w].ms)
		return -BD_EINVAL;
	return bd_rt_call(rt, w, snap_mptcp, args, 5000);
}

int bd_rt_port_info(struct bd_rt *rt, unsigned port,
		    struct bd_rt_port_info *out)
{
	struct rt_port *rp;
	struct rte_eth_stats es;
	if (port >= rt->nports)
		return -BD_EINVAL;
	rp = &rt->ports[port];
	memset(out, 0, sizeof(*out));
	snprintf(out->dev, sizeof(out->dev), "%s", rp->cfg.dev);
	snprintf(out->driver, sizeof(out->driver), "%s", rp->driver);
	out->port_id = rp->port_id;
	memcpy(out->mac, rp->mac.addr_bytes, 6);
	out->mtu = rp->mtu;
	out->nrxq = rp->nrxq;
	out->ntxq = rp->ntxq;
	out->csum_off = rp->cfg.csum_off;
	out->caps = rp->caps;
	out->flow_steering = rp->flow_ok;
	snprintf(out->flow_reason, sizeof(out->flow_reason), "%s",
		 rp->flow_reason);
	out->link_up = port_link(rt, rp, &out->link_speed_mbps);
	memset(&es, 0, sizeof(es));
	if (rte_eth_stats_get(rp->port_id, &es) == 0) {
		out->ipackets = es.ipackets;
		out->opackets = es.opackets;
		out->ibytes = es.ibytes;
		out->obytes = es.obytes;
		out->imissed = es.imissed;
		out->ierrors = es.ierrors;
		out->oerrors = es.oerrors;
		out->rx_nombuf = es.rx_nombuf;
	}
	return 0;
}

/* --- raw device rate ------------------------------------------------------ */

struct blast_arg {
	struct bd_rt *rt;
	unsigned port;
	uint8_t dst[6];
	uint32_t len;
	uint64_t duration_us;
	struct bd_rt_blast *out;
};

static void blast_on_worker(struct bd_stack *st, unsigned w, void *arg)
{
	struct blast_arg *a = arg;
	struct bd_rt *rt = a->rt;
	struct rt_wport *wp = &rt->workers[w].wports[a->port];
	struct rte_mbuf *mb[BD_NET_BURST];
	uint64_t t0 = bd_rt_now_us(rt), now = t0;
	(void)st;
	memset(a->out, 0, sizeof(*a->out));
	while (now - t0 < a->duration_us) {
		uint16_t sent;
		if (rte_pktmbuf_alloc_bulk(rt->mp, mb, BD_NET_BURST) != 0) {
			now = bd_rt_now_us(rt);
			continue;
		}
		for (unsigned i = 0; i < BD_NET_BURST; i++) {
			struct bd_pkt *p = bd_dpdk_pkt_init(mb[i], NULL);
			uint8_t *d = p->data;
			mb[i]->data_len = (uint16_t)a->len;
			mb[i]->pkt_len = a->len;
			for (unsigned k = 0; k < 6; k++) {
				d[k] = a->dst[k];
				d[6 + k] = rt->ports[a->port].mac.addr_bytes[k];
			}
			d[12] = 0x88;
			d[13] = 0xb5;
		}
		sent = rte_eth_tx_burst(wp->port_id, wp->txq, mb, BD_NET_BURST);
		a->out->frames += sent;
		a->out->bytes += (uint64_t)sent * a->len;
		a->out->refused += BD_NET_BURST - sent;
		if (sent < BD_NET_BURST)
			rte_pktmbuf_free_bulk(mb + sent, BD_NET_BURST - sent);
		now = bd_rt_now_us(rt);
	}
	a->out->elapsed_us = now - t0;
}

int bd_rt_blast(struct bd_rt *rt, unsigned w, unsigned port,
		const uint8_t dst_mac[6], uint32_t frame_len,
		uint64_t duration_us, struct bd_rt_blast *out)
{
	struct blast_arg a;
	if (w >= rt->nworkers || port >= rt->nports || frame_len < 60 ||
	    frame_len > (uint32_t)rt->ports[port].mtu + 14)
		return -BD_EINVAL;
	a.rt = rt;
	a.port = port;
	memcpy(a.dst, dst_mac, 6);
	a.len = frame_len;
	a.duration_us = duration_us;
	a.out = out;
	return bd_rt_call(rt, w, blast_on_worker, &a,
			  (uint32_t)(duration_us / 1000) + 10000);
}
