// SPDX-License-Identifier: Apache-2.0
// Braid's Node addon: a thin binding over the C engine. Each area registers
// its functions from its own file.
#pragma once

#include <napi.h>

extern "C" {
#include "braid/sim.h"
}

void InitDpdk(Napi::Env env, Napi::Object exports);
void InitRuntime(Napi::Env env, Napi::Object exports);
void InitKernel(Napi::Env env, Napi::Object exports);
void InitSim(Napi::Env env, Napi::Object exports);
void InitChan(Napi::Env env, Napi::Object exports);
void InitEmu(Napi::Env env, Napi::Object exports);

// Emulated link parameters and counters <-> JavaScript (linkparams.cc).
void ParseLinkParams(Napi::Env env, const Napi::Object &p,
		     struct bd_link_params *lp);
Napi::Object LinkParamsToJs(Napi::Env env, const struct bd_link_params *lp);
Napi::Object LinkStatsToJs(Napi::Env env, const struct bd_link_stats *s);
