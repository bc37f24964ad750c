/* SPDX-License-Identifier: Apache-2.0
 *
 * Packet schedulers: which subflow the next chunk of the data-level send
 * queue goes on. Like Linux's mptcp_sched_ops, an ops table per connection,
 * switchable while it runs. The generic part here builds the candidate
 * list (usable subflows, backups only when nothing else is usable), asks
 * the connection's scheduler, and maps the chunk onto the subflows it
 * picked. A subflow takes a new mapping only when TCP has sent every byte
 * queued before, so no segment straddles two mappings.
 */
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"
#include "mptcp_impl.h"
#include "registry.h"

/* --- registry --------------------------------------------------------------
 */

/* Shared by every stack of the process (workers register and look up in
 * parallel threads); starts with the builtins defined below. */
static struct bd_registry sched_reg;

int bd_mptcp_sched_register(const struct bd_mptcp_sched_ops *ops)
{
	if (!ops || !ops->name || !ops->get_send ||
	    strlen(ops->name) >=
		sizeof(((struct bd_mptcp_snapshot *)0)->scheduler))
		return -BD_EINVAL;
	return bd_registry_add(&sched_reg, ops);
}

int mptcp_sched_count(void)
{
	return bd_registry_count(&sched_reg);
}

const struct bd_mptcp_sched_ops *bd_mptcp_sched_find(const char *name)
{
	if (!name)
		return NULL;
	if (strcmp(name, "default") == 0)
		name = "lowrtt";
	return bd_registry_find(&sched_reg, name);
}

void mptcp_sched_init(struct bd_mptcp_sock *msk)
{
	const char *name = msk->ms->cfg.scheduler;
	const struct bd_mptcp_sched_ops *ops =
	    name && *name ? bd_mptcp_sched_find(name) : NULL;
	msk->sched = ops ? ops : bd_mptcp_sched_find("lowrtt");
	memset(msk->sched_priv, 0, sizeof(msk->sched_priv));
	if (msk->sched->init)
		msk->sched->init(msk->sched_priv);
}

int bd_mptcp_set_scheduler(struct bd_mptcp_sock *sk, const char *name)
{
	const struct bd_mptcp_sched_ops *ops = bd_mptcp_sched_find(name);
	if (!ops || sk->listener)
		return -BD_EINVAL;
	sk->sched = ops;
	memset(sk->sched_priv, 0, sizeof(sk->sched_priv));
	if (ops->init)
		ops->init(sk->sched_priv);
	if (sk->depth == 0) {
		mptcp_enter(sk);
		mptcp_push(sk);
		sk->depth--;
	}
	return 0;
}

const char *bd_mptcp_get_scheduler(const struct bd_mptcp_sock *sk)
{
	return sk->sched ? sk->sched->name : "lowrtt";
}

int bd_mptcp_set_weight(struct bd_mptcp_sock *sk, unsigned i, uint32_t weight)
{
	struct bd_mptcp_subflow *sf = sk->subflows;
	while (sf && i--)
		sf = sf->next;
	if (!sf || weight < 1 || weight > 1000)
		return -BD_EINVAL;
	sf->weight = weight;
	return 0;
}

/* --- the built-in schedulers -------------------------------------------------
 */

static bool has_room(const struct bd_mptcp_sched_data *d, unsigned i)
{
	return d->c[i].room > 0;
}

static uint64_t rtt_of(const struct bd_mptcp_sched_cand *c)
{
	/* Unmeasured subflows sort last but stay usable. */
	return c->srtt_us ? c->srtt_us : 1000000;
}

/* Index of the lowest-RTT candidate (with room if room is set), or -1. */
static int fastest(const struct bd_mptcp_sched_data *d, bool room)
{
	int best = -1;
	for (unsigned i = 0; i < d->n; i++) {
		if (room && !has_room(d, i))
			continue;
		if (best < 0 || rtt_of(&d->c[i]) < rtt_of(&d->c[best]))
			best = (int)i;
	}
	return best;
}

/* When k more bytes mapped onto c now would all be delivered, in µs from
 * now: what it holds and k at its rate. The rate is a window per RTT (the
 * window includes the path's queue, so does the RTT), or what TCP
 * delivered over its last RTT if that is more: a window per RTT is off
 * when the RTT estimate lags the queue (0.86 MB/s on a 10 Mbit/s path
 * whose queue had drained, and the last chunks went to a 3 Mbit/s path
 * that delivered them 0.17 s after the fast one had finished). The
 * delivery rate alone undercounts a subflow that had little to send. */
