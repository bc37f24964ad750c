// SPDX-License-Identifier: Apache-2.0
#include "addon.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	InitDpdk(env, exports);
	InitRuntime(env, exports);
	InitKernel(env, exports);
	InitSim(env, exports);
	InitChan(env, exports);
	InitEmu(env, exports);
	InitNode(env, exports);
	return exports;
}

NODE_API_MODULE(braid, Init)
