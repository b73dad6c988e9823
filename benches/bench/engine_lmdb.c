/*
 * benches/bench/engine_lmdb.c - the LMDB adapter: default flags, so every
 * commit is synced (data, then meta page).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <lmdb.h>

#include "bench.h"

typedef struct {
    MDB_env *env;
    MDB_dbi dbi;
} lm_e;
typedef struct {
    MDB_txn *rtxn;
} lm_tc;

static void lm_chk(int rc, const char *what) {
    if (rc) die("lmdb %s: %s", what, mdb_strerror(rc));
}
static void *lm_open(const char *dir) {
    lm_e *e = xcalloc(sizeof *e);
    char p[PATH_MAX];
    path_join(p, dir, "lmdb");
    mkdir(p, 0755);
    lm_chk(mdb_env_create(&e->env), "create");
    /* room for a BENCH_SCALE preload twice over (LMDB's copy-on-write
     * tree needs free pages beside the live ones) */
    uint64_t map = 16ull << 30;
    if (2 * g_db_bytes + (1ull << 30) > map) map = 2 * g_db_bytes + (1ull << 30);
    lm_chk(mdb_env_set_mapsize(e->env, map), "mapsize");
    lm_chk(mdb_env_set_maxreaders(e->env, 512), "maxreaders");
    lm_chk(mdb_env_open(e->env, p, MDB_NOTLS, 0644), "open");
    MDB_txn *t;
    lm_chk(mdb_txn_begin(e->env, NULL, 0, &t), "begin");
    lm_chk(mdb_dbi_open(t, NULL, 0, &e->dbi), "dbi");
    lm_chk(mdb_txn_commit(t), "commit");
    return e;
}
static void lm_close(void *d) {
    lm_e *e = d;
    mdb_env_close(e->env);
    free(e);
}
static void *lm_tcnew(void *d) {
    (void)d;
    return xcalloc(sizeof(lm_tc));
}
static void lm_tcfree(void *tc) { free(tc); }
static int lm_commit(void *d, void *tc, const uint32_t *pg, const uint8_t *imgs, unsigned n) {
    (void)tc;
    lm_e *e = d;
    MDB_txn *t;
    int rc = mdb_txn_begin(e->env, NULL, 0, &t);
    for (unsigned i = 0; i < n && rc == 0; i++) {
        uint8_t k[4];
        be32(k, pg[i]);
        MDB_val key = {4, k}, val = {PAGE, (void *)(imgs + (size_t)i * PAGE)};
        rc = mdb_put(t, e->dbi, &key, &val, 0);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(t);
    } else {
        mdb_txn_abort(t);
    }
    if (rc) fprintf(stderr, "lmdb commit: %s\n", mdb_strerror(rc));
    return rc ? -1 : 0;
}
static int lm_get(lm_e *e, MDB_txn *t, uint32_t pg, uint8_t *buf, size_t *len) {
    uint8_t k[4];
    be32(k, pg);
    MDB_val key = {4, k}, val;
    int rc = mdb_get(t, e->dbi, &key, &val);
    if (rc == MDB_NOTFOUND) return 1;
    if (rc) return -1;
    size_t n = val.mv_size > PAGE ? PAGE : val.mv_size;
    memcpy(buf, val.mv_data, n);
    *len = n;
    return 0;
}
static int lm_read(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    (void)tc;
    lm_e *e = d;
    MDB_txn *t;
    if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &t)) return -1;
    int rc = lm_get(e, t, pg, buf, len);
    mdb_txn_abort(t);
    return rc;
}
static int lm_sbegin(void *d, void *tc) {
    return mdb_txn_begin(((lm_e *)d)->env, NULL, MDB_RDONLY, &((lm_tc *)tc)->rtxn) ? -1 : 0;
}
static int lm_sread(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    return lm_get(d, ((lm_tc *)tc)->rtxn, pg, buf, len);
}
static void lm_send(void *d, void *tc) {
    (void)d;
    mdb_txn_abort(((lm_tc *)tc)->rtxn);
}

static int lm_checkpoint(void *d) { return mdb_env_sync(((lm_e *)d)->env, 1) ? -1 : 0; }

const engine ENG_LM = {"lmdb", lm_open, lm_close, lm_tcnew, lm_tcfree, lm_commit,
                       lm_read, lm_sbegin, lm_sread, lm_send, NULL, NULL, lm_checkpoint};
