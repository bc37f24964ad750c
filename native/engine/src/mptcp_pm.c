/* SPDX-License-Identifier: Apache-2.0
 *
 * The path manager: which subflows a connection has. Modes per connection
 * (an ops table each, switchable), the stack's endpoints (local addresses,
 * like `ip mptcp endpoint`), the external calls the node agent drives,
 * re-establishment of failed subflows with backoff, and the subflow
 * events. Runs from mptcp_leave() (after every hook of the connection),
 * never from inside a TCP hook that is still working on a segment.
 */
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"

/* --- events -----------------------------------------------------------------
 */

void bd_mptcp_set_event_handler(struct bd_mptcp_stack *ms, bd_mptcp_event_fn fn,
				void *ctx)
{
	ms->ev_fn = fn;
	ms->ev_ctx = ctx;
}

static unsigned sf_index(const struct bd_mptcp_sock *msk,
			 const struct bd_mptcp_subflow *sf)
{
	unsigned i = 0;
	for (const struct bd_mptcp_subflow *x = msk->subflows; x && x != sf;
	     x = x->next)
		i++;
	return i;
}

static void emit_sf(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf,
		    int type, int reason)
{
	struct bd_mptcp_stack *ms = msk->ms;
	struct bd_mptcp_event ev;
	if (!ms->ev_fn)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.index = sf_index(msk, sf);
	ev.local_id = sf->local_id;
	ev.remote_id = sf->remote_id;
	ev.laddr = sf->laddr;
	ev.raddr = sf->raddr;
	ev.lport = sf->lport;
	ev.rport = sf->rport;
	ev.backup = sf->backup || sf->peer_backup;
	ev.reason = reason;
	ev.err = sf->close_err;
	ev.rst_code = sf->rst_reason;
	ms->ev_fn(ms->ev_ctx, msk, &ev);
}

static void emit_addr(struct bd_mptcp_sock *msk, int type, uint8_t id,
		      const struct bd_ipaddr *addr, uint16_t port)
{
	struct bd_mptcp_stack *ms = msk->ms;
	struct bd_mptcp_event ev;
	if (!ms->ev_fn)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.remote_id = id;
	if (addr)
		ev.raddr = *addr;
	ev.rport = port;
	ms->ev_fn(ms->ev_ctx, msk, &ev);
}

static const char *const reason_names[] = {
    "none",    "fin",	  "reset", "timeout",
    "refused", "removed", "local", "connection-down",
};

const char *bd_mptcp_close_reason_name(int reason)
{
	if (reason < 0 ||
	    reason >= (int)(sizeof(reason_names) / sizeof(reason_names[0])))
		return "unknown";
	return reason_names[reason];
}

/* --- endpoints --------------------------------------------------------------
 */

static bool ep_id_used(const struct bd_mptcp_stack *ms, uint8_t id)
{
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX; i++)
		if (ms->ep[i].used && ms->ep[i].id == id)
			return true;
	return false;
}

static const struct bd_mptcp_endpoint *
ep_by_addr(const struct bd_mptcp_stack *ms, const struct bd_ipaddr *a)
{
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX; i++)
		if (ms->ep[i].used && bd_ipaddr_eq(&ms->ep[i].addr, a))
			return &ms->ep[i];
	return NULL;
}

int bd_mptcp_pm_add_endpoint(struct bd_mptcp_stack *ms,
			     const struct bd_ipaddr *addr, uint16_t port,
			     uint8_t id, uint32_t flags)
{
	struct bd_mptcp_endpoint *slot = NULL;
	if (!addr || !addr->family ||
	    (flags & ~(uint32_t)(BD_MPTCP_EP_SIGNAL | BD_MPTCP_EP_SUBFLOW |
				 BD_MPTCP_EP_BACKUP)))
		return -BD_EINVAL;
	if (id && ep_id_used(ms, id))
		return -BD_EADDRINUSE;
	if (ep_by_addr(ms, addr))
		return -BD_EADDRINUSE;
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX && !slot; i++)
		if (!ms->ep[i].used)
			slot = &ms->ep[i];
	if (!slot)
		return -BD_ENOMEM;
	if (!id) {
		id = 1;
		while (ep_id_used(ms, id))
			id++;
	}
	slot->used = true;
	slot->id = id;
	slot->flags = flags;
	slot->addr = *addr;
	slot->port = port;
	return id;
}