static double done_us(const struct bd_mptcp_sched_cand *c, double k)
{
	double cwnd = c->cwnd ? c->cwnd : 1;
	double rate = cwnd / (double)rtt_of(c); /* bytes per µs */
	if ((double)c->delivery_rate / 1e6 > rate)
		rate = (double)c->delivery_rate / 1e6;
	return ((double)c->inflight + c->notsent + k) / rate;
}

/* Lowest RTT first; at the end of what is queued (like ECF, Lim et al.
 * 2017), a slower subflow gets no chunk that a faster one would deliver
 * sooner, queue included, after what it holds already: the transfer
 * would wait on the slow path's last bytes while the fast path idles. */
static void lowrtt_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	(void)priv;
	int b = fastest(d, true);
	d->pick = b < 0 ? 0 : 1u << b;
	if (b < 0 || d->reinject || !d->queued)
		return;
	const struct bd_mptcp_sched_cand *s = &d->c[b];
	double k = (double)d->queued;
	double mine = done_us(s, k < s->room ? k : s->room);
	for (unsigned i = 0; i < d->n; i++) {
		const struct bd_mptcp_sched_cand *f = &d->c[i];
		if ((int)i == b || rtt_of(f) >= rtt_of(s))
			continue;
		if (done_us(f, k) <= mine) {
			d->pick = 0; /* f takes it when it has room */
			return;
		}
	}
}

/* priv[0]: index (in the connection) of the last subflow used, plus 1. */
static void rr_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	int first = -1, next = -1;
	for (unsigned i = 0; i < d->n; i++) {
		if (!has_room(d, i))
			continue;
		if (first < 0)
			first = (int)i;
		if (next < 0 && d->c[i].index + 1 > priv[0])
			next = (int)i;
	}
	if (next < 0)
		next = first;
	d->pick = 0;
	if (next >= 0) {
		d->pick = 1u << next;
		priv[0] = d->c[next].index + 1;
	}
}

static void redundant_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	(void)priv;
	d->pick = 0;
	/* Every subflow (those without room catch up later), if any can
	 * send now. */
	for (unsigned i = 0; i < d->n; i++)
		if (has_room(d, i))
			d->pick = d->n >= 32 ? UINT32_MAX : (1u << d->n) - 1;
}

/* Weighted: the subflow furthest behind its share (mapped / weight) gets
 * the chunk. When that one has no room, another may run ahead of it by
 * at most WEIGHT_SLACK bytes per unit of weight, so a full subflow does
 * not stop the others, yet the shares follow the weights. */
#define WEIGHT_SLACK (256u * 1024u)

static void weighted_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	(void)priv;
	double vmin = 0;
	int best = -1;
	for (unsigned i = 0; i < d->n; i++) {
		double v = (double)d->c[i].mapped / d->c[i].weight;
		if (i == 0 || v < vmin)
			vmin = v;
	}
	double bv = 0;
	for (unsigned i = 0; i < d->n; i++) {
		if (!has_room(d, i))
			continue;
		double v = (double)d->c[i].mapped / d->c[i].weight;
		if (best < 0 || v < bv) {
			best = (int)i;
			bv = v;
		}
	}
	d->pick = 0;
	if (best >= 0 && bv <= vmin + WEIGHT_SLACK)
		d->pick = 1u << best;
}

/* BLEST: before putting data on a slower subflow s, estimate how much the
 * fastest subflow f could send while s's data is in flight,
 *   X = mss_f * (cwnd_f + (rtt_s/rtt_f - 1) / 2) * rtt_s / rtt_f
 * (segments growing by one per RTT), and skip s if X * lambda would not
 * fit in the shared window once s's data holds its part of it. lambda
 * (priv[0], in 1/100) grows by 0.1 each time the window did block and
 * shrinks by 0.02 otherwise, as in the paper. */
static void blest_init(uint64_t priv[8])
{
	priv[0] = 100;
}

/* BLEST and ECF: f = the fastest subflow, s = the fastest with room. When
 * s is f (or a reinjection waits) s takes the chunk: returns false. */
