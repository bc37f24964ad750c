// SPDX-License-Identifier: Apache-2.0
// Kernel sockets for the SDK's fallback path: an IPPROTO_MPTCP (or plain TCP)
// socket made here and handed to Node's net.Socket / net.Server by its fd,
// and the kernel's MPTCP_INFO of such a socket.
#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/mptcp.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

#include "addon.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif

static Napi::Error SysError(Napi::Env env, const std::string &what, int err)
{
	Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
	e.Set("errno", Napi::Number::New(env, err));
	return e;
}

// kernelSocket(family: 4 | 6, mptcp: boolean) -> fd (non-blocking,
// close-on-exec)
static Napi::Value KernelSocket(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int family =
	    info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 4;
	bool mptcp = info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
	if (family != 4 && family != 6)
		throw Napi::TypeError::New(
		    env, "kernelSocket: family must be 4 or 6");
	int fd = socket(family == 6 ? AF_INET6 : AF_INET,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			mptcp ? IPPROTO_MPTCP : IPPROTO_TCP);
	if (fd < 0)
		throw SysError(env,
			       mptcp ? "cannot create a kernel MPTCP socket"
				     : "cannot create a kernel TCP socket",
			       errno);
	return Napi::Number::New(env, fd);
}

static bool ParseAddr(const std::string &host, int port, sockaddr_storage *ss,
		      socklen_t *len)
{
	std::memset(ss, 0, sizeof(*ss));
	auto *v4 = reinterpret_cast<sockaddr_in *>(ss);
	auto *v6 = reinterpret_cast<sockaddr_in6 *>(ss);
	if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		*len = sizeof(*v4);
		return true;
	}
	if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*v6);
		return true;
	}
	return false;
}

// kernelBind(fd, host, port): SO_REUSEADDR and bind, ready for
// net.Server.listen({fd}).
static Napi::Value KernelBind(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() ||
	    !info[2].IsNumber())
		throw Napi::TypeError::New(env, "kernelBind(fd, host, port)");
	int fd = info[0].As<Napi::Number>().Int32Value();
	std::string host = info[1].As<Napi::String>().Utf8Value();
	int port = info[2].As<Napi::Number>().Int32Value();
	if (port < 0 || port > 65535)
		throw Napi::RangeError::New(env,
					    "kernelBind: port out of range");
	sockaddr_storage ss;
	socklen_t len;
	if (!ParseAddr(host, port, &ss, &len))
		throw Napi::TypeError::New(
		    env, "kernelBind: not an IP address: " + host);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, reinterpret_cast<sockaddr *>(&ss), len) < 0)
		throw SysError(env, "bind " + host + ":" + std::to_string(port),
			       errno);
	return env.Undefined();
}

static Napi::Value KernelClose(const Napi::CallbackInfo &info)
{
	if (info[0].IsNumber())
		close(info[0].As<Napi::Number>().Int32Value());
	return info.Env().Undefined();
}

// The kernel's protocol of a socket: "mptcp" or "tcp".
static Napi::Value KernelProtocol(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = info[0].As<Napi::Number>().Int32Value();
	int proto = 0;
	socklen_t len = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
		throw SysError(env, "getsockopt(SO_PROTOCOL)", errno);
	return Napi::String::New(env, proto == IPPROTO_MPTCP ? "mptcp" : "tcp");
}

// mptcpInfo(fd) -> the kernel's struct mptcp_info, field names as in
// <linux/mptcp.h>, plus `fallback` (the connection fell back to TCP).
static Napi::Value MptcpInfo(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = info[0].As<Napi::Number>().Int32Value();
	struct mptcp_info mi;
	std::memset(&mi, 0, sizeof(mi));
	socklen_t len = sizeof(mi);
	bool fell_back = false;
	if (getsockopt(fd, SOL_MPTCP, MPTCP_INFO, &mi, &len) < 0) {
		// The kernel answers EOPNOTSUPP once the connection fell back
		// to TCP.
		if (errno != EOPNOTSUPP)
			throw SysError(env, "getsockopt(MPTCP_INFO)", errno);
		fell_back = true;
	}
	Napi::Object o = Napi::Object::New(env);
	o.Set("mptcpi_subflows", mi.mptcpi_subflows);
	o.Set("mptcpi_add_addr_signal", mi.mptcpi_add_addr_signal);
	o.Set("mptcpi_add_addr_accepted", mi.mptcpi_add_addr_accepted);
	o.Set("mptcpi_subflows_max", mi.mptcpi_subflows_max);
	o.Set("mptcpi_add_addr_signal_max", mi.mptcpi_add_addr_signal_max);
	o.Set("mptcpi_add_addr_accepted_max", mi.mptcpi_add_addr_accepted_max);
	o.Set("mptcpi_flags", mi.mptcpi_flags);
	o.Set("mptcpi_token", mi.mptcpi_token);
	o.Set("mptcpi_write_seq",
	      Napi::BigInt::New(env, (uint64_t)mi.mptcpi_write_seq));
	o.Set("mptcpi_snd_una",
	      Napi::BigInt::New(env, (uint64_t)mi.mptcpi_snd_una));
	o.Set("mptcpi_rcv_nxt",
	      Napi::BigInt::New(env, (uint64_t)mi.mptcpi_rcv_nxt));
	o.Set("mptcpi_local_addr_used", mi.mptcpi_local_addr_used);
	o.Set("mptcpi_local_addr_max", mi.mptcpi_local_addr_max);
	o.Set("mptcpi_csum_enabled", mi.mptcpi_csum_enabled);
	o.Set("fallback",
	      fell_back || (mi.mptcpi_flags & MPTCP_INFO_FLAG_FALLBACK) != 0);
	o.Set("remote_key_received",
	      (mi.mptcpi_flags & MPTCP_INFO_FLAG_REMOTE_KEY_RECEIVED) != 0);
	return o;
}

void InitKernel(Napi::Env env, Napi::Object exports)
{
	exports.Set("kernelSocket", Napi::Function::New(env, KernelSocket));
	exports.Set("kernelBind", Napi::Function::New(env, KernelBind));
	exports.Set("kernelClose", Napi::Function::New(env, KernelClose));
	exports.Set("kernelProtocol", Napi::Function::New(env, KernelProtocol));
	exports.Set("mptcpInfo", Napi::Function::New(env, MptcpInfo));
}
