/* SPDX-License-Identifier: Apache-2.0
 *
 * MPTCP subflows: the glue to Braid TCP through the adaptation layer
 * (struct bd_tcp_ulp_ops). Options are written into and read from every
 * segment here: MP_CAPABLE and MP_JOIN handshakes, DSS mappings and data
 * ACKs, ADD_ADDR / REMOVE_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE, MP_TCPRST.
 *
 * Requests to the TCP layer (see the report in issue 5), none blocking:
 *  1. Segment boundaries: done (seg_limit below keeps every segment,
 *     retransmissions included, inside one DSS mapping).
 *  2. write_opts on RST segments too (flags has BD_TCP_F_RST): done,
 *     a reset subflow's RST carries MP_TCPRST.
 *  3. A `release` hook when TCP frees a socket with a ULP: done, a
 *     released subflow waits on ms->zombies until then and is freed.
 *  4. The advertised window is the data-level one (RFC 8684 3.3.4):
 *     done, the rcv_wnd hook below; TCP also accepts segments by it, and
 *     bd_tcp_ulp_raise_snd_wnd() lets the shared window the peer
 *     advertised on one subflow open the others' send windows.
 */
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"

/* --- subflow objects --------------------------------------------------------
 */

struct bd_mptcp_subflow *mptcp_subflow_new(struct bd_mptcp_sock *msk,
					   uint8_t kind)
{
	struct bd_mptcp_subflow *sf = calloc(1, sizeof(*sf));
	if (!sf)
		return NULL;
	sf->msk = msk;
	sf->kind = kind;
	sf->rx_next = 1;
	if (msk)
		mptcp_subflow_own(msk->ms, sf);
	return sf;
}

void mptcp_subflow_own(struct bd_mptcp_stack *ms, struct bd_mptcp_subflow *sf)
{
	sf->ms = ms;
	ms->live_sf++;
}

void mptcp_subflow_attach(struct bd_mptcp_sock *msk,
			  struct bd_mptcp_subflow *sf)
{
	struct bd_mptcp_subflow **pp = &msk->subflows;
	while (*pp)
		pp = &(*pp)->next;
	sf->next = NULL;
	*pp = sf;
	msk->nsub_total++;
	if (sf->tcp)
		bd_tcp_get_addrs(sf->tcp, &sf->laddr, &sf->lport, &sf->raddr,
				 &sf->rport);
	mptcp_cc_attach(msk, sf);
}

void mptcp_subflow_free(struct bd_mptcp_subflow *sf)
{
	if (sf->steered && sf->ms && sf->ms->join_fn)
		sf->ms->join_fn(sf->ms->join_ctx, false, &sf->raddr, sf->rport,
				&sf->laddr, sf->lport);
	if (sf->zombie) {
		struct bd_mptcp_subflow **pp = &sf->ms->zombies;
		while (*pp && *pp != sf)
			pp = &(*pp)->next;
		if (*pp)
			*pp = sf->next;
	}
	if (sf->ms)
		sf->ms->live_sf--;
	free(sf->tx);
	free(sf->cbuf);
	free(sf);
}

void mptcp_subflow_drop(struct bd_mptcp_subflow *sf)
{
	if (!sf->tsock || !sf->ms) {
		mptcp_subflow_free(sf);
		return;
	}
	if (!sf->zombie) {
		sf->zombie = true;
		sf->next = sf->ms->zombies;
		sf->ms->zombies = sf;
	}
}

unsigned mptcp_subflow_count(const struct bd_mptcp_sock *msk, bool usable)
{
	unsigned n = 0;
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next)
		if (sf->tcp && !sf->dead && (!usable || sf->mp_ready))
			n++;
	return n;
}

/* Map what was sent on sf and not yet acknowledged at the data level onto
 * the other subflows. */
void mptcp_subflow_reinject(struct bd_mptcp_subflow *sf)
{
	struct bd_mptcp_sock *msk = sf->msk;
	if (!msk || msk->reset || msk->fallback || !msk->snd.ring)
		return;
	for (unsigned i = 0; i < sf->ntx; i++) {
		if (!bd_mptcp_snd_reinject(&msk->snd, sf->tx[i].dsn,
					   sf->tx[i].len))
			break;
		msk->ms->mib.BraidReinjectBytes += sf->tx[i].len;
	}
	if (sf->ntx)
		mptcp_sched_reclaim(msk, sf);
}

void mptcp_subflow_release(struct bd_mptcp_subflow *sf, bool abort)
{
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_tcp_sock *t = sf->tcp;
	if (msk) {
		mptcp_pm_sf_closed(msk, sf);
		if (msk->rtx_sf == sf)
			mptcp_rtx_stop(msk);
		if (!sf->dead)
			mptcp_subflow_reinject(sf);
		struct bd_mptcp_subflow **pp = &msk->subflows;
		while (*pp && *pp != sf)
			pp = &(*pp)->next;
		if (*pp)
			*pp = sf->next;
		/* Resetting one subflow of a live MPTCP connection: its RST
		 * says why (MP_TCPRST). A connection-level reset does not. */
		sf->rst_tx = abort && t && !msk->reset && !msk->fallback &&
			     sf->kind != SF_PLAIN && msk->remote_key_known;
	}
	sf->msk = NULL;
	sf->dead = true;
	sf->tcp = NULL;
	free(sf->tx);
	sf->tx = NULL;
	sf->ntx = sf->captx = 0;
	free(sf->cbuf);
	sf->cbuf = NULL;
	/* Freed now, or by the release hook once TCP frees its socket (sf
	 * must not be touched after the TCP call below). */
	mptcp_subflow_drop(sf);
	if (t) {
		bd_tcp_set_ctx(t, NULL);
		if (abort)
			bd_tcp_abort(t);
		else
			bd_tcp_close(t);
	}
	if (msk) {
		if (!msk->subflows && !msk->app_owned && !msk->listener)
			msk->free_pending = true;
		mptcp_push(msk);
	}
}

/* Why a deferred reset of sf happens: a failed join (HMAC) or the
 * checksum failure handling. */
uint8_t mptcp_subflow_rst_reason(const struct bd_mptcp_subflow *sf)
{
	if (sf->join_bad)
		return sf->passive ? BD_MPTCP_RST_EPROHIBIT
				   : BD_MPTCP_RST_EMPTCP;
	if (sf->fail_rst)
		return BD_MPTCP_RST_EMIDDLEBOX;
	return BD_MPTCP_RST_EUNSPEC;
}

/* Reset sf with an MP_TCPRST reason (RFC 8684 3.6). */
void mptcp_subflow_reset(struct bd_mptcp_subflow *sf, uint8_t reason,
			 bool transient)
{
	sf->rst_tx_reason = reason;
	sf->rst_tx_flags = transient ? BD_TCPRST_FLAG_T : 0;
	mptcp_subflow_release(sf, true);
}

/* --- receive ----------------------------------------------------------------
 */

static uint32_t map_sublen(const struct bd_mptcp_map *m)
{
	return (uint32_t)m->dll - (m->data_fin ? 1u : 0u);
}

/* Bytes of [dsn, dsn+n) the shared receive buffer can take now (all of
 * them when they are old: duplicates are dropped and counted there). */
static uint32_t rx_room(const struct bd_mptcp_sock *msk, uint64_t dsn,
			uint32_t n)
{
	uint64_t edge = msk->rcv.rcv_nxt + bd_mptcp_rcv_wnd(&msk->rcv);
	if (!bd_after64(dsn + n, msk->rcv.rcv_nxt))
		return n;
	if (!bd_before64(dsn, edge))
		return 0;
	return bd_before64(edge, dsn + n) ? (uint32_t)(edge - dsn) : n;
}

