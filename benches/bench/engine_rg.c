/*
 * benches/bench/engine_rg.c - the ideal raw group commit, as an engine for
 * W1 (the "raw-group" rows): each commit writes its pages with one pwrite
 * at the next slot of a pre-written file; the first waiter with no
 * fdatasync in flight syncs for every write completed so far, the others
 * wait for it (leader/follower). No checksums, no index: the bound for any
 * engine that must write its pages and sync.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

typedef struct {
    int fd;
    atomic_uint_fast64_t next;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t written, durable;
    bool flushing;
    atomic_uint_fast64_t syncs, sync_ns;
    uint64_t done_ring[4096];
    uint64_t *slot_tag;
    uint32_t *slot_pgno;
    unsigned n_last;
} rg_e;

uint64_t g_rg_pad;
bool g_rg_ordered;
#define RG_RING 4096

static void *rg_open(const char *dir) {
    rg_e *e = xcalloc(sizeof *e);
    char p[PATH_MAX];
    path_join(p, dir, "raw-group");
    e->fd = prewritten_file(p, RAW_FILE_PAGES);
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->slot_tag = xcalloc(RAW_FILE_PAGES * sizeof(uint64_t));
    e->slot_pgno = xcalloc(RAW_FILE_PAGES * sizeof(uint32_t));
    return e;
}
static void rg_close(void *d) {
    rg_e *e = d;
    close(e->fd);
    free(e->slot_tag);
    free(e->slot_pgno);
    free(e);
}
static void *rg_tcnew(void *d) {
    (void)d;
    return NULL;
}
static void rg_tcfree(void *tc) { (void)tc; }
static int rg_commit(void *d, void *tc, const uint32_t *pg, const uint8_t *imgs, unsigned n) {
    (void)tc;
    rg_e *e = d;
    uint64_t nslots = RAW_FILE_PAGES * PAGE / (n * PAGE + g_rg_pad);
    uint64_t seq = atomic_fetch_add(&e->next, 1);
    uint64_t slot = seq % nslots;
    full_pwrite(e->fd, imgs, (size_t)n * PAGE, (off_t)(slot * (n * PAGE + g_rg_pad)));
    for (unsigned i = 0; i < n; i++) {
        e->slot_pgno[slot * n + i] = pg[i];
        e->slot_tag[slot * n + i] = page_tag(imgs + (size_t)i * PAGE);
    }
    e->n_last = n;
    pthread_mutex_lock(&e->mu);
    uint64_t mine;
    if (g_rg_ordered) {
        /* a log's rule: a sync covers only the contiguous prefix of
         * completed writes (seq order), not any completed write */
        e->done_ring[seq % RG_RING] = seq + 1;
        while (e->done_ring[e->written % RG_RING] == e->written + 1) e->written++;
        mine = seq + 1;
    } else {
        mine = ++e->written;
    }
    while (e->durable < mine) {
        if (!e->flushing) {
            e->flushing = true;
            uint64_t target = e->written;
            pthread_mutex_unlock(&e->mu);
            uint64_t s0 = now_ns();
            if (fdatasync(e->fd)) die("fdatasync: %s", strerror(errno));
            atomic_fetch_add(&e->sync_ns, now_ns() - s0);
            atomic_fetch_add(&e->syncs, 1);
            pthread_mutex_lock(&e->mu);
            e->durable = target;
            e->flushing = false;
            pthread_cond_broadcast(&e->cv);
        } else {
            pthread_cond_wait(&e->cv, &e->mu);
        }
    }
    pthread_mutex_unlock(&e->mu);
    return 0;
}
/* Verifies the last 64 commits' slots (older ones may have been reused). */
int rg_verify(void *db, int *checked) {
    rg_e *e = db;
    uint64_t next = atomic_load(&e->next);
    unsigned n = e->n_last ? e->n_last : 1;
    uint64_t nslots = RAW_FILE_PAGES * PAGE / (n * PAGE + g_rg_pad);
    uint8_t *buf = xmalloc(PAGE);
    int bad = 0;
    *checked = 0;
    for (uint64_t s = next > 64 ? next - 64 : 0; s < next; s++) {
        uint64_t slot = s % nslots;
        for (unsigned i = 0; i < n; i++) {
            full_pread(e->fd, buf, PAGE, (off_t)(slot * (n * PAGE + g_rg_pad) + i * PAGE));
            if (!check_page(buf, PAGE, e->slot_pgno[slot * n + i], e->slot_tag[slot * n + i])) bad++;
            (*checked)++;
        }
    }
    free(buf);
    return bad;
}

static uint64_t rg_syncs(void *d) { return atomic_load(&((rg_e *)d)->syncs); }
static void rg_flush_time(void *d, uint64_t *count, uint64_t *sum_us) {
    *count = atomic_load(&((rg_e *)d)->syncs);
    *sum_us = atomic_load(&((rg_e *)d)->sync_ns) / 1000;
}

const engine ENG_RG = {"raw-group", rg_open, rg_close, rg_tcnew, rg_tcfree, rg_commit,
                       NULL, NULL, NULL, NULL, rg_syncs, rg_flush_time, NULL};
