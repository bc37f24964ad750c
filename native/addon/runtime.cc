// SPDX-License-Identifier: Apache-2.0
// The DPDK runtime from Node: create the engine on DPDK ports and worker
// lcores, start and stop it, run the built-in traffic apps on workers as
// jobs, and read snapshots (worker, network, TCP and port counters). Every
// touch of a worker's stack goes through bd_rt_call (the worker's control
// ring); JavaScript never runs per packet.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

extern "C" {
#include "braid/app.h"
#include "braid/dpdk.h"
#include "braid/mptcp.h"
#include "braid/net.h"
#include "braid/tcp.h"
}

#include "addon.h"

// The bulk apps take a flags argument (BD_APP_NO_HASH) since app.h grew it.
#ifdef BD_APP_NO_HASH
#define BD_RT_APP_FLAGS(s) (s).flags,
#else
#define BD_RT_APP_FLAGS(s)
#endif

namespace
{

enum AppKind { BULK_SRC, BULK_SINK, ECHO, RR_CLIENT, RR_SERVER };

struct JobSpec;

// One app object (one connection) living on one worker.
struct App {
	AppKind kind;
	unsigned worker;
	unsigned index;
	bool started = false;
	int start_err = 0;
	const JobSpec *spec = nullptr;
	uint8_t ahead[32] = {}; // hashAhead: the stream's digest
	// MPTCP: what the connection-up hook could not do (errors of
	// bd_mptcp_add_subflow / bd_mptcp_announce, as "what: ERR").
	std::vector<std::string> up_errors;
	union {
		struct bd_app_bulk_src *src;
		struct bd_app_bulk_sink *sink;
		struct bd_app_echo *echo;
		struct bd_app_rr_client *rrc;
		struct bd_app_rr_server *rrs;
		void *any;
	} u{};
};

struct JobSpec {
	AppKind kind;
	uint32_t raddr = 0, laddr = 0;
	uint16_t port = 0;
	uint64_t bytes = 0, seed = 1;
	uint32_t req = 1, resp = 1, count = 1;
	struct bd_tcp_opts opts {
	};
	std::string cc;
	bool have_opts = false;
	unsigned flags = 0;
	// MPTCP (protocol: 'mptcp'): extra subflows a client opens once it is
	// up, and addresses announced (ADD_ADDR) once up.
	bool mptcp = false;
	struct Subflow {
		uint32_t laddr, raddr;
		uint16_t rport;
	};
	std::vector<Subflow> subflows;
	struct Announce {
		uint8_t id;
		uint32_t addr;
		uint16_t port;
	};
	std::vector<Announce> announce;
};

struct Job {
	JobSpec spec;
	std::vector<App> apps;
};

// The result of one app as copied out on its worker.
struct AppResult {
	unsigned worker, index;
	AppKind kind;
	bool started, done, closed, have_info, have_addrs;
	int err;
	uint64_t t_start, t_first, t_done;
	uint64_t bytes_sent, bytes_received;
	uint8_t digest[32];
	bool have_digest;
	struct bd_tcp_info info;
	uint32_t laddr, raddr;
	uint16_t lport, rport;
	uint32_t rr_done, rr_count;
	uint32_t p50, p90, p99, pmax, pmin;
	double mean;
	// MPTCP
	bool mptcp, have_minfo, fallback;
	int fb_reason;
	struct bd_mptcp_info minfo;
	unsigned nsf;
	struct bd_tcp_info sf_info[BD_APP_MAX_SUBFLOWS];
	uint32_t sf_laddr[BD_APP_MAX_SUBFLOWS], sf_raddr[BD_APP_MAX_SUBFLOWS];
	uint16_t sf_lport[BD_APP_MAX_SUBFLOWS], sf_rport[BD_APP_MAX_SUBFLOWS];
	bool sf_active[BD_APP_MAX_SUBFLOWS];
	std::vector<std::string> *up_errors;
};

struct Runtime {
	struct bd_rt *rt = nullptr;
	std::map<uint32_t, std::unique_ptr<Job>> jobs;
	uint32_t next_job = 1;
};

std::string ErrName(int e)
{
	switch (e) {
	case 0:
		return "";
	case BD_ECONNRESET:
		return "ECONNRESET";
	case BD_ETIMEDOUT:
		return "ETIMEDOUT";
	case BD_ECONNREFUSED:
		return "ECONNREFUSED";
	case BD_ECONNABORTED:
		return "ECONNABORTED";
	case BD_EADDRINUSE:
		return "EADDRINUSE";
	case BD_EADDRNOTAVAIL:
		return "EADDRNOTAVAIL";
	case BD_EHOSTUNREACH:
		return "EHOSTUNREACH";
	case BD_ENETUNREACH:
		return "ENETUNREACH";
	case BD_ENOMEM:
		return "ENOMEM";
	case BD_EINVAL:
		return "EINVAL";
	case BD_ENOTCONN:
		return "ENOTCONN";
	default:
		return "E" + std::to_string(e);
	}
}

Runtime *GetRt(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsExternal())
		throw Napi::TypeError::New(info.Env(),
					   "expected a runtime handle");
	Runtime *r = info[0].As<Napi::External<Runtime>>().Data();
	if (!r->rt)
		throw Napi::Error::New(info.Env(),
				       "the runtime has been destroyed");
	return r;
}

double Num(const Napi::Object &o, const char *key, double dflt, double lo,
	   double hi)
{
	Napi::Value v = o.Get(key);
	if (v.IsUndefined() || v.IsNull())
		return dflt;
	if (!v.IsNumber())
		throw Napi::TypeError::New(o.Env(), std::string(key) +
							": expected a number");
	double d = v.As<Napi::Number>().DoubleValue();
	if (!std::isfinite(d) || d < lo || d > hi || std::floor(d) != d)
		throw Napi::RangeError::New(
		    o.Env(), std::string(key) +
				 ": expected a whole number in " +
				 std::to_string((long long)lo) + ".." +
				 std::to_string((long long)hi));
	return d;
}

uint32_t ParseIp(Napi::Env env, const std::string &s, const char *what)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s.c_str(), &a) != 1)
		throw Napi::Error::New(env, std::string(what) +
						": invalid IPv4 address \"" +
						s + "\"");
	return ntohl(a.s_addr);
}

std::string IpStr(uint32_t ip)
{
	char b[20];
	snprintf(b, sizeof(b), "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 255,
		 (ip >> 8) & 255, ip & 255);
	return b;
}

std::string MacStr(const uint8_t *m)
{
	char b[20];
	snprintf(b, sizeof(b), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1],
		 m[2], m[3], m[4], m[5]);
	return b;
}

// "10.0.0.2/24" -> addr, prefix
void ParseCidr(Napi::Env env, const std::string &s, uint32_t *addr,
	       uint8_t *prefix)
{
	size_t slash = s.find('/');
	std::string ip = s.substr(0, slash);
	*prefix = 24;
	if (slash != std::string::npos) {
		std::string p = s.substr(slash + 1);
		char *end = nullptr;
		long v = strtol(p.c_str(), &end, 10);
		if (p.empty() || *end || v < 0 || v > 32)
			throw Napi::Error::New(
			    env, "invalid prefix length in \"" + s + "\"");
		*prefix = (uint8_t)v;
	}
	*addr = ParseIp(env, ip, "address");
}