int bd_mptcp_pm_del_endpoint(struct bd_mptcp_stack *ms, uint8_t id)
{
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX; i++)
		if (ms->ep[i].used && ms->ep[i].id == id) {
			ms->ep[i].used = false;
			return 0;
		}
	return -BD_EINVAL;
}

/* --- subflows the PM keeps up
 * --------------------------------------------------
 */

static struct bd_mptcp_subflow *sf_at(const struct bd_mptcp_sock *sk,
				      unsigned i)
{
	struct bd_mptcp_subflow *sf = sk->subflows;
	while (sf && i--)
		sf = sf->next;
	return sf;
}

/* The connecting side before the peer showed (with a DSS) that it has the
 * connection: an MP_JOIN would be refused (RFC 8684 3.2: joins wait until
 * the connection is fully established; Linux waits the same way). */
static bool waiting_peer(const struct bd_mptcp_sock *msk)
{
	return msk->active && !msk->fully_established;
}

/* Open an MP_JOIN subflow; *out gets it. Returns its local address id.
 * Asked for (by the external calls) while waiting for the peer, its SYN is
 * held until the connection is fully established: an earlier one would be
 * refused with a reset. */
static int join(struct bd_mptcp_sock *sk, const struct bd_ipaddr *laddr,
		uint16_t lport, const struct bd_ipaddr *raddr, uint16_t rport,
		bool backup, struct bd_mptcp_subflow **out)
{
	struct bd_mptcp_stack *ms = sk->ms;
	struct bd_tcp_opts o = {0};
	int e;
	if (!sk->established || sk->fallback || sk->reset ||
	    !sk->remote_key_known || sk->listener)
		return -BD_ENOTCONN;
	if (!raddr || !raddr->family)
		return -BD_EINVAL;
	if (mptcp_subflow_count(sk, false) >= ms->cfg.subflows_max)
		return -BD_EAGAIN;
	struct bd_mptcp_subflow *sf = mptcp_subflow_new(sk, SF_JOIN);
	if (!sf)
		return -BD_ENOMEM;
	/* No source given: the route's, else the first subflow's. */
	struct bd_route rt;
	if (!laddr && bd_ip_route(ms->st, raddr, NULL, &rt) == 0 &&
	    rt.saddr.family)
		laddr = &rt.saddr;
	if (!laddr && sk->subflows && sk->subflows->laddr.family)
		laddr = &sk->subflows->laddr;
	const struct bd_mptcp_endpoint *ep =
	    laddr ? ep_by_addr(ms, laddr) : NULL;
	if (ep) {
		sf->local_id = ep->id;
	} else {
		while (ep_id_used(ms, sk->next_local_id))
			sk->next_local_id++;
		sf->local_id = sk->next_local_id++;
	}
	sf->backup = backup;
	sf->local_nonce = (uint32_t)bd_stack_rand64(ms->st);
	mptcp_sf_opts(ms, &o);
	o.ulp_ctx = sf;
	o.cc = sk->cc ? sk->cc->name : NULL;
	sf->tcp = bd_tcp_connect(ms->ts, laddr, lport, raddr, rport, &o,
				 &bd_mptcp_sf_cb, sf, &e);
	sf->tsock = sf->tcp;
	if (!sf->tcp) {
		ms->mib.MPJoinSynTxCreatSkErr++;
		mptcp_subflow_free(sf);
		return e;
	}
	mptcp_subflow_attach(sk, sf);
	if (waiting_peer(sk) && bd_tcp_ulp_hold_syn(sf->tcp, true) == 0)
		sk->joins_held = true;
	ms->mib.MPJoinSynTx++;
	*out = sf;
	return sf->local_id;
}

static int want_find(const struct bd_mptcp_sock *sk,
		     const struct bd_ipaddr *laddr, uint16_t lport,
		     const struct bd_ipaddr *raddr, uint16_t rport)
{
	for (int i = 0; i < BD_MPTCP_PM_WANT; i++) {
		const struct bd_mptcp_pm_want *w = &sk->want[i];
		if (w->used && w->lport == lport && w->rport == rport &&
		    bd_ipaddr_eq(&w->raddr, raddr) &&
		    ((!laddr && !w->laddr.family) ||
		     (laddr && bd_ipaddr_eq(&w->laddr, laddr))))
			return i;
	}
	return -1;
}

