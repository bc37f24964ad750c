/* SPDX-License-Identifier: Apache-2.0
 *
 * Packet buffers. The engine never sees a DPDK type: a packet is a bd_pkt,
 * backed either by a heap pool (simulator, unit tests) or by an rte_mbuf
 * (DPDK port back end, which keeps the mbuf pointer in `backend`).
 */
#ifndef BRAID_PKT_H
#define BRAID_PKT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Room kept in front of L4 data for Ethernet + IPv4/IPv6 headers. */
#define BD_PKT_HEADROOM 128u
/* Largest frame the engine builds (jumbo frames allowed). */
#define BD_PKT_MAX_FRAME 9216u

/* bd_pkt.flags: checksums verified by the port on receive (_OK), or to be
 * filled in by the port on transmit (_TX). */
#define BD_PKT_F_IP_CSUM_OK (1u << 0)
#define BD_PKT_F_L4_CSUM_OK (1u << 1)
#define BD_PKT_F_L4_CSUM_TX (1u << 2)
#define BD_PKT_F_IP_CSUM_TX (1u << 3)
/* A copy of a frame that another worker also receives and answers: take
 * what it teaches (a neighbour's address) but send nothing in reply. */
#define BD_PKT_F_LEARN_ONLY (1u << 4)

struct bd_pktpool;

struct bd_pkt {
	uint8_t *data;	  /* first valid byte */
	uint32_t len;	  /* valid bytes from data */
	uint32_t buf_len; /* bytes in the whole buffer from buf */
	uint8_t *buf;	  /* start of the buffer (headroom = data - buf) */
	uint32_t flags;	  /* BD_PKT_F_* */
	uint16_t port;	  /* port index the packet came in on / goes out of */
	uint16_t l2_len;  /* set on output for offloads */
	uint16_t l3_len;
	uint16_t l4_len;
	uint64_t ts_us;		 /* receive (or emulator) timestamp */
	struct bd_pktpool *pool; /* owner; bd_pkt_free returns it there */
	void *backend;		 /* back end private (e.g. struct rte_mbuf *) */
	struct bd_pkt *next;	 /* free for the current owner's queues */
	/* Bytes the frame refers to instead of holding (transmit only): the
	 * frame is data[0..len) followed by ref[0..ref_len). A transport
	 * sets it for payload that stays where it is (TCP's send ring) until
	 * the packet is handed to a port's tx_burst; only a port with
	 * BD_PORT_CAP_TX_REF sees it, and whatever keeps a packet past that
	 * (loopback, ARP queue, a port's own queue) calls bd_pkt_linearize
	 * first. NULL/0 otherwise. */
	const uint8_t *ref;
	uint32_t ref_len;
};

struct bd_pktpool_ops {
	struct bd_pkt *(*alloc)(struct bd_pktpool *pool);
	void (*free)(struct bd_pktpool *pool, struct bd_pkt *p);
};

struct bd_pktpool {
	const struct bd_pktpool_ops *ops;
	uint32_t buf_size; /* bytes per buffer */
	uint64_t allocs, frees, alloc_fail;
	void *priv;
};

/* A heap pool of `count` buffers of `buf_size` bytes (count 0 = unbounded). */
struct bd_pktpool *bd_pktpool_heap_create(uint32_t count, uint32_t buf_size);
void bd_pktpool_destroy(struct bd_pktpool *pool);

/* A packet with BD_PKT_HEADROOM bytes of headroom and len 0, or NULL. */
static inline struct bd_pkt *bd_pkt_alloc(struct bd_pktpool *pool)
{
	struct bd_pkt *p = pool->ops->alloc(pool);
	if (p) {
		pool->allocs++;
	} else {
		pool->alloc_fail++;
	}
	return p;
}

static inline void bd_pkt_free(struct bd_pkt *p)
{
	if (p) {
		p->pool->frees++;
		p->pool->ops->free(p->pool, p);
	}
}

/* Grow the front by n bytes; NULL when there is no headroom left. */
static inline uint8_t *bd_pkt_prepend(struct bd_pkt *p, uint32_t n)
{
	if ((uint32_t)(p->data - p->buf) < n)
		return NULL;
	p->data -= n;
	p->len += n;
	return p->data;
}

/* Drop n bytes from the front; NULL when the packet is shorter. */
static inline uint8_t *bd_pkt_pull(struct bd_pkt *p, uint32_t n)
{
	if (p->len < n)
		return NULL;
	p->data += n;
	p->len -= n;
	return p->data;
}

/* Append n bytes at the tail; NULL when there is no tailroom left. */
static inline uint8_t *bd_pkt_append(struct bd_pkt *p, uint32_t n)
{
	uint32_t used = (uint32_t)(p->data - p->buf) + p->len;
	uint8_t *tail;
	if (p->buf_len - used < n)
		return NULL;
	tail = p->data + p->len;
	p->len += n;
	return tail;
}

static inline uint32_t bd_pkt_tailroom(const struct bd_pkt *p)
{
	return p->buf_len - (uint32_t)(p->data - p->buf) - p->len;
}

/* Bytes of the whole frame (held and referred to). */
static inline uint32_t bd_pkt_frame_len(const struct bd_pkt *p)
{
	return p->len + p->ref_len;
}

/* Copy the referred bytes into the buffer (after data); 0, or -1 when the
 * tailroom is short (the packet is left as it was). */
static inline int bd_pkt_linearize(struct bd_pkt *p)
{
	uint8_t *tail;
	if (!p->ref_len)
		return 0;
	tail = bd_pkt_append(p, p->ref_len);
	if (!tail)
		return -1;
	memcpy(tail, p->ref, p->ref_len);
	p->ref = NULL;
	p->ref_len = 0;
	return 0;
}

#endif
