/* SPDX-License-Identifier: Apache-2.0
 *
 * The node side of the application channel inside a worker: a bridge
 * attaches applications' connection slots to the worker's transport
 * sockets. It runs as (part of) the stack's poll hook: each poll it takes
 * the apps' requests, moves bytes tx FIFO -> transport send and transport
 * receive -> rx FIFO, and turns the transport's callbacks into events.
 *
 * Backpressure: the bridge reads the transport's receive buffer only as far
 * as the app's rx FIFO has room (so the transport's window closes when the
 * app reads slowly), and takes from the tx FIFO only what the transport
 * accepts (so a full send buffer leaves the FIFO full and stops the app).
 *
 * A bridge belongs to one worker (one bd_stack) and is only touched from
 * that worker's thread: add and remove apps through the runtime's control
 * call (bd_rt_call). No DPDK in here: the simulator runs it too.
 *
 * The transport is reached through struct bd_chan_xport so that MPTCP
 * sockets can serve connections beside plain TCP (bd_chan_xport_tcp).
 */
#ifndef BRAID_CHAN_BRIDGE_H
#define BRAID_CHAN_BRIDGE_H

#include <stdbool.h>
#include <stddef.h>

#include "braid/chan.h"
#include "braid/net.h"

/* Transport-side events a transport reports for a socket (ctx is the value
 * the bridge passed when it opened or accepted the socket). */
void bd_chan_bridge_on_connected(void *ctx);
void bd_chan_bridge_on_accept(void *ctx);
void bd_chan_bridge_on_closed(void *ctx, int err);
/* Anything that might let the bridge make progress (readable, writable,
 * peer FIN): the bridge polls on the next round. */
void bd_chan_bridge_on_activity(void *ctx);

/* A transport under the bridge. Sockets are opaque; every function is
 * called on the bridge's worker. Errors are negative BD_E*. */
struct bd_chan_xport {
	const char *name;
	/* xctx: what the transport was registered with (the MPTCP stack for
	 * bd_chan_xport_mptcp; unused by TCP). */
	void *(*connect)(void *xctx, struct bd_stack *st,
			 const struct bd_chan_msg *req, void *ctx, int *err);
	void *(*listen)(void *xctx, struct bd_stack *st,
			const struct bd_chan_msg *req, void *ctx, int *err);
	/* One connection from the listener's queue (NULL if none). */
	void *(*accept)(void *listener, void *ctx);
	long (*send)(void *sk, const void *buf, size_t len);
	long (*recv)(void *sk, void *buf, size_t cap); /* 0 = end of stream */
	int (*shutdown)(void *sk);
	void (*close)(void *sk);
	void (*abort)(void *sk);
	void (*addrs)(void *sk, struct bd_chan_addr *l, struct bd_chan_addr *r);
	int (*setopt)(void *sk, const struct bd_chan_opts *o);
	int (*info)(void *sk, struct bd_chan_info *out);
	/* Optional: subflow `subflow` (as numbered by info) to backup or
	 * back to regular (MP_PRIO). */
	int (*set_prio)(void *sk, unsigned subflow, bool backup);
};
extern const struct bd_chan_xport bd_chan_xport_tcp;
/* Braid MPTCP (braid/mptcp.h); register it with the worker's MPTCP stack:
 * bd_chan_bridge_set_mptcp(b, &bd_chan_xport_mptcp, ms). Path managers:
 * "fullmesh" (default: a server announces its other addresses, a client
 * joins what the peer announces), "ndiffports" (subflows - 1 more subflows
 * over the same address pair). */
extern const struct bd_chan_xport bd_chan_xport_mptcp;

struct bd_chan_bridge;

struct bd_chan_bridge *bd_chan_bridge_create(struct bd_stack *st);
/* Reset every connection, close every listener, forget every app (their
 * regions are the server's). */
void bd_chan_bridge_destroy(struct bd_chan_bridge *b);
/* Serve connections with more than one subflow (opts.subflows > 1 or a
 * path manager set) through this transport (MPTCP), its connect/listen
 * called with xctx; NULL: TCP for all. */
void bd_chan_bridge_set_mptcp(struct bd_chan_bridge *b,
			      const struct bd_chan_xport *xp, void *xctx);

/* Told (on this worker) when an app starts listening on a port (on = true)
 * and when that listener closes: a host with several workers steers the
 * port's connections to this worker (bd_rt_pin_port), where the listener
 * is. A negative BD_E* when on refuses the listener (-BD_EADDRINUSE: the
 * port is steered to a listener on another worker); the app's LISTEN then
 * fails with it. Ignored when off. */