// rtCreate(config) -> handle
Napi::Value RtCreate(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 1 || !info[0].IsObject())
		throw Napi::TypeError::New(env, "rtCreate: expected a config");
	Napi::Object o = info[0].As<Napi::Object>();
	struct bd_rt_config cfg;
	bd_rt_config_default(&cfg);
	cfg.nworkers = (unsigned)Num(o, "workers", 1, 1, BD_RT_MAX_WORKERS);
	cfg.mbufs = (uint32_t)Num(o, "mbufs", 0, 0, 1 << 24);
	cfg.ring_size = (uint32_t)Num(o, "ringSize", 0, 0, 1 << 20);
	cfg.seed = (uint64_t)Num(o, "seed", 1, 0, 9007199254740991.0);
	cfg.spin_us = (uint32_t)Num(o, "spinUs", 200, 1, 1e7);
	cfg.idle_sleep_min_us = (uint32_t)Num(o, "idleSleepMinUs", 50, 1, 1e6);
	cfg.idle_sleep_max_us = (uint32_t)Num(o, "idleSleepMaxUs", 200, 1, 1e6);
	if (o.Get("busyPoll").IsBoolean() &&
	    o.Get("busyPoll").As<Napi::Boolean>().Value())
		cfg.idle_sleep_max_us = UINT32_MAX;
	Napi::Value st = o.Get("steering");
	if (st.IsString()) {
		std::string s = st.As<Napi::String>().Utf8Value();
		if (s == "software")
			cfg.steering = BD_RT_STEER_SOFTWARE;
		else if (s != "auto")
			throw Napi::Error::New(
			    env, "steering: expected \"auto\" or \"software\"");
	}
	if (o.Get("tcp").IsBoolean())
		cfg.tcp = o.Get("tcp").As<Napi::Boolean>().Value();
	cfg.mptcp = cfg.tcp;
	Napi::Value mv = o.Get("mptcp");
	if (mv.IsBoolean()) {
		cfg.mptcp = cfg.tcp && mv.As<Napi::Boolean>().Value();
	} else if (mv.IsObject()) {
		Napi::Object m = mv.As<Napi::Object>();
		struct bd_mptcp_config *mc = &cfg.mptcp_cfg;
		if (!cfg.tcp)
			throw Napi::Error::New(env, "mptcp: needs tcp");
		if (m.Get("checksum").IsBoolean())
			mc->checksum =
			    m.Get("checksum").As<Napi::Boolean>().Value();
		if (m.Get("autoJoin").IsBoolean())
			mc->auto_join =
			    m.Get("autoJoin").As<Napi::Boolean>().Value();
		mc->subflows_max =
		    (uint8_t)Num(m, "subflowsMax", mc->subflows_max, 1, 8);
		mc->add_addr_accepted_max = (uint8_t)Num(
		    m, "addAddrAcceptedMax", mc->add_addr_accepted_max, 0, 8);
		mc->snd_buf =
		    (uint32_t)Num(m, "sndBuf", mc->snd_buf, 4096, 1 << 30);
		mc->rcv_buf =
		    (uint32_t)Num(m, "rcvBuf", mc->rcv_buf, 4096, 1 << 30);
	} else if (!mv.IsUndefined() && !mv.IsNull()) {
		throw Napi::TypeError::New(
		    env, "mptcp: expected a boolean or an object");
	}
	Napi::Value ports = o.Get("ports");
	if (!ports.IsArray())
		throw Napi::TypeError::New(env, "ports: expected an array");
	Napi::Array pa = ports.As<Napi::Array>();
	if (pa.Length() > BD_RT_MAX_PORTS)
		throw Napi::RangeError::New(env, "ports: too many");
	cfg.nports = pa.Length();
	for (uint32_t i = 0; i < pa.Length(); i++) {
		Napi::Object p = pa.Get(i).As<Napi::Object>();
		struct bd_rt_port_config *pc = &cfg.ports[i];
		std::string dev = p.Get("dev").ToString().Utf8Value();
		if (dev.empty() || dev.size() >= sizeof(pc->dev))
			throw Napi::Error::New(env, "ports[" +
							std::to_string(i) +
							"].dev: invalid");
		snprintf(pc->dev, sizeof(pc->dev), "%s", dev.c_str());
		Napi::Value a = p.Get("address");
		if (a.IsString())
			ParseCidr(env, a.As<Napi::String>().Utf8Value(),
				  &pc->ipv4, &pc->prefix_len);
		Napi::Value gw = p.Get("gateway");
		if (gw.IsString())
			pc->gateway = ParseIp(
			    env, gw.As<Napi::String>().Utf8Value(), "gateway");
		pc->mtu = (uint16_t)Num(p, "mtu", 0, 0, 9000);
		pc->rx_desc = (uint16_t)Num(p, "rxDesc", 0, 0, 32768);
		pc->tx_desc = (uint16_t)Num(p, "txDesc", 0, 0, 32768);
		Napi::Value cs = p.Get("checksum");
		if (!cs.IsUndefined()) {
			std::string v = cs.IsString()
					    ? cs.As<Napi::String>().Utf8Value()
					    : std::string("?");
			if (v != "on" && v != "off")
				throw Napi::Error::New(
				    env, "ports[" + std::to_string(i) +
					     "].checksum: expected \"on\" or "
					     "\"off\" (\"off\" only on a "
					     "trusted net_memif link)");
			pc->csum_off = v == "off";
		}
	}
	char err[256] = "";
	struct bd_rt *rt = bd_rt_create(&cfg, err, sizeof(err));
	if (!rt)
		throw Napi::Error::New(env, std::string("runtime: ") + err);
	Runtime *r = new Runtime();
	r->rt = rt;
	return Napi::External<Runtime>::New(env, r);
}

Napi::Value RtStart(const Napi::CallbackInfo &info)
{
	Runtime *r = GetRt(info);
	char err[256] = "";
	if (bd_rt_start(r->rt, err, sizeof(err)) != 0)
		throw Napi::Error::New(info.Env(),
				       std::string("start: ") + err);
	return info.Env().Undefined();
}

Napi::Value RtPin(const Napi::CallbackInfo &info)
{
	Runtime *r = GetRt(info);
	uint32_t port = info[1].As<Napi::Number>().Uint32Value();
	uint32_t w = info[2].As<Napi::Number>().Uint32Value();
	if (port > 65535 || bd_rt_pin_port(r->rt, (uint16_t)port, w) != 0)
		throw Napi::Error::New(info.Env(),
				       "pinPort: bad port or worker, or "
				       "already running");
	return info.Env().Undefined();
}

Napi::Value RtOwner(const Napi::CallbackInfo &info)
{
	Runtime *r = GetRt(info);
	uint32_t raddr = ParseIp(
	    info.Env(), info[1].As<Napi::String>().Utf8Value(), "address");
	uint32_t rport = info[2].As<Napi::Number>().Uint32Value();
	uint32_t lport = info[3].As<Napi::Number>().Uint32Value();
	return Napi::Number::New(
	    info.Env(),
	    bd_rt_owner(r->rt, raddr, (uint16_t)rport, (uint16_t)lport));
}

// --- jobs -------------------------------------------------------------------

struct StartArg {
	Job *job;
	unsigned worker;
	struct bd_mptcp_stack *ms;
};

struct bd_app_conn *ConnOf(App &a);

// MPTCP connection up (client connected, server accepted): open the extra
// subflows and announce the addresses the job asks for.
void MptcpUp(struct bd_app_conn *c, void *arg)
{
	App *a = (App *)arg;
	const JobSpec &s = *a->spec;
	for (const JobSpec::Subflow &f : s.subflows) {
		struct bd_ipaddr la = bd_ip4(f.laddr), ra = bd_ip4(f.raddr);
		int rc = bd_mptcp_add_subflow(c->msock, f.laddr ? &la : nullptr,
					      &ra, f.rport);
		if (rc < 0)
			a->up_errors.push_back("subflow " + IpStr(f.laddr) +
					       " -> " + IpStr(f.raddr) + ": " +
					       ErrName(-rc));
	}
	for (const JobSpec::Announce &n : s.announce) {
		struct bd_ipaddr ad = bd_ip4(n.addr);
		int rc = bd_mptcp_announce(c->msock, n.id, &ad, n.port);
		if (rc < 0)
			a->up_errors.push_back("announce " + IpStr(n.addr) +
					       ": " + ErrName(-rc));
	}
}

