// SPDX-License-Identifier: Apache-2.0
// The application channel from Node.
//
// The SDK's side (chan*): attach to a node over its Unix socket, then move
// bytes through the shared FIFOs with plain memory copies (no system call
// per chunk); the app's eventfd and the attach socket are watched with libuv
// poll handles on the main loop, so a sleeping app wakes when the node has
// something and learns at once when the node goes away.
//
// The test fixture (simNode*): `braid sim-node`, a Braid node whose network
// is simulated. A background thread runs two simulated hosts in real time
// (the node's stack with the channel bridge, and a peer stack with a
// multi-connection echo server and scripted clients) and serves the channel
// on a real Unix socket with real shared memory. Tests only.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <arpa/inet.h>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "braid/app.h"
#include "braid/chan.h"
#include "braid/chan_bridge.h"
#include "braid/net.h"
#include "braid/sim.h"
#include "braid/tcp.h"
}

#include "addon.h"

// --- marshalling -------------------------------------------------------------

static std::string Ip4(uint32_t ip)
{
	char b[20];
	snprintf(b, sizeof(b), "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255);
	return b;
}

Napi::Object AddrToJs(Napi::Env env, const struct bd_chan_addr &a)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("family", a.family == BD_AF_INET ? 4 : a.family ? 6 : 0);
	o.Set("address", a.family == BD_AF_INET ? Ip4(a.v4) : std::string());
	o.Set("port", a.port);
	return o;
}

void AddrFromJs(Napi::Env env, Napi::Value v, struct bd_chan_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (!v.IsObject())
		return;
	Napi::Object o = v.As<Napi::Object>();
	Napi::Value p = o.Get("port");
	if (p.IsNumber()) {
		int port = p.As<Napi::Number>().Int32Value();
		if (port < 0 || port > 65535)
			throw Napi::RangeError::New(env, "port out of range");
		a->port = (uint16_t)port;
	}
	Napi::Value h = o.Get("address");
	if (h.IsString()) {
		std::string s = h.As<Napi::String>().Utf8Value();
		struct in_addr in;
		if (s.empty() || s == "0.0.0.0")
			return;
		if (inet_pton(AF_INET, s.c_str(), &in) != 1)
			throw Napi::TypeError::New(
			    env,
			    "not an IPv4 address: " + s +
				" (the Braid channel carries IPv4 for now)");
		a->family = BD_AF_INET;
		a->v4 = ntohl(in.s_addr);
	}
}

static void StrField(Napi::Object o, const char *key, char *dst, size_t cap)
{
	Napi::Value v = o.Get(key);
	if (!v.IsString())
		return;
	std::string s = v.As<Napi::String>().Utf8Value();
	if (s.size() >= cap)
		throw Napi::RangeError::New(o.Env(),
					    std::string(key) + ": too long");
	memcpy(dst, s.data(), s.size());
}

void OptsFromJs(Napi::Value v, struct bd_chan_opts *o)
{
	memset(o, 0, sizeof(*o));
	if (!v.IsObject())
		return;
	Napi::Object j = v.As<Napi::Object>();
	StrField(j, "congestionControl", o->cc, sizeof(o->cc));
	StrField(j, "scheduler", o->scheduler, sizeof(o->scheduler));
	StrField(j, "pathManager", o->path_manager, sizeof(o->path_manager));
	if (j.Get("subflows").IsNumber())
		o->subflows =
		    (uint8_t)j.Get("subflows").As<Napi::Number>().Uint32Value();
	if (j.Get("nagle").IsBoolean())
		o->nagle = j.Get("nagle").As<Napi::Boolean>().Value();
	if (j.Get("sndBuf").IsNumber())
		o->snd_buf = j.Get("sndBuf").As<Napi::Number>().Uint32Value();
	if (j.Get("rcvBuf").IsNumber())
		o->rcv_buf = j.Get("rcvBuf").As<Napi::Number>().Uint32Value();
}

Napi::Object TcpInfoToJs(Napi::Env env, const struct bd_tcp_info &ti)
{
	Napi::Object o = Napi::Object::New(env);
	const char *base = reinterpret_cast<const char *>(&ti);
	for (const struct bd_tcp_field *f = bd_tcp_info_fields; f->name; f++) {
		if (f->size == 8) {
			uint64_t v;
			memcpy(&v, base + f->offset, 8);
			o.Set(f->name, (double)v);
		} else {
			uint32_t v;
			memcpy(&v, base + f->offset, 4);
			o.Set(f->name, v);
		}
	}
	o.Set("cc", std::string(ti.cc, strnlen(ti.cc, sizeof(ti.cc))));
	o.Set("state_name", bd_tcp_state_name((int)ti.state));
	return o;
}