/* A mapping failed its DSS checksum (RFC 8684 3.7). With other subflows
 * (or data outstanding on them) the subflow is reset after MP_FAIL and the
 * peer reinjects the data elsewhere. On the only subflow the payload was
 * changed by something on the path that TCP accepted: keep it, send
 * MP_FAIL, and continue as plain TCP (the peer answers with an infinite
 * mapping). Returns true if the data is to be delivered. */
static bool csum_failed(struct bd_mptcp_subflow *sf,
			const struct bd_mptcp_map *m)
{
	struct bd_mptcp_sock *msk = sf->msk;
	msk->ms->mib.DataCsumErr++;
	sf->fail_pending = true;
	sf->fail_dsn = m->dsn;
	bool others = mptcp_subflow_count(msk, true) > 1;
	bool reset =
	    bd_mptcp_csum_fail_action(mptcp_subflow_count(msk, false),
				      others) == BD_MPTCP_FAIL_RESET_SUBFLOW;
	if (sf->tcp)
		bd_tcp_ulp_send_ack(sf->tcp);
	if (reset) {
		sf->fail_rst = true;
		msk->ms->mib.DSSCorruptionReset++;
		return false;
	}
	msk->ms->mib.DSSCorruptionFallback++;
	return true;
}

/* Take in-order subflow bytes starting at seq. With commit false, only say
 * how many would be taken. */
static size_t sf_rx(struct bd_mptcp_subflow *sf, uint32_t seq,
		    const uint8_t *data, size_t len, bool commit)
{
	struct bd_mptcp_sock *msk = sf->msk;
	size_t taken = 0;
	if (!msk || msk->reset)
		return len; /* nobody wants them */
	if (!msk->rcv.ring)
		return 0;
	while (len) {
		uint32_t rel = seq - sf->irs, n;
		if (msk->fallback) {
			if (!sf->fb_base_set) {
				if (!commit)
					return len;
				sf->fb_base_set = true;
				sf->fb_rel = rel;
				sf->fb_dsn = msk->rcv.rcv_nxt;
			}
			uint64_t dsn =
			    sf->fb_dsn + (uint32_t)(rel - sf->fb_rel);
			n = rx_room(msk, dsn,
				    len > 0xffffffffu ? 0xffffffffu
						      : (uint32_t)len);
			if (!n)
				break;
			if (commit)
				bd_mptcp_rcv_data(&msk->rcv, dsn, data, n,
						  &msk->ms->mib);
		} else {
			const struct bd_mptcp_map *m =
			    bd_mptcp_maps_find(&sf->rx, rel);
			if (!m) {
				/* First data without a DSS mapping: the
				 * peer (or a middlebox) is not doing MPTCP
				 * (RFC 8684 3.7). */
				if (commit && sf->kind == SF_MPC &&
				    !msk->dss_rx &&
				    mptcp_subflow_count(msk, false) == 1) {
					msk->ms->mib.DSSNoMatchTCP++;
					mptcp_fallback(msk, BD_MPTCP_FB_NO_DSS);
					continue;
				}
				break;
			}
			uint32_t off = rel - m->ssn, mlen = map_sublen(m);
			n = mlen - off;
			if (n > len)
				n = (uint32_t)len;
			uint64_t dsn = m->dsn + off;
			if (msk->csum) {
				/* The whole mapping is checked before any
				 * of it is delivered. */
				if (!rx_room(msk, m->dsn, mlen) ||
				    rx_room(msk, m->dsn, mlen) < mlen)
					break;
				if (commit) {
					if (sf->cbuf_cap < mlen) {
						uint8_t *b =
						    realloc(sf->cbuf, mlen);
						if (!b)
							break;
						sf->cbuf = b;
						sf->cbuf_cap = mlen;
					}
					if (off != sf->cbuf_len)
						sf->cbuf_len = off;
					memcpy(sf->cbuf + off, data, n);
					sf->cbuf_len = off + n;
					if (sf->cbuf_len == mlen) {
						uint32_t s = bd_mptcp_csum_acc(
						    0, 0, sf->cbuf, mlen);
						sf->cbuf_len = 0;
						bool good =
						    m->has_csum &&
						    bd_mptcp_dss_csum(
							m->dsn, m->ssn, m->dll,
							s) == m->csum;
						if (good || csum_failed(sf, m))
							bd_mptcp_rcv_data(
							    &msk->rcv, m->dsn,
							    sf->cbuf, mlen,
							    &msk->ms->mib);
						if (!good && !sf->fail_rst) {
							/* Plain TCP after this
							 * mapping. */
							sf->fb_base_set = true;
							sf->fb_rel = rel + n;
							sf->fb_dsn =
							    msk->rcv.rcv_nxt;
							mptcp_fallback(
							    msk,
							    BD_MPTCP_FB_CSUM);
						}
					}
				}
			} else {
				n = rx_room(msk, dsn, n);
				if (!n)
					break;
				if (commit)
					bd_mptcp_rcv_data(&msk->rcv, dsn, data,
							  n, &msk->ms->mib);
			}
		}
		taken += n;
		seq += n;
		data += n;
		len -= n;
		if (commit) {
			sf->rx_next = rel + n;
			bd_mptcp_maps_trim(&sf->rx, rel + n);
		}
	}
	if (commit && taken) {
		sf->got_data = true;
		msk->last_data_recv_us = bd_stack_now_us(msk->ms->st);
	}
	return taken;
}

static size_t hook_rcv_data(void *uctx, struct bd_tcp_sock *s, uint32_t seq,
			    const uint8_t *data, size_t len)
{
	struct bd_mptcp_subflow *sf = uctx;
	struct bd_mptcp_sock *msk = sf->msk;
	if (!msk)
		return len;
	(void)s;
	/* The application may read from inside: no pull from this
	 * subflow's TCP buffer while TCP is handing it over. */
	sf->in_rcv++;
	mptcp_enter(msk);
	size_t n = sf_rx(sf, seq, data, len, true);
	mptcp_leave(msk);
	sf->in_rcv--;
	return n;
}

/* Take data left in the subflow's TCP buffer (after the shared buffer
 * had no room, or before its mapping arrived). */
size_t mptcp_subflow_pull(struct bd_mptcp_subflow *sf)
{
	uint8_t buf[4096];
	size_t total = 0;
	/* Not while TCP is handing this subflow's buffer over itself. */
	if (!sf->tcp || !sf->msk || sf->in_rcv)
		return 0;
	while (bd_tcp_readable(sf->tcp)) {
		uint32_t seq = bd_tcp_rcv_seq(sf->tcp);
		size_t avail = bd_tcp_readable(sf->tcp);
		if (avail > sizeof(buf))
			avail = sizeof(buf);
		/* How much would be taken (no data needed for that). */
		size_t want = sf_rx(sf, seq, buf, avail, false);
		if (!want)
			break;
		long got = bd_tcp_recv(sf->tcp, buf, want);

		if (got <= 0)
			break;
		sf_rx(sf, seq, buf, (size_t)got, true);
		total += (size_t)got;
		if (!sf->msk)
			break;
	}
	return total;
}

/* --- options in -------------------------------------------------------------
 */

static void sf_reset(struct bd_mptcp_subflow *sf, uint8_t reason)
{
	if (sf->tcp)
		mptcp_subflow_reset(sf, reason, false);
}

