// SPDX-License-Identifier: Apache-2.0
// The application channel hosted on the DPDK runtime (`braid node`).
//
// The channel server (attach protocol, applications' deaths) runs on the
// Node thread: a libuv poll handle on bd_chan_server_fd() calls
// bd_chan_server_process(). Each worker has one bridge, installed through
// bd_rt_call as the worker's stack poll hook; an application is handed to
// one worker's bridge on attach and taken from it on detach, both through
// bd_rt_call (the server unmaps the region only after the worker let go).
// While a bridge has work waiting (an application's request, bytes in a tx
// FIFO, room in a full rx FIFO) the hook keeps its worker awake.
//
// nodeConns / nodeSetOpt / nodeDrain reach the bridges the same way, so
// JavaScript never touches a worker's memory.
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include "braid/chan.h"
#include "braid/chan_bridge.h"
#include "braid/dpdk.h"
#include "braid/net.h"
#include "braid/stack.h"
}

#include "addon.h"

namespace
{

const uint32_t CALL_TIMEOUT_MS = 30000;

struct AppRec {
	uint32_t id;
	int32_t pid;
	uint32_t uid;
	std::string name;
	unsigned worker;
	uint64_t attached_ms;
};

struct NodeEvent {
	std::string kind; // "attach", "detach", "refuse"
	AppRec app;
};

// A worker's listen hook: the ports its apps listen on are steered to it.
struct ListenCtx {
	struct bd_rt *rt = nullptr;
	unsigned w = 0;
};

struct NodeHost {
	struct bd_rt *rt = nullptr;
	unsigned nworkers = 0;
	std::vector<ListenCtx> lctx; // sized once, before the workers use it
	std::vector<struct bd_chan_bridge *> bridges;
	struct bd_chan_server *srv = nullptr;
	uv_poll_t *poll = nullptr;
	std::map<uint32_t, AppRec> apps; // by app id (Node thread only)
	std::vector<NodeEvent> pending;
	Napi::FunctionReference on_event;
	unsigned next_worker = 0;
	bool draining = false;
	bool closed = false;
	uint64_t attached = 0, detached = 0, refused = 0;
};

uint64_t NowMs()
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

// --- on the workers
// -----------------------------------------------------------

void Hook(void *ctx, struct bd_stack *st)
{
	struct bd_chan_bridge *b = static_cast<struct bd_chan_bridge *>(ctx);
	bd_chan_bridge_poll(b, st);
	// An app's work waits: the worker must not nap (its next deadline is
	// now), or its sleep adds to the app's latency.
	if (bd_chan_bridge_busy(b))
		bd_stack_wake_at(st, bd_stack_now_us(st));
}

struct BridgeArg {
	struct bd_rt *rt = nullptr;
	ListenCtx *lctx = nullptr;
	struct bd_chan_bridge *b = nullptr;
	struct bd_chan_app *app = nullptr;
	struct bd_chan_opts defaults {
	};
	int rc = 0;
};

// An app on worker w listens on port (on), or stopped: with several
// workers, connections to the port are hashed over all of them, and the
// listener is on w only; so they all go to w while it listens. A port
// already steered to another worker's listener is refused (EADDRINUSE, as
// the kernel answers a second bind without SO_REUSEPORT): this listener
// would never get a connection.
int OnListen(void *ctx, uint16_t port, bool on)
{
	ListenCtx *l = static_cast<ListenCtx *>(ctx);
	return bd_rt_pin_port_live(l->rt, port, l->w, on);
}

void InstallOnWorker(struct bd_stack *st, unsigned w, void *arg)
{
	BridgeArg *a = static_cast<BridgeArg *>(arg);
	a->b = bd_chan_bridge_create(st);
	if (!a->b)
		return;
	bd_chan_bridge_set_defaults(a->b, &a->defaults);
	if (a->lctx)
		bd_chan_bridge_set_listen_hook(a->b, OnListen, a->lctx);
	// Connections that ask for subflows, a scheduler or a path manager
	// (or get them from the node's defaults) go over the worker's MPTCP.
	struct bd_mptcp_stack *ms = bd_rt_mptcp(a->rt, w);
	if (ms)
		bd_chan_bridge_set_mptcp(a->b, &bd_chan_xport_mptcp, ms);
	bd_stack_set_poll_hook(st, Hook, a->b);
}

void UninstallOnWorker(struct bd_stack *st, unsigned, void *arg)
{
	BridgeArg *a = static_cast<BridgeArg *>(arg);
	bd_stack_set_poll_hook(st, nullptr, nullptr);
	bd_chan_bridge_destroy(a->b);
}

void AddOnWorker(struct bd_stack *, unsigned, void *arg)
{
	BridgeArg *a = static_cast<BridgeArg *>(arg);
	a->rc = bd_chan_bridge_add(a->b, a->app);
}

void RemoveOnWorker(struct bd_stack *, unsigned, void *arg)
{
	BridgeArg *a = static_cast<BridgeArg *>(arg);
	bd_chan_bridge_remove(a->b, a->app);
}

void DrainOnWorker(struct bd_stack *, unsigned, void *arg)
{
	bd_chan_bridge_drain(static_cast<BridgeArg *>(arg)->b);
}

struct StatsArg {
	struct bd_chan_bridge *b;
	struct bd_chan_bridge_stats st;
};

void StatsOnWorker(struct bd_stack *, unsigned, void *arg)
{
	StatsArg *a = static_cast<StatsArg *>(arg);
	bd_chan_bridge_stats(a->b, &a->st);
}

struct ConnCopy {
	struct bd_chan_conn_entry e;
	std::string app_name, state, transport;
};

struct ListArg {
	struct bd_chan_bridge *b;
	bool with_info;
	std::vector<ConnCopy> out;
};

void Collect(void *ctx, const struct bd_chan_conn_entry *e)
{
	ListArg *a = static_cast<ListArg *>(ctx);
	ConnCopy c;
	c.e = *e;
	c.app_name = e->app_name ? e->app_name : "";
	c.state = e->state ? e->state : "";
	c.transport = e->transport ? e->transport : "";
	a->out.push_back(std::move(c));
}

void ListOnWorker(struct bd_stack *, unsigned, void *arg)
{
	ListArg *a = static_cast<ListArg *>(arg);
	bd_chan_bridge_foreach(a->b, a->with_info, Collect, a);
}

struct SetPrioArg {
	struct bd_chan_bridge *b;
	uint32_t app, slot, subflow;
	bool backup;
	int rc;
};

void SetPrioOnWorker(struct bd_stack *, unsigned, void *arg)
{
	SetPrioArg *a = static_cast<SetPrioArg *>(arg);
	a->rc = bd_chan_bridge_set_prio(a->b, a->app, a->slot, a->subflow,
					a->backup);
}

struct SetOptArg {
	struct bd_chan_bridge *b;
	uint32_t app, slot;
	struct bd_chan_opts opts;
	int rc;
};

void SetOptOnWorker(struct bd_stack *, unsigned, void *arg)
{
	SetOptArg *a = static_cast<SetOptArg *>(arg);
	a->rc = bd_chan_bridge_setopt(a->b, a->app, a->slot, &a->opts);
}

// --- the server's callbacks (Node thread, inside bd_chan_server_process) ----

int OnAttach(void *ctx, struct bd_chan_app *app)
{
	NodeHost *n = static_cast<NodeHost *>(ctx);
	AppRec r;
	r.id = bd_chan_app_id_of(app);
	r.pid = bd_chan_app_pid(app);
	r.uid = bd_chan_app_uid(app);
	r.name = bd_chan_app_name(app);
	r.attached_ms = NowMs();
	if (n->draining) {
		n->refused++;
		r.worker = 0;
		n->pending.push_back({"refuse", r});
		return BD_ESHUTDOWN;
	}
	r.worker = n->next_worker++ % n->nworkers;
	BridgeArg a;
	a.b = n->bridges[r.worker];
	a.app = app;
	if (bd_rt_call(n->rt, r.worker, AddOnWorker, &a, CALL_TIMEOUT_MS) !=
		0 ||
	    a.rc != 0) {
		n->refused++;
		n->pending.push_back({"refuse", r});
		return -1;
	}
	n->apps[r.id] = r;
	n->attached++;
	n->pending.push_back({"attach", r});
	return 0;
}

void OnDetach(void *ctx, struct bd_chan_app *app)
{
	NodeHost *n = static_cast<NodeHost *>(ctx);
	auto it = n->apps.find(bd_chan_app_id_of(app));
	if (it == n->apps.end())
		return;
	BridgeArg a;
	a.b = n->bridges[it->second.worker];
	a.app = app;
	// Must have run before we return: the server unmaps the region next.
	// The worker answers between two polls; the timeout is only a guard
	// against a worker that is stuck, and then the node is broken anyway.
	bd_rt_call(n->rt, it->second.worker, RemoveOnWorker, &a,
		   CALL_TIMEOUT_MS);
	n->detached++;
	n->pending.push_back({"detach", it->second});
	n->apps.erase(it);
}

Napi::Object AppToJs(Napi::Env env, const AppRec &r)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("id", r.id);
	o.Set("pid", r.pid);
	o.Set("uid", r.uid);
	o.Set("name", r.name);
	o.Set("worker", r.worker);
	o.Set("attachedAt", (double)r.attached_ms);
	return o;
}