namespace
{

// --- the SDK's client
// ----------------------------------------------------------

struct Client {
	int id;
	struct bd_chan_view *v = nullptr;
	uv_poll_t *efd_poll = nullptr, *sock_poll = nullptr;
	Napi::FunctionReference cb;
	bool gone = false;
};

std::map<int, std::unique_ptr<Client>> clients;
int next_client = 1;

Client *GetClient(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsNumber())
		throw Napi::TypeError::New(info.Env(), "expected a channel id");
	auto it = clients.find(info[0].As<Napi::Number>().Int32Value());
	if (it == clients.end() || !it->second->v)
		throw Napi::Error::New(info.Env(), "the channel is closed");
	return it->second.get();
}

uint32_t U32(const Napi::CallbackInfo &info, size_t i, const char *what)
{
	if (info.Length() <= i || !info[i].IsNumber())
		throw Napi::TypeError::New(info.Env(),
					   std::string(what) + ": a number");
	return info[i].As<Napi::Number>().Uint32Value();
}

class AttachWorker : public Napi::AsyncWorker
{
      public:
	AttachWorker(Napi::Env env, std::string path, std::string name,
		     uint32_t timeout)
	    : Napi::AsyncWorker(env), path_(std::move(path)),
	      name_(std::move(name)), timeout_(timeout), deferred_(env)
	{
	}
	Napi::Promise Promise()
	{
		return deferred_.Promise();
	}
	void Execute() override
	{
		char err[256] = "";
		rc_ = bd_chan_attach(path_.empty() ? nullptr : path_.c_str(),
				     name_.c_str(), timeout_, &v_, err,
				     sizeof(err));
		err_ = err;
	}
	void OnOK() override
	{
		Napi::Env env = Env();
		if (rc_ < 0) {
			Napi::Error e = Napi::Error::New(env, err_);
			e.Set("errno", Napi::Number::New(env, -rc_));
			e.Set("code",
			      Napi::String::New(
				  env, rc_ == -ENOENT	      ? "ENOENT"
				       : rc_ == -ECONNREFUSED ? "ECONNREFUSED"
				       : rc_ == -ETIMEDOUT    ? "ETIMEDOUT"
				       : rc_ == -EACCES	      ? "EACCES"
				       : rc_ == -ESHUTDOWN    ? "ESHUTDOWN"
							   : "EBRAIDATTACH"));
			deferred_.Reject(e.Value());
			return;
		}
		auto c = std::make_unique<Client>();
		c->id = next_client++;
		c->v = v_;
		int id = c->id;
		clients[id] = std::move(c);
		Napi::Object o = Napi::Object::New(env);
		o.Set("id", id);
		o.Set("appId", bd_chan_app_id(v_));
		o.Set("slots", bd_chan_nslots(v_));
		o.Set("fifoSize", bd_chan_fifo_size(v_));
		deferred_.Resolve(o);
	}

      private:
	std::string path_, name_, err_;
	uint32_t timeout_;
	struct bd_chan_view *v_ = nullptr;
	int rc_ = 0;
	Napi::Promise::Deferred deferred_;
};

// chanAttach(path | '', name, timeoutMs) -> Promise<{id, appId, slots,
// fifoSize}>
Napi::Value ChanAttach(const Napi::CallbackInfo &info)
{
	std::string path =
	    info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
	std::string name = info[1].IsString()
			       ? info[1].As<Napi::String>().Utf8Value()
			       : "node";
	uint32_t timeout = info[2].IsNumber()
			       ? info[2].As<Napi::Number>().Uint32Value()
			       : 2000;
	auto *w = new AttachWorker(info.Env(), path, name, timeout);
	Napi::Promise p = w->Promise();
	w->Queue();
	return p;
}

void CloseHandle(uv_poll_t *&h)
{
	if (!h)
		return;
	uv_poll_stop(h);
	uv_close(reinterpret_cast<uv_handle_t *>(h), [](uv_handle_t *x) {
		delete reinterpret_cast<uv_poll_t *>(x);
	});
	h = nullptr;
}

void Notify(Client *c, const char *what)
{
	if (c->cb.IsEmpty())
		return;
	Napi::Env env = c->cb.Env();
	Napi::HandleScope scope(env);
	c->cb.MakeCallback(env.Global(), {Napi::String::New(env, what)});
}

void OnEfd(uv_poll_t *h, int status, int events)
{
	(void)status;
	(void)events;
	Client *c = static_cast<Client *>(h->data);
	bd_chan_woken(c->v);
	Notify(c, "wake");
}

