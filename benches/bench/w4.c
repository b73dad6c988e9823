/*
 * benches/bench/w4.c - W4: latency of a read of a cached page at a
 * snapshot, one thread, timed over batches of 32 reads.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "bench.h"

void run_w4(const engine *e, void *db, int idx) {
    void *tc = e->tctx_new(db);
    const unsigned warm = 1024, batch = 32;
    unsigned nbatches = cfg.quick ? 2000 : 10000;
    uint8_t *buf = xmalloc(PAGE);
    uint64_t *bt = xmalloc(nbatches * sizeof *bt);
    uint64_t seed = 12345;
    size_t len;
    R_w4[idx].have = true;
    if (e == &ENG_LC) lc_stats_get(lce_db(db), &R_w4[idx].st);
    for (int latest = 0; latest < 2; latest++) {
        if (latest && e != &ENG_LC) break;
        if (!latest && e->snap_begin(db, tc)) die("%s: snapshot begin failed", e->name);
        /* warm every page of the set, and check each one */
        for (uint32_t p = 1; p <= warm; p++) {
            int rc = latest ? e->read(db, tc, p, buf, &len) : e->snap_read(db, tc, p, buf, &len);
            if (rc != 0 || !check_page(buf, len, p, page_tag(buf)) || len != PAGE) R_w4[idx].bad++;
            R_w4[idx].verified++;
        }
        for (unsigned b = 0; b < nbatches; b++) {
            uint32_t pgs[32];
            for (unsigned i = 0; i < batch; i++) pgs[i] = 1 + (uint32_t)(rnd(&seed) % warm);
            uint64_t t0 = now_ns();
            for (unsigned i = 0; i < batch; i++) {
                int rc = latest ? e->read(db, tc, pgs[i], buf, &len) : e->snap_read(db, tc, pgs[i], buf, &len);
                if (rc != 0) R_w4[idx].bad++;
            }
            bt[b] = (now_ns() - t0) / batch;
            /* every image read carries its pgno */
            if ((((const uint64_t *)buf)[0] >> 32) != pgs[batch - 1]) R_w4[idx].bad++;
        }
        if (!latest) e->snap_end(db, tc);
        qsort(bt, nbatches, sizeof *bt, cmp_u64);
        if (latest) {
            R_w4[idx].p50_latest = pct(bt, nbatches, 0.5);
        } else {
            R_w4[idx].p50 = pct(bt, nbatches, 0.5);
            R_w4[idx].p99 = pct(bt, nbatches, 0.99);
        }
    }
    free(bt);
    free(buf);
    e->tctx_free(tc);
}
