/* SPDX-License-Identifier: Apache-2.0
 *
 * The application channel: how applications (the Node SDK, the C client)
 * talk to the local Braid node without a system call per byte.
 *
 * One shared-memory region (a memfd) per attached application holds
 *   - two event rings of fixed-size records (struct bd_chan_msg): requests
 *     app -> node (connect, listen, release, abort, options, info) and
 *     events node -> app (connected, accepted, closed, errors, ...);
 *   - a table of connection slots, each with two single-producer /
 *     single-consumer byte FIFOs: rx (node -> app) and tx (app -> node),
 *     and a telemetry block (struct bd_chan_info) the node fills on request.
 * Two eventfds wake a sleeping side; a "sleeping" flag in the region means a
 * busy peer never makes a system call. The layout is private to the chan_*.c
 * files (chan_impl.h); this header has no atomics in it so that C++ (the
 * addon) can include it. See native/CHANNEL.md.
 *
 * Three users:
 *   - the node process: bd_chan_server_* (Unix socket, attach protocol, on
 *     the control thread) and the bridge (braid/chan_bridge.h, on the worker
 *     that owns the application's connections);
 *   - applications: bd_chan_attach() and bd_chan_* on a struct bd_chan_view
 *     (single-threaded: one thread of the application drives one view).
 */
#ifndef BRAID_CHAN_H
#define BRAID_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "braid/stack.h"
#include "braid/tcp.h"

#define BD_CHAN_VERSION	      1
#define BD_CHAN_DEFAULT_PATH  "/run/braid/app.sock"
#define BD_CHAN_MAX_SUBFLOWS  8
#define BD_CHAN_MAX_LISTENERS 32

/* Defaults of a region (what the node offers unless the app asks less). */
#define BD_CHAN_DEFAULT_SLOTS 256u
#define BD_CHAN_DEFAULT_FIFO  (256u * 1024u) /* bytes each way, power of 2 */
#define BD_CHAN_DEFAULT_RING  1024u	     /* records per event ring */

#define BD_ENOENT    2
#define BD_EPIPE     32
#define BD_EBADF     9
#define BD_EPROTO    71
#define BD_ESHUTDOWN 108

/* An endpoint. v4 in host byte order, like struct bd_ipaddr. */
struct bd_chan_addr {
	uint8_t family; /* 0 (unset), BD_AF_INET, BD_AF_INET6 */
	uint8_t pad;
	uint16_t port;
	union {
		uint32_t v4;
		uint8_t v6[16];
	};
};

/* Per-connection options; empty strings and zeros mean "node default". */
struct bd_chan_opts {
	char cc[16];	    /* congestion control ("cubic", "newreno", "lia") */
	char scheduler[16]; /* MPTCP packet scheduler ("minrtt", "rr") */
	char path_manager[16]; /* MPTCP path manager ("fullmesh", "ndiffports")
				*/
	uint8_t subflows;      /* wanted subflows; 0 default, 1 = plain TCP */
	uint8_t nagle;	       /* 1: Nagle on */
	uint8_t pad[2];
	uint32_t snd_buf, rcv_buf; /* transport buffers, 0 default */
};

enum bd_chan_msg_type {
	/* requests, app -> node */
	BD_CHAN_REQ_CONNECT = 1, /* cookie, laddr (optional), raddr, opts */
	BD_CHAN_REQ_LISTEN =
	    2, /* cookie, laddr (port != 0), arg = backlog, opts */
	BD_CHAN_REQ_CLOSE_LISTENER = 3, /* slot = listener id */
	BD_CHAN_REQ_RELEASE = 4, /* slot, gen: graceful close, slot freed */
	BD_CHAN_REQ_ABORT = 5,	 /* slot, gen: reset, slot freed */
	BD_CHAN_REQ_SETOPT = 6,	 /* cookie, slot, gen, opts */
	BD_CHAN_REQ_INFO = 7,	 /* cookie, slot, gen: fill the info block */
	/* events, node -> app */
	BD_CHAN_EV_CONNECTED = 0x81, /* cookie, slot, gen, laddr, raddr */
	BD_CHAN_EV_LISTENING = 0x82, /* cookie, slot = listener id, laddr */
	BD_CHAN_EV_ACCEPTED = 0x83,  /* slot, gen, arg = listener id, addrs */
	BD_CHAN_EV_CLOSED = 0x84,    /* slot, gen, err (0 orderly) */
	BD_CHAN_EV_ERROR = 0x85,     /* cookie, err: a request failed */
	BD_CHAN_EV_INFO = 0x86,	     /* cookie, slot, gen: info block ready */
	BD_CHAN_EV_DONE = 0x87,	     /* cookie, err: SETOPT / CLOSE_LISTENER */
};

