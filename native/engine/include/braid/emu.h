/* SPDX-License-Identifier: Apache-2.0
 *
 * The link emulator: a DPDK network function that bridges pairs of ports
 * and applies, per direction, the impairments of an emulated link (rate and
 * queue, delay, jitter, random and bursty loss, reordering, duplication,
 * corruption, blackhole; see braid/sim.h), changeable while it runs. Frames
 * pass unchanged (it is a wire, not a router): hosts on either side see each
 * other directly, ARP included.
 *
 * One worker lcore polls every port; it sleeps when no frame is queued or
 * in flight, so an idle emulator costs next to no CPU. Its clock is
 * CLOCK_MONOTONIC in nanoseconds since start.
 *
 * This header has no DPDK type in it; the code is in dpdk_emu.c.
 */
#ifndef BRAID_EMU_H
#define BRAID_EMU_H

#include <stddef.h>
#include <stdint.h>

#include "braid/sim.h"

#define BD_EMU_MAX_PAIRS 8

struct bd_emu_pair_config {
	char dev_a[64], dev_b[64]; /* ethdev names as EAL knows them */
	struct bd_link_params ab;  /* a -> b */
	struct bd_link_params ba;  /* b -> a */
};

struct bd_emu_config {
	unsigned npairs;
	struct bd_emu_pair_config pairs[BD_EMU_MAX_PAIRS];
	uint32_t mbufs;		    /* 0 = 16384 per pair */
	uint64_t seed;		    /* impairments' PRNG */
	uint32_t idle_sleep_max_us; /* 0 = 100 */
};

struct bd_emu_stats {
	uint64_t polls, sleeps;
	uint64_t rx_frames, tx_frames, tx_drops;
};

struct bd_emu;

/* Open the ports and the links. EAL must be running with at least one
 * lcore beside the main one. NULL on failure with the reason in err. */
struct bd_emu *bd_emu_create(const struct bd_emu_config *cfg, char *err,
			     size_t errlen);
/* Run the bridge on the first free worker lcore. 0 or -BD_E*. */
int bd_emu_start(struct bd_emu *emu, char *err, size_t errlen);
/* Stop, free the links (and frames in flight), stop and close the ports. */
void bd_emu_destroy(struct bd_emu *emu);

/* New parameters for pair `pair`, direction 0 (a -> b) or 1 (b -> a);
 * applied by the worker before its next poll. Blackhole windows are in the
 * emulator's clock (bd_emu_now_ns). 0 or -BD_EINVAL. */
int bd_emu_set_link(struct bd_emu *emu, unsigned pair, unsigned dir,
		    const struct bd_link_params *lp);
/* The parameters in force (or pending) and the counters of one direction. */
int bd_emu_link_info(struct bd_emu *emu, unsigned pair, unsigned dir,
		     struct bd_link_params *lp, struct bd_link_stats *st);
void bd_emu_stats(struct bd_emu *emu, struct bd_emu_stats *out);
uint64_t bd_emu_now_ns(const struct bd_emu *emu);

#endif
