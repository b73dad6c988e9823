/*
 * benches/bench/engine_rocksdb.c - the RocksDB adapter: default options,
 * WriteOptions.sync = true, a WriteBatch per commit (RocksDB group-commits
 * concurrent writers itself).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "bench.h"

typedef struct {
    rocksdb_t *db;
    rocksdb_options_t *o;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
} rk_e;
typedef struct {
    const rocksdb_snapshot_t *snap;
    rocksdb_readoptions_t *ro;
} rk_tc;

static void *rk_open(const char *dir) {
    rk_e *e = xcalloc(sizeof *e);
    char p[PATH_MAX];
    path_join(p, dir, "rocksdb");
    e->o = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(e->o, 1);
    e->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->wo, 1);
    e->ro = rocksdb_readoptions_create();
    char *err = NULL;
    e->db = rocksdb_open(e->o, p, &err);
    if (err) die("rocksdb open: %s", err);
    return e;
}
static void rk_close(void *d) {
    rk_e *e = d;
    rocksdb_close(e->db);
    rocksdb_options_destroy(e->o);
    rocksdb_writeoptions_destroy(e->wo);
    rocksdb_readoptions_destroy(e->ro);
    free(e);
}
static void *rk_tcnew(void *d) {
    (void)d;
    return xcalloc(sizeof(rk_tc));
}
static void rk_tcfree(void *tc) { free(tc); }
static int rk_commit(void *d, void *tc, const uint32_t *pg, const uint8_t *imgs, unsigned n) {
    (void)tc;
    rk_e *e = d;
    rocksdb_writebatch_t *wb = rocksdb_writebatch_create();
    for (unsigned i = 0; i < n; i++) {
        uint8_t k[4];
        be32(k, pg[i]);
        rocksdb_writebatch_put(wb, (const char *)k, 4, (const char *)imgs + (size_t)i * PAGE, PAGE);
    }
    char *err = NULL;
    rocksdb_write(e->db, e->wo, wb, &err);
    rocksdb_writebatch_destroy(wb);
    if (err) {
        fprintf(stderr, "rocksdb write: %s\n", err);
        rocksdb_free(err);
        return -1;
    }
    return 0;
}
static int rk_get(rk_e *e, rocksdb_readoptions_t *ro, uint32_t pg, uint8_t *buf, size_t *len) {
    uint8_t k[4];
    be32(k, pg);
    size_t vl = 0;
    char *err = NULL;
    char *v = rocksdb_get(e->db, ro, (const char *)k, 4, &vl, &err);
    if (err) {
        rocksdb_free(err);
        return -1;
    }
    if (!v) return 1;
    size_t n = vl > PAGE ? PAGE : vl;
    memcpy(buf, v, n);
    *len = n;
    rocksdb_free(v);
    return 0;
}
static int rk_read(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    (void)tc;
    rk_e *e = d;
    return rk_get(e, e->ro, pg, buf, len);
}
static int rk_sbegin(void *d, void *tc) {
    rk_e *e = d;
    rk_tc *t = tc;
    t->snap = rocksdb_create_snapshot(e->db);
    t->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_snapshot(t->ro, t->snap);
    return 0;
}
static int rk_sread(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    return rk_get(d, ((rk_tc *)tc)->ro, pg, buf, len);
}
static void rk_send(void *d, void *tc) {
    rk_tc *t = tc;
    rocksdb_readoptions_destroy(t->ro);
    rocksdb_release_snapshot(((rk_e *)d)->db, t->snap);
}

static int rk_checkpoint(void *d) {
    rk_e *e = d;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    char *err = NULL;
    rocksdb_flush(e->db, fo, &err);
    rocksdb_flushoptions_destroy(fo);
    if (err) {
        fprintf(stderr, "rocksdb flush: %s\n", err);
        free(err);
        return -1;
    }
    return 0;
}

const engine ENG_RK = {"rocksdb", rk_open, rk_close, rk_tcnew, rk_tcfree, rk_commit,
                       rk_read, rk_sbegin, rk_sread, rk_send, NULL, NULL, rk_checkpoint};
