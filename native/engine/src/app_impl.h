/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BRAID_APP_IMPL_H
#define BRAID_APP_IMPL_H

#include "braid/app.h"

int bd_app_conn_init(struct bd_app_conn *c, struct bd_stack *st);
void bd_app_conn_fini(struct bd_app_conn *c);
void bd_app_finish(struct bd_app_conn *c, int err);
/* After a receive that returned no data: the peer's end (0) finishes the app
 * and shuts our side down, an error other than EAGAIN finishes it with that
 * error. */
void bd_app_recv_ended(struct bd_app_conn *c, long r);
/* An on_closed callback for apps with nothing of their own to do at close
 * (ctx is the app, whose first member is its bd_app_conn). */
void bd_app_closed(void *ctx, struct bd_tcp_sock *s, int err);

/* The transport under an app: its connection is either a TCP socket
 * (c->sock) or an MPTCP connection (c->msock, when c->ms is set). The apps
 * are written against TCP callbacks (c->cb, ctx = the app, whose first
 * member is its bd_app_conn); on MPTCP, trampolines call them with a NULL
 * socket, so callbacks use the functions below rather than their socket
 * argument. */
bool bd_app_is_open(const struct bd_app_conn *c);
long bd_app_send(struct bd_app_conn *c, const void *buf, size_t len);
long bd_app_recv(struct bd_app_conn *c, void *buf, size_t cap);
/* bd_app_recv() that hands the bytes to fn without copying them where the
 * transport allows (TCP: in its receive buffer; MPTCP: through buf). */
long bd_app_recv_inplace(struct bd_app_conn *c, void *buf, size_t cap,
			 void (*fn)(void *ctx, const uint8_t *p, size_t n),
			 void *ctx);
int bd_app_shutdown(struct bd_app_conn *c);
/* Open the connection / the listener with the app's callbacks. */
int bd_app_connect(struct bd_app_conn *c, const struct bd_ipaddr *laddr,
		   const struct bd_ipaddr *raddr, uint16_t rport,
		   const struct bd_tcp_opts *opts,
		   const struct bd_tcp_callbacks *cb);
int bd_app_listen(struct bd_app_conn *c, uint16_t port,
		  const struct bd_tcp_opts *opts,
		  const struct bd_tcp_callbacks *cb);
/* Accept the first connection from the listener, reset any other. */
void bd_app_accept(struct bd_app_conn *c);

#endif