void OnSock(uv_poll_t *h, int status, int events)
{
	Client *c = static_cast<Client *>(h->data);
	char b[64];
	ssize_t r = recv(bd_chan_sock_fd(c->v), b, sizeof(b), MSG_DONTWAIT);
	if (status < 0 || (events & UV_DISCONNECT) || r == 0 ||
	    (r < 0 && errno != EAGAIN && errno != EINTR)) {
		c->gone = true;
		CloseHandle(c->sock_poll);
		CloseHandle(c->efd_poll);
		Notify(c, "gone");
	}
}

// chanWatch(id, cb(kind: 'wake' | 'gone')): libuv polls on the eventfd
// and the attach socket.
Napi::Value ChanWatch(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	uv_loop_t *loop = nullptr;
	if (!info[1].IsFunction())
		throw Napi::TypeError::New(info.Env(), "chanWatch(id, cb)");
	napi_get_uv_event_loop(info.Env(), &loop);
	c->cb = Napi::Persistent(info[1].As<Napi::Function>());
	c->efd_poll = new uv_poll_t;
	c->sock_poll = new uv_poll_t;
	uv_poll_init(loop, c->efd_poll, bd_chan_event_fd(c->v));
	uv_poll_init(loop, c->sock_poll, bd_chan_sock_fd(c->v));
	c->efd_poll->data = c;
	c->sock_poll->data = c;
	uv_poll_start(c->efd_poll, UV_READABLE, OnEfd);
	uv_poll_start(c->sock_poll, UV_READABLE | UV_DISCONNECT, OnSock);
	return info.Env().Undefined();
}

// chanRef(id, on): whether the channel keeps the event loop alive.
Napi::Value ChanRef(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	bool on = info[1].ToBoolean().Value();
	for (uv_poll_t *h : {c->efd_poll, c->sock_poll})
		if (h) {
			if (on)
				uv_ref(reinterpret_cast<uv_handle_t *>(h));
			else
				uv_unref(reinterpret_cast<uv_handle_t *>(h));
		}
	return info.Env().Undefined();
}

Napi::Value ChanDetach(const Napi::CallbackInfo &info)
{
	if (!info[0].IsNumber())
		return info.Env().Undefined();
	auto it = clients.find(info[0].As<Napi::Number>().Int32Value());
	if (it == clients.end())
		return info.Env().Undefined();
	Client *c = it->second.get();
	CloseHandle(c->efd_poll);
	CloseHandle(c->sock_poll);
	c->cb.Reset();
	bd_chan_detach(c->v);
	c->v = nullptr;
	clients.erase(it);
	return info.Env().Undefined();
}

// chanRequest(id, {type, cookie, slot, gen, arg, laddr, raddr, opts}) ->
// true, or false when the request ring is full.
Napi::Value ChanRequest(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	Napi::Env env = info.Env();
	if (!info[1].IsObject())
		throw Napi::TypeError::New(env, "chanRequest(id, msg)");
	Napi::Object o = info[1].As<Napi::Object>();
	struct bd_chan_msg m;
	memset(&m, 0, sizeof(m));
	m.type = (uint16_t)o.Get("type").As<Napi::Number>().Uint32Value();
	if (o.Get("cookie").IsNumber())
		m.cookie =
		    (uint64_t)o.Get("cookie").As<Napi::Number>().Int64Value();
	if (o.Get("slot").IsNumber())
		m.slot = o.Get("slot").As<Napi::Number>().Uint32Value();
	if (o.Get("gen").IsNumber())
		m.gen = o.Get("gen").As<Napi::Number>().Uint32Value();
	if (o.Get("arg").IsNumber())
		m.arg = o.Get("arg").As<Napi::Number>().Uint32Value();
	AddrFromJs(env, o.Get("laddr"), &m.laddr);
	AddrFromJs(env, o.Get("raddr"), &m.raddr);
	OptsFromJs(o.Get("opts"), &m.opts);
	return Napi::Boolean::New(env, bd_chan_request(c->v, &m) == 0);
}

// chanEvents(id) -> [{type, cookie, slot, gen, err, arg, laddr, raddr}]
Napi::Value ChanEvents(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	Napi::Env env = info.Env();
	Napi::Array out = Napi::Array::New(env);
	struct bd_chan_msg m;
	uint32_t n = 0;
	while (n < 4096 && bd_chan_next_event(c->v, &m) == 1) {
		Napi::Object o = Napi::Object::New(env);
		o.Set("type", m.type);
		o.Set("cookie", (double)m.cookie);
		o.Set("slot", m.slot);
		o.Set("gen", m.gen);
		o.Set("err", m.err);
		o.Set("arg", m.arg);
		o.Set("laddr", AddrToJs(env, m.laddr));
		o.Set("raddr", AddrToJs(env, m.raddr));
		out.Set(n++, o);
	}
	return out;
}

