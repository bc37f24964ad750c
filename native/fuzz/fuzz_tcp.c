/* SPDX-License-Identifier: Apache-2.0
 * libFuzzer harness: arbitrary bytes as TCP segments against a stack with a
 * listener and an established connection (bd_tcp_fuzz_one sets them up). */
#include <stddef.h>
#include <stdint.h>

#include "braid/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bd_tcp_fuzz_one(data, size);
	return 0;
}
