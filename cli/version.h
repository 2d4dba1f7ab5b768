/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CLI_VERSION_H
#define SEALSYNC_CLI_VERSION_H
/*
 * The program's version: the VERSION file's contents, followed by
 * " (COMMIT)" when built in a git checkout (COMMIT from
 * `git describe --always --dirty` at build time).  The string is compiled
 * into cli/version.c only (the Makefile rewrites its definition only when it
 * changes), so a new commit recompiles one file and relinks the binaries.
 */
extern const char sealsync_version[];

#endif
