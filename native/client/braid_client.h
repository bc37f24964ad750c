/* SPDX-License-Identifier: Apache-2.0
 *
 * braid_client: the C client of the local Braid node, for applications that
 * are not Node. It attaches over the node's Unix socket and moves bytes
 * through shared-memory FIFOs (native/CHANNEL.md): send and receive are
 * memory copies, with no system call unless the node sleeps.
 *
 * One braid_client per thread (it is not thread-safe). Connections and
 * listeners are small integers. Functions return >= 0 on success and a
 * negative errno value on failure (-EAGAIN: would block, -ECONNRESET,
 * -ECONNREFUSED, -ETIMEDOUT, -ESHUTDOWN: the node went away, ...).
 *
 *     char err[256];
 *     braid_client *c = braid_attach(NULL, "myapp", err, sizeof(err));
 *     int s = braid_connect(c, "10.0.0.2", 5201, NULL, 5000);
 *     braid_send_all(c, s, buf, len, -1);
 *     braid_shutdown(c, s);
 *     while ((n = braid_recv_wait(c, s, buf, sizeof(buf), -1)) > 0) ...
 *     braid_close(c, s);
 *     braid_detach(c);
 */
#ifndef BRAID_CLIENT_H
#define BRAID_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "braid/chan.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct braid_client braid_client;

/* Per-connection options (NULL or zeroes: the node's defaults). */
struct braid_opts {
	const char *congestion_control; /* "cubic", "newreno", ... */
	const char *scheduler;		/* MPTCP scheduler */
	const char *path_manager;	/* MPTCP path manager */
	unsigned subflows;		/* 1 = plain TCP */
	int nagle;
};

struct braid_endpoint {
	char address[46];
	uint16_t port;
};

/* path NULL: $BRAID_APP_SOCKET, else /run/braid/app.sock. NULL on failure
 * with the reason in err (no node there: "no Braid node at ..."). */
braid_client *braid_attach(const char *path, const char *name, char *err,
			   size_t errlen);
void braid_detach(braid_client *c);
/* Poll this fd (POLLIN) to wait for the node in your own event loop; then
 * call braid_poll(c, 0). */
int braid_fd(const braid_client *c);
/* Take the node's events, then wait up to timeout_ms (-1 forever, 0 not at
 * all) if nothing is pending. 0, or -ESHUTDOWN when the node is gone. */
int braid_poll(braid_client *c, int timeout_ms);

/* Blocking opens (timeout_ms -1: no limit). Connection / listener id. */
int braid_connect(braid_client *c, const char *host, uint16_t port,
		  const struct braid_opts *opts, int timeout_ms);
int braid_listen(braid_client *c, const char *host, uint16_t port, int backlog,
		 const struct braid_opts *opts);
int braid_accept(braid_client *c, int listener, int timeout_ms,
		 struct braid_endpoint *remote);
int braid_close_listener(braid_client *c, int listener);

/* Non-blocking data path: bytes, 0 (recv: end of stream; send: FIFO full
 * is -EAGAIN), or -errno. */
ssize_t braid_send(braid_client *c, int conn, const void *buf, size_t len);
ssize_t braid_recv(braid_client *c, int conn, void *buf, size_t cap);
/* Blocking helpers on the eventfd: send everything / wait for some bytes. */
ssize_t braid_send_all(braid_client *c, int conn, const void *buf, size_t len,
		       int timeout_ms);
ssize_t braid_recv_wait(braid_client *c, int conn, void *buf, size_t cap,
			int timeout_ms);
/* End of our stream (FIN after the queued bytes). */
int braid_shutdown(braid_client *c, int conn);
/* Release the connection (graceful close) / reset it. */
int braid_close(braid_client *c, int conn);
int braid_abort(braid_client *c, int conn);

/* Addresses and telemetry (every subflow's tcp_info) from the node. */
int braid_get_endpoints(braid_client *c, int conn, struct braid_endpoint *local,
			struct braid_endpoint *remote);
int braid_get_info(braid_client *c, int conn, struct bd_chan_info *out,
		   int timeout_ms);

#ifdef __cplusplus
}
#endif

#endif
