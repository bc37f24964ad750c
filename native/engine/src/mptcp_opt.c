/* SPDX-License-Identifier: Apache-2.0
 *
 * MPTCP v1 options codec (RFC 8684 section 3). Parsing trusts nothing: every
 * subtype has a fixed set of lengths, every reserved flag must be zero where
 * the RFC or Linux refuses it, and the MP_CAPABLE / MP_JOIN form must fit
 * the segment's SYN/ACK flags. Writing produces exactly the RFC layout.
 */
#include <string.h>

#include "braid/mptcp.h"
#include "braid/tcp.h"

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static const char *const subtype_names[BD_MPTCPOPT_NSUBTYPES] = {
    "MP_CAPABLE", "MP_JOIN", "DSS",	     "ADD_ADDR",  "REMOVE_ADDR",
    "MP_PRIO",	  "MP_FAIL", "MP_FASTCLOSE", "MP_TCPRST",
};

const char *bd_mptcp_subtype_name(unsigned subtype)
{
	return subtype < BD_MPTCPOPT_NSUBTYPES ? subtype_names[subtype] : "?";
}

static int refuse(struct bd_mptcp_mib *mib, int err)
{
	if (mib) {
		switch (err) {
		case BD_MPTCP_PERR_LEN:
			mib->BraidOptBadLen++;
			break;
		case BD_MPTCP_PERR_FLAGS:
			mib->BraidOptBadFlags++;
			break;
		case BD_MPTCP_PERR_VERSION:
			mib->BraidOptBadVersion++;
			break;
		case BD_MPTCP_PERR_SUBTYPE:
			mib->BraidOptBadSubtype++;
			break;
		default:
			mib->BraidOptBadContext++;
			break;
		}
	}
	return -err;
}

unsigned bd_mptcp_dss_len(uint8_t flags, bool csum)
{
	unsigned n = 4;
	if (flags & BD_DSS_A)
		n += (flags & BD_DSS_a) ? 8 : 4;
	if (flags & BD_DSS_M)
		n += ((flags & BD_DSS_m) ? 8 : 4) + 4 + 2 + (csum ? 2 : 0);
	return n;
}

static int parse_mpc(struct bd_mptcp_mpc *m, const uint8_t *p, unsigned len,
		     uint8_t tf)
{
	bool syn = tf & BD_TCP_F_SYN, ack = tf & BD_TCP_F_ACK;
	uint8_t form;
	switch (len) {
	case 4:
		form = BD_MPF_SYN;
		break;
	case 12:
		form = BD_MPF_SYNACK;
		break;
	case 20:
		form = BD_MPF_ACK;
		break;
	case 22:
		form = BD_MPF_ACK_DATA;
		break;
	case 24:
		form = BD_MPF_ACK_DATA_CSUM;
		break;
	default:
		return BD_MPTCP_PERR_LEN;
	}
	if (form == BD_MPF_SYN && !(syn && !ack))
		return BD_MPTCP_PERR_CONTEXT;
	if (form == BD_MPF_SYNACK && !(syn && ack))
		return BD_MPTCP_PERR_CONTEXT;
	if (form >= BD_MPF_ACK && (syn || !ack))
		return BD_MPTCP_PERR_CONTEXT;
	if ((p[2] & 0x0f) != BD_MPTCP_VERSION)
		return BD_MPTCP_PERR_VERSION;
	/* B (extensibility) must be 0; of D..H only H is defined. */
	if ((p[3] & BD_MPC_FLAG_B) || (p[3] & 0x1f) != BD_MPC_FLAG_H)
		return BD_MPTCP_PERR_FLAGS;
	memset(m, 0, sizeof(*m));
	m->form = form;
	m->version = p[2] & 0x0f;
	m->flags = p[3];
	if (len >= 12)
		m->snd_key = get64(p + 4);
	if (len >= 20)
		m->rcv_key = get64(p + 12);
	if (len >= 22)
		m->data_len = get16(p + 20);
	if (len == 24)
		m->csum = get16(p + 22);
	return 0;
}

