// SPDX-License-Identifier: Apache-2.0
// The simulator from Node: runScenario(scenario) -> Promise<result>. The
// scenario object has been validated by native/src/sim.ts; this file turns
// it into a bd_scenario, runs it on a worker thread (the event loop stays
// free) and builds the result object.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

extern "C" {
#include "braid/scenario.h"
}

#include "addon.h"

namespace
{

double Num(const Napi::Object &o, const char *key, double dflt)
{
	Napi::Value v = o.Get(key);
	if (v.IsUndefined() || v.IsNull())
		return dflt;
	if (!v.IsNumber())
		throw Napi::TypeError::New(o.Env(), std::string(key) +
							": expected a number");
	double d = v.As<Napi::Number>().DoubleValue();
	if (!std::isfinite(d) || d < 0)
		throw Napi::RangeError::New(
		    o.Env(), std::string(key) + ": expected a number >= 0");
	return d;
}

void Name(const Napi::Object &o, const char *key, char *dst, size_t cap)
{
	if (o.Has(key))
		snprintf(dst, cap, "%s",
			 o.Get(key).ToString().Utf8Value().c_str());
}

// The scenario's "mptcp" object: scheduler, pm, subflows, priorities.
void ParseMptcp(Napi::Env env, const Napi::Object &m, struct bd_scenario *sc)
{
	Name(m, "scheduler", sc->scheduler, sizeof(sc->scheduler));
	Name(m, "pm", sc->pm, sizeof(sc->pm));
	sc->ndiffports = (uint8_t)Num(m, "ndiffports", 0);
	sc->subflows_per_path = (uint8_t)Num(m, "subflows_per_path", 0);
	Napi::Value b = m.Get("backup_paths");
	if (b.IsArray()) {
		Napi::Array a = b.As<Napi::Array>();
		for (uint32_t i = 0; i < a.Length(); i++) {
			uint32_t p = a.Get(i).ToNumber().Uint32Value();
			if (p >= sc->npaths)
				throw Napi::RangeError::New(
				    env, "mptcp.backup_paths: no such path");
			sc->backup[p] = true;
		}
	}
	Napi::Value w = m.Get("weights");
	if (w.IsArray()) {
		Napi::Array a = w.As<Napi::Array>();
		for (uint32_t i = 0; i < a.Length() && i < BD_SIM_MAX_PATHS;
		     i++)
			sc->weight[i] = a.Get(i).ToNumber().Uint32Value();
	}
	Napi::Value s = m.Get("switch");
	if (s.IsObject()) {
		Napi::Object so = s.As<Napi::Object>();
		sc->switch_at_ns =
		    (uint64_t)std::llround(Num(so, "at_ms", 0) * 1e6);
		Name(so, "scheduler", sc->switch_scheduler,
		     sizeof(sc->switch_scheduler));
	}
}

void ParseScenario(Napi::Env env, const Napi::Object &o, struct bd_scenario *sc)
{
	bd_scenario_default(sc);
	sc->seed = (uint64_t)Num(o, "seed", 1);
	Napi::Value paths = o.Get("paths");
	if (!paths.IsArray())
		throw Napi::TypeError::New(env, "paths: expected an array");
	Napi::Array pa = paths.As<Napi::Array>();
	if (pa.Length() < 1 || pa.Length() > BD_SIM_MAX_PATHS)
		throw Napi::RangeError::New(env, "paths: 1 to 8 paths");
	sc->npaths = pa.Length();
	for (uint32_t i = 0; i < pa.Length(); i++)
		ParseLinkParams(env, pa.Get(i).As<Napi::Object>(),
				&sc->path[i]);
	sc->mtu = (uint16_t)Num(o, "mtu", 1500);
	std::string proto = o.Has("protocol")
				? o.Get("protocol").ToString().Utf8Value()
				: "tcp";
	sc->protocol = proto == "mptcp" ? BD_SCEN_MPTCP
		       : proto == "tcp" ? BD_SCEN_TCP
					: -1;
	std::string cc =
	    o.Has("cc") ? o.Get("cc").ToString().Utf8Value() : "cubic";
	snprintf(sc->cc, sizeof(sc->cc), "%s", cc.c_str());
	Napi::Value wv = o.Get("workload");
	if (!wv.IsObject())
		throw Napi::TypeError::New(env, "workload: expected an object");
	Napi::Object w = wv.As<Napi::Object>();
	std::string type = w.Get("type").ToString().Utf8Value();
	if (type == "bulk") {
		sc->workload = BD_SCEN_BULK;
		sc->bytes = (uint64_t)Num(w, "bytes", 0);
		Napi::Value h = w.Get("hash");
		sc->no_hash = h.IsBoolean() && !h.As<Napi::Boolean>().Value();
		Napi::Value bw = w.Get("both_ways");
		sc->both_ways =
		    bw.IsBoolean() && bw.As<Napi::Boolean>().Value();
		sc->back_bytes = (uint64_t)Num(w, "back_bytes", 0);
	} else if (type == "rr") {
		sc->workload = BD_SCEN_RR;
		sc->request_bytes = (uint32_t)Num(w, "request_bytes", 0);
		sc->response_bytes = (uint32_t)Num(w, "response_bytes", 0);
		sc->count = (uint32_t)Num(w, "count", 0);
	} else {
		sc->workload = -1;
	}
	sc->time_limit_ns =
	    (uint64_t)std::llround(Num(o, "time_limit_s", 0) * 1e9);
	sc->snd_buf = (uint32_t)Num(o, "snd_buf", 0);
	sc->rcv_buf = (uint32_t)Num(o, "rcv_buf", 0);
	Napi::Value cv = o.Get("compete");
	if (cv.IsObject()) {
		sc->compete = true;
		sc->compete_path =
		    (uint32_t)Num(cv.As<Napi::Object>(), "path", 0);
	}
	Napi::Value mv = o.Get("mptcp");
	if (mv.IsObject())
		ParseMptcp(env, mv.As<Napi::Object>(), sc);
}

std::string Hex(const uint8_t *b, size_t n)
{
	static const char d[] = "0123456789abcdef";
	std::string s;
	for (size_t i = 0; i < n; i++) {
		s += d[b[i] >> 4];
		s += d[b[i] & 15];
	}
	return s;
}

Napi::Object Mib(Napi::Env env, const struct bd_tcp_mib &m)
{
	Napi::Object o = Napi::Object::New(env);
	const char *base = reinterpret_cast<const char *>(&m);
	for (const struct bd_tcp_field *f = bd_tcp_mib_fields; f->name; f++) {
		uint64_t v;
		memcpy(&v, base + f->offset, 8);
		if (v)
			o.Set(f->name, (double)v);
	}
	return o;
}

Napi::Object NetStats(Napi::Env env, const struct bd_net_stats &s)
{
	Napi::Object o = Napi::Object::New(env);
	const char *base = reinterpret_cast<const char *>(&s);
	for (size_t i = 0; i < bd_net_counter_count; i++) {
		uint64_t v;
		memcpy(&v, base + bd_net_counter_table[i].offset, 8);
		if (v)
			o.Set(bd_net_counter_table[i].name, (double)v);
	}
	return o;
}

Napi::Array Mptcp(Napi::Env env, const struct bd_scenario_result &r)
{
	Napi::Array a = Napi::Array::New(env);
	const char *roles[2] = {"client", "server"};
	uint32_t n = 0;
	for (int i = 0; i < 2; i++) {
		if (!r.have_mptcp[i])
			continue;
		Napi::Object m = Napi::Object::New(env);
		m.Set("role", roles[i]);
		m.Set("info", MptcpFieldsToJs(env, bd_mptcp_info_fields,
					      &r.mptcp[i], false));
		const struct bd_mptcp_snapshot &sn = r.snap[i];
		m.Set("scheduler", std::string(sn.scheduler));
		m.Set("pm", std::string(sn.pm));
		m.Set("cc", std::string(sn.cc));
		Napi::Array sfs = Napi::Array::New(env);
		for (uint32_t k = 0; k < r.nsubflows[i]; k++) {
			Napi::Object s = TcpInfoToJs(env, r.subflow[i][k]);
			s.Set("path", r.subflow_path[i][k]);
			s.Set("active", r.subflow_active[i][k]);
			if (k < sn.nsubflows) {
				const struct bd_mptcp_sf_snapshot &f = sn.sf[k];
				s.Set("backup", f.backup || f.peer_backup);
				s.Set("weight", f.weight);
				s.Set("mapped", (double)f.mapped);
				s.Set("sf_state",
				      bd_mptcp_sf_state_name(f.sf_state));
			}
			sfs.Set(k, s);
		}
		m.Set("subflows", sfs);
		m.Set("counters", MptcpFieldsToJs(env, bd_mptcp_mib_fields,
						  &r.mptcp_mib[i], true));
		a.Set(n++, m);
	}
	return a;
}

Napi::Object Result(Napi::Env env, const struct bd_scenario &sc,
		    const struct bd_scenario_result &r, double wall_s)
{
	Napi::Object o = Napi::Object::New(env);
	bool bulk = sc.workload == BD_SCEN_BULK;
	o.Set("completed", r.completed);
	o.Set("bytes", (double)r.bytes);
	if (bulk && r.hashed) {
		o.Set("sha256_match", r.sha256_match);
		o.Set("sha256_sent", Hex(r.sha_sent, 32));
		o.Set("sha256_received", Hex(r.sha_received, 32));
	} else if (bulk) {
		o.Set("sha256_match", env.Null());
	} else {
		o.Set("sha256_match", env.Null());
		o.Set("transactions", r.transactions);
		o.Set("p50_us", r.p50_us);
		o.Set("p99_us", r.p99_us);
		o.Set("max_us", r.max_us);
		o.Set("min_us", r.min_us);
		o.Set("mean_us", r.mean_us);
	}
	o.Set("duration_s", r.duration_s);
	o.Set("goodput_mbps", r.goodput_mbps);
	if (bulk) {
		o.Set("max_stall_ms", (double)r.max_stall_us / 1000.0);
		Napi::Array st = Napi::Array::New(env);
		uint32_t n = 0;
		for (const auto &g : r.stalls) {
			if (!g.us)
				break;
			Napi::Object x = Napi::Object::New(env);
			x.Set("at_ms", (double)g.at_us / 1000.0);
			x.Set("ms", (double)g.us / 1000.0);
			st.Set(n++, x);
		}
		o.Set("stalls", st);
	}
	if (bulk && sc.both_ways) {
		o.Set("forward_s", r.forward_s);
		o.Set("reverse_s", r.reverse_s);
	}
	if (sc.compete) {
		Napi::Object c = Napi::Object::New(env);
		double m = (double)r.share_main_bytes,
		       k = (double)r.share_compete_bytes;
		c.Set("completed", r.compete_completed);
		c.Set("goodput_mbps", r.compete_goodput_mbps);
		c.Set("share_main", m + k > 0 ? m / (m + k) : 0.0);
		o.Set("compete", c);
	}
	o.Set("retransmits", (double)r.retransmits);
	Napi::Array conns = Napi::Array::New(env);
	const char *roles[2] = {"client", "server"};
	uint32_t n = 0;
	for (int i = 0; i < 2; i++) {
		if (!r.have_conn[i])
			continue;
		Napi::Object c = TcpInfoToJs(env, r.conn[i]);
		c.Set("role", roles[i]);
		conns.Set(n++, c);
	}
	o.Set("connections", conns);
	if (sc.protocol == BD_SCEN_MPTCP)
		o.Set("mptcp", Mptcp(env, r));
	Napi::Array paths = Napi::Array::New(env);
	for (uint32_t i = 0; i < r.npaths; i++) {
		Napi::Object p = Napi::Object::New(env);
		p.Set("client_to_server", LinkStatsToJs(env, &r.link[i][0]));
		p.Set("server_to_client", LinkStatsToJs(env, &r.link[i][1]));
		paths.Set(i, p);
	}
	o.Set("paths", paths);
	Napi::Object hosts = Napi::Object::New(env);
	for (int i = 0; i < 2; i++) {
		Napi::Object h = Napi::Object::New(env);
		h.Set("net", NetStats(env, r.net[i]));
		h.Set("tcp", Mib(env, r.tcp[i]));
		hosts.Set(roles[i], h);
	}
	o.Set("counters", hosts);
	o.Set("sim_end_s", r.sim_end_s);
	o.Set("events", (double)r.events);
	o.Set("frames", (double)r.frames);
	o.Set("wall_s", wall_s);
	if (r.error[0])
		o.Set("error", r.error);
	return o;
}

class ScenarioWorker : public Napi::AsyncWorker
{
      public:
	ScenarioWorker(Napi::Env env, const struct bd_scenario &sc)
	    : Napi::AsyncWorker(env), sc_(sc), deferred_(env)
	{
		memset(&res_, 0, sizeof(res_));
	}
	Napi::Promise Promise()
	{
		return deferred_.Promise();
	}