void Deliver(NodeHost *n, Napi::Env env)
{
	if (n->pending.empty())
		return;
	std::vector<NodeEvent> evs;
	evs.swap(n->pending);
	if (n->on_event.IsEmpty())
		return;
	Napi::HandleScope scope(env);
	for (const NodeEvent &e : evs)
		n->on_event.MakeCallback(
		    env.Global(),
		    {Napi::String::New(env, e.kind), AppToJs(env, e.app)});
}

void OnReadable(uv_poll_t *h, int, int)
{
	NodeHost *n = static_cast<NodeHost *>(h->data);
	if (!n->srv)
		return;
	while (bd_chan_server_process(n->srv) > 0) {
	}
	if (!n->on_event.IsEmpty())
		Deliver(n, n->on_event.Env());
	else
		n->pending.clear();
}

NodeHost *GetNode(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsExternal())
		throw Napi::TypeError::New(info.Env(),
					   "expected a node handle");
	NodeHost *n = info[0].As<Napi::External<NodeHost>>().Data();
	if (n->closed)
		throw Napi::Error::New(info.Env(), "the node is closed");
	return n;
}

void Uninstall(NodeHost *n)
{
	for (unsigned w = 0; w < n->bridges.size(); w++) {
		if (!n->bridges[w])
			continue;
		BridgeArg a;
		a.b = n->bridges[w];
		bd_rt_call(n->rt, w, UninstallOnWorker, &a, CALL_TIMEOUT_MS);
		n->bridges[w] = nullptr;
	}
}

