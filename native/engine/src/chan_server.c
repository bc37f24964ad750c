/* SPDX-License-Identifier: Apache-2.0
 *
 * The attach protocol over a Unix SOCK_SEQPACKET socket, both ends.
 *
 *   app  -> node   hello   {magic, versions, wanted slots / FIFO size, name}
 *   node -> app    welcome {magic, version, err, app id, region size, node}
 *                  + SCM_RIGHTS [memfd, app eventfd, node eventfd]
 *
 * The node learns the app's pid/uid/gid from SO_PEERCRED, sizes and seals
 * the memfd (no shrinking: an app cannot make the node fault), and keeps the
 * socket open for the app's lifetime: its closing is how each side learns
 * the other is gone (an app that crashes, a node that stops).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chan_impl.h"
#include "chan_view.h"

#define TAG_SOCK 1u
#define TAG_EFD	 2u

struct bd_chan_server {
	struct bd_chan_server_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char node[64];
	int lfd, epfd;
	struct bd_chan_app *apps;
	unsigned napps;
	uint32_t next_id;
};

#define seterr(err, errlen, fmt, a, e)                                         \
	do {                                                                   \
		if ((err) && (errlen))                                         \
			snprintf((err), (errlen), fmt, (a), strerror(e));      \
	} while (0)

static uint32_t floor_pow2(uint32_t v)
{
	uint32_t p = 1;
	while (p <= v / 2)
		p <<= 1;
	return p;
}

struct bd_chan_server *
bd_chan_server_create(const struct bd_chan_server_config *cfg, char *err,
		      size_t errlen)
{
	struct bd_chan_server *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa;
	struct epoll_event ev;
	struct bd_chan_geom g;
	if (!s)
		return NULL;
	s->cfg = *cfg;
	s->lfd = s->epfd = -1;
	if (!s->cfg.nslots)
		s->cfg.nslots = BD_CHAN_DEFAULT_SLOTS;
	if (!s->cfg.fifo_size)
		s->cfg.fifo_size = BD_CHAN_DEFAULT_FIFO;
	if (!s->cfg.ring_size)
		s->cfg.ring_size = BD_CHAN_DEFAULT_RING;
	if (!s->cfg.max_apps)
		s->cfg.max_apps = 1024;
	if (!s->cfg.mode)
		s->cfg.mode = 0660;
	snprintf(s->node, sizeof(s->node), "%s",
		 cfg->node_name ? cfg->node_name : "braid");
	s->cfg.node_name = NULL;
	if (!cfg->path || strlen(cfg->path) >= sizeof(s->path) ||
	    bd_chan_geom(&g, s->cfg.nslots, s->cfg.fifo_size,
			 s->cfg.ring_size) < 0) {
		seterr(err, errlen, "app socket %s: %s",
		       cfg->path ? cfg->path : "(none)", EINVAL);
		free(s);
		return NULL;
	}
	strcpy(s->path, cfg->path);
	s->lfd =
	    socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->lfd < 0 || s->epfd < 0) {
		seterr(err, errlen, "app socket %s: %s", s->path, errno);
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, s->path);
	/* A stale socket file from a node that died is replaced; a live
	 * node's is not (connect succeeds). */
	{
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe >= 0) {
			if (connect(probe, (struct sockaddr *)&sa,
				    sizeof(sa)) == 0) {
				close(probe);
				seterr(err, errlen,
				       "app socket %s: %s (another node serves "
				       "it)",
				       s->path, EADDRINUSE);
				goto fail;
			}
			close(probe);
		}
		unlink(s->path);
	}
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(s->path, (mode_t)s->cfg.mode) < 0 ||
	    listen(s->lfd, 128) < 0) {
		seterr(err, errlen, "app socket %s: %s", s->path, errno);
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = 0;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->lfd, &ev) < 0) {
		seterr(err, errlen, "app socket %s: %s", s->path, errno);
		goto fail;
	}
	s->next_id = 1;
	return s;
fail:
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
	return NULL;
}

int bd_chan_server_fd(const struct bd_chan_server *s)
{
	return s->epfd;
}