static int parse_join(struct bd_mptcp_join *j, const uint8_t *p, unsigned len,
		      uint8_t tf)
{
	bool syn = tf & BD_TCP_F_SYN, ack = tf & BD_TCP_F_ACK;
	memset(j, 0, sizeof(*j));
	switch (len) {
	case 12:
		if (!syn || ack)
			return BD_MPTCP_PERR_CONTEXT;
		j->form = BD_MPF_SYN;
		j->backup = p[2] & 1;
		j->addr_id = p[3];
		j->token = get32(p + 4);
		j->nonce = get32(p + 8);
		return 0;
	case 16:
		if (!syn || !ack)
			return BD_MPTCP_PERR_CONTEXT;
		j->form = BD_MPF_SYNACK;
		j->backup = p[2] & 1;
		j->addr_id = p[3];
		j->thmac = get64(p + 4);
		j->nonce = get32(p + 12);
		return 0;
	case 24:
		if (syn || !ack)
			return BD_MPTCP_PERR_CONTEXT;
		/* 12 reserved bits: ignored on receipt (RFC 8684 3.2). */
		j->form = BD_MPF_ACK;
		memcpy(j->hmac, p + 4, 20);
		return 0;
	default:
		return BD_MPTCP_PERR_LEN;
	}
}

static int parse_dss(struct bd_mptcp_dss *d, const uint8_t *p, unsigned len,
		     uint8_t tf)
{
	uint8_t fl = p[3];
	if (tf & BD_TCP_F_SYN)
		return BD_MPTCP_PERR_CONTEXT;
	/* Reserved bits and a/m without A/M are ignored (as Linux does);
	 * a DATA_FIN needs a mapping to have a data sequence number. */
	fl &= 0x1f;
	if (!(fl & BD_DSS_A))
		fl &= (uint8_t)~BD_DSS_a;
	if (!(fl & BD_DSS_M))
		fl &= (uint8_t)~BD_DSS_m;
	if ((fl & BD_DSS_F) && !(fl & BD_DSS_M))
		return BD_MPTCP_PERR_FLAGS;
	bool csum;
	if (len == bd_mptcp_dss_len(fl, false))
		csum = false;
	else if ((fl & BD_DSS_M) && len == bd_mptcp_dss_len(fl, true))
		csum = true;
	else
		return BD_MPTCP_PERR_LEN;
	memset(d, 0, sizeof(*d));
	d->flags = fl;
	const uint8_t *q = p + 4;
	if (fl & BD_DSS_A) {
		if (fl & BD_DSS_a) {
			d->data_ack = get64(q);
			q += 8;
		} else {
			d->data_ack = get32(q);
			q += 4;
		}
	}
	if (fl & BD_DSS_M) {
		if (fl & BD_DSS_m) {
			d->dsn = get64(q);
			q += 8;
		} else {
			d->dsn = get32(q);
			q += 4;
		}
		d->ssn = get32(q);
		d->dll = get16(q + 4);
		q += 6;
		if (csum) {
			d->has_csum = true;
			d->csum = get16(q);
		}
	}
	return 0;
}