/* Open the subflow of entry i. */
static int want_open(struct bd_mptcp_sock *sk, int i)
{
	struct bd_mptcp_pm_want *w = &sk->want[i];
	struct bd_mptcp_subflow *sf = NULL;
	int rc = join(sk, w->laddr.family ? &w->laddr : NULL, w->lport,
		      &w->raddr, w->rport, w->backup, &sf);
	w->next_try_us = 0;
	if (rc < 0)
		return rc;
	w->up = true;
	sf->want = (int8_t)(i + 1);
	sf->remote_id = w->remote_id;
	return rc;
}

/* A subflow to keep up: open it unless one is already kept up. */
static int want_add(struct bd_mptcp_sock *sk, const struct bd_ipaddr *laddr,
		    uint16_t lport, const struct bd_ipaddr *raddr,
		    uint16_t rport, bool backup, uint8_t remote_id,
		    struct bd_mptcp_subflow **out)
{
	int i = lport ? want_find(sk, laddr, lport, raddr, rport) : -1;
	if (i >= 0 && sk->want[i].up)
		return -BD_EADDRINUSE;
	if (i < 0) {
		for (int k = 0; k < BD_MPTCP_PM_WANT && i < 0; k++)
			if (!sk->want[k].used)
				i = k;
		if (i < 0)
			return -BD_ENOMEM;
	}
	struct bd_mptcp_pm_want *w = &sk->want[i];
	memset(w, 0, sizeof(*w));
	w->used = true;
	if (laddr)
		w->laddr = *laddr;
	w->lport = lport;
	w->raddr = *raddr;
	w->rport = rport;
	w->backup = backup;
	w->remote_id = remote_id;
	int rc = want_open(sk, i);
	if (rc < 0) {
		w->used = false;
		return rc;
	}
	if (out)
		*out = sf_at(sk, mptcp_subflow_count(sk, false) - 1);
	return rc;
}

/* No new subflows once the connection is ending: the peer closed, or we
 * closed and everything we sent is acknowledged (a close queued behind
 * data still to send leaves the subflows useful). */
static bool closing(const struct bd_mptcp_sock *msk)
{
	return msk->rcv.fin_seen ||
	       (msk->snd.fin_queued && msk->snd.snd_una == msk->snd.write_seq);
}

void mptcp_pm_sf_closed(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf)
{
	if (sf->ev_closed)
		return;
	sf->ev_closed = true;
	int why = sf->close_why;
	if (!why) {
		if (msk->reset)
			why = BD_MPTCP_CLOSE_CONN_DOWN;
		else if (!sf->ev_up && !sf->mp_ready)
			why = BD_MPTCP_CLOSE_REFUSED;
		else if (sf->close_err == BD_ETIMEDOUT)
			why = BD_MPTCP_CLOSE_TIMEOUT;
		else if (sf->close_err || sf->rst_reason)
			why = BD_MPTCP_CLOSE_RESET;
		else
			why = BD_MPTCP_CLOSE_FIN;
	}
	emit_sf(msk, sf, BD_MPTCP_EV_CLOSED, why);
	if (!sf->want)
		return;
	struct bd_mptcp_pm_want *w = &msk->want[sf->want - 1];
	sf->want = 0;
	w->up = false;
	bool again = why == BD_MPTCP_CLOSE_RESET ||
		     why == BD_MPTCP_CLOSE_TIMEOUT ||
		     why == BD_MPTCP_CLOSE_REFUSED;
	const struct bd_mptcp_config *c = &msk->ms->cfg;
	if (why == BD_MPTCP_CLOSE_REFUSED && waiting_peer(msk) &&
	    !closing(msk)) {
		/* Refused because it overtook our third ACK (the peer knows
		 * our key only from there): again as soon as the peer shows
		 * it has the connection, not counted as a failure. */
		w->next_try_us = bd_stack_now_us(msk->ms->st) + 1;
		return;
	}
	if (!again || closing(msk) || w->retries >= c->reconnect_retries) {
		w->used = false;
		return;
	}
	uint64_t wait = c->reconnect_min_us ? c->reconnect_min_us : 1000;
	for (unsigned k = 0; k < w->retries && wait < c->reconnect_max_us; k++)
		wait *= 2;
	if (c->reconnect_max_us && wait > c->reconnect_max_us)
		wait = c->reconnect_max_us;
	w->retries++;
	w->next_try_us = bd_stack_now_us(msk->ms->st) + wait;
}