// chanWrite(id, slot, buf, offset) -> bytes queued (0 when full) or -errno
Napi::Value ChanWrite(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	uint32_t slot = U32(info, 1, "slot");
	if (!info[2].IsBuffer())
		throw Napi::TypeError::New(info.Env(), "chanWrite: a Buffer");
	Napi::Buffer<uint8_t> b = info[2].As<Napi::Buffer<uint8_t>>();
	size_t off =
	    info[3].IsNumber() ? info[3].As<Napi::Number>().Uint32Value() : 0;
	if (off > b.Length())
		off = b.Length();
	long n = bd_chan_write(c->v, slot, b.Data() + off, b.Length() - off);
	return Napi::Number::New(info.Env(), (double)n);
}

// chanRead(id, slot, max) -> Buffer, or a number: 0 end of stream,
// -11 nothing yet, other negative errno (-104 reset)
Napi::Value ChanRead(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	uint32_t slot = U32(info, 1, "slot");
	size_t max = info[2].IsNumber()
			 ? info[2].As<Napi::Number>().Uint32Value()
			 : 65536;
	size_t avail = bd_chan_readable(c->v, slot);
	if (!avail) {
		const void *p;
		size_t len;
		int rc = bd_chan_read_peek(c->v, slot, &p, &len);
		if (rc <= 0)
			return Napi::Number::New(info.Env(), rc);
		avail = len;
	}
	if (avail > max)
		avail = max;
	Napi::Buffer<uint8_t> b = Napi::Buffer<uint8_t>::New(info.Env(), avail);
	long n = bd_chan_read(c->v, slot, b.Data(), avail);
	if (n <= 0)
		return Napi::Number::New(info.Env(), (double)n);
	return b;
}

Napi::Value ChanWritable(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	return Napi::Number::New(
	    info.Env(), (double)bd_chan_writable(c->v, U32(info, 1, "slot")));
}

Napi::Value ChanShutdown(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	return Napi::Number::New(info.Env(),
				 bd_chan_shutdown(c->v, U32(info, 1, "slot")));
}

// chanRelease(id, slot, abort) -> true, or false when the ring is full
Napi::Value ChanRelease(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	int rc = bd_chan_release(c->v, U32(info, 1, "slot"),
				 info[2].ToBoolean().Value());
	return Napi::Boolean::New(info.Env(), rc != -BD_EAGAIN);
}

// chanReadInfo(id, slot) -> {transport, mptcp, subflows: [{laddr, raddr,
// tcp, backup, peerBackup}]}
Napi::Value ChanReadInfo(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	Napi::Env env = info.Env();
	struct bd_chan_info ci;
	if (bd_chan_read_info(c->v, U32(info, 1, "slot"), &ci) < 0)
		throw Napi::Error::New(env, "no info for this connection");
	Napi::Object o = Napi::Object::New(env);
	o.Set("transport",
	      std::string(ci.transport,
			  strnlen(ci.transport, sizeof(ci.transport))));
	o.Set("mptcp", ci.mptcp != 0);
	Napi::Array subs = Napi::Array::New(env);
	for (uint32_t i = 0; i < ci.nsubflows; i++) {
		Napi::Object s = Napi::Object::New(env);
		s.Set("laddr", AddrToJs(env, ci.sub[i].laddr));
		s.Set("raddr", AddrToJs(env, ci.sub[i].raddr));
		s.Set("tcp", TcpInfoToJs(env, ci.sub[i].tcp));
		s.Set("backup", ci.sub[i].backup != 0);
		s.Set("peerBackup", ci.sub[i].peer_backup != 0);
		subs.Set(i, s);
	}
	o.Set("subflows", subs);
	return o;
}

// chanArm(id) -> true: nothing pending, the node wakes us; false: work
// arrived, run again.
Napi::Value ChanArm(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	return Napi::Boolean::New(info.Env(), bd_chan_arm(c->v));
}

// chanPause(id, slot, paused): not reading this slot for now.
Napi::Value ChanPause(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	bd_chan_pause(c->v, U32(info, 1, "slot"), info[2].ToBoolean().Value());
	return info.Env().Undefined();
}

Napi::Value ChanAlive(const Napi::CallbackInfo &info)
{
	Client *c = GetClient(info);
	return Napi::Boolean::New(info.Env(),
				  !c->gone && bd_chan_node_alive(c->v));
}

// --- the simulated node (test fixture) -------------------------------------

struct SimNode;

struct EchoConn {
	SimNode *n;
	struct bd_tcp_sock *s;
	std::vector<uint8_t> pend;
	size_t off = 0;
	bool eof = false, shut = false, closed = false;
};

