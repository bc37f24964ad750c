/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the MPTCP option parser. The first byte picks the
 * segment's TCP flags; the rest is parsed as one option and as a whole
 * option block. Whatever parses must write back to bytes that parse to the
 * same values (and never longer than the option space). The same bytes
 * also drive the data-level reassembly and the mapping table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "braid/mptcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t pat(uint64_t dsn)
{
	return (uint8_t)(dsn * 131 + (dsn >> 8));
}

/* Reassembly under arbitrary arrivals: each 4-byte record is (offset,
 * length, op); whatever comes out in order must be the pattern. */
static void fuzz_reasm(const uint8_t *d, size_t n)
{
	struct bd_mptcp_rcv r;
	struct bd_mptcp_maps t;
	uint8_t buf[1024], out[1024];
	const uint64_t base = 0xfffffffffffff800ull; /* wraps 2^64 */
	uint64_t got = base;
	memset(&t, 0, sizeof(t));
	if (bd_mptcp_rcv_init(&r, base, 4096))
		return;
	for (size_t i = 0; i + 4 <= n; i += 4) {
		uint32_t off = (uint32_t)(d[i] | d[i + 1] << 8) & 0x1fff;
		uint32_t len = d[i + 2] * 4u + 1;
		uint8_t op = d[i + 3];
		uint64_t dsn = base + off;
		if (op & 1) {
			for (uint32_t k = 0; k < len; k++)
				buf[k] = pat(dsn + k);
			uint64_t before = r.rcv_nxt;
			bd_mptcp_rcv_data(&r, dsn, buf, len, NULL);
			if ((int64_t)(r.rcv_nxt - before) < 0)
				abort();
		} else if (op & 2) {
			size_t k = bd_mptcp_rcv_read(&r, out, op);
			for (size_t j = 0; j < k; j++)
				if (out[j] != pat(got + j))
					abort();
			got += k;
		} else if (op & 4) {
			bd_mptcp_rcv_fin(&r, dsn);
		} else {
			struct bd_mptcp_map m = {.dsn = dsn,
						 .ssn = off,
						 .dll = (uint16_t)len,
						 .data_fin = (op & 8) != 0};
			bd_mptcp_maps_add(&t, &m, (uint32_t)(op >> 4) * 64);
			(void)bd_mptcp_maps_find(&t, off);
			if (op & 16)
				bd_mptcp_maps_trim(&t, off);
		}
		if (r.used > r.rcv_buf || bd_mptcp_rcv_wnd(&r) > r.rcv_buf)
			abort();
	}
	size_t k;
	while ((k = bd_mptcp_rcv_read(&r, out, sizeof(out))) > 0) {
		for (size_t j = 0; j < k; j++)
			if (out[j] != pat(got + j))
				abort();
		got += k;
	}
	if (got != r.rcv_nxt)
		abort();
	bd_mptcp_rcv_free(&r);
}

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
	fuzz_reasm(data, size);
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
