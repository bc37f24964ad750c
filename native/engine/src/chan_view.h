/* SPDX-License-Identifier: Apache-2.0
 *
 * The application's view of its region (struct bd_chan_view): the mapping,
 * the eventfds, the attach socket and which slots the app holds.
 */
#ifndef BRAID_CHAN_VIEW_H
#define BRAID_CHAN_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "chan_impl.h"

struct bd_chan_vslot {
	uint32_t gen;
	bool held;	 /* CONNECTED/ACCEPTED seen, not yet released */
	bool want_write; /* a write came up short: wake on space */
	bool shut;	 /* bd_chan_shutdown done */
	bool closed;	 /* EV_CLOSED seen */
	bool eof_seen;	 /* the app read the end (or the reset) */
	bool paused;	 /* the app is not reading: do not wake for data */
};

struct bd_chan_view {
	void *base;
	uint64_t size;
	struct bd_chan_geom g;
	int app_efd, node_efd, sock;
	bool borrowed; /* in-process: the app object owns the mapping and fds */
	bool node_gone;
	uint32_t app_id;
	struct bd_chan_vslot *slots;
};

int bd_chan_view_init(struct bd_chan_view *v, void *base, uint64_t size);

#endif