struct PeerJob {
	SimNode *n;
	int id;
	struct bd_tcp_sock *s = nullptr;
	uint16_t port = 0;
	uint64_t total = 0, sent = 0, received = 0;
	struct bd_app_stream tx, rx;
	bool connected = false, shut = false, done = false, mismatch = false;
	bool closed = false;
	int err = 0;
};

struct SimNode {
	int id;
	std::string path;
	std::thread th;
	std::mutex mu;
	std::atomic<bool> stop{false};
	int stop_efd = -1, epfd = -1;
	struct bd_sim *sim = nullptr;
	struct bd_stack *node = nullptr, *peer = nullptr;
	struct bd_chan_bridge *br = nullptr;
	struct bd_chan_server *srv = nullptr;
	struct bd_tcp_sock *echo_listener = nullptr;
	std::vector<EchoConn *> echoes;
	std::vector<PeerJob *> jobs;
	std::vector<PeerJob *> new_jobs;
	uint64_t echo_conns = 0, peer_resets = 0, echo_bytes = 0;
	uint64_t t0_ns = 0;
	std::string error;
};

std::map<int, std::unique_ptr<SimNode>> simnodes;
int next_simnode = 1;

uint64_t WallNs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void EchoPump(EchoConn *e)
{
	uint8_t buf[16384];
	if (e->closed)
		return;
	for (;;) {
		if (e->off < e->pend.size()) {
			long n = bd_tcp_send(e->s, e->pend.data() + e->off,
					     e->pend.size() - e->off);
			if (n <= 0)
				return;
			e->off += (size_t)n;
			if (e->off < e->pend.size())
				return;
			e->pend.clear();
			e->off = 0;
		}
		if (e->eof)
			break;
		long n = bd_tcp_recv(e->s, buf, sizeof(buf));
		if (n == 0) {
			e->eof = true;
			break;
		}
		if (n < 0)
			return;
		e->n->echo_bytes += (uint64_t)n;
		e->pend.assign(buf, buf + n);
	}
	if (e->eof && !e->shut && e->pend.empty()) {
		e->shut = true;
		bd_tcp_shutdown(e->s);
	}
}

void EchoEv(void *ctx, struct bd_tcp_sock *)
{
	EchoPump(static_cast<EchoConn *>(ctx));
}

void EchoClosed(void *ctx, struct bd_tcp_sock *, int err)
{
	EchoConn *e = static_cast<EchoConn *>(ctx);
	e->closed = true;
	if (err == BD_ECONNRESET || err == -BD_ECONNRESET)
		e->n->peer_resets++;
}

const struct bd_tcp_callbacks echo_cb = {
    nullptr, nullptr, EchoEv, EchoEv, EchoEv, EchoClosed,
};

void EchoAccept(void *ctx, struct bd_tcp_sock *l)
{
	SimNode *n = static_cast<SimNode *>(ctx);
	for (;;) {
		EchoConn *e = new EchoConn();
		e->n = n;
		e->s = bd_tcp_accept(l, &echo_cb, e);
		if (!e->s) {
			delete e;
			return;
		}
		n->echo_conns++;
		n->echoes.push_back(e);
		EchoPump(e);
	}
}

const struct bd_tcp_callbacks listen_cb = {
    EchoAccept, nullptr, nullptr, nullptr, nullptr, nullptr,
};

void JobPump(PeerJob *j)
{
	uint8_t buf[16384], want[16384];
	if (!j->connected || j->done)
		return;
	while (j->sent < j->total) {
		size_t n = j->total - j->sent < sizeof(buf)
			       ? (size_t)(j->total - j->sent)
			       : sizeof(buf);
		size_t room = bd_tcp_writable(j->s);
		if (!room)
			break;
		if (n > room)
			n = room;
		bd_app_stream_fill(&j->tx, buf, n);
		long k = bd_tcp_send(j->s, buf, n);
		if (k != (long)n) {
			j->err = BD_EINVAL; // writable said there was room
			j->done = true;
			return;
		}
		j->sent += n;
	}
	if (j->sent == j->total && !j->shut) {
		j->shut = true;
		bd_tcp_shutdown(j->s);
	}
	for (;;) {
		long n = bd_tcp_recv(j->s, buf, sizeof(buf));
		if (n == 0) {
			j->done = true;
			break;
		}
		if (n < 0)
			break;
		bd_app_stream_fill(&j->rx, want, (size_t)n);
		if (memcmp(buf, want, (size_t)n) != 0)
			j->mismatch = true;
		j->received += (uint64_t)n;
	}
}