      protected:
	void Execute() override
	{
		auto t0 = std::chrono::steady_clock::now();
		rc_ = bd_scenario_run(&sc_, &res_);
		auto t1 = std::chrono::steady_clock::now();
		wall_s_ = std::chrono::duration<double>(t1 - t0).count();
	}
	void OnOK() override
	{
		Napi::Env env = Env();
		if (rc_ != 0) {
			deferred_.Reject(
			    Napi::Error::New(env, std::string("scenario: ") +
						      res_.error)
				.Value());
			return;
		}
		deferred_.Resolve(Result(env, sc_, res_, wall_s_));
	}
	void OnError(const Napi::Error &e) override
	{
		deferred_.Reject(e.Value());
	}

      private:
	struct bd_scenario sc_;
	struct bd_scenario_result res_;
	int rc_ = 0;
	double wall_s_ = 0;
	Napi::Promise::Deferred deferred_;
};

// runScenario(scenario) -> Promise<result>
Napi::Value RunScenario(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsObject())
		throw Napi::TypeError::New(env,
					   "runScenario: expected a scenario");
	struct bd_scenario sc;
	ParseScenario(env, info[0].As<Napi::Object>(), &sc);
	auto *w = new ScenarioWorker(env, sc);
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

} // namespace

void InitSim(Napi::Env env, Napi::Object exports)
{
	// TCP registers its built-in congestion controllers in a process-wide
	// table when the first TCP stack is made. Do that here, on the main
	// thread, before scenarios run concurrently on worker threads.
	struct bd_pktpool *pool = bd_pktpool_heap_create(16, 2048);
	if (pool) {
		struct bd_stack_config cfg = {};
		cfg.pool = pool;
		struct bd_stack *st = bd_stack_create(&cfg);
		if (st) {
			bd_stack_use_tcp(st, nullptr);
			bd_stack_drop_tcp(st);
			bd_stack_destroy(st);
		}
		bd_pktpool_destroy(pool);
	}
	exports.Set("runScenario", Napi::Function::New(env, RunScenario));
}
