/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness: whole Ethernet frames into a stack with TCP attached
 * (eth -> arp / ipv4 -> icmp / tcp). Input: one flags byte, then frames as
 * [len_hi len_lo bytes...]. Flags: bit 0 marks frames as checksum-verified
 * by the port, bit 1 repairs the IPv4 and L4 checksums first (to get past
 * them), bit 2 teaches the stack the peer's MAC first, bits 4-7 advance the
 * clock between frames (timers, ARP retries, retransmissions).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "braid/csum.h"
#include "braid/net.h"
#include "braid/port.h"
#include "braid/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t fz_rx(struct bd_port *port, struct bd_pkt **pkts, uint16_t n)
{
	(void)port;
	(void)pkts;
	(void)n;
	return 0;
}

static uint16_t fz_tx(struct bd_port *port, struct bd_pkt **pkts, uint16_t n)
{
	(void)port;
	for (uint16_t i = 0; i < n; i++)
		bd_pkt_free(pkts[i]);
	return n;
}

static const struct bd_port_ops fz_ops = {.rx_burst = fz_rx, .tx_burst = fz_tx};

static void on_accept(void *ctx, struct bd_tcp_sock *l)
{
	(void)ctx;
	(void)l; /* left in the queue: closing the listener resets them */
}

static const struct bd_tcp_callbacks lcb = {.on_accept = on_accept};

static void fix_csums(uint8_t *f, uint32_t len)
{
	uint8_t *ip = f + 14;
	uint32_t ihl, tot;
	if (len < 34 || f[12] != 0x08 || f[13] != 0x00 || (ip[0] >> 4) != 4)
		return;
	ihl = (ip[0] & 15u) * 4;
	tot = (uint32_t)ip[2] << 8 | ip[3];
	if (ihl < 20 || 14 + ihl > len)
		return;
	ip[10] = ip[11] = 0;
	{
		uint16_t c = bd_csum(ip, ihl);
		ip[10] = (uint8_t)(c >> 8);
		ip[11] = (uint8_t)c;
	}
	if (tot < ihl || 14 + tot > len)
		return;
	if (ip[9] == 6 && tot - ihl >= 20) {
		uint8_t *t = ip + ihl;
		uint32_t s = (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 |
			     (uint32_t)ip[14] << 8 | ip[15];
		uint32_t d = (uint32_t)ip[16] << 24 | (uint32_t)ip[17] << 16 |
			     (uint32_t)ip[18] << 8 | ip[19];
		uint16_t c;
		t[16] = t[17] = 0;
		c = bd_csum_fold(bd_csum_add(
		    bd_csum_pseudo4(s, d, 6, tot - ihl), t, tot - ihl));
		t[16] = (uint8_t)(c >> 8);
		t[17] = (uint8_t)c;
	} else if (ip[9] == 1 && tot - ihl >= 4) {
		uint8_t *m = ip + ihl;
		uint16_t c;
		m[2] = m[3] = 0;
		c = bd_csum(m, tot - ihl);
		m[2] = (uint8_t)(c >> 8);
		m[3] = (uint8_t)c;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bd_pktpool *pool;
	struct bd_stack_config cfg = {0};
	struct bd_stack *st;
	struct bd_port port;
	struct bd_tcp_sock *l;
	uint8_t flags;
	size_t off = 1;
	uint64_t now = 0;
	int err;

	if (size < 1)
		return 0;
	flags = data[0];
	pool = bd_pktpool_heap_create(4096, 2048);
	cfg.pool = pool;
	cfg.seed = 7;
	st = bd_stack_create(&cfg);
	memset(&port, 0, sizeof(port));
	port.ops = &fz_ops;
	port.mtu = 1500;
	port.up = true;
	memcpy(port.mac, "\x02\x00\x00\x00\x00\x01", 6);
	bd_stack_add_port(st, &port);
	bd_stack_set_ipv4(st, 0, BD_IP4(10, 0, 0, 1), 24,
			  BD_IP4(10, 0, 0, 254));
	bd_stack_use_tcp(st, NULL);
	l = bd_tcp_listen(bd_stack_tcp(st), NULL, 80, 4, NULL, &lcb, NULL,
			  &err);
	if (flags & 4) {
		static const uint8_t arp[42] = {
		    2,	0, 0, 0, 0, 1, 2, 0, 0, 0, 0,  2, 8, 6,
		    0,	1, 8, 0, 6, 4, 0, 2, 2, 0, 0,  0, 0, 2,
		    10, 0, 0, 2, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1};
		struct bd_pkt *p = bd_pkt_alloc(pool);
		memcpy(bd_pkt_append(p, sizeof(arp)), arp, sizeof(arp));
		bd_stack_input(st, 0, p);
	}
	while (off + 2 <= size) {
		uint32_t len = (uint32_t)data[off] << 8 | data[off + 1];
		struct bd_pkt *p;
		uint8_t *b;
		off += 2;
		if (len > size - off)
			len = (uint32_t)(size - off);
		if (len > 1600)
			len = 1600;
		p = bd_pkt_alloc(pool);
		if (!p)
			break;
		b = bd_pkt_append(p, len);
		memcpy(b, data + off, len);
		off += len;
		if (flags & 2)
			fix_csums(b, len);
		if (flags & 1)
			p->flags |= BD_PKT_F_IP_CSUM_OK | BD_PKT_F_L4_CSUM_OK;
		bd_stack_input(st, 0, p);
		now += (uint64_t)(flags >> 4) * 250000;
		bd_stack_set_now(st, now);
		bd_stack_poll(st);
	}
	bd_stack_set_now(st, now + 5000000);
	bd_stack_poll(st);
	if (l)
		bd_tcp_close(l);
	bd_stack_poll(st);
	bd_stack_drop_tcp(st);
	bd_stack_destroy(st);
	bd_pktpool_destroy(pool);
	return 0;
}