static bool slow_choice(struct bd_mptcp_sched_data *d, int *f, int *s)
{
	*f = fastest(d, false);
	*s = fastest(d, true);
	d->pick = 0;
	if (*s < 0)
		return false;
	if (*s == *f || d->reinject) {
		d->pick = 1u << *s;
		return false;
	}
	return true;
}

static void blest_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	int f, s;
	if (!slow_choice(d, &f, &s))
		return;
	const struct bd_mptcp_sched_cand *cf = &d->c[f], *cs = &d->c[s];
	double rf = (double)rtt_of(cf), rs = (double)rtt_of(cs);
	double ratio = rs / rf;
	double segs = (double)cf->cwnd / (cf->mss ? cf->mss : 1400);
	double x = cf->mss * (segs + (ratio - 1) / 2) * ratio;
	double lambda = (double)priv[0] / 100.0;
	double need = x * lambda;
	double space = (double)d->wnd_left - (double)cs->room;
	if (need > space) {
		if (priv[0] < 300)
			priv[0] += 10;
		return; /* wait for the fast subflow */
	}
	if (priv[0] > 100)
		priv[0] -= 2;
	d->pick = 1u << s;
}

/* ECF: with k bytes queued, the fastest subflow f would finish them in
 * about (1 + k / cwnd_f) * rtt_f. Use a slower s only if that is not
 * sooner than s's own RTT (with margin delta = max rttvar, and beta = 1/4
 * hysteresis once waiting, priv[0]), unless s would still finish well
 * after f could send everything twice. */
static void ecf_get(uint64_t priv[8], struct bd_mptcp_sched_data *d)
{
	int f, s;
	if (!slow_choice(d, &f, &s)) {
		priv[0] = 0;
		return;
	}
	const struct bd_mptcp_sched_cand *cf = &d->c[f], *cs = &d->c[s];
	double rf = (double)rtt_of(cf), rs = (double)rtt_of(cs);
	double delta = (double)(cf->rttvar_us > cs->rttvar_us ? cf->rttvar_us
							      : cs->rttvar_us);
	double k = (double)d->queued;
	double cwf = cf->cwnd ? cf->cwnd : 1, cws = cs->cwnd ? cs->cwnd : 1;
	double n = 1 + k / cwf;
	double beta = priv[0] ? 0.25 : 0;
	if (n * rf < (1 + beta) * (rs + delta)) {
		if ((k / cws) * rs >= 2 * rf + delta) {
			priv[0] = 1; /* wait for f */
			return;
		}
	}
	priv[0] = 0;
	d->pick = 1u << s;
}

static const struct bd_mptcp_sched_ops sched_lowrtt = {.name = "lowrtt",
						       .get_send = lowrtt_get};
static const struct bd_mptcp_sched_ops sched_rr = {.name = "roundrobin",
						   .get_send = rr_get};
static const struct bd_mptcp_sched_ops sched_redundant = {
    .name = "redundant", .get_send = redundant_get};
static const struct bd_mptcp_sched_ops sched_weighted = {
    .name = "weighted", .get_send = weighted_get};
static const struct bd_mptcp_sched_ops sched_blest = {
    .name = "blest", .init = blest_init, .get_send = blest_get};
static const struct bd_mptcp_sched_ops sched_ecf = {.name = "ecf",
						    .get_send = ecf_get};

static struct bd_registry sched_reg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .count = 6,
    .items = {&sched_lowrtt, &sched_rr, &sched_redundant, &sched_weighted,
	      &sched_blest, &sched_ecf},
};

/* --- mapping chunks onto subflows
 * ---------------------------------------------
 */

/* Round a mapping of up to room bytes down to what fills whole segments:
 * the first carries the mapping (and the data ACK if the subflow's data
 * segments carry one now), the others only the data ACK if so. A mapping
 * of a few bytes more would cost a nearly empty segment of its own. */
