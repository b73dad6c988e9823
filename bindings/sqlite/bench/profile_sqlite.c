/*
 * profile_sqlite.c - where the time of a one-row autocommit INSERT goes
 * when several writer processes share a database: a shim VFS over the one
 * measured times SQLite's calls into it, per writer process, and the
 * parent adds them up.
 *
 *   profile_sqlite DIR SECONDS PROCS CONFIG...
 *     CONFIG: wal (SQLite WAL, unix VFS), lc (libcommit WAL), lcg (libcommit
 *     WAL + lc_group_sync=1)
 *
 * Per transaction: the wait for the write lock (RESERVED, or WAL's writer
 * lock in SQLite WAL mode) with the busy handler's sleeps, how long the
 * write lock is held, and what follows its release (group sync: the wait
 * for durability). Also the commit call itself, and syncs per transaction.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libcommit_sqlite.h"
#include "sqlite3.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

#define NHIST 4096 /* 10 us buckets up to ~41 ms */
typedef struct hist {
    uint32_t b[NHIST];
} hist;
static void hist_add(hist *h, double us) {
    long i = (long)(us / 10);
    if (i < 0) i = 0;
    if (i >= NHIST) i = NHIST - 1;
    h->b[i]++;
}
static double hist_pct(const hist *h, double q) {
    uint64_t n = 0, c = 0;
    for (int i = 0; i < NHIST; i++) n += h->b[i];
    for (int i = 0; i < NHIST; i++) {
        c += h->b[i];
        if (c >= q * n) return i * 10.0 + 5;
    }
    return 0;
}

typedef struct prof {
    uint64_t txns, busy, sleeps, lc_syncs, group_waits;
    double tx_us, acquire_us, hold_us, after_us, commit_us, sleep_asked_us, sleep_us, sync_us;
    uint64_t syncs, busy_at[5], held_sleeps;
    double held_sleep_us;
    hist tx, acquire, hold, after;
} prof;
static prof P;

/* Phase of the current transaction. */
static double t_step, t_locked, t_released;
static int have_write_lock;

typedef struct shim_file {
    sqlite3_file base;
    sqlite3_file *inner;
    int main;
} shim_file;

static sqlite3_vfs *inner_vfs;

static void write_lock_taken(void) {
    if (!have_write_lock) {
        have_write_lock = 1;
        t_locked = now_us();
    }
}
static void write_lock_dropped(void) {
    if (have_write_lock) {
        have_write_lock = 0;
        t_released = now_us();
    }
}

#define IN(f) (((shim_file *)(f))->inner)
static int s_close(sqlite3_file *f) {
    int rc = IN(f)->pMethods->xClose(IN(f));
    free(IN(f));
    return rc;
}
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return IN(f)->pMethods->xRead(IN(f), b, n, o); }
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o) {
    return IN(f)->pMethods->xWrite(IN(f), b, n, o);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 n) { return IN(f)->pMethods->xTruncate(IN(f), n); }
static int s_sync(sqlite3_file *f, int fl) {
    double t = now_us();
    int rc = IN(f)->pMethods->xSync(IN(f), fl);
    P.sync_us += now_us() - t;
    P.syncs++;
    return rc;
}
static int s_size(sqlite3_file *f, sqlite3_int64 *o) { return IN(f)->pMethods->xFileSize(IN(f), o); }
static int s_lock(sqlite3_file *f, int l) {
    int rc = IN(f)->pMethods->xLock(IN(f), l);
    if ((rc & 0xff) == SQLITE_BUSY) P.busy++, P.busy_at[l]++;
    if (rc == SQLITE_OK && l >= SQLITE_LOCK_RESERVED && ((shim_file *)f)->main) write_lock_taken();
    return rc;
}
static int s_unlock(sqlite3_file *f, int l) {
    if (((shim_file *)f)->main && l <= SQLITE_LOCK_SHARED) write_lock_dropped();
    return IN(f)->pMethods->xUnlock(IN(f), l);
}
static int s_check(sqlite3_file *f, int *o) { return IN(f)->pMethods->xCheckReservedLock(IN(f), o); }
static int s_fcntl(sqlite3_file *f, int op, void *a) {
    if (op == SQLITE_FCNTL_COMMIT_ATOMIC_WRITE) {
        double t = now_us();
        int rc = IN(f)->pMethods->xFileControl(IN(f), op, a);
        P.commit_us += now_us() - t;
        return rc;
    }
    return IN(f)->pMethods->xFileControl(IN(f), op, a);
}
static int s_sector(sqlite3_file *f) { return IN(f)->pMethods->xSectorSize(IN(f)); }
static int s_dev(sqlite3_file *f) { return IN(f)->pMethods->xDeviceCharacteristics(IN(f)); }
static int s_shm_map(sqlite3_file *f, int i, int sz, int ext, void volatile **pp) {
    return IN(f)->pMethods->xShmMap(IN(f), i, sz, ext, pp);
}
static int s_shm_lock(sqlite3_file *f, int off, int n, int fl) {
    int rc = IN(f)->pMethods->xShmLock(IN(f), off, n, fl);
    /* WAL's writer lock is shm slot 0. */
    if (off == 0 && n == 1 && (fl & SQLITE_SHM_EXCLUSIVE)) {
        if ((fl & SQLITE_SHM_LOCK) && rc == SQLITE_OK) write_lock_taken();
        if ((fl & SQLITE_SHM_UNLOCK)) write_lock_dropped();
    }
    if (rc == SQLITE_BUSY) P.busy++;
    return rc;
}
static void s_shm_barrier(sqlite3_file *f) { IN(f)->pMethods->xShmBarrier(IN(f)); }
static int s_shm_unmap(sqlite3_file *f, int d) { return IN(f)->pMethods->xShmUnmap(IN(f), d); }

