/*
 * benches/bench/report.c - the tables, each figure with its ratio to the
 * raw-disk limit and to the other engines, then the targets marked met or
 * not met. The results live here; the workloads and main.c fill them in.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "bench.h"

point R_w1[2][N_PEERS + 1][MAXT];
point R_raw_ow[2];
double R_raw_ow_parts[2][2];
point R_raw_seq;
point R_raw_ow_big;
point R_raw_read;
point R_w2[N_PEERS];
struct w3_result R_w3[N_PEERS];
struct w4_result R_w4[N_PEERS];
point R_w5_py[2], R_w5_c[2];
int g_failures;

static void fmt_us(char *out, size_t n, uint64_t ns) {
    double us = (double)ns / 1e3;
    if (us < 10) snprintf(out, n, "%.1f", us);
    else snprintf(out, n, "%.0f", us);
}

const char *vstr(int verified, int bad) {
    static char b[8][32];
    static int k;
    char *s = b[k++ & 7];
    if (bad) {
        snprintf(s, 32, "FAIL %d/%d", bad, verified);
        g_failures++;
    } else {
        snprintf(s, 32, "ok %d", verified);
    }
    return s;
}

static void print_w1(unsigned npi) {
    unsigned npages = npi ? 8 : 1;
    point *raw = &R_raw_ow[npi];
    printf("\nW1: %u-page commits (%u KiB) at random pages of a %u-page database, %.1f s per point.\n", npages,
           npages * 4, RANGE, cfg.w1_secs);
    printf("  rate = commits/s; x raw = rate / raw %u KiB overwrite+fdatasync (%.0f/s); x group = rate / ideal\n"
           "  raw group commit at the same T; lc x = libcommit's rate / this row's rate (>1: libcommit faster);\n"
           "  c/sync = commits per fdatasync of the log (libcommit: lc_stats.syncs); sync us = mean time of a\n"
           "  group's fdatasync, busy = share of the time one was in flight (libcommit: lc_metrics flush_us).\n",
           npages * 4, raw->rate);
    printf("  %3s  %-14s %10s %9s %9s %7s %8s %7s %7s %8s %6s  %s\n", "T", "engine", "commits/s", "p50 us", "p99 us",
           "x raw", "x group", "lc x", "c/sync", "sync us", "busy", "verify");
    for (int ti = 0; ti < cfg.nthreads; ti++) {
        point *grp = &R_w1[npi][N_PEERS][ti];
        point *lc = &R_w1[npi][0][ti];
        int order[N_PEERS + 1] = {N_PEERS, 0, 1, 2, 3, 4};
        for (int oi = 0; oi <= N_PEERS; oi++) {
            int ei = order[oi];
            point *r = &R_w1[npi][ei][ti];
            if (!r->have) continue;
            char p50[16], p99[16], xr[16] = "-", xg[16] = "-", lx[16] = "-", cs[16] = "-";
            if (r->per_sync > 0) snprintf(cs, sizeof cs, "%.1f", r->per_sync);
            char fu[16] = "-", fb[16] = "-";
            if (r->flush_us > 0) {
                snprintf(fu, sizeof fu, "%.0f", r->flush_us);
                snprintf(fb, sizeof fb, "%.0f%%", 100 * r->flush_busy);
            }
            fmt_us(p50, sizeof p50, r->p50);
            fmt_us(p99, sizeof p99, r->p99);
            if (raw->have && raw->rate > 0) snprintf(xr, sizeof xr, "%.2f", r->rate / raw->rate);
            if (grp->have && grp->rate > 0) snprintf(xg, sizeof xg, "%.2f", r->rate / grp->rate);
            if (lc->have && ei != 0 && r->rate > 0) snprintf(lx, sizeof lx, "%.2f", lc->rate / r->rate);
            printf("  %3d  %-14s %10.0f %9s %9s %7s %8s %7s %7s %8s %6s  %s\n", cfg.threads[ti],
                   ei == N_PEERS ? "raw-group" : ALL_ENGINES[ei]->name, r->rate, p50, p99, xr, xg, lx, cs, fu, fb,
                   vstr(r->verified, r->bad));
        }
    }
}

static int thread_index(int T) {
    for (int i = 0; i < cfg.nthreads; i++)
        if (cfg.threads[i] == T) return i;
    return -1;
}

void target(const char *name, bool have, bool met, const char *fmt, ...) {
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("  %-44s %-9s %s\n", name, !have ? "n/a" : met ? "MET" : "NOT MET", have ? detail : "(not measured)");
}

static void print_targets(void) {
    printf("\nTargets, ratios from this run:\n");
    int t1 = thread_index(1), t64 = thread_index(64), t8 = thread_index(8);
    for (unsigned npi = 0; npi < 2; npi++) {
        const char *sz = npi ? "8p" : "1p";
        char name[96];
        point *raw = &R_raw_ow[npi];
        point *lc1 = t1 >= 0 ? &R_w1[npi][0][t1] : NULL;
        snprintf(name, sizeof name, "W1 %s T=1 >= 0.9x raw overwrite+fdatasync", sz);
        target(name, lc1 && lc1->have && raw->have, lc1 && lc1->rate >= 0.9 * raw->rate, "%.0f vs %.0f/s = %.2fx",
               lc1 ? lc1->rate : 0, raw->rate, lc1 && raw->rate ? lc1->rate / raw->rate : 0);
        point *lc64 = t64 >= 0 ? &R_w1[npi][0][t64] : NULL;
        point *g64 = t64 >= 0 ? &R_w1[npi][N_PEERS][t64] : NULL;
        point *rk64 = t64 >= 0 ? &R_w1[npi][4][t64] : NULL;
        bool h = lc64 && lc64->have && g64 && g64->have;
        snprintf(name, sizeof name, "W1 %s T=64 >= 0.8x ideal raw group commit", sz);
        target(name, h, h && lc64->rate >= 0.8 * g64->rate, "%.0f vs %.0f/s = %.2fx", h ? lc64->rate : 0,
               h ? g64->rate : 0, h ? lc64->rate / g64->rate : 0);
        bool hr = lc64 && lc64->have && rk64 && rk64->have;
        snprintf(name, sizeof name, "W1 %s T=64 >= 2x RocksDB", sz);
        target(name, hr, hr && lc64->rate >= 2 * rk64->rate, "%.0f vs %.0f/s = %.2fx", hr ? lc64->rate : 0,
               hr ? rk64->rate : 0, hr ? lc64->rate / rk64->rate : 0);
        snprintf(name, sizeof name, "W1 %s T=64 p99 <= 2x ideal group p99", sz);
        target(name, h, h && lc64->p99 <= 2 * g64->p99, "%.0f vs %.0f us = %.2fx", h ? lc64->p99 / 1e3 : 0,
               h ? g64->p99 / 1e3 : 0, h && g64->p99 ? (double)lc64->p99 / (double)g64->p99 : 0);
    }
    bool h = R_w2[0].have && R_raw_seq.have;
    target("W2 >= 0.5x raw sequential bandwidth", h, h && R_w2[0].rate >= 0.5 * R_raw_seq.rate,
           "%.0f vs %.0f MiB/s = %.2fx", R_w2[0].rate, R_raw_seq.rate, h ? R_w2[0].rate / R_raw_seq.rate : 0);
    h = R_w2[0].have && R_raw_ow_big.have;
    target("W2 >= 0.8x raw 16 MiB overwrite+fdatasync", h, h && R_w2[0].rate >= 0.8 * R_raw_ow_big.rate,
           "%.0f vs %.0f MiB/s = %.2fx", R_w2[0].rate, R_raw_ow_big.rate, h ? R_w2[0].rate / R_raw_ow_big.rate : 0);
    h = R_w2[0].have && R_w2[4].have;
    target("W2 >= 3x RocksDB", h, h && R_w2[0].rate >= 3 * R_w2[4].rate, "%.0f vs %.0f MiB/s = %.2fx", R_w2[0].rate,
           R_w2[4].rate, h ? R_w2[0].rate / R_w2[4].rate : 0);
    h = R_w3[0].have && R_w3[1].have;
    double lcs = h ? R_w3[0].log_mib / R_w3[0].secs : 0, sqs = h ? R_w3[1].log_mib / R_w3[1].secs : 0;
    target("W3 >= 2x SQLite's recovery speed (log MiB/s)", h, h && lcs >= 2 * sqs, "%.0f vs %.0f MiB/s = %.2fx", lcs,
           sqs, h && sqs ? lcs / sqs : 0);
    h = R_w4[0].have;
    target("W4 p50 < 1 us (lc_txn_read, cached page)", h, h && R_w4[0].p50 < 1000, "%" PRIu64 " ns (lc_read %" PRIu64 " ns)",
           R_w4[0].p50, R_w4[0].p50_latest);
    h = R_w5_py[1].have && R_w5_c[1].have;
    target("W5 Python 8 threads >= 50% of C/Rust rate", h, h && R_w5_py[1].rate >= 0.5 * R_w5_c[1].rate,
           "%.0f vs %.0f/s = %.0f%%", R_w5_py[1].rate, R_w5_c[1].rate,
           h ? 100 * R_w5_py[1].rate / R_w5_c[1].rate : 0);
    (void)t8;
}

void print_report(void) {
    bool w1 = want_w("w1"), w2 = want_w("w2"), w3 = want_w("w3"), w4 = want_w("w4");
    printf("\nRaw disk, on files in the scratch directory (overwrite: before and after the first W1 row;\n"
           "  sequential write: before W2; sequential read: before W3):\n");
    if (R_raw_ow[0].have || R_raw_ow[1].have)
        for (int k = 0; k < 2; k++) {
            char a[16], b[16];
            fmt_us(a, sizeof a, R_raw_ow[k].p50);
            fmt_us(b, sizeof b, R_raw_ow[k].p99);
            if (!R_raw_ow[k].have) continue;
            printf("  %-46s %9.0f /s   p50 %s us  p99 %s us  (%.0f before, %.0f after the T=%d row)  %s\n",
                   k ? "32 KiB overwrite+fdatasync, 1 thread" : "4 KiB overwrite+fdatasync, 1 thread",
                   R_raw_ow[k].rate, a, b, R_raw_ow_parts[k][0], R_raw_ow_parts[k][1], cfg.threads[0],
                   vstr(R_raw_ow[k].verified, R_raw_ow[k].bad));
        }
    if (R_raw_seq.have)
        printf("  %-46s %9.0f MiB/s  %s\n", "sequential 16 MiB write+fdatasync", R_raw_seq.rate,
               vstr(R_raw_seq.verified, R_raw_seq.bad));
    if (R_raw_ow_big.have)
        printf("  %-46s %9.0f MiB/s  %s\n", "16 MiB overwrite+fdatasync, pre-written file", R_raw_ow_big.rate,
               vstr(R_raw_ow_big.verified, R_raw_ow_big.bad));
    if (R_raw_read.have)
        printf("  %-46s %9.0f MiB/s  %s\n", "sequential 128 KiB reads, page cache dropped", R_raw_read.rate,
               vstr(R_raw_read.verified, R_raw_read.bad));
    printf("  ideal raw group commit: the raw-group rows of W1\n");
    if (w1) {
        if (csv_has(cfg.w1_pages, "1")) print_w1(0);
        if (csv_has(cfg.w1_pages, "8")) print_w1(1);
    }
    if (w2) {
        printf("\nW2: 16 MiB commits (4096 pages of 4 KiB), %.1f s per engine, one thread.\n", cfg.w2_secs);
        printf("  x raw = / raw sequential write+fdatasync on a new file (%.0f MiB/s); x ow = / raw 16 MiB\n"
               "  overwrite+fdatasync of a pre-written file (%.0f MiB/s); lc x = libcommit / this row.\n",
               R_raw_seq.rate, R_raw_ow_big.rate);
        printf("  %-14s %10s %8s %7s %7s %7s  %s\n", "engine", "MiB/s", "commits", "x raw", "x ow", "lc x", "verify");
        for (int ei = 0; ei < N_PEERS; ei++) {
            point *r = &R_w2[ei];
            if (!r->have) continue;
            char lx[16] = "-";
            if (ei && R_w2[0].have && r->rate > 0) snprintf(lx, sizeof lx, "%.2f", R_w2[0].rate / r->rate);
            printf("  %-14s %10.1f %8" PRIu64 " %7.2f %7.2f %7s  %s\n", ALL_ENGINES[ei]->name, r->rate, r->ops,
                   R_raw_seq.rate > 0 ? r->rate / R_raw_seq.rate : 0,
                   R_raw_ow_big.rate > 0 ? r->rate / R_raw_ow_big.rate : 0, lx, vstr(r->verified, r->bad));
        }
    }
    if (w3) {
        printf("\nW3: recovery after SIGKILL of a child that wrote %" PRIu64 " MiB without checkpointing;\n"
               "  page cache dropped by %s.\n  time = open + first read; cpu = user+sys CPU time of the process meanwhile.\n",
               cfg.w3_bytes >> 20, g_drop_method);
        printf("  x raw = log MiB/s / raw sequential read with the cache dropped (%.0f MiB/s);\n"
               "  lc x = libcommit's log MiB/s / this row's.\n", R_raw_read.rate);
        printf("  %-14s %8s %7s %8s %7s %10s %7s %13s %8s %7s  %s\n", "engine", "log MiB", "pages", "time ms",
               "cpu ms", "log MiB/s", "x raw", "payload MiB/s", "cached%", "lc x", "verify");
        for (int ei = 0; ei < N_PEERS; ei++) {
            if (!R_w3[ei].have) continue;
            double sp = R_w3[ei].log_mib / R_w3[ei].secs;
            char lx[16] = "-";
            if (ei && R_w3[0].have) snprintf(lx, sizeof lx, "%.2f", (R_w3[0].log_mib / R_w3[0].secs) / sp);
            printf("  %-14s %8.0f %7" PRIu64 " %8.0f %7.0f %10.0f %7.2f %13.0f %8.1f %7s  %s\n", ALL_ENGINES[ei]->name,
                   R_w3[ei].log_mib, R_w3[ei].pages, R_w3[ei].secs * 1e3, R_w3[ei].cpu_secs * 1e3, sp,
                   R_raw_read.rate > 0 ? sp / R_raw_read.rate : 0,
                   R_w3[ei].payload_mib / R_w3[ei].secs,
                   R_w3[ei].cached_pct, lx, vstr(R_w3[ei].verified, R_w3[ei].bad));
        }
    }
    if (w4) {
        printf("\nW4: read of a cached 4 KiB page at a snapshot (copied out), one thread, 1024-page warm set;\n"
               "  ns per read (median/p99 over batches of 32). lc x = this row's p50 / libcommit's p50.\n");
        printf("  %-14s %-34s %8s %8s %7s  %s\n", "engine", "call", "p50 ns", "p99 ns", "lc x", "verify");
        static const char *calls[N_PEERS] = {"lc_txn_read", "SELECT in a read txn", "SELECT in a read txn",
                                             "mdb_get in a read txn", "rocksdb_get at a snapshot"};
        for (int ei = 0; ei < N_PEERS; ei++) {
            if (!R_w4[ei].have) continue;
            char lx[16] = "-";
            if (ei && R_w4[0].have && R_w4[0].p50) snprintf(lx, sizeof lx, "%.2f", (double)R_w4[ei].p50 / (double)R_w4[0].p50);
            printf("  %-14s %-34s %8" PRIu64 " %8" PRIu64 " %7s  %s\n", ALL_ENGINES[ei]->name, calls[ei], R_w4[ei].p50,
                   R_w4[ei].p99, lx, vstr(R_w4[ei].verified, R_w4[ei].bad));
            if (ei == 0)
                printf("  %-14s %-34s %8" PRIu64 " %8s %7s\n", "libcommit", "lc_read (latest, no txn)",
                       R_w4[0].p50_latest, "-", "-");
        }
    }
    if (R_w4[0].have)
        printf("  (libcommit at W4, after the W1 points: last_commit_seq %" PRIu64 ", checkpoint_seq %" PRIu64
               ", retained_versions %" PRIu64 ")\n",
               R_w4[0].st.last_commit_seq, R_w4[0].st.checkpoint_seq, R_w4[0].st.retained_versions);
    if (R_w5_py[0].have || R_w5_c[0].have) {
        printf("\nW5: 1-page commits from Python threads (the libcommit package) beside the same loop in C\n"
               "  (C ABI over the Rust engine), fresh %u-page databases, %.1f s per point.\n", RANGE, cfg.w5_secs);
        printf("  %3s  %12s %9s %9s  %12s %9s %9s  %7s  %s\n", "T", "Python c/s", "p50 us", "p99 us", "C c/s",
               "p50 us", "p99 us", "py/C", "verify");
        int ts[2] = {1, 8};
        for (int k = 0; k < 2; k++) {
            char a[16], b[16], c[16], d[16];
            fmt_us(a, sizeof a, R_w5_py[k].p50);
            fmt_us(b, sizeof b, R_w5_py[k].p99);
            fmt_us(c, sizeof c, R_w5_c[k].p50);
            fmt_us(d, sizeof d, R_w5_c[k].p99);
            printf("  %3d  %12.0f %9s %9s  %12.0f %9s %9s  %6.0f%%  py %s, C %s\n", ts[k], R_w5_py[k].rate, a, b,
                   R_w5_c[k].rate, c, d, R_w5_c[k].rate > 0 ? 100 * R_w5_py[k].rate / R_w5_c[k].rate : 0,
                   vstr(R_w5_py[k].verified, R_w5_py[k].bad), vstr(R_w5_c[k].verified, R_w5_c[k].bad));
        }
    }
    print_targets();
}
