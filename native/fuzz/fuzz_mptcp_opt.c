/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the MPTCP option parser. The first byte picks the
 * segment's TCP flags; the rest is parsed as one option and as a whole
 * option block. Whatever parses must write back to bytes that parse to the
 * same values (and never longer than the option space).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t tf = data[0];
	data++;
	size--;
	struct bd_mptcp_mib mib;
	memset(&mib, 0, sizeof(mib));
	struct bd_mptcp_opts o;
	memset(&o, 0, sizeof(o));
	int st = -1;
	if (size >= 2 && size <= 40)
		st = bd_mptcp_opt_parse(&o, data, (unsigned)size, tf, &mib);
	if (st >= 0) {
		uint8_t w[40];
		unsigned n = bd_mptcp_opt_write(&o, (unsigned)st, w, sizeof(w));
		if (n == 0 || n > 40)
			abort();
		struct bd_mptcp_opts b;
		memset(&b, 0, sizeof(b));
		if (bd_mptcp_opt_parse(&b, w, n, tf, NULL) != st)
			abort();
		if (bd_mptcp_opt_write(&b, (unsigned)st, w, sizeof(w)) != n)
			abort();
	}
	if (size <= 40) {
		struct bd_mptcp_opts blk;
		memset(&blk, 0, sizeof(blk));
		(void)bd_mptcp_opts_parse_block(&blk, data, (unsigned)size, tf,
						&mib);
	}
	/* Exercise the DSN expansion and checksum helpers too. */
	if (size >= 12) {
		uint64_t ref;
		uint32_t low;
		memcpy(&ref, data, 8);
		memcpy(&low, data + 8, 4);
		uint64_t x = bd_mptcp_expand_seq(ref, low);
		if ((uint32_t)x != low)
			abort();
		(void)bd_mptcp_dss_csum(ref, low, (uint16_t)size,
					bd_mptcp_csum_acc(0, 0, data, size));
	}
	return 0;
}