/* One record of either event ring: 128 bytes. */
struct bd_chan_msg {
	uint16_t type;
	uint16_t flags;
	uint32_t slot;
	uint32_t gen; /* generation of the slot (stale events are ignored) */
	int32_t err;  /* positive BD_E* value, 0 = none */
	uint64_t cookie;
	uint32_t arg;
	struct bd_chan_addr laddr, raddr;
	struct bd_chan_opts opts;
};

/* Telemetry of one connection: every subflow's tcp_info (one for TCP),
 * and its MPTCP priority (RFC 8684 MP_PRIO): backup = this end's, as
 * bd_chan_bridge_set_prio or the path manager set it; peer_backup = what
 * the peer asked for (MP_JOIN or MP_PRIO). */
struct bd_chan_subflow_info {
	struct bd_chan_addr laddr, raddr;
	struct bd_tcp_info tcp;
	uint8_t backup, peer_backup;
};
struct bd_chan_info {
	uint32_t nsubflows;
	uint32_t mptcp; /* 1: an MPTCP connection */
	char transport[16];
	struct bd_chan_subflow_info sub[BD_CHAN_MAX_SUBFLOWS];
};

/* --- application side -------------------------------------------------- */

struct bd_chan_view;

/* Connect to the node's Unix socket at path (NULL: $BRAID_APP_SOCKET or
 * BD_CHAN_DEFAULT_PATH), say hello, receive and map the region and the two
 * eventfds. timeout_ms bounds the wait for the node's answer. 0 and *out,
 * or -errno (ENOENT / ECONNREFUSED: no node there) with a reason in err. */
int bd_chan_attach(const char *path, const char *name, uint32_t timeout_ms,
		   struct bd_chan_view **out, char *err, size_t errlen);
/* Unmap and close everything (the node resets what is still open). */
void bd_chan_detach(struct bd_chan_view *v);

/* The eventfd the node writes when the app sleeps (poll it for POLLIN), and
 * the Unix socket (POLLHUP / POLLIN with EOF: the node went away). */
int bd_chan_event_fd(const struct bd_chan_view *v);
int bd_chan_sock_fd(const struct bd_chan_view *v);
uint32_t bd_chan_nslots(const struct bd_chan_view *v);
uint32_t bd_chan_fifo_size(const struct bd_chan_view *v);
uint32_t bd_chan_app_id(const struct bd_chan_view *v);
/* false once the node said it is stopping, or its socket closed. */
bool bd_chan_node_alive(struct bd_chan_view *v);

/* Queue a request; 0, or -BD_EAGAIN if the request ring is full. */
int bd_chan_request(struct bd_chan_view *v, const struct bd_chan_msg *m);
/* Take the next event: 1 (in *m), 0 if none. Taking CONNECTED / ACCEPTED
 * makes the slot the app's until it sends RELEASE or ABORT for it. */
int bd_chan_next_event(struct bd_chan_view *v, struct bd_chan_msg *m);

/* Byte FIFOs of a slot the app holds. write: bytes queued (0 when full),
 * -BD_EPIPE after bd_chan_shutdown, -BD_EBADF for a slot not held. read:
 * > 0 bytes, 0 at end of stream, -BD_EAGAIN if nothing yet. */
long bd_chan_write(struct bd_chan_view *v, uint32_t slot, const void *buf,
		   size_t len);
long bd_chan_read(struct bd_chan_view *v, uint32_t slot, void *buf, size_t cap);
/* Zero-copy read: the contiguous readable bytes (*len, possibly fewer than
 * readable) at *ptr, then bd_chan_read_commit() what was consumed. 1 data,
 * 0 end of stream, -BD_EAGAIN nothing. */
int bd_chan_read_peek(struct bd_chan_view *v, uint32_t slot, const void **ptr,
		      size_t *len);
