/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CLI_CLI_S3_H
#define SEALSYNC_CLI_CLI_S3_H
/*
 * A region's saved S3 settings (doc/STORE.md "Saved settings").  At create,
 * join and recover, the non-secret S3 settings in the environment (endpoint,
 * region, addressing style, profile, CA bundle) are written to
 * HOME/regions/<id>/s3-settings (INI, section [s3], mode 0600).  Every later
 * command that loads the region exports each saved setting the environment
 * does not already give, so the environment overrides the saved settings,
 * which override ~/.aws/config, which overrides the defaults.  Secrets
 * (access key, secret key, session token) are never saved.
 */
#include "keyring/region.h"

/*
 * Saves the settings of region NAME under HOME if its store is s3://.
 * Returns 0 or -errno (logged).
 */
int cli_s3_settings_save(const char *home, const char *name) __attribute__((warn_unused_result));

/*
 * region_load, then exports the region's saved S3 settings (if any) that the
 * environment lacks.  Returns region_load's value, or -EINVAL if the saved
 * file is malformed (logged), -ENOMEM.
 */
int cli_region_load(const char *home, const char *name, struct region_info *ri)
    __attribute__((warn_unused_result));

#endif
