/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_FS_OPS_H
#define SEALSYNC_FS_OPS_H
#include <fuse_lowlevel.h>

/* The operation table; userdata must be a struct fs (fs/fsint.h). */
const struct fuse_lowlevel_ops *fs_lowlevel_ops(void);

#endif
