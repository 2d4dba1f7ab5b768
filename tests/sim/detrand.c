/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD shim for scripts/sim.sh only: getrandom(2) (libsodium's only source
 * of entropy here) returns a deterministic stream seeded by SEALSYNC_SIM_RAND, and
 * the wall clock (CLOCK_REALTIME, time, gettimeofday) starts at SEALSYNC_SIM_TIME
 * and advances 1 us a read, so the simulation's template region is the same on
 * every machine, byte for byte, and a seed replays anywhere: device keys (device
 * ids break ties between concurrent versions) and the genesis and membership
 * times, which every manifest's hash depends on (through the epoch), hence the
 * HASH of a conflict name (doc/SYNC.md U3).  Monotonic clocks stay real (the
 * CLI's waits).  Never use it for anything else: every key it makes is public.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

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

static struct timespec detrand_clock;
static int detrand_clock_ready;

/* The fake wall clock: SEALSYNC_SIM_TIME seconds, then 1 us more at every read. */
static struct timespec detrand_now(void)
{
        if (!detrand_clock_ready) {
                const char *s = getenv("SEALSYNC_SIM_TIME");

                detrand_clock.tv_sec = s != NULL ? (time_t)strtoll(s, NULL, 10) : 1599900000;
                detrand_clock_ready = 1;
        }
        detrand_clock.tv_nsec += 1000;
        if (detrand_clock.tv_nsec >= 1000000000) {
                detrand_clock.tv_sec++;
                detrand_clock.tv_nsec -= 1000000000;
        }
        return detrand_clock;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
        if (clk != CLOCK_REALTIME && clk != CLOCK_REALTIME_COARSE)
                return (int)syscall(SYS_clock_gettime, clk, ts);
        *ts = detrand_now();
        return 0;
}

time_t time(time_t *t)
{
        struct timespec ts = detrand_now();

        if (t != NULL)
                *t = ts.tv_sec;
        return ts.tv_sec;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
        struct timespec ts = detrand_now();

        (void)tz;
        tv->tv_sec = ts.tv_sec; /* nonnull in glibc's declaration */
        tv->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
        return 0;
}
