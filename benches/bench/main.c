/*
 * benches/bench.c - libcommit beside SQLite, LMDB, RocksDB and the disk.
 *
 * One invocation runs the same workloads on every engine and prints one
 * table per workload, each figure with its ratio to the raw-disk limit and
 * to the other engines, then the issue-8 targets marked met or not met.
 * Built and run by `make bench` (mk/bench.mk); see docs/BENCHMARKS.md.
 *
 *   W1  small commits (1 and 8 random 4 KiB pages) at 1..64 threads for a
 *       fixed time: commits/s, p50/p99 latency
 *   W2  16 MiB commits: MiB/s
 *   W3  recovery after SIGKILL of a child that wrote BENCH_W3_MIB of log
 *       (no checkpoint), page cache of the files dropped: time and MiB/s
 *   W4  read latency of a cached page at a snapshot, p50/p99 ns
 *   W5  the Python package at 1 and 8 threads beside the C/Rust rate
 *
 * Raw limits, on a file in the same directory: a 4 KiB (and 32 KiB)
 * overwrite+fdatasync loop on a pre-written file, an ideal leader/follower
 * group commit on the same kind of file (it is the "raw-group" engine of
 * W1), and sequential 16 MiB write+fdatasync bandwidth.
 *
 * Every point verifies what it wrote: each writer keeps the tag of the last
 * image it committed to each page it owns, and after the timed window reads
 * back a sample through the engine and compares every byte.
 *
 * Environment: BENCH_QUICK=1, BENCH_WORKLOADS=w1,w2,w3,w4,w5,
 * BENCH_ENGINES=libcommit,sqlite-full,sqlite-normal,lmdb,rocksdb,
 * BENCH_THREADS=1,2,4,..., BENCH_SECS (W1 seconds per point),
 * BENCH_W3_MIB, BENCH_DIR (scratch directory), BENCH_PYTHON (interpreter
 * with the libcommit package), BENCH_PY_SCRIPT, BENCH_LC_MODE=wal|native,
 * BENCH_LC_CKPT_MIB (libcommit checkpoint threshold, 0 = never), BENCH_LC_SEGMENT_MIB,
 * BENCH_LC_LANES, BENCH_RG_PAD (unaligned raw-group records), BENCH_RG_ORDERED=1
 * (the raw group syncs only the contiguous prefix of completed writes),
 * BENCH_BLOCK_STAT=vda (block-device writes and flushes per W1 commit), BENCH_NO_RAW=1
 * (skip the raw-disk points, to profile one engine alone), BENCH_W1_PAGES=1,8.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <rocksdb/c.h>
#include <sqlite3.h>

#include "libcommit.h"

#ifndef ROCKSDB_VERSION_STR
#define ROCKSDB_VERSION_STR "?"
#endif

#define PAGE 4096u
#define RANGE 8192u             /* pages each engine's database holds (32 MiB) */
#define RAW_FILE_PAGES 16384u   /* the raw-disk files: 64 MiB, pre-written */
#define W2_PAGES 4096u          /* 16 MiB per W2 commit */
#define VERIFY_PER_THREAD 32

/* ------------------------------------------------------------------ util */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this process (all threads), user + system, in seconds. */
static double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void *xmalloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 4096, n ? n : 1) != 0) die("out of memory (%zu bytes)", n);
    return p;
}

static void *xcalloc(size_t n) {
    void *p = xmalloc(n);
    memset(p, 0, n);
    return p;
}

static uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A page image: pgno and tag in the first 16 bytes, then a stream derived
 * from both, so any byte out of place is caught. */
#define PAGE_MAGIC 0x4c43424eu
static void fill_page(uint8_t *p, uint32_t pgno, uint64_t tag) {
    uint64_t *w = (uint64_t *)p;
    w[0] = ((uint64_t)pgno << 32) | PAGE_MAGIC;
    w[1] = tag;
    uint64_t s = splitmix(((uint64_t)pgno << 32) ^ tag) | 1;
    for (unsigned i = 2; i < PAGE / 8; i++) w[i] = rnd(&s);
}

static bool check_page(const uint8_t *p, size_t len, uint32_t pgno, uint64_t tag) {
    uint8_t want[PAGE] __attribute__((aligned(8)));
    if (len != PAGE) return false;
    fill_page(want, pgno, tag);
    return memcmp(p, want, PAGE) == 0;
}

static uint64_t page_tag(const uint8_t *p) { return ((const uint64_t *)p)[1]; }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    uint64_t *v;
    size_t n, cap;
} lvec;

static void lv_push(lvec *l, uint64_t x) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) die("out of memory");
    }
    l->v[l->n++] = x;
}

static uint64_t pct(uint64_t *v, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)((double)n * p);
    if (i >= n) i = n - 1;
    return v[i];
}

static void path_join(char *out, const char *a, const char *b) {
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX) die("path too long");
}

static void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[PATH_MAX];
                path_join(sub, path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void fresh_dir(const char *path) {
    rm_rf(path);
    if (mkdir(path, 0755) != 0) die("mkdir %s: %s", path, strerror(errno));
}

static void full_pwrite(int fd, const void *buf, size_t n, off_t off) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("pwrite: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
}

static void full_pread(int fd, void *buf, size_t n, off_t off) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            die("pread: %s", r < 0 ? strerror(errno) : "short file");
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
}

/* ---------------------------------------------------------------- config */

static struct {
    bool quick;
    double w1_secs, w2_secs, w5_secs;
    uint64_t w3_bytes;
    int threads[16];
    int nthreads;
    char dir[PATH_MAX];
    char workloads[256];
    char w1_pages[16];
    char engines[512];
    const char *python, *py_script;
    bool lc_native, no_raw;
    char self[PATH_MAX];
} cfg;

