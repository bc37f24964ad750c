/* SPDX-License-Identifier: Apache-2.0
 * Request/response: the client sends req_size bytes, the server answers with
 * resp_size bytes, `count` times in a row on one connection; the client
 * times each transaction from the start of its request to the last byte of
 * the response. */
#include <stdlib.h>
#include <string.h>

#include "app_impl.h"

/* --- client ----------------------------------------------------------------
 */

static void cli_push(struct bd_app_rr_client *a)
{
	struct bd_app_conn *c = &a->c;
	while (a->req_sent < a->req_size) {
		uint32_t left = a->req_size - a->req_sent;
		long r = bd_app_send(
		    c, a->buf, left < sizeof(a->buf) ? left : sizeof(a->buf));
		if (r < 0) {
			bd_app_finish(c, (int)-r);
			return;
		}
		if (r == 0)
			return;
		a->req_sent += (uint32_t)r;
		a->bytes_sent += (uint64_t)r;
	}
}

static void cli_next(struct bd_app_rr_client *a)
{
	a->t_req_us = bd_stack_now_us(a->c.st);
	a->req_sent = 0;
	a->resp_got = 0;
	cli_push(a);
}

static void cli_connected(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_app_rr_client *a = ctx;
	(void)s;
	a->c.t_first_us = bd_stack_now_us(a->c.st);
	if (a->count)
		cli_next(a);
	else
		bd_app_finish(&a->c, 0);
}

static void cli_writable(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_app_rr_client *a = ctx;
	(void)s;
	if (!a->c.done)
		cli_push(a);
}

static void cli_readable(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_app_rr_client *a = ctx;
	struct bd_app_conn *c = &a->c;
	long r = -BD_EAGAIN;
	(void)s;
	while (!c->done && (r = bd_app_recv(c, a->buf, sizeof(a->buf))) != 0) {
		if (r < 0) {
			if (r != -BD_EAGAIN)
				bd_app_finish(c, (int)-r);
			return;
		}
		a->bytes_received += (uint64_t)r;
		a->resp_got += (uint32_t)r;
		if (a->resp_got < a->resp_size)
			continue;
		/* The server answers only after a whole request, so a
		 * response never runs into the next one. */
		a->lat_us[a->done_count++] =
		    (uint32_t)(bd_stack_now_us(c->st) - a->t_req_us);
		if (a->done_count == a->count) {
			bd_app_finish(c, 0);
			bd_app_shutdown(c);
			return;
		}
		cli_next(a);
	}
	if (!c->done && r == 0)
		bd_app_finish(c, BD_ECONNABORTED); /* server left early */
}

static void cli_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct bd_app_rr_client *a = ctx;
	(void)s;
	a->c.closed = true;
	bd_app_snapshot(&a->c);
	bd_app_finish(&a->c, err ? err : BD_ECONNABORTED);
}

static const struct bd_tcp_callbacks cli_cb = {
    .on_connected = cli_connected,
    .on_readable = cli_readable,
    .on_writable = cli_writable,
    .on_peer_fin = cli_readable,
    .on_closed = cli_closed,
};

static int cli_start(struct bd_app_rr_client *a, struct bd_stack *st,
		     struct bd_mptcp_stack *ms, const struct bd_ipaddr *laddr,
		     const struct bd_ipaddr *raddr, uint16_t rport,
		     uint32_t req_size, uint32_t resp_size, uint32_t count,
		     const struct bd_tcp_opts *opts)
{
	memset(a, 0, sizeof(*a));
	if (bd_app_conn_init(&a->c, st) < 0 || !req_size || !resp_size)
		return -BD_EINVAL;
	a->c.ms = ms;
	a->req_size = req_size;
	a->resp_size = resp_size;
	a->count = count;
	a->lat_us = calloc(count ? count : 1, sizeof(*a->lat_us));
	if (!a->lat_us)
		return -BD_ENOMEM;
	memset(a->buf, 'q', sizeof(a->buf));
	return bd_app_connect(&a->c, laddr, raddr, rport, opts, &cli_cb);
}