void JobConnected(void *ctx, struct bd_tcp_sock *)
{
	PeerJob *j = static_cast<PeerJob *>(ctx);
	j->connected = true;
	JobPump(j);
}

void JobEv(void *ctx, struct bd_tcp_sock *)
{
	JobPump(static_cast<PeerJob *>(ctx));
}

void JobClosed(void *ctx, struct bd_tcp_sock *, int err)
{
	PeerJob *j = static_cast<PeerJob *>(ctx);
	j->closed = true;
	if (err) {
		j->err = err < 0 ? -err : err;
		j->done = true;
	}
}

const struct bd_tcp_callbacks job_cb = {
    nullptr, JobConnected, JobEv, JobEv, JobEv, JobClosed,
};

int OnAttach(void *ctx, struct bd_chan_app *a)
{
	return bd_chan_bridge_add(static_cast<SimNode *>(ctx)->br, a);
}

void OnDetach(void *ctx, struct bd_chan_app *a)
{
	bd_chan_bridge_remove(static_cast<SimNode *>(ctx)->br, a);
}

uint64_t NextEventNs(SimNode *n)
{
	uint64_t t = UINT64_MAX;
	for (unsigned p = 0; p < bd_sim_npaths(n->sim); p++)
		for (int d = 0; d < 2; d++) {
			uint64_t a =
			    bd_link_next_ns(bd_sim_link(n->sim, (int)p, d));
			if (a < t)
				t = a;
		}
	for (struct bd_stack *st : {n->node, n->peer}) {
		uint64_t d = bd_stack_next_deadline(st);
		if (d != UINT64_MAX && d * 1000 < t)
			t = d * 1000;
	}
	return t;
}

void SimLoop(SimNode *n)
{
	while (!n->stop.load()) {
		int timeout_ms = 0;
		{
			std::lock_guard<std::mutex> g(n->mu);
			uint64_t now = WallNs() - n->t0_ns;
			for (PeerJob *j : n->new_jobs) {
				struct bd_ipaddr dst =
				    bd_ip4(bd_sim_path_addr(0, 0));
				int err = 0;
				j->s = bd_tcp_connect(
				    bd_stack_tcp(n->peer), nullptr, 0, &dst,
				    j->port, nullptr, &job_cb, j, &err);
				if (!j->s) {
					j->err = err < 0 ? -err : err;
					j->done = true;
				}
				n->jobs.push_back(j);
				bd_stack_wake_at(n->peer, now / 1000);
			}
			n->new_jobs.clear();
			bd_chan_server_process(n->srv);
			if (now > bd_sim_now_ns(n->sim))
				bd_stack_wake_at(n->node, now / 1000);
			else
				bd_stack_wake_at(n->node,
						 bd_sim_now_ns(n->sim) / 1000);
			bd_sim_run(n->sim,
				   now > bd_sim_now_ns(n->sim)
				       ? now
				       : bd_sim_now_ns(n->sim),
				   nullptr, nullptr);
			// Finished echo connections: release their handles.
			for (size_t i = 0; i < n->echoes.size();) {
				EchoConn *e = n->echoes[i];
				if (e->closed) {
					bd_tcp_close(e->s);
					delete e;
					n->echoes[i] = n->echoes.back();
					n->echoes.pop_back();
				} else {
					i++;
				}
			}
			uint64_t next = NextEventNs(n);
			uint64_t vnow = bd_sim_now_ns(n->sim);
			if (next <= vnow) {
				timeout_ms = 0;
			} else if (bd_chan_bridge_arm(n->br)) {
				uint64_t wait = next == UINT64_MAX
						    ? 20000000ull
						    : next - vnow;
				timeout_ms = (int)(wait / 1000000);
				if (timeout_ms > 20)
					timeout_ms = 20;
			}
		}
		if (timeout_ms > 0) {
			struct epoll_event ev[4];
			epoll_wait(n->epfd, ev, 4, timeout_ms);
		}
		bd_chan_bridge_woken(n->br);
	}
}

void SimNodeFree(SimNode *n)
{
	if (n->srv)
		bd_chan_server_destroy(n->srv); // apps see "node stopped"
	if (n->br)
		bd_chan_bridge_destroy(n->br);
	for (EchoConn *e : n->echoes) {
		bd_tcp_abort(e->s);
		delete e;
	}
	for (PeerJob *j : n->jobs) {
		if (j->s)
			bd_tcp_abort(j->s);
		delete j;
	}
	if (n->echo_listener)
		bd_tcp_close(n->echo_listener);
	if (n->sim) {
		bd_stack_drop_tcp(n->node);
		bd_stack_drop_tcp(n->peer);
		bd_sim_destroy(n->sim);
	}
	if (n->stop_efd >= 0)
		close(n->stop_efd);
	if (n->epfd >= 0)
		close(n->epfd);
}