int StartMptcp(App &a, struct bd_stack *st, struct bd_mptcp_stack *ms,
	       const JobSpec &s, const struct bd_ipaddr &raddr,
	       const struct bd_ipaddr &laddr)
{
	const struct bd_ipaddr *lp = s.laddr ? &laddr : nullptr;
	int rc = -BD_EINVAL;
	if (!ms)
		return -BD_EINVAL;
	switch (a.kind) {
	case BULK_SRC:
		rc = bd_app_bulk_src_start_mptcp(a.u.src, st, ms, lp, &raddr,
						 s.port, s.bytes,
						 s.seed + a.index, s.flags);
		break;
	case BULK_SINK:
		rc = bd_app_bulk_sink_start_mptcp(a.u.sink, st, ms, s.port,
						  s.flags);
		break;
	case ECHO:
		rc = bd_app_echo_start_mptcp(a.u.echo, st, ms, s.port);
		break;
	case RR_CLIENT:
		rc = bd_app_rr_client_start_mptcp(a.u.rrc, st, ms, lp, &raddr,
						  s.port, s.req, s.resp,
						  s.count);
		break;
	case RR_SERVER:
		rc = bd_app_rr_server_start_mptcp(a.u.rrs, st, ms, s.port,
						  s.req, s.resp);
		break;
	}
	if (rc == 0 && (!s.subflows.empty() || !s.announce.empty())) {
		ConnOf(a)->on_up = MptcpUp;
		ConnOf(a)->on_up_arg = &a;
	}
	return rc;
}

// A hash-ahead source reports the digest computed before it started.
void AheadDigest(App &a, const JobSpec &s, int rc)
{
#ifdef BD_APP_HASH_AHEAD
	if (rc == 0 && a.kind == BULK_SRC && a.u.src->ahead)
		memcpy(a.u.src->digest, a.ahead, 32);
#else
	(void)a;
	(void)s;
	(void)rc;
#endif
}

void StartOnWorker(struct bd_stack *st, unsigned w, void *arg)
{
	StartArg *sa = (StartArg *)arg;
	Job *job = sa->job;
	JobSpec &s = job->spec;
	struct bd_ipaddr raddr = bd_ip4(s.raddr), laddr = bd_ip4(s.laddr);
	const struct bd_tcp_opts *opts = s.have_opts ? &s.opts : nullptr;
	struct bd_mptcp_stack *ms = sa->ms;
	for (App &a : job->apps) {
		int rc = -BD_EINVAL;
		if (a.worker != w)
			continue;
		if (s.mptcp) {
			rc = StartMptcp(a, st, ms, s, raddr, laddr);
			AheadDigest(a, s, rc);
			a.started = true;
			a.start_err = rc < 0 ? -rc : 0;
			continue;
		}
		switch (a.kind) {
		case BULK_SRC:
			rc = bd_app_bulk_src_start(
			    a.u.src, st, s.laddr ? &laddr : nullptr, &raddr,
			    s.port, s.bytes, s.seed + a.index,
			    BD_RT_APP_FLAGS(s) opts);
			break;
		case BULK_SINK:
			rc = bd_app_bulk_sink_start(a.u.sink, st, s.port,
						    BD_RT_APP_FLAGS(s) opts);
			break;
		case ECHO:
			rc = bd_app_echo_start(a.u.echo, st, s.port, opts);
			break;
		case RR_CLIENT:
			rc = bd_app_rr_client_start(
			    a.u.rrc, st, s.laddr ? &laddr : nullptr, &raddr,
			    s.port, s.req, s.resp, s.count, opts);
			break;
		case RR_SERVER:
			rc = bd_app_rr_server_start(a.u.rrs, st, s.port, s.req,
						    s.resp, opts);
			break;
		}
		AheadDigest(a, s, rc);
		a.started = true;
		a.start_err = rc < 0 ? -rc : 0;
	}
}

struct bd_app_conn *ConnOf(App &a)
{
	switch (a.kind) {
	case BULK_SRC:
		return &a.u.src->c;
	case BULK_SINK:
		return &a.u.sink->c;
	case ECHO:
		return &a.u.echo->c;
	case RR_CLIENT:
		return &a.u.rrc->c;
	case RR_SERVER:
		return &a.u.rrs->c;
	}
	return nullptr;
}

struct PollArg {
	Job *job;
	std::vector<AppResult> *out;
	bool fini;
};

void Collect(App &a, AppResult &r)
{
	memset(&r, 0, sizeof(r));
	r.worker = a.worker;
	r.index = a.index;
	r.kind = a.kind;
	r.started = a.started;
	struct bd_app_conn *c = ConnOf(a);
	if (a.start_err) {
		r.err = a.start_err;
		r.done = true;
		return;
	}
	r.done = c->done;
	r.closed = c->closed;
	r.err = c->err;
	r.t_start = c->t_start_us;
	r.t_first = c->t_first_us;
	r.t_done = c->t_done_us;
	if (c->have_info) {
		r.info = c->info;
		r.have_info = true;
	}
	r.up_errors = &a.up_errors;
	if (c->ms) {
		r.mptcp = true;
		if (c->msock)
			bd_app_snapshot(c);
		r.have_minfo = c->have_minfo;
		r.minfo = c->minfo;
		r.fallback = c->fallback;
		r.fb_reason = c->fb_reason;
		r.nsf = c->nsubflows;
		for (unsigned i = 0; i < c->nsubflows; i++) {
			r.sf_info[i] = c->sf_info[i];
			r.sf_laddr[i] = c->sf_laddr[i].v4;
			r.sf_raddr[i] = c->sf_raddr[i].v4;
			r.sf_lport[i] = c->sf_lport[i];
			r.sf_rport[i] = c->sf_rport[i];
			r.sf_active[i] = c->sf_active[i];
		}
		if (c->nsubflows) {
			r.have_info = c->have_info;
			r.info = c->info;
			r.laddr = r.sf_laddr[0];
			r.raddr = r.sf_raddr[0];
			r.lport = r.sf_lport[0];
			r.rport = r.sf_rport[0];
			r.have_addrs = true;
		}
	}
	if (c->sock) {
		struct bd_ipaddr la, ra;
		if (bd_tcp_get_info(c->sock, &r.info) == 0)
			r.have_info = true;
		bd_tcp_get_addrs(c->sock, &la, &r.lport, &ra, &r.rport);
		r.laddr = la.v4;
		r.raddr = ra.v4;
		r.have_addrs = true;
	}
	switch (a.kind) {
	case BULK_SRC:
		r.bytes_sent = a.u.src->queued;
		if (a.u.src->queued == a.u.src->total && c->t_first_us) {
			memcpy(r.digest, a.u.src->digest, 32);
			r.have_digest = true;
		}
		break;
	case BULK_SINK:
		r.bytes_received = a.u.sink->received;
		if (c->done && !c->err) {
			memcpy(r.digest, a.u.sink->digest, 32);
			r.have_digest = true;
		}
		break;
	case ECHO:
		r.bytes_sent = r.bytes_received = a.u.echo->echoed;
		break;
	case RR_CLIENT: {
		struct bd_app_rr_client *k = a.u.rrc;
		r.bytes_sent = k->bytes_sent;
		r.bytes_received = k->bytes_received;
		r.rr_done = k->done_count;
		r.rr_count = k->count;
		/* Percentiles once the client is done: sorting its samples
		 * here, on the worker, while it runs would hold up the
		 * transactions of every poll (about 1 ms per 20000). */
		if (k->done_count && k->lat_us && c->done) {
			std::vector<uint32_t> v(k->lat_us,
						k->lat_us + k->done_count);
			double sum = 0;
			for (uint32_t x : v)
				sum += x;
			r.mean = sum / v.size();
			r.p50 =
			    bd_app_percentile(v.data(), (uint32_t)v.size(), 50);
			r.p90 =
			    bd_app_percentile(v.data(), (uint32_t)v.size(), 90);
			r.p99 =
			    bd_app_percentile(v.data(), (uint32_t)v.size(), 99);
			r.pmax = v.back();
			r.pmin = v.front();
		}
		break;
	}
	case RR_SERVER:
		r.bytes_received = a.u.rrs->served;
		break;
	}
}

