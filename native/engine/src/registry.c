/* SPDX-License-Identifier: Apache-2.0 */
#include "registry.h"

#include <string.h>

#include "braid/stack.h"

static const char *name_of(const void *item)
{
	return *(const char *const *)item;
}

static const void *find_upto(const struct bd_registry *r, int n,
			     const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name_of(r->items[i]), name) == 0)
			return r->items[i];
	return NULL;
}

int bd_registry_add(struct bd_registry *r, const void *item)
{
	const char *name = item ? name_of(item) : NULL;
	if (!name || !*name)
		return -BD_EINVAL;
	int rc = 0;
	pthread_mutex_lock(&r->lock);
	int n = atomic_load_explicit(&r->count, memory_order_relaxed);
	if (find_upto(r, n, name))
		rc = -BD_EADDRINUSE;
	else if (n == BD_REGISTRY_MAX)
		rc = -BD_ENOMEM;
	else {
		r->items[n] = item;
		atomic_store_explicit(&r->count, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&r->lock);
	return rc;
}

const void *bd_registry_find(struct bd_registry *r, const char *name)
{
	if (!name)
		return NULL;
	int n = atomic_load_explicit(&r->count, memory_order_acquire);
	return find_upto(r, n, name);
}

int bd_registry_count(struct bd_registry *r)
{
	return atomic_load_explicit(&r->count, memory_order_acquire);
}