static bool csv_has(const char *list, const char *item) {
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncasecmp(p, item, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}

static bool want_w(const char *w) { return csv_has(cfg.workloads, w); }

/* --------------------------------------------------------------- engines */

typedef struct engine {
    const char *name;
    void *(*open)(const char *dir);
    void (*close)(void *db);
    void *(*tctx_new)(void *db);
    void (*tctx_free)(void *tc);
    /* Commits n pages atomically (images contiguous, PAGE bytes each). */
    int (*commit)(void *db, void *tc, const uint32_t *pgnos, const uint8_t *imgs, unsigned n);
    /* Latest committed image: 0 found, 1 not found, -1 error. */
    int (*read)(void *db, void *tc, uint32_t pgno, uint8_t *buf, size_t *len);
    /* Snapshot reads (W4). */
    int (*snap_begin)(void *db, void *tc);
    int (*snap_read)(void *db, void *tc, uint32_t pgno, uint8_t *buf, size_t *len);
    void (*snap_end)(void *db, void *tc);
    /* fdatasync/fsync calls on the log so far (NULL: not known). */
    uint64_t (*syncs)(void *db);
    /* Group flushes so far and the microseconds they spent syncing
     * (NULL: not known). */
    void (*flush_time)(void *db, uint64_t *count, uint64_t *sum_us);
} engine;

static void lc_fail(const char *what, lc_status st) {
    die("libcommit %s: %s (%s)", what, lc_status_str(st), lc_last_error());
}

/* libcommit ------------------------------------------------------------- */

typedef struct {
    lc_db *db;
} lc_e;
typedef struct {
    lc_txn *txn;
} lc_tc;

static lc_db *lc_open_at(const char *path, uint64_t ckpt_threshold, bool set_threshold) {
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

static const engine ENG_LC = {"libcommit", lce_open, lce_close, lce_tc, lce_tcfree, lce_commit,
                              lce_read, lce_sbegin, lce_sread, lce_send, lce_syncs, LCE_FLUSH_TIME};

/* SQLite ------------------------------------------------------------------
 * WAL mode, one connection per thread, synchronous FULL or NORMAL. SQLite
 * has one writer at a time: writers take an application mutex (what a
 * multi-threaded application does) rather than spin in the busy handler,
 * which only lowers SQLite's rate. A main connection stays open for the
 * database's life so closing a thread's connection never checkpoints. */

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

static void sq_exec(sqlite3 *c, const char *sql) {
    char *err = NULL;
    if (sqlite3_exec(c, sql, NULL, NULL, &err) != SQLITE_OK) die("sqlite %s: %s", sql, err ? err : "?");
}

static sqlite3 *sq_conn(const char *path, bool full) {
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

static const engine ENG_SQF = {"sqlite-full", sqf_open, sq_close, sq_tcnew, sq_tcfree, sq_commit,
                               sq_read, sq_sbegin, sq_read, sq_send, NULL, NULL};
static const engine ENG_SQN = {"sqlite-normal", sqn_open, sq_close, sq_tcnew, sq_tcfree, sq_commit,
                               sq_read, sq_sbegin, sq_read, sq_send, NULL, NULL};

/* LMDB: default flags, so every commit is synced (data, then meta page). */

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
    lm_chk(mdb_env_set_mapsize(e->env, 16ull << 30), "mapsize");
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
static void be32(uint8_t k[4], uint32_t v) {
    k[0] = (uint8_t)(v >> 24);
    k[1] = (uint8_t)(v >> 16);
    k[2] = (uint8_t)(v >> 8);
    k[3] = (uint8_t)v;
}
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

static const engine ENG_LM = {"lmdb", lm_open, lm_close, lm_tcnew, lm_tcfree, lm_commit,
                              lm_read, lm_sbegin, lm_sread, lm_send, NULL, NULL};

/* RocksDB: default options, WriteOptions.sync = true, a WriteBatch per
 * commit (RocksDB group-commits concurrent writers itself). */

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

static const engine ENG_RK = {"rocksdb", rk_open, rk_close, rk_tcnew, rk_tcfree, rk_commit,
                              rk_read, rk_sbegin, rk_sread, rk_send, NULL, NULL};

/* The ideal raw group commit, as an engine for W1: each commit writes its
 * pages with one pwrite at the next slot of a pre-written file; the first
 * waiter with no fdatasync in flight syncs for every write completed so
 * far, the others wait for it (leader/follower). No checksums, no index:
 * the bound for any engine that must write its pages and sync. */

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

/* BENCH_RG_PAD: bytes between the raw group's records, so that they are
 * not page-aligned, as a log's records are not (diagnostic; default 0). */
static uint64_t g_rg_pad;
/* BENCH_RG_ORDERED=1: the raw group syncs only the contiguous prefix of
 * completed writes, as a log must (diagnostic; default off). */
static bool g_rg_ordered;
#define RG_RING 4096

static int prewritten_file(const char *path, uint64_t pages) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    uint8_t *blk = xmalloc(1 << 20);
    memset(blk, 0x5a, 1 << 20);
    for (uint64_t off = 0; off < pages * PAGE; off += 1 << 20) full_pwrite(fd, blk, 1 << 20, (off_t)off);
    free(blk);
    if (fsync(fd)) die("fsync: %s", strerror(errno));
    return fd;
}

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
static int rg_verify(rg_e *e, int *checked) {
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

static const engine ENG_RG = {"raw-group", rg_open, rg_close, rg_tcnew, rg_tcfree, rg_commit,
                              NULL, NULL, NULL, NULL, rg_syncs, rg_flush_time};

static const engine *const ALL_ENGINES[] = {&ENG_LC, &ENG_SQF, &ENG_SQN, &ENG_LM, &ENG_RK};
#define N_PEERS 5

/* --------------------------------------------------------------- results */

typedef struct {
    bool have;
    double rate;          /* commits/s (W1), MiB/s (W2) */
    uint64_t p50, p99;    /* ns */
    uint64_t ops;
    double per_sync; /* commits per log sync, 0 if unknown */
    double flush_us; /* mean time of one group flush's sync, 0 if unknown */
    double flush_busy; /* share of the window a flush was syncing */
    int verified, bad;
} point;

#define MAXT 16
static point R_w1[2][N_PEERS + 1][MAXT]; /* [1 page, 8 pages][engine, raw-group last][thread idx] */
static point R_raw_ow[2];                 /* raw overwrite+fdatasync, 1 and 8 pages */
static double R_raw_ow_parts[2][2];       /* its rate before and after the first W1 row */
static point R_raw_seq;                   /* MiB/s */
static point R_raw_read;                  /* MiB/s, page cache dropped */
static point R_w2[N_PEERS];
static struct {
    bool have;
    double log_mib, secs, payload_mib, cached_pct, cpu_secs;
    uint64_t pages;
    int verified, bad;
} R_w3[N_PEERS];
static struct {
    bool have;
    uint64_t p50, p99, p50_latest;
    int verified, bad;
    lc_stats st; /* libcommit's watermarks when W4 ran */
} R_w4[N_PEERS];
static point R_w5_py[2], R_w5_c[2];
static const char *g_drop_method = "none";
static const char *g_dump; /* BENCH_DUMP_LAT: file for every W1 commit's start, latency, thread */
static int g_failures;

/* ----------------------------------------------------------- raw limits */

static point raw_overwrite(const char *dir, unsigned n, double secs) {
    char p[PATH_MAX];
    path_join(p, dir, "raw-overwrite");
    int fd = prewritten_file(p, RAW_FILE_PAGES);
    uint8_t *img = xmalloc((size_t)n * PAGE);
    uint64_t nslots = RAW_FILE_PAGES / n, i = 0;
    lvec lat = {0};
    uint64_t *tags = xcalloc(RAW_FILE_PAGES * sizeof(uint64_t));
    uint64_t start = now_ns(), deadline = start + (uint64_t)(secs * 1e9);
    while (now_ns() < deadline) {
        uint64_t slot = i % nslots;
        for (unsigned k = 0; k < n; k++) {
            fill_page(img + (size_t)k * PAGE, (uint32_t)(slot * n + k), i + 1);
            tags[slot * n + k] = i + 1;
        }
        uint64_t t0 = now_ns();
        full_pwrite(fd, img, (size_t)n * PAGE, (off_t)(slot * n * PAGE));
        if (fdatasync(fd)) die("fdatasync: %s", strerror(errno));
        lv_push(&lat, now_ns() - t0);
        i++;
    }
    /* wall time, image generation included, as in the W1 loop */
    point r = {.have = true, .ops = i};
    r.rate = (double)i / ((double)(now_ns() - start) / 1e9);
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
    r.p50 = pct(lat.v, lat.n, 0.5);
    r.p99 = pct(lat.v, lat.n, 0.99);
    /* verify the last 32 slots written */
    for (uint64_t s = i > 32 ? i - 32 : 0; s < i; s++) {
        uint64_t slot = s % nslots;
        for (unsigned k = 0; k < n; k++) {
            full_pread(fd, img, PAGE, (off_t)((slot * n + k) * PAGE));
            if (!check_page(img, PAGE, (uint32_t)(slot * n + k), tags[slot * n + k])) r.bad++;
            r.verified++;
        }
    }
    close(fd);
    unlink(p);
    free(img);
    free(tags);
    free(lat.v);
    return r;
}

static point raw_sequential(const char *dir, double secs) {
    char p[PATH_MAX];
    path_join(p, dir, "raw-seq");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", p, strerror(errno));
    size_t chunk = (size_t)W2_PAGES * PAGE;
    uint8_t *buf = xmalloc(chunk);
    uint64_t off = 0, busy = 0, chunks = 0, wrap = 1ull << 30;
    uint64_t start = now_ns(), deadline = start + (uint64_t)(secs * 1e9);
    while (now_ns() < deadline || chunks < 2) {
        for (unsigned k = 0; k < W2_PAGES; k++)
            fill_page(buf + (size_t)k * PAGE, (uint32_t)(off / PAGE + k), chunks + 1);
        uint64_t t0 = now_ns();
        full_pwrite(fd, buf, chunk, (off_t)off);
        if (fdatasync(fd)) die("fdatasync: %s", strerror(errno));
        busy += now_ns() - t0;
        chunks++;
        off = (off + chunk) % wrap;
    }
    point r = {.have = true, .ops = chunks};
    r.rate = (double)(chunks * chunk) / (1 << 20) / ((double)busy / 1e9);
    uint64_t last = (off + wrap - chunk) % wrap;
    for (unsigned k = 0; k < W2_PAGES; k += 64) {
        full_pread(fd, buf, PAGE, (off_t)(last + (uint64_t)k * PAGE));
        if (!check_page(buf, PAGE, (uint32_t)(last / PAGE + k), chunks)) r.bad++;
        r.verified++;
    }
    close(fd);
    unlink(p);
    free(buf);
    return r;
}

/* -------------------------------------------------------------------- W1 */

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
    unsigned L = RANGE / (unsigned)a->T;
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

static point run_w1(const engine *e, void *db, int T, unsigned npages, double secs, uint64_t point_id) {
    pthread_t th[128];
    w1_arg *args = xcalloc((size_t)T * sizeof *args);
    atomic_int stop = 0;
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)T + 1);
    for (int t = 0; t < T; t++) {
        args[t] = (w1_arg){.e = e, .db = db, .tid = t, .T = T, .npages = npages, .point_id = point_id,
                           .stop = &stop, .bar = &bar};
        args[t].last_tag = xcalloc((RANGE / (unsigned)T) * sizeof(uint64_t));
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

static void populate(const engine *e, void *db) {
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

/* -------------------------------------------------------------------- W2 */

static point run_w2(const engine *e, void *db, double secs) {
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

/* -------------------------------------------------------------------- W4 */

static void run_w4(const engine *e, void *db, int idx) {
    void *tc = e->tctx_new(db);
    const unsigned warm = 1024, batch = 32;
    unsigned nbatches = cfg.quick ? 2000 : 10000;
    uint8_t *buf = xmalloc(PAGE);
    uint64_t *bt = xmalloc(nbatches * sizeof *bt);
    uint64_t seed = 12345;
    size_t len;
    R_w4[idx].have = true;
    if (e == &ENG_LC) lc_stats_get(((lc_e *)db)->db, &R_w4[idx].st);
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

/* -------------------------------------------------------------------- W3 */

/* The child: writes `bytes` of log through one engine and never
 * checkpoints, reports "done <pages>" on stdout, then waits to be killed. */
static int w3_child(const char *which, const char *dir, uint64_t bytes) {
    uint8_t *imgs = xmalloc(256 * PAGE);
    uint64_t pages = 0;
    if (!strcmp(which, "libcommit")) {
        char p[PATH_MAX];
        path_join(p, dir, "lc.db");
        lc_db *db = lc_open_at(p, 1ull << 50, true);
        uint64_t target = bytes / PAGE;
        while (pages < target) {
            lc_page_write w[256];
            for (unsigned i = 0; i < 256; i++) {
                w[i].pgno = (uint32_t)(pages + i + 1);
                fill_page(imgs + (size_t)i * PAGE, w[i].pgno, 7);
                w[i].data = imgs + (size_t)i * PAGE;
                w[i].len = PAGE;
            }
            lc_status st = lc_commit_batch(db, w, 256, NULL);
            if (st) lc_fail("w3 commit", st);
            pages += 256;
        }
        lc_stats s;
        if (lc_stats_get(db, &s) == LC_OK && s.checkpoint_seq != 0)
            fprintf(stderr, "bench: w3 child: libcommit checkpointed (seq %" PRIu64 ")\n", s.checkpoint_seq);
    } else {
        char p[PATH_MAX], wal[PATH_MAX + 8];
        path_join(p, dir, "sqlite.db");
        snprintf(wal, sizeof wal, "%s-wal", p);
        sqlite3 *c = sq_conn(p, true);
        sq_exec(c, "PRAGMA wal_autocheckpoint=0");
        sq_exec(c, "PRAGMA cache_size=-65536");
        sq_exec(c, "CREATE TABLE pages(pgno INTEGER PRIMARY KEY, data BLOB NOT NULL)");
        sqlite3_stmt *ins;
        if (sqlite3_prepare_v2(c, "INSERT INTO pages(pgno, data) VALUES(?1, ?2)", -1, &ins, NULL))
            die("sqlite prepare: %s", sqlite3_errmsg(c));
        for (;;) {
            struct stat st;
            if (stat(wal, &st) == 0 && (uint64_t)st.st_size >= bytes) break;
            sq_exec(c, "BEGIN");
            for (unsigned i = 0; i < 256; i++) {
                uint32_t pgno = (uint32_t)(pages + i + 1);
                fill_page(imgs, pgno, 7);
                sqlite3_bind_int64(ins, 1, pgno);
                sqlite3_bind_blob(ins, 2, imgs, PAGE, SQLITE_STATIC);
                if (sqlite3_step(ins) != SQLITE_DONE) die("sqlite insert: %s", sqlite3_errmsg(c));
                sqlite3_reset(ins);
            }
            sq_exec(c, "COMMIT");
            pages += 256;
        }
    }
    printf("done %" PRIu64 "\n", pages);
    fflush(stdout);
    for (;;) pause();
    return 0;
}

/* Share of the files under dir resident in the page cache, in percent. */
static double cached_pct(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    uint64_t res = 0, tot = 0;
    long ps = sysconf(_SC_PAGESIZE);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[PATH_MAX];
        path_join(p, dir, e->d_name);
        struct stat st;
        if (stat(p, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) continue;
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            size_t np = ((size_t)st.st_size + (size_t)ps - 1) / (size_t)ps;
            unsigned char *v = malloc(np);
            if (v && mincore(m, (size_t)st.st_size, v) == 0)
                for (size_t i = 0; i < np; i++) res += v[i] & 1;
            tot += np;
            free(v);
            munmap(m, (size_t)st.st_size);
        }
        close(fd);
    }
    closedir(d);
    return tot ? 100.0 * (double)res / (double)tot : 0;
}

/* Syncs each file under dir and drops it from the page cache. */
static void drop_cache(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) die("opendir %s", dir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char p[PATH_MAX];
        path_join(p, dir, e->d_name);
        struct stat st;
        if (stat(p, &st) || !S_ISREG(st.st_mode)) continue;
        int fd = open(p, O_RDONLY);
        if (fd < 0) continue;
        fsync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
    }
    closedir(d);
    sync();
    int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd >= 0 && write(fd, "1", 1) == 1) {
        g_drop_method = "drop_caches=1 + fadvise(DONTNEED) per file";
    } else {
        g_drop_method = "fsync + posix_fadvise(DONTNEED) per file (drop_caches not permitted)";
    }
    if (fd >= 0) close(fd);
}

/* The raw limit of W3: sequential 128 KiB reads of a file of the same size
 * with its page cache dropped the same way. */
static point raw_read(const char *base, uint64_t bytes) {
    char dir[PATH_MAX], p[PATH_MAX];
    path_join(dir, base, "raw-read");
    fresh_dir(dir);
    path_join(p, dir, "file");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", p, strerror(errno));
    size_t chunk = 1 << 20;
    uint8_t *buf = xmalloc(chunk);
    for (uint64_t off = 0; off < bytes; off += chunk) {
        for (unsigned k = 0; k < chunk / PAGE; k++) fill_page(buf + (size_t)k * PAGE, (uint32_t)(off / PAGE + k), 9);
        full_pwrite(fd, buf, chunk, (off_t)off);
    }
    close(fd);
    drop_cache(dir);
    point r = {.have = true};
    fd = open(p, O_RDONLY);
    chunk = 128 << 10; /* the best of 4 KiB..8 MiB reads on the test disk */
    uint64_t t0 = now_ns();
    for (uint64_t off = 0; off < bytes; off += chunk) {
        full_pread(fd, buf, chunk, (off_t)off);
        if (((off / chunk) & 127) == 0) {
            if (!check_page(buf, PAGE, (uint32_t)(off / PAGE), 9)) r.bad++;
            r.verified++;
        }
    }
    uint64_t t1 = now_ns();
    close(fd);
    r.rate = (double)bytes / (1 << 20) / ((double)(t1 - t0) / 1e9);
    free(buf);
    rm_rf(dir);
    return r;
}

static void run_w3(const engine *e, int idx, const char *base) {
    bool is_lc = e == &ENG_LC;
    if (!is_lc && e != &ENG_SQF) return;
    char dir[PATH_MAX];
    path_join(dir, base, is_lc ? "w3-lc" : "w3-sqlite");
    fresh_dir(dir);
    int pfd[2];
    if (pipe(pfd)) die("pipe");
    char bytes_s[32];
    snprintf(bytes_s, sizeof bytes_s, "%" PRIu64, cfg.w3_bytes);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl(cfg.self, cfg.self, "--w3-child", is_lc ? "libcommit" : "sqlite", dir, bytes_s, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    uint64_t pages = 0;
    char line[128];
    if (!fgets(line, sizeof line, f) || sscanf(line, "done %" SCNu64, &pages) != 1)
        die("w3 child for %s failed", e->name);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    fclose(f);
    if (!WIFSIGNALED(status)) die("w3 child was not killed");
    drop_cache(dir);
    R_w3[idx].cached_pct = cached_pct(dir);
    char p[PATH_MAX], wal[PATH_MAX + 8];
    uint8_t *buf = xmalloc(PAGE);
    size_t len = 0;
    uint64_t t0, t1, log_bytes = 0;
    double c0, c1;
    uint32_t lastp = (uint32_t)pages;
    if (is_lc) {
        path_join(p, dir, "lc.db");
        c0 = cpu_s();
        t0 = now_ns();
        lc_db *db = lc_open_at(p, 1ull << 50, true);
        lc_status st = lc_read(db, lastp, buf, PAGE, &len);
        t1 = now_ns();
        c1 = cpu_s();
        lc_recovery_report rep;
        if (lc_last_recovery(db, &rep)) lc_fail("last_recovery", LC_INTERNAL);
        log_bytes = rep.bytes_read;
        if (st != LC_OK || !check_page(buf, len, lastp, 7)) R_w3[idx].bad++;
        R_w3[idx].verified++;
        for (uint32_t q = 1; q <= pages; q += (uint32_t)(pages / 256 + 1)) {
            st = lc_read(db, q, buf, PAGE, &len);
            if (st != LC_OK || !check_page(buf, len, q, 7)) R_w3[idx].bad++;
            R_w3[idx].verified++;
        }
        if (rep.records_applied < pages) R_w3[idx].bad++;
        lc_close(db);
    } else {
        path_join(p, dir, "sqlite.db");
        snprintf(wal, sizeof wal, "%s-wal", p);
        struct stat st;
        if (stat(wal, &st)) die("no sqlite wal after the kill");
        log_bytes = (uint64_t)st.st_size;
        c0 = cpu_s();
        t0 = now_ns();
        sqlite3 *c;
        if (sqlite3_open_v2(p, &c, SQLITE_OPEN_READWRITE, NULL)) die("sqlite reopen");
        sqlite3_db_config(c, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
        sqlite3_stmt *sel;
        if (sqlite3_prepare_v2(c, "SELECT data FROM pages WHERE pgno = ?1", -1, &sel, NULL))
            die("sqlite prepare: %s", sqlite3_errmsg(c));
        sqlite3_bind_int64(sel, 1, lastp);
        int rc = sqlite3_step(sel);
        bool ok = rc == SQLITE_ROW && check_page(sqlite3_column_blob(sel, 0), (size_t)sqlite3_column_bytes(sel, 0),
                                                lastp, 7);
        sqlite3_reset(sel);
        t1 = now_ns();
        c1 = cpu_s();
        if (!ok) R_w3[idx].bad++;
        R_w3[idx].verified++;
        for (uint32_t q = 1; q <= pages; q += (uint32_t)(pages / 256 + 1)) {
            sqlite3_bind_int64(sel, 1, q);
            rc = sqlite3_step(sel);
            if (rc != SQLITE_ROW ||
                !check_page(sqlite3_column_blob(sel, 0), (size_t)sqlite3_column_bytes(sel, 0), q, 7))
                R_w3[idx].bad++;
            sqlite3_reset(sel);
            R_w3[idx].verified++;
        }
        sqlite3_finalize(sel);
        sqlite3_close(c);
    }
    R_w3[idx].have = true;
    R_w3[idx].pages = pages;
    R_w3[idx].secs = (double)(t1 - t0) / 1e9;
    R_w3[idx].cpu_secs = c1 - c0;
    R_w3[idx].log_mib = (double)log_bytes / (1 << 20);
    R_w3[idx].payload_mib = (double)pages * PAGE / (1 << 20);
    free(buf);
    rm_rf(dir);
}

/* -------------------------------------------------------------------- W5 */

static bool run_python(const char *dir, int T, double secs, point *out) {
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %d %.3f", cfg.python, cfg.py_script, dir, T, secs);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[512];
    bool got = false;
    while (fgets(line, sizeof line, p)) {
        double rate, p50, p99;
        unsigned long long ops;
        int ver, bad;
        if (sscanf(line, "W5 ops=%llu rate=%lf p50_us=%lf p99_us=%lf verified=%d bad=%d", &ops, &rate, &p50, &p99,
                   &ver, &bad) == 6) {
            *out = (point){.have = true, .rate = rate, .ops = ops, .p50 = (uint64_t)(p50 * 1000),
                           .p99 = (uint64_t)(p99 * 1000), .verified = ver, .bad = bad};
            got = true;
        } else {
            fputs(line, stderr);
        }
    }
    int st = pclose(p);
    return got && st == 0;
}

/* ---------------------------------------------------------------- output */

static void fmt_us(char *out, size_t n, uint64_t ns) {
    double us = (double)ns / 1e3;
    if (us < 10) snprintf(out, n, "%.1f", us);
    else snprintf(out, n, "%.0f", us);
}

static const char *vstr(int verified, int bad) {
    static char b[8][32];
    static int k;
    char *s = b[k++ & 7];
    if (bad) {
        snprintf(s, 32, "FAIL %d/%d", bad, verified);
        g_failures++;
    } else {
        snprintf(s, 32, "ok %d", verified);
    }
    return s;
}

static void print_w1(unsigned npi) {
    unsigned npages = npi ? 8 : 1;
    point *raw = &R_raw_ow[npi];
    printf("\nW1: %u-page commits (%u KiB) at random pages of a %u-page database, %.1f s per point.\n", npages,
           npages * 4, RANGE, cfg.w1_secs);
    printf("  rate = commits/s; x raw = rate / raw %u KiB overwrite+fdatasync (%.0f/s); x group = rate / ideal\n"
           "  raw group commit at the same T; lc x = libcommit's rate / this row's rate (>1: libcommit faster);\n"
           "  c/sync = commits per fdatasync of the log (libcommit: lc_stats.syncs); sync us = mean time of a\n"
           "  group's fdatasync, busy = share of the time one was in flight (libcommit: lc_metrics flush_us).\n",
           npages * 4, raw->rate);
    printf("  %3s  %-14s %10s %9s %9s %7s %8s %7s %7s %8s %6s  %s\n", "T", "engine", "commits/s", "p50 us", "p99 us",
           "x raw", "x group", "lc x", "c/sync", "sync us", "busy", "verify");
    for (int ti = 0; ti < cfg.nthreads; ti++) {
        point *grp = &R_w1[npi][N_PEERS][ti];
        point *lc = &R_w1[npi][0][ti];
        int order[N_PEERS + 1] = {N_PEERS, 0, 1, 2, 3, 4};
        for (int oi = 0; oi <= N_PEERS; oi++) {
            int ei = order[oi];
            point *r = &R_w1[npi][ei][ti];
            if (!r->have) continue;
            char p50[16], p99[16], xr[16] = "-", xg[16] = "-", lx[16] = "-", cs[16] = "-";
            if (r->per_sync > 0) snprintf(cs, sizeof cs, "%.1f", r->per_sync);
            char fu[16] = "-", fb[16] = "-";
            if (r->flush_us > 0) {
                snprintf(fu, sizeof fu, "%.0f", r->flush_us);
                snprintf(fb, sizeof fb, "%.0f%%", 100 * r->flush_busy);
            }
            fmt_us(p50, sizeof p50, r->p50);
            fmt_us(p99, sizeof p99, r->p99);
            if (raw->have && raw->rate > 0) snprintf(xr, sizeof xr, "%.2f", r->rate / raw->rate);
            if (grp->have && grp->rate > 0) snprintf(xg, sizeof xg, "%.2f", r->rate / grp->rate);
            if (lc->have && ei != 0 && r->rate > 0) snprintf(lx, sizeof lx, "%.2f", lc->rate / r->rate);
            printf("  %3d  %-14s %10.0f %9s %9s %7s %8s %7s %7s %8s %6s  %s\n", cfg.threads[ti],
                   ei == N_PEERS ? "raw-group" : ALL_ENGINES[ei]->name, r->rate, p50, p99, xr, xg, lx, cs, fu, fb,
                   vstr(r->verified, r->bad));
        }
    }
}

static int thread_index(int T) {
    for (int i = 0; i < cfg.nthreads; i++)
        if (cfg.threads[i] == T) return i;
    return -1;
}

static void target(const char *name, bool have, bool met, const char *fmt, ...) {
    char detail[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    printf("  %-44s %-9s %s\n", name, !have ? "n/a" : met ? "MET" : "NOT MET", have ? detail : "(not measured)");
}

static void print_targets(void) {
    printf("\nTargets (issue 8, item 4), ratios from this run:\n");
    int t1 = thread_index(1), t64 = thread_index(64), t8 = thread_index(8);
    for (unsigned npi = 0; npi < 2; npi++) {
        const char *sz = npi ? "8p" : "1p";
        char name[96];
        point *raw = &R_raw_ow[npi];
        point *lc1 = t1 >= 0 ? &R_w1[npi][0][t1] : NULL;
        snprintf(name, sizeof name, "W1 %s T=1 >= 0.9x raw overwrite+fdatasync", sz);
        target(name, lc1 && lc1->have && raw->have, lc1 && lc1->rate >= 0.9 * raw->rate, "%.0f vs %.0f/s = %.2fx",
               lc1 ? lc1->rate : 0, raw->rate, lc1 && raw->rate ? lc1->rate / raw->rate : 0);
        point *lc64 = t64 >= 0 ? &R_w1[npi][0][t64] : NULL;
        point *g64 = t64 >= 0 ? &R_w1[npi][N_PEERS][t64] : NULL;
        point *rk64 = t64 >= 0 ? &R_w1[npi][4][t64] : NULL;
        bool h = lc64 && lc64->have && g64 && g64->have;
        snprintf(name, sizeof name, "W1 %s T=64 >= 0.8x ideal raw group commit", sz);
        target(name, h, h && lc64->rate >= 0.8 * g64->rate, "%.0f vs %.0f/s = %.2fx", h ? lc64->rate : 0,
               h ? g64->rate : 0, h ? lc64->rate / g64->rate : 0);
        bool hr = lc64 && lc64->have && rk64 && rk64->have;
        snprintf(name, sizeof name, "W1 %s T=64 >= 2x RocksDB", sz);
        target(name, hr, hr && lc64->rate >= 2 * rk64->rate, "%.0f vs %.0f/s = %.2fx", hr ? lc64->rate : 0,
               hr ? rk64->rate : 0, hr ? lc64->rate / rk64->rate : 0);
        snprintf(name, sizeof name, "W1 %s T=64 p99 <= 2x ideal group p99", sz);
        target(name, h, h && lc64->p99 <= 2 * g64->p99, "%.0f vs %.0f us = %.2fx", h ? lc64->p99 / 1e3 : 0,
               h ? g64->p99 / 1e3 : 0, h && g64->p99 ? (double)lc64->p99 / (double)g64->p99 : 0);
    }
    bool h = R_w2[0].have && R_raw_seq.have;
    target("W2 >= 0.5x raw sequential bandwidth", h, h && R_w2[0].rate >= 0.5 * R_raw_seq.rate,
           "%.0f vs %.0f MiB/s = %.2fx", R_w2[0].rate, R_raw_seq.rate, h ? R_w2[0].rate / R_raw_seq.rate : 0);
    h = R_w2[0].have && R_w2[4].have;
    target("W2 >= 3x RocksDB", h, h && R_w2[0].rate >= 3 * R_w2[4].rate, "%.0f vs %.0f MiB/s = %.2fx", R_w2[0].rate,
           R_w2[4].rate, h ? R_w2[0].rate / R_w2[4].rate : 0);
    h = R_w3[0].have && R_w3[1].have;
    double lcs = h ? R_w3[0].log_mib / R_w3[0].secs : 0, sqs = h ? R_w3[1].log_mib / R_w3[1].secs : 0;
    target("W3 >= 2x SQLite's recovery speed (log MiB/s)", h, h && lcs >= 2 * sqs, "%.0f vs %.0f MiB/s = %.2fx", lcs,
           sqs, h && sqs ? lcs / sqs : 0);
    h = R_w4[0].have;
    target("W4 p50 < 1 us (lc_txn_read, cached page)", h, h && R_w4[0].p50 < 1000, "%" PRIu64 " ns (lc_read %" PRIu64 " ns)",
           R_w4[0].p50, R_w4[0].p50_latest);
    h = R_w5_py[1].have && R_w5_c[1].have;
    target("W5 Python 8 threads >= 50% of C/Rust rate", h, h && R_w5_py[1].rate >= 0.5 * R_w5_c[1].rate,
           "%.0f vs %.0f/s = %.0f%%", R_w5_py[1].rate, R_w5_c[1].rate,
           h ? 100 * R_w5_py[1].rate / R_w5_c[1].rate : 0);
    (void)t8;
}

/* ------------------------------------------------------------------ main */

static void parse_cfg(void) {
    const char *s;
    cfg.quick = (s = getenv("BENCH_QUICK")) && *s && strcmp(s, "0");
    cfg.w1_secs = cfg.quick ? 0.4 : 3.0;
    cfg.w2_secs = cfg.quick ? 1.0 : 4.0;
    cfg.w5_secs = cfg.quick ? 1.0 : 3.0;
    cfg.w3_bytes = (cfg.quick ? 128ull : 512ull) << 20;
    if ((s = getenv("BENCH_SECS")) && *s) cfg.w1_secs = atof(s);
    if ((s = getenv("BENCH_W3_MIB")) && *s) cfg.w3_bytes = strtoull(s, NULL, 10) << 20;
    const char *th = (s = getenv("BENCH_THREADS")) && *s ? s : "1,2,4,8,16,32,64";
    char buf[256];
    snprintf(buf, sizeof buf, "%s", th);
    for (char *tok = strtok(buf, ","); tok && cfg.nthreads < MAXT; tok = strtok(NULL, ",")) {
        int t = atoi(tok);
        if (t < 1 || t > 128) die("BENCH_THREADS: %s", tok);
        cfg.threads[cfg.nthreads++] = t;
    }
    snprintf(cfg.workloads, sizeof cfg.workloads, "%s",
             (s = getenv("BENCH_WORKLOADS")) && *s ? s : "w1,w2,w3,w4,w5");
    snprintf(cfg.engines, sizeof cfg.engines, "%s",
             (s = getenv("BENCH_ENGINES")) && *s ? s : "libcommit,sqlite-full,sqlite-normal,lmdb,rocksdb");
    snprintf(cfg.dir, sizeof cfg.dir, "%s", (s = getenv("BENCH_DIR")) && *s ? s : "/tmp/libcommit-bench");
    cfg.python = getenv("BENCH_PYTHON");
    cfg.py_script = getenv("BENCH_PY_SCRIPT");
    cfg.lc_native = (s = getenv("BENCH_LC_MODE")) && !strcmp(s, "native");
    snprintf(cfg.w1_pages, sizeof cfg.w1_pages, "%s", (s = getenv("BENCH_W1_PAGES")) && *s ? s : "1,8");
    g_dump = getenv("BENCH_DUMP_LAT");
    g_rg_pad = (s = getenv("BENCH_RG_PAD")) && *s ? strtoull(s, NULL, 10) : 0;
    g_rg_ordered = (s = getenv("BENCH_RG_ORDERED")) && *s && strcmp(s, "0");
    cfg.no_raw = (s = getenv("BENCH_NO_RAW")) && *s && strcmp(s, "0"); /* for profiling one engine */
    ssize_t n = readlink("/proc/self/exe", cfg.self, sizeof cfg.self - 1);
    if (n <= 0) die("readlink /proc/self/exe");
    cfg.self[n] = 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "--w3-child")) return w3_child(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    setvbuf(stdout, NULL, _IOLBF, 0);
    parse_cfg();
    mkdir(cfg.dir, 0755);
    char run[PATH_MAX + 32];
    snprintf(run, sizeof run, "%s/run-%d", cfg.dir, (int)getpid());
    fresh_dir(run);

    time_t now = time(NULL);
    char when[64];
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
    int maj, min, pat;
    mdb_version(&maj, &min, &pat);
    printf("libcommit bench - %s - %s mode\n", when, cfg.quick ? "QUICK" : "full");
    printf("libcommit %s (%s mode, sync FULL), SQLite %s (WAL), LMDB %d.%d.%d, RocksDB %s\n", lc_version(),
           cfg.lc_native ? "NATIVE" : "WAL", sqlite3_libversion(), maj, min, pat, ROCKSDB_VERSION_STR);
    printf("scratch directory %s; workloads %s; threads", run, cfg.workloads);
    for (int i = 0; i < cfg.nthreads; i++) printf("%s%d", i ? "," : " ", cfg.threads[i]);
    printf("\n");

    uint64_t t_start = now_ns();
    bool w1 = want_w("w1"), w2 = want_w("w2"), w3 = want_w("w3"), w4 = want_w("w4"), w5 = want_w("w5");

#define PROGRESS(...)                                                          \
    do {                                                                       \
        fprintf(stderr, "  [%5.0fs] ", (double)(now_ns() - t_start) / 1e9); \
        fprintf(stderr, __VA_ARGS__);                                          \
        fprintf(stderr, "\n");                                                 \
    } while (0)

    /* Every engine's database is opened and filled first; then each point
     * runs on every engine back to back (raw first), so the engines of one
     * row of a table see the disk in the same state. */
    uint64_t point_id = 1;
    void *dbs[N_PEERS + 1] = {0};
    const engine *engs[N_PEERS + 1] = {&ENG_RG, 0};
    int eidx[N_PEERS + 1] = {N_PEERS, 0};
    int ne = 1;
    for (int ei = 0; ei < N_PEERS; ei++)
        if (csv_has(cfg.engines, ALL_ENGINES[ei]->name)) {
            engs[ne] = ALL_ENGINES[ei];
            eidx[ne++] = ei;
        }
    if (w1 || w2 || w4)
        for (int k = 0; k < ne; k++) {
            if (engs[k] == &ENG_RG && (!w1 || cfg.no_raw)) continue;
            char d[PATH_MAX];
            path_join(d, run, engs[k]->name);
            fresh_dir(d);
            dbs[k] = engs[k]->open(d);
            if (engs[k] != &ENG_RG) {
                PROGRESS("%s: open, write %u pages", engs[k]->name, RANGE);
                populate(engs[k], dbs[k]);
            }
        }
    if (w1)
        for (unsigned npi = 0; npi < 2; npi++) {
            unsigned np = npi ? 8 : 1;
            if (!csv_has(cfg.w1_pages, npi ? "8" : "1")) continue;
            PROGRESS("raw %u KiB overwrite+fdatasync", np * 4);
            /* The single-committer limit, measured before and after the
             * first row (T=1 when present) and averaged: the disk drifts. */
            double ow_secs = cfg.quick ? 0.5 : 1.5;
            point before = {0};
            if (!cfg.no_raw) before = raw_overwrite(run, np, ow_secs);
            for (int ti = 0; ti < cfg.nthreads; ti++) {
                for (int k = 0; k < ne; k++) {
                    if (!dbs[k]) continue;
                    PROGRESS("W1 %up T=%d %s", np, cfg.threads[ti], engs[k]->name);
                    R_w1[npi][eidx[k]][ti] = run_w1(engs[k], dbs[k], cfg.threads[ti], np, cfg.w1_secs, point_id++);
                }
                if (ti == 0 && !cfg.no_raw) {
                    PROGRESS("raw %u KiB overwrite+fdatasync, again", np * 4);
                    point after = raw_overwrite(run, np, ow_secs);
                    point *m = &R_raw_ow[npi];
                    *m = (point){.have = true, .ops = before.ops + after.ops};
                    m->rate = (before.rate + after.rate) / 2;
                    m->p50 = (before.p50 + after.p50) / 2;
                    m->p99 = (before.p99 + after.p99) / 2;
                    m->verified = before.verified + after.verified;
                    m->bad = before.bad + after.bad;
                    R_raw_ow_parts[npi][0] = before.rate;
                    R_raw_ow_parts[npi][1] = after.rate;
                }
            }
        }
    if (w4)
        for (int k = 1; k < ne; k++) {
            PROGRESS("W4 %s", engs[k]->name);
            run_w4(engs[k], dbs[k], eidx[k]);
        }
    if (w2) {
        PROGRESS("raw sequential write+fdatasync");
        R_raw_seq = raw_sequential(run, cfg.quick ? 1.0 : 4.0);
        for (int k = 1; k < ne; k++) {
            PROGRESS("W2 %s", engs[k]->name);
            R_w2[eidx[k]] = run_w2(engs[k], dbs[k], cfg.w2_secs);
        }
    }
    for (int k = 0; k < ne; k++)
        if (dbs[k]) {
            engs[k]->close(dbs[k]);
            char d[PATH_MAX];
            path_join(d, run, engs[k]->name);
            rm_rf(d);
        }
    if (w3) {
        PROGRESS("raw sequential read, page cache dropped");
        R_raw_read = raw_read(run, cfg.w3_bytes);
    }
    if (w3)
        for (int k = 1; k < ne; k++)
            if (engs[k] == &ENG_LC || engs[k] == &ENG_SQF) {
                PROGRESS("W3 %s: write %" PRIu64 " MiB, SIGKILL, drop the cache, recover", engs[k]->name,
                         cfg.w3_bytes >> 20);
                run_w3(engs[k], eidx[k], run);
            }

    /* W5: Python beside the same workload through the C ABI, fresh databases. */
    if (w5 && csv_has(cfg.engines, "libcommit")) {
        if (!cfg.python || !cfg.py_script) {
            fprintf(stderr, "bench: W5 needs BENCH_PYTHON and BENCH_PY_SCRIPT; skipped\n");
        } else {
            int ts[2] = {1, 8};
            for (int k = 0; k < 2; k++) {
                char d[PATH_MAX], name[32];
                snprintf(name, sizeof name, "w5-c-%d", ts[k]);
                path_join(d, run, name);
                fresh_dir(d);
                PROGRESS("W5 C T=%d", ts[k]);
                void *db = ENG_LC.open(d);
                populate(&ENG_LC, db);
                R_w5_c[k] = run_w1(&ENG_LC, db, ts[k], 1, cfg.w5_secs, point_id++);
                ENG_LC.close(db);
                rm_rf(d);
                snprintf(name, sizeof name, "w5-py-%d", ts[k]);
                path_join(d, run, name);
                fresh_dir(d);
                char p[PATH_MAX];
                path_join(p, d, "lc.db");
                PROGRESS("W5 Python T=%d", ts[k]);
                if (!run_python(p, ts[k], cfg.w5_secs, &R_w5_py[k])) {
                    fprintf(stderr, "bench: W5 python run failed\n");
                    g_failures++;
                }
                rm_rf(d);
            }
        }
    }

    /* ------------------------------------------------------------ tables */
    printf("\nRaw disk, on files in the scratch directory (overwrite: before and after the first W1 row;\n"
           "  sequential write: before W2; sequential read: before W3):\n");
    if (R_raw_ow[0].have || R_raw_ow[1].have)
        for (int k = 0; k < 2; k++) {
            char a[16], b[16];
            fmt_us(a, sizeof a, R_raw_ow[k].p50);
            fmt_us(b, sizeof b, R_raw_ow[k].p99);
            if (!R_raw_ow[k].have) continue;
            printf("  %-46s %9.0f /s   p50 %s us  p99 %s us  (%.0f before, %.0f after the T=%d row)  %s\n",
                   k ? "32 KiB overwrite+fdatasync, 1 thread" : "4 KiB overwrite+fdatasync, 1 thread",
                   R_raw_ow[k].rate, a, b, R_raw_ow_parts[k][0], R_raw_ow_parts[k][1], cfg.threads[0],
                   vstr(R_raw_ow[k].verified, R_raw_ow[k].bad));
        }
    if (R_raw_seq.have)
        printf("  %-46s %9.0f MiB/s  %s\n", "sequential 16 MiB write+fdatasync", R_raw_seq.rate,
               vstr(R_raw_seq.verified, R_raw_seq.bad));
    if (R_raw_read.have)
        printf("  %-46s %9.0f MiB/s  %s\n", "sequential 128 KiB reads, page cache dropped", R_raw_read.rate,
               vstr(R_raw_read.verified, R_raw_read.bad));
    printf("  ideal raw group commit: the raw-group rows of W1\n");
    if (w1) {
        if (csv_has(cfg.w1_pages, "1")) print_w1(0);
        if (csv_has(cfg.w1_pages, "8")) print_w1(1);
    }
    if (w2) {
        printf("\nW2: 16 MiB commits (4096 pages of 4 KiB), %.1f s per engine, one thread.\n", cfg.w2_secs);
        printf("  x raw = / raw sequential write+fdatasync (%.0f MiB/s); lc x = libcommit / this row.\n",
               R_raw_seq.rate);
        printf("  %-14s %10s %8s %7s %7s  %s\n", "engine", "MiB/s", "commits", "x raw", "lc x", "verify");
        for (int ei = 0; ei < N_PEERS; ei++) {
            point *r = &R_w2[ei];
            if (!r->have) continue;
            char lx[16] = "-";
            if (ei && R_w2[0].have && r->rate > 0) snprintf(lx, sizeof lx, "%.2f", R_w2[0].rate / r->rate);
            printf("  %-14s %10.1f %8" PRIu64 " %7.2f %7s  %s\n", ALL_ENGINES[ei]->name, r->rate, r->ops,
                   R_raw_seq.rate > 0 ? r->rate / R_raw_seq.rate : 0, lx, vstr(r->verified, r->bad));
        }
    }
    if (w3) {
        printf("\nW3: recovery after SIGKILL of a child that wrote %" PRIu64 " MiB without checkpointing;\n"
               "  page cache dropped by %s.\n  time = open + first read; cpu = user+sys CPU time of the process meanwhile.\n",
               cfg.w3_bytes >> 20, g_drop_method);
        printf("  x raw = log MiB/s / raw sequential read with the cache dropped (%.0f MiB/s);\n"
               "  lc x = libcommit's log MiB/s / this row's.\n", R_raw_read.rate);
        printf("  %-14s %8s %7s %8s %7s %10s %7s %13s %8s %7s  %s\n", "engine", "log MiB", "pages", "time ms",
               "cpu ms", "log MiB/s", "x raw", "payload MiB/s", "cached%", "lc x", "verify");
        for (int ei = 0; ei < N_PEERS; ei++) {
            if (!R_w3[ei].have) continue;
            double sp = R_w3[ei].log_mib / R_w3[ei].secs;
            char lx[16] = "-";
            if (ei && R_w3[0].have) snprintf(lx, sizeof lx, "%.2f", (R_w3[0].log_mib / R_w3[0].secs) / sp);
            printf("  %-14s %8.0f %7" PRIu64 " %8.0f %7.0f %10.0f %7.2f %13.0f %8.1f %7s  %s\n", ALL_ENGINES[ei]->name,
                   R_w3[ei].log_mib, R_w3[ei].pages, R_w3[ei].secs * 1e3, R_w3[ei].cpu_secs * 1e3, sp,
                   R_raw_read.rate > 0 ? sp / R_raw_read.rate : 0,
                   R_w3[ei].payload_mib / R_w3[ei].secs,
                   R_w3[ei].cached_pct, lx, vstr(R_w3[ei].verified, R_w3[ei].bad));
        }
    }
    if (w4) {
        printf("\nW4: read of a cached 4 KiB page at a snapshot (copied out), one thread, 1024-page warm set;\n"
               "  ns per read (median/p99 over batches of 32). lc x = this row's p50 / libcommit's p50.\n");
        printf("  %-14s %-34s %8s %8s %7s  %s\n", "engine", "call", "p50 ns", "p99 ns", "lc x", "verify");
        static const char *calls[N_PEERS] = {"lc_txn_read", "SELECT in a read txn", "SELECT in a read txn",
                                             "mdb_get in a read txn", "rocksdb_get at a snapshot"};
        for (int ei = 0; ei < N_PEERS; ei++) {
            if (!R_w4[ei].have) continue;
            char lx[16] = "-";
            if (ei && R_w4[0].have && R_w4[0].p50) snprintf(lx, sizeof lx, "%.2f", (double)R_w4[ei].p50 / (double)R_w4[0].p50);
            printf("  %-14s %-34s %8" PRIu64 " %8" PRIu64 " %7s  %s\n", ALL_ENGINES[ei]->name, calls[ei], R_w4[ei].p50,
                   R_w4[ei].p99, lx, vstr(R_w4[ei].verified, R_w4[ei].bad));
            if (ei == 0)
                printf("  %-14s %-34s %8" PRIu64 " %8s %7s\n", "libcommit", "lc_read (latest, no txn)",
                       R_w4[0].p50_latest, "-", "-");
        }
    }
    if (R_w4[0].have)
        printf("  (libcommit at W4, after the W1 points: last_commit_seq %" PRIu64 ", checkpoint_seq %" PRIu64
               ", retained_versions %" PRIu64 ")\n",
               R_w4[0].st.last_commit_seq, R_w4[0].st.checkpoint_seq, R_w4[0].st.retained_versions);
    if (R_w5_py[0].have || R_w5_c[0].have) {
        printf("\nW5: 1-page commits from Python threads (the libcommit package) beside the same loop in C\n"
               "  (C ABI over the Rust engine), fresh %u-page databases, %.1f s per point.\n", RANGE, cfg.w5_secs);
        printf("  %3s  %12s %9s %9s  %12s %9s %9s  %7s  %s\n", "T", "Python c/s", "p50 us", "p99 us", "C c/s",
               "p50 us", "p99 us", "py/C", "verify");
        int ts[2] = {1, 8};
        for (int k = 0; k < 2; k++) {
            char a[16], b[16], c[16], d[16];
            fmt_us(a, sizeof a, R_w5_py[k].p50);
            fmt_us(b, sizeof b, R_w5_py[k].p99);
            fmt_us(c, sizeof c, R_w5_c[k].p50);
            fmt_us(d, sizeof d, R_w5_c[k].p99);
            printf("  %3d  %12.0f %9s %9s  %12.0f %9s %9s  %6.0f%%  py %s, C %s\n", ts[k], R_w5_py[k].rate, a, b,
                   R_w5_c[k].rate, c, d, R_w5_c[k].rate > 0 ? 100 * R_w5_py[k].rate / R_w5_c[k].rate : 0,
                   vstr(R_w5_py[k].verified, R_w5_py[k].bad), vstr(R_w5_c[k].verified, R_w5_c[k].bad));
        }
    }
    print_targets();
    printf("\ntotal %.0f s; verification: %s\n", (double)(now_ns() - t_start) / 1e9,
           g_failures ? "FAILURES (see FAIL above)" : "every point read back what it wrote");
    rm_rf(run);
    return g_failures ? 1 : 0;
}
