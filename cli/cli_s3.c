/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/cli_s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/s3ini.h"
#include "util/fileio.h"
#include "util/log.h"

#define CLI_S3_FILE "s3-settings"
#define CLI_S3_MAX 8192
#define CLI_S3_VAL_MAX 1024

/* A saved key, the variable it sets, and the variables that, if set, override it. */
static const struct {
        const char *key, *var, *over1, *over2;
} cli_s3_map[] = {
    {"endpoint_url", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"},
    {"region", "AWS_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"},
    {"addressing_style", "AWS_S3_ADDRESSING_STYLE", "AWS_S3_ADDRESSING_STYLE", NULL},
    {"profile", "AWS_PROFILE", "AWS_PROFILE", NULL},
    {"ca_bundle", "AWS_CA_BUNDLE", "AWS_CA_BUNDLE", NULL},
};
#define CLI_S3_N (sizeof(cli_s3_map) / sizeof(cli_s3_map[0]))

static const char *cli_s3_env(const char *name)
{
        const char *v = name != NULL ? getenv(name) : NULL;

        return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Printable ASCII without spaces, 1..CLI_S3_VAL_MAX bytes. */
static int cli_s3_val_ok(const char *v, size_t n)
{
        size_t i;

        if (n == 0 || n > CLI_S3_VAL_MAX)
                return 0;
        for (i = 0; i < n; i++)
                if (v[i] < 0x21 || v[i] > 0x7e)
                        return 0;
        return 1;
}

int cli_s3_settings_save(const char *home, const char *name)
{
        struct region_info ri;
        char path[sizeof(ri.dir) + 32], buf[CLI_S3_N * (CLI_S3_VAL_MAX + 40) + 64];
        size_t i, n;
        int rc = region_load(home, name, &ri);

        if (rc != 0) {
                log_err("cannot read region '%s' to save its S3 settings: %s", name, strerror(-rc));
                return rc;
        }
        if (strncasecmp(ri.store_url, "s3://", 5) != 0)
                return 0;
        n = (size_t)snprintf(buf, sizeof(buf),
                             "# S3 settings of this region (no secrets); the environment "
                             "overrides them\n[s3]\n");
        for (i = 0; i < CLI_S3_N; i++) {
                const char *v = cli_s3_env(cli_s3_map[i].over1);

                if (v == NULL)
                        v = cli_s3_env(cli_s3_map[i].over2);
                if (v == NULL)
                        continue;
                if (!cli_s3_val_ok(v, strlen(v))) {
                        log_err("%s: not saved with the region (expected printable ASCII without "
                                "spaces, at most %d bytes)",
                                cli_s3_map[i].var, CLI_S3_VAL_MAX);
                        return -EINVAL;
                }
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s = %s\n", cli_s3_map[i].key, v);
        }
        snprintf(path, sizeof(path), "%s/%s", ri.dir, CLI_S3_FILE);
        rc = fileio_write_atomic(path, buf, n, 0600, 0);
        if (rc != 0)
                log_err("cannot save the S3 settings to %s: %s", path, strerror(-rc));
        return rc;
}

/* Exports the settings saved in RI->dir that the environment lacks. */
static int cli_s3_settings_apply(const struct region_info *ri)
{
        struct s3ini_key k[CLI_S3_N];
        char path[sizeof(ri->dir) + 32], val[CLI_S3_VAL_MAX + 1];
        uint8_t *doc = NULL;
        size_t n = 0, i;
        int rc;

        snprintf(path, sizeof(path), "%s/%s", ri->dir, CLI_S3_FILE);
        rc = fileio_read_all(path, CLI_S3_MAX, &doc, &n);
        if (rc == -ENOENT)
                return 0;
        if (rc != 0) {
                log_err("cannot read %s: %s", path, strerror(-rc));
                return rc;
        }
        for (i = 0; i < CLI_S3_N; i++)
                k[i] = (struct s3ini_key){cli_s3_map[i].key, NULL, 0, 0};
        rc = s3ini_parse(path, (const char *)doc, n, "s3", 0, k, CLI_S3_N);
        if (rc == -ENOENT)
                rc = 0;
        for (i = 0; rc == 0 && i < CLI_S3_N; i++) {
                if (!k[i].set || cli_s3_env(cli_s3_map[i].over1) != NULL ||
                    cli_s3_env(cli_s3_map[i].over2) != NULL)
                        continue;
                if (!cli_s3_val_ok(k[i].v, k[i].n)) {
                        log_err("%s: bad value of %s", path, cli_s3_map[i].key);
                        rc = -EINVAL;
                        break;
                }
                memcpy(val, k[i].v, k[i].n);
                val[k[i].n] = '\0';
                if (setenv(cli_s3_map[i].var, val, 1) != 0)
                        rc = -errno;
        }
        free(doc);
        return rc;
}

int cli_region_load(const char *home, const char *name, struct region_info *ri)
{
        int rc = region_load(home, name, ri);

        if (rc == 0 && strncasecmp(ri->store_url, "s3://", 5) == 0)
                rc = cli_s3_settings_apply(ri);
        return rc;
}
