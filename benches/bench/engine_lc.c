/*
 * benches/bench/engine_lc.c - the libcommit adapter, through its C ABI.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void lc_fail(const char *what, lc_status st) {
    die("libcommit %s: %s (%s)", what, lc_status_str(st), lc_last_error());
}

typedef struct {
    lc_db *db;
} lc_e;
typedef struct {
    lc_txn *txn;
} lc_tc;

lc_db *lc_open_at(const char *path, uint64_t ckpt_threshold, bool set_threshold) {
    lc_options *o;
    lc_status st = lc_options_new(&o);
    if (st) lc_fail("options", st);
    if (cfg.lc_native && (st = lc_options_set_commit_mode(o, LC_MODE_NATIVE))) lc_fail("mode", st);
    if (set_threshold && (st = lc_options_set_checkpoint_threshold_bytes(o, ckpt_threshold)))
        lc_fail("threshold", st);
    const char *lanes = getenv("BENCH_LC_LANES");
    if (lanes && *lanes && (st = lc_options_set_lanes(o, (uint32_t)atoi(lanes)))) lc_fail("lanes", st);
    const char *seg = getenv("BENCH_LC_SEGMENT_MIB");
    if (seg && *seg && (st = lc_options_set_segment_size_bytes(o, strtoull(seg, NULL, 10) << 20)))
        lc_fail("segment size", st);
    lc_db *db;
    st = lc_open(path, o, &db);
    lc_options_free(o);
    if (st) lc_fail("open", st);
    return db;
}

static void *lce_open(const char *dir) {
    char p[PATH_MAX];
    path_join(p, dir, "lc.db");
    lc_e *e = xcalloc(sizeof *e);
    const char *ck = getenv("BENCH_LC_CKPT_MIB");
    e->db = ck && *ck ? lc_open_at(p, strtoull(ck, NULL, 10) << 20, true) : lc_open_at(p, 0, false);
    return e;
}
static void lce_close(void *d) {
    lc_e *e = d;
    lc_status st = lc_close(e->db);
    if (st) lc_fail("close", st);
    free(e);
}
static void *lce_tc(void *d) {
    (void)d;
    return xcalloc(sizeof(lc_tc));
}
static void lce_tcfree(void *tc) { free(tc); }
static int lce_commit(void *d, void *tc, const uint32_t *pg, const uint8_t *imgs, unsigned n) {
    (void)tc;
    lc_e *e = d;
    lc_page_write stackw[16] = {{0}};
    lc_page_write *w = n <= 16 ? stackw : malloc(n * sizeof *w);
    for (unsigned i = 0; i < n; i++) {
        w[i].pgno = pg[i];
        w[i].data = imgs + (size_t)i * PAGE;
        w[i].len = PAGE;
    }
    lc_status st = lc_commit_batch(e->db, w, n, NULL);
    if (w != stackw) free(w);
    if (st) {
        fprintf(stderr, "libcommit commit: %s (%s)\n", lc_status_str(st), lc_last_error());
        return -1;
    }
    return 0;
}
static int lc_map(lc_status st) { return st == LC_OK ? 0 : st == LC_NOT_FOUND ? 1 : -1; }
static int lce_read(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    (void)tc;
    return lc_map(lc_read(((lc_e *)d)->db, pg, buf, PAGE, len));
}
static int lce_sbegin(void *d, void *tc) { return lc_begin(((lc_e *)d)->db, &((lc_tc *)tc)->txn) ? -1 : 0; }
static int lce_sread(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    (void)d;
    return lc_map(lc_txn_read(((lc_tc *)tc)->txn, pg, buf, PAGE, len));
}
static void lce_send(void *d, void *tc) {
    (void)d;
    lc_txn_abort(((lc_tc *)tc)->txn);
    ((lc_tc *)tc)->txn = NULL;
}

static uint64_t lce_syncs(void *d) {
    lc_stats s;
    return lc_stats_get(((lc_e *)d)->db, &s) == LC_OK ? s.syncs : 0;
}

#ifdef LC_HISTOGRAM_BUCKETS /* lc_metrics_get exists */
static void lce_flush_time(void *d, uint64_t *count, uint64_t *sum_us) {
    lc_metrics m;
    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    *count = *sum_us = 0;
    if (lc_metrics_get(((lc_e *)d)->db, &m) != LC_OK) return;
    for (unsigned i = 0; i < LC_HISTOGRAM_BUCKETS; i++) *count += m.flush_us.buckets[i];
    *sum_us = m.flush_us.sum;
}
#define LCE_FLUSH_TIME lce_flush_time
#else
#define LCE_FLUSH_TIME NULL
#endif

static int lce_checkpoint(void *d) {
    lc_checkpoint_report r;
    return lc_checkpoint(((lc_e *)d)->db, &r) == LC_OK ? 0 : -1;
}

lc_db *lce_db(void *db) { return ((lc_e *)db)->db; }

const engine ENG_LC = {"libcommit", lce_open, lce_close, lce_tc, lce_tcfree, lce_commit,
                       lce_read, lce_sbegin, lce_sread, lce_send, lce_syncs, LCE_FLUSH_TIME,
                       lce_checkpoint};
