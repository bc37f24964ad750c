/* SPDX-License-Identifier: Apache-2.0
 * Congestion control registry. Controllers see only bd_tcp_cc_state; TCP
 * keeps its fields (flight size, srtt, ...) in sync before each call. */
#include <string.h>

#include "registry.h"
#include "tcp_impl.h"

/* Shared by every stack of the process (workers register and look up in
 * parallel threads). */
static struct bd_registry cc_reg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .count = 2,
    .items = {&bd_tcp_cc_newreno, &bd_tcp_cc_cubic},
};

int bd_tcp_cc_register(const struct bd_tcp_cc_ops *ops)
{
	if (!ops || !ops->name || !ops->ssthresh || !ops->cong_avoid)
		return -BD_EINVAL;
	return bd_registry_add(&cc_reg, ops);
}

int tcp_cc_count(void)
{
	return bd_registry_count(&cc_reg);
}

const struct bd_tcp_cc_ops *bd_tcp_cc_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "reno") == 0)
		name = "newreno";
	return bd_registry_find(&cc_reg, name);
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

void bd_tcp_sack_edge(const struct bd_tcp_sock *s, uint32_t *sack_high,
		      uint32_t *snd_max)
{
	*sack_high =
	    s->sacked.n ? s->sacked.r[s->sacked.n - 1].end : s->snd_una;
	*snd_max = s->snd_max;
}

int bd_tcp_set_cc(struct bd_tcp_sock *s, const char *name)
{
	const struct bd_tcp_cc_ops *ops = bd_tcp_cc_find(name);
	if (!ops)
		return -BD_EINVAL;
	tcp_apply_cc(s, ops);
	return 0;
}