static uint32_t whole_segments(const struct bd_mptcp_subflow *sf,
			       const struct bd_tcp_info *ti, uint32_t room)
{
	unsigned ts = (ti->options & BD_TCPI_OPT_TIMESTAMPS) ? 12 : 0;
	unsigned ack = sf->dack_on_data ? 8 : 0;
	/* DSS: 4 bytes of header, the 4-byte data ACK, an 8-byte DSN,
	 * SSN, length and the checksum if used; TCP pads to 4. */
	unsigned map = 4 + 4 + 14 + (sf->msk->csum ? 2 : 0);
	unsigned first_opt = ((ts + map + 3u) & ~3u) - ts;
	/* snd_mss is net of the timestamps already. */
	if (ti->snd_mss <= first_opt + 1)
		return room;
	uint32_t seg = ti->snd_mss - ack;
	uint32_t first = ti->snd_mss - first_opt;
	if (room < first + seg)
		return room;
	return first + (room - first) / seg * seg;
}

/* Is sf usable at the data level? If so, fill its candidate entry (room 0
 * when it cannot take a mapping right now). */
static bool sf_candidate(struct bd_mptcp_subflow *sf,
			 struct bd_mptcp_sched_cand *c)
{
	struct bd_tcp_info ti;
	if (!sf->tcp || sf->dead || !sf->mp_ready || sf->join_bad ||
	    sf->stalled || sf->rst_pending)
		return false;
	int st = bd_tcp_state(sf->tcp);
	if (st != BD_TCP_ESTABLISHED && st != BD_TCP_CLOSE_WAIT)
		return false;
	if (bd_tcp_get_info(sf->tcp, &ti))
		return false;
	memset(c, 0, sizeof(*c));
	/* The RTT now, for choosing and for timing (done_us): TCP times one
	 * segment per RTT and smooths by an eighth, so its srtt lags a
	 * queue that builds up by several RTTs (on a 3 Mbit/s path whose
	 * 0.7 s queue filled, 0.1 to 0.4 s for seconds: the scheduler took
	 * it for the faster path and loaded it to the end). The latest
	 * sample is at most an RTT old. */
	c->srtt_us = ti.rtt;
	const struct bd_tcp_cc_state *cc = bd_tcp_get_cc_state(sf->tcp);
	if (cc && cc->last_rtt_us > c->srtt_us)
		c->srtt_us = cc->last_rtt_us;
	c->delivery_rate = ti.delivery_rate;
	c->rttvar_us = ti.rttvar;
	c->cwnd = ti.snd_cwnd_bytes;
	c->inflight = ti.pipe;
	c->notsent = ti.notsent_bytes;
	c->mss = ti.snd_mss;
	c->weight = sf->weight ? sf->weight : 1;
	c->mapped = sf->mapped;
	c->backup = sf->backup || sf->peer_backup;
	/* Mappings of an eighth of the congestion window (at least 4
	 * segments), taken while less than half a window waits in the
	 * subflow's buffer: TCP always has data when ACKs open the window,
	 * and no more waits there than that (more only delays the data
	 * behind it; measured in integration/bench/mptcp.ts). A mapping
	 * whose first segment has not gone out can still be taken back
	 * when another subflow fails (mptcp_sched_reclaim), so reinjected
	 * data goes before it. Redundant keeps one window per mapping,
	 * taken once the buffer is empty (every subflow carries every byte:
	 * nothing is taken back). */
	if (sf->tcp == sf->msk->ms->hook_tcp)
		return true;
	bool red = sf->msk->sched == &sched_redundant;
	if (ti.notsent_bytes &&
	    (red || ti.notsent_bytes >= ti.snd_cwnd_bytes / 2))
		return true;
	size_t w = bd_tcp_writable(sf->tcp);
	uint32_t cap = red ? ti.snd_cwnd_bytes : ti.snd_cwnd_bytes / 8;
	if (cap < 4u * ti.snd_mss)
		cap = 4u * ti.snd_mss;
	if (cap > 0xfff0) /* a DATA_FIN still fits in the 16-bit length */
		cap = 0xfff0;
	c->room = w < cap ? (uint32_t)w : cap;
	c->room = whole_segments(sf, &ti, c->room);
	return true;
}