uint32_t OptU32(const Napi::Object &o, const char *key, uint32_t dflt)
{
	Napi::Value v = o.Get(key);
	return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : dflt;
}

// nodeCreate(runtime, {path, mode?, allowUid?, name?, slots?, fifoSize?,
// ringSize?, maxApps?, defaults?: {congestionControl, scheduler,
// pathManager, subflows}}, onEvent(kind, app)) -> handle
Napi::Value NodeCreate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	struct bd_rt *rt = RuntimeOf(env, info[0]);
	if (info.Length() < 2 || !info[1].IsObject())
		throw Napi::TypeError::New(env, "nodeCreate(rt, config, cb)");
	Napi::Object o = info[1].As<Napi::Object>();
	std::string path = o.Get("path").ToString().Utf8Value();
	std::string name = o.Get("name").IsString()
			       ? o.Get("name").As<Napi::String>().Utf8Value()
			       : "braid";
	auto *n = new NodeHost();
	n->rt = rt;
	n->nworkers = bd_rt_nworkers(rt);
	if (info.Length() > 2 && info[2].IsFunction())
		n->on_event = Napi::Persistent(info[2].As<Napi::Function>());
	n->bridges.assign(n->nworkers, nullptr);
	n->lctx.assign(n->nworkers, ListenCtx());
	struct bd_chan_opts defaults;
	OptsFromJs(o.Get("defaults"), &defaults);
	for (unsigned w = 0; w < n->nworkers; w++) {
		BridgeArg a;
		a.rt = rt;
		n->lctx[w].rt = rt;
		n->lctx[w].w = w;
		a.lctx = &n->lctx[w];
		a.defaults = defaults;
		if (bd_rt_call(rt, w, InstallOnWorker, &a, CALL_TIMEOUT_MS) !=
			0 ||
		    !a.b) {
			Uninstall(n);
			delete n;
			throw Napi::Error::New(
			    env, "worker " + std::to_string(w) +
				     " did not take the channel bridge");
		}
		n->bridges[w] = a.b;
	}
	struct bd_chan_server_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = path.c_str();
	cfg.mode = OptU32(o, "mode", 0);
	cfg.nslots = OptU32(o, "slots", 0);
	cfg.fifo_size = OptU32(o, "fifoSize", 0);
	cfg.ring_size = OptU32(o, "ringSize", 0);
	cfg.max_apps = OptU32(o, "maxApps", 0);
	cfg.allow_uid = o.Get("allowUid").IsNumber()
			    ? o.Get("allowUid").As<Napi::Number>().Int64Value()
			    : -1;
	cfg.node_name = name.c_str();
	cfg.on_attach = OnAttach;
	cfg.on_detach = OnDetach;
	cfg.ctx = n;
	char err[256] = "";
	n->srv = bd_chan_server_create(&cfg, err, sizeof(err));
	if (!n->srv) {
		Uninstall(n);
		delete n;
		throw Napi::Error::New(env, std::string("app socket: ") + err);
	}
	uv_loop_t *loop = nullptr;
	napi_get_uv_event_loop(env, &loop);
	n->poll = new uv_poll_t;
	uv_poll_init(loop, n->poll, bd_chan_server_fd(n->srv));
	n->poll->data = n;
	uv_poll_start(n->poll, UV_READABLE, OnReadable);
	return Napi::External<NodeHost>::New(env, n);
}

