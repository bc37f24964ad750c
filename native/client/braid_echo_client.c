/* SPDX-License-Identifier: Apache-2.0
 *
 * braid-echo-client: a tiny example of the C client. It connects to an echo
 * server through the local Braid node, sends BYTES of a fixed pattern,
 * half-closes, checks that the same bytes come back, and prints one JSON
 * line. Exit status 0 when the echo matched.
 *
 *   braid-echo-client HOST PORT BYTES [SOCKET]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "braid_client.h"

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 31 + 7 + (i >> 12));
}

int main(int argc, char **argv)
{
	char err[256];
	uint8_t out[16384], in[16384];
	uint64_t total, sent = 0, got = 0;
	struct timespec t0, t1;
	struct bd_chan_info info;
	int conn, bad = 0;
	braid_client *c;

	if (argc < 4) {
		fprintf(stderr, "usage: %s HOST PORT BYTES [SOCKET]\n",
			argv[0]);
		return 2;
	}
	total = strtoull(argv[3], NULL, 10);
	c = braid_attach(argc > 4 ? argv[4] : NULL, "braid-echo-client", err,
			 sizeof(err));
	if (!c) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	conn = braid_connect(c, argv[1], (uint16_t)atoi(argv[2]), NULL, 5000);
	if (conn < 0) {
		fprintf(stderr, "connect: %s\n", strerror(-conn));
		braid_detach(c);
		return 1;
	}
	while (got < total) {
		ssize_t n;
		/* Send what fits, then read what came back: no deadlock when
		 * both FIFOs fill. */
		while (sent < total) {
			size_t k = total - sent < sizeof(out) ? total - sent
							      : sizeof(out);
			for (size_t i = 0; i < k; i++)
				out[i] = pattern(sent + i);
			n = braid_send(c, conn, out, k);
			if (n <= 0)
				break;
			sent += (uint64_t)n;
			if (sent == total)
				braid_shutdown(c, conn);
		}
		n = braid_recv(c, conn, in, sizeof(in));
		if (n == -EAGAIN) {
			if (braid_poll(c, 1000) < 0)
				break;
			continue;
		}
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			if (in[i] != pattern(got + (uint64_t)i))
				bad = 1;
		got += (uint64_t)n;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	memset(&info, 0, sizeof(info));
	braid_get_info(c, conn, &info, 1000);
	printf("{\"bytes\":%llu,\"sent\":%llu,\"match\":%s,\"us\":%lld,"
	       "\"subflows\":%u,\"rtt\":%u}\n",
	       (unsigned long long)got, (unsigned long long)sent,
	       !bad && got == total ? "true" : "false",
	       (long long)((t1.tv_sec - t0.tv_sec) * 1000000 +
			   (t1.tv_nsec - t0.tv_nsec) / 1000),
	       info.nsubflows, info.nsubflows ? info.sub[0].tcp.rtt : 0);
	braid_close(c, conn);
	braid_detach(c);
	return !bad && got == total ? 0 : 1;
}
