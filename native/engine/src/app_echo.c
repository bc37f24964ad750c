/* SPDX-License-Identifier: Apache-2.0
 * Echo server: sends back everything it reads, then closes after the peer. */
#include <string.h>

#include "app_impl.h"

static void echo_pump(struct bd_app_echo *a)
{
	struct bd_app_conn *c = &a->c;
	if (c->done || !bd_app_is_open(c))
		return;
	for (;;) {
		long r;
		while (a->pend_off < a->pend_len) {
			r = bd_app_send(c, a->buf + a->pend_off,
					a->pend_len - a->pend_off);
			if (r < 0) {
				bd_app_finish(c, (int)-r);
				return;
			}
			if (r == 0)
				return; /* on_writable will call again */
			a->pend_off += (uint32_t)r;
			a->echoed += (uint64_t)r;
		}
		a->pend_off = a->pend_len = 0;
		r = bd_app_recv(c, a->buf, sizeof(a->buf));
		if (r > 0) {
			if (!c->t_first_us)
				c->t_first_us = bd_stack_now_us(c->st);
			a->pend_len = (uint32_t)r;
			continue;
		}
		bd_app_recv_ended(c, r);
		return;
	}
}

static void echo_event(void *ctx, struct bd_tcp_sock *s)
{
	(void)s;
	echo_pump(ctx);
}

static const struct bd_tcp_callbacks echo_cb = {
    .on_readable = echo_event,
    .on_writable = echo_event,
    .on_peer_fin = echo_event,
    .on_closed = bd_app_closed,
};

static int echo_start(struct bd_app_echo *a, struct bd_stack *st,
		      struct bd_mptcp_stack *ms, uint16_t port,
		      const struct bd_tcp_opts *opts)
{
	memset(a, 0, sizeof(*a));
	if (bd_app_conn_init(&a->c, st) < 0)
		return -BD_EINVAL;
	a->c.ms = ms;
	return bd_app_listen(&a->c, port, opts, &echo_cb);
}

int bd_app_echo_start(struct bd_app_echo *a, struct bd_stack *st, uint16_t port,
		      const struct bd_tcp_opts *opts)
{
	return echo_start(a, st, NULL, port, opts);
}

int bd_app_echo_start_mptcp(struct bd_app_echo *a, struct bd_stack *st,
			    struct bd_mptcp_stack *ms, uint16_t port)
{
	if (!ms)
		return -BD_EINVAL;
	return echo_start(a, st, ms, port, NULL);
}

void bd_app_echo_fini(struct bd_app_echo *a)
{
	bd_app_conn_fini(&a->c);
}
