/*
 * benches/bench/engine_sqlite.c - the SQLite adapter, synchronous FULL and
 * NORMAL.
 *
 * WAL mode, one connection per thread, synchronous FULL or NORMAL. SQLite
 * has one writer at a time: writers take an application mutex (what a
 * multi-threaded application does) rather than spin in the busy handler,
 * which only lowers SQLite's rate. A main connection stays open for the
 * database's life so closing a thread's connection never checkpoints.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct {
    char path[PATH_MAX];
    bool full;
    pthread_mutex_t wmu;
    sqlite3 *main;
} sq_e;
typedef struct {
    sqlite3 *c;
    sqlite3_stmt *ins, *sel;
} sq_tc;

void sq_exec(sqlite3 *c, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(c, sql, NULL, NULL, &err) != SQLITE_OK) die("sqlite %s: %s", sql, err ? err : "?");
}

sqlite3 *sq_conn(const char *path, bool full) {
    sqlite3 *c;
    if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL))
        die("sqlite open %s: %s", path, sqlite3_errmsg(c));
    sqlite3_busy_timeout(c, 60000);
    sq_exec(c, "PRAGMA journal_mode=WAL");
    sq_exec(c, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    return c;
}

static void *sq_open(const char *dir, bool full) {
    sq_e *e = xcalloc(sizeof *e);
    path_join(e->path, dir, "sqlite.db");
    e->full = full;
    pthread_mutex_init(&e->wmu, NULL);
    e->main = sq_conn(e->path, full);
    sq_exec(e->main, "CREATE TABLE IF NOT EXISTS pages(pgno INTEGER PRIMARY KEY, data BLOB NOT NULL)");
    return e;
}
static void *sqf_open(const char *dir) { return sq_open(dir, true); }
static void *sqn_open(const char *dir) { return sq_open(dir, false); }
static void sq_close(void *d) {
    sq_e *e = d;
    sqlite3_close(e->main);
    pthread_mutex_destroy(&e->wmu);
    free(e);
}
static void *sq_tcnew(void *d) {
    sq_e *e = d;
    sq_tc *t = xcalloc(sizeof *t);
    t->c = sq_conn(e->path, e->full);
    if (sqlite3_prepare_v2(t->c, "INSERT OR REPLACE INTO pages(pgno, data) VALUES(?1, ?2)", -1, &t->ins, NULL) ||
        sqlite3_prepare_v2(t->c, "SELECT data FROM pages WHERE pgno = ?1", -1, &t->sel, NULL))
        die("sqlite prepare: %s", sqlite3_errmsg(t->c));
    return t;
}
static void sq_tcfree(void *tc) {
    sq_tc *t = tc;
    sqlite3_finalize(t->ins);
    sqlite3_finalize(t->sel);
    sqlite3_close(t->c);
    free(t);
}
static int sq_commit(void *d, void *tc, const uint32_t *pg, const uint8_t *imgs, unsigned n) {
    sq_e *e = d;
    sq_tc *t = tc;
    int rc = 0;
    pthread_mutex_lock(&e->wmu);
    if (n > 1) sq_exec(t->c, "BEGIN IMMEDIATE");
    for (unsigned i = 0; i < n && rc == 0; i++) {
        sqlite3_bind_int64(t->ins, 1, pg[i]);
        sqlite3_bind_blob(t->ins, 2, imgs + (size_t)i * PAGE, PAGE, SQLITE_STATIC);
        if (sqlite3_step(t->ins) != SQLITE_DONE) {
            fprintf(stderr, "sqlite insert: %s\n", sqlite3_errmsg(t->c));
            rc = -1;
        }
        sqlite3_reset(t->ins);
    }
    if (n > 1) sq_exec(t->c, rc == 0 ? "COMMIT" : "ROLLBACK");
    pthread_mutex_unlock(&e->wmu);
    return rc;
}
static int sq_read(void *d, void *tc, uint32_t pg, uint8_t *buf, size_t *len) {
    (void)d;
    sq_tc *t = tc;
    sqlite3_bind_int64(t->sel, 1, pg);
    int rc = sqlite3_step(t->sel), res;
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(t->sel, 0);
        const void *b = sqlite3_column_blob(t->sel, 0);
        if (n > (int)PAGE) n = PAGE;
        memcpy(buf, b, (size_t)n);
        *len = (size_t)n;
        res = 0;
    } else {
        res = rc == SQLITE_DONE ? 1 : -1;
    }
    sqlite3_reset(t->sel);
    return res;
}
static int sq_sbegin(void *d, void *tc) {
    (void)d;
    sq_exec(((sq_tc *)tc)->c, "BEGIN");
    return 0;
}
static void sq_send(void *d, void *tc) {
    (void)d;
    sq_exec(((sq_tc *)tc)->c, "COMMIT");
}

static int sq_checkpoint(void *d) {
    sq_e *e = d;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(e->main, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    return rc == SQLITE_OK ? 0 : -1;
}

const engine ENG_SQF = {"sqlite-full", sqf_open, sq_close, sq_tcnew, sq_tcfree, sq_commit,
                        sq_read, sq_sbegin, sq_read, sq_send, NULL, NULL, sq_checkpoint};
const engine ENG_SQN = {"sqlite-normal", sqn_open, sq_close, sq_tcnew, sq_tcfree, sq_commit,
                        sq_read, sq_sbegin, sq_read, sq_send, NULL, NULL, sq_checkpoint};
