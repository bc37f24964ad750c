// SPDX-License-Identifier: Apache-2.0
// The DPDK link emulator from Node (braid/emu.h): create it on EAL ports,
// start it on a worker lcore, change a direction's link while it runs, read
// its counters.
#include <string>

#include "addon.h"

extern "C" {
#include "braid/emu.h"
}

namespace
{

struct Emu {
	struct bd_emu *emu = nullptr;
};

Emu *GetEmu(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsExternal())
		throw Napi::TypeError::New(info.Env(),
					   "expected an emulator handle");
	Emu *e = info[0].As<Napi::External<Emu>>().Data();
	if (!e->emu)
		throw Napi::Error::New(info.Env(),
				       "the emulator has been destroyed");
	return e;
}

unsigned Index(const Napi::CallbackInfo &info, size_t i, const char *what)
{
	if (info.Length() <= i || !info[i].IsNumber())
		throw Napi::TypeError::New(
		    info.Env(), std::string(what) + ": expected a number");
	int64_t v = info[i].As<Napi::Number>().Int64Value();
	if (v < 0)
		throw Napi::RangeError::New(info.Env(), std::string(what) +
							    ": out of range");
	return (unsigned)v;
}

// emuCreate({ pairs: [{ a, b, ab: {...}, ba: {...} }], seed?, mbufs?,
// idleSleepMaxUs? })
Napi::Value EmuCreate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsObject())
		throw Napi::TypeError::New(
		    env, "emuCreate: expected a config object");
	Napi::Object o = info[0].As<Napi::Object>();
	struct bd_emu_config cfg = {};
	Napi::Value pairs = o.Get("pairs");
	if (!pairs.IsArray())
		throw Napi::TypeError::New(env, "pairs: expected an array");
	Napi::Array pa = pairs.As<Napi::Array>();
	if (pa.Length() < 1 || pa.Length() > BD_EMU_MAX_PAIRS)
		throw Napi::RangeError::New(
		    env, "pairs: 1 to " + std::to_string(BD_EMU_MAX_PAIRS) +
			     " pairs");
	cfg.npairs = pa.Length();
	for (uint32_t i = 0; i < pa.Length(); i++) {
		if (!pa.Get(i).IsObject())
			throw Napi::TypeError::New(env,
						   "pairs: expected objects");
		Napi::Object p = pa.Get(i).As<Napi::Object>();
		std::string a = p.Get("a").ToString().Utf8Value();
		std::string b = p.Get("b").ToString().Utf8Value();
		if (a.size() >= sizeof(cfg.pairs[i].dev_a) ||
		    b.size() >= sizeof(cfg.pairs[i].dev_b))
			throw Napi::RangeError::New(
			    env, "pairs: device name too long");
		memcpy(cfg.pairs[i].dev_a, a.c_str(), a.size() + 1);
		memcpy(cfg.pairs[i].dev_b, b.c_str(), b.size() + 1);
		Napi::Value ab = p.Get("ab"), ba = p.Get("ba");
		ParseLinkParams(env,
				ab.IsObject() ? ab.As<Napi::Object>()
					      : Napi::Object::New(env),
				&cfg.pairs[i].ab);
		ParseLinkParams(env,
				ba.IsObject() ? ba.As<Napi::Object>()
					      : Napi::Object::New(env),
				&cfg.pairs[i].ba);
	}
	if (o.Get("seed").IsNumber())
		cfg.seed =
		    (uint64_t)o.Get("seed").As<Napi::Number>().Int64Value();
	if (o.Get("mbufs").IsNumber())
		cfg.mbufs =
		    (uint32_t)o.Get("mbufs").As<Napi::Number>().Uint32Value();
	if (o.Get("idleSleepMaxUs").IsNumber())
		cfg.idle_sleep_max_us =
		    o.Get("idleSleepMaxUs").As<Napi::Number>().Uint32Value();

	char err[256] = "";
	struct bd_emu *emu = bd_emu_create(&cfg, err, sizeof(err));
	if (!emu)
		throw Napi::Error::New(env,
				       std::string("link emulator: ") + err);
	Emu *e = new Emu();
	e->emu = emu;
	return Napi::External<Emu>::New(env, e, [](Napi::Env, Emu *x) {
		bd_emu_destroy(x->emu);
		delete x;
	});
}

Napi::Value EmuStart(const Napi::CallbackInfo &info)
{
	Emu *e = GetEmu(info);
	char err[256] = "";
	if (bd_emu_start(e->emu, err, sizeof(err)) < 0)
		throw Napi::Error::New(info.Env(),
				       std::string("link emulator: ") + err);
	return info.Env().Undefined();
}

// emuSetLink(h, pair, dir, params)
Napi::Value EmuSetLink(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Emu *e = GetEmu(info);
	unsigned pair = Index(info, 1, "pair"), dir = Index(info, 2, "dir");
	if (info.Length() < 4 || !info[3].IsObject())
		throw Napi::TypeError::New(
		    env, "emuSetLink: expected link parameters");
	struct bd_link_params lp;
	ParseLinkParams(env, info[3].As<Napi::Object>(), &lp);
	if (bd_emu_set_link(e->emu, pair, dir, &lp) < 0)
		throw Napi::RangeError::New(
		    env, "emuSetLink: no such pair or direction");
	return env.Undefined();
}

// emuLinkInfo(h, pair, dir) -> { params, stats }
Napi::Value EmuLinkInfo(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Emu *e = GetEmu(info);
	struct bd_link_params lp;
	struct bd_link_stats st;
	if (bd_emu_link_info(e->emu, Index(info, 1, "pair"),
			     Index(info, 2, "dir"), &lp, &st) < 0)
		throw Napi::RangeError::New(
		    env, "emuLinkInfo: no such pair or direction");
	Napi::Object o = Napi::Object::New(env);
	o.Set("params", LinkParamsToJs(env, &lp));
	o.Set("stats", LinkStatsToJs(env, &st));
	return o;
}

Napi::Value EmuStats(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Emu *e = GetEmu(info);
	struct bd_emu_stats s;
	bd_emu_stats(e->emu, &s);
	Napi::Object o = Napi::Object::New(env);
	o.Set("polls", (double)s.polls);
	o.Set("sleeps", (double)s.sleeps);
	o.Set("rx_frames", (double)s.rx_frames);
	o.Set("tx_frames", (double)s.tx_frames);
	o.Set("tx_drops", (double)s.tx_drops);
	o.Set("now_ms", (double)bd_emu_now_ns(e->emu) / 1e6);
	return o;
}

Napi::Value EmuDestroy(const Napi::CallbackInfo &info)
{
	Emu *e = GetEmu(info);
	bd_emu_destroy(e->emu);
	e->emu = nullptr;
	return info.Env().Undefined();
}

} // namespace

void InitEmu(Napi::Env env, Napi::Object exports)
{
	exports.Set("emuCreate", Napi::Function::New(env, EmuCreate));
	exports.Set("emuStart", Napi::Function::New(env, EmuStart));
	exports.Set("emuSetLink", Napi::Function::New(env, EmuSetLink));
	exports.Set("emuLinkInfo", Napi::Function::New(env, EmuLinkInfo));
	exports.Set("emuStats", Napi::Function::New(env, EmuStats));
	exports.Set("emuDestroy", Napi::Function::New(env, EmuDestroy));
}