static void got_add_addr(struct bd_mptcp_subflow *sf,
			 const struct bd_mptcp_add_addr *a)
{
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_mptcp_mib *mib = &msk->ms->mib;
	if (a->echo) {
		for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++)
			if (msk->local[i].used &&
			    msk->local[i].id == a->addr_id)
				msk->local[i].echoed = true;
		mib->EchoAdd++;
		return;
	}
	if (!msk->remote_key_known ||
	    a->hmac != bd_mptcp_add_addr_hmac(msk->remote_key, msk->local_key,
					      a->addr_id, &a->addr, a->port)) {
		mib->AddAddrDrop++;
		return;
	}
	mib->AddAddr++;
	if (a->port)
		mib->PortAdd++;
	struct bd_mptcp_addr *slot = NULL;
	bool known = false;
	for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++) {
		if (msk->remote[i].used && msk->remote[i].id == a->addr_id) {
			slot = &msk->remote[i];
			known = true;
		} else if (!msk->remote[i].used && !slot) {
			slot = &msk->remote[i];
		}
	}
	if (!slot || (!known && msk->add_addr_accepted >=
				    msk->ms->cfg.add_addr_accepted_max)) {
		mib->AddAddrDrop++;
		return;
	}
	slot->used = true;
	slot->id = a->addr_id;
	slot->addr = a->addr;
	slot->port = a->port;
	slot->echo_pending = true;
	/* The echo goes on a pure ACK right away (no room next to data). */
	if (sf->tcp)
		bd_tcp_ulp_send_ack(sf->tcp);
	if (!known) {
		msk->add_addr_accepted++;
	}
	mptcp_pm_add_addr(msk, slot, !known);
}

static void got_rm_addr(struct bd_mptcp_subflow *sf,
			const struct bd_mptcp_rm_addr *r)
{
	struct bd_mptcp_sock *msk = sf->msk;
	msk->ms->mib.RmAddr++;
	for (unsigned k = 0; k < r->n; k++) {
		mptcp_pm_rm_addr(msk, r->ids[k]);
		for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++)
			if (msk->remote[i].used &&
			    msk->remote[i].id == r->ids[k])
				msk->remote[i].used = false;
		for (struct bd_mptcp_subflow *x = msk->subflows; x;) {
			struct bd_mptcp_subflow *nx = x->next;
			if (x->kind == SF_JOIN && x->remote_id == r->ids[k] &&
			    x->tcp) {
				msk->ms->mib.RmSubflow++;
				x->close_why = BD_MPTCP_CLOSE_REMOVED;
				sf_reset(x, BD_MPTCP_RST_EUNSPEC);
			}
			x = nx;
		}
	}
}

/* The peer's data-level window moved right (seen on sf): it holds on every
 * subflow (RFC 8684 3.3.5), so a subflow whose own TCP window is smaller
 * (e.g. a zero window it saw before the peer's reader drained) sends up to
 * it too, as Linux does (MPTcpExt SndWndShared), instead of waiting for
 * its persist timer. */
static void share_snd_wnd(struct bd_mptcp_sock *msk,
			  const struct bd_mptcp_subflow *sf)
{
	uint64_t w = msk->snd.wnd_end - msk->snd.snd_una;
	if (w > UINT32_MAX)
		w = UINT32_MAX;
	for (struct bd_mptcp_subflow *x = msk->subflows; x; x = x->next)
		if (x != sf && x->tcp && x->mp_ready && !x->dead &&
		    bd_tcp_ulp_raise_snd_wnd(x->tcp, (uint32_t)w))
			msk->ms->mib.SndWndShared++;
}

static void got_dss(struct bd_mptcp_subflow *sf, struct bd_tcp_sock *s,
		    const struct bd_tcp_seg_desc *seg,
		    const struct bd_mptcp_dss *d)
{
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_mptcp_mib *mib = &msk->ms->mib;
	if (msk->fallback)
		return;
	msk->fully_established = true;
	sf->mpc_ack_pending = false;
	if (sf->kind == SF_JOIN && !sf->passive && sf->join_ack_pending &&
	    sf->tcp_est) {
		/* The fourth ACK: the join is complete. */
		sf->join_ack_pending = false;
		sf->mp_ready = true;
	}
	if ((d->flags & BD_DSS_A) && msk->snd.ring) {
		uint64_t ack = (d->flags & BD_DSS_a)
				   ? d->data_ack
				   : bd_mptcp_expand_seq(msk->snd.snd_una,
							 (uint32_t)d->data_ack);
		uint32_t wnd = (uint32_t)seg->wnd << sf->snd_wscale;
		bool blocked = !bd_before64(msk->snd.snd_nxt, msk->snd.wnd_end);
		uint64_t wnd_end = msk->snd.wnd_end;
		mptcp_data_acked(msk, ack, wnd);
		if (bd_after64(msk->snd.wnd_end, wnd_end))
			share_snd_wnd(msk, sf);
		/* A window update that opens a closed data-level window
		 * comes on a segment TCP sees as a duplicate ACK (nothing
		 * else acknowledged, no ACKED event): push from a safe point
		 * right after this segment. */
		if (blocked &&
		    bd_before64(msk->snd.snd_nxt, msk->snd.wnd_end) &&
		    bd_before64(msk->snd.snd_nxt, msk->snd.write_seq))
			mptcp_kick_push(msk, sf);
	}
	if (!(d->flags & BD_DSS_M) || !msk->rcv.ring)
		return;
	uint64_t dsn =
	    (d->flags & BD_DSS_m)
		? d->dsn
		: bd_mptcp_expand_seq(msk->rcv.rcv_nxt, (uint32_t)d->dsn);
	if (d->dll == 0) {
		/* Infinite mapping: plain TCP from here on. */
		mib->InfiniteMapRx++;
		if (mptcp_subflow_count(msk, false) == 1) {
			sf->fb_base_set = true;
			sf->fb_rel = seg->seq - sf->irs;
			sf->fb_dsn = dsn;
			mptcp_fallback(msk, BD_MPTCP_FB_INFINITE);
		} else {
			sf_reset(sf, BD_MPTCP_RST_EMPTCP);
		}
		return;
	}
	if (msk->csum && !d->has_csum) {
		/* RFC 8684 3.3: a missing checksum breaks the subflow. */
		mib->DSSNotMatching++;
		sf_reset(sf, BD_MPTCP_RST_EMPTCP);
		return;
	}
	struct bd_mptcp_map m = {.dsn = dsn,
				 .ssn = d->ssn,
				 .dll = d->dll,
				 .csum = d->csum,
				 .has_csum = d->has_csum,
				 .data_fin = (d->flags & BD_DSS_F) != 0};
	msk->dss_rx = true;
	if (m.data_fin) {
		bd_mptcp_rcv_fin(&msk->rcv, dsn + d->dll - 1);
		/* A DATA_FIN alone takes no TCP sequence space: TCP will not
		 * acknowledge it, so acknowledge it at the data level. */
		if (msk->rcv.fin_done && !seg->len)
			bd_tcp_ulp_send_ack(s);
		mptcp_check_close(msk);
	}
	if (map_sublen(&m) == 0)
		return;
	int r = bd_mptcp_maps_add(&sf->rx, &m, sf->rx_next);
	if (r == BD_MAP_MISMATCH) {
		mib->DSSNotMatching++;
		sf_reset(sf, BD_MPTCP_RST_EMPTCP);
	} else if (r == BD_MAP_FULL) {
		mib->BraidMapTableFull++; /* a later copy may still fit */
	}
}