void bd_chan_read_commit(struct bd_chan_view *v, uint32_t slot, size_t n);
size_t bd_chan_readable(struct bd_chan_view *v, uint32_t slot);
size_t bd_chan_writable(struct bd_chan_view *v, uint32_t slot);
/* End of the app's stream (FIN after the queued bytes). */
int bd_chan_shutdown(struct bd_chan_view *v, uint32_t slot);
/* Copy the slot's info block (consistent snapshot, after an EV_INFO). */
int bd_chan_read_info(struct bd_chan_view *v, uint32_t slot,
		      struct bd_chan_info *out);
/* Release / abort a held slot (sends the request; -BD_EAGAIN ring full). */
int bd_chan_release(struct bd_chan_view *v, uint32_t slot, bool abort);
/* Is the slot held by the app (and its generation)? */
bool bd_chan_holds(const struct bd_chan_view *v, uint32_t slot, uint32_t *gen);

/* The app stops (true) or resumes (false) reading a slot: bd_chan_arm()
 * ignores a paused slot's data (the node stops when its FIFO is full). */
void bd_chan_pause(struct bd_chan_view *v, uint32_t slot, bool paused);

/* Sleep protocol. bd_chan_arm() marks the app as sleeping and returns true
 * if nothing is pending (then wait for the eventfd or the socket); false
 * means work arrived meanwhile (the mark is cleared: do not sleep).
 * bd_chan_woken() reads the eventfd and clears the mark. */
bool bd_chan_arm(struct bd_chan_view *v);
void bd_chan_woken(struct bd_chan_view *v);
/* Wait (poll) up to timeout_ms for node activity: 1 woken, 0 timeout,
 * -BD_ESHUTDOWN node gone. */
int bd_chan_wait(struct bd_chan_view *v, int timeout_ms);

/* --- node side: the Unix socket server (control thread) ----------------- */

struct bd_chan_app; /* one attached application (node side) */
struct bd_chan_server;

struct bd_chan_server_config {
	const char *path;   /* socket path; its directory must exist */
	uint32_t mode;	    /* socket file mode (0 = 0660) */
	uint32_t nslots;    /* per app (0 = BD_CHAN_DEFAULT_SLOTS) */
	uint32_t fifo_size; /* per direction per slot, power of 2 */
	uint32_t ring_size; /* records per event ring, power of 2 */
	uint32_t max_apps;  /* 0 = 1024 */
	int64_t allow_uid;  /* -1: any user; else only this uid (and root) */
	const char *node_name;
	/* An app finished its hello: hand it to a bridge. Returning non-zero
	 * refuses the app (BD_ESHUTDOWN: "the node is stopping", which the
	 * SDK treats like no node at all). */
	int (*on_attach)(void *ctx, struct bd_chan_app *app);
	/* The app's socket closed (it exited or crashed) or the server is
	 * being destroyed: remove it from its bridge before returning; the
	 * server unmaps and frees it afterwards. */
	void (*on_detach)(void *ctx, struct bd_chan_app *app);
	void *ctx;
};

struct bd_chan_server *
bd_chan_server_create(const struct bd_chan_server_config *cfg, char *err,
		      size_t errlen);
/* One fd to watch for reading (an epoll fd over the listening socket, the
 * apps' sockets and their node-side eventfds). */
int bd_chan_server_fd(const struct bd_chan_server *s);
/* Handle what is ready without blocking: new apps, hellos, apps gone,
 * node wake-ups. Returns the number of things handled. */
int bd_chan_server_process(struct bd_chan_server *s);
/* Tell every app the node is stopping (they get a clear error), detach
 * them all (on_detach), close the socket and unlink its path. */
void bd_chan_server_destroy(struct bd_chan_server *s);
unsigned bd_chan_server_napps(const struct bd_chan_server *s);

uint32_t bd_chan_app_id_of(const struct bd_chan_app *a);
int32_t bd_chan_app_pid(const struct bd_chan_app *a);
uint32_t bd_chan_app_uid(const struct bd_chan_app *a);
const char *bd_chan_app_name(const struct bd_chan_app *a);

/* In-process attachment without a socket (tests, fixtures): a region with
 * its eventfds, and a view of the same memory for the app side. */
struct bd_chan_app *bd_chan_app_create(uint32_t nslots, uint32_t fifo_size,
				       uint32_t ring_size, const char *name);
void bd_chan_app_destroy(struct bd_chan_app *a);
struct bd_chan_view *bd_chan_view_of(struct bd_chan_app *a);

#endif
