/* SPDX-License-Identifier: Apache-2.0
 *
 * The shared region's layout and the node-side application object. Only
 * chan_*.c include this. Everything in the region is written by exactly one
 * side (marked "app" or "node"); the node never trusts what the app writes
 * (indices are checked, sizes and offsets come from the node's own copy).
 */
#ifndef BRAID_CHAN_IMPL_H
#define BRAID_CHAN_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "braid/chan.h"

#define BD_CHAN_MAGIC	      0x3148434449415242ull /* "BRAIDCH1" */
#define BD_CHAN_HELLO_MAGIC   0x48445242u	    /* "BRDH" */
#define BD_CHAN_WELCOME_MAGIC 0x57445242u	    /* "BRDW" */
#define BD_CHAN_CL	      64

/* Node states (hdr.node_state). */
#define BD_CHAN_NODE_RUNNING 1u
#define BD_CHAN_NODE_STOPPED 2u

/* An event ring: records of struct bd_chan_msg; head/tail free-running. */
struct bd_chan_ring {
	_Alignas(BD_CHAN_CL) _Atomic uint32_t head; /* producer */
	_Alignas(BD_CHAN_CL) _Atomic uint32_t tail; /* consumer */
	_Alignas(BD_CHAN_CL) uint32_t size;	    /* records, power of 2 */
	uint32_t off;				    /* of record 0 */
};

/* A byte FIFO; head and tail count bytes since the slot was handed out. */
struct bd_chan_fifo {
	_Alignas(BD_CHAN_CL) _Atomic uint64_t head; /* producer */
	_Atomic uint32_t
	    eof; /* producer: nothing follows head (1), reset (2) */
	_Alignas(BD_CHAN_CL) _Atomic uint64_t tail; /* consumer */
	_Alignas(BD_CHAN_CL) uint32_t size, off;    /* node writes at setup */
};

struct bd_chan_slot {
	struct bd_chan_fifo rx; /* node -> app */
	struct bd_chan_fifo tx; /* app -> node */
	_Alignas(
	    BD_CHAN_CL) _Atomic uint32_t info_seq; /* node: odd = writing */
	struct bd_chan_info info;
};

struct bd_chan_hdr {
	uint64_t magic;
	uint32_t version, app_id;
	uint64_t region_size;
	uint32_t nslots, fifo_size, ring_size;
	uint32_t slot_off, slot_size, data_off;
	_Alignas(BD_CHAN_CL) _Atomic uint32_t node_state; /* node */
	_Alignas(BD_CHAN_CL) _Atomic uint32_t
	    app_sleeping; /* app sets, node clears */
	_Alignas(BD_CHAN_CL) _Atomic uint32_t
	    node_sleeping;	 /* node sets, app clears */
	struct bd_chan_ring req; /* app -> node */
	struct bd_chan_ring evt; /* node -> app */
};

/* The attach protocol (SOCK_SEQPACKET datagrams). */
struct bd_chan_hello {
	uint32_t magic;
	uint16_t version_min, version_max;
	uint32_t want_slots, want_fifo; /* 0: the node's choice */
	char name[64];
};
struct bd_chan_welcome {
	uint32_t magic;
	uint16_t version, pad;
	int32_t err; /* positive errno: refused (no fds follow) */
	uint32_t app_id;
	uint64_t region_size;
	char node[64];
	char reason[128];
};

/* Geometry of a region (both sides compute it the same way). */
struct bd_chan_geom {
	uint32_t nslots, fifo_size, ring_size;
	uint32_t req_off, evt_off; /* ring records */
	uint32_t slot_off, slot_size, data_off;
	uint64_t size;
};
int bd_chan_geom(struct bd_chan_geom *g, uint32_t nslots, uint32_t fifo_size,
		 uint32_t ring_size);
/* Fill a fresh (zeroed) region of geometry g. */
void bd_chan_region_init(void *base, const struct bd_chan_geom *g,
			 uint32_t app_id);
/* Check a mapped region's header against its size. 0 or -BD_EPROTO. */
int bd_chan_region_check(const void *base, uint64_t size,
			 struct bd_chan_geom *g);

static inline struct bd_chan_hdr *bd_chan_hdr(void *base)
{
	return (struct bd_chan_hdr *)base;
}
static inline struct bd_chan_slot *
bd_chan_slot_at(void *base, const struct bd_chan_geom *g, uint32_t i)
{
	return (struct bd_chan_slot *)((uint8_t *)base + g->slot_off +
				       (uint64_t)i * g->slot_size);
}
static inline uint8_t *bd_chan_rx_data(void *base, const struct bd_chan_geom *g,
				       uint32_t i)
{
	return (uint8_t *)base + g->data_off + (uint64_t)i * 2 * g->fifo_size;
}
static inline uint8_t *bd_chan_tx_data(void *base, const struct bd_chan_geom *g,
				       uint32_t i)
{
	return bd_chan_rx_data(base, g, i) + g->fifo_size;
}

/* Ring operations on the node's side (producer of evt, consumer of req). */
/* Ring operations; off and size come from the caller's trusted geometry.
 * put: false when full. get: 1 a record, 0 empty, -1 the producer's index
 * is impossible (a corrupt peer). */
bool bd_chan_ring_put(void *base, struct bd_chan_ring *r, uint32_t off,
		      uint32_t size, const struct bd_chan_msg *m);
int bd_chan_ring_get(void *base, struct bd_chan_ring *r, uint32_t off,
		     uint32_t size, struct bd_chan_msg *m);
bool bd_chan_ring_empty(struct bd_chan_ring *r);
bool bd_chan_ring_full(struct bd_chan_ring *r, uint32_t size);

/* Wake the other side if it is sleeping (flag exchanged to 0 first, so one
 * write per sleep). Call after publishing. */
void bd_chan_kick(_Atomic uint32_t *sleeping, int efd);

/* The node-side object of an attached application. */
struct bd_chan_app {
	uint32_t id;
	int32_t pid;
	uint32_t uid, gid;
	char name[64];
	void *base; /* the region mapped in the node */
	struct bd_chan_geom g;
	int memfd, app_efd, node_efd, sock;
	bool welcomed;
	/* The bridge that serves the app (owned by the bridge's worker). */
	void *bridge_priv;
	struct bd_chan_view *view; /* in-process view (bd_chan_view_of) */
	struct bd_chan_app *next;  /* server's list */
};

/* Channel addresses <-> the stack's (transports, chan_xport_*.c). */
static inline bool bd_chan_to_ip(const struct bd_chan_addr *a,
				 struct bd_ipaddr *ip)
{
	if (a->family == BD_AF_INET) {
		*ip = bd_ip4(a->v4);
		return true;
	}
	return false;
}

static inline void bd_chan_from_ip(const struct bd_ipaddr *ip, uint16_t port,
				   struct bd_chan_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = ip->family;
	a->port = port;
	if (ip->family == BD_AF_INET)
		a->v4 = ip->v4;
	else
		memcpy(a->v6, ip->v6, 16);
}

#endif
