/* SPDX-License-Identifier: Apache-2.0
 *
 * The data-level retransmission timer (RFC 8684 3.3.6, as Linux's
 * mptcp_retransmit_timer). Every byte a subflow's TCP delivered is
 * acknowledged at subflow level, but the DATA_ACK that covers it can go
 * missing: the peer may have put an older data ACK on the last segment it
 * sent, or a middlebox may drop the option from it. Then nothing is in
 * flight on any subflow, so no TCP timer runs, and the connection would
 * wait for ever. When data-level sent data (or the DATA_FIN) stays
 * unacknowledged for an RTO while no subflow has anything in flight, the
 * oldest unacknowledged chunk goes out again (or the DATA_FIN, on a pure
 * ACK of every subflow): the peer answers with its current DATA_ACK. The
 * timer is TCP's upper-layer timer (bd_tcp_ulp_timer) of one usable
 * subflow, with exponential backoff.
 *
 * The same timer probes a closed data-level window (RFC 9293 3.8.6.1 at the
 * data level): new data waits for the peer's window and nothing is in
 * flight, so only the peer's window update, a pure ACK that may be lost,
 * would move things again. Each expiry sends a window probe on every
 * usable subflow (which the peer answers with an ACK carrying its current
 * data-level window), with the same backoff (BraidDataWndProbe).
 *
 * The same timer, armed for "now", is the safe point at which a data-level
 * window update seen inside TCP's input processing pushes data out
 * (mptcp_kick_push). Every subflow's timer also wakes the stale check
 * (mptcp_sched.c) when that subflow's data becomes overdue, so that a dead
 * path is noticed even when nothing else happens on the connection; a
 * subflow's timer is armed for the earliest of its uses
 * (mptcp_sf_timer_sync).
 */
#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"

#define RTX_BASE_US	200000u /* Linux's TCP_RTO_MIN */
#define RTX_MAX_BACKOFF 6
#define RTX_CHUNK	1400u

static bool usable(const struct bd_mptcp_subflow *sf)
{
	return sf->tcp && sf->mp_ready && !sf->dead;
}

/* Data (or the DATA_FIN) sent at the data level and not acknowledged. */
static bool pending(const struct bd_mptcp_sock *msk)
{
	if (!msk->established || msk->fallback || msk->reset || !msk->snd.ring)
		return false;
	return bd_before64(msk->snd.snd_una, msk->snd.snd_nxt) ||
	       (msk->fin_sent && !msk->snd.fin_acked);
}

/* New data waits for the peer's data-level window, nothing in flight. */
static bool wnd_blocked(const struct bd_mptcp_sock *msk)
{
	if (!msk->established || msk->fallback || msk->reset || !msk->snd.ring)
		return false;
	return msk->snd.snd_una == msk->snd.snd_nxt && !msk->snd.nreinj &&
	       bd_before64(msk->snd.snd_nxt, msk->snd.write_seq) &&
	       !bd_before64(msk->snd.snd_nxt, msk->snd.wnd_end);
}

int mptcp_sf_timer_sync(struct bd_mptcp_subflow *sf)
{
	const struct bd_mptcp_sock *msk = sf->msk;
	uint64_t due = sf->kick_us;
	if (msk && msk->rtx_sf == sf && (!due || msk->rtx_due_us < due))
		due = msk->rtx_due_us;
	if (sf->stale_due_us && (!due || sf->stale_due_us < due))
		due = sf->stale_due_us;
	if (!sf->tcp)
		return -BD_ENOTCONN;
	return bd_tcp_ulp_timer(sf->tcp, due);
}

void mptcp_rtx_stop(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_subflow *sf = msk->rtx_sf;
	msk->rtx_sf = NULL;
	msk->rtx_backoff = 0;
	if (sf)
		mptcp_sf_timer_sync(sf);
}

static void arm_at(struct bd_mptcp_sock *msk, uint64_t delay)
{
	struct bd_mptcp_subflow *sf = msk->rtx_sf;
	uint64_t now = bd_stack_now_us(msk->ms->st);
	if (!sf || !usable(sf)) {
		msk->rtx_sf = NULL;
		for (sf = msk->subflows; sf; sf = sf->next)
			if (usable(sf))
				break;
		if (!sf)
			return;
	}
	struct bd_mptcp_subflow *old = msk->rtx_sf;
	msk->rtx_sf = sf;
	msk->rtx_due_us = now + delay;
	if (mptcp_sf_timer_sync(sf) != 0)
		msk->rtx_sf = NULL;
	if (old && old != sf)
		mptcp_sf_timer_sync(old);
}