void FiniApp(App &a)
{
	if (!a.started)
		return;
	switch (a.kind) {
	case BULK_SRC:
		bd_app_bulk_src_fini(a.u.src);
		break;
	case BULK_SINK:
		bd_app_bulk_sink_fini(a.u.sink);
		break;
	case ECHO:
		bd_app_echo_fini(a.u.echo);
		break;
	case RR_CLIENT:
		bd_app_rr_client_fini(a.u.rrc);
		break;
	case RR_SERVER:
		bd_app_rr_server_fini(a.u.rrs);
		break;
	}
	a.started = false;
}

void PollOnWorker(struct bd_stack *st, unsigned w, void *arg)
{
	(void)st;
	PollArg *pa = (PollArg *)arg;
	for (App &a : pa->job->apps) {
		if (a.worker != w)
			continue;
		AppResult r;
		Collect(a, r);
		pa->out->push_back(r);
		if (pa->fini)
			FiniApp(a);
	}
}

struct DoneArg {
	Job *job;
	bool all;
};

// Whether every connection of the job on this worker is done: what waitJob
// polls for, without collecting results (no tcp_info, no objects).
void DoneOnWorker(struct bd_stack *st, unsigned w, void *arg)
{
	(void)st;
	DoneArg *da = (DoneArg *)arg;
	for (App &a : da->job->apps)
		if (a.worker == w && !a.start_err && !ConnOf(a)->done)
			da->all = false;
}

Napi::Object InfoObj(Napi::Env env, const struct bd_tcp_info &ti)
{
	Napi::Object o = Napi::Object::New(env);
	for (const struct bd_tcp_field *f = bd_tcp_info_fields; f->name; f++) {
		const uint8_t *p = (const uint8_t *)&ti + f->offset;
		if (f->size == 8) {
			uint64_t v;
			memcpy(&v, p, 8);
			o.Set(f->name, (double)v);
		} else if (f->size == 4) {
			uint32_t v;
			memcpy(&v, p, 4);
			o.Set(f->name, v);
		}
	}
	o.Set("cc", std::string(ti.cc, strnlen(ti.cc, sizeof(ti.cc))));
	o.Set("state_name", bd_tcp_state_name((int)ti.state));
	return o;
}

const char *FallbackName(int reason)
{
	switch (reason) {
	case BD_MPTCP_FB_NONE:
		return "";
	case BD_MPTCP_FB_NO_SYNACK_MPC:
		return "SYN-ACK without MP_CAPABLE";
	case BD_MPTCP_FB_NO_ACK_MPC:
		return "third ACK without MP_CAPABLE";
	case BD_MPTCP_FB_NO_DSS:
		return "first data without a DSS mapping";
	case BD_MPTCP_FB_CSUM:
		return "DSS checksum failure";
	case BD_MPTCP_FB_INFINITE:
		return "peer sent an infinite mapping";
	case BD_MPTCP_FB_PLAIN_PEER:
		return "SYN without MP_CAPABLE";
	}
	return "unknown";
}

Napi::Object MptcpObj(Napi::Env env, const AppResult &r)
{
	Napi::Object m = Napi::Object::New(env);
	m.Set("fallback", r.fallback);
	m.Set("fallbackReason", FallbackName(r.fb_reason));
	if (r.have_minfo)
		m.Set("info", MptcpFieldsToJs(env, bd_mptcp_info_fields,
					      &r.minfo, false));
	Napi::Array sfs = Napi::Array::New(env, r.nsf);
	for (unsigned i = 0; i < r.nsf; i++) {
		Napi::Object f = Napi::Object::New(env);
		f.Set("local", IpStr(r.sf_laddr[i]) + ":" +
				   std::to_string(r.sf_lport[i]));
		f.Set("remote", IpStr(r.sf_raddr[i]) + ":" +
				    std::to_string(r.sf_rport[i]));
		f.Set("active", r.sf_active[i]);
		f.Set("tcpInfo", InfoObj(env, r.sf_info[i]));
		sfs.Set(i, f);
	}
	m.Set("subflows", sfs);
	Napi::Array errs = Napi::Array::New(env);
	if (r.up_errors)
		for (size_t i = 0; i < r.up_errors->size(); i++)
			errs.Set((uint32_t)i, (*r.up_errors)[i]);
	m.Set("upErrors", errs);
	return m;
}

const char *KindName(AppKind k)
{
	switch (k) {
	case BULK_SRC:
		return "bulk-src";
	case BULK_SINK:
		return "bulk-sink";
	case ECHO:
		return "echo";
	case RR_CLIENT:
		return "rr-client";
	case RR_SERVER:
		return "rr-server";
	}
	return "?";
}

Napi::Array Results(Napi::Env env, std::vector<AppResult> &res)
{
	Napi::Array arr = Napi::Array::New(env, res.size());
	uint32_t i = 0;
	for (AppResult &r : res) {
		Napi::Object o = Napi::Object::New(env);
		o.Set("worker", r.worker);
		o.Set("index", r.index);
		o.Set("app", KindName(r.kind));
		o.Set("done", r.done);
		o.Set("closed", r.closed);
		o.Set("error", ErrName(r.err));
		o.Set("tStartUs", (double)r.t_start);
		o.Set("tFirstUs", (double)r.t_first);
		o.Set("tDoneUs", (double)r.t_done);
		o.Set("bytesSent", (double)r.bytes_sent);
		o.Set("bytesReceived", (double)r.bytes_received);
		if (r.have_digest) {
			char hex[65];
			for (int k = 0; k < 32; k++)
				snprintf(hex + 2 * k, 3, "%02x", r.digest[k]);
			o.Set("sha256", hex);
		}
		if (r.have_addrs) {
			o.Set("local",
			      IpStr(r.laddr) + ":" + std::to_string(r.lport));
			o.Set("remote",
			      IpStr(r.raddr) + ":" + std::to_string(r.rport));
			o.Set("localPort", r.lport);
			o.Set("remotePort", r.rport);
		}
		if (r.have_info)
			o.Set("tcpInfo", InfoObj(env, r.info));
		if (r.mptcp)
			o.Set("mptcp", MptcpObj(env, r));
		if (r.kind == RR_CLIENT) {
			Napi::Object l = Napi::Object::New(env);
			l.Set("count", r.rr_done);
			l.Set("of", r.rr_count);
			l.Set("minUs", r.pmin);
			l.Set("meanUs", r.mean);
			l.Set("p50Us", r.p50);
			l.Set("p90Us", r.p90);
			l.Set("p99Us", r.p99);
			l.Set("maxUs", r.pmax);
			o.Set("latency", l);
		}
		arr.Set(i++, o);
	}
	return arr;
}

// The `mptcp` part of a job spec: {subflows: [{local, remote?, port?}],
// announce: [{address, id?, port?}]}.
void ParseMptcpJob(Napi::Env env, Runtime *r, const Napi::Object &o, JobSpec &s,
		   bool client)
{
	if (!bd_rt_mptcp(r->rt, 0))
		throw Napi::Error::New(
		    env, "protocol mptcp: the runtime has no MPTCP (config "
			 "mptcp: false or tcp: false)");
	if (s.have_opts)
		throw Napi::Error::New(
		    env, "protocol mptcp: cc, noDelay, sndBuf and rcvBuf are "
			 "TCP options (MPTCP buffers come from the runtime's "
			 "mptcp config)");
	Napi::Value mv = o.Get("mptcp");
	if (mv.IsUndefined() || mv.IsNull())
		return;
	if (!mv.IsObject())
		throw Napi::TypeError::New(env, "mptcp: expected an object");
	Napi::Object m = mv.As<Napi::Object>();
	Napi::Value sv = m.Get("subflows");
	if (sv.IsArray()) {
		Napi::Array a = sv.As<Napi::Array>();
		if (!client && a.Length())
			throw Napi::Error::New(
			    env, "mptcp.subflows: only clients open subflows");
		if (a.Length() >= BD_APP_MAX_SUBFLOWS)
			throw Napi::RangeError::New(
			    env, "mptcp.subflows: at most " +
				     std::to_string(BD_APP_MAX_SUBFLOWS - 1));
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Object f = a.Get(i).As<Napi::Object>();
			JobSpec::Subflow sf{0, s.raddr, s.port};
			Napi::Value l = f.Get("local"), rm = f.Get("remote");
			if (l.IsString())
				sf.laddr = ParseIp(
				    env, l.As<Napi::String>().Utf8Value(),
				    "mptcp.subflows[].local");
			if (rm.IsString())
				sf.raddr = ParseIp(
				    env, rm.As<Napi::String>().Utf8Value(),
				    "mptcp.subflows[].remote");
			sf.rport = (uint16_t)Num(f, "port", s.port, 1, 65535);
			s.subflows.push_back(sf);
		}
	}
	Napi::Value av = m.Get("announce");
	if (av.IsArray()) {
		Napi::Array a = av.As<Napi::Array>();
		for (uint32_t i = 0; i < a.Length(); i++) {
			Napi::Object n = a.Get(i).As<Napi::Object>();
			JobSpec::Announce an{0, 0, 0};
			Napi::Value ad = n.Get("address");
			if (!ad.IsString())
				throw Napi::Error::New(
				    env, "mptcp.announce[].address: needed");
			an.addr =
			    ParseIp(env, ad.As<Napi::String>().Utf8Value(),
				    "mptcp.announce[].address");
			an.id = (uint8_t)Num(n, "id", i + 1, 1, 255);
			an.port = (uint16_t)Num(n, "port", 0, 0, 65535);
			s.announce.push_back(an);
		}
	}
}

