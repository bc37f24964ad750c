/* SPDX-License-Identifier: Apache-2.0
 *
 * Data sequence mappings (RFC 8684 3.3.1): 32->64-bit expansion, the DSS
 * checksum, and a subflow's table of received mappings.
 */
#include <string.h>

#include "braid/csum.h"
#include "braid/mptcp.h"

uint64_t bd_mptcp_expand_seq(uint64_t ref, uint32_t low)
{
	int32_t d = (int32_t)(low - (uint32_t)ref);
	return ref + (uint64_t)(int64_t)d;
}

uint32_t bd_mptcp_csum_acc(uint32_t acc, uint32_t offset, const uint8_t *data,
			   size_t len)
{
	if (len && (offset & 1)) {
		acc += data[0];
		data++;
		len--;
	}
	acc = bd_csum_add(acc, data, len);
	return (acc & 0xffff) + (acc >> 16);
}

uint16_t bd_mptcp_dss_csum(uint64_t dsn, uint32_t ssn, uint16_t dll,
			   uint32_t payload_sum)
{
	uint8_t h[16];
	for (int i = 0; i < 8; i++)
		h[i] = (uint8_t)(dsn >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		h[8 + i] = (uint8_t)(ssn >> (24 - 8 * i));
	h[12] = (uint8_t)(dll >> 8);
	h[13] = (uint8_t)dll;
	h[14] = h[15] = 0;
	uint32_t s = (payload_sum & 0xffff) + (payload_sum >> 16);
	return bd_csum_fold(bd_csum_add(s, h, sizeof(h)));
}

int bd_mptcp_csum_fail_action(unsigned nsubflows, bool others_unacked)
{
	return (nsubflows <= 1 && !others_unacked)
		   ? BD_MPTCP_FAIL_FALLBACK
		   : BD_MPTCP_FAIL_RESET_SUBFLOW;
}

/* Bytes a mapping occupies in the subflow's sequence space. */
static uint32_t sublen(const struct bd_mptcp_map *m)
{
	return (uint32_t)m->dll - (m->data_fin ? 1u : 0u);
}

static bool before_eq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}

int bd_mptcp_maps_add(struct bd_mptcp_maps *t, const struct bd_mptcp_map *m,
		      uint32_t consumed)
{
	uint32_t len = sublen(m), end = m->ssn + len;
	if (len == 0 || before_eq(end, consumed))
		return BD_MAP_OLD;
	unsigned pos = t->n;
	for (unsigned i = 0; i < t->n; i++) {
		const struct bd_mptcp_map *e = &t->m[i];
		uint32_t elen = sublen(e), eend = e->ssn + elen;
		if (e->ssn == m->ssn && e->dll == m->dll && e->dsn == m->dsn &&
		    e->data_fin == m->data_fin)
			return BD_MAP_SAME;
		bool overlap =
		    (int32_t)(m->ssn - eend) < 0 && (int32_t)(e->ssn - end) < 0;
		if (overlap) {
			/* Overlap is fine only if it maps the same bytes. */
			if ((uint64_t)(m->dsn - e->dsn) !=
			    (uint64_t)(int64_t)(int32_t)(m->ssn - e->ssn))
				return BD_MAP_MISMATCH;
			if (!before_eq(e->ssn, m->ssn) || !before_eq(end, eend))
				continue;
			return BD_MAP_SAME; /* inside a held mapping */
		}
		if (pos == t->n && (int32_t)(m->ssn - e->ssn) < 0)
			pos = i;
	}
	if (t->n == BD_MPTCP_MAPS)
		return BD_MAP_FULL;
	if (pos == 0 && t->n)
		t->csum_acc = t->csum_done = 0; /* a new head mapping */
	memmove(&t->m[pos + 1], &t->m[pos], (t->n - pos) * sizeof(t->m[0]));
	t->m[pos] = *m;
	t->n++;
	return BD_MAP_NEW;
}

const struct bd_mptcp_map *bd_mptcp_maps_find(const struct bd_mptcp_maps *t,
					      uint32_t ssn)
{
	for (unsigned i = 0; i < t->n; i++) {
		const struct bd_mptcp_map *e = &t->m[i];
		if ((int32_t)(ssn - e->ssn) >= 0 &&
		    (int32_t)(ssn - (e->ssn + sublen(e))) < 0)
			return e;
	}
	return NULL;
}

void bd_mptcp_maps_trim(struct bd_mptcp_maps *t, uint32_t consumed)
{
	unsigned k = 0;
	for (unsigned i = 0; i < t->n; i++) {
		if (before_eq(t->m[i].ssn + sublen(&t->m[i]), consumed)) {
			if (i == 0)
				t->csum_acc = t->csum_done = 0;
			continue;
		}
		t->m[k++] = t->m[i];
	}
	t->n = k;
}
