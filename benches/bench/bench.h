/*
 * benches/bench/bench.h - what the parts of the harness share: the
 * constants, the configuration, the engine adapter interface, the result
 * types and the helpers. Every .c file of the harness defines _GNU_SOURCE
 * before its first include and then includes this header.
 */
#ifndef BENCH_H
#define BENCH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "libcommit.h"

#define PAGE 4096u
#define RANGE 8192u             /* pages each engine's database holds (32 MiB) */
#define RAW_FILE_PAGES 16384u   /* the raw-disk files: 64 MiB, pre-written */
#define W2_PAGES 4096u          /* 16 MiB per W2 commit */
#define VERIFY_PER_THREAD 32

/* ------------------------------------------------------------------ util */

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);
uint64_t now_ns(void);
double cpu_s(void);
void sleep_s(double s);
void *xmalloc(size_t n);
void *xcalloc(size_t n);
uint64_t splitmix(uint64_t x);
uint64_t rnd(uint64_t *s);
void fill_page(uint8_t *p, uint32_t pgno, uint64_t tag);
bool check_page(const uint8_t *p, size_t len, uint32_t pgno, uint64_t tag);
uint64_t page_tag(const uint8_t *p);
int cmp_u64(const void *a, const void *b);

typedef struct {
    uint64_t *v;
    size_t n, cap;
} lvec;

void lv_push(lvec *l, uint64_t x);
uint64_t pct(uint64_t *v, size_t n, double p);
void path_join(char *out, const char *a, const char *b);
void rm_rf(const char *path);
void fresh_dir(const char *path);
void full_pwrite(int fd, const void *buf, size_t n, off_t off);
void full_pread(int fd, void *buf, size_t n, off_t off);
int prewritten_file(const char *path, uint64_t pages);
void be32(uint8_t k[4], uint32_t v);
bool csv_has(const char *list, const char *item);

/* ---------------------------------------------------------------- config */

#define MAXT 16
#define SCALE_MAX 4    /* sizes in BENCH_SCALE */
#define SCALE_W1_T 16  /* the many-thread W1 point at each size */

struct bench_cfg {
    bool quick;
    double w1_secs, w2_secs, w5_secs;
    uint64_t w3_bytes;
    int threads[MAXT];
    int nthreads;
    char dir[PATH_MAX];
    char workloads[256];
    char w1_pages[16];
    char engines[512];
    const char *python, *py_script;
    bool lc_native, no_raw;
    uint64_t scales[SCALE_MAX]; /* BENCH_SCALE, bytes */
    int nscales;
    char self[PATH_MAX];
};

extern struct bench_cfg cfg;

bool want_w(const char *w);

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
    /* Moves what the log holds into the main store and waits for it:
     * libcommit's checkpoint, SQLite's wal_checkpoint(TRUNCATE), RocksDB's
     * memtable flush, LMDB's env sync (its log is its tree). 0 on success;
     * NULL for the raw group. */
    int (*checkpoint)(void *db);
} engine;

#define N_PEERS 5

extern const engine ENG_LC, ENG_SQF, ENG_SQN, ENG_LM, ENG_RK, ENG_RG;
/* The peers in table order; libcommit first, as the ratios need it. */
extern const engine *const ALL_ENGINES[N_PEERS];

/* W3 opens and writes the databases itself, without the adapters. */
__attribute__((noreturn)) void lc_fail(const char *what, lc_status st);
lc_db *lc_open_at(const char *path, uint64_t ckpt_threshold, bool set_threshold);
/* The lc_db behind an ENG_LC handle, for the stats W4 records. */
lc_db *lce_db(void *db);
void sq_exec(sqlite3 *c, const char *sql);
sqlite3 *sq_conn(const char *path, bool full);

/* The pages W1 picks from (RANGE, or a BENCH_SCALE point's preload). */
extern uint32_t g_range;
/* Bytes of the BENCH_SCALE point being run in this process (0: none). */
extern uint64_t g_db_bytes;

/* BENCH_RG_PAD: bytes between the raw group's records, so that they are
 * not page-aligned, as a log's records are not (diagnostic; default 0). */
