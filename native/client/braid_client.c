/* SPDX-License-Identifier: Apache-2.0
 *
 * braid_client over the channel's application side (braid/chan.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "braid_client.h"

#define MAX_ANSWERS	    64
#define MAX_PENDING_ACCEPTS 1024

struct conn_state {
	bool open;
	bool closed;
	int err;
	struct bd_chan_addr l, r;
};

struct accepted {
	uint32_t slot;
	uint32_t lid;
};

struct braid_client {
	struct bd_chan_view *v;
	uint64_t cookie;
	struct conn_state *conns;
	struct bd_chan_msg answers[MAX_ANSWERS];
	unsigned nanswers;
	struct accepted acc[MAX_PENDING_ACCEPTS];
	unsigned nacc;
	bool gone;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds left of a deadline (-1: none). */
static int left(uint64_t deadline)
{
	uint64_t n;
	if (deadline == UINT64_MAX)
		return -1;
	n = now_ms();
	return n >= deadline ? 0 : (int)(deadline - n);
}

static uint64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : now_ms() + (uint64_t)timeout_ms;
}

braid_client *braid_attach(const char *path, const char *name, char *err,
			   size_t errlen)
{
	braid_client *c = calloc(1, sizeof(*c));
	int rc;
	if (!c)
		return NULL;
	rc = bd_chan_attach(path, name, 3000, &c->v, err, errlen);
	if (rc < 0) {
		free(c);
		errno = -rc;
		return NULL;
	}
	c->conns = calloc(bd_chan_nslots(c->v), sizeof(*c->conns));
	if (!c->conns) {
		bd_chan_detach(c->v);
		free(c);
		return NULL;
	}
	return c;
}

void braid_detach(braid_client *c)
{
	if (!c)
		return;
	bd_chan_detach(c->v);
	free(c->conns);
	free(c);
}

int braid_fd(const braid_client *c)
{
	return bd_chan_event_fd(c->v);
}

static void take_events(braid_client *c)
{
	struct bd_chan_msg m;
	while (bd_chan_next_event(c->v, &m) == 1) {
		switch (m.type) {
		case BD_CHAN_EV_ACCEPTED:
			if (c->nacc == MAX_PENDING_ACCEPTS) {
				bd_chan_release(c->v, m.slot, true);
				break;
			}
			c->conns[m.slot] = (struct conn_state){
			    .open = true, .l = m.laddr, .r = m.raddr};
			c->acc[c->nacc].slot = m.slot;
			c->acc[c->nacc++].lid = m.arg;
			break;
		case BD_CHAN_EV_CLOSED:
			c->conns[m.slot].closed = true;
			c->conns[m.slot].err = m.err;
			break;
		case BD_CHAN_EV_CONNECTED:
			c->conns[m.slot] = (struct conn_state){
			    .open = true, .l = m.laddr, .r = m.raddr};
			/* FALLTHROUGH: also an answer */
			__attribute__((fallthrough));
		default:
			if (c->nanswers < MAX_ANSWERS)
				c->answers[c->nanswers++] = m;
		}
	}
	if (!bd_chan_node_alive(c->v))
		c->gone = true;
}

int braid_poll(braid_client *c, int timeout_ms)
{
	int rc;
	take_events(c);
	if (c->gone)
		return -ESHUTDOWN;
	if (!timeout_ms)
		return 0;
	rc = bd_chan_wait(c->v, timeout_ms);
	take_events(c);
	if (rc == -BD_ESHUTDOWN || c->gone) {
		c->gone = true;
		return -ESHUTDOWN;
	}
	return 0;
}

/* Wait for the answer to a cookie. */
static int await_answer(braid_client *c, uint64_t cookie, uint64_t deadline,
			struct bd_chan_msg *out)
{
	for (;;) {
		int rc;
		take_events(c);
		for (unsigned i = 0; i < c->nanswers; i++)
			if (c->answers[i].cookie == cookie) {
				*out = c->answers[i];
				c->answers[i] = c->answers[--c->nanswers];
				return 0;
			}
		if (c->gone)
			return -ESHUTDOWN;
		if (left(deadline) == 0)
			return -ETIMEDOUT;
		rc = bd_chan_wait(c->v,
				  left(deadline) < 0 ? 1000 : left(deadline));
		if (rc == -BD_ESHUTDOWN)
			c->gone = true;
	}
}

