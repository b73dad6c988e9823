/*
 * benches/bench/w2.c - W2: 16 MiB commits from one thread; MiB/s over the
 * time spent in commit.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "bench.h"

point run_w2(const engine *e, void *db, double secs) {
    void *tc = e->tctx_new(db);
    uint8_t *imgs = xmalloc((size_t)W2_PAGES * PAGE);
    uint32_t *pg = xmalloc(W2_PAGES * sizeof *pg);
    uint64_t busy = 0, commits = 0;
    uint64_t deadline = now_ns() + (uint64_t)(secs * 1e9);
    point r = {.have = true};
    while (now_ns() < deadline || commits < 3) {
        uint32_t base = 1 + (uint32_t)(commits % 4) * W2_PAGES;
        uint64_t tag = (0xffull << 48) | (commits + 1);
        for (unsigned i = 0; i < W2_PAGES; i++) {
            pg[i] = base + i;
            fill_page(imgs + (size_t)i * PAGE, pg[i], tag);
        }
        uint64_t t0 = now_ns();
        if (e->commit(db, tc, pg, imgs, W2_PAGES)) {
            r.bad++;
            break;
        }
        busy += now_ns() - t0;
        commits++;
    }
    r.ops = commits;
    r.rate = (double)commits * W2_PAGES * PAGE / (1 << 20) / ((double)busy / 1e9);
    /* verify every 16th page of the last commit */
    uint8_t *buf = xmalloc(PAGE);
    for (unsigned i = 0; i < W2_PAGES; i += 16) {
        size_t len = 0;
        int rc = e->read(db, tc, pg[i], buf, &len);
        if (rc != 0 || !check_page(buf, len, pg[i], (0xffull << 48) | commits)) r.bad++;
        r.verified++;
    }
    free(buf);
    free(imgs);
    free(pg);
    e->tctx_free(tc);
    return r;
}