static const sqlite3_io_methods shim_io = {
    2, s_close, s_read, s_write, s_truncate, s_sync, s_size, s_lock, s_unlock, s_check, s_fcntl, s_sector,
    s_dev, s_shm_map, s_shm_lock, s_shm_barrier, s_shm_unmap, NULL, NULL,
};

static int v_open(sqlite3_vfs *v, sqlite3_filename name, sqlite3_file *f, int flags, int *out) {
    (void)v;
    shim_file *s = (shim_file *)f;
    s->inner = calloc(1, (size_t)inner_vfs->szOsFile);
    s->main = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    int rc = inner_vfs->xOpen(inner_vfs, name, s->inner, flags, out);
    if (rc || !s->inner->pMethods) {
        free(s->inner);
        s->base.pMethods = NULL;
        return rc ? rc : SQLITE_CANTOPEN;
    }
    s->base.pMethods = &shim_io;
    return SQLITE_OK;
}
static int v_sleep(sqlite3_vfs *v, int us) {
    (void)v;
    double t = now_us();
    int rc = inner_vfs->xSleep(inner_vfs, us);
    P.sleeps++;
    P.sleep_asked_us += us;
    P.sleep_us += now_us() - t;
    if (have_write_lock) P.held_sleeps++, P.held_sleep_us += now_us() - t;
    return rc;
}

static sqlite3_vfs shim;
static void shim_register(const char *inner) {
    inner_vfs = sqlite3_vfs_find(inner);
    shim = *inner_vfs;
    shim.zName = "prof";
    shim.szOsFile = (int)sizeof(shim_file);
    shim.xOpen = v_open;
    shim.xSleep = v_sleep;
    shim.pNext = NULL;
    sqlite3_vfs_register(&shim, 0);
}

static void die(sqlite3 *db, const char *what) {
    fprintf(stderr, "profile_sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static sqlite3 *open_db(const char *path, const char *params, const char *jm) {
    char *uri = sqlite3_mprintf("file:%s?%s", path, params);
    sqlite3 *db;
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, "prof")) die(db, uri);
    sqlite3_free(uri);
    sqlite3_busy_timeout(db, 30000);
    char *sql = sqlite3_mprintf("PRAGMA journal_mode=%s; PRAGMA synchronous=FULL", jm);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL)) die(db, sql);
    sqlite3_free(sql);
    return db;
}

static void writer(const char *path, const char *params, const char *jm, double secs, int who, int lc, prof *out) {
    sqlite3 *db = open_db(path, params, jm);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO b(who, v) VALUES(?1, ?2)", -1, &st, NULL)) die(db, "prepare");
    libcommit_sqlite_stats s0 = {0}, s1 = {0};
    if (lc) sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_STATS, &s0);
    memset(&P, 0, sizeof P);
    double end = now_us() + secs * 1e6;
    while (now_us() < end) {
        sqlite3_bind_int(st, 1, who);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)P.txns);
        t_step = now_us();
        t_locked = t_released = 0;
        if (sqlite3_step(st) != SQLITE_DONE) die(db, "insert");
        double t_end = now_us();
        sqlite3_reset(st);
        P.txns++;
        P.tx_us += t_end - t_step;
        hist_add(&P.tx, t_end - t_step);
        if (t_locked && t_released) {
            P.acquire_us += t_locked - t_step;
            P.hold_us += t_released - t_locked;
            P.after_us += t_end - t_released;
            hist_add(&P.acquire, t_locked - t_step);
            hist_add(&P.hold, t_released - t_locked);
            hist_add(&P.after, t_end - t_released);
        }
    }
    if (lc) {
        sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_STATS, &s1);
        P.lc_syncs = s1.lc_syncs - s0.lc_syncs;
        P.group_waits = s1.group_waits - s0.group_waits;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    *out = P;
}