static int parse_add_addr(struct bd_mptcp_add_addr *a, const uint8_t *p,
			  unsigned len, uint8_t tf)
{
	if (tf & BD_TCP_F_SYN)
		return BD_MPTCP_PERR_CONTEXT;
	if (len < 4)
		return BD_MPTCP_PERR_LEN;
	bool echo = p[2] & 1;
	/* address (4/16) + port (0/2) + HMAC (8 unless echo) */
	unsigned body = len - 4, hm = echo ? 0 : 8;
	unsigned alen, plen;
	if (body == 4 + hm || body == 4 + 2 + hm)
		alen = 4;
	else if (body == 16 + hm || body == 16 + 2 + hm)
		alen = 16;
	else
		return BD_MPTCP_PERR_LEN;
	plen = body - alen - hm;
	memset(a, 0, sizeof(*a));
	a->echo = echo;
	a->addr_id = p[3];
	if (alen == 4) {
		a->addr.family = BD_AF_INET;
		a->addr.v4 = get32(p + 4);
	} else {
		a->addr.family = BD_AF_INET6;
		memcpy(a->addr.v6, p + 4, 16);
	}
	if (plen) {
		a->port = get16(p + 4 + alen);
		if (a->port == 0)
			return BD_MPTCP_PERR_FLAGS;
	}
	if (hm)
		a->hmac = get64(p + 4 + alen + plen);
	return 0;
}

int bd_mptcp_opt_parse(struct bd_mptcp_opts *o, const uint8_t *opt,
		       unsigned len, uint8_t tcp_flags,
		       struct bd_mptcp_mib *mib)
{
	int err = 0;
	if (len < 3 || opt[0] != BD_TCPOPT_MPTCP || opt[1] != len ||
	    len > BD_MPTCP_OPT_MAX)
		return refuse(mib, BD_MPTCP_PERR_LEN);
	unsigned st = opt[2] >> 4;
	/* Every subtype except MP_PRIO has at least 4 bytes. */
	if (len < 4 && st != BD_MPTCPOPT_MP_PRIO)
		return refuse(mib, st < BD_MPTCPOPT_NSUBTYPES
				       ? BD_MPTCP_PERR_LEN
				       : BD_MPTCP_PERR_SUBTYPE);
	switch (st) {
	case BD_MPTCPOPT_MP_CAPABLE: {
		struct bd_mptcp_mpc m;
		err = parse_mpc(&m, opt, len, tcp_flags);
		if (!err)
			o->mpc = m;
		break;
	}
	case BD_MPTCPOPT_MP_JOIN: {
		struct bd_mptcp_join j;
		err = parse_join(&j, opt, len, tcp_flags);
		if (!err)
			o->join = j;
		break;
	}
	case BD_MPTCPOPT_DSS: {
		struct bd_mptcp_dss d;
		err = parse_dss(&d, opt, len, tcp_flags);
		if (!err)
			o->dss = d;
		break;
	}
	case BD_MPTCPOPT_ADD_ADDR: {
		struct bd_mptcp_add_addr a;
		err = parse_add_addr(&a, opt, len, tcp_flags);
		if (!err)
			o->add_addr = a;
		break;
	}
	case BD_MPTCPOPT_RM_ADDR:
		if (tcp_flags & BD_TCP_F_SYN)
			err = BD_MPTCP_PERR_CONTEXT;
		else if (len < 4 || len > 3 + BD_MPTCP_RM_IDS_MAX)
			err = BD_MPTCP_PERR_LEN;
		else {
			o->rm_addr.n = (uint8_t)(len - 3);
			memcpy(o->rm_addr.ids, opt + 3, len - 3);
		}
		break;
	case BD_MPTCPOPT_MP_PRIO:
		if (tcp_flags & BD_TCP_F_SYN)
			err = BD_MPTCP_PERR_CONTEXT;
		else if (len != 3)
			err = BD_MPTCP_PERR_LEN;
		else
			o->prio_backup = opt[2] & 1;
		break;
	case BD_MPTCPOPT_MP_FAIL:
		if (tcp_flags & BD_TCP_F_SYN)
			err = BD_MPTCP_PERR_CONTEXT;
		else if (len != 12)
			err = BD_MPTCP_PERR_LEN;
		else
			o->fail_dsn = get64(opt + 4);
		break;
	case BD_MPTCPOPT_MP_FASTCLOSE:
		if (tcp_flags & BD_TCP_F_SYN)
			err = BD_MPTCP_PERR_CONTEXT;
		else if (len != 12)
			err = BD_MPTCP_PERR_LEN;
		else
			o->fastclose_key = get64(opt + 4);
		break;
	case BD_MPTCPOPT_MP_TCPRST:
		if (len != 4)
			err = BD_MPTCP_PERR_LEN;
		else if (!(tcp_flags & BD_TCP_F_RST))
			err = BD_MPTCP_PERR_CONTEXT;
		else {
			/* U, V, W are reserved (ignored); T is kept. */
			o->rst_flags = opt[2] & BD_TCPRST_FLAG_T;
			o->rst_reason = opt[3];
		}
		break;
	default:
		err = BD_MPTCP_PERR_SUBTYPE;
		break;
	}
	if (err)
		return refuse(mib, err);
	o->present |= BD_MPTCP_HAS(st);
	return (int)st;
}

