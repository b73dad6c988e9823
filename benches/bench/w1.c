/*
 * benches/bench/w1.c - W1: small commits (1 or 8 random 4 KiB pages) from T
 * threads for a fixed time; commits/s, p50/p99 latency. Each thread owns
 * the pages pgno = 1 + tid + T*j, keeps the tag of the last image it
 * committed to each, and reads back a sample after the window.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const char *g_dump;
uint32_t g_range = RANGE;

typedef struct {
    const engine *e;
    void *db;
    int tid, T;
    unsigned npages;
    uint64_t point_id;
    atomic_int *stop;
    pthread_barrier_t *bar;
    lvec lat;
    lvec starts; /* commit start times, only with BENCH_DUMP_LAT */
    uint64_t *last_tag; /* per local index */
    uint64_t done_ns; /* when the last commit returned */
    int verified, bad, err;
} w1_arg;

static void *w1_thread(void *a_) {
    w1_arg *a = a_;
    void *tc = a->e->tctx_new(a->db);
    unsigned L = g_range / (unsigned)a->T;
    uint8_t *imgs = xmalloc((size_t)a->npages * PAGE);
    uint32_t pg[8];
    unsigned loc[8];
    uint64_t seed = splitmix(a->point_id * 1000 + (uint64_t)a->tid) | 1, seq = 0;
    pthread_barrier_wait(a->bar);
    while (!atomic_load_explicit(a->stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < a->npages; i++) {
            unsigned j;
            bool dup;
            do {
                j = (unsigned)(rnd(&seed) % L);
                dup = false;
                for (unsigned k = 0; k < i; k++) dup |= loc[k] == j;
            } while (dup);
            loc[i] = j;
            pg[i] = 1 + (uint32_t)a->tid + (uint32_t)a->T * j;
        }
        uint64_t tag = (a->point_id << 48) | ((uint64_t)a->tid << 32) | ++seq;
        for (unsigned i = 0; i < a->npages; i++) fill_page(imgs + (size_t)i * PAGE, pg[i], tag);
        uint64_t t0 = now_ns();
        if (a->e->commit(a->db, tc, pg, imgs, a->npages) != 0) {
            a->err++;
            break;
        }
        a->done_ns = now_ns();
        lv_push(&a->lat, a->done_ns - t0);
        if (g_dump) lv_push(&a->starts, t0);
        for (unsigned i = 0; i < a->npages; i++) a->last_tag[loc[i]] = tag;
    }
    /* verify a sample of the pages this thread wrote, latest image each */
    if (a->e->read) {
        uint8_t *buf = xmalloc(PAGE);
        unsigned start = (unsigned)(rnd(&seed) % L);
        for (unsigned k = 0; k < L && a->verified < VERIFY_PER_THREAD; k++) {
            unsigned j = (start + k) % L;
            if (!a->last_tag[j]) continue;
            uint32_t pgno = 1 + (uint32_t)a->tid + (uint32_t)a->T * j;
            size_t len = 0;
            int rc = a->e->read(a->db, tc, pgno, buf, &len);
            if (rc != 0 || !check_page(buf, len, pgno, a->last_tag[j])) a->bad++;
            a->verified++;
        }
        free(buf);
    }
    free(imgs);
    a->e->tctx_free(tc);
    return NULL;
}

/* BENCH_BLOCK_STAT=vda: print the block device's write and flush counts
 * over each W1 point to stderr (diagnostic; the device is shared). */
static void block_stat(uint64_t v[17]) {
    memset(v, 0, 17 * sizeof *v);
    const char *dev = getenv("BENCH_BLOCK_STAT");
    if (!dev || !*dev) return;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "/sys/block/%s/stat", dev);
    FILE *f = fopen(p, "r");
    if (!f) return;
    for (int i = 0; i < 17; i++)
        if (fscanf(f, "%" SCNu64, &v[i]) != 1) break;
    fclose(f);
}

