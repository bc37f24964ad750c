/* SPDX-License-Identifier: Apache-2.0
 * Glue between a stack and Braid TCP: create the transport and route the IP
 * layer's delivery, timers and flush to it. */
#include "braid/tcp.h"
#include "net_impl.h"

static const struct bd_l4_ops tcp_ops = {
    .tcp_input = bd_tcp_input,
    .timers = bd_tcp_timers,
    .next_deadline = bd_tcp_next_deadline,
    .flush = bd_tcp_flush,
};

int bd_stack_use_tcp(struct bd_stack *st, const struct bd_tcp_config *cfg)
{
	struct bd_tcp_stack *ts;
	if (st->tcp)
		return -BD_EINVAL;
	ts = bd_tcp_stack_create(st, cfg);
	if (!ts)
		return -BD_ENOMEM;
	st->tcp = ts;
	bd_stack_set_l4(st, &tcp_ops);
	return 0;
}

void bd_stack_drop_tcp(struct bd_stack *st)
{
	if (!st->tcp)
		return;
	bd_stack_set_l4(st, NULL);
	bd_tcp_stack_destroy(st->tcp);
	st->tcp = NULL;
}