int bd_mptcp_opts_parse_block(struct bd_mptcp_opts *o, const uint8_t *opts,
			      unsigned len, uint8_t tcp_flags,
			      struct bd_mptcp_mib *mib)
{
	int n = 0;
	unsigned i = 0;
	while (i < len) {
		uint8_t kind = opts[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opts[i + 1] < 2 || opts[i + 1] > len - i)
			return -BD_MPTCP_PERR_LEN;
		unsigned ol = opts[i + 1];
		if (kind == BD_TCPOPT_MPTCP &&
		    bd_mptcp_opt_parse(o, opts + i, ol, tcp_flags, mib) >= 0)
			n++;
		i += ol;
	}
	return n;
}

unsigned bd_mptcp_opt_len(const struct bd_mptcp_opts *o, unsigned subtype)
{
	switch (subtype) {
	case BD_MPTCPOPT_MP_CAPABLE: {
		static const uint8_t l[] = {4, 12, 20, 22, 24};
		return o->mpc.form < sizeof(l) ? l[o->mpc.form] : 0;
	}
	case BD_MPTCPOPT_MP_JOIN:
		return o->join.form == BD_MPF_SYN      ? 12
		       : o->join.form == BD_MPF_SYNACK ? 16
		       : o->join.form == BD_MPF_ACK    ? 24
						       : 0;
	case BD_MPTCPOPT_DSS:
		/* reserved bits, or a DATA_FIN without a mapping */
		if ((o->dss.flags & 0xe0) ||
		    ((o->dss.flags & BD_DSS_F) && !(o->dss.flags & BD_DSS_M)))
			return 0;
		return bd_mptcp_dss_len(
		    o->dss.flags, o->dss.has_csum && (o->dss.flags & BD_DSS_M));
	case BD_MPTCPOPT_ADD_ADDR: {
		const struct bd_mptcp_add_addr *a = &o->add_addr;
		unsigned n = 4;
		if (a->addr.family == BD_AF_INET)
			n += 4;
		else if (a->addr.family == BD_AF_INET6)
			n += 16;
		else
			return 0;
		return n + (a->port ? 2 : 0) + (a->echo ? 0 : 8);
	}
	case BD_MPTCPOPT_RM_ADDR:
		if (o->rm_addr.n < 1 || o->rm_addr.n > BD_MPTCP_RM_IDS_MAX)
			return 0;
		return 3u + o->rm_addr.n;
	case BD_MPTCPOPT_MP_PRIO:
		return 3;
	case BD_MPTCPOPT_MP_FAIL:
	case BD_MPTCPOPT_MP_FASTCLOSE:
		return 12;
	case BD_MPTCPOPT_MP_TCPRST:
		return 4;
	default:
		return 0;
	}
}

