/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_STORE_S3_H
#define SEALSYNC_SYNC_STORE_S3_H
/*
 * The s3:// backend (internal to sync/; others use store_open).  Speaks to
 * any S3-compatible service with AWS Signature Version 4; see doc/STORE.md
 * for the configuration (AWS_* environment, ~/.aws/credentials), the retry
 * policy and the error mapping.  The returned store is safe to use from
 * several threads at once.
 */
#include "sync/store.h"

/*
 * Opens s3://BUCKET[/PREFIX] (URL already validated by store_open).
 * Returns 0, -EINVAL (malformed URL or configuration: endpoint, region,
 * addressing style, credentials file syntax; a message names it), -EACCES
 * (no credentials found), -ENOMEM.  Does not contact the service.
 */
int store_s3_open(const char *url, struct store **out) __attribute__((warn_unused_result));

#endif