// The job named by info[1]; throws when there is none.
std::map<uint32_t, std::unique_ptr<Job>>::iterator
FindJob(const Napi::CallbackInfo &info, Runtime *r)
{
	uint32_t id = info[1].As<Napi::Number>().Uint32Value();
	auto it = r->jobs.find(id);
	if (it == r->jobs.end())
		throw Napi::Error::New(info.Env(),
				       "no job " + std::to_string(id));
	return it;
}

// fn(arg) on worker w; throws when the worker does not answer.
void CallWorker(Napi::Env env, Runtime *r, unsigned w, bd_rt_fn fn, void *arg,
		unsigned timeout_ms = 10000, const std::string &what = "")
{
	if (bd_rt_call(r->rt, w, fn, arg, timeout_ms) != 0)
		throw Napi::Error::New(env, what + "worker " +
						std::to_string(w) +
						" did not answer");
}

// rtJobStart(h, spec) -> id
Napi::Value RtJobStart(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Runtime *r = GetRt(info);
	if (info.Length() < 2 || !info[1].IsObject())
		throw Napi::TypeError::New(env, "jobStart: expected a spec");
	Napi::Object o = info[1].As<Napi::Object>();
	std::unique_ptr<Job> job(new Job());
	JobSpec &s = job->spec;
	std::string app = o.Get("app").ToString().Utf8Value();
	if (app == "bulk-src")
		s.kind = BULK_SRC;
	else if (app == "bulk-sink")
		s.kind = BULK_SINK;
	else if (app == "echo")
		s.kind = ECHO;
	else if (app == "rr-client")
		s.kind = RR_CLIENT;
	else if (app == "rr-server")
		s.kind = RR_SERVER;
	else
		throw Napi::Error::New(env,
				       "jobStart: unknown app \"" + app + "\"");
	bool client = s.kind == BULK_SRC || s.kind == RR_CLIENT;
	if (client) {
		Napi::Value ra = o.Get("remote");
		if (!ra.IsString())
			throw Napi::Error::New(
			    env, "jobStart: remote address needed");
		s.raddr =
		    ParseIp(env, ra.As<Napi::String>().Utf8Value(), "remote");
		if (!s.raddr || s.raddr == 0xffffffffu ||
		    (s.raddr >> 28) == 0xe)
			throw Napi::Error::New(env,
					       "remote: not a unicast address");
	}
	Napi::Value la = o.Get("local");
	if (la.IsString())
		s.laddr =
		    ParseIp(env, la.As<Napi::String>().Utf8Value(), "local");
	s.port = (uint16_t)Num(o, "port", 5201, 1, 65535);
	s.bytes = (uint64_t)Num(o, "bytes", 1 << 20, 0, 9007199254740991.0);
	s.seed = (uint64_t)Num(o, "seed", 1, 0, 9007199254740991.0);
	s.req = (uint32_t)Num(o, "reqSize", 1, 1, 1 << 24);
	s.resp = (uint32_t)Num(o, "respSize", 1, 1, 1 << 24);
	s.count = (uint32_t)Num(o, "count", 1000, 1, 1 << 26);
#ifdef BD_APP_NO_HASH
	if (o.Get("noHash").IsBoolean() &&
	    o.Get("noHash").As<Napi::Boolean>().Value())
		s.flags |= BD_APP_NO_HASH;
#endif
#ifdef BD_APP_HASH_AHEAD
	if (o.Get("hashAhead").IsBoolean() &&
	    o.Get("hashAhead").As<Napi::Boolean>().Value())
		s.flags |= BD_APP_HASH_AHEAD;
#endif
	Napi::Value cc = o.Get("cc");
	if (cc.IsString()) {
		s.cc = cc.As<Napi::String>().Utf8Value();
		s.opts.cc = s.cc.c_str();
		s.have_opts = true;
	}
	if (o.Get("noDelay").IsBoolean()) {
		s.opts.nagle = !o.Get("noDelay").As<Napi::Boolean>().Value();
		s.have_opts = true;
	}
	s.opts.snd_buf = (uint32_t)Num(o, "sndBuf", 0, 0, 1 << 30);
	s.opts.rcv_buf = (uint32_t)Num(o, "rcvBuf", 0, 0, 1 << 30);
	if (s.opts.snd_buf || s.opts.rcv_buf)
		s.have_opts = true;
	Napi::Value proto = o.Get("protocol");
	if (proto.IsString()) {
		std::string p = proto.As<Napi::String>().Utf8Value();
		if (p == "mptcp")
			s.mptcp = true;
		else if (p != "tcp")
			throw Napi::Error::New(
			    env, "protocol: expected \"tcp\" or \"mptcp\"");
	}
	if (s.mptcp)
		ParseMptcpJob(env, r, o, s, client);
	unsigned nw = bd_rt_nworkers(r->rt);
	std::vector<unsigned> workers;
	Napi::Value wv = o.Get("workers");
	if (wv.IsArray()) {
		Napi::Array wa = wv.As<Napi::Array>();
		for (uint32_t i = 0; i < wa.Length(); i++) {
			uint32_t w = wa.Get(i).As<Napi::Number>().Uint32Value();
			if (w >= nw)
				throw Napi::RangeError::New(
				    env,
				    "workers: no worker " + std::to_string(w));
			workers.push_back(w);
		}
	} else if (wv.IsString() &&
		   wv.As<Napi::String>().Utf8Value() == "all") {
		for (unsigned w = 0; w < nw; w++)
			workers.push_back(w);
	} else {
		workers.push_back(0);
	}
	unsigned per = (unsigned)Num(o, "connections", 1, 1, 100000);
	if (!client && per != 1)
		throw Napi::RangeError::New(
		    env, "connections: a server app serves one connection "
			 "per worker");
	unsigned index = 0;
	for (unsigned w : workers) {
		for (unsigned k = 0; k < per; k++) {
			App a;
			a.kind = s.kind;
			a.worker = w;
			a.index = index++;
			size_t sz = 0;
			switch (s.kind) {
			case BULK_SRC:
				sz = sizeof(struct bd_app_bulk_src);
				break;
			case BULK_SINK:
				sz = sizeof(struct bd_app_bulk_sink);
				break;
			case ECHO:
				sz = sizeof(struct bd_app_echo);
				break;
			case RR_CLIENT:
				sz = sizeof(struct bd_app_rr_client);
				break;
			case RR_SERVER:
				sz = sizeof(struct bd_app_rr_server);
				break;
			}
			a.spec = &job->spec;
#ifdef BD_APP_HASH_AHEAD
			// The stream's digest here, on the Node thread: the
			// worker only generates it (a worker busy hashing
			// would start the connection with a stale clock).
			if (s.kind == BULK_SRC && (s.flags & BD_APP_HASH_AHEAD))
				bd_app_stream_digest(s.seed + a.index, s.bytes,
						     a.ahead);
#endif
			a.u.any = calloc(1, sz);
			if (!a.u.any)
				throw Napi::Error::New(env, "out of memory");
			job->apps.push_back(a);
		}
	}
	Job *jp = job.get();
	uint32_t id = r->next_job++;
	r->jobs[id] = std::move(job);
	for (unsigned w : workers) {
		StartArg sa{jp, w, bd_rt_mptcp(r->rt, w)};
		CallWorker(env, r, w, StartOnWorker, &sa, 10000, "jobStart: ");
	}
	return Napi::Number::New(env, id);
}

