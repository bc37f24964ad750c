/* SPDX-License-Identifier: Apache-2.0
 *
 * The link emulator (see braid/emu.h): one worker lcore bridges pairs of
 * DPDK ports through bd_link instances (sim_link.c), the same link model the
 * simulator uses, driven here by the monotonic clock instead of a virtual
 * one. Frames are never copied: the bd_pkt of each mbuf lives in its private
 * area (dpdk_impl.h), and a link holds the mbuf until its arrival time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <rte_lcore.h>
#include <rte_spinlock.h>

#include "braid/emu.h"
#include "braid/stack.h"
#include "dpdk_impl.h"

#define EMU_BURST 32

struct emu_dir {
	struct bd_link *link;
	uint16_t src, dst; /* ethdev port ids */
	/* Control: new parameters waiting for the worker, and the published
	 * copy of what is in force (both under emu->lock). */
	struct bd_link_params pending, params;
	bool has_pending;
	struct bd_link_stats stats;
};

struct bd_emu {
	struct bd_emu_config cfg;
	struct bd_dpdk_pool pool;
	struct rte_mempool *mp;
	struct emu_dir dirs[BD_EMU_MAX_PAIRS][2];
	uint16_t ports[BD_EMU_MAX_PAIRS * 2];
	unsigned nports;
	unsigned lcore;
	bool launched;
	atomic_bool stop;
	atomic_uint gen;     /* bumped by every bd_emu_set_link */
	unsigned seen_gen;   /* worker's copy */
	rte_spinlock_t lock; /* control <-> worker exchange only */
	struct bd_emu_stats st, st_pub;
	uint64_t t0;
};

static void errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;
	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bd_emu_now_ns(const struct bd_emu *emu)
{
	return mono_ns() - emu->t0;
}

static int port_open(struct bd_emu *emu, const char *dev, uint16_t *out,
		     char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t pid;
	int rc;

	if (rte_eth_dev_get_port_by_name(dev, &pid) != 0) {
		errf(err, errlen,
		     "no DPDK port named \"%s\" (is its --vdev given?)", dev);
		return -BD_EINVAL;
	}
	for (unsigned i = 0; i < emu->nports; i++) {
		if (emu->ports[i] == pid) {
			errf(err, errlen, "port \"%s\" is used twice", dev);
			return -BD_EINVAL;
		}
	}
	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_info_get(pid, &info);
	if (rc == 0)
		rc = rte_eth_dev_configure(pid, 1, 1, &conf);
	if (rc == 0)
		rc = rte_eth_rx_queue_setup(
		    pid, 0, 1024, (unsigned)rte_eth_dev_socket_id(pid), NULL,
		    emu->mp);
	if (rc == 0)
		rc = rte_eth_tx_queue_setup(
		    pid, 0, 1024, (unsigned)rte_eth_dev_socket_id(pid), NULL);
	if (rc == 0)
		rc = rte_eth_dev_start(pid);
	if (rc != 0) {
		errf(err, errlen, "cannot start port \"%s\": %s", dev,
		     rte_strerror(-rc));
		return -BD_EINVAL;
	}
	/* A wire passes every frame, whoever it is for. */
	rte_eth_promiscuous_enable(pid);
	emu->ports[emu->nports++] = pid;
	*out = pid;
	return 0;
}

struct bd_emu *bd_emu_create(const struct bd_emu_config *cfg, char *err,
			     size_t errlen)
{
	struct bd_emu *emu;
	char name[RTE_MEMPOOL_NAMESIZE];
	uint32_t mbufs;

	if (!cfg->npairs || cfg->npairs > BD_EMU_MAX_PAIRS) {
		errf(err, errlen, "between 1 and %d port pairs are needed",
		     BD_EMU_MAX_PAIRS);
		return NULL;
	}
	emu = calloc(1, sizeof(*emu));
	if (!emu) {
		errf(err, errlen, "out of memory");
		return NULL;
	}
	emu->cfg = *cfg;
	rte_spinlock_init(&emu->lock);
	mbufs = cfg->mbufs ? cfg->mbufs : 16384 * cfg->npairs;
	snprintf(name, sizeof(name), "bdemu%p", (void *)emu);
	emu->mp = rte_pktmbuf_pool_create(name, mbufs, 256, BD_DPDK_PRIV_SIZE,
					  RTE_MBUF_DEFAULT_BUF_SIZE,
					  (int)rte_socket_id());
	if (!emu->mp) {
		errf(err, errlen, "cannot create a pool of %u mbufs: %s", mbufs,
		     rte_strerror(rte_errno));
		free(emu);
		return NULL;
	}
	bd_dpdk_pool_init(&emu->pool, emu->mp);
	for (unsigned p = 0; p < cfg->npairs; p++) {
		const struct bd_emu_pair_config *pc = &cfg->pairs[p];
		uint16_t a, b;
		if (port_open(emu, pc->dev_a, &a, err, errlen) < 0 ||
		    port_open(emu, pc->dev_b, &b, err, errlen) < 0)
			goto fail;
		for (unsigned d = 0; d < 2; d++) {
			struct emu_dir *ed = &emu->dirs[p][d];
			ed->params = d ? pc->ba : pc->ab;
			ed->src = d ? b : a;
			ed->dst = d ? a : b;
			ed->link =
			    bd_link_create(&ed->params, cfg->seed + 2 * p + d,
					   &emu->pool.pool);
			if (!ed->link) {
				errf(err, errlen, "out of memory");
				goto fail;
			}
		}
	}
	return emu;
fail:
	bd_emu_destroy(emu);
	return NULL;
}

