/*
 * benches/bench/scale.c - BENCH_SCALE=32MiB,1GiB,...: every engine on a
 * database preloaded to each size. Each (size, engine) runs in two child
 * processes, so their peak RSS (VmHWM) and their disk writes
 * (/proc/self/io) are their own: the first preloads, the second - which
 * never held the preload's memory - reopens and runs the workloads.
 *
 *   preload   the size in 4 MiB commits of 4 KiB pages 1..N (N = size / 4 KiB),
 *             then the checkpoint (first child)
 *   drop the page cache, open: open time after a clean close (second child)
 *   cold      random reads over all N pages right after that open
 *   W1        1-page commits at random pages of all N, T=1 and T=SCALE_W1_T
 *   W2        16 MiB commits (as in W2)
 *   W4        cached reads at a snapshot (as in W4)
 *
 * The checkpoint after the preload is the engine's own move of its log
 * into its main store, timed.
 *
 * Write amplification = bytes the process sent to the disk (write_bytes
 * less cancelled_write_bytes of /proc/self/io, which the kernel counts when
 * a page is dirtied, background threads included) per byte committed, for
 * every workload. Tables and targets: scale_report.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define PRELOAD_BATCH 1024u /* pages per preload commit: 4 MiB */

scale_result R_scale[SCALE_MAX][N_PEERS];
uint64_t g_db_bytes;

/* "32MiB,1GiB" -> bytes; dies on anything else. */
int parse_scales(const char *list, uint64_t *out, int max) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    int n = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        char *end;
        uint64_t v = strtoull(tok, &end, 10);
        uint64_t mult = !strcasecmp(end, "KiB") ? 1ull << 10
                        : !strcasecmp(end, "MiB") ? 1ull << 20
                        : !strcasecmp(end, "GiB") ? 1ull << 30
                        : !*end                   ? 1
                                                  : 0;
        if (!mult || !v || n == max) die("BENCH_SCALE: %s (sizes like 32MiB or 4GiB, at most %d)", tok, max);
        out[n] = v * mult / PAGE * PAGE;
        if (out[n] < 1u << 20) die("BENCH_SCALE: %s is below 1 MiB", tok);
        n++;
    }
    return n;
}

/* Bytes this process has sent (or will send) to the disk. */
static uint64_t io_written(void) {
    FILE *f = fopen("/proc/self/io", "r");
    if (!f) return 0;
    char line[128];
    uint64_t w = 0, cancelled = 0, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "write_bytes: %" SCNu64, &v) == 1) w = v;
        if (sscanf(line, "cancelled_write_bytes: %" SCNu64, &v) == 1) cancelled = v;
    }
    fclose(f);
    return w > cancelled ? w - cancelled : 0;
}

/* A "Vm...:" line of /proc/self/status, in KiB. */
static uint64_t vm_kib(const char *field) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[128], fmt[32];
    snprintf(fmt, sizeof fmt, "%s: %%" SCNu64, field);
    uint64_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, fmt, &kib) == 1) break;
    fclose(f);
    return kib;
}

static double wamp(uint64_t io0, uint64_t committed) {
    return committed ? (double)(io_written() - io0) / (double)committed : 0;
}

static void preload(const engine *e, void *db, uint32_t pages) {
    void *tc = e->tctx_new(db);
    uint8_t *imgs = xmalloc((size_t)PRELOAD_BATCH * PAGE);
    uint32_t pg[PRELOAD_BATCH];
    for (uint32_t base = 1; base <= pages; base += PRELOAD_BATCH) {
        unsigned n = pages - base + 1 < PRELOAD_BATCH ? pages - base + 1 : PRELOAD_BATCH;
        for (unsigned i = 0; i < n; i++) {
            pg[i] = base + i;
            fill_page(imgs + (size_t)i * PAGE, pg[i], 0);
        }
        if (e->commit(db, tc, pg, imgs, n)) die("%s: preload failed at page %u", e->name, base);
    }
    free(imgs);
    e->tctx_free(tc);
}

/* Random reads over the whole database, each checked against its pgno. */
static void cold_reads(const engine *e, void *db, uint32_t pages, scale_result *r) {
    void *tc = e->tctx_new(db);
    uint8_t *buf = xmalloc(PAGE);
    unsigned n = cfg.quick ? 500 : 2000;
    uint64_t *lat = xmalloc(n * sizeof *lat), seed = 777, start = now_ns();
    for (unsigned i = 0; i < n; i++) {
        uint32_t p = 1 + (uint32_t)(rnd(&seed) % pages);
        size_t len = 0;
        uint64_t t0 = now_ns();
        int rc = e->read(db, tc, p, buf, &len);
        lat[i] = now_ns() - t0;
        if (rc != 0 || len != PAGE || !check_page(buf, len, p, page_tag(buf))) r->cold_bad++;
        r->cold_verified++;
    }
    r->cold_rate = n / ((double)(now_ns() - start) / 1e9);
    qsort(lat, n, sizeof *lat, cmp_u64);
    r->cold_p50_us = (double)pct(lat, n, 0.5) / 1e3;
    free(lat);
    free(buf);
    e->tctx_free(tc);
}

static double timed_checkpoint(const engine *e, void *db) {
    uint64_t t0 = now_ns();
    if (e->checkpoint && e->checkpoint(db)) die("%s: checkpoint failed", e->name);
    return (double)(now_ns() - t0) / 1e6;
}