/* --- modes ------------------------------------------------------------------
 */

static uint16_t first_rport(const struct bd_mptcp_sock *msk)
{
	return msk->subflows ? msk->subflows->rport : 0;
}

/* Client side: a subflow from every local address the mode uses to addr. */
static void mesh_to(struct bd_mptcp_sock *msk, const struct bd_ipaddr *raddr,
		    uint16_t rport, uint8_t rid, bool all_backup)
{
	const struct bd_mptcp_stack *ms = msk->ms;
	const struct bd_mptcp_subflow *first = msk->subflows;
	/* The first subflow's own address first (not to its own peer). */
	if (first && !bd_ipaddr_eq(raddr, &first->raddr))
		want_add(msk, &first->laddr, 0, raddr, rport, all_backup, rid,
			 NULL);
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX; i++) {
		const struct bd_mptcp_endpoint *ep = &ms->ep[i];
		if (!ep->used ||
		    (first && bd_ipaddr_eq(&ep->addr, &first->laddr)))
			continue;
		want_add(msk, &ep->addr, 0, raddr, rport,
			 all_backup || (ep->flags & BD_MPTCP_EP_BACKUP), rid,
			 NULL);
	}
}

static void announce_eps(struct bd_mptcp_sock *msk, uint32_t need)
{
	const struct bd_mptcp_stack *ms = msk->ms;
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX; i++) {
		const struct bd_mptcp_endpoint *ep = &ms->ep[i];
		if (!ep->used || (need && !(ep->flags & need)) ||
		    (msk->subflows &&
		     bd_ipaddr_eq(&ep->addr, &msk->subflows->laddr) &&
		     (!ep->port || ep->port == msk->subflows->lport)))
			continue;
		bd_mptcp_announce(msk, ep->id, &ep->addr, ep->port);
	}
}

/* The client keeps its first subflow's address pair up too (by MP_JOIN
 * when the first subflow fails). */
static void keep_first(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_subflow *first = msk->subflows;
	if (!first || first->want)
		return;
	for (int i = 0; i < BD_MPTCP_PM_WANT; i++) {
		struct bd_mptcp_pm_want *w = &msk->want[i];
		if (w->used)
			continue;
		memset(w, 0, sizeof(*w));
		w->used = true;
		w->up = true;
		w->laddr = first->laddr;
		w->raddr = first->raddr;
		w->rport = first->rport;
		w->backup = first->backup;
		first->want = (int8_t)(i + 1);
		return;
	}
}

static void kernel_established(struct bd_mptcp_sock *msk)
{
	if (!msk->active) {
		announce_eps(msk, BD_MPTCP_EP_SIGNAL);
		return;
	}
	keep_first(msk);
	for (unsigned i = 0; i < BD_MPTCP_EP_MAX; i++) {
		const struct bd_mptcp_endpoint *ep = &msk->ms->ep[i];
		if (!ep->used || !(ep->flags & BD_MPTCP_EP_SUBFLOW) ||
		    !msk->subflows ||
		    bd_ipaddr_eq(&ep->addr, &msk->subflows->laddr))
			continue;
		want_add(msk, &ep->addr, 0, &msk->subflows->raddr,
			 first_rport(msk), ep->flags & BD_MPTCP_EP_BACKUP, 0,
			 NULL);
	}
}

static void kernel_add_addr(struct bd_mptcp_sock *msk,
			    const struct bd_mptcp_addr *a)
{
	if (msk->active && msk->ms->cfg.auto_join)
		want_add(msk, NULL, 0, &a->addr,
			 a->port ? a->port : first_rport(msk), false, a->id,
			 NULL);
}

/* fullmesh and backup: every local address to every peer address; for
 * backup the extra subflows are backup. */