unsigned bd_mptcp_opt_write(const struct bd_mptcp_opts *o, unsigned subtype,
			    uint8_t *b, unsigned space)
{
	unsigned len = bd_mptcp_opt_len(o, subtype);
	if (!len || len > space)
		return 0;
	memset(b, 0, len);
	b[0] = BD_TCPOPT_MPTCP;
	b[1] = (uint8_t)len;
	b[2] = (uint8_t)(subtype << 4);
	switch (subtype) {
	case BD_MPTCPOPT_MP_CAPABLE:
		b[2] |= BD_MPTCP_VERSION;
		b[3] =
		    (uint8_t)((o->mpc.flags & (BD_MPC_FLAG_A | BD_MPC_FLAG_C)) |
			      BD_MPC_FLAG_H);
		if (len >= 12)
			put64(b + 4, o->mpc.snd_key);
		if (len >= 20)
			put64(b + 12, o->mpc.rcv_key);
		if (len >= 22)
			put16(b + 20, o->mpc.data_len);
		if (len == 24)
			put16(b + 22, o->mpc.csum);
		break;
	case BD_MPTCPOPT_MP_JOIN:
		if (o->join.form == BD_MPF_SYN) {
			b[2] |= o->join.backup ? 1 : 0;
			b[3] = o->join.addr_id;
			put32(b + 4, o->join.token);
			put32(b + 8, o->join.nonce);
		} else if (o->join.form == BD_MPF_SYNACK) {
			b[2] |= o->join.backup ? 1 : 0;
			b[3] = o->join.addr_id;
			put64(b + 4, o->join.thmac);
			put32(b + 12, o->join.nonce);
		} else {
			memcpy(b + 4, o->join.hmac, 20);
		}
		break;
	case BD_MPTCPOPT_DSS: {
		const struct bd_mptcp_dss *d = &o->dss;
		uint8_t fl = d->flags;
		if (!(fl & BD_DSS_A))
			fl &= (uint8_t)~BD_DSS_a;
		if (!(fl & BD_DSS_M))
			fl &= (uint8_t)~BD_DSS_m;
		if (bd_mptcp_dss_len(fl, d->has_csum && (fl & BD_DSS_M)) != len)
			return 0;
		b[3] = fl;
		uint8_t *q = b + 4;
		if (fl & BD_DSS_A) {
			if (fl & BD_DSS_a) {
				put64(q, d->data_ack);
				q += 8;
			} else {
				put32(q, (uint32_t)d->data_ack);
				q += 4;
			}
		}
		if (fl & BD_DSS_M) {
			if (fl & BD_DSS_m) {
				put64(q, d->dsn);
				q += 8;
			} else {
				put32(q, (uint32_t)d->dsn);
				q += 4;
			}
			put32(q, d->ssn);
			put16(q + 4, d->dll);
			q += 6;
			if (d->has_csum)
				put16(q, d->csum);
		}
		break;
	}
	case BD_MPTCPOPT_ADD_ADDR: {
		const struct bd_mptcp_add_addr *a = &o->add_addr;
		unsigned i = 4;
		b[2] |= a->echo ? 1 : 0;
		b[3] = a->addr_id;
		if (a->addr.family == BD_AF_INET) {
			put32(b + i, a->addr.v4);
			i += 4;
		} else {
			memcpy(b + i, a->addr.v6, 16);
			i += 16;
		}
		if (a->port) {
			put16(b + i, a->port);
			i += 2;
		}
		if (!a->echo)
			put64(b + i, a->hmac);
		break;
	}
	case BD_MPTCPOPT_RM_ADDR:
		memcpy(b + 3, o->rm_addr.ids, o->rm_addr.n);
		break;
	case BD_MPTCPOPT_MP_PRIO:
		b[2] |= o->prio_backup ? 1 : 0;
		break;
	case BD_MPTCPOPT_MP_FAIL:
		put64(b + 4, o->fail_dsn);
		break;
	case BD_MPTCPOPT_MP_FASTCLOSE:
		put64(b + 4, o->fastclose_key);
		break;
	case BD_MPTCPOPT_MP_TCPRST:
		b[2] |= o->rst_flags & BD_TCPRST_FLAG_T;
		b[3] = o->rst_reason;
		break;
	}
	return len;
}