/* The preload child: fills the database and checkpoints it, so that no
 * workload is charged for what the preload left in the log. */
static void load_phase(const engine *e, uint64_t bytes, const char *dir, scale_result *r) {
    uint64_t io0 = io_written(), t0 = now_ns();
    void *db = e->open(dir);
    preload(e, db, (uint32_t)(bytes / PAGE));
    r->preload_s = (double)(now_ns() - t0) / 1e9;
    r->ckpt_ms = timed_checkpoint(e, db);
    r->preload_wamp = wamp(io0, bytes);
    e->close(db);
    r->preload_hwm_kib = vm_kib("VmHWM");
}

/* The run child, a process that never held the preload's memory: opens
 * the database with the page cache dropped and runs the workloads. */
static void run_phase(const engine *e, int idx, uint64_t bytes, const char *dir, scale_result *r) {
    uint32_t pages = (uint32_t)(bytes / PAGE);
    drop_cache(dir);
    uint64_t t0 = now_ns();
    void *db = e->open(dir);
    r->open_ms = (double)(now_ns() - t0) / 1e6;
    r->open_rss_kib = vm_kib("VmRSS");
    cold_reads(e, db, pages, r);
    int ts[2] = {1, SCALE_W1_T};
    for (int k = 0; k < 2; k++) {
        uint64_t io0 = io_written();
        r->w1[k] = run_w1(e, db, ts[k], 1, cfg.w1_secs, 900 + (uint64_t)k);
        r->w1_wamp[k] = wamp(io0, r->w1[k].ops * PAGE);
    }
    uint64_t io0 = io_written();
    r->w2 = run_w2(e, db, cfg.w2_secs);
    r->w2_wamp = wamp(io0, r->w2.ops * W2_PAGES * PAGE);
    run_w4(e, db, idx);
    r->w4 = R_w4[idx];
    e->close(db);
    r->hwm_kib = vm_kib("VmHWM");
}

/* Runs `phase` ("load" or "run") in a fresh exec of the harness (a fork
 * alone would inherit RocksDB's global thread pool without its threads);
 * the child sends back its whole scale_result and the parent keeps the
 * fields of that phase. */
static bool run_child(const char *phase, int idx, uint64_t bytes, const char *dir, scale_result *out) {
    int pfd[2];
    if (pipe(pfd)) die("pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        char bytes_s[32], idx_s[16];
        snprintf(bytes_s, sizeof bytes_s, "%" PRIu64, bytes);
        snprintf(idx_s, sizeof idx_s, "%d", idx);
        execl(cfg.self, cfg.self, "--scale-child", phase, idx_s, bytes_s, dir, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    ssize_t got = 0, n;
    while (got < (ssize_t)sizeof *out && (n = read(pfd[0], (char *)out + got, sizeof *out - (size_t)got)) > 0) got += n;
    close(pfd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return got == (ssize_t)sizeof *out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool run_one(int idx, uint64_t bytes, const char *dir, scale_result *out) {
    scale_result load = {0}, run = {0};
    if (!run_child("load", idx, bytes, dir, &load) || !run_child("run", idx, bytes, dir, &run)) return false;
    *out = run;
    out->preload_s = load.preload_s;
    out->preload_wamp = load.preload_wamp;
    out->ckpt_ms = load.ckpt_ms;
    out->preload_hwm_kib = load.preload_hwm_kib;
    return true;
}

int scale_child_main(const char *phase, const char *idx_s, const char *bytes_s, const char *dir) {
    int idx = atoi(idx_s);
    if (idx < 0 || idx >= N_PEERS) die("--scale-child: engine %s", idx_s);
    int fd = dup(1);
    dup2(2, 1); /* the adapters' messages go to stderr; the result to the pipe */
    scale_result r = {.have = true};
    uint64_t bytes = strtoull(bytes_s, NULL, 10);
    g_db_bytes = bytes;
    g_range = (uint32_t)(bytes / PAGE);
    if (!strcmp(phase, "load")) load_phase(ALL_ENGINES[idx], bytes, dir, &r);
    else if (!strcmp(phase, "run")) run_phase(ALL_ENGINES[idx], idx, bytes, dir, &r);
    else die("--scale-child: phase %s", phase);
    if (write(fd, &r, sizeof r) != (ssize_t)sizeof r) _exit(2);
    _exit(0);
}

void run_scale(const char *run, uint64_t t_start) {
    for (int si = 0; si < cfg.nscales; si++)
        for (int ei = 0; ei < N_PEERS; ei++) {
            const engine *e = ALL_ENGINES[ei];
            if (!csv_has(cfg.engines, e->name)) continue;
            char d[PATH_MAX], name[64];
            snprintf(name, sizeof name, "scale-%" PRIu64 "-%s", cfg.scales[si] >> 20, e->name);
            path_join(d, run, name);
            fresh_dir(d);
            fprintf(stderr, "  [%5.0fs] scale %" PRIu64 " MiB %s: preload, checkpoint, reopen, cold reads, W1, W2, W4\n",
                    (double)(now_ns() - t_start) / 1e9, cfg.scales[si] >> 20, e->name);
            if (!run_one(ei, cfg.scales[si], d, &R_scale[si][ei])) {
                fprintf(stderr, "bench: scale %" PRIu64 " MiB %s: the child failed\n", cfg.scales[si] >> 20, e->name);
                g_failures++;
            }
            rm_rf(d);
        }
}
