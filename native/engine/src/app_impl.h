/* SPDX-License-Identifier: Apache-2.0 */
#ifndef BRAID_APP_IMPL_H
#define BRAID_APP_IMPL_H

#include "braid/app.h"

int bd_app_conn_init(struct bd_app_conn *c, struct bd_stack *st);
void bd_app_conn_fini(struct bd_app_conn *c);
void bd_app_finish(struct bd_app_conn *c, int err);
void bd_app_snapshot(struct bd_app_conn *c);

#endif