extern uint64_t g_rg_pad;
/* BENCH_RG_ORDERED=1: the raw group syncs only the contiguous prefix of
 * completed writes, as a log must (diagnostic; default off). */
extern bool g_rg_ordered;
int rg_verify(void *db, int *checked);

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

struct w3_result {
    bool have;
    double log_mib, secs, payload_mib, cached_pct, cpu_secs;
    uint64_t pages;
    int verified, bad;
};

struct w4_result {
    bool have;
    uint64_t p50, p99, p50_latest;
    int verified, bad;
    lc_stats st; /* libcommit's watermarks when W4 ran */
};

extern point R_w1[2][N_PEERS + 1][MAXT]; /* [1 page, 8 pages][engine, raw-group last][thread idx] */
extern point R_raw_ow[2];                 /* raw overwrite+fdatasync, 1 and 8 pages */
extern double R_raw_ow_parts[2][2];       /* its rate before and after the first W1 row */
extern point R_raw_seq;                   /* MiB/s */
extern point R_raw_ow_big;                /* MiB/s, 16 MiB overwrite+fdatasync */
extern point R_raw_read;                  /* MiB/s, page cache dropped */
extern point R_w2[N_PEERS];
extern struct w3_result R_w3[N_PEERS];
extern struct w4_result R_w4[N_PEERS];
extern point R_w5_py[2], R_w5_c[2];
extern const char *g_drop_method; /* how W3 dropped the page cache */
extern const char *g_dump; /* BENCH_DUMP_LAT: file for every W1 commit's start, latency, thread */
extern int g_failures;

/* One engine at one BENCH_SCALE size (scale.c), filled in by its child. */
typedef struct {
    bool have;
    double preload_s, preload_wamp;
    double open_ms;            /* after a clean close, page cache dropped */
    double cold_rate, cold_p50_us; /* random reads right after that open */
    int cold_verified, cold_bad;
    point w1[2];               /* 1-page commits, T=1 and T=SCALE_W1_T */
    double w1_wamp[2];
    point w2;
    double w2_wamp;
    double ckpt_ms;            /* right after the preload */
    struct w4_result w4;
    uint64_t preload_hwm_kib;  /* peak RSS of the preloading child */
    uint64_t hwm_kib;          /* peak RSS of the child that reopens and runs the workloads */
    uint64_t open_rss_kib;     /* RSS right after the reopen */
} scale_result;

extern scale_result R_scale[SCALE_MAX][N_PEERS];

int parse_scales(const char *list, uint64_t *out, int max);
void run_scale(const char *run, uint64_t t_start);
/* `bench --scale-child load|run ENGINE_INDEX BYTES DIR`: one phase of a
 * scale point, its result on stdout. */
__attribute__((noreturn)) int scale_child_main(const char *phase, const char *idx_s, const char *bytes_s,
                                               const char *dir);
void print_scale_report(void);

/* ------------------------------------------------------------ raw limits */

point raw_overwrite(const char *dir, unsigned n, double secs);
point raw_sequential(const char *dir, double secs);
point raw_read(const char *base, uint64_t bytes);
/* W2's limit: 16 MiB pwrite + fdatasync over a pre-written file, in place. */
point raw_overwrite_big(const char *dir, double secs);

/* ------------------------------------------------------------- workloads */

point run_w1(const engine *e, void *db, int T, unsigned npages, double secs, uint64_t point_id);
void populate(const engine *e, void *db);
point run_w2(const engine *e, void *db, double secs);
int w3_child(const char *which, const char *dir, uint64_t bytes);
void run_w3(const engine *e, int idx, const char *base);
void drop_cache(const char *dir);
void run_w4(const engine *e, void *db, int idx);
bool run_python(const char *dir, int T, double secs, point *out);

/* ---------------------------------------------------------------- report */

/* Prints every table, then the targets. */
void print_report(void);
/* One target line: MET, NOT MET, or n/a when not measured. */
void target(const char *name, bool have, bool met, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* "ok N" or "FAIL bad/N" (and counts the failure). */
const char *vstr(int verified, int bad);

#endif
