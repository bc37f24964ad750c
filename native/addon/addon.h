// SPDX-License-Identifier: Apache-2.0
// Braid's Node addon: a thin binding over the C engine. Each area registers
// its functions from its own file.
#pragma once

#include <napi.h>

extern "C" {
#include "braid/chan.h"
#include "braid/mptcp.h"
#include "braid/sim.h"
#include "braid/tcp.h"
}

struct bd_rt;

void InitDpdk(Napi::Env env, Napi::Object exports);
void InitRuntime(Napi::Env env, Napi::Object exports);
void InitKernel(Napi::Env env, Napi::Object exports);
void InitSim(Napi::Env env, Napi::Object exports);
void InitChan(Napi::Env env, Napi::Object exports);
void InitEmu(Napi::Env env, Napi::Object exports);
void InitNode(Napi::Env env, Napi::Object exports);

// The engine of a runtime handle made by rtCreate (runtime.cc); throws if
// it is not one or has been destroyed.
struct bd_rt *RuntimeOf(Napi::Env env, Napi::Value handle);

// An engine struct described by a bd_mptcp_field table (bd_mptcp_info_fields,
// bd_mptcp_mib_fields) as a JavaScript object keyed by field name
// (addon.cc). The rule: a field the table marks `seq` (mptcp_info's 64-bit
// data sequence numbers mptcpi_write_seq, mptcpi_snd_una, mptcpi_rcv_nxt)
// is always a BigInt, exact, as the kernel path's mptcpInfo() gives them;
// every other field (counts, sizes, flags, the 32-bit token) is a Number,
// exact below 2^53. skip_zero leaves out the fields that are 0.
Napi::Object MptcpFieldsToJs(Napi::Env env, const struct bd_mptcp_field *fields,
			     const void *base, bool skip_zero);

// Channel records <-> JavaScript (chan.cc).
Napi::Object AddrToJs(Napi::Env env, const struct bd_chan_addr &a);
void AddrFromJs(Napi::Env env, Napi::Value v, struct bd_chan_addr *a);
void OptsFromJs(Napi::Value v, struct bd_chan_opts *o);
Napi::Object TcpInfoToJs(Napi::Env env, const struct bd_tcp_info &ti);

// Emulated link parameters and counters <-> JavaScript (linkparams.cc).
void ParseLinkParams(Napi::Env env, const Napi::Object &p,
		     struct bd_link_params *lp);
Napi::Object LinkParamsToJs(Napi::Env env, const struct bd_link_params *lp);
Napi::Object LinkStatsToJs(Napi::Env env, const struct bd_link_stats *s);