static void hook_rcv_opt(void *uctx, struct bd_tcp_sock *s,
			 const struct bd_tcp_seg_desc *seg, const uint8_t *opt,
			 unsigned len)
{
	struct bd_mptcp_subflow *sf = uctx;
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_mptcp_opts o;
	if (!msk || len < 2 || opt[0] != BD_TCPOPT_MPTCP)
		return;
	struct bd_mptcp_mib *mib = &msk->ms->mib;
	memset(&o, 0, sizeof(o));
	int st = bd_mptcp_opt_parse(&o, opt, len, seg->flags, mib);
	if (st < 0)
		return;
	sf->last_opt_ack = seg->ack;
	sf->last_opt_valid = true;
	mptcp_enter(msk);
	switch (st) {
	case BD_MPTCPOPT_MP_CAPABLE:
		if (sf->kind != SF_MPC)
			break;
		if (o.mpc.form == BD_MPF_SYNACK && !sf->passive &&
		    !sf->tcp_est) {
			mib->MPCapableSYNACKRX++;
			sf->mpc_synack_seen = true;
			sf->irs = seg->seq;
			msk->remote_key = o.mpc.snd_key;
			msk->remote_key_known = true;
			if (o.mpc.flags & BD_MPC_FLAG_A)
				msk->csum = true;
			mptcp_sock_start(msk);
		} else if (o.mpc.form >= BD_MPF_ACK && sf->passive &&
			   !msk->remote_key_known) {
			if (o.mpc.rcv_key != msk->local_key)
				break;
			mib->MPCapableACKRX++;
			msk->remote_key = o.mpc.snd_key;
			msk->remote_key_known = true;
			if (o.mpc.flags & BD_MPC_FLAG_A)
				msk->csum = true;
			mptcp_sock_start(msk);
			msk->fully_established = true;
			if (o.mpc.form >= BD_MPF_ACK_DATA && o.mpc.data_len) {
				struct bd_mptcp_map m = {
				    .dsn = msk->rcv.rcv_nxt,
				    .ssn = 1,
				    .dll = o.mpc.data_len,
				    .csum = o.mpc.csum,
				    .has_csum =
					o.mpc.form == BD_MPF_ACK_DATA_CSUM};
				msk->dss_rx = true;
				bd_mptcp_maps_add(&sf->rx, &m, sf->rx_next);
			}
		} else if (o.mpc.form >= BD_MPF_ACK_DATA && sf->passive &&
			   o.mpc.data_len && msk->rcv.ring &&
			   o.mpc.snd_key == msk->remote_key) {
			/* The first data again (retransmitted). */
			uint64_t idsn1;
			bd_mptcp_key_sha(msk->remote_key, NULL, &idsn1);
			struct bd_mptcp_map m = {
			    .dsn = idsn1 + 1,
			    .ssn = 1,
			    .dll = o.mpc.data_len,
			    .csum = o.mpc.csum,
			    .has_csum = o.mpc.form == BD_MPF_ACK_DATA_CSUM};
			bd_mptcp_maps_add(&sf->rx, &m, sf->rx_next);
		}
		break;
	case BD_MPTCPOPT_MP_JOIN:
		if (sf->kind != SF_JOIN)
			break;
		if (o.join.form == BD_MPF_SYNACK && !sf->passive &&
		    !sf->tcp_est) {
			mib->MPJoinSynAckRx++;
			if (o.join.backup)
				mib->MPJoinSynAckBackupRx++;
			sf->irs = seg->seq;
			sf->remote_nonce = o.join.nonce;
			sf->remote_id = o.join.addr_id;
			sf->peer_backup = o.join.backup;
			uint64_t want = bd_mptcp_join_thmac(
			    msk->remote_key, msk->local_key, sf->remote_nonce,
			    sf->local_nonce);
			if (want != o.join.thmac) {
				mib->MPJoinSynAckHMacFailure++;
				sf->join_bad = true;
			} else {
				sf->synack_ok = true;
				sf->join_ack_pending = true;
			}
		} else if (o.join.form == BD_MPF_ACK && sf->passive &&
			   !sf->join_ack_ok) {
			uint8_t want[32];
			mib->MPJoinAckRx++;
			bd_mptcp_join_hmac(msk->remote_key, msk->local_key,
					   sf->remote_nonce, sf->local_nonce,
					   want);
			if (!bd_mptcp_mem_eq(want, o.join.hmac, 20)) {
				mib->MPJoinAckHMacFailure++;
				sf->join_bad = true;
			} else {
				sf->join_ack_ok = true;
			}
		}
		break;
	case BD_MPTCPOPT_DSS:
		if (sf->kind == SF_JOIN && sf->passive && !sf->join_ack_ok)
			break;
		got_dss(sf, s, seg, &o.dss);
		break;
	case BD_MPTCPOPT_ADD_ADDR:
		if (!msk->fallback)
			got_add_addr(sf, &o.add_addr);
		break;
	case BD_MPTCPOPT_RM_ADDR:
		if (!msk->fallback)
			got_rm_addr(sf, &o.rm_addr);
		break;
	case BD_MPTCPOPT_MP_PRIO:
		mib->MPPrioRx++;
		sf->peer_backup = o.prio_backup;
		break;
	case BD_MPTCPOPT_MP_FAIL:
		mib->MPFailRx++;
		if (msk->fallback)
			break;
		if (mptcp_subflow_count(msk, false) == 1) {
			/* Plain TCP from here; the next data segment
			 * carries the infinite mapping. */
			sf->inf_pending = true;
			mptcp_fallback(msk, BD_MPTCP_FB_CSUM);
		} else {
			sf_reset(sf, BD_MPTCP_RST_EMIDDLEBOX);
		}
		break;
	case BD_MPTCPOPT_MP_FASTCLOSE:
		if (o.fastclose_key != msk->local_key)
			break;
		mib->MPFastcloseRx++;
		msk->reset = true;
		msk->err = BD_ECONNRESET;
		while (msk->subflows)
			mptcp_subflow_release(msk->subflows, true);
		break;
	case BD_MPTCPOPT_MP_TCPRST:
		mib->MPRstRx++;
		sf->rst_reason = o.rst_reason;
		break;
	}
	mptcp_leave(msk);
}

/* --- options out ------------------------------------------------------------
 */

static struct bd_mptcp_txmap *tx_find(const struct bd_mptcp_subflow *sf,
				      uint32_t seq)
{
	for (unsigned i = 0; i < sf->ntx; i++) {
		struct bd_mptcp_txmap *t = &sf->tx[i];
		if ((int32_t)(seq - t->seq) >= 0 &&
		    (int32_t)(seq - (t->seq + t->len)) < 0)
			return t;
	}
	return NULL;
}

static unsigned put(struct bd_mptcp_opts *o, unsigned st, uint8_t *opt,
		    unsigned *used, unsigned space)
{
	unsigned n = bd_mptcp_opt_write(o, st, opt + *used, space - *used);
	*used += n;
	return n;
}

/* No segment spans two mappings, retransmissions included (TCP asks). */
static uint32_t hook_seg_limit(void *uctx, struct bd_tcp_sock *s, uint32_t seq,
			       uint32_t len)
{
	struct bd_mptcp_subflow *sf = uctx;
	(void)s;
	if (!sf->msk || sf->msk->fallback)
		return len;
	const struct bd_mptcp_txmap *t = tx_find(sf, seq);
	if (!t)
		return len;
	uint32_t left = t->seq + t->len - seq;
	return left < len ? left : len;
}

/* New data went out on sf at now: note when (stale detection). */
static void sent_mark(struct bd_mptcp_subflow *sf, struct bd_tcp_sock *s,
		      uint32_t seq, uint64_t now)
{
	unsigned n = sf->sent_n;
	if (n) {
		unsigned last = (sf->sent_head + n - 1u) % BD_MPTCP_SENT_MARKS;
		const struct bd_tcp_cc_state *cc = bd_tcp_get_cc_state(s);
		uint64_t gran = cc && cc->srtt_us ? cc->srtt_us / 16u : 1000u;
		if (now - sf->sent[last].us < gran)
			return;
		if (n == BD_MPTCP_SENT_MARKS) {
			sf->sent[last].us = now;
			return;
		}
	}
	unsigned i = (sf->sent_head + n) % BD_MPTCP_SENT_MARKS;
	sf->sent[i].seq = seq;
	sf->sent[i].us = now;
	sf->sent_n++;
}

