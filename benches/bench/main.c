/*
 * benches/bench/main.c - libcommit beside SQLite, LMDB, RocksDB and the disk.
 *
 * One invocation runs the same workloads on every engine and prints one
 * table per workload, each figure with its ratio to the raw-disk limit and
 * to the other engines, then the targets marked met or not met.
 * Built and run by `make bench` (mk/bench.mk); see docs/BENCHMARKS.md.
 * This file reads the configuration and runs the points in order; the
 * adapters are engine_*.c, the workloads w1.c..w5.c, the raw limits
 * raw.c, the tables report.c.
 *
 *   W1  small commits (1 and 8 random 4 KiB pages) at 1..64 threads for a
 *       fixed time: commits/s, p50/p99 latency
 *   W2  16 MiB commits: MiB/s
 *   W3  recovery after SIGKILL of a child that wrote BENCH_W3_MIB of log
 *       (no checkpoint), page cache of the files dropped: time and MiB/s
 *   W4  read latency of a cached page at a snapshot, p50/p99 ns
 *   W5  the Python package at 1 and 8 threads beside the C/Rust rate
 *
 * Raw limits, on a file in the same directory: a 4 KiB (and 32 KiB)
 * overwrite+fdatasync loop on a pre-written file, an ideal leader/follower
 * group commit on the same kind of file (it is the "raw-group" engine of
 * W1), and sequential 16 MiB write+fdatasync bandwidth.
 *
 * Every point verifies what it wrote: each writer keeps the tag of the last
 * image it committed to each page it owns, and after the timed window reads
 * back a sample through the engine and compares every byte.
 *
 * Environment: BENCH_QUICK=1, BENCH_WORKLOADS=w1,w2,w3,w4,w5,
 * BENCH_ENGINES=libcommit,sqlite-full,sqlite-normal,lmdb,rocksdb,
 * BENCH_THREADS=1,2,4,..., BENCH_SECS (W1 seconds per point),
 * BENCH_W3_MIB, BENCH_DIR (scratch directory), BENCH_PYTHON (interpreter
 * with the libcommit package), BENCH_PY_SCRIPT, BENCH_LC_MODE=wal|native,
 * BENCH_LC_CKPT_MIB (libcommit checkpoint threshold, 0 = never), BENCH_LC_SEGMENT_MIB,
 * BENCH_LC_LANES, BENCH_RG_PAD (unaligned raw-group records), BENCH_RG_ORDERED=1
 * (the raw group syncs only the contiguous prefix of completed writes),
 * BENCH_SCALE=32MiB,1GiB (after the workloads above: every engine on a database
 * preloaded to each size, in a child process each; scale.c; BENCH_WORKLOADS=none
 * runs only these), BENCH_BLOCK_STAT=vda (block-device writes and flushes per W1 commit), BENCH_NO_RAW=1
 * (skip the raw-disk points, to profile one engine alone), BENCH_W1_PAGES=1,8.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <sqlite3.h>

#include "bench.h"

#ifndef ROCKSDB_VERSION_STR
#define ROCKSDB_VERSION_STR "?"
#endif

struct bench_cfg cfg;

bool want_w(const char *w) { return csv_has(cfg.workloads, w); }

const engine *const ALL_ENGINES[N_PEERS] = {&ENG_LC, &ENG_SQF, &ENG_SQN, &ENG_LM, &ENG_RK};

static void parse_cfg(void) {
    const char *s;
    cfg.quick = (s = getenv("BENCH_QUICK")) && *s && strcmp(s, "0");
    cfg.w1_secs = cfg.quick ? 0.4 : 3.0;
    cfg.w2_secs = cfg.quick ? 1.0 : 4.0;
    cfg.w5_secs = cfg.quick ? 1.0 : 3.0;
    cfg.w3_bytes = (cfg.quick ? 128ull : 512ull) << 20;
    if ((s = getenv("BENCH_SECS")) && *s) cfg.w1_secs = atof(s);
    if ((s = getenv("BENCH_W3_MIB")) && *s) cfg.w3_bytes = strtoull(s, NULL, 10) << 20;
    const char *th = (s = getenv("BENCH_THREADS")) && *s ? s : "1,2,4,8,16,32,64";
    char buf[256];
    snprintf(buf, sizeof buf, "%s", th);
    for (char *tok = strtok(buf, ","); tok && cfg.nthreads < MAXT; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        if (t < 1 || t > 128) die("BENCH_THREADS: %s", tok);
        cfg.threads[cfg.nthreads++] = t;
    }
    snprintf(cfg.workloads, sizeof cfg.workloads, "%s",
             (s = getenv("BENCH_WORKLOADS")) && *s ? s : "w1,w2,w3,w4,w5");
    snprintf(cfg.engines, sizeof cfg.engines, "%s",
             (s = getenv("BENCH_ENGINES")) && *s ? s : "libcommit,sqlite-full,sqlite-normal,lmdb,rocksdb");
    snprintf(cfg.dir, sizeof cfg.dir, "%s", (s = getenv("BENCH_DIR")) && *s ? s : "/tmp/libcommit-bench");
    cfg.python = getenv("BENCH_PYTHON");
    cfg.py_script = getenv("BENCH_PY_SCRIPT");
    cfg.lc_native = (s = getenv("BENCH_LC_MODE")) && !strcmp(s, "native");
    snprintf(cfg.w1_pages, sizeof cfg.w1_pages, "%s", (s = getenv("BENCH_W1_PAGES")) && *s ? s : "1,8");
    g_dump = getenv("BENCH_DUMP_LAT");
    g_rg_pad = (s = getenv("BENCH_RG_PAD")) && *s ? strtoull(s, NULL, 10) : 0;
    g_rg_ordered = (s = getenv("BENCH_RG_ORDERED")) && *s && strcmp(s, "0");
    if ((s = getenv("BENCH_SCALE")) && *s) cfg.nscales = parse_scales(s, cfg.scales, SCALE_MAX);
    cfg.no_raw = (s = getenv("BENCH_NO_RAW")) && *s && strcmp(s, "0"); /* for profiling one engine */
    ssize_t n = readlink("/proc/self/exe", cfg.self, sizeof cfg.self - 1);
    if (n <= 0) die("readlink /proc/self/exe");
    cfg.self[n] = 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--w3-child")) return w3_child(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_cfg();
    if (argc == 6 && !strcmp(argv[1], "--scale-child")) scale_child_main(argv[2], argv[3], argv[4], argv[5]);
    mkdir(cfg.dir, 0755);
    char run[PATH_MAX + 32];
    snprintf(run, sizeof run, "%s/run-%d", cfg.dir, (int)getpid());
    fresh_dir(run);

    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    int maj, min, pat;
    mdb_version(&maj, &min, &pat);
    printf("libcommit bench - %s - %s mode\n", when, cfg.quick ? "QUICK" : "full");
    printf("libcommit %s (%s mode, sync FULL), SQLite %s (WAL), LMDB %d.%d.%d, RocksDB %s\n", lc_version(),
           cfg.lc_native ? "NATIVE" : "WAL", sqlite3_libversion(), maj, min, pat, ROCKSDB_VERSION_STR);
    printf("scratch directory %s; workloads %s; threads", run, cfg.workloads);
    for (int i = 0; i < cfg.nthreads; i++) printf("%s%d", i ? "," : " ", cfg.threads[i]);
    printf("\n");

    uint64_t t_start = now_ns();
    bool w1 = want_w("w1"), w2 = want_w("w2"), w3 = want_w("w3"), w4 = want_w("w4"), w5 = want_w("w5");