void mptcp_kick_push(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf)
{
	sf->kick_us = bd_stack_now_us(msk->ms->st);
	if (mptcp_sf_timer_sync(sf) != 0) {
		sf->kick_us = 0;
		return;
	}
	msk->push_pending = true;
}

/* After data was mapped (progress false) or the peer's DATA_ACK moved
 * (progress true): (re)start the timer while something is unacknowledged,
 * stop it once nothing is. */
void mptcp_rtx_arm(struct bd_mptcp_sock *msk, bool progress)
{
	if (!pending(msk) && !wnd_blocked(msk)) {
		if (msk->rtx_sf)
			mptcp_rtx_stop(msk);
		return;
	}
	if (progress)
		msk->rtx_backoff = 0;
	if (progress || !msk->rtx_sf || !usable(msk->rtx_sf))
		arm_at(msk, RTX_BASE_US);
}

/* Whether a subflow that is not stale has TCP data in flight: a stale
 * subflow (its path went dark) keeps retransmitting into the void, and
 * must not hold back the data-level retransmission. */
static bool tcp_in_flight(const struct bd_mptcp_sock *msk)
{
	for (const struct bd_mptcp_subflow *sf = msk->subflows; sf;
	     sf = sf->next) {
		struct bd_tcp_info ti;
		if (usable(sf) && !sf->stalled &&
		    bd_tcp_get_info(sf->tcp, &ti) == 0 && ti.unacked)
			return true;
	}
	return false;
}

void mptcp_sf_timer(void *uctx, struct bd_tcp_sock *s)
{
	struct bd_mptcp_subflow *sf = uctx;
	struct bd_mptcp_sock *msk = sf ? sf->msk : NULL;
	(void)s;
	if (!msk)
		return;
	mptcp_enter(msk);
	/* A kick, or a subflow's data overdue (the stale check): push,
	 * which checks for stale subflows. */
	sf->kick_us = 0;
	uint64_t now = bd_stack_now_us(msk->ms->st);
	if (msk->push_pending ||
	    (sf->stale_due_us && now >= sf->stale_due_us)) {
		msk->push_pending = false;
		mptcp_push(msk);
	}
	if (msk->rtx_sf != sf || now < msk->rtx_due_us) {
		/* Not (yet) the retransmission deadline. */
		mptcp_sf_timer_sync(sf);
		mptcp_leave(msk);
		return;
	}
	msk->rtx_sf = NULL;
	if (!pending(msk)) {
		if (wnd_blocked(msk)) {
			for (struct bd_mptcp_subflow *x = msk->subflows; x;
			     x = x->next)
				if (usable(x) &&
				    bd_tcp_ulp_send_probe(x->tcp) == 0)
					msk->ms->mib.BraidDataWndProbe++;
			if (msk->rtx_backoff < RTX_MAX_BACKOFF)
				msk->rtx_backoff++;
			arm_at(msk, (uint64_t)RTX_BASE_US << msk->rtx_backoff);
		}
		mptcp_sf_timer_sync(sf);
		mptcp_leave(msk);
		return;
	}
	if (!tcp_in_flight(msk)) {
		/* Nothing moves on any subflow: repeat at the data level. */
		msk->ms->mib.MPTCPRetrans++;
		if (bd_before64(msk->snd.snd_una, msk->snd.snd_nxt)) {
			uint64_t left = msk->snd.snd_nxt - msk->snd.snd_una;
			bd_mptcp_snd_reinject(&msk->snd, msk->snd.snd_una,
					      left < RTX_CHUNK ? (uint32_t)left
							       : RTX_CHUNK);
			mptcp_push(msk);
		} else {
			/* Only the DATA_FIN: it rides on pure ACKs. */
			for (struct bd_mptcp_subflow *x = msk->subflows; x;
			     x = x->next)
				if (usable(x))
					bd_tcp_ulp_send_ack(x->tcp);
		}
		if (msk->rtx_backoff < RTX_MAX_BACKOFF)
			msk->rtx_backoff++;
	}
	/* mptcp_push may have re-armed it; back off from the base. */
	if (pending(msk))
		arm_at(msk, (uint64_t)RTX_BASE_US << msk->rtx_backoff);
	mptcp_sf_timer_sync(sf);
	mptcp_leave(msk);
}