std::vector<unsigned> JobWorkers(Job *job)
{
	std::vector<unsigned> ws;
	for (App &a : job->apps) {
		bool seen = false;
		for (unsigned w : ws)
			seen = seen || w == a.worker;
		if (!seen)
			ws.push_back(a.worker);
	}
	return ws;
}

Napi::Value JobPollOrStop(const Napi::CallbackInfo &info, bool fini)
{
	Napi::Env env = info.Env();
	Runtime *r = GetRt(info);
	auto it = FindJob(info, r);
	Job *job = it->second.get();
	std::vector<AppResult> res;
	for (unsigned w : JobWorkers(job)) {
		PollArg pa{job, &res, fini};
		CallWorker(env, r, w, PollOnWorker, &pa);
	}
	bool all = true;
	for (AppResult &x : res)
		all = all && x.done;
	Napi::Object out = Napi::Object::New(env);
	out.Set("done", all);
	out.Set("conns", Results(env, res));
	if (fini) {
		for (App &a : job->apps)
			free(a.u.any);
		r->jobs.erase(it);
	}
	return out;
}

Napi::Value RtJobDone(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Runtime *r = GetRt(info);
	DoneArg da{FindJob(info, r)->second.get(), true};
	for (unsigned w : JobWorkers(da.job)) {
		CallWorker(env, r, w, DoneOnWorker, &da);
		if (!da.all)
			break;
	}
	return Napi::Boolean::New(env, da.all);
}

Napi::Value RtJobPoll(const Napi::CallbackInfo &info)
{
	return JobPollOrStop(info, false);
}

Napi::Value RtJobStop(const Napi::CallbackInfo &info)
{
	return JobPollOrStop(info, true);
}

// --- stats ------------------------------------------------------------------

struct SnapArg {
	struct bd_net_stats net;
	struct bd_tcp_mib tcp;
	bool have_tcp;
	struct bd_mptcp_mib mptcp;
	bool have_mptcp;
	struct bd_rt *rt;
};

void SnapOnWorker(struct bd_stack *st, unsigned w, void *arg)
{
	SnapArg *s = (SnapArg *)arg;
	memcpy(&s->net, bd_stack_stats(st), sizeof(s->net));
	struct bd_tcp_stack *ts = bd_stack_tcp(st);
	if (ts) {
		memcpy(&s->tcp, bd_tcp_get_mib(ts), sizeof(s->tcp));
		s->have_tcp = true;
	}
	struct bd_mptcp_stack *ms = bd_rt_mptcp(s->rt, w);
	if (ms) {
		memcpy(&s->mptcp, bd_mptcp_get_mib(ms), sizeof(s->mptcp));
		s->have_mptcp = true;
	}
}

Napi::Value RtStats(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Runtime *r = GetRt(info);
	Napi::Object out = Napi::Object::New(env);
	Napi::Array workers = Napi::Array::New(env);
	for (unsigned w = 0; w < bd_rt_nworkers(r->rt); w++) {
		struct bd_rt_worker_stats ws;
		SnapArg sa;
		memset(&sa, 0, sizeof(sa));
		sa.rt = r->rt;
		if (bd_rt_worker_stats(r->rt, w, &ws) != 0 ||
		    bd_rt_call(r->rt, w, SnapOnWorker, &sa, 5000) != 0)
			throw Napi::Error::New(env, "worker " +
							std::to_string(w) +
							" did not answer");
		Napi::Object o = Napi::Object::New(env);
		o.Set("worker", w);
#define RT_SET(f) o.Set(#f, (double)ws.f)
		RT_SET(polls);
		RT_SET(busy_polls);
		RT_SET(idle_polls);
		RT_SET(sleeps);
		RT_SET(sleep_us);
		RT_SET(rx_frames);
		RT_SET(rx_own);
		RT_SET(disp_out);
		RT_SET(disp_in);
		RT_SET(disp_drops);
		RT_SET(arp_copies);
		RT_SET(join_steered);
		RT_SET(flow_steered);
		RT_SET(join_refused);
		RT_SET(rx_bad);
		RT_SET(tx_frames);
		RT_SET(tx_full);
		RT_SET(tx_ref);
		RT_SET(ctl_calls);
		RT_SET(link_changes);
#undef RT_SET
		Napi::Object net = Napi::Object::New(env);
		for (size_t i = 0; i < bd_net_counter_count; i++) {
			uint64_t v;
			memcpy(&v,
			       (const uint8_t *)&sa.net +
				   bd_net_counter_table[i].offset,
			       8);
			net.Set(bd_net_counter_table[i].name, (double)v);
		}
		o.Set("net", net);
		if (sa.have_tcp) {
			Napi::Object tcp = Napi::Object::New(env);
			for (const struct bd_tcp_field *f = bd_tcp_mib_fields;
			     f->name; f++) {
				uint64_t v;
				memcpy(&v, (const uint8_t *)&sa.tcp + f->offset,
				       8);
				tcp.Set(f->name, (double)v);
			}
			o.Set("tcp", tcp);
		}
		if (sa.have_mptcp) {
			// Kernel nstat names: MPTcpExt<counter>.
			Napi::Object m = Napi::Object::New(env);
			for (const struct bd_mptcp_field *f =
				 bd_mptcp_mib_fields;
			     f->name; f++) {
				uint64_t v;
				memcpy(&v,
				       (const uint8_t *)&sa.mptcp + f->offset,
				       8);
				m.Set(std::string("MPTcpExt") + f->name,
				      (double)v);
			}
			o.Set("mptcp", m);
		}
		workers.Set(w, o);
	}
	out.Set("workers", workers);
	Napi::Array ports = Napi::Array::New(env);
	for (unsigned i = 0;; i++) {
		struct bd_rt_port_info pi;
		if (bd_rt_port_info(r->rt, i, &pi) != 0)
			break;
		Napi::Object p = Napi::Object::New(env);
		p.Set("dev", pi.dev);
		p.Set("driver", pi.driver);
		p.Set("portId", pi.port_id);
		p.Set("mac", MacStr(pi.mac));
		p.Set("mtu", pi.mtu);
		p.Set("rxQueues", pi.nrxq);
		p.Set("txQueues", pi.ntxq);
		p.Set("linkUp", pi.link_up);
		p.Set("linkSpeedMbps", pi.link_speed_mbps);
		Napi::Object caps = Napi::Object::New(env);
		caps.Set("ipCsumRx", (pi.caps & BD_PORT_CAP_IP_CSUM_RX) != 0);
		caps.Set("l4CsumRx", (pi.caps & BD_PORT_CAP_L4_CSUM_RX) != 0);
		caps.Set("ipCsumTx", (pi.caps & BD_PORT_CAP_IP_CSUM_TX) != 0);
		caps.Set("l4CsumTx", (pi.caps & BD_PORT_CAP_L4_CSUM_TX) != 0);
		p.Set("offloads", caps);
		p.Set("txRef", (pi.caps & BD_PORT_CAP_TX_REF) != 0);
		p.Set("checksum", pi.csum_off ? "off" : "on");
		p.Set("steering", pi.flow_steering ? "rte_flow" : "software");
		if (!pi.flow_steering)
			p.Set("steeringReason", pi.flow_reason);
		p.Set("ipackets", (double)pi.ipackets);
		p.Set("opackets", (double)pi.opackets);
		p.Set("ibytes", (double)pi.ibytes);
		p.Set("obytes", (double)pi.obytes);
		p.Set("imissed", (double)pi.imissed);
		p.Set("ierrors", (double)pi.ierrors);
		p.Set("oerrors", (double)pi.oerrors);
		p.Set("rxNoMbuf", (double)pi.rx_nombuf);
		ports.Set(i, p);
	}
	out.Set("ports", ports);
	out.Set("nowUs", (double)bd_rt_now_us(r->rt));
	return out;
}