static void apply_pending(struct bd_emu *emu)
{
	rte_spinlock_lock(&emu->lock);
	for (unsigned p = 0; p < emu->cfg.npairs; p++) {
		for (unsigned d = 0; d < 2; d++) {
			struct emu_dir *ed = &emu->dirs[p][d];
			if (ed->has_pending) {
				bd_link_set_params(ed->link, &ed->pending);
				ed->params = ed->pending;
				ed->has_pending = false;
			}
		}
	}
	rte_spinlock_unlock(&emu->lock);
}

static void publish(struct bd_emu *emu)
{
	rte_spinlock_lock(&emu->lock);
	for (unsigned p = 0; p < emu->cfg.npairs; p++)
		for (unsigned d = 0; d < 2; d++)
			emu->dirs[p][d].stats =
			    *bd_link_stats(emu->dirs[p][d].link);
	emu->st_pub = emu->st;
	rte_spinlock_unlock(&emu->lock);
}

/* Frames due on one direction's far side go out; returns how many. */
static unsigned drain(struct bd_emu *emu, struct emu_dir *ed, uint64_t now)
{
	struct rte_mbuf *tx[EMU_BURST];
	unsigned total = 0;
	for (;;) {
		uint16_t k = 0, sent;
		struct bd_pkt *p;
		while (k < EMU_BURST && (p = bd_link_recv(ed->link, now)))
			tx[k++] = bd_dpdk_mbuf_sync(p, false);
		if (!k)
			break;
		sent = rte_eth_tx_burst(ed->dst, 0, tx, k);
		emu->st.tx_frames += sent;
		if (sent < k) {
			emu->st.tx_drops += k - sent;
			rte_pktmbuf_free_bulk(tx + sent, k - sent);
		}
		total += k;
		if (k < EMU_BURST)
			break;
	}
	return total;
}

static int emu_main(void *arg)
{
	struct bd_emu *emu = arg;
	uint64_t idle_max_ns =
	    (uint64_t)(emu->cfg.idle_sleep_max_us ? emu->cfg.idle_sleep_max_us
						  : 100) *
	    1000;
	uint64_t backoff_ns = 1000, last_pub = 0;

	/* Sleep as long as asked, not 50 us more. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	while (!atomic_load_explicit(&emu->stop, memory_order_relaxed)) {
		uint64_t now = bd_emu_now_ns(emu), next = UINT64_MAX;
		unsigned work = 0;
		unsigned g =
		    atomic_load_explicit(&emu->gen, memory_order_acquire);
		if (g != emu->seen_gen) {
			emu->seen_gen = g;
			apply_pending(emu);
		}
		emu->st.polls++;
		for (unsigned p = 0; p < emu->cfg.npairs; p++) {
			for (unsigned d = 0; d < 2; d++) {
				struct emu_dir *ed = &emu->dirs[p][d];
				struct rte_mbuf *rx[EMU_BURST];
				uint16_t n =
				    rte_eth_rx_burst(ed->src, 0, rx, EMU_BURST);
				for (uint16_t i = 0; i < n; i++) {
					struct bd_pkt *pk = bd_dpdk_pkt_init(
					    rx[i], &emu->pool.pool);
					if (rx[i]->nb_segs != 1) {
						emu->st.tx_drops++;
						rte_pktmbuf_free(rx[i]);
						continue;
					}
					bd_link_send(ed->link, pk, now);
				}
				emu->st.rx_frames += n;
				work += n;
			}
		}
		now = bd_emu_now_ns(emu);
		for (unsigned p = 0; p < emu->cfg.npairs; p++) {
			for (unsigned d = 0; d < 2; d++) {
				struct emu_dir *ed = &emu->dirs[p][d];
				uint64_t t;
				work += drain(emu, ed, now);
				t = bd_link_next_ns(ed->link);
				if (t < next)
					next = t;
			}
		}
		if (now - last_pub > 1000000) {
			publish(emu);
			last_pub = now;
		}
		if (work) {
			backoff_ns = 1000;
			continue;
		}
		/* Idle: sleep, doubling up to the maximum, never past the next
		 * frame's arrival. */
		{
			uint64_t nap = backoff_ns;
			struct timespec ts;
			if (next != UINT64_MAX)
				nap = next > now ? next - now : 0;
			if (nap > backoff_ns)
				nap = backoff_ns;
			if (backoff_ns < idle_max_ns)
				backoff_ns *= 2;
			if (!nap)
				continue;
			ts.tv_sec = 0;
			ts.tv_nsec = (long)nap;
			nanosleep(&ts, NULL);
			emu->st.sleeps++;
		}
	}
	publish(emu);
	return 0;
}

