/* SPDX-License-Identifier: Apache-2.0
 *
 * bt: Braid's minimal C test harness. A test is a function declared with
 * BT_TEST(name); it registers itself at start-up, and tests/main.c runs every
 * registered test (or those whose name contains argv[1]) and prints one line
 * per test and a closing "native: N passed, N failed" line.
 */
#ifndef BRAID_BT_H
#define BRAID_BT_H

#include <stdint.h>
#include <stdio.h>

typedef void (*bt_fn)(void);
void bt_register(const char *name, bt_fn fn, const char *file);
void bt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int bt_failed(void);

#define BT_TEST(name)                                                          \
	static void name(void);                                                \
	__attribute__((constructor)) static void name##_bt_reg(void)           \
	{                                                                      \
		bt_register(#name, name, __FILE__);                            \
	}                                                                      \
	static void name(void)

/* Stop the test at the first failed check. */
#define BT_ASSERT(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			bt_fail(__FILE__, __LINE__, "%s", #cond);              \
			return;                                                \
		}                                                              \
	} while (0)

#define BT_EQ(a, b)                                                            \
	do {                                                                   \
		long long bt_a_ = (long long)(a), bt_b_ = (long long)(b);      \
		if (bt_a_ != bt_b_) {                                          \
			bt_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
				#a, #b, bt_a_, bt_b_);                         \
			return;                                                \
		}                                                              \
	} while (0)

#define BT_UEQ(a, b)                                                           \
	do {                                                                   \
		unsigned long long bt_a_ = (unsigned long long)(a),            \
				   bt_b_ = (unsigned long long)(b);            \
		if (bt_a_ != bt_b_) {                                          \
			bt_fail(__FILE__, __LINE__, "%s == %s (%llu != %llu)", \
				#a, #b, bt_a_, bt_b_);                         \
			return;                                                \
		}                                                              \
	} while (0)

#endif