Napi::Value RtEphBlock(const Napi::CallbackInfo &info)
{
	Runtime *r = GetRt(info);
	uint32_t w = info[1].As<Napi::Number>().Uint32Value();
	if (w >= bd_rt_nworkers(r->rt))
		throw Napi::RangeError::New(info.Env(), "no such worker");
	uint16_t lo, hi;
	bd_rt_eph_block(r->rt, w, &lo, &hi);
	Napi::Array a = Napi::Array::New(info.Env(), 2);
	a.Set(0u, lo);
	a.Set(1u, hi);
	return a;
}

Napi::Value RtDestroy(const Napi::CallbackInfo &info)
{
	if (info.Length() < 1 || !info[0].IsExternal())
		throw Napi::TypeError::New(info.Env(),
					   "expected a runtime handle");
	Runtime *r = info[0].As<Napi::External<Runtime>>().Data();
	if (!r->rt)
		return info.Env().Undefined();
	// Apps first (on their workers), then the runtime.
	for (auto &kv : r->jobs) {
		Job *job = kv.second.get();
		std::vector<AppResult> res;
		for (unsigned w : JobWorkers(job)) {
			PollArg pa{job, &res, true};
			bd_rt_call(r->rt, w, PollOnWorker, &pa, 10000);
		}
		for (App &a : job->apps)
			free(a.u.any);
	}
	r->jobs.clear();
	bd_rt_destroy(r->rt);
	r->rt = nullptr;
	return info.Env().Undefined();
}

// rtBlast(h, {worker, port, dstMac, frameLen, durationMs}) -> counts
void ParseMac(Napi::Env env, const std::string &mac, uint8_t out[6])
{
	unsigned m[6];
	if (sscanf(mac.c_str(), "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3],
		   &m[4], &m[5]) != 6)
		throw Napi::Error::New(env,
				       "dstMac: expected aa:bb:cc:dd:ee:ff");
	for (int i = 0; i < 6; i++)
		out[i] = (uint8_t)m[i];
}

Napi::Value RtBlast(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Runtime *r = GetRt(info);
	Napi::Object o = info[1].As<Napi::Object>();
	unsigned w = (unsigned)Num(o, "worker", 0, 0, BD_RT_MAX_WORKERS);
	unsigned port = (unsigned)Num(o, "port", 0, 0, BD_RT_MAX_PORTS);
	uint32_t len = (uint32_t)Num(o, "frameLen", 1514, 60, 9018);
	double ms = Num(o, "durationMs", 1000, 1, 600000);
	uint8_t dst[6];
	ParseMac(env, o.Get("dstMac").ToString().Utf8Value(), dst);
	struct bd_rt_blast b;
	int rc =
	    bd_rt_blast(r->rt, w, port, dst, len, (uint64_t)(ms * 1000), &b);
	if (rc != 0)
		throw Napi::Error::New(env,
				       "blast: error " + std::to_string(rc));
	Napi::Object out = Napi::Object::New(env);
	out.Set("frames", (double)b.frames);
	out.Set("bytes", (double)b.bytes);
	out.Set("refused", (double)b.refused);
	out.Set("seconds", (double)b.elapsed_us / 1e6);
	return out;
}

// kernelPing(addr, count, timeoutMs) -> [{seq, rttUs}] : ICMP echo through
// the kernel's own stack (a raw socket; root), for tests that check that a
// kernel host reaches a Braid port. Synchronous: run it in a child process.
uint64_t MonoUs()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

// The next datagram on fd, waiting until the monotonic time end (us): its
// length, or -1 once end has passed.
ssize_t RecvBefore(int fd, uint8_t *buf, size_t len, uint64_t end)
{
	for (;;) {
		uint64_t now = MonoUs();
		if (now >= end)
			return -1;
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, (int)((end - now) / 1000 + 1)) <= 0)
			continue;
		ssize_t n = recv(fd, buf, len, 0);
		if (n >= 0)
			return n;
	}
}

Napi::Value KernelPing(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	uint32_t dst =
	    ParseIp(env, info[0].As<Napi::String>().Utf8Value(), "address");
	uint32_t count = info[1].As<Napi::Number>().Uint32Value();
	uint32_t timeout_ms = info[2].As<Napi::Number>().Uint32Value();
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
	if (fd < 0)
		throw Napi::Error::New(env, std::string("ping socket: ") +
						strerror(errno));
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(dst);
	uint16_t ident = (uint16_t)getpid();
	Napi::Array out = Napi::Array::New(env);
	uint32_t got = 0;
	for (uint32_t seq = 1; seq <= count; seq++) {
		uint8_t pkt[64];
		memset(pkt, 0, sizeof(pkt));
		pkt[0] = 8; // echo request
		pkt[4] = (uint8_t)(ident >> 8);
		pkt[5] = (uint8_t)ident;
		pkt[6] = (uint8_t)(seq >> 8);
		pkt[7] = (uint8_t)seq;
		for (int i = 8; i < 64; i++)
			pkt[i] = (uint8_t)i;
		uint32_t sum = 0;
		for (int i = 0; i < 64; i += 2)
			sum += (uint32_t)pkt[i] << 8 | pkt[i + 1];
		while (sum >> 16)
			sum = (sum & 0xffff) + (sum >> 16);
		pkt[2] = (uint8_t)(~sum >> 8);
		pkt[3] = (uint8_t)~sum;
		uint64_t t0 = MonoUs();
		if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&sa,
			   sizeof(sa)) < 0) {
			int e = errno;
			close(fd);
			throw Napi::Error::New(env, std::string("ping: ") +
							strerror(e));
		}
		uint64_t end = t0 + (uint64_t)timeout_ms * 1000;
		for (;;) {
			uint8_t buf[1500];
			ssize_t n = RecvBefore(fd, buf, sizeof(buf), end);
			if (n < 0)
				break;
			if (n < 28)
				continue;
			unsigned ihl = (unsigned)(buf[0] & 15) * 4;
			if ((size_t)n < ihl + 8)
				continue;
			const uint8_t *ic = buf + ihl;
			uint32_t from = (uint32_t)buf[12] << 24 |
					(uint32_t)buf[13] << 16 |
					(uint32_t)buf[14] << 8 | buf[15];
			if (ic[0] != 0 || from != dst ||
			    (uint16_t)(ic[4] << 8 | ic[5]) != ident ||
			    (uint16_t)(ic[6] << 8 | ic[7]) != seq)
				continue;
			Napi::Object r = Napi::Object::New(env);
			r.Set("seq", seq);
			r.Set("rttUs", (double)(MonoUs() - t0));
			out.Set(got++, r);
			break;
		}
	}
	close(fd);
	return out;
}

// An AF_PACKET socket of type (SOCK_DGRAM / SOCK_RAW) bound to the kernel
// interface ifname for ethertype proto; the interface's MAC in mac and its
// address in ll. Throws when the interface or the socket is not there.
int PacketSocket(Napi::Env env, const std::string &ifname, int type,
		 uint16_t proto, uint8_t mac[6], struct sockaddr_ll *ll)
{
	unsigned ifindex = if_nametoindex(ifname.c_str());
	if (!ifindex || ifname.size() >= IFNAMSIZ)
		throw Napi::Error::New(env, "no interface " + ifname);
	int fd = socket(AF_PACKET, type | SOCK_CLOEXEC, htons(proto));
	if (fd < 0)
		throw Napi::Error::New(env, std::string("packet socket: ") +
						strerror(errno));
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
		close(fd);
		throw Napi::Error::New(env, "no MAC on " + ifname);
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	memset(ll, 0, sizeof(*ll));
	ll->sll_family = AF_PACKET;
	ll->sll_protocol = htons(proto);
	ll->sll_ifindex = (int)ifindex;
	if (bind(fd, (struct sockaddr *)ll, sizeof(*ll)) != 0) {
		int e = errno;
		close(fd);
		throw Napi::Error::New(env, std::string("packet bind: ") +
						strerror(e));
	}
	return fd;
}

