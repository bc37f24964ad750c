/* SPDX-License-Identifier: Apache-2.0
 *
 * The port interface: how a bd_stack sends and receives Ethernet frames.
 * Two back ends: the simulator's in-memory ports (sim_port.c) and, later,
 * DPDK ethdev (dpdk_*.c). The protocol code sees only this structure.
 *
 * Ownership: rx_burst hands received packets to the caller. tx_burst takes
 * the first k packets it returns (k <= n) and the caller keeps the rest
 * (the stack frees and counts them).
 *
 * Checksums: when the back end verified a received frame's checksums it sets
 * BD_PKT_F_IP_CSUM_OK / BD_PKT_F_L4_CSUM_OK. On transmit, the stack sets
 * BD_PKT_F_IP_CSUM_TX / BD_PKT_F_L4_CSUM_TX only when the port advertises
 * the matching BD_PORT_CAP_*_TX capability, and computes the checksum in
 * software otherwise. l2_len/l3_len/l4_len are filled in for the offload.
 */
#ifndef BRAID_PORT_H
#define BRAID_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include "braid/pkt.h"

#define BD_PORT_CAP_IP_CSUM_RX (1u << 0)
#define BD_PORT_CAP_L4_CSUM_RX (1u << 1)
#define BD_PORT_CAP_IP_CSUM_TX (1u << 2)
#define BD_PORT_CAP_L4_CSUM_TX (1u << 3)
/* tx_burst takes frames whose payload is referred to (bd_pkt.ref): it has
 * read (copied) those bytes by the time it returns, or copies them into the
 * frame (bd_pkt_linearize) before keeping the frame any longer. Without it
 * the stack linearizes every such frame before tx_burst. */
#define BD_PORT_CAP_TX_REF (1u << 4)

#define BD_ETH_ALEN 6

struct bd_port;

struct bd_port_ops {
	/* Up to n received frames into pkts; returns how many. */
	uint16_t (*rx_burst)(struct bd_port *port, struct bd_pkt **pkts,
			     uint16_t n);
	/* Transmit up to n frames; returns how many were taken. */
	uint16_t (*tx_burst)(struct bd_port *port, struct bd_pkt **pkts,
			     uint16_t n);
	/* Optional: release back end resources (called by the owner). */
	void (*close)(struct bd_port *port);
};

struct bd_port_stats {
	uint64_t ipackets, ibytes; /* frames handed to the stack */
	uint64_t opackets, obytes; /* frames taken by tx_burst */
	uint64_t oerrors;	   /* frames tx_burst refused */
};

struct bd_port {
	const struct bd_port_ops *ops;
	void *priv; /* back end private */
	char name[32];
	uint8_t mac[BD_ETH_ALEN];
	uint16_t mtu;  /* IP MTU (payload of an Ethernet frame) */
	uint32_t caps; /* BD_PORT_CAP_* */
	bool up;
	uint16_t index; /* set by bd_stack_add_port */
	struct bd_port_stats stats;
};

#endif
