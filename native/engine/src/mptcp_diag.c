/* SPDX-License-Identifier: Apache-2.0
 *
 * The per-connection telemetry snapshot (like Linux's mptcp_diag plus
 * `ss -Mti`): the mptcp_info-like connection fields and every subflow's
 * tcp_info-like fields, with its addresses, priority, weight and state.
 * No allocation; O(subflows).
 */
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"

static const char *const sf_state_names[] = {"connecting", "active", "stalled",
					     "closing"};

const char *bd_mptcp_sf_state_name(int state)
{
	if (state < 0 || state > BD_MPTCP_SF_CLOSING)
		return "unknown";
	return sf_state_names[state];
}

static void name_copy(char dst[16], const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n > 15)
		n = 15;
	memset(dst, 0, 16);
	if (n)
		memcpy(dst, src, n);
}

int bd_mptcp_snapshot(const struct bd_mptcp_sock *sk,
		      struct bd_mptcp_snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	if (sk->listener)
		return -BD_EINVAL;
	bd_mptcp_get_info(sk, &snap->info);
	name_copy(snap->scheduler, bd_mptcp_get_scheduler(sk));
	name_copy(snap->pm, bd_mptcp_get_pm(sk));
	name_copy(snap->cc, bd_mptcp_get_cc(sk));
	for (const struct bd_mptcp_subflow *sf = sk->subflows;
	     sf && snap->nsubflows < BD_MPTCP_SF_MAX; sf = sf->next) {
		struct bd_mptcp_sf_snapshot *o = &snap->sf[snap->nsubflows++];
		struct bd_tcp_info ti;
		o->backup = sf->backup;
		o->peer_backup = sf->peer_backup;
		o->local_id = sf->local_id;
		o->remote_id = sf->remote_id;
		o->weight = sf->weight ? sf->weight : 1;
		o->laddr = sf->laddr;
		o->raddr = sf->raddr;
		o->lport = sf->lport;
		o->rport = sf->rport;
		o->mapped = sf->mapped;
		if (sf->dead || !sf->tcp)
			o->sf_state = BD_MPTCP_SF_CLOSING;
		else if (sf->stalled)
			o->sf_state = BD_MPTCP_SF_STALLED;
		else if (sf->mp_ready)
			o->sf_state = BD_MPTCP_SF_ACTIVE;
		else
			o->sf_state = BD_MPTCP_SF_CONNECTING;
		if (!sf->tcp || bd_tcp_get_info(sf->tcp, &ti))
			continue;
		o->tcp_state = (uint8_t)ti.state;
		o->rtt = ti.rtt;
		o->rttvar = ti.rttvar;
		o->min_rtt = ti.min_rtt;
		o->snd_cwnd = ti.snd_cwnd;
		o->snd_ssthresh = ti.snd_ssthresh;
		o->snd_mss = ti.snd_mss;
		o->unacked = ti.unacked;
		o->retrans = ti.retrans;
		o->total_retrans = ti.total_retrans;
		o->rto = ti.rto;
		o->backoff = ti.backoff;
		o->bytes_sent = ti.bytes_sent;
		o->bytes_acked = ti.bytes_acked;
		o->bytes_received = ti.bytes_received;
		o->bytes_retrans = ti.bytes_retrans;
		o->delivery_rate = ti.delivery_rate;
		memcpy(o->cc, ti.cc, sizeof(o->cc));
		o->cc[15] = 0;
	}
	return 0;
}
