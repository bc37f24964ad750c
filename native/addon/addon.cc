// SPDX-License-Identifier: Apache-2.0
#include "addon.h"

#include <cstring>

Napi::Object MptcpFieldsToJs(Napi::Env env, const struct bd_mptcp_field *fields,
			     const void *base, bool skip_zero)
{
	Napi::Object o = Napi::Object::New(env);
	const uint8_t *b = static_cast<const uint8_t *>(base);
	for (const struct bd_mptcp_field *f = fields; f->name; f++) {
		const uint8_t *p = b + f->offset;
		uint64_t v = 0;
		if (f->size == 8) {
			std::memcpy(&v, p, 8);
		} else if (f->size == 4) {
			uint32_t x;
			std::memcpy(&x, p, 4);
			v = x;
		} else if (f->size == 2) {
			uint16_t x;
			std::memcpy(&x, p, 2);
			v = x;
		} else {
			v = *p;
		}
		if (!v && skip_zero)
			continue;
		if (f->seq)
			o.Set(f->name, Napi::BigInt::New(env, v));
		else
			o.Set(f->name, (double)v);
	}
	return o;
}

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