double OptNum(const Napi::Object &o, const char *k, double d)
{
	Napi::Value v = o.Get(k);
	return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : d;
}

// simNodeStart({path, echoPort = 7, rateMbps = 1000, delayMs = 0.1,
// slots, fifoSize}) -> {id, nodeAddress, peerAddress}
Napi::Value SimNodeStart(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (!info[0].IsObject())
		throw Napi::TypeError::New(env, "simNodeStart(options)");
	Napi::Object o = info[0].As<Napi::Object>();
	if (!o.Get("path").IsString())
		throw Napi::TypeError::New(env, "simNodeStart: path");
	auto n = std::make_unique<SimNode>();
	n->path = o.Get("path").As<Napi::String>().Utf8Value();
	struct bd_link_params lp;
	memset(&lp, 0, sizeof(lp));
	lp.rate_bps = (uint64_t)(OptNum(o, "rateMbps", 1000) * 1e6);
	lp.delay_ns = (uint64_t)(OptNum(o, "delayMs", 0.1) * 1e6);
	int echo_port = (int)OptNum(o, "echoPort", 7);
	n->sim = bd_sim_create(1);
	if (!n->sim || bd_sim_add_host(n->sim) != 0 ||
	    bd_sim_add_host(n->sim) != 1 ||
	    bd_sim_add_path(n->sim, 0, 1, &lp, &lp, 1500) != 0) {
		SimNodeFree(n.get());
		throw Napi::Error::New(env,
				       "sim-node: cannot build the network");
	}
	n->node = bd_sim_stack(n->sim, 0);
	n->peer = bd_sim_stack(n->sim, 1);
	bd_stack_use_tcp(n->node, nullptr);
	bd_stack_use_tcp(n->peer, nullptr);
	n->br = bd_chan_bridge_create(n->node);
	bd_stack_set_poll_hook(n->node, bd_chan_bridge_poll, n->br);
	int err = 0;
	n->echo_listener =
	    bd_tcp_listen(bd_stack_tcp(n->peer), nullptr, (uint16_t)echo_port,
			  1024, nullptr, &listen_cb, n.get(), &err);
	struct bd_chan_server_config cfg;
	memset(&cfg, 0, sizeof(cfg));
	cfg.path = n->path.c_str();
	cfg.nslots = (uint32_t)OptNum(o, "slots", 64);
	cfg.fifo_size = (uint32_t)OptNum(o, "fifoSize", 65536);
	cfg.ring_size = 256;
	cfg.allow_uid = -1;
	cfg.node_name = "sim-node";
	cfg.on_attach = OnAttach;
	cfg.on_detach = OnDetach;
	cfg.ctx = n.get();
	char e[256] = "";
	n->srv = bd_chan_server_create(&cfg, e, sizeof(e));
	if (!n->srv || !n->echo_listener) {
		SimNodeFree(n.get());
		throw Napi::Error::New(env, std::string("sim-node: ") + e);
	}
	n->stop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	n->epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	epoll_ctl(n->epfd, EPOLL_CTL_ADD, bd_chan_server_fd(n->srv), &ev);
	epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->stop_efd, &ev);
	n->t0_ns = WallNs();
	n->id = next_simnode++;
	SimNode *raw = n.get();
	n->th = std::thread([raw] { SimLoop(raw); });
	int id = n->id;
	simnodes[id] = std::move(n);
	Napi::Object r = Napi::Object::New(env);
	r.Set("id", id);
	r.Set("nodeAddress", Ip4(bd_sim_path_addr(0, 0)));
	r.Set("peerAddress", Ip4(bd_sim_path_addr(0, 1)));
	r.Set("echoPort", echo_port);
	return r;
}

SimNode *GetSimNode(const Napi::CallbackInfo &info)
{
	auto it = simnodes.find(
	    info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : -1);
	if (it == simnodes.end())
		throw Napi::Error::New(info.Env(), "no such sim-node");
	return it->second.get();
}

// simNodePeerConnect(id, port, bytes, seed) -> job id: the peer connects to
// the node's address, sends `bytes` of the seeded stream, half-closes, and
// checks that the same stream comes back.
Napi::Value SimNodePeerConnect(const Napi::CallbackInfo &info)
{
	SimNode *n = GetSimNode(info);
	auto *j = new PeerJob();
	j->n = n;
	j->port = (uint16_t)U32(info, 1, "port");
	j->total = (uint64_t)info[2].As<Napi::Number>().Int64Value();
	uint64_t seed = info[3].IsNumber()
			    ? (uint64_t)info[3].As<Napi::Number>().Int64Value()
			    : 1;
	bd_app_stream_init(&j->tx, seed);
	bd_app_stream_init(&j->rx, seed);
	std::lock_guard<std::mutex> g(n->mu);
	j->id = (int)(n->jobs.size() + n->new_jobs.size());
	n->new_jobs.push_back(j);
	uint64_t one = 1;
	ssize_t w = write(n->stop_efd, &one, sizeof(one));
	(void)w;
	return Napi::Number::New(info.Env(), j->id);
}