/* A subflow is stale when the oldest byte it has not had acknowledged
 * went out more than an RTT ago (the smoothed or the latest, the larger)
 * plus the RTT's variation (at most half an RTT) and the peer's ACK
 * spacing, and no ACK or SACK moved for a quarter RTT (at least four ACK
 * spacings, and twice the longest recent wait for an ACK: ACKs queued
 * behind data the other way come in bursts), while another subflow is
 * usable: its path went dark (or its data waits for a retransmission
 * timeout). With a hole SACKed but not yet repaired, the oldest byte
 * timed is the first beyond the highest SACK (a working path SACKs what
 * it carries); in loss recovery, or with nothing sent beyond that, it is
 * an RTT + 4 RTTVAR (at most RTT/2) after the last progress. Its
 * unacknowledged data is then mapped onto the others at once, without
 * waiting for RTO backoffs, and the scheduler leaves it alone until an
 * ACK shows it works again (mptcp_subflow.c). Timing the oldest byte
 * (send-time marks, mptcp_subflow.c) rather than the last ACK counts from
 * when an answer was due: after the last ACK of a busy path the next one
 * is due within an ACK spacing, not an RTT (a blackholed path was noticed
 * 1.5 RTT + 4 RTTVAR after its last ACK, and the reinjected data waited
 * that long). Checked whenever the connection pushes data, and by the
 * subflow's timer at the deadline (the other subflows may be idle). */
#define DELACK_US 40000 /* Linux's and Braid's delayed-ACK timeout */

/* When sf's data is overdue (stale), 0 if it has none outstanding. */
static uint64_t stale_due(struct bd_mptcp_subflow *sf, uint64_t now)
{
	struct bd_tcp_info ti;
	if (sf->stalled || !sf->ntx || !sf->tcp || sf->dead || !sf->mp_ready ||
	    bd_tcp_get_info(sf->tcp, &ti) || !ti.rtt ||
	    (!ti.unacked && !ti.notsent_bytes))
		return 0;
	/* New SACKed bytes mean the path delivers (a loss is being
	 * repaired): that is progress too. */
	if (ti.sacked > sf->sacked_seen)
		sf->progress_us = now;
	sf->sacked_seen = ti.sacked;
	/* The peer acknowledges every second segment, or a lone one when
	 * its delayed-ACK timer fires: on a slow path (or with an RTT
	 * estimate still small) that gap counts too. A busy path's ACKs
	 * come that often: quiet for four of them (a few segments in flight
	 * say little about the path's rate, and the RTT is then not
	 * inflated by their own queue). */
	uint64_t gap = DELACK_US, quiet = ti.rtt / 4;
	if (ti.unacked >= 2 && ti.delivery_rate) {
		gap = 2ull * ti.snd_mss * 1000000u / ti.delivery_rate;
		if (gap > DELACK_US)
			gap = DELACK_US;
		if (ti.unacked >= 4 && 4 * gap > quiet)
			quiet = 4 * gap;
	}
	if (2 * sf->ack_gap_us > quiet)
		quiet = 2 * sf->ack_gap_us;
	/* The variance term at most half an RTT: a queue swinging the RTT
	 * (4 RTTVAR was most of an RTT) only delayed noticing a dead
	 * path. The marks are up to RTT/16 early. */
	uint64_t var = 4ull * ti.rttvar;
	if (var > ti.rtt / 2)
		var = ti.rtt / 2;
	/* The RTT now: the smoothed one lags a growing queue. */
	uint64_t rtt = ti.rtt;
	const struct bd_tcp_cc_state *cc = bd_tcp_get_cc_state(sf->tcp);
	if (cc && cc->last_rtt_us > rtt)
		rtt = cc->last_rtt_us;
	uint64_t limit = rtt + var + ti.rtt / 16 + gap;
	uint32_t una = sf->tcp_una_ok ? sf->tcp_una : sf->iss + 1;
	/* Nothing in flight yet (TCP sends at the end of the poll): from
	 * when the data was mapped. */
	uint32_t mseq = una;
	uint64_t sent = ti.unacked ? mptcp_sf_oldest_sent(sf, una, &mseq) : 0;
	/* Sent in a burst with the bytes before it: it leaves the path's
	 * bottleneck that much later. */
	if (sent && ti.delivery_rate)
		sent += (uint64_t)(una - mseq) * 1000000u / ti.delivery_rate;
	if (!sent)
		sent = sf->progress_us;
	/* After a timeout, or in a loss recovery that began in slow start,
	 * the oldest byte is known lost and being repaired: wait an RTT + 4
	 * RTTVAR from the last progress instead (slow start's overshoot
	 * loses segments in bursts, which leave nothing to SACK until the
	 * retransmissions arrive). A recovery that began in congestion
	 * avoidance (a drop-tail queue dropped a segment or two) is timed
	 * as the disorder state below: a working path keeps SACKing what it
	 * carries beyond the hole, so the first byte beyond the highest SACK
	 * is due an RTT after it went out (a path that went dark during such
	 * a recovery was noticed an RTT + 4 RTTVAR after the last SACK from
	 * before the onset). */
	if (ti.ca_state == BD_TCP_CA_OPEN)
		sf->ss_before = ti.snd_cwnd < ti.snd_ssthresh;
	if ((ti.ca_state == BD_TCP_CA_RECOVERY && sf->ss_before) ||
	    ti.ca_state == BD_TCP_CA_LOSS) {
		sent = sf->progress_us;
		limit = rtt + var + gap;
	} else if (ti.sacked || ti.ca_state != BD_TCP_CA_OPEN) {
		/* A hole not repaired yet (or reordering): its byte waits
		 * for a fast retransmit, but a working path SACKs what it
		 * carries above it. Due an RTT after the first byte beyond
		 * the highest SACK went out; with nothing sent beyond it,
		 * only the repair answers: as in recovery. */
		uint32_t high, max, m = 0;
		bd_tcp_sack_edge(sf->tcp, &high, &max);
		uint64_t t = (int32_t)(max - high) > 0
				 ? mptcp_sf_sent_at(sf, high, &m)
				 : 0;
		if (t) {
			sent = t;
			if (ti.delivery_rate)
				sent += (uint64_t)(high - m) * 1000000u /
					ti.delivery_rate;
		} else {
			sent = sf->progress_us;
			limit = rtt + var + gap;
		}
	}
	uint64_t due = sf->progress_us + quiet;
	if (sent + limit > due)
		due = sent + limit;
	return due + 1;
}