#define PROGRESS(...)                                                          \
    do {                                                                       \
        fprintf(stderr, "  [%5.0fs] ", (double)(now_ns() - t_start) / 1e9); \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
    } while (0)

    /* Every engine's database is opened and filled first; then each point
     * runs on every engine back to back (raw first), so the engines of one
     * row of a table see the disk in the same state. */
    uint64_t point_id = 1;
    void *dbs[N_PEERS + 1] = {0};
    const engine *engs[N_PEERS + 1] = {&ENG_RG, 0};
    int eidx[N_PEERS + 1] = {N_PEERS, 0};
    int ne = 1;
    for (int ei = 0; ei < N_PEERS; ei++)
        if (csv_has(cfg.engines, ALL_ENGINES[ei]->name)) {
            engs[ne] = ALL_ENGINES[ei];
            eidx[ne++] = ei;
        }
    if (w1 || w2 || w4)
        for (int k = 0; k < ne; k++) {
            if (engs[k] == &ENG_RG && (!w1 || cfg.no_raw)) continue;
            char d[PATH_MAX];
            path_join(d, run, engs[k]->name);
            fresh_dir(d);
            dbs[k] = engs[k]->open(d);
            if (engs[k] != &ENG_RG) {
                PROGRESS("%s: open, write %u pages", engs[k]->name, RANGE);
                populate(engs[k], dbs[k]);
            }
        }
    if (w1)
        for (unsigned npi = 0; npi < 2; npi++) {
            unsigned np = npi ? 8 : 1;
            if (!csv_has(cfg.w1_pages, npi ? "8" : "1")) continue;
            PROGRESS("raw %u KiB overwrite+fdatasync", np * 4);
            /* The single-committer limit, measured before and after the
             * first row (T=1 when present) and averaged: the disk drifts. */
            double ow_secs = cfg.quick ? 0.5 : 1.5;
            point before = {0};
            if (!cfg.no_raw) before = raw_overwrite(run, np, ow_secs);
            for (int ti = 0; ti < cfg.nthreads; ti++) {
                for (int k = 0; k < ne; k++) {
                    if (!dbs[k]) continue;
                    PROGRESS("W1 %up T=%d %s", np, cfg.threads[ti], engs[k]->name);
                    R_w1[npi][eidx[k]][ti] = run_w1(engs[k], dbs[k], cfg.threads[ti], np, cfg.w1_secs, point_id++);
                }
                if (ti == 0 && !cfg.no_raw) {
                    PROGRESS("raw %u KiB overwrite+fdatasync, again", np * 4);
                    point after = raw_overwrite(run, np, ow_secs);
                    point *m = &R_raw_ow[npi];
                    *m = (point){.have = true, .ops = before.ops + after.ops};
                    m->rate = (before.rate + after.rate) / 2;
                    m->p50 = (before.p50 + after.p50) / 2;
                    m->p99 = (before.p99 + after.p99) / 2;
                    m->verified = before.verified + after.verified;
                    m->bad = before.bad + after.bad;
                    R_raw_ow_parts[npi][0] = before.rate;
                    R_raw_ow_parts[npi][1] = after.rate;
                }
            }
        }
    if (w4)
        for (int k = 1; k < ne; k++) {
            PROGRESS("W4 %s", engs[k]->name);
            run_w4(engs[k], dbs[k], eidx[k]);
        }
    if (w2) {
        PROGRESS("raw sequential write+fdatasync");
        R_raw_seq = raw_sequential(run, cfg.quick ? 1.0 : 4.0);
        PROGRESS("raw 16 MiB overwrite+fdatasync");
        R_raw_ow_big = raw_overwrite_big(run, cfg.quick ? 1.0 : 4.0);
        for (int k = 1; k < ne; k++) {
            PROGRESS("W2 %s", engs[k]->name);
            R_w2[eidx[k]] = run_w2(engs[k], dbs[k], cfg.w2_secs);
        }
    }
    for (int k = 0; k < ne; k++)
        if (dbs[k]) {
            engs[k]->close(dbs[k]);
            char d[PATH_MAX];
            path_join(d, run, engs[k]->name);
            rm_rf(d);
        }
    if (w3) {
        PROGRESS("raw sequential read, page cache dropped");
        R_raw_read = raw_read(run, cfg.w3_bytes);
    }
    if (w3)
        for (int k = 1; k < ne; k++)
            if (engs[k] == &ENG_LC || engs[k] == &ENG_SQF) {
                PROGRESS("W3 %s: write %" PRIu64 " MiB, SIGKILL, drop the cache, recover", engs[k]->name,
                         cfg.w3_bytes >> 20);
                run_w3(engs[k], eidx[k], run);
            }

    /* W5: Python beside the same workload through the C ABI, fresh databases. */
    if (w5 && csv_has(cfg.engines, "libcommit")) {
        if (!cfg.python || !cfg.py_script) {
            fprintf(stderr, "bench: W5 needs BENCH_PYTHON and BENCH_PY_SCRIPT; skipped\n");
        } else {
            int ts[2] = {1, 8};
            for (int k = 0; k < 2; k++) {
                char d[PATH_MAX], name[32];
                snprintf(name, sizeof name, "w5-c-%d", ts[k]);
                path_join(d, run, name);
                fresh_dir(d);
                PROGRESS("W5 C T=%d", ts[k]);
                void *db = ENG_LC.open(d);
                populate(&ENG_LC, db);
                R_w5_c[k] = run_w1(&ENG_LC, db, ts[k], 1, cfg.w5_secs, point_id++);
                ENG_LC.close(db);
                rm_rf(d);
                snprintf(name, sizeof name, "w5-py-%d", ts[k]);
                path_join(d, run, name);
                fresh_dir(d);
                char p[PATH_MAX];
                path_join(p, d, "lc.db");
                PROGRESS("W5 Python T=%d", ts[k]);
                if (!run_python(p, ts[k], cfg.w5_secs, &R_w5_py[k])) {
                    fprintf(stderr, "bench: W5 python run failed\n");
                    g_failures++;
                }
                rm_rf(d);
            }
        }
    }

    if (cfg.nscales) run_scale(run, t_start);

    print_report();
    if (cfg.nscales) print_scale_report();
    printf("\ntotal %.0f s; verification: %s\n", (double)(now_ns() - t_start) / 1e9,
           g_failures ? "FAILURES (see FAIL above)" : "every point read back what it wrote");
    rm_rf(run);
    return g_failures ? 1 : 0;
}
