/* SPDX-License-Identifier: Apache-2.0
 * TCP options: parse (strictly: a bogus length drops the segment) and write.
 * Kinds: 0 EOL, 1 NOP, 2 MSS, 3 window scale, 4 SACK permitted, 5 SACK,
 * 8 timestamps (RFC 9293, 7323, 2018). Others go to the upper layer. */
#include <string.h>

#include "tcp_impl.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int tcp_parse_opts(struct bd_tcp_stack *ts, const uint8_t *p, unsigned len,
		   bool syn, struct tcp_opts *o)
{
	unsigned i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t kind = p[i], olen;
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (len - i < 2)
			goto bad;
		olen = p[i + 1];
		if (olen < 2 || olen > len - i)
			goto bad;
		switch (kind) {
		case 2:
			if (olen != 4)
				goto bad;
			if (syn) {
				o->has_mss = true;
				o->mss = rd16(p + i + 2);
			}
			break;
		case 3:
			if (olen != 3)
				goto bad;
			if (syn) {
				o->has_wscale = true;
				o->wscale = p[i + 2];
				if (o->wscale > TCP_MAX_WSCALE)
					o->wscale = TCP_MAX_WSCALE;
			}
			break;
		case 4:
			if (olen != 2)
				goto bad;
			if (syn)
				o->sack_ok = true;
			break;
		case 5: {
			unsigned n = (olen - 2u) / 8u;
			if ((olen - 2u) % 8u || n == 0 || n > TCP_MAX_SACK_BLK)
				goto bad;
			o->nsack = (uint8_t)n;
			for (unsigned b = 0; b < n; b++) {
				o->sack[b][0] = rd32(p + i + 2 + 8 * b);
				o->sack[b][1] = rd32(p + i + 6 + 8 * b);
			}
			break;
		}
		case 8:
			if (olen != 10)
				goto bad;
			o->has_ts = true;
			o->tsval = rd32(p + i + 2);
			o->tsecr = rd32(p + i + 6);
			break;
		default:
			o->has_unknown = true;
			break;
		}
		i += olen;
	}
	return 0;
bad:
	MIB_INC(ts, BraidDropBadOption);
	return -1;
}

void tcp_walk_unknown(struct bd_tcp_sock *s, const uint8_t *p, unsigned len,
		      const struct bd_tcp_seg_desc *seg)
{
	unsigned i = 0;

	if (!s->ulp || !s->ulp->rcv_opt)
		return;
	while (i < len) {
		uint8_t kind = p[i], olen;
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (len - i < 2)
			return;
		olen = p[i + 1];
		if (olen < 2 || olen > len - i)
			return;
		if (kind != 2 && kind != 3 && kind != 4 && kind != 5 &&
		    kind != 8)
			s->ulp->rcv_opt(s->ulp_ctx, s, seg, p + i, olen);
		i += olen;
	}
}

static unsigned put_ts(uint8_t *p, uint32_t tsval, uint32_t tsecr)
{
	p[0] = 1;
	p[1] = 1;
	p[2] = 8;
	p[3] = 10;
	wr32(p + 4, tsval);
	wr32(p + 8, tsecr);
	return 12;
}

unsigned tcp_write_syn_opts(struct bd_tcp_sock *s, uint8_t *p, bool synack,
			    uint32_t tsval)
{
	const struct bd_tcp_config *cfg = &s->ts->cfg;
	bool ts_on = synack ? s->ts_ok : cfg->timestamps;
	bool sack_on = synack ? s->sack_ok : cfg->sack;
	bool ws_on = synack ? s->ws_ok : cfg->wscale;
	unsigned n = 0;

	p[n++] = 2;
	p[n++] = 4;
	p[n++] = (uint8_t)(s->adv_mss >> 8);
	p[n++] = (uint8_t)s->adv_mss;
	if (ts_on) {
		if (sack_on) {
			p[n++] = 4;
			p[n++] = 2;
		} else {
			p[n++] = 1;
			p[n++] = 1;
		}
		p[n++] = 8;
		p[n++] = 10;
		wr32(p + n, tsval);
		wr32(p + n + 4, synack ? s->ts_recent : 0);
		n += 8;
	} else if (sack_on) {
		p[n++] = 1;
		p[n++] = 1;
		p[n++] = 4;
		p[n++] = 2;
	}
	if (ws_on) {
		p[n++] = 1;
		p[n++] = 3;
		p[n++] = 3;
		p[n++] = s->rcv_wscale;
	}
	return n;
}

unsigned tcp_write_opts(struct bd_tcp_sock *s, uint8_t *p, uint32_t tsval,
			bool with_sack, unsigned budget)
{
	unsigned n = 0;

	if (budget > TCP_MAX_OPT)
		budget = TCP_MAX_OPT;
	if (s->ts_ok)
		n += put_ts(p, tsval, s->ts_recent);
	if (with_sack && s->sack_ok && budget >= n + 4 + 8) {
		uint32_t blk[TCP_MAX_SACK_BLK][2];
		unsigned max = (budget - n - 4) / 8, nb;
		if (max > TCP_MAX_SACK_BLK)
			max = TCP_MAX_SACK_BLK;
		nb = tcp_build_sack_blocks(s, blk, max);
		if (nb) {
			p[n++] = 1;
			p[n++] = 1;
			p[n++] = 5;
			p[n++] = (uint8_t)(2 + 8 * nb);
			for (unsigned b = 0; b < nb; b++) {
				wr32(p + n, blk[b][0]);
				wr32(p + n + 4, blk[b][1]);
				n += 8;
			}
		}
	}
	return n;
}