typedef int (*bd_chan_listen_fn)(void *ctx, uint16_t port, bool on);
void bd_chan_bridge_set_listen_hook(struct bd_chan_bridge *b,
				    bd_chan_listen_fn fn, void *ctx);

/* The node's defaults for options a CONNECT or LISTEN leaves empty (cc,
 * scheduler, path manager, subflows). */
void bd_chan_bridge_set_defaults(struct bd_chan_bridge *b,
				 const struct bd_chan_opts *o);

/* Start serving an attached app (from the server's on_attach, on this
 * worker). 0 or -BD_ENOMEM. */
int bd_chan_bridge_add(struct bd_chan_bridge *b, struct bd_chan_app *app);
/* The app is gone: reset its connections (the peers see RST), close its
 * listeners, free its slots. Its region may be unmapped afterwards. */
void bd_chan_bridge_remove(struct bd_chan_bridge *b, struct bd_chan_app *app);

/* The poll hook (bd_stack_poll_hook signature, ctx = the bridge): install
 * it with bd_stack_set_poll_hook(st, bd_chan_bridge_poll, b) or call it
 * from the worker's own hook every loop. */
void bd_chan_bridge_poll(void *ctx, struct bd_stack *st);

/* Work is waiting for the next poll (requests, bytes in a tx FIFO, room in
 * a full rx FIFO, accepts): an adaptive-polling worker should not sleep. */
bool bd_chan_bridge_busy(struct bd_chan_bridge *b);

/* For drivers that block (the simulated node fixture): mark every app's
 * region "node sleeping" and return true if nothing is pending (then wait
 * on the apps' node eventfds); false: work arrived, do not sleep. */
bool bd_chan_bridge_arm(struct bd_chan_bridge *b);
void bd_chan_bridge_woken(struct bd_chan_bridge *b);

struct bd_chan_bridge_stats {
	uint64_t apps, conns, listeners;
	uint64_t requests, events, bytes_to_app, bytes_from_app;
	uint64_t accepts_deferred; /* no free slot or event ring full */
	uint64_t protocol_errors;  /* impossible indices from an app */
	uint64_t apps_removed, conns_reset_by_removal;
};
void bd_chan_bridge_stats(const struct bd_chan_bridge *b,
			  struct bd_chan_bridge_stats *out);

/* --- the node's view (admin socket, telemetry, commands) ----------------- */

/* One connection or listener of an app, as bd_chan_bridge_foreach() sees
 * it (on the bridge's worker). */
struct bd_chan_conn_entry {
	uint32_t app_id;
	int32_t app_pid;
	const char *app_name;
	uint32_t slot, gen; /* listener: slot = listener id, gen = 0 */
	bool listener;
	const char *state;     /* "connecting", "open", "closing", "closed",
				  "listen" */
	const char *transport; /* the transport's name ("tcp", "mptcp") */
	struct bd_chan_addr laddr, raddr;
	uint64_t bytes_to_app, bytes_from_app;
	bool have_info; /* info holds the transport's telemetry */
	struct bd_chan_info info;
};
typedef void (*bd_chan_conn_fn)(void *ctx, const struct bd_chan_conn_entry *e);
/* Call fn for every listener and connection of every app on the bridge;
 * with_info fills each connection's telemetry (tcp_info per subflow). */
void bd_chan_bridge_foreach(struct bd_chan_bridge *b, bool with_info,
			    bd_chan_conn_fn fn, void *ctx);
/* Change the options of one app's connection (scheduler, CC, Nagle, ...)
 * from the node (a controller's command). 0, -BD_ENOENT when app_id/slot
 * names no live connection, or the transport's error. */
int bd_chan_bridge_setopt(struct bd_chan_bridge *b, uint32_t app_id,
			  uint32_t slot, const struct bd_chan_opts *o);
/* Draining: close every listener (no new connections are accepted) and
 * refuse new CONNECT requests with ESHUTDOWN; open connections go on. */
/* Set subflow `subflow` (as numbered by the connection's info) of an app's
 * connection to backup or regular: 0, -BD_ENOENT (no such connection or
 * subflow), -BD_EINVAL (the transport has no subflows, e.g. plain TCP). */
int bd_chan_bridge_set_prio(struct bd_chan_bridge *b, uint32_t app_id,
			    uint32_t slot, unsigned subflow, bool backup);
void bd_chan_bridge_drain(struct bd_chan_bridge *b);

#endif