unsigned bd_chan_server_napps(const struct bd_chan_server *s)
{
	unsigned n = 0;
	for (struct bd_chan_app *a = s->apps; a; a = a->next)
		n += a->welcomed;
	return n;
}

uint32_t bd_chan_app_id_of(const struct bd_chan_app *a)
{
	return a->id;
}

int32_t bd_chan_app_pid(const struct bd_chan_app *a)
{
	return a->pid;
}

uint32_t bd_chan_app_uid(const struct bd_chan_app *a)
{
	return a->uid;
}

const char *bd_chan_app_name(const struct bd_chan_app *a)
{
	return a->name;
}

static void watch(struct bd_chan_server *s, int fd, struct bd_chan_app *a,
		  uint32_t tag)
{
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | (tag == TAG_SOCK ? EPOLLRDHUP : 0);
	ev.data.u64 = (uint64_t)(uintptr_t)a | tag;
	epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void send_welcome(int sock, const struct bd_chan_welcome *w,
			 const int *fds, int nfds)
{
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} u;
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = (void *)w;
	iov.iov_len = sizeof(*w);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (nfds) {
		struct cmsghdr *c;
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	(void)sendmsg(sock, &mh, MSG_NOSIGNAL);
}

static void refuse(int sock, int e, const char *reason)
{
	struct bd_chan_welcome w;
	memset(&w, 0, sizeof(w));
	w.magic = BD_CHAN_WELCOME_MAGIC;
	w.version = BD_CHAN_VERSION;
	w.err = e;
	snprintf(w.reason, sizeof(w.reason), "%s", reason);
	send_welcome(sock, &w, NULL, 0);
}

/* The hello arrived: build the region and answer. 0, or -1 to drop. */
static int hello(struct bd_chan_server *s, struct bd_chan_app *a)
{
	struct bd_chan_hello h;
	struct bd_chan_welcome w;
	uint32_t nslots = s->cfg.nslots, fifo = s->cfg.fifo_size;
	ssize_t n = recv(a->sock, &h, sizeof(h), MSG_DONTWAIT);
	int fds[3];

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n != (ssize_t)sizeof(h) || h.magic != BD_CHAN_HELLO_MAGIC)
		return -1;
	if (h.version_min > BD_CHAN_VERSION ||
	    h.version_max < BD_CHAN_VERSION) {
		refuse(a->sock, EPROTO, "no common channel version");
		return -1;
	}
	if (h.want_slots && h.want_slots < nslots)
		nslots = h.want_slots;
	if (h.want_fifo && h.want_fifo < fifo)
		fifo = floor_pow2(h.want_fifo < 4096 ? 4096 : h.want_fifo);
	memcpy(a->name, h.name, sizeof(a->name));
	a->name[sizeof(a->name) - 1] = 0;
	if (bd_chan_geom(&a->g, nslots, fifo, s->cfg.ring_size) < 0)
		goto nomem;
	a->memfd = memfd_create("braid-app", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (a->memfd < 0 || ftruncate(a->memfd, (off_t)a->g.size) < 0 ||
	    fcntl(a->memfd, F_ADD_SEALS,
		  F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto nomem;
	a->base = mmap(NULL, a->g.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       a->memfd, 0);
	if (a->base == MAP_FAILED) {
		a->base = NULL;
		goto nomem;
	}
	a->app_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	a->node_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->app_efd < 0 || a->node_efd < 0)
		goto nomem;
	a->id = s->next_id++;
	bd_chan_region_init(a->base, &a->g, a->id);
	if (s->cfg.on_attach) {
		int rc = s->cfg.on_attach(s->cfg.ctx, a);
		if (rc == BD_ESHUTDOWN) {
			refuse(a->sock, ESHUTDOWN, "the node is stopping");
			return -1;
		}
		if (rc != 0) {
			refuse(a->sock, EBUSY,
			       "the node refused the application");
			return -1;
		}
	}
	a->welcomed = true;
	memset(&w, 0, sizeof(w));
	w.magic = BD_CHAN_WELCOME_MAGIC;
	w.version = BD_CHAN_VERSION;
	w.app_id = a->id;
	w.region_size = a->g.size;
	snprintf(w.node, sizeof(w.node), "%s", s->node);
	fds[0] = a->memfd;
	fds[1] = a->app_efd;
	fds[2] = a->node_efd;
	send_welcome(a->sock, &w, fds, 3);
	watch(s, a->node_efd, a, TAG_EFD);
	return 0;
nomem:
	refuse(a->sock, ENOMEM, "cannot create the shared region");
	return -1;
}

static void free_app(struct bd_chan_server *s, struct bd_chan_app *a)
{
	struct bd_chan_app **pp;
	for (pp = &s->apps; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	s->napps--;
	if (a->sock >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, a->sock, NULL);
	if (a->node_efd >= 0)
		epoll_ctl(s->epfd, EPOLL_CTL_DEL, a->node_efd, NULL);
	bd_chan_app_destroy(a);
}

static void detach(struct bd_chan_server *s, struct bd_chan_app *a)
{
	if (a->welcomed && s->cfg.on_detach)
		s->cfg.on_detach(s->cfg.ctx, a);
	a->welcomed = false;
}

static void accept_apps(struct bd_chan_server *s)
{
	for (;;) {
		struct bd_chan_app *a;
		struct ucred cr;
		socklen_t len = sizeof(cr);
		int fd =
		    accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		memset(&cr, 0, sizeof(cr));
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len);
		if (s->cfg.allow_uid >= 0 && cr.uid != 0 &&
		    (int64_t)cr.uid != s->cfg.allow_uid) {
			refuse(fd, EACCES, "user not allowed");
			close(fd);
			continue;
		}
		if (s->napps >= s->cfg.max_apps) {
			refuse(fd, EBUSY, "too many applications");
			close(fd);
			continue;
		}
		a = calloc(1, sizeof(*a));
		if (!a) {
			close(fd);
			continue;
		}
		a->memfd = a->app_efd = a->node_efd = -1;
		a->sock = fd;
		a->pid = cr.pid;
		a->uid = cr.uid;
		a->gid = cr.gid;
		a->next = s->apps;
		s->apps = a;
		s->napps++;
		watch(s, fd, a, TAG_SOCK);
	}
}

int bd_chan_server_process(struct bd_chan_server *s)
{
	struct epoll_event ev[64];
	struct bd_chan_app *dead[64];
	int n = epoll_wait(s->epfd, ev, 64, 0), ndead = 0;
	for (int i = 0; i < n; i++) {
		uint64_t u = ev[i].data.u64;
		struct bd_chan_app *a =
		    (struct bd_chan_app *)(uintptr_t)(u & ~(uint64_t)3);
		bool gone = false;
		if (!u) {
			accept_apps(s);
			continue;
		}
		for (int k = 0; k < ndead; k++)
			if (dead[k] == a)
				gone = true;
		if (gone)
			continue;
		if ((u & 3) == TAG_EFD) {
			uint64_t cnt;
			ssize_t r = read(a->node_efd, &cnt, sizeof(cnt));
			(void)r;
			continue;
		}
		if (!a->welcomed) {
			if (hello(s, a) < 0 ||
			    (ev[i].events &
				 (EPOLLHUP | EPOLLRDHUP | EPOLLERR) &&
			     !a->welcomed))
				dead[ndead++] = a;
			continue;
		}
		{
			char buf[256];
			ssize_t r =
			    recv(a->sock, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == 0 ||
			    (r < 0 && errno != EAGAIN && errno != EINTR) ||
			    (ev[i].events &
			     (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
				detach(s, a);
				dead[ndead++] = a;
			}
		}
	}
	for (int k = 0; k < ndead; k++)
		free_app(s, dead[k]);
	return n;
}

void bd_chan_server_destroy(struct bd_chan_server *s)
{
	if (!s)
		return;
	while (s->apps) {
		struct bd_chan_app *a = s->apps;
		if (a->base) {
			uint64_t one = 1;
			ssize_t r;
			atomic_store_explicit(&bd_chan_hdr(a->base)->node_state,
					      BD_CHAN_NODE_STOPPED,
					      memory_order_release);
			r = write(a->app_efd, &one, sizeof(one));
			(void)r;
		}
		detach(s, a);
		free_app(s, a);
	}
	if (s->lfd >= 0) {
		close(s->lfd);
		unlink(s->path);
	}
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
}

/* --- the application's end ------------------------------------------------ */

int bd_chan_attach(const char *path, const char *name, uint32_t timeout_ms,
		   struct bd_chan_view **out, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct bd_chan_hello h;
	struct bd_chan_welcome w;
	struct bd_chan_view *v = NULL;
	struct msghdr mh;
	struct iovec iov;
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} u;
	struct pollfd p;
	struct stat st;
	int fd, e, fds[3] = {-1, -1, -1}, nfds = 0;
	void *base;
	ssize_t n;

	if (!path)
		path = getenv("BRAID_APP_SOCKET");
	if (!path || !*path)
		path = BD_CHAN_DEFAULT_PATH;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		seterr(err, errlen, "app socket %s: %s", path, ENAMETOOLONG);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		seterr(err, errlen, "app socket %s: %s", path, e);
		return -e;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		e = errno;
		seterr(err, errlen, "no Braid node at %s: %s", path, e);
		close(fd);
		return -e;
	}
	memset(&h, 0, sizeof(h));
	h.magic = BD_CHAN_HELLO_MAGIC;
	h.version_min = h.version_max = BD_CHAN_VERSION;
	snprintf(h.name, sizeof(h.name), "%s", name ? name : "");
	if (send(fd, &h, sizeof(h), MSG_NOSIGNAL) != (ssize_t)sizeof(h)) {
		e = errno;
		seterr(err, errlen, "Braid node at %s: hello: %s", path, e);
		close(fd);
		return -e;
	}
	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	if (poll(&p, 1, (int)timeout_ms) != 1) {
		seterr(err, errlen, "Braid node at %s: %s (no answer)", path,
		       ETIMEDOUT);
		close(fd);
		return -ETIMEDOUT;
	}
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	iov.iov_base = &w;
	iov.iov_len = sizeof(w);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; c;
	     c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (nfds > 3)
				nfds = 3;
			memcpy(fds, CMSG_DATA(c), (size_t)nfds * sizeof(int));
		}
	e = EPROTO;
	if (n != (ssize_t)sizeof(w) || w.magic != BD_CHAN_WELCOME_MAGIC) {
		seterr(err, errlen, "Braid node at %s: %s (bad welcome)", path,
		       e);
		goto fail;
	}
	if (w.err) {
		e = w.err;
		w.reason[sizeof(w.reason) - 1] = 0;
		if (err && errlen)
			snprintf(err, errlen, "Braid node at %s refused: %s",
				 path, w.reason);
		goto fail;
	}
	if (nfds != 3 || fstat(fds[0], &st) < 0 ||
	    (uint64_t)st.st_size != w.region_size) {
		seterr(err, errlen, "Braid node at %s: %s (region)", path, e);
		goto fail;
	}
	base = mmap(NULL, w.region_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    fds[0], 0);
	if (base == MAP_FAILED) {
		e = errno;
		seterr(err, errlen, "Braid node at %s: mmap: %s", path, e);
		goto fail;
	}
	v = calloc(1, sizeof(*v));
	if (!v || bd_chan_view_init(v, base, w.region_size) < 0) {
		munmap(base, w.region_size);
		free(v);
		seterr(err, errlen, "Braid node at %s: %s (region layout)",
		       path, e);
		goto fail;
	}
	close(fds[0]);
	v->app_efd = fds[1];
	v->node_efd = fds[2];
	v->sock = fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	*out = v;
	return 0;
fail:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	close(fd);
	return -e;
}

void bd_chan_detach(struct bd_chan_view *v)
{
	if (!v || v->borrowed)
		return;
	munmap(v->base, v->size);
	if (v->app_efd >= 0)
		close(v->app_efd);
	if (v->node_efd >= 0)
		close(v->node_efd);
	if (v->sock >= 0)
		close(v->sock);
	free(v->slots);
	free(v);
}
