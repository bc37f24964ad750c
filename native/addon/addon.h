// SPDX-License-Identifier: Apache-2.0
// Braid's Node addon: a thin binding over the C engine. Each area registers
// its functions from its own file.
#pragma once

#include <napi.h>

void InitDpdk(Napi::Env env, Napi::Object exports);
void InitRuntime(Napi::Env env, Napi::Object exports);
void InitKernel(Napi::Env env, Napi::Object exports);
void InitSim(Napi::Env env, Napi::Object exports);
void InitChan(Napi::Env env, Napi::Object exports);