static void mesh_established(struct bd_mptcp_sock *msk, bool bk)
{
	if (!msk->active) {
		announce_eps(msk, 0);
		return;
	}
	keep_first(msk);
	if (msk->subflows)
		mesh_to(msk, &msk->subflows->raddr, first_rport(msk), 0, bk);
}

static void mesh_add_addr(struct bd_mptcp_sock *msk,
			  const struct bd_mptcp_addr *a, bool bk)
{
	if (msk->active)
		mesh_to(msk, &a->addr, a->port ? a->port : first_rport(msk),
			a->id, bk);
}

static void fullmesh_established(struct bd_mptcp_sock *msk)
{
	mesh_established(msk, false);
}

static void fullmesh_add_addr(struct bd_mptcp_sock *msk,
			      const struct bd_mptcp_addr *a)
{
	mesh_add_addr(msk, a, false);
}

static void backup_established(struct bd_mptcp_sock *msk)
{
	mesh_established(msk, true);
}

static void backup_add_addr(struct bd_mptcp_sock *msk,
			    const struct bd_mptcp_addr *a)
{
	mesh_add_addr(msk, a, true);
}

static void ndiffports_established(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_subflow *first = msk->subflows;
	if (!msk->active || !first)
		return;
	keep_first(msk);
	unsigned n = msk->ms->cfg.ndiffports ? msk->ms->cfg.ndiffports : 2;
	for (unsigned i = 1; i < n; i++)
		want_add(msk, &first->laddr, 0, &first->raddr, first->rport,
			 false, 0, NULL);
}

static void signal_established(struct bd_mptcp_sock *msk)
{
	announce_eps(msk, 0);
}

static void nothing_established(struct bd_mptcp_sock *msk)
{
	(void)msk;
}

static void nothing_add_addr(struct bd_mptcp_sock *msk,
			     const struct bd_mptcp_addr *a)
{
	(void)msk;
	(void)a;
}

static const struct mptcp_pm_ops pm_modes[] = {
    {"kernel", kernel_established, kernel_add_addr},
    {"fullmesh", fullmesh_established, fullmesh_add_addr},
    {"ndiffports", ndiffports_established, nothing_add_addr},
    {"signal", signal_established, nothing_add_addr},
    {"backup", backup_established, backup_add_addr},
    {"external", nothing_established, nothing_add_addr},
};

static const struct mptcp_pm_ops *pm_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "default") == 0 || strcmp(name, "in-kernel") == 0)
		name = "kernel";
	for (unsigned i = 0; i < sizeof(pm_modes) / sizeof(pm_modes[0]); i++)
		if (strcmp(pm_modes[i].name, name) == 0)
			return &pm_modes[i];
	return NULL;
}

bool bd_mptcp_pm_exists(const char *name)
{
	return pm_find(name) != NULL;
}

void mptcp_pm_init(struct bd_mptcp_sock *msk)
{
	const char *n = msk->ms->cfg.pm;
	const struct mptcp_pm_ops *p = n && *n ? pm_find(n) : NULL;
	msk->pm = p ? p : &pm_modes[0];
}

int bd_mptcp_set_pm(struct bd_mptcp_sock *sk, const char *name)
{
	const struct mptcp_pm_ops *p = pm_find(name);
	if (!p || sk->listener)
		return -BD_EINVAL;
	if (p != sk->pm) {
		sk->pm = p;
		sk->pm_started = false; /* the new mode acts at once */
	}
	if (!sk->depth) {
		mptcp_enter(sk);
		mptcp_pm_check(sk);
		sk->depth--;
	}
	return 0;
}

const char *bd_mptcp_get_pm(const struct bd_mptcp_sock *sk)
{
	return sk->pm ? sk->pm->name : "kernel";
}

void mptcp_pm_add_addr(struct bd_mptcp_sock *msk, const struct bd_mptcp_addr *a,
		       bool is_new)
{
	emit_addr(msk, BD_MPTCP_EV_ANNOUNCED, a->id, &a->addr, a->port);
	if (is_new && msk->pm)
		msk->pm->add_addr(msk, a);
}