point run_w1(const engine *e, void *db, int T, unsigned npages, double secs, uint64_t point_id) {
    pthread_t th[128];
    w1_arg *args = xcalloc((size_t)T * sizeof *args);
    atomic_int stop = 0;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)T + 1);
    for (int t = 0; t < T; t++) {
        args[t] = (w1_arg){.e = e, .db = db, .tid = t, .T = T, .npages = npages, .point_id = point_id,
                           .stop = &stop, .bar = &bar};
        args[t].last_tag = xcalloc((g_range / (unsigned)T) * sizeof(uint64_t));
        if (pthread_create(&th[t], NULL, w1_thread, &args[t])) die("pthread_create");
    }
    uint64_t syncs0 = e->syncs ? e->syncs(db) : 0, fc0 = 0, fs0 = 0;
    if (e->flush_time) e->flush_time(db, &fc0, &fs0);
    uint64_t bs0[17], bs1[17];
    block_stat(bs0);
    pthread_barrier_wait(&bar);
    uint64_t start = now_ns();
    sleep_s(secs);
    atomic_store(&stop, 1);
    uint64_t ops = 0, last_done = start;
    lvec all = {0};
    point r = {.have = true};
    for (int t = 0; t < T; t++) pthread_join(th[t], NULL);
    block_stat(bs1);
    if (bs1[0] || bs1[4]) {
        uint64_t commits = 0;
        for (int t = 0; t < T; t++) commits += args[t].lat.n;
        fprintf(stderr, "  block: %s %up T=%d: %" PRIu64 " commits, %.1f KiB written/commit, %.2f write IOs/commit, %.2f flushes/commit\n",
                e->name, npages, T, commits, commits ? (double)(bs1[6] - bs0[6]) * 512 / 1024 / (double)commits : 0,
                commits ? (double)(bs1[4] - bs0[4]) / (double)commits : 0,
                commits ? (double)(bs1[15] - bs0[15]) / (double)commits : 0);
    }
    if (g_dump) {
        FILE *f = fopen(g_dump, "a");
        for (int t = 0; f && t < T; t++)
            for (size_t k = 0; k < args[t].lat.n; k++)
                fprintf(f, "%s %d %u %" PRIu64 " %" PRIu64 " %d\n", e->name, T, npages, args[t].starts.v[k] - start,
                        args[t].lat.v[k], t);
        if (f) fclose(f);
        for (int t = 0; t < T; t++) free(args[t].starts.v);
    }
    for (int t = 0; t < T; t++) {
        for (size_t k = 0; k < args[t].lat.n; k++) lv_push(&all, args[t].lat.v[k]);
        ops += args[t].lat.n;
        if (args[t].done_ns > last_done) last_done = args[t].done_ns;
        r.verified += args[t].verified;
        r.bad += args[t].bad + args[t].err;
        free(args[t].lat.v);
        free(args[t].last_tag);
    }
    /* The window runs from the start to the return of the last commit
     * (commits in flight at the stop count, and so does their time). */
    double window = (double)(last_done - start) / 1e9;
    qsort(all.v, all.n, sizeof *all.v, cmp_u64);
    r.ops = ops;
    r.rate = (double)ops / window;
    if (e->syncs) {
        uint64_t ns = e->syncs(db) - syncs0;
        r.per_sync = ns ? (double)ops / (double)ns : 0;
    }
    if (e->flush_time) {
        uint64_t fc1, fs1;
        e->flush_time(db, &fc1, &fs1);
        if (fc1 > fc0) {
            r.flush_us = (double)(fs1 - fs0) / (double)(fc1 - fc0);
            r.flush_busy = (double)(fs1 - fs0) / 1e6 / window;
        }
    }
    r.p50 = pct(all.v, all.n, 0.5);
    r.p99 = pct(all.v, all.n, 0.99);
    if (e == &ENG_RG) {
        int checked = 0;
        r.bad += rg_verify(db, &checked);
        r.verified += checked;
    }
    free(all.v);
    free(args);
    pthread_barrier_destroy(&bar);
    return r;
}

void populate(const engine *e, void *db) {
    void *tc = e->tctx_new(db);
    unsigned batch = 256;
    uint8_t *imgs = xmalloc((size_t)batch * PAGE);
    uint32_t *pg = xmalloc(batch * sizeof *pg);
    for (uint32_t base = 1; base <= RANGE; base += batch) {
        for (unsigned i = 0; i < batch; i++) {
            pg[i] = base + i;
            fill_page(imgs + (size_t)i * PAGE, pg[i], 0);
        }
        if (e->commit(db, tc, pg, imgs, batch)) die("%s: populate failed", e->name);
    }
    free(imgs);
    free(pg);
    e->tctx_free(tc);
}
