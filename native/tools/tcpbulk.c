/* SPDX-License-Identifier: Apache-2.0
 * braid-tcpbulk: the kernel's end of a bulk TCP transfer in C, so that a
 * benchmark against Braid measures Braid and the kernel, not a JavaScript
 * reader or writer.
 *
 *   braid-tcpbulk sink -p PORT [-a ADDR] [--no-hash] [--buf N]
 *       accepts one connection, reads it to the end with recv() into a
 *       buffer of N bytes (default 1 MiB), hashing what it reads
 *   braid-tcpbulk source -c ADDR -p PORT -n BYTES [--seed S (default 1, as
 * Braid's)] [--no-hash] connects and sends BYTES of the stream Braid's bulk
 * source sends with the same seed (xoshiro256**, braid/rng.h); the SHA-256 of
 * the stream is computed before the transfer (not timed)
 *
 * Both print one JSON line on stdout: {"bytes", "seconds" (connection up to
 * the end), "sha256" (hex, "" with --no-hash), "cpu_seconds" (user +
 * system of this process during the transfer), "hash_cpu_seconds"}. A sink
 * prints "ready on port N" on stderr once it listens. Exit status 0 when
 * the transfer completed, 1 on an error (said on stderr), 2 on bad usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "braid/rng.h"

#define CHUNK (256u * 1024u) /* a multiple of 8: the stream stays the same */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void hex(const uint8_t *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	out[2 * n] = 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: braid-tcpbulk sink -p PORT [-a ADDR] [--no-hash] "
		"[--buf N]\n"
		"       braid-tcpbulk source -c ADDR -p PORT -n BYTES "
		"[--seed S] [--no-hash]\n");
	return 2;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static void report(uint64_t bytes, double secs, const char *digest, double cpu,
		   double hash_cpu)
{
	printf("{\"bytes\":%llu,\"seconds\":%.6f,\"sha256\":\"%s\","
	       "\"cpu_seconds\":%.6f,\"hash_cpu_seconds\":%.6f}\n",
	       (unsigned long long)bytes, secs, digest, cpu, hash_cpu);
	fflush(stdout);
}

static int run_sink(struct sockaddr_in *sa, size_t bufsz, int hash)
{
	int one = 1;
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    listen(ls, 1) < 0) {
		fprintf(stderr, "braid-tcpbulk: listen: %s\n", strerror(errno));
		return 1;
	}
	fprintf(stderr, "braid-tcpbulk: ready on port %u\n",
		ntohs(sa->sin_port));
	int fd = accept(ls, NULL, NULL);
	if (fd < 0) {
		fprintf(stderr, "braid-tcpbulk: accept: %s\n", strerror(errno));
		return 1;
	}
	close(ls);
	uint8_t *buf = malloc(bufsz);
	EVP_MD_CTX *sha = hash ? EVP_MD_CTX_new() : NULL;
	if (!buf || (hash && (!sha || EVP_DigestInit_ex(sha, EVP_sha256(),
							NULL) != 1))) {
		fprintf(stderr, "braid-tcpbulk: out of memory\n");
		return 1;
	}
	double t0 = now_s(), c0 = cpu_s();
	uint64_t bytes = 0;
	for (;;) {
		ssize_t r = recv(fd, buf, bufsz, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "braid-tcpbulk: recv: %s\n",
				strerror(errno));
			return 1;
		}
		if (r == 0)
			break;
		if (sha)
			EVP_DigestUpdate(sha, buf, (size_t)r);
		bytes += (uint64_t)r;
	}
	double secs = now_s() - t0;
	char digest[65] = "";
	if (sha) {
		uint8_t d[32];
		unsigned n = 0;
		EVP_DigestFinal_ex(sha, d, &n);
		hex(d, 32, digest);
		EVP_MD_CTX_free(sha);
	}
	double cpu = cpu_s() - c0;
	close(fd);
	free(buf);
	report(bytes, secs, digest, cpu, 0);
	return 0;
}