void mptcp_pm_rm_addr(struct bd_mptcp_sock *msk, uint8_t id)
{
	/* No re-establishing towards a removed address. */
	for (int i = 0; i < BD_MPTCP_PM_WANT; i++)
		if (msk->want[i].used && msk->want[i].remote_id == id && id)
			msk->want[i].used = false;
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next)
		if (sf->want && !msk->want[sf->want - 1].used)
			sf->want = 0;
	emit_addr(msk, BD_MPTCP_EV_REMOVED, id, NULL, 0);
}

void mptcp_pm_check(struct bd_mptcp_sock *msk)
{
	if (msk->listener || msk->reset || msk->fallback || !msk->established)
		return;
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next) {
		bool usable = sf->tcp && sf->mp_ready && !sf->dead;
		bool bk = sf->backup || sf->peer_backup;
		if (usable && !sf->ev_up) {
			sf->ev_up = true;
			sf->ev_backup = bk;
			if (sf->want)
				msk->want[sf->want - 1].retries = 0;
			emit_sf(msk, sf, BD_MPTCP_EV_ESTABLISHED, 0);
		} else if (sf->ev_up && !sf->dead && bk != sf->ev_backup) {
			sf->ev_backup = bk;
			emit_sf(msk, sf, BD_MPTCP_EV_PRIORITY, 0);
		}
	}
	if (!msk->remote_key_known || closing(msk))
		return;
	if (waiting_peer(msk))
		return;
	if (msk->joins_held) {
		/* Let the held SYNs go (the others answer -BD_EINVAL). */
		msk->joins_held = false;
		for (struct bd_mptcp_subflow *sf = msk->subflows; sf;
		     sf = sf->next)
			if (sf->tcp && !sf->dead)
				bd_tcp_ulp_hold_syn(sf->tcp, false);
	}
	if (!msk->pm)
		mptcp_pm_init(msk);
	if (!msk->pm_started) {
		msk->pm_started = true;
		msk->pm->established(msk);
	}
	uint64_t now = bd_stack_now_us(msk->ms->st);
	for (int i = 0; i < BD_MPTCP_PM_WANT; i++) {
		struct bd_mptcp_pm_want *w = &msk->want[i];
		if (!w->used || w->up || !w->next_try_us ||
		    now < w->next_try_us)
			continue;
		msk->ms->mib.BraidSubflowRetry++;
		if (want_open(msk, i) < 0)
			w->used = false;
	}
}

/* --- the external calls ------------------------------------------------------
 */

int bd_mptcp_add_subflow(struct bd_mptcp_sock *sk,
			 const struct bd_ipaddr *laddr,
			 const struct bd_ipaddr *raddr, uint16_t rport)
{
	return want_add(sk, laddr, 0, raddr, rport, false, 0, NULL);
}

int bd_mptcp_pm_subflow_create(struct bd_mptcp_sock *sk,
			       const struct bd_ipaddr *laddr, uint16_t lport,
			       const struct bd_ipaddr *raddr, uint16_t rport,
			       bool backup)
{
	struct bd_mptcp_subflow *sf = NULL;
	int rc = want_add(sk, laddr, lport, raddr, rport, backup, 0, &sf);
	if (rc < 0)
		return rc;
	return (int)sf_index(sk, sf);
}

int bd_mptcp_pm_subflow_destroy(struct bd_mptcp_sock *sk, unsigned i)
{
	struct bd_mptcp_subflow *sf = sf_at(sk, i);
	if (!sf || !sf->tcp || sk->listener)
		return -BD_EINVAL;
	if (sf->want)
		sk->want[sf->want - 1].used = false;
	sf->want = 0;
	sf->close_why = BD_MPTCP_CLOSE_LOCAL;
	sk->ms->mib.RmSubflow++;
	mptcp_enter(sk);
	mptcp_subflow_reset(sf, BD_MPTCP_RST_EUNSPEC, false);
	sk->depth--;
	return 0;
}

int bd_mptcp_pm_set_prio(struct bd_mptcp_sock *sk, unsigned i, bool backup)
{
	struct bd_mptcp_subflow *sf = sf_at(sk, i);
	int rc = bd_mptcp_set_backup(sk, i, backup);
	if (rc == 0 && sf->want)
		sk->want[sf->want - 1].backup = backup;
	return rc;
}
