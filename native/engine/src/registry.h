/* SPDX-License-Identifier: Apache-2.0
 * A small registry of named ops tables (congestion controllers, packet
 * schedulers), safe when several workers' stacks register and look up at
 * once: additions are serialized by a mutex, and a table entry is written
 * before the count that publishes it (release), which lookups read
 * (acquire) without taking the lock. Entries never change or go away. */
#ifndef BRAID_REGISTRY_H
#define BRAID_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>

#define BD_REGISTRY_MAX 16

struct bd_registry {
	pthread_mutex_t lock;
	_Atomic int count;
	/* Each entry is an ops table whose first member is its name
	 * (const char *). Builtins are given in the static initializer. */
	const void *items[BD_REGISTRY_MAX];
};

/* 0, -BD_EINVAL (no name), -BD_EADDRINUSE (name taken) or -BD_ENOMEM. */
int bd_registry_add(struct bd_registry *r, const void *item);
const void *bd_registry_find(struct bd_registry *r, const char *name);
/* How many entries are registered (for tests and listings). */
int bd_registry_count(struct bd_registry *r);

#endif