static void stale_check(struct bd_mptcp_sock *msk, bool arm_only)
{
	uint64_t now = bd_stack_now_us(msk->ms->st);
	bool on = mptcp_subflow_count(msk, true) >= 2 && !msk->fallback;
	for (struct bd_mptcp_subflow *sf = msk->subflows; sf; sf = sf->next) {
		uint64_t due = on ? stale_due(sf, now) : 0;
		if (due && now >= due && !arm_only) {
			sf->stalled = true;
			msk->ms->mib.SubflowStale++;
			mptcp_subflow_reinject(sf);
			due = 0;
		}
		/* A timer for the deadline: nothing else may happen on the
		 * connection before it (the other subflows idle). Earlier
		 * only: a timer that fires early checks again. */
		if (due != sf->stale_due_us &&
		    (!sf->stale_due_us || !due || due < sf->stale_due_us ||
		     sf->stale_due_us <= now)) {
			sf->stale_due_us = due;
			mptcp_sf_timer_sync(sf);
		}
	}
}

static bool sf_txmap_add(struct bd_mptcp_subflow *sf, uint32_t seq,
			 uint64_t dsn, uint32_t len, const uint8_t *data)
{
	/* Mappings are never merged: TCP may already have written the
	 * earlier one into segments. */
	if (sf->ntx == sf->captx) {
		unsigned nc = sf->captx ? sf->captx * 2 : 16;
		struct bd_mptcp_txmap *t = realloc(sf->tx, nc * sizeof(*t));
		if (!t)
			return false;
		sf->tx = t;
		sf->captx = nc;
	}
	sf->tx[sf->ntx].seq = seq;
	sf->tx[sf->ntx].dsn = dsn;
	sf->tx[sf->ntx].len = len;
	sf->tx[sf->ntx].psum =
	    sf->msk->csum ? bd_mptcp_csum_acc(0, 0, data, len) : 0;
	sf->tx[sf->ntx].announced = false;
	sf->ntx++;
	return true;
}

static int range_cmp(const void *a, const void *b)
{
	const struct bd_mptcp_txrange *x = a, *y = b;
	return bd_before64(x->dsn, y->dsn) ? -1 : x->dsn != y->dsn;
}