// nodeApps(h) -> [{id, pid, uid, name, worker, attachedAt}]
Napi::Value NodeApps(const Napi::CallbackInfo &info)
{
	NodeHost *n = GetNode(info);
	Napi::Env env = info.Env();
	Napi::Array out = Napi::Array::New(env);
	uint32_t i = 0;
	for (const auto &kv : n->apps)
		out.Set(i++, AppToJs(env, kv.second));
	return out;
}

// nodeStats(h) -> {apps, attached, detached, refused, draining, workers:
// [{apps, conns, listeners, requests, events, ...}]}
Napi::Value NodeStats(const Napi::CallbackInfo &info)
{
	NodeHost *n = GetNode(info);
	Napi::Env env = info.Env();
	Napi::Object out = Napi::Object::New(env);
	out.Set("apps", (double)n->apps.size());
	out.Set("attached", (double)n->attached);
	out.Set("detached", (double)n->detached);
	out.Set("refused", (double)n->refused);
	out.Set("draining", n->draining);
	Napi::Array ws = Napi::Array::New(env);
	for (unsigned w = 0; w < n->nworkers; w++) {
		StatsArg a;
		a.b = n->bridges[w];
		memset(&a.st, 0, sizeof(a.st));
		if (bd_rt_call(n->rt, w, StatsOnWorker, &a, 5000) != 0)
			throw Napi::Error::New(env, "worker " +
							std::to_string(w) +
							" did not answer");
		Napi::Object o = Napi::Object::New(env);
#define ST(f) o.Set(#f, (double)a.st.f)
		ST(apps);
		ST(conns);
		ST(listeners);
		ST(requests);
		ST(events);
		ST(bytes_to_app);
		ST(bytes_from_app);
		ST(accepts_deferred);
		ST(protocol_errors);
		ST(apps_removed);
		ST(conns_reset_by_removal);
#undef ST
		ws.Set(w, o);
	}
	out.Set("workers", ws);
	return out;
}