// kernelFrames(iface, {mode, dstMac, frameLen, durationMs}) -> {frames,
// seconds}: the kernel end of a raw device-rate measurement, from a process
// in the interface's namespace (root). 'count' reads every frame of
// ethertype 0x88b5 arriving on iface into user space for durationMs;
// 'send' sends frameLen-byte frames of that type to dstMac as fast as the
// socket takes them (sendmmsg, 64 a call, qdiscs bypassed like the
// net_af_packet PMD). Synchronous: run it in a child process.
Napi::Value KernelFrames(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string ifname = info[0].As<Napi::String>().Utf8Value();
	Napi::Object o = info[1].As<Napi::Object>();
	std::string mode = o.Get("mode").ToString().Utf8Value();
	uint32_t len = (uint32_t)Num(o, "frameLen", 1514, 60, 9018);
	uint64_t dur = (uint64_t)(Num(o, "durationMs", 1000, 1, 600000) * 1000);
	const int batch = 64;
	uint8_t mac[6], dst[6] = {0};
	struct sockaddr_ll ll;
	if (mode != "count" && mode != "send")
		throw Napi::Error::New(env, "mode: expected count or send");
	if (mode == "send")
		ParseMac(env, o.Get("dstMac").ToString().Utf8Value(), dst);
	int fd = PacketSocket(env, ifname, SOCK_RAW, 0x88b5, mac, &ll);
	// One buffer per message, each holding a frame up to 9018 bytes.
	const size_t stride = 9024;
	std::vector<uint8_t> bufs((size_t)batch * stride);
	struct mmsghdr msgs[batch];
	struct iovec iov[batch];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < batch; i++) {
		iov[i].iov_base = &bufs[(size_t)i * stride];
		iov[i].iov_len = mode == "send" ? len : stride;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	uint64_t frames = 0, t0 = MonoUs(), now = t0;
	if (mode == "send") {
		int one = 1;
		setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one,
			   sizeof(one));
		for (int i = 0; i < batch; i++) {
			uint8_t *f = &bufs[(size_t)i * stride];
			memcpy(f, dst, 6);
			memcpy(f + 6, mac, 6);
			f[12] = 0x88;
			f[13] = 0xb5;
		}
		while ((now = MonoUs()) - t0 < dur) {
			int n = sendmmsg(fd, msgs, batch, 0);
			if (n > 0)
				frames += (uint64_t)n;
		}
	} else {
		int big = 64 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
		while ((now = MonoUs()) - t0 < dur) {
			struct pollfd pfd = {fd, POLLIN, 0};
			if (poll(&pfd, 1, 10) <= 0)
				continue;
			int n = recvmmsg(fd, msgs, batch, MSG_DONTWAIT, NULL);
			if (n > 0)
				frames += (uint64_t)n;
		}
	}
	close(fd);
	Napi::Object out = Napi::Object::New(env);
	out.Set("frames", (double)frames);
	out.Set("seconds", (double)(now - t0) / 1e6);
	return out;
}

// kernelArping(iface, addr, timeoutMs) -> {replies, macs} : one broadcast
// ARP request for addr from the kernel interface iface (an AF_PACKET socket;
// root), and every reply for it that arrives within timeoutMs, like
// `arping -c 1`: a host must answer a request once. Synchronous: run it in a
// child process inside the interface's namespace.
Napi::Value KernelArping(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string ifname = info[0].As<Napi::String>().Utf8Value();
	uint32_t dst =
	    ParseIp(env, info[1].As<Napi::String>().Utf8Value(), "address");
	uint32_t timeout_ms = info[2].As<Napi::Number>().Uint32Value();
	uint8_t mac[6];
	struct sockaddr_ll ll;
	int fd = PacketSocket(env, ifname, SOCK_DGRAM, 0x0806, mac, &ll);
	uint32_t src = 0;
	{
		struct ifreq ifr;
		int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		memset(&ifr, 0, sizeof(ifr));
		memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
		ifr.ifr_addr.sa_family = AF_INET;
		if (s >= 0 && ioctl(s, SIOCGIFADDR, &ifr) == 0)
			src = ntohl(((struct sockaddr_in *)&ifr.ifr_addr)
					->sin_addr.s_addr);
		if (s >= 0)
			close(s);
	}
	uint8_t req[28];
	memset(req, 0, sizeof(req));
	req[1] = 1;    // Ethernet
	req[2] = 0x08; // IPv4
	req[4] = 6;
	req[5] = 4;
	req[7] = 1; // request
	memcpy(req + 8, mac, 6);
	for (int i = 0; i < 4; i++) {
		req[14 + i] = (uint8_t)(src >> (24 - 8 * i));
		req[24 + i] = (uint8_t)(dst >> (24 - 8 * i));
	}
	ll.sll_halen = 6;
	memset(ll.sll_addr, 0xff, 6);
	if (sendto(fd, req, sizeof(req), 0, (struct sockaddr *)&ll,
		   sizeof(ll)) < 0) {
		int e = errno;
		close(fd);
		throw Napi::Error::New(env, std::string("arping send: ") +
						strerror(e));
	}
	Napi::Array macs = Napi::Array::New(env);
	uint32_t replies = 0;
	uint64_t end = MonoUs() + (uint64_t)timeout_ms * 1000;
	for (;;) {
		uint8_t buf[128];
		ssize_t n = RecvBefore(fd, buf, sizeof(buf), end);
		if (n < 0)
			break;
		if (n < 28 || buf[7] != 2)
			continue;
		uint32_t spa = (uint32_t)buf[14] << 24 |
			       (uint32_t)buf[15] << 16 |
			       (uint32_t)buf[16] << 8 | buf[17];
		if (spa != dst || memcmp(buf + 18, mac, 6) != 0)
			continue;
		char m[18];
		snprintf(m, sizeof(m), "%02x:%02x:%02x:%02x:%02x:%02x", buf[8],
			 buf[9], buf[10], buf[11], buf[12], buf[13]);
		macs.Set(replies++, m);
	}
	close(fd);
	Napi::Object out = Napi::Object::New(env);
	out.Set("replies", replies);
	out.Set("macs", macs);
	return out;
}

} // namespace

struct bd_rt *RuntimeOf(Napi::Env env, Napi::Value handle)
{
	if (!handle.IsExternal())
		throw Napi::TypeError::New(env, "expected a runtime handle");
	Runtime *r = handle.As<Napi::External<Runtime>>().Data();
	if (!r->rt)
		throw Napi::Error::New(env, "the runtime has been destroyed");
	return r->rt;
}

void InitRuntime(Napi::Env env, Napi::Object exports)
{
	exports.Set("rtCreate", Napi::Function::New(env, RtCreate));
	exports.Set("rtStart", Napi::Function::New(env, RtStart));
	exports.Set("rtPinPort", Napi::Function::New(env, RtPin));
	exports.Set("rtOwner", Napi::Function::New(env, RtOwner));
	exports.Set("rtEphBlock", Napi::Function::New(env, RtEphBlock));
	exports.Set("rtJobStart", Napi::Function::New(env, RtJobStart));
	exports.Set("rtJobPoll", Napi::Function::New(env, RtJobPoll));
	exports.Set("rtJobDone", Napi::Function::New(env, RtJobDone));
	exports.Set("rtJobStop", Napi::Function::New(env, RtJobStop));
	exports.Set("rtStats", Napi::Function::New(env, RtStats));
	exports.Set("rtDestroy", Napi::Function::New(env, RtDestroy));
	exports.Set("kernelPing", Napi::Function::New(env, KernelPing));
	exports.Set("kernelArping", Napi::Function::New(env, KernelArping));
	exports.Set("kernelFrames", Napi::Function::New(env, KernelFrames));
	exports.Set("rtBlast", Napi::Function::New(env, RtBlast));
}
