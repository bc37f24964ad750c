/* SPDX-License-Identifier: Apache-2.0
 * Congestion control registry. Controllers see only bd_tcp_cc_state; TCP
 * keeps its fields (flight size, srtt, ...) in sync before each call. */
#include <string.h>

#include "tcp_impl.h"

#define CC_MAX 16

static const struct bd_tcp_cc_ops *cc_table[CC_MAX];
static int cc_count;

void tcp_cc_init_builtin(void)
{
	if (cc_count == 0) {
		cc_table[cc_count++] = &bd_tcp_cc_newreno;
		cc_table[cc_count++] = &bd_tcp_cc_cubic;
	}
}

int bd_tcp_cc_register(const struct bd_tcp_cc_ops *ops)
{
	if (!ops || !ops->name || !ops->ssthresh || !ops->cong_avoid)
		return -BD_EINVAL;
	tcp_cc_init_builtin();
	if (bd_tcp_cc_find(ops->name))
		return -BD_EADDRINUSE;
	if (cc_count == CC_MAX)
		return -BD_ENOMEM;
	cc_table[cc_count++] = ops;
	return 0;
}

const struct bd_tcp_cc_ops *bd_tcp_cc_find(const char *name)
{
	if (!name)
		return NULL;
	tcp_cc_init_builtin();
	if (strcmp(name, "reno") == 0)
		name = "newreno";
	for (int i = 0; i < cc_count; i++)
		if (strcmp(cc_table[i]->name, name) == 0)
			return cc_table[i];
	return NULL;
}

uint32_t tcp_flight(const struct bd_tcp_sock *s)
{
	return tcp_pipe(s);
}

void tcp_cc_sync(struct bd_tcp_sock *s)
{
	struct bd_tcp_cc_state *cc = &s->cc;
	cc->mss = s->snd_mss ? s->snd_mss : 536;
	if (s->ts_ok && cc->mss > 12 + TCP_MIN_MSS)
		cc->mss -= 12;
	cc->srtt_us = s->srtt;
	cc->min_rtt_us = s->min_rtt;
	cc->bytes_in_flight = tcp_flight(s);
	cc->snd_una = s->snd_una;
	cc->snd_nxt = s->snd_max;
	cc->now_us = bd_stack_now_us(s->ts->st);
	cc->ca_state = s->ca_state;
	cc->sk = s;
}

void tcp_apply_cc(struct bd_tcp_sock *s, const struct bd_tcp_cc_ops *ops)
{
	if (s->cc_ops && s->cc_ops->release)
		s->cc_ops->release(&s->cc);
	memset(s->cc.priv, 0, sizeof(s->cc.priv));
	s->cc_ops = ops;
	tcp_cc_sync(s);
	if (ops->init)
		ops->init(&s->cc);
}

void bd_tcp_set_cc_conn(struct bd_tcp_sock *s, void *conn)
{
	s->cc.conn = conn;
}

const struct bd_tcp_cc_state *bd_tcp_get_cc_state(const struct bd_tcp_sock *s)
{
	return &s->cc;
}

int bd_tcp_set_cc(struct bd_tcp_sock *s, const char *name)
{
	const struct bd_tcp_cc_ops *ops = bd_tcp_cc_find(name);
	if (!ops)
		return -BD_EINVAL;
	tcp_apply_cc(s, ops);
	return 0;
}