uint64_t mptcp_sf_oldest_sent(struct bd_mptcp_subflow *sf, uint32_t una,
			      uint32_t *mark_seq)
{
	while (sf->sent_n > 1) {
		unsigned nx = (sf->sent_head + 1u) % BD_MPTCP_SENT_MARKS;
		if ((int32_t)(sf->sent[nx].seq - una) > 0)
			break;
		sf->sent_head = (uint8_t)nx;
		sf->sent_n--;
	}
	if (!sf->sent_n || (int32_t)(sf->sent[sf->sent_head].seq - una) > 0)
		return 0;
	if (mark_seq)
		*mark_seq = sf->sent[sf->sent_head].seq;
	return sf->sent[sf->sent_head].us;
}

uint64_t mptcp_sf_sent_at(const struct bd_mptcp_subflow *sf, uint32_t seq,
			  uint32_t *mark_seq)
{
	uint64_t at = 0;
	for (unsigned k = 0; k < sf->sent_n; k++) {
		unsigned i = (sf->sent_head + k) % BD_MPTCP_SENT_MARKS;
		if ((int32_t)(sf->sent[i].seq - seq) > 0)
			break;
		at = sf->sent[i].us;
		*mark_seq = sf->sent[i].seq;
	}
	return at;
}

/* A retransmission on a subflow that has backed off stall_rto times: map
 * its unacknowledged data onto the others too. */
static void check_stall(struct bd_mptcp_subflow *sf, struct bd_tcp_sock *s)
{
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_tcp_info ti;
	if (sf->stalled || !sf->ntx || msk->fallback ||
	    mptcp_subflow_count(msk, true) < 2 || bd_tcp_get_info(s, &ti))
		return;
	if (ti.backoff >= msk->ms->cfg.stall_rto) {
		sf->stalled = true;
		msk->ms->mib.SubflowStale++;
		mptcp_subflow_reinject(sf);
		mptcp_push(msk);
	}
}

static unsigned hook_write_opts(void *uctx, struct bd_tcp_sock *s,
				const struct bd_tcp_seg_desc *seg, uint8_t *opt,
				unsigned space)
{
	struct bd_mptcp_subflow *sf = uctx;
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_mptcp_opts o;
	unsigned used = 0;
	memset(&o, 0, sizeof(o));
	if ((seg->flags & BD_TCP_F_RST) && sf->rst_tx) {
		o.rst_reason = sf->rst_tx_reason;
		o.rst_flags = sf->rst_tx_flags;
		if (put(&o, BD_MPTCPOPT_MP_TCPRST, opt, &used, space) && sf->ms)
			sf->ms->mib.MPRstTx++;
		return used;
	}
	if (!msk)
		return 0;
	struct bd_mptcp_mib *mib = &msk->ms->mib;
	if (seg->flags & BD_TCP_F_SYN) {
		sf->iss = seg->seq;
		if (sf->kind == SF_MPC) {
			o.mpc.form = (seg->flags & BD_TCP_F_ACK) ? BD_MPF_SYNACK
								 : BD_MPF_SYN;
			o.mpc.flags = msk->csum ? BD_MPC_FLAG_A : 0;
			o.mpc.snd_key = msk->local_key;
			put(&o, BD_MPTCPOPT_MP_CAPABLE, opt, &used, space);
		} else if (sf->kind == SF_JOIN) {
			o.join.backup = sf->backup;
			o.join.addr_id = sf->local_id;
			o.join.nonce = sf->local_nonce;
			if (seg->flags & BD_TCP_F_ACK) {
				o.join.form = BD_MPF_SYNACK;
				o.join.thmac = bd_mptcp_join_thmac(
				    msk->local_key, msk->remote_key,
				    sf->local_nonce, sf->remote_nonce);
			} else {
				o.join.form = BD_MPF_SYN;
				o.join.token = msk->remote_token;
			}
			put(&o, BD_MPTCPOPT_MP_JOIN, opt, &used, space);
		}
		return used;
	}
	if (sf->kind == SF_PLAIN)
		return 0;
	if (msk->fallback) {
		/* Only what completes a fallback: MP_FAIL, and the
		 * infinite mapping answering one. */
		if (sf->fail_pending) {
			o.fail_dsn = sf->fail_dsn;
			if (put(&o, BD_MPTCPOPT_MP_FAIL, opt, &used, space)) {
				sf->fail_pending = false;
				mib->MPFailTx++;
			}
		}
		const struct bd_mptcp_txmap *ti =
		    seg->len ? tx_find(sf, seg->seq) : NULL;
		if (sf->inf_pending && ti) {
			o.dss.flags = BD_DSS_M | BD_DSS_m;
			o.dss.dsn = ti->dsn + (seg->seq - ti->seq);
			o.dss.has_csum = msk->csum;
			if (put(&o, BD_MPTCPOPT_DSS, opt, &used, space)) {
				mib->InfiniteMapTx++;
				sf->inf_pending = false;
			}
		}
		return used;
	}
	struct bd_tcp_sock *prev = msk->ms->hook_tcp;
	msk->ms->hook_tcp = s;
	mptcp_enter(msk);
	bool rtx = seg->rtx;
	if (rtx)
		check_stall(sf, s);
	else if (seg->len)
		sent_mark(sf, s, seg->seq, bd_stack_now_us(msk->ms->st));
	struct bd_mptcp_txmap *t = seg->len ? tx_find(sf, seg->seq) : NULL;
	/* New data going out: its mapping is the peer's from now on. */
	if (t && !rtx)
		t->announced = true;
	if (msk->fastclose_pending) {
		o.fastclose_key = msk->remote_key;
		if (put(&o, BD_MPTCPOPT_MP_FASTCLOSE, opt, &used, space))
			mib->MPFastcloseTx++;
		goto out;
	}
	if (sf->kind == SF_MPC && !sf->passive && !msk->fully_established &&
	    msk->remote_key_known) {
		/* Third ACK and first data: MP_CAPABLE with both keys,
		 * until the peer shows it has them (a DSS). */
		o.mpc.flags = msk->csum ? BD_MPC_FLAG_A : 0;
		o.mpc.snd_key = msk->local_key;
		o.mpc.rcv_key = msk->remote_key;
		if (!seg->len) {
			o.mpc.form = BD_MPF_ACK;
		} else if (t && t->seq == sf->iss + 1 &&
			   t->dsn == msk->snd.snd_una && t->dsn + t->len > 0 &&
			   (uint32_t)(t->dsn - msk->snd.snd_una) == 0) {
			o.mpc.form =
			    msk->csum ? BD_MPF_ACK_DATA_CSUM : BD_MPF_ACK_DATA;
			o.mpc.data_len = (uint16_t)t->len;
			if (msk->csum)
				o.mpc.csum = bd_mptcp_dss_csum(
				    t->dsn, 1, (uint16_t)t->len, t->psum);
		} else {
			goto dss;
		}
		put(&o, BD_MPTCPOPT_MP_CAPABLE, opt, &used, space);
		goto out;
	}
	if (sf->kind == SF_JOIN && !sf->passive && sf->join_ack_pending) {
		o.join.form = BD_MPF_ACK;
		uint8_t h[32];
		bd_mptcp_join_hmac(msk->local_key, msk->remote_key,
				   sf->local_nonce, sf->remote_nonce, h);
		memcpy(o.join.hmac, h, 20);
		put(&o, BD_MPTCPOPT_MP_JOIN, opt, &used, space);
		goto out;
	}
	if (sf->kind == SF_JOIN && sf->passive && !sf->join_ack_ok)
		goto out;
dss:
	if (!msk->rcv.ring)
		goto out;
	/* Option bytes are payload bytes lost (RFC 8684 3.3.1 allows
	 * both): a mapping goes on the first segment it covers and on
	 * retransmissions (the receiver keeps it until its bytes are in),
	 * and a data segment carries the data ACK only when it or the
	 * window's right edge moved since this subflow last sent them, or
	 * it acknowledges new subflow data (an ACK of data without MPTCP
	 * option means a middlebox strips them). Pure ACKs always carry the
	 * data ACK. */
	uint64_t dack = bd_mptcp_rcv_ack(&msk->rcv);
	uint32_t wnd = mptcp_rcv_wnd_adv(msk);
	bool fin_map = t && msk->fin_sent && !msk->snd.fin_acked &&
		       t->dsn + t->len == msk->snd.write_seq && t->len < 0xffff;
	bool with_map = t && (seg->seq == t->seq || fin_map);
	bool with_ack = !seg->len || !sf->dack_sent || dack != sf->dack_last ||
			dack + wnd != sf->dack_edge || seg->ack != sf->dack_tcp;
	if (seg->len)
		sf->dack_on_data = with_ack;
	if (!with_map)
		t = NULL;
	if (with_ack) {
		o.dss.flags = BD_DSS_A;
		o.dss.data_ack = (uint32_t)dack;
	}
	if (t) {
		o.dss.flags |= BD_DSS_M | BD_DSS_m;
		o.dss.dsn = t->dsn;
		o.dss.ssn = t->seq - sf->iss;
		o.dss.dll = (uint16_t)t->len;
		/* The last mapping carries the DATA_FIN once it is queued
		 * (its data-level length counts it). */
		if (fin_map) {
			o.dss.flags |= BD_DSS_F;
			o.dss.dll++;
		}
		if (msk->csum) {
			o.dss.has_csum = true;
			o.dss.csum = bd_mptcp_dss_csum(t->dsn, o.dss.ssn,
						       o.dss.dll, t->psum);
		}
	} else if (!seg->len && msk->snd.fin_queued && msk->fin_sent &&
		   !msk->snd.fin_acked && !seg->sack) {
		/* DATA_FIN alone: DSN after the data, SSN 0, length 1. Not
		 * on an ACK with SACK blocks: with timestamps, its 22 bytes
		 * leave no room for one, and a sender that keeps getting
		 * duplicate ACKs without SACK cannot tell what was lost
		 * (each further hole then costs it an RTO). The DATA_FIN
		 * goes on the next ACK without them, and on the MPTCP
		 * retransmission timer. */
		o.dss.flags |= BD_DSS_M | BD_DSS_m | BD_DSS_F;
		o.dss.dsn = msk->snd.write_seq;
		o.dss.ssn = 0;
		o.dss.dll = 1;
		if (msk->csum) {
			o.dss.has_csum = true;
			o.dss.csum = bd_mptcp_dss_csum(o.dss.dsn, 0, 1, 0);
		}
	}
	if (o.dss.flags && put(&o, BD_MPTCPOPT_DSS, opt, &used, space) &&
	    (o.dss.flags & BD_DSS_A)) {
		sf->dack_sent = true;
		sf->dack_last = dack;
		sf->dack_edge = dack + wnd;
		sf->dack_tcp = seg->ack;
		msk->last_wnd_adv = wnd;
	}
	/* Signalling rides on whatever room is left. */
	if (sf->prio_pending) {
		o.prio_backup = sf->backup;
		if (put(&o, BD_MPTCPOPT_MP_PRIO, opt, &used, space)) {
			sf->prio_pending = false;
			mib->MPPrioTx++;
		}
	}
	if (sf->fail_pending) {
		o.fail_dsn = sf->fail_dsn;
		if (put(&o, BD_MPTCPOPT_MP_FAIL, opt, &used, space)) {
			sf->fail_pending = false;
			mib->MPFailTx++;
			if (sf->fail_rst)
				sf->rst_pending = true;
		}
	}
	if (!seg->len) {
		for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++) {
			struct bd_mptcp_addr *a = &msk->remote[i];
			if (!a->used || !a->echo_pending)
				continue;
			memset(&o.add_addr, 0, sizeof(o.add_addr));
			o.add_addr.echo = true;
			o.add_addr.addr_id = a->id;
			o.add_addr.addr = a->addr;
			o.add_addr.port = a->port;
			if (put(&o, BD_MPTCPOPT_ADD_ADDR, opt, &used, space)) {
				a->echo_pending = false;
				mib->EchoAddTx++;
			}
			break;
		}
		for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++) {
			struct bd_mptcp_addr *a = &msk->local[i];
			if (!a->used || a->echoed)
				continue;
			memset(&o.add_addr, 0, sizeof(o.add_addr));
			o.add_addr.addr_id = a->id;
			o.add_addr.addr = a->addr;
			o.add_addr.port = a->port;
			o.add_addr.hmac = bd_mptcp_add_addr_hmac(
			    msk->local_key, msk->remote_key, a->id, &a->addr,
			    a->port);
			put(&o, BD_MPTCPOPT_ADD_ADDR, opt, &used, space);
			break;
		}
		if (msk->rm_pending.n) {
			o.rm_addr = msk->rm_pending;
			if (put(&o, BD_MPTCPOPT_RM_ADDR, opt, &used, space)) {
				msk->rm_pending.n = 0;
				mib->RmAddrTx++;
			}
		}
	}
