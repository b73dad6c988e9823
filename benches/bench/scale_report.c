/*
 * benches/bench/scale_report.c - the BENCH_SCALE tables (one row per size
 * and engine) and their targets, marked met or not met.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>

#include "bench.h"

#define LC 0 /* libcommit's index in ALL_ENGINES */
#define RK 4 /* RocksDB's */

static void size_name(char *out, size_t n, uint64_t bytes) {
    if (bytes >= 1ull << 30 && bytes % (1ull << 30) == 0) snprintf(out, n, "%" PRIu64 "GiB", bytes >> 30);
    else snprintf(out, n, "%" PRIu64 "MiB", bytes >> 20);
}

static void print_tables(void) {
    printf("\nScale points (BENCH_SCALE): each engine in child processes of its own, database preloaded\n"
           "  to the size in 4 MiB commits; then closed, page cache dropped, reopened (open ms), random\n"
           "  reads over the whole database (cold), W1 1-page commits at random pages of the whole database\n"
           "  at T=1 and T=%d, W2, W4. ckpt ms = the checkpoint right after the preload (libcommit\n"
           "  lc_checkpoint, SQLite wal_checkpoint(TRUNCATE), RocksDB flush, LMDB env sync). wamp = bytes\n"
           "  the process wrote to the disk (/proc/self/io write_bytes - cancelled_write_bytes) per byte\n"
           "  committed. RSS MiB: VmHWM of the child that preloads and checkpoints ('load'); of a second\n"
           "  child that reopens and runs the rest, VmRSS right after its open ('open') and VmHWM ('run').\n",
           SCALE_W1_T);
    printf("  %-7s %-14s %8s %6s %8s %9s %8s %8s %6s %8s %6s %8s %6s %8s %7s %8s %5s %5s  %s\n", "size", "engine",
           "preload", "wamp", "open ms", "cold r/s", "cold us", "W1 T=1", "wamp", "W1 T=16", "wamp", "W2 MiB/s",
           "wamp", "ckpt ms", "W4 ns", "RSS load", "open", "run", "verify");
    for (int si = 0; si < cfg.nscales; si++)
        for (int ei = 0; ei < N_PEERS; ei++) {
            scale_result *r = &R_scale[si][ei];
            if (!r->have) continue;
            char sz[32], pre[16];
            size_name(sz, sizeof sz, cfg.scales[si]);
            snprintf(pre, sizeof pre, "%.1fs", r->preload_s);
            int verified = r->cold_verified + r->w1[0].verified + r->w1[1].verified + r->w2.verified + r->w4.verified;
            int bad = r->cold_bad + r->w1[0].bad + r->w1[1].bad + r->w2.bad + r->w4.bad;
            printf("  %-7s %-14s %8s %6.2f %8.0f %9.0f %8.0f %8.0f %6.2f %8.0f %6.2f %8.0f %6.2f %8.0f %7" PRIu64
                   " %8.0f %5.0f %5.0f  %s\n",
                   sz, ALL_ENGINES[ei]->name, pre, r->preload_wamp, r->open_ms, r->cold_rate, r->cold_p50_us,
                   r->w1[0].rate, r->w1_wamp[0], r->w1[1].rate, r->w1_wamp[1], r->w2.rate, r->w2_wamp, r->ckpt_ms,
                   r->w4.p50, (double)r->preload_hwm_kib / 1024, (double)r->open_rss_kib / 1024,
                   (double)r->hwm_kib / 1024, vstr(verified, bad));
        }
}

static void print_targets(void) {
    printf("\nScale targets:\n");
    char name[96], sz[32];
    for (int si = 0; si < cfg.nscales; si++) {
        scale_result *lc = &R_scale[si][LC], *rk = &R_scale[si][RK];
        size_name(sz, sizeof sz, cfg.scales[si]);
        bool h = lc->have && rk->have;
        snprintf(name, sizeof name, "%s: W1 1p T=%d >= 2x RocksDB", sz, SCALE_W1_T);
        target(name, h, h && lc->w1[1].rate >= 2 * rk->w1[1].rate, "%.0f vs %.0f/s = %.2fx", lc->w1[1].rate,
               rk->w1[1].rate, h && rk->w1[1].rate ? lc->w1[1].rate / rk->w1[1].rate : 0);
        snprintf(name, sizeof name, "%s: W2 >= 3x RocksDB", sz);
        target(name, h, h && lc->w2.rate >= 3 * rk->w2.rate, "%.0f vs %.0f MiB/s = %.2fx", lc->w2.rate, rk->w2.rate,
               h && rk->w2.rate ? lc->w2.rate / rk->w2.rate : 0);
        snprintf(name, sizeof name, "%s: W4 p50 < 1 us", sz);
        target(name, lc->have, lc->have && lc->w4.p50 < 1000, "%" PRIu64 " ns", lc->w4.p50);
        snprintf(name, sizeof name, "%s: open after close < 1 s", sz);
        target(name, lc->have, lc->have && lc->open_ms < 1000, "%.0f ms", lc->open_ms);
    }
    /* DESIGN invariant 8: resident memory does not grow with the database. */
    scale_result *lo = &R_scale[0][LC], *hi = &R_scale[cfg.nscales - 1][LC];
    char a[32], b[32];
    size_name(a, sizeof a, cfg.scales[0]);
    size_name(b, sizeof b, cfg.scales[cfg.nscales - 1]);
    bool h = cfg.nscales > 1 && lo->have && hi->have;
    snprintf(name, sizeof name, "run RSS at %s <= 2x at %s", b, a);
    target(name, h, h && hi->hwm_kib <= 2 * lo->hwm_kib, "%.0f vs %.0f MiB = %.2fx", (double)hi->hwm_kib / 1024,
           (double)lo->hwm_kib / 1024, h && lo->hwm_kib ? (double)hi->hwm_kib / (double)lo->hwm_kib : 0);
}

void print_scale_report(void) {
    print_tables();
    print_targets();
}