static int run_source(struct sockaddr_in *sa, uint64_t total, uint64_t seed,
		      int hash)
{
	uint8_t *buf = malloc(CHUNK);
	uint64_t s[4], x;
	char digest[65] = "";
	double hash_cpu = 0;
	if (!buf) {
		fprintf(stderr, "braid-tcpbulk: out of memory\n");
		return 1;
	}
	if (hash) {
		/* The stream's digest first, outside the timed transfer. */
		double c0 = cpu_s();
		EVP_MD_CTX *sha = EVP_MD_CTX_new();
		if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
			fprintf(stderr, "braid-tcpbulk: out of memory\n");
			return 1;
		}
		x = seed;
		bd_rng_seed(s, &x);
		for (uint64_t left = total; left;) {
			size_t n = left < CHUNK ? (size_t)left : CHUNK;
			bd_rng_fill(s, buf, n);
			EVP_DigestUpdate(sha, buf, n);
			left -= n;
		}
		uint8_t d[32];
		unsigned n = 0;
		EVP_DigestFinal_ex(sha, d, &n);
		EVP_MD_CTX_free(sha);
		hex(d, 32, digest);
		hash_cpu = cpu_s() - c0;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		fprintf(stderr, "braid-tcpbulk: connect: %s\n",
			strerror(errno));
		return 1;
	}
	double t0 = now_s(), c0 = cpu_s();
	x = seed;
	bd_rng_seed(s, &x);
	for (uint64_t left = total; left;) {
		size_t n = left < CHUNK ? (size_t)left : CHUNK;
		bd_rng_fill(s, buf, n);
		for (size_t off = 0; off < n;) {
			ssize_t w = send(fd, buf + off, n - off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0) {
				fprintf(stderr, "braid-tcpbulk: send: %s\n",
					strerror(errno));
				return 1;
			}
			off += (size_t)w;
		}
		left -= n;
	}
	/* The end: FIN, then wait for the peer's FIN (it has read it all). */
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t r = recv(fd, buf, CHUNK, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	double secs = now_s() - t0;
	double cpu = cpu_s() - c0;
	close(fd);
	free(buf);
	report(total, secs, digest, cpu, hash_cpu);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	int sink = !strcmp(argv[1], "sink");
	if (!sink && strcmp(argv[1], "source"))
		return usage();
	struct sockaddr_in sa = {.sin_family = AF_INET};
	uint64_t port = 0, bytes = 0, seed = 1, bufsz = 1u << 20;
	int hash = 1, have_addr = 0, have_bytes = 0;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--no-hash")) {
			hash = 0;
			continue;
		}
		if (!v)
			return usage();
		i++;
		if (!strcmp(a, "-p")) {
			if (parse_u64(v, &port) || !port || port > 65535)
				return usage();
		} else if (!strcmp(a, "-a") || !strcmp(a, "-c")) {
			if (inet_pton(AF_INET, v, &sa.sin_addr) != 1) {
				fprintf(stderr,
					"braid-tcpbulk: bad address %s\n", v);
				return 2;
			}
			have_addr = 1;
		} else if (!strcmp(a, "-n")) {
			if (parse_u64(v, &bytes))
				return usage();
			have_bytes = 1;
		} else if (!strcmp(a, "--seed")) {
			if (parse_u64(v, &seed))
				return usage();
		} else if (!strcmp(a, "--buf")) {
			if (parse_u64(v, &bufsz) || !bufsz ||
			    bufsz > (1u << 30))
				return usage();
		} else {
			return usage();
		}
	}
	if (!port || (!sink && (!have_addr || !have_bytes)))
		return usage();
	sa.sin_port = htons((uint16_t)port);
	return sink ? run_sink(&sa, (size_t)bufsz, hash)
		    : run_source(&sa, bytes, seed, hash);
}