out:
	msk->ms->hook_tcp = prev;
	mptcp_leave(msk);
	return used;
}

/* --- events ------------------------------------------------------------------
 */

/* The peer's window at establishment opens the data-level window. */
static void open_window(struct bd_mptcp_subflow *sf, struct bd_tcp_sock *s)
{
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_tcp_info ti;
	if (bd_tcp_get_info(s, &ti))
		return;
	sf->snd_wscale = (uint8_t)ti.snd_wscale;
	if (msk->snd.ring && msk->snd.snd_una == msk->snd.snd_nxt)
		bd_mptcp_snd_ack(&msk->snd, msk->snd.snd_una, ti.snd_wnd);
}

static void established(struct bd_mptcp_subflow *sf, struct bd_tcp_sock *s)
{
	struct bd_mptcp_sock *msk = sf->msk;
	struct bd_mptcp_mib *mib = &msk->ms->mib;
	sf->tcp_est = true;
	if (!sf->tcp)
		sf->tcp = s;
	switch (sf->kind) {
	case SF_MPC:
		if (!sf->passive) {
			if (!sf->mpc_synack_seen) {
				mib->MPCapableFallbackSYNACK++;
				mptcp_fallback(msk, BD_MPTCP_FB_NO_SYNACK_MPC);
			} else {
				sf->mpc_ack_pending = true;
				sf->mp_ready = true;
				msk->established = true;
				msk->in_curr_estab = true;
				mib->MPCurrEstab++;
			}
			msk->connected_pending = true;
		} else if (!msk->remote_key_known) {
			mib->MPCapableFallbackACK++;
			mptcp_fallback(msk, BD_MPTCP_FB_NO_ACK_MPC);
		} else {
			sf->mp_ready = true;
			msk->established = true;
			msk->in_curr_estab = true;
			mib->MPCurrEstab++;
		}
		open_window(sf, s);
		break;
	case SF_PLAIN:
		mptcp_fallback(msk, BD_MPTCP_FB_PLAIN_PEER);
		if (!sf->passive)
			msk->connected_pending = true;
		open_window(sf, s);
		break;
	case SF_JOIN:
		if (!sf->passive) {
			if (!sf->synack_ok)
				sf->join_bad = true;
		} else if (!sf->join_ack_ok) {
			sf->join_bad = true;
		} else {
			sf->mp_ready = true;
			/* The fourth ACK: tells the client it may send. */
			bd_tcp_ulp_send_ack(s);
		}
		if (!sf->join_bad)
			open_window(sf, s);
		break;
	}
}