static void add(prof *a, const prof *b) {
    a->txns += b->txns, a->busy += b->busy, a->sleeps += b->sleeps, a->lc_syncs += b->lc_syncs;
    a->group_waits += b->group_waits, a->syncs += b->syncs;
    a->tx_us += b->tx_us, a->acquire_us += b->acquire_us, a->hold_us += b->hold_us, a->after_us += b->after_us;
    a->commit_us += b->commit_us, a->sleep_asked_us += b->sleep_asked_us, a->sleep_us += b->sleep_us;
    a->sync_us += b->sync_us;
    a->held_sleeps += b->held_sleeps, a->held_sleep_us += b->held_sleep_us;
    for (int i = 0; i < 5; i++) a->busy_at[i] += b->busy_at[i];
    for (int i = 0; i < NHIST; i++) {
        a->tx.b[i] += b->tx.b[i], a->acquire.b[i] += b->acquire.b[i];
        a->hold.b[i] += b->hold.b[i], a->after.b[i] += b->after.b[i];
    }
}

static void run(const char *dir, const char *cfg, int procs, double secs) {
    const char *params = "", *jm = "DELETE", *inner = "libcommit";
    int lc = 1;
    if (strcmp(cfg, "wal") == 0) jm = "WAL", inner = "unix", lc = 0;
    else if (strcmp(cfg, "lc") == 0) params = "lc_mode=wal";
    else if (strcmp(cfg, "lcg") == 0) params = "lc_mode=wal&lc_group_sync=1";
    else die(NULL, "config: wal, lc or lcg");
    shim_register(inner);
    char *cmd = sqlite3_mprintf("rm -rf '%s/p' && mkdir -p '%s/p'", dir, dir);
    if (system(cmd)) die(NULL, cmd);
    sqlite3_free(cmd);
    char *path = sqlite3_mprintf("%s/p/b.db", dir);
    sqlite3 *db = open_db(path, params, jm);
    if (sqlite3_exec(db, "CREATE TABLE b(id INTEGER PRIMARY KEY, who INTEGER, v INTEGER)", 0, 0, 0)) die(db, "create");
    sqlite3_close(db);
    /* Each writer leaves its counters here. */
    prof *res = mmap(NULL, sizeof(prof) * (size_t)procs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (res == MAP_FAILED) die(NULL, "mmap");
    double t0 = now_us();
    for (int i = 0; i < procs; i++) {
        if (fork() == 0) {
            writer(path, params, jm, secs, i, lc, &res[i]);
            _exit(0);
        }
    }
    int status, bad = 0;
    while (wait(&status) > 0) bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (bad) die(NULL, "a writer failed");
    double el = (now_us() - t0) / 1e6;
    static prof tot;
    memset(&tot, 0, sizeof tot);
    for (int i = 0; i < procs; i++) add(&tot, &res[i]);
    munmap(res, sizeof(prof) * (size_t)procs);
    double n = tot.txns ? (double)tot.txns : 1;
    printf("%-4s %d procs: %6.0f tx/s  tx %6.0f us (p50 %5.0f p90 %5.0f p99 %5.0f)\n", cfg, procs, tot.txns / el,
           tot.tx_us / n, hist_pct(&tot.tx, .5), hist_pct(&tot.tx, .9), hist_pct(&tot.tx, .99));
    printf("     per tx: acquire %6.0f us (p50 %5.0f p90 %5.0f)  hold %5.0f us (p50 %5.0f p90 %5.0f)"
           "  after release %5.0f us (p50 %5.0f p90 %5.0f)\n",
           tot.acquire_us / n, hist_pct(&tot.acquire, .5), hist_pct(&tot.acquire, .9), tot.hold_us / n,
           hist_pct(&tot.hold, .5), hist_pct(&tot.hold, .9), tot.after_us / n, hist_pct(&tot.after, .5),
           hist_pct(&tot.after, .9));
    printf("     busy %.2f/tx  sleeps %.2f/tx (asked %.0f us/tx, slept %.0f us/tx)  commit call %.0f us/tx"
           "  xSync %.2f/tx %.0f us/tx",
           tot.busy / n, tot.sleeps / n, tot.sleep_asked_us / n, tot.sleep_us / n, tot.commit_us / n, tot.syncs / n,
           tot.sync_us / n);
    if (lc) printf("  lc syncs %.2f/tx (%.2f tx/sync)  group waits %.2f/tx", tot.lc_syncs / n,
                   tot.lc_syncs ? n / tot.lc_syncs : 0, tot.group_waits / n);
    printf("\n     busy at SHARED %.2f RESERVED %.2f EXCLUSIVE %.2f per tx; sleeps holding the write lock %.2f/tx"
           " (%.0f us/tx); write lock held %.0f%% of the time\n",
           tot.busy_at[1] / n, tot.busy_at[2] / n, tot.busy_at[4] / n, tot.held_sleeps / n, tot.held_sleep_us / n,
           100.0 * tot.hold_us / (el * 1e6));
    sqlite3_free(path);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: profile_sqlite DIR SECONDS PROCS CONFIG...\n");
        return 2;
    }
    if (libcommit_sqlite_register(NULL, 0) != SQLITE_OK) die(NULL, "register");
    for (int i = 4; i < argc; i++) {
        if (fork() == 0) {
            run(argv[1], argv[i], atoi(argv[3]), atof(argv[2]));
            fflush(stdout);
            _exit(0);
        }
        wait(NULL);
    }
    return 0;
}
