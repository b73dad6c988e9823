/*
 * bench_sqlite.c - one-row autocommit INSERTs with synchronous=FULL, the
 * same SQLite build in rollback-journal mode, in WAL mode and on the
 * libcommit VFS (WAL and NATIVE commit modes, and group sync), with 1 and
 * 4 writer processes. Configurations are interleaved, two rounds, so a
 * slow moment of the shared disk hits all of them; the table shows the
 * better round of each.
 *
 *   bench_sqlite DIR SECONDS
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libcommit_sqlite.h"
#include "sqlite3.h"

typedef struct config {
    const char *name;
    const char *vfs;
    const char *uri_params;
    const char *journal_mode;
} config;

static const config CONFIGS[] = {
    {"sqlite rollback journal", "unix", "", "DELETE"},
    {"sqlite WAL", "unix", "", "WAL"},
    {"libcommit WAL", "libcommit", "lc_mode=wal", "DELETE"},
    {"libcommit NATIVE", "libcommit", "lc_mode=native", "DELETE"},
    {"libcommit WAL + group sync", "libcommit", "lc_mode=wal&lc_group_sync=1", "DELETE"},
};
#define NCONFIGS (sizeof CONFIGS / sizeof CONFIGS[0])
#define ROUNDS 2

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(sqlite3 *db, const char *what) {
    fprintf(stderr, "bench_sqlite: %s: %s\n", what, db ? sqlite3_errmsg(db) : "");
    exit(1);
}

static sqlite3 *open_cfg(const config *c, const char *path) {
    char *uri = sqlite3_mprintf("file:%s?%s", path, c->uri_params);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI, c->vfs)) {
        die(db, uri);
    }
    sqlite3_free(uri);
    sqlite3_busy_timeout(db, 30000);
    char *sql = sqlite3_mprintf("PRAGMA journal_mode=%s; PRAGMA synchronous=FULL", c->journal_mode);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL)) die(db, sql);
    sqlite3_free(sql);
    return db;
}

typedef struct result {
    uint64_t txns;
    uint64_t lc_syncs;
} result;

/* One writer process: autocommit INSERTs until the deadline. */
static result run_writer(const config *c, const char *path, double secs, int who) {
    sqlite3 *db = open_cfg(c, path);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO b(who, v) VALUES(?1, ?2)", -1, &st, NULL)) die(db, "prepare");
    libcommit_sqlite_stats s0, s1;
    memset(&s0, 0, sizeof s0);
    memset(&s1, 0, sizeof s1);
    int is_lc = strcmp(c->vfs, "libcommit") == 0;
    if (is_lc) sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_STATS, &s0);
    result r = {0, 0};
    double end = now_s() + secs;
    while (now_s() < end) {
        sqlite3_bind_int(st, 1, who);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r.txns);
        if (sqlite3_step(st) != SQLITE_DONE) die(db, "insert");
        sqlite3_reset(st);
        r.txns++;
    }
    if (is_lc) {
        sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_STATS, &s1);
        r.lc_syncs = s1.lc_syncs - s0.lc_syncs;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return r;
}

static void remove_db(const char *dir) {
    char *cmd = sqlite3_mprintf("rm -rf '%s' && mkdir -p '%s'", dir, dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_sqlite: %s failed\n", cmd);
        exit(1);
    }
    sqlite3_free(cmd);
}

static double run_point(const config *c, const char *dir, int procs, double secs, double *syncs_per_txn) {
    char *sub = sqlite3_mprintf("%s/point", dir);
    char *path = sqlite3_mprintf("%s/b.db", sub);
    remove_db(sub);
    sqlite3 *db = open_cfg(c, path);
    if (sqlite3_exec(db, "CREATE TABLE b(id INTEGER PRIMARY KEY, who INTEGER, v INTEGER)", NULL, NULL, NULL)) {
        die(db, "create");
    }
    sqlite3_close(db);
    int fds[2];
    if (pipe(fds)) die(NULL, "pipe");
    double t0 = now_s();
    for (int i = 0; i < procs; i++) {
        pid_t pid = fork();
        if (pid < 0) die(NULL, "fork");
        if (pid == 0) {
            close(fds[0]);
            result r = run_writer(c, path, secs, i);
            if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(1);
            _exit(0);
        }
    }
    close(fds[1]);
    result total = {0, 0}, r;
    while (read(fds[0], &r, sizeof r) == (ssize_t)sizeof r) {
        total.txns += r.txns;
        total.lc_syncs += r.lc_syncs;
    }
    close(fds[0]);
    int status, bad = 0;
    while (wait(&status) > 0) bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (bad) die(NULL, "a writer failed");
    double elapsed = now_s() - t0;
    *syncs_per_txn = total.txns ? (double)total.lc_syncs / (double)total.txns : 0;
    sqlite3_free(path);
    sqlite3_free(sub);
    return (double)total.txns / elapsed;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench_sqlite DIR SECONDS\n");
        return 2;
    }
    const char *dir = argv[1];
    double secs = atof(argv[2]);
    if (libcommit_sqlite_register(NULL, 0) != SQLITE_OK) die(NULL, "register");
    static const int PROCS[] = {1, 4};
    double best[NCONFIGS][2] = {{0}};
    double syncs[NCONFIGS][2] = {{0}};
    for (int round = 0; round < ROUNDS; round++) {
        for (size_t c = 0; c < NCONFIGS; c++) {
            for (int p = 0; p < 2; p++) {
                double spt;
                double rate = run_point(&CONFIGS[c], dir, PROCS[p], secs, &spt);
                if (rate > best[c][p]) {
                    best[c][p] = rate;
                    syncs[c][p] = spt;
                }
            }
        }
    }
    remove_db(dir);
    printf("== SQLite %s, one-row autocommit INSERTs, synchronous=FULL, %.1f s per point, best of %d rounds\n",
           sqlite3_libversion(), secs, ROUNDS);
    printf("%-28s %12s %12s %16s %16s\n", "configuration", "1 proc tx/s", "4 procs tx/s", "lc syncs/tx (1)",
           "lc syncs/tx (4)");
    for (size_t c = 0; c < NCONFIGS; c++) {
        int lc = strcmp(CONFIGS[c].vfs, "libcommit") == 0;
        printf("%-28s %12.0f %12.0f", CONFIGS[c].name, best[c][0], best[c][1]);
        if (lc) printf(" %16.2f %16.2f\n", syncs[c][0], syncs[c][1]);
        else printf(" %16s %16s\n", "-", "-");
    }
    printf("targets: libcommit WAL 1 proc vs rollback %.1fx (>= 4x), vs SQLite WAL %.2fx (>= 0.9x); "
           "group sync 4 procs vs SQLite WAL 4 procs %.2fx (>= 1.5x)\n",
           best[2][0] / best[0][0], best[2][0] / best[1][0], best[4][1] / best[1][1]);
    return 0;
}