// nodeConns(h, withInfo) -> [{worker, app, pid, name, slot, gen, listener,
// state, transport, laddr, raddr, bytesToApp, bytesFromApp, info?}]
Napi::Value NodeConns(const Napi::CallbackInfo &info)
{
	NodeHost *n = GetNode(info);
	Napi::Env env = info.Env();
	bool with_info = info.Length() > 1 && info[1].ToBoolean().Value();
	Napi::Array out = Napi::Array::New(env);
	uint32_t k = 0;
	for (unsigned w = 0; w < n->nworkers; w++) {
		ListArg a;
		a.b = n->bridges[w];
		a.with_info = with_info;
		if (bd_rt_call(n->rt, w, ListOnWorker, &a, 5000) != 0)
			throw Napi::Error::New(env, "worker " +
							std::to_string(w) +
							" did not answer");
		for (const ConnCopy &c : a.out) {
			Napi::Object o = Napi::Object::New(env);
			o.Set("worker", w);
			o.Set("app", c.e.app_id);
			o.Set("pid", c.e.app_pid);
			o.Set("name", c.app_name);
			o.Set("slot", c.e.slot);
			o.Set("gen", c.e.gen);
			o.Set("listener", c.e.listener);
			o.Set("state", c.state);
			o.Set("transport", c.transport);
			o.Set("laddr", AddrToJs(env, c.e.laddr));
			o.Set("raddr", AddrToJs(env, c.e.raddr));
			o.Set("bytesToApp", (double)c.e.bytes_to_app);
			o.Set("bytesFromApp", (double)c.e.bytes_from_app);
			if (c.e.have_info) {
				const struct bd_chan_info &ci = c.e.info;
				Napi::Object io = Napi::Object::New(env);
				io.Set(
				    "transport",
				    std::string(ci.transport,
						strnlen(ci.transport,
							sizeof(ci.transport))));
				io.Set("mptcp", ci.mptcp != 0);
				Napi::Array subs = Napi::Array::New(env);
				for (uint32_t i = 0; i < ci.nsubflows &&
						     i < BD_CHAN_MAX_SUBFLOWS;
				     i++) {
					Napi::Object s = Napi::Object::New(env);
					s.Set("laddr",
					      AddrToJs(env, ci.sub[i].laddr));
					s.Set("raddr",
					      AddrToJs(env, ci.sub[i].raddr));
					s.Set("tcp",
					      TcpInfoToJs(env, ci.sub[i].tcp));
					s.Set("backup", ci.sub[i].backup != 0);
					s.Set("peerBackup",
					      ci.sub[i].peer_backup != 0);
					subs.Set(i, s);
				}
				io.Set("subflows", subs);
				o.Set("info", io);
			}
			out.Set(k++, o);
		}
	}
	return out;
}

// nodeSetOpt(h, worker, app, slot, opts) -> 0 or a negative errno
Napi::Value NodeSetOpt(const Napi::CallbackInfo &info)
{
	NodeHost *n = GetNode(info);
	Napi::Env env = info.Env();
	if (info.Length() < 5 || !info[1].IsNumber() || !info[2].IsNumber() ||
	    !info[3].IsNumber())
		throw Napi::TypeError::New(
		    env, "nodeSetOpt(h, worker, app, slot, opts)");
	uint32_t w = info[1].As<Napi::Number>().Uint32Value();
	if (w >= n->nworkers)
		throw Napi::RangeError::New(env, "no such worker");
	SetOptArg a;
	a.b = n->bridges[w];
	a.app = info[2].As<Napi::Number>().Uint32Value();
	a.slot = info[3].As<Napi::Number>().Uint32Value();
	a.rc = 0;
	OptsFromJs(info[4], &a.opts);
	if (bd_rt_call(n->rt, w, SetOptOnWorker, &a, 5000) != 0)
		throw Napi::Error::New(env, "the worker did not answer");
	return Napi::Number::New(env, a.rc);
}