static void hook_event(void *uctx, struct bd_tcp_sock *s, int ev, uint32_t arg)
{
	struct bd_mptcp_subflow *sf = uctx;
	struct bd_mptcp_sock *msk = sf->msk;
	if (!msk)
		return;
	mptcp_enter(msk);
	switch (ev) {
	case BD_TCP_ULP_ESTABLISHED:
		established(sf, s);
		break;
	case BD_TCP_ULP_ACKED: {
		/* The longest wait for an ACK of late, slowly forgotten (a
		 * 256th per ACK: ACKs that come in clumps once an RTT keep
		 * it): how irregular this path's ACKs are (stale
		 * detection). */
		uint64_t now = bd_stack_now_us(msk->ms->st);
		uint64_t g = now - sf->progress_us;
		if (g > sf->ack_gap_us)
			sf->ack_gap_us = g;
		else
			sf->ack_gap_us -= (sf->ack_gap_us - g) / 256;
		sf->progress_us = now;
		sf->tcp_una = arg;
		sf->tcp_una_ok = true;
		(void)mptcp_sf_oldest_sent(sf, arg, NULL);
		if (!msk->fallback)
			mptcp_sf_forget_acked(msk, sf);
		if (msk->fallback) {
			/* TCP's ACK is the data ACK. */
			uint64_t dack = msk->snd.snd_una;
			for (unsigned i = 0; i < sf->ntx; i++) {
				const struct bd_mptcp_txmap *t = &sf->tx[i];
				uint32_t d = arg - t->seq;
				if ((int32_t)d < 0)
					break;
				dack = t->dsn + (d < t->len ? d : t->len);
			}
			if (msk->snd.fin_queued && msk->fin_sent &&
			    dack == msk->snd.write_seq &&
			    arg == bd_tcp_snd_seq(s) + 1)
				dack++;
			mptcp_data_acked(msk, dack, 0);
		} else if (sf->kind == SF_MPC && !sf->passive &&
			   !msk->fully_established &&
			   !(sf->last_opt_valid && sf->last_opt_ack == arg)) {
			/* The peer's ACK of our data came without any MPTCP
			 * option: options are stripped on the way. */
			mptcp_fallback(msk, BD_MPTCP_FB_NO_DSS);
		}
		if (sf->stalled) {
			struct bd_tcp_info ti;
			if (!bd_tcp_get_info(s, &ti) && ti.backoff == 0)
				sf->stalled = false;
		}
		break;
	}
	case BD_TCP_ULP_PEER_FIN:
		if (msk->fallback && msk->rcv.ring) {
			if (!sf->fb_base_set) {
				sf->fb_base_set = true;
				sf->fb_rel = arg - sf->irs;
				sf->fb_dsn = msk->rcv.rcv_nxt;
			}
			bd_mptcp_rcv_fin(&msk->rcv,
					 sf->fb_dsn + (uint32_t)(arg - sf->irs -
								 sf->fb_rel));
		}
		break;
	case BD_TCP_ULP_CLOSED:
		if (!sf->dead) {
			sf->close_err = (int)arg;
			mptcp_subflow_reinject(sf);
			sf->dead = true;
			sf->mp_ready = false;
			if (arg && !mptcp_subflow_count(msk, false) &&
			    !msk->reset &&
			    !(msk->snd.fin_acked && msk->rcv.fin_done)) {
				msk->reset = true;
				msk->err = (int)arg;
			}
		}
		break;
	}
	mptcp_push(msk);
	mptcp_leave(msk);
}

/* --- listener: a SYN arrived ---------------------------------------------- */

int mptcp_listener_syn(struct bd_mptcp_sock *l, struct bd_tcp_sock *child,
		       const struct bd_tcp_seg_desc *seg, const uint8_t *opts,
		       unsigned optlen, void **child_uctx)
{
	struct bd_mptcp_stack *ms = l->ms;
	struct bd_mptcp_opts o;
	memset(&o, 0, sizeof(o));
	if (bd_mptcp_opts_parse_block(&o, opts, optlen, seg->flags, &ms->mib) <
	    0)
		memset(&o, 0, sizeof(o));
	if (o.present & BD_MPTCP_HAS(BD_MPTCPOPT_MP_JOIN)) {
		ms->mib.MPJoinSynRx++;
		if (o.join.backup)
			ms->mib.MPJoinSynBackupRx++;
		struct bd_mptcp_sock *msk =
		    mptcp_token_lookup(ms, o.join.token);
		/* Refused with a RST carrying MP_TCPRST (RFC 8684 3.2):
		 * an unknown token is an MPTCP error, too many subflows
		 * administratively prohibited (as Linux). */
		if (!msk || !msk->established || msk->fallback ||
		    !msk->remote_key_known) {
			ms->mib.MPJoinNoTokenFound++;
			l->lsf->rst_tx_reason = BD_MPTCP_RST_EMPTCP;
			return -BD_ECONNREFUSED;
		}
		if (mptcp_subflow_count(msk, false) >= ms->cfg.subflows_max) {
			l->lsf->rst_tx_reason = BD_MPTCP_RST_EPROHIBIT;
			return -BD_ECONNREFUSED;
		}
		struct bd_mptcp_subflow *sf = mptcp_subflow_new(msk, SF_JOIN);
		if (!sf)
			return -BD_ENOMEM;
		sf->passive = true;
		sf->tcp = child;
		sf->tsock = child;
		sf->irs = seg->seq;
		sf->remote_nonce = o.join.nonce;
		sf->remote_id = o.join.addr_id;
		sf->peer_backup = o.join.backup;
		sf->local_nonce = (uint32_t)bd_stack_rand64(ms->st);
		/* Our address id: the announced address the SYN came to. */
		sf->local_id = 0;
		bd_tcp_get_addrs(child, &sf->laddr, &sf->lport, &sf->raddr,
				 &sf->rport);
		for (unsigned i = 0; i < BD_MPTCP_ADDRS; i++) {
			const struct bd_mptcp_addr *a = &msk->local[i];
			if (a->used && bd_ipaddr_eq(&a->addr, &sf->laddr) &&
			    (!a->port || a->port == sf->lport)) {
				sf->local_id = a->id;
				break;
			}
		}
		/* Its later segments must reach this stack too. */
		if (ms->join_fn) {
			if (!ms->join_fn(ms->join_ctx, true, &sf->raddr,
					 sf->rport, &sf->laddr, sf->lport)) {
				sf->msk = NULL;
				mptcp_subflow_free(sf);
				l->lsf->rst_tx_reason = BD_MPTCP_RST_ERESOURCE;
				return -BD_ECONNREFUSED;
			}
			sf->steered = true;
		}
		sf->next = ms->embryos;
		ms->embryos = sf;
		*child_uctx = sf;
		return 0;
	}
	struct bd_mptcp_sock *msk = mptcp_sock_new(ms);
	if (!msk)
		return -BD_ENOMEM;
	struct bd_mptcp_subflow *sf = NULL;
	bool mpc = (o.present & BD_MPTCP_HAS(BD_MPTCPOPT_MP_CAPABLE)) &&
		   o.mpc.form == BD_MPF_SYN;
	if (mpc) {
		ms->mib.MPCapableSYNRX++;
		if (mptcp_sock_keys(msk) == 0)
			sf = mptcp_subflow_new(msk, SF_MPC);
		msk->csum = ms->cfg.checksum || (o.mpc.flags & BD_MPC_FLAG_A);
	}
	if (!sf) {
		/* A plain TCP client (or no token could be made): the
		 * connection is plain TCP from the start. */
		if (!msk->snd.ring &&
		    bd_mptcp_snd_init(&msk->snd, 1, ms->cfg.snd_buf)) {
			bd_mptcp_close(msk);
			return -BD_ENOMEM;
		}
		sf = mptcp_subflow_new(msk, SF_PLAIN);
		if (!sf) {
			msk->app_owned = false;
			bd_mptcp_abort(msk);
			return -BD_ENOMEM;
		}
	}
	sf->passive = true;
	sf->tcp = child;
	sf->tsock = child;
	sf->irs = seg->seq;
	sf->next = ms->embryos;
	ms->embryos = sf;
	*child_uctx = sf;
	return 0;
}

