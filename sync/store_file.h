/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_STORE_FILE_H
#define SEALSYNC_SYNC_STORE_FILE_H
/*
 * The file:// backend (internal to sync/; others use store_open).  Objects
 * are files under ROOT at their key's relative path; ROOT and intermediate
 * directories are created 0700 on first put.
 */
#include "sync/store.h"

/* Opens the store at ROOT (absolute path).  Returns 0, -EINVAL, -ENAMETOOLONG or -ENOMEM. */
int store_file_open(const char *root, struct store **out) __attribute__((warn_unused_result));

#endif