int bd_emu_start(struct bd_emu *emu, char *err, size_t errlen)
{
	unsigned lc = rte_get_next_lcore((unsigned)-1, 1, 0);
	int rc;
	if (emu->launched) {
		errf(err, errlen, "the emulator is already running");
		return -BD_EINVAL;
	}
	if (lc >= RTE_MAX_LCORE) {
		errf(err, errlen,
		     "EAL has no worker lcore for the emulator (start it with "
		     "two lcores, e.g. -l 0,1)");
		return -BD_EINVAL;
	}
	emu->t0 = mono_ns();
	atomic_store(&emu->stop, false);
	rc = rte_eal_remote_launch(emu_main, emu, lc);
	if (rc != 0) {
		errf(err, errlen, "cannot launch on lcore %u: %s", lc,
		     rte_strerror(-rc));
		return -BD_EINVAL;
	}
	emu->lcore = lc;
	emu->launched = true;
	return 0;
}

int bd_emu_set_link(struct bd_emu *emu, unsigned pair, unsigned dir,
		    const struct bd_link_params *lp)
{
	struct emu_dir *ed;
	if (pair >= emu->cfg.npairs || dir > 1)
		return -BD_EINVAL;
	ed = &emu->dirs[pair][dir];
	rte_spinlock_lock(&emu->lock);
	ed->pending = *lp;
	ed->has_pending = true;
	if (!emu->launched) {
		bd_link_set_params(ed->link, lp);
		ed->params = *lp;
		ed->has_pending = false;
	}
	rte_spinlock_unlock(&emu->lock);
	atomic_fetch_add_explicit(&emu->gen, 1, memory_order_release);
	return 0;
}

int bd_emu_link_info(struct bd_emu *emu, unsigned pair, unsigned dir,
		     struct bd_link_params *lp, struct bd_link_stats *st)
{
	struct emu_dir *ed;
	if (pair >= emu->cfg.npairs || dir > 1)
		return -BD_EINVAL;
	ed = &emu->dirs[pair][dir];
	rte_spinlock_lock(&emu->lock);
	if (lp)
		*lp = ed->has_pending ? ed->pending : ed->params;
	if (st)
		*st = emu->launched ? ed->stats : *bd_link_stats(ed->link);
	rte_spinlock_unlock(&emu->lock);
	return 0;
}

void bd_emu_stats(struct bd_emu *emu, struct bd_emu_stats *out)
{
	rte_spinlock_lock(&emu->lock);
	*out = emu->launched ? emu->st_pub : emu->st;
	rte_spinlock_unlock(&emu->lock);
}

void bd_emu_destroy(struct bd_emu *emu)
{
	if (!emu)
		return;
	if (emu->launched) {
		atomic_store(&emu->stop, true);
		rte_eal_wait_lcore(emu->lcore);
		emu->launched = false;
	}
	for (unsigned p = 0; p < BD_EMU_MAX_PAIRS; p++)
		for (unsigned d = 0; d < 2; d++)
			bd_link_destroy(emu->dirs[p][d].link);
	for (unsigned i = 0; i < emu->nports; i++) {
		rte_eth_dev_stop(emu->ports[i]);
		rte_eth_dev_close(emu->ports[i]);
	}
	if (emu->mp)
		rte_mempool_free(emu->mp);
	free(emu);
}