static int submit(braid_client *c, struct bd_chan_msg *m, uint64_t deadline)
{
	for (;;) {
		int rc = bd_chan_request(c->v, m);
		if (rc == 0)
			return 0;
		if (c->gone || !bd_chan_node_alive(c->v))
			return -ESHUTDOWN;
		if (left(deadline) == 0)
			return -ETIMEDOUT;
		bd_chan_wait(c->v, 10);
		take_events(c);
	}
}

static int parse_addr(const char *host, uint16_t port, struct bd_chan_addr *a)
{
	struct in_addr in;
	memset(a, 0, sizeof(*a));
	a->port = port;
	if (!host || !*host || strcmp(host, "0.0.0.0") == 0)
		return 0;
	if (inet_pton(AF_INET, host, &in) != 1)
		return -EINVAL;
	a->family = BD_AF_INET;
	a->v4 = ntohl(in.s_addr);
	return 0;
}

static void copy_opts(const struct braid_opts *o, struct bd_chan_opts *out)
{
	memset(out, 0, sizeof(*out));
	if (!o)
		return;
	if (o->congestion_control)
		snprintf(out->cc, sizeof(out->cc), "%s", o->congestion_control);
	if (o->scheduler)
		snprintf(out->scheduler, sizeof(out->scheduler), "%s",
			 o->scheduler);
	if (o->path_manager)
		snprintf(out->path_manager, sizeof(out->path_manager), "%s",
			 o->path_manager);
	out->subflows = (uint8_t)o->subflows;
	out->nagle = o->nagle != 0;
}

int braid_connect(braid_client *c, const char *host, uint16_t port,
		  const struct braid_opts *opts, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct bd_chan_msg m, ans;
	int rc;
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_CONNECT;
	m.cookie = ++c->cookie;
	if (parse_addr(host, port, &m.raddr) < 0 || !m.raddr.family || !port)
		return -EINVAL;
	copy_opts(opts, &m.opts);
	if ((rc = submit(c, &m, deadline)) < 0)
		return rc;
	if ((rc = await_answer(c, m.cookie, deadline, &ans)) < 0)
		return rc;
	if (ans.type != BD_CHAN_EV_CONNECTED)
		return -(ans.err ? ans.err : EIO);
	return (int)ans.slot;
}

int braid_listen(braid_client *c, const char *host, uint16_t port, int backlog,
		 const struct braid_opts *opts)
{
	uint64_t deadline = deadline_of(5000);
	struct bd_chan_msg m, ans;
	int rc;
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_LISTEN;
	m.cookie = ++c->cookie;
	m.arg = backlog > 0 ? (uint32_t)backlog : 0;
	if (parse_addr(host, port, &m.laddr) < 0 || !port)
		return -EINVAL;
	copy_opts(opts, &m.opts);
	if ((rc = submit(c, &m, deadline)) < 0)
		return rc;
	if ((rc = await_answer(c, m.cookie, deadline, &ans)) < 0)
		return rc;
	if (ans.type != BD_CHAN_EV_LISTENING)
		return -(ans.err ? ans.err : EIO);
	return (int)ans.slot;
}

int braid_close_listener(braid_client *c, int listener)
{
	struct bd_chan_msg m;
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_CLOSE_LISTENER;
	m.cookie = ++c->cookie;
	m.slot = (uint32_t)listener;
	return submit(c, &m, deadline_of(1000));
}

static void endpoint(const struct bd_chan_addr *a, struct braid_endpoint *e)
{
	struct in_addr in;
	memset(e, 0, sizeof(*e));
	e->port = a->port;
	in.s_addr = htonl(a->v4);
	if (a->family == BD_AF_INET)
		inet_ntop(AF_INET, &in, e->address, sizeof(e->address));
}

int braid_accept(braid_client *c, int listener, int timeout_ms,
		 struct braid_endpoint *remote)
{
	uint64_t deadline = deadline_of(timeout_ms);
	for (;;) {
		take_events(c);
		for (unsigned i = 0; i < c->nacc; i++)
			if ((int)c->acc[i].lid == listener) {
				uint32_t slot = c->acc[i].slot;
				memmove(&c->acc[i], &c->acc[i + 1],
					(c->nacc - i - 1) * sizeof(c->acc[0]));
				c->nacc--;
				if (remote)
					endpoint(&c->conns[slot].r, remote);
				return (int)slot;
			}
		if (c->gone)
			return -ESHUTDOWN;
		if (left(deadline) == 0)
			return -EAGAIN;
		if (bd_chan_wait(c->v,
				 left(deadline) < 0 ? 1000 : left(deadline)) ==
		    -BD_ESHUTDOWN)
			c->gone = true;
	}
}