void mptcp_sched_reclaim(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf)
{
	struct bd_mptcp_snd *snd = &msk->snd;
	struct bd_mptcp_txrange got[BD_MPTCP_REINJ_MAX];
	unsigned ng = 0;
	if (msk->fallback || msk->sched == &sched_redundant)
		return;
	for (struct bd_mptcp_subflow *x = msk->subflows; x; x = x->next) {
		if (x == sf || !x->tcp || x->dead || x->stalled || !x->ntx)
			continue;
		unsigned k = x->ntx;
		while (k > 0 && !x->tx[k - 1].announced)
			k--;
		/* Every range must find room here and in the reinjection
		 * queue, or the bytes stay where they are. */
		if (k == x->ntx ||
		    ng + (x->ntx - k) + snd->nreinj > BD_MPTCP_REINJ_MAX)
			continue;
		uint64_t sum = 0;
		for (unsigned j = k; j < x->ntx; j++)
			sum += x->tx[j].len;
		uint32_t end = bd_tcp_snd_seq(x->tcp);
		if (x->tx[x->ntx - 1].seq + x->tx[x->ntx - 1].len != end ||
		    bd_tcp_ulp_unqueue(x->tcp, x->tx[k].seq) != (long)sum)
			continue;
		for (unsigned j = k; j < x->ntx; j++) {
			got[ng].dsn = x->tx[j].dsn;
			got[ng++].len = x->tx[j].len;
		}
		x->mapped -= sum;
		x->ntx = k;
		msk->ms->mib.BraidReclaimBytes += sum;
	}
	if (!ng)
		return;
	qsort(got, ng, sizeof(got[0]), range_cmp);
	/* The newest data: back to never sent. */
	while (ng && got[ng - 1].dsn + got[ng - 1].len == snd->snd_nxt) {
		ng--;
		snd->snd_nxt = got[ng].dsn;
		snd->bytes_sent -= got[ng].len;
	}
	/* The DATA_FIN goes again with the last data, once it is mapped. */
	if (msk->fin_sent && snd->snd_nxt != snd->write_seq)
		msk->fin_sent = false;
	for (unsigned j = 0; j < ng; j++)
		bd_mptcp_snd_reinject(snd, got[j].dsn, got[j].len);
}

/* Put data bytes [dsn, dsn+n) (already in ms->buf) on sf; returns the
 * bytes TCP took. */
static uint32_t sf_put(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf,
		       uint64_t dsn, uint32_t n)
{
	uint32_t seq = bd_tcp_snd_seq(sf->tcp);
	size_t w = bd_tcp_writable(sf->tcp);
	if (n > w)
		n = (uint32_t)w;
	/* The mapping is known before TCP takes the bytes: TCP may send
	 * the first segment (the one carrying it) from inside the call. */
	/* Nothing queued or unacknowledged before: the subflow starts
	 * again (stale detection counts from here until it sends). */
	bool first = sf->tcp_una_ok ? sf->tcp_una == seq : !sf->ntx;
	if (!n || !sf_txmap_add(sf, seq, dsn, n, msk->ms->buf))
		return 0;
	long k = bd_tcp_send(sf->tcp, msk->ms->buf, n);
	if (k <= 0) {
		sf->ntx--;
		return 0;
	}
	if ((uint32_t)k < n) { /* not expected: n fitted */
		struct bd_mptcp_txmap *t = &sf->tx[sf->ntx - 1];
		t->len = (uint32_t)k;
		t->psum = msk->csum
			      ? bd_mptcp_csum_acc(0, 0, msk->ms->buf, (size_t)k)
			      : 0;
	}
	if (first)
		sf->progress_us = bd_stack_now_us(msk->ms->st);
	sf->mapped += (uint64_t)k;
	msk->last_data_sent_us = bd_stack_now_us(msk->ms->st);
	return (uint32_t)k;
}

/* Map the next chunk (reinjection first) of up to room bytes onto sf;
 * returns the bytes mapped and their first DSN (ms->buf holds them). */
static uint32_t chunk(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf,
		      uint32_t room, uint64_t *dsn)
{
	bool re;
	if (room > 0xfff0) /* a DATA_FIN fits in the 16-bit length */
		room = 0xfff0;
	uint32_t n = bd_mptcp_snd_next(&msk->snd, room, dsn, &re);
	if (!n)
		return 0;
	bd_mptcp_snd_copy(&msk->snd, *dsn, msk->ms->buf, n);
	uint32_t k = sf_put(msk, sf, *dsn, n);
	if (k < n)
		bd_mptcp_snd_reinject(&msk->snd, *dsn + k, n - k);
	if (k && re)
		msk->ms->mib.MPTCPRetrans++;
	return k;
}

