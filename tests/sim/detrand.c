/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD shim for scripts/sim.sh only: getrandom(2) (libsodium's only source
 * of entropy here) returns a deterministic stream seeded by SEALSYNC_SIM_RAND, so
 * the simulation's template region (device keys, hence device ids, which break
 * ties between concurrent versions) is the same on every machine and a seed
 * replays anywhere.  Never use it for anything else: every key it makes is public.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

ssize_t getrandom(void *buf, size_t n, unsigned int flags);

static uint64_t detrand_state;
static int detrand_ready;

static uint64_t detrand_next(void)
{
        uint64_t z = (detrand_state += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
        uint8_t *p = buf;
        size_t i;

        (void)flags;
        if (!detrand_ready) {
                const char *s = getenv("SEALSYNC_SIM_RAND");

                detrand_state = s != NULL ? strtoull(s, NULL, 10) : 1;
                detrand_ready = 1;
        }
        for (i = 0; i < n; i += 8) {
                uint64_t v = detrand_next();

                memcpy(p + i, &v, n - i < 8 ? n - i : 8);
        }
        return (ssize_t)n;
}