Napi::Value SimNodePeerResult(const Napi::CallbackInfo &info)
{
	SimNode *n = GetSimNode(info);
	uint32_t id = U32(info, 1, "job");
	std::lock_guard<std::mutex> g(n->mu);
	Napi::Object o = Napi::Object::New(info.Env());
	if (id >= n->jobs.size()) {
		o.Set("started", false);
		o.Set("done", false);
		return o;
	}
	PeerJob *j = n->jobs[id];
	o.Set("started", true);
	o.Set("done", j->done);
	o.Set("err", j->err);
	o.Set("sent", (double)j->sent);
	o.Set("received", (double)j->received);
	o.Set("match", !j->mismatch && j->received == j->total);
	return o;
}

Napi::Value SimNodeStats(const Napi::CallbackInfo &info)
{
	SimNode *n = GetSimNode(info);
	struct bd_chan_bridge_stats bs;
	std::lock_guard<std::mutex> g(n->mu);
	bd_chan_bridge_stats(n->br, &bs);
	Napi::Object o = Napi::Object::New(info.Env());
	o.Set("apps", (double)bs.apps);
	o.Set("conns", (double)bs.conns);
	o.Set("listeners", (double)bs.listeners);
	o.Set("requests", (double)bs.requests);
	o.Set("bytesToApp", (double)bs.bytes_to_app);
	o.Set("bytesFromApp", (double)bs.bytes_from_app);
	o.Set("protocolErrors", (double)bs.protocol_errors);
	o.Set("appsRemoved", (double)bs.apps_removed);
	o.Set("connsResetByRemoval", (double)bs.conns_reset_by_removal);
	o.Set("peerEchoConns", (double)n->echo_conns);
	o.Set("peerEchoBytes", (double)n->echo_bytes);
	o.Set("peerResets", (double)n->peer_resets);
	o.Set("attached", bd_chan_server_napps(n->srv));
	return o;
}

// simNodeStop(id): the node goes away; attached apps get a clear error.
Napi::Value SimNodeStop(const Napi::CallbackInfo &info)
{
	SimNode *n = GetSimNode(info);
	n->stop.store(true);
	uint64_t one = 1;
	ssize_t w = write(n->stop_efd, &one, sizeof(one));
	(void)w;
	if (n->th.joinable())
		n->th.join();
	SimNodeFree(n);
	simnodes.erase(n->id);
	return info.Env().Undefined();
}

} // namespace

void InitChan(Napi::Env env, Napi::Object exports)
{
	exports.Set("chanAttach", Napi::Function::New(env, ChanAttach));
	exports.Set("chanWatch", Napi::Function::New(env, ChanWatch));
	exports.Set("chanRef", Napi::Function::New(env, ChanRef));
	exports.Set("chanDetach", Napi::Function::New(env, ChanDetach));
	exports.Set("chanRequest", Napi::Function::New(env, ChanRequest));
	exports.Set("chanEvents", Napi::Function::New(env, ChanEvents));
	exports.Set("chanWrite", Napi::Function::New(env, ChanWrite));
	exports.Set("chanRead", Napi::Function::New(env, ChanRead));
	exports.Set("chanWritable", Napi::Function::New(env, ChanWritable));
	exports.Set("chanShutdown", Napi::Function::New(env, ChanShutdown));
	exports.Set("chanRelease", Napi::Function::New(env, ChanRelease));
	exports.Set("chanReadInfo", Napi::Function::New(env, ChanReadInfo));
	exports.Set("chanArm", Napi::Function::New(env, ChanArm));
	exports.Set("chanPause", Napi::Function::New(env, ChanPause));
	exports.Set("chanAlive", Napi::Function::New(env, ChanAlive));
	exports.Set("simNodeStart", Napi::Function::New(env, SimNodeStart));
	exports.Set("simNodePeerConnect",
		    Napi::Function::New(env, SimNodePeerConnect));
	exports.Set("simNodePeerResult",
		    Napi::Function::New(env, SimNodePeerResult));
	exports.Set("simNodeStats", Napi::Function::New(env, SimNodeStats));
	exports.Set("simNodeStop", Napi::Function::New(env, SimNodeStop));
}