bool mptcp_send_chunk(struct bd_mptcp_sock *msk, struct bd_mptcp_subflow *sf,
		      uint32_t room)
{
	uint64_t dsn;
	return chunk(msk, sf, room, &dsn) > 0;
}

/* Candidates for the next chunk; backups only when no other subflow is
 * usable. Returns the number of candidates. */
static unsigned candidates(struct bd_mptcp_sock *msk,
			   struct bd_mptcp_sched_data *d,
			   struct bd_mptcp_subflow **sfs)
{
	unsigned idx = 0, nb = 0;
	d->n = 0;
	for (struct bd_mptcp_subflow *sf = msk->subflows;
	     sf && d->n < BD_MPTCP_SF_MAX; sf = sf->next, idx++) {
		struct bd_mptcp_sched_cand *c = &d->c[d->n];
		if (!sf_candidate(sf, c))
			continue;
		c->index = idx;
		sfs[d->n++] = sf;
		if (!c->backup)
			nb++;
	}
	if (nb && nb < d->n) {
		unsigned k = 0;
		for (unsigned i = 0; i < d->n; i++) {
			if (d->c[i].backup)
				continue;
			d->c[k] = d->c[i];
			sfs[k++] = sfs[i];
		}
		d->n = k;
	}
	return d->n;
}

static void push_loop(struct bd_mptcp_sock *msk);

void mptcp_sched_push(struct bd_mptcp_sock *msk)
{
	if (!msk->sched)
		mptcp_sched_init(msk);
	stale_check(msk, false);
	push_loop(msk);
	/* What was just sent may be all there is in flight: its deadline. */
	stale_check(msk, true);
}

static void push_loop(struct bd_mptcp_sock *msk)
{
	struct bd_mptcp_sched_data d;
	struct bd_mptcp_subflow *sfs[BD_MPTCP_SF_MAX];
	struct bd_mptcp_snd *snd = &msk->snd;
	for (int guard = 0; guard < 64; guard++) {
		uint64_t unsent = snd->write_seq - snd->snd_nxt;
		/* Nothing new to map (redundant may still owe copies). */
		if (!snd->nreinj && msk->sched != &sched_redundant &&
		    (!unsent || !bd_before64(snd->snd_nxt, snd->wnd_end)))
			break;
		if (!candidates(msk, &d, sfs))
			break;
		d.reinject = snd->nreinj > 0;
		d.queued = unsent;
		for (unsigned i = 0; i < snd->nreinj; i++)
			d.queued += snd->reinj[i].len;
		d.wnd_left = bd_after64(snd->wnd_end, snd->snd_nxt)
				 ? snd->wnd_end - snd->snd_nxt
				 : 0;
		d.pick = 0;
		msk->sched->get_send(msk->sched_priv, &d);
		d.pick &= d.n >= 32 ? UINT32_MAX : (1u << d.n) - 1;
		/* Several subflows (redundant): each carries, besides new
		 * data, what the others mapped that it has not carried and
		 * the peer has not acknowledged. */
		bool multi = (d.pick & (d.pick - 1)) != 0, any = false;
		for (unsigned i = 0; i < d.n; i++) {
			struct bd_mptcp_subflow *sf = sfs[i];
			if (!(d.pick & (1u << i)) || !d.c[i].room)
				continue;
			uint64_t from = bd_max64(sf->red_nxt, snd->snd_una);
			uint32_t k;
			if (multi && !snd->nreinj &&
			    bd_before64(from, snd->snd_nxt)) {
				uint64_t n = snd->snd_nxt - from;
				if (n > d.c[i].room)
					n = d.c[i].room;
				if (n > 0xfff0)
					n = 0xfff0;
				bd_mptcp_snd_copy(snd, from, msk->ms->buf, n);
				k = sf_put(msk, sf, from, (uint32_t)n);
			} else {
				k = chunk(msk, sf, d.c[i].room, &from);
			}
			if (k && bd_after64(from + k, sf->red_nxt))
				sf->red_nxt = from + k;
			any |= k > 0;
		}
		if (!any) {
			for (unsigned i = 0; i < d.n && !d.pick; i++)
				if (d.c[i].room) {
					msk->ms->mib.BraidSchedWait++;
					break;
				}
			break;
		}
	}
}
