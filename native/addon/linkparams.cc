// SPDX-License-Identifier: Apache-2.0
// Emulated link parameters and counters between JavaScript objects and
// struct bd_link_params / bd_link_stats: shared by the simulator and the
// DPDK link emulator, in the units people give (Mbit/s, milliseconds,
// probabilities 0..1).
#include <cmath>
#include <cstring>
#include <string>

#include "addon.h"

namespace
{

double NonNeg(const Napi::Object &o, const char *key, double dflt, double hi)
{
	Napi::Value v = o.Get(key);
	if (v.IsUndefined() || v.IsNull())
		return dflt;
	if (!v.IsNumber())
		throw Napi::TypeError::New(o.Env(), std::string(key) +
							": expected a number");
	double d = v.As<Napi::Number>().DoubleValue();
	if (!std::isfinite(d) || d < 0 || d > hi)
		throw Napi::RangeError::New(
		    o.Env(), std::string(key) +
				 ": expected a number from 0 to " +
				 std::to_string(hi));
	return d;
}

uint64_t MsToNs(double ms)
{
	return (uint64_t)std::llround(ms * 1e6);
}

double NsToMs(uint64_t ns)
{
	return (double)ns / 1e6;
}

} // namespace

void ParseLinkParams(Napi::Env env, const Napi::Object &p,
		     struct bd_link_params *lp)
{
	const double big = 1e12;
	std::memset(lp, 0, sizeof(*lp));
	lp->rate_bps =
	    (uint64_t)std::llround(NonNeg(p, "rate_mbps", 1000, 1e6) * 1e6);
	lp->delay_ns = MsToNs(NonNeg(p, "delay_ms", 0, 1e6));
	lp->jitter_ns = MsToNs(NonNeg(p, "jitter_ms", 0, 1e6));
	lp->reorder_ns = MsToNs(NonNeg(p, "reorder_ms", 0, 1e6));
	lp->loss = NonNeg(p, "loss", 0, 1);
	lp->reorder = NonNeg(p, "reorder", 0, 1);
	lp->duplicate = NonNeg(p, "duplicate", 0, 1);
	lp->corrupt = NonNeg(p, "corrupt", 0, 1);
	lp->queue_bytes = (uint32_t)NonNeg(p, "queue_bytes", 0, 4294967295.0);
	lp->burst_enter = NonNeg(p, "burst_enter", 0, 1);
	lp->burst_exit = NonNeg(p, "burst_exit", 0, 1);
	lp->burst_loss = NonNeg(p, "burst_loss", 1, 1);
	Napi::Value down = p.Get("down");
	if (!down.IsUndefined() && !down.IsNull()) {
		if (!down.IsBoolean())
			throw Napi::TypeError::New(env,
						   "down: expected a boolean");
		lp->down = down.As<Napi::Boolean>().Value();
	}
	Napi::Value bh = p.Get("blackholes");
	if (bh.IsArray()) {
		Napi::Array a = bh.As<Napi::Array>();
		if (a.Length() > BD_SIM_MAX_BLACKHOLES)
			throw Napi::RangeError::New(
			    env, "blackholes: at most " +
				     std::to_string(BD_SIM_MAX_BLACKHOLES));
		for (uint32_t i = 0; i < a.Length(); i++) {
			if (!a.Get(i).IsObject())
				throw Napi::TypeError::New(
				    env, "blackholes: expected objects");
			Napi::Object w = a.Get(i).As<Napi::Object>();
			lp->blackholes[i].start_ns =
			    MsToNs(NonNeg(w, "start_ms", 0, big));
			lp->blackholes[i].end_ns =
			    MsToNs(NonNeg(w, "end_ms", 0, big));
		}
		lp->nblackholes = a.Length();
	}
}

Napi::Object LinkParamsToJs(Napi::Env env, const struct bd_link_params *lp)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("rate_mbps", (double)lp->rate_bps / 1e6);
	o.Set("delay_ms", NsToMs(lp->delay_ns));
	o.Set("jitter_ms", NsToMs(lp->jitter_ns));
	o.Set("reorder_ms", NsToMs(lp->reorder_ns));
	o.Set("loss", lp->loss);
	o.Set("reorder", lp->reorder);
	o.Set("duplicate", lp->duplicate);
	o.Set("corrupt", lp->corrupt);
	o.Set("queue_bytes", lp->queue_bytes);
	o.Set("burst_enter", lp->burst_enter);
	o.Set("burst_exit", lp->burst_exit);
	o.Set("burst_loss", lp->burst_loss);
	o.Set("down", lp->down);
	Napi::Array bh = Napi::Array::New(env, lp->nblackholes);
	for (uint32_t i = 0; i < lp->nblackholes; i++) {
		Napi::Object w = Napi::Object::New(env);
		w.Set("start_ms", NsToMs(lp->blackholes[i].start_ns));
		w.Set("end_ms", NsToMs(lp->blackholes[i].end_ns));
		bh.Set(i, w);
	}
	o.Set("blackholes", bh);
	return o;
}

Napi::Object LinkStatsToJs(Napi::Env env, const struct bd_link_stats *s)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("sent_pkts", (double)s->sent_pkts);
	o.Set("sent_bytes", (double)s->sent_bytes);
	o.Set("delivered_pkts", (double)s->delivered_pkts);
	o.Set("delivered_bytes", (double)s->delivered_bytes);
	Napi::Object d = Napi::Object::New(env);
	d.Set("queue", (double)s->drop_queue);
	d.Set("loss", (double)s->drop_loss);
	d.Set("burst", (double)s->drop_burst);
	d.Set("blackhole", (double)s->drop_blackhole);
	d.Set("nobuf", (double)s->drop_nobuf);
	o.Set("dropped", d);
	o.Set("corrupted", (double)s->corrupted);
	o.Set("duplicated", (double)s->duplicated);
	o.Set("reordered", (double)s->reordered);
	o.Set("max_queue_bytes", (double)s->max_queue_bytes);
	o.Set("busy_ms", (double)s->busy_ns / 1e6);
	return o;
}