static int hook_syn_rcv(void *uctx, struct bd_tcp_sock *listener,
			struct bd_tcp_sock *child,
			const struct bd_tcp_seg_desc *seg, const uint8_t *opts,
			unsigned optlen, void **child_uctx)
{
	struct bd_mptcp_subflow *lsf = uctx;
	(void)listener;
	lsf->rst_tx_reason = BD_MPTCP_RST_EUNSPEC;
	if (!lsf->lmsk)
		return -BD_ECONNREFUSED;
	return mptcp_listener_syn(lsf->lmsk, child, seg, opts, optlen,
				  child_uctx);
}

/* The RST answering a SYN the listener refused: MP_TCPRST with why. */
static unsigned hook_refuse_opts(void *uctx, struct bd_tcp_sock *listener,
				 uint8_t *opt, unsigned space)
{
	struct bd_mptcp_subflow *lsf = uctx;
	struct bd_mptcp_opts o;
	unsigned used = 0;
	(void)listener;
	memset(&o, 0, sizeof(o));
	o.rst_reason = lsf->rst_tx_reason;
	if (put(&o, BD_MPTCPOPT_MP_TCPRST, opt, &used, space) && lsf->ms)
		lsf->ms->mib.MPRstTx++;
	return used;
}

/* The window this subflow advertises, and by which it accepts segments:
 * the data-level one (RFC 8684 3.3.4), not its own buffer's, also where
 * that is larger: the subflow's own right edge may stay put while the
 * data-level one does not (its TCP holds back a window update of less
 * than an MSS, or holds out-of-order bytes), and the data-level right
 * edge must never move left. Linux raises the subflow's window the same
 * way (mptcp_set_rwin). */
static uint32_t hook_rcv_wnd(void *uctx, struct bd_tcp_sock *s, uint32_t wnd)
{
	struct bd_mptcp_subflow *sf = uctx;
	struct bd_mptcp_sock *msk = sf->msk;
	(void)s;
	if (!msk || msk->fallback || msk->reset || !msk->rcv.ring ||
	    sf->kind == SF_PLAIN)
		return wnd;
	return mptcp_rcv_wnd_adv(msk);
}

/* TCP frees the socket whose ULP context sf is: the last reference. */
static void hook_release(void *uctx, struct bd_tcp_sock *s)
{
	struct bd_mptcp_subflow *sf = uctx;
	if (!sf || sf->tsock != s)
		return;
	sf->tsock = NULL;
	if (sf->lmsk)
		return; /* a listener's own: freed with its context */
	struct bd_mptcp_sock *msk = sf->msk;
	if (!msk) {
		mptcp_subflow_free(sf);
		return;
	}
	sf->tcp = NULL;
	for (struct bd_mptcp_subflow **pp = &sf->ms->embryos; *pp;
	     pp = &(*pp)->next) {
		if (*pp != sf)
			continue;
		/* Never accepted: a new connection's context goes too. */
		bool own = sf->kind != SF_JOIN;
		*pp = sf->next;
		sf->msk = NULL;
		mptcp_subflow_free(sf);
		if (own && !msk->app_owned && !msk->accepted &&
		    !msk->subflows && !msk->depth)
			bd_mptcp_abort(msk);
		return;
	}
	mptcp_enter(msk);
	mptcp_subflow_release(sf, false);
	mptcp_leave(msk);
}

const struct bd_tcp_ulp_ops bd_mptcp_ulp = {
    .name = "mptcp",
    .data_opt_reserve = 0,
    .write_opts = hook_write_opts,
    .rcv_opt = hook_rcv_opt,
    .event = hook_event,
    .rcv_data = hook_rcv_data,
    .syn_rcv = hook_syn_rcv,
    .refuse_opts = hook_refuse_opts,
    .seg_limit = hook_seg_limit,
    .rcv_wnd = hook_rcv_wnd,
    .timer = mptcp_sf_timer,
    .release = hook_release,
};

/* --- TCP callbacks of subflow sockets (safe points) -------------------------
 */

static void sf_cb_enter(struct bd_mptcp_subflow *sf)
{
	if (sf && sf->msk)
		mptcp_enter(sf->msk);
}

static void sf_cb_leave(struct bd_mptcp_sock *msk)
{
	if (!msk)
		return;
	/* Deferred resets. */
	for (struct bd_mptcp_subflow *x = msk->subflows; x;) {
		struct bd_mptcp_subflow *nx = x->next;
		if ((x->rst_pending || (x->join_bad && x->tcp_est)) && x->tcp)
			mptcp_subflow_reset(x, mptcp_subflow_rst_reason(x),
					    false);
		x = nx;
	}
	mptcp_push(msk);
	mptcp_leave(msk);
}

static void cb_connected(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_mptcp_subflow *sf = ctx;
	(void)s;
	if (!sf || !sf->msk)
		return;
	struct bd_mptcp_sock *msk = sf->msk;
	sf_cb_enter(sf);
	sf_cb_leave(msk);
}

static void cb_readable(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_mptcp_subflow *sf = ctx;
	(void)s;
	if (!sf || !sf->msk)
		return;
	struct bd_mptcp_sock *msk = sf->msk;
	sf_cb_enter(sf);
	mptcp_subflow_pull(sf);
	sf_cb_leave(msk);
}

static void cb_writable(void *ctx, struct bd_tcp_sock *s)
{
	struct bd_mptcp_subflow *sf = ctx;
	(void)s;
	if (!sf || !sf->msk)
		return;
	struct bd_mptcp_sock *msk = sf->msk;
	sf_cb_enter(sf);
	sf_cb_leave(msk);
}

static void cb_peer_fin(void *ctx, struct bd_tcp_sock *s)
{
	cb_writable(ctx, s);
}

static void cb_closed(void *ctx, struct bd_tcp_sock *s, int err)
{
	struct bd_mptcp_subflow *sf = ctx;
	(void)s;
	if (!sf || !sf->msk)
		return;
	struct bd_mptcp_sock *msk = sf->msk;
	sf_cb_enter(sf);
	mptcp_subflow_release(sf, false);
	/* The last subflow ended by an error before the connection was done
	 * (a refused or timed-out connect: TCP reports no ULP_CLOSED for a
	 * subflow that never got established): so does the connection. */
	if (err && !msk->subflows && !msk->reset &&
	    !(msk->snd.fin_acked && msk->rcv.fin_done)) {
		msk->reset = true;
		msk->err = err;
	}
	if (!msk->subflows && !msk->app_owned)
		msk->free_pending = true;
	sf_cb_leave(msk);
}

const struct bd_tcp_callbacks bd_mptcp_sf_cb = {
    .on_connected = cb_connected,
    .on_readable = cb_readable,
    .on_writable = cb_writable,
    .on_peer_fin = cb_peer_fin,
    .on_closed = cb_closed,
};
