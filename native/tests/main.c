/* SPDX-License-Identifier: Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bt.h"

#define BT_MAX 4096

struct bt_case {
	const char *name;
	const char *file;
	bt_fn fn;
};

static struct bt_case cases[BT_MAX];
static int ncases;
static int cur_failed;

void bt_register(const char *name, bt_fn fn, const char *file)
{
	if (ncases == BT_MAX) {
		fprintf(stderr, "bt: more than %d tests\n", BT_MAX);
		exit(2);
	}
	cases[ncases].name = name;
	cases[ncases].file = file;
	cases[ncases].fn = fn;
	ncases++;
}

void bt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	cur_failed = 1;
	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

int bt_failed(void)
{
	return cur_failed;
}

static int by_name(const void *a, const void *b)
{
	const struct bt_case *x = a, *y = b;
	int c = strcmp(x->file, y->file);
	return c ? c : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
	const char *filter = argc > 1 ? argv[1] : NULL;
	int passed = 0, failed = 0;

	qsort(cases, (size_t)ncases, sizeof(cases[0]), by_name);
	for (int i = 0; i < ncases; i++) {
		struct timespec t0, t1;
		if (filter && !strstr(cases[i].name, filter))
			continue;
		cur_failed = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		cases[i].fn();
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		printf("%s %s (%.1f ms)\n", cur_failed ? "FAIL" : "ok  ",
		       cases[i].name, ms);
		fflush(stdout);
		if (cur_failed)
			failed++;
		else
			passed++;
	}
	printf("native: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