static bool valid(braid_client *c, int conn)
{
	return conn >= 0 && (uint32_t)conn < bd_chan_nslots(c->v) &&
	       c->conns[conn].open;
}

ssize_t braid_send(braid_client *c, int conn, const void *buf, size_t len)
{
	long n;
	if (!valid(c, conn))
		return -EBADF;
	if (c->gone)
		return -ESHUTDOWN;
	if (c->conns[conn].closed && c->conns[conn].err)
		return -c->conns[conn].err;
	n = bd_chan_write(c->v, (uint32_t)conn, buf, len);
	if (n == 0 && len)
		return -EAGAIN;
	return n;
}

ssize_t braid_recv(braid_client *c, int conn, void *buf, size_t cap)
{
	long n;
	if (!valid(c, conn))
		return -EBADF;
	n = bd_chan_read(c->v, (uint32_t)conn, buf, cap);
	if (n == -BD_EAGAIN && c->gone)
		return -ESHUTDOWN;
	return n;
}

ssize_t braid_send_all(braid_client *c, int conn, const void *buf, size_t len,
		       int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	size_t done = 0;
	while (done < len) {
		ssize_t n = braid_send(c, conn, (const uint8_t *)buf + done,
				       len - done);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n != -EAGAIN)
			return done ? (ssize_t)done : n;
		if (left(deadline) == 0)
			return done ? (ssize_t)done : -EAGAIN;
		if (braid_poll(c, left(deadline) < 0 ? 1000 : left(deadline)) <
		    0)
			return -ESHUTDOWN;
	}
	return (ssize_t)done;
}

ssize_t braid_recv_wait(braid_client *c, int conn, void *buf, size_t cap,
			int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	for (;;) {
		ssize_t n = braid_recv(c, conn, buf, cap);
		if (n != -EAGAIN)
			return n;
		if (left(deadline) == 0)
			return -EAGAIN;
		if (braid_poll(c, left(deadline) < 0 ? 1000 : left(deadline)) <
		    0)
			return -ESHUTDOWN;
	}
}

int braid_shutdown(braid_client *c, int conn)
{
	if (!valid(c, conn))
		return -EBADF;
	return bd_chan_shutdown(c->v, (uint32_t)conn);
}

static int release(braid_client *c, int conn, bool abort)
{
	int rc;
	if (!valid(c, conn))
		return -EBADF;
	while ((rc = bd_chan_release(c->v, (uint32_t)conn, abort)) ==
	       -BD_EAGAIN) {
		if (braid_poll(c, 10) < 0)
			break;
	}
	c->conns[conn].open = false;
	return rc == -BD_EAGAIN ? -ESHUTDOWN : 0;
}

int braid_close(braid_client *c, int conn)
{
	return release(c, conn, false);
}

int braid_abort(braid_client *c, int conn)
{
	return release(c, conn, true);
}

int braid_get_endpoints(braid_client *c, int conn, struct braid_endpoint *local,
			struct braid_endpoint *remote)
{
	if (!valid(c, conn))
		return -EBADF;
	if (local)
		endpoint(&c->conns[conn].l, local);
	if (remote)
		endpoint(&c->conns[conn].r, remote);
	return 0;
}

int braid_get_info(braid_client *c, int conn, struct bd_chan_info *out,
		   int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	struct bd_chan_msg m, ans;
	uint32_t gen;
	int rc;
	if (!valid(c, conn) || !bd_chan_holds(c->v, (uint32_t)conn, &gen))
		return -EBADF;
	memset(&m, 0, sizeof(m));
	m.type = BD_CHAN_REQ_INFO;
	m.cookie = ++c->cookie;
	m.slot = (uint32_t)conn;
	m.gen = gen;
	if ((rc = submit(c, &m, deadline)) < 0)
		return rc;
	if ((rc = await_answer(c, m.cookie, deadline, &ans)) < 0)
		return rc;
	if (ans.type != BD_CHAN_EV_INFO)
		return -(ans.err ? ans.err : EIO);
	return bd_chan_read_info(c->v, (uint32_t)conn, out);
}