// nodeSetPrio(h, worker, app, slot, subflow, backup) -> 0 or a negative
// errno (-2: no such connection or subflow, -22: no subflows to set)
Napi::Value NodeSetPrio(const Napi::CallbackInfo &info)
{
	NodeHost *n = GetNode(info);
	Napi::Env env = info.Env();
	if (info.Length() < 6 || !info[1].IsNumber() || !info[2].IsNumber() ||
	    !info[3].IsNumber() || !info[4].IsNumber() || !info[5].IsBoolean())
		throw Napi::TypeError::New(
		    env, "nodeSetPrio(h, worker, app, slot, subflow, backup)");
	uint32_t w = info[1].As<Napi::Number>().Uint32Value();
	if (w >= n->nworkers)
		throw Napi::RangeError::New(env, "no such worker");
	SetPrioArg a;
	a.b = n->bridges[w];
	a.app = info[2].As<Napi::Number>().Uint32Value();
	a.slot = info[3].As<Napi::Number>().Uint32Value();
	a.subflow = info[4].As<Napi::Number>().Uint32Value();
	a.backup = info[5].As<Napi::Boolean>().Value();
	a.rc = 0;
	if (bd_rt_call(n->rt, w, SetPrioOnWorker, &a, 5000) != 0)
		throw Napi::Error::New(env, "the worker did not answer");
	return Napi::Number::New(env, a.rc);
}

// nodeDrain(h): refuse new apps and connections, close every listener.
Napi::Value NodeDrain(const Napi::CallbackInfo &info)
{
	NodeHost *n = GetNode(info);
	n->draining = true;
	for (unsigned w = 0; w < n->nworkers; w++) {
		BridgeArg a;
		a.b = n->bridges[w];
		bd_rt_call(n->rt, w, DrainOnWorker, &a, CALL_TIMEOUT_MS);
	}
	return info.Env().Undefined();
}

// nodeClose(h): tell every app the node stops (they get a clear error),
// reset what is left, remove the bridges from the workers. The runtime
// stays (the caller closes it).
Napi::Value NodeClose(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsExternal())
		return info.Env().Undefined();
	NodeHost *n = info[0].As<Napi::External<NodeHost>>().Data();
	if (n->closed)
		return info.Env().Undefined();
	n->closed = true;
	if (n->poll) {
		uv_poll_stop(n->poll);
		uv_close(reinterpret_cast<uv_handle_t *>(n->poll),
			 [](uv_handle_t *h) {
				 delete reinterpret_cast<uv_poll_t *>(h);
			 });
		n->poll = nullptr;
	}
	if (n->srv) {
		bd_chan_server_destroy(n->srv);
		n->srv = nullptr;
	}
	Deliver(n, info.Env());
	Uninstall(n);
	n->on_event.Reset();
	// The NodeHost itself stays allocated: the External may outlive
	// this call and GetNode() must still see `closed`.
	return info.Env().Undefined();
}

} // namespace

void InitNode(Napi::Env env, Napi::Object exports)
{
	exports.Set("nodeCreate", Napi::Function::New(env, NodeCreate));
	exports.Set("nodeApps", Napi::Function::New(env, NodeApps));
	exports.Set("nodeStats", Napi::Function::New(env, NodeStats));
	exports.Set("nodeConns", Napi::Function::New(env, NodeConns));
	exports.Set("nodeSetOpt", Napi::Function::New(env, NodeSetOpt));
	exports.Set("nodeSetPrio", Napi::Function::New(env, NodeSetPrio));
	exports.Set("nodeDrain", Napi::Function::New(env, NodeDrain));
	exports.Set("nodeClose", Napi::Function::New(env, NodeClose));
}