int bd_app_rr_client_start(struct bd_app_rr_client *a, struct bd_stack *st,
			   const struct bd_ipaddr *laddr,
			   const struct bd_ipaddr *raddr, uint16_t rport,
			   uint32_t req_size, uint32_t resp_size,
			   uint32_t count, const struct bd_tcp_opts *opts)
{
	return cli_start(a, st, NULL, laddr, raddr, rport, req_size, resp_size,
			 count, opts);
}

int bd_app_rr_client_start_mptcp(struct bd_app_rr_client *a,
				 struct bd_stack *st, struct bd_mptcp_stack *ms,
				 const struct bd_ipaddr *laddr,
				 const struct bd_ipaddr *raddr, uint16_t rport,
				 uint32_t req_size, uint32_t resp_size,
				 uint32_t count)
{
	if (!ms)
		return -BD_EINVAL;
	return cli_start(a, st, ms, laddr, raddr, rport, req_size, resp_size,
			 count, NULL);
}

void bd_app_rr_client_fini(struct bd_app_rr_client *a)
{
	bd_app_conn_fini(&a->c);
	free(a->lat_us);
	a->lat_us = NULL;
}

/* --- server ----------------------------------------------------------------
 */

static void srv_pump(struct bd_app_rr_server *a)
{
	struct bd_app_conn *c = &a->c;
	long r;
	if (c->done || !bd_app_is_open(c))
		return;
	for (;;) {
		while (a->resp_owed) {
			uint64_t n = a->resp_owed < sizeof(a->buf)
					 ? a->resp_owed
					 : sizeof(a->buf);
			r = bd_app_send(c, a->buf, (size_t)n);
			if (r < 0) {
				bd_app_finish(c, (int)-r);
				return;
			}
			if (r == 0)
				return;
			a->resp_owed -= (uint64_t)r;
		}
		r = bd_app_recv(c, a->buf, sizeof(a->buf));
		if (r > 0) {
			if (!c->t_first_us)
				c->t_first_us = bd_stack_now_us(c->st);
			a->req_got += (uint32_t)r;
			while (a->req_got >= a->req_size) {
				a->req_got -= a->req_size;
				a->resp_owed += a->resp_size;
				a->served++;
			}
			memset(a->buf, 'r', sizeof(a->buf));
			continue;
		}
		bd_app_recv_ended(c, r);
		return;
	}
}

static void srv_event(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	srv_pump(ctx);
}

static const struct bd_tcp_callbacks srv_cb = {
    .on_readable = srv_event,
    .on_writable = srv_event,
    .on_peer_fin = srv_event,
    .on_closed = bd_app_closed,
};

static int srv_start(struct bd_app_rr_server *a, struct bd_stack *st,
		     struct bd_mptcp_stack *ms, uint16_t port,
		     uint32_t req_size, uint32_t resp_size,
		     const struct bd_tcp_opts *opts)
{
	memset(a, 0, sizeof(*a));
	if (bd_app_conn_init(&a->c, st) < 0 || !req_size)
		return -BD_EINVAL;
	a->c.ms = ms;
	a->req_size = req_size;
	a->resp_size = resp_size;
	return bd_app_listen(&a->c, port, opts, &srv_cb);
}

int bd_app_rr_server_start(struct bd_app_rr_server *a, struct bd_stack *st,
			   uint16_t port, uint32_t req_size, uint32_t resp_size,
			   const struct bd_tcp_opts *opts)
{
	return srv_start(a, st, NULL, port, req_size, resp_size, opts);
}

int bd_app_rr_server_start_mptcp(struct bd_app_rr_server *a,
				 struct bd_stack *st, struct bd_mptcp_stack *ms,
				 uint16_t port, uint32_t req_size,
				 uint32_t resp_size)
{
	if (!ms)
		return -BD_EINVAL;
	return srv_start(a, st, ms, port, req_size, resp_size, NULL);
}

void bd_app_rr_server_fini(struct bd_app_rr_server *a)
{
	bd_app_conn_fini(&a->c);
}
