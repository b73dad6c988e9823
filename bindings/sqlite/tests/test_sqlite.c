/*
 * test_sqlite.c - SQLite on the libcommit VFS, as programs use it.
 *
 *   test_sqlite basic DIR              rows, reopen, VACUUM, counters, errors, backup, fallback
 *   test_sqlite killloop DIR N MODE G  N writers killed with SIGKILL at random points, each
 *                                      followed by a check (MODE wal|native, G group sync 0|1)
 *   test_sqlite multi DIR P ROWS G     P writer processes at once, plus a reader checking
 *                                      that it never reads a commit that is not durable
 *
 * Each prints "name: ok ..." lines with its counts and exits non-zero on
 * the first failed check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libcommit_sqlite.h"
#include "sqlite3.h"

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fprintf(stderr, "\n");                                                         \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

#define ACCOUNTS 10
#define BALANCE 1000

static char *path_in(const char *dir, const char *name) {
    char *p = sqlite3_mprintf("%s/%s", dir, name);
    CHECK(p, "out of memory");
    return p;
}

static void exec_ok(sqlite3 *db, const char *sql) {
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    CHECK(rc == SQLITE_OK, "%s: %s (%d)", sql, err ? err : "", rc);
}

static sqlite3_int64 one_int(sqlite3 *db, const char *sql) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    CHECK(rc == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    rc = sqlite3_step(st);
    CHECK(rc == SQLITE_ROW, "%s: %s (%d)", sql, sqlite3_errmsg(db), rc);
    sqlite3_int64 v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void integrity_ok(sqlite3 *db) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK, "prepare");
    CHECK(sqlite3_step(st) == SQLITE_ROW, "integrity_check: %s", sqlite3_errmsg(db));
    const char *r = (const char *)sqlite3_column_text(st, 0);
    CHECK(r && strcmp(r, "ok") == 0, "integrity_check: %s", r ? r : "(null)");
    sqlite3_finalize(st);
}

static sqlite3 *open_db(const char *uri, int flags) {
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(uri, &db, flags | SQLITE_OPEN_URI, LIBCOMMIT_SQLITE_VFS_NAME);
    CHECK(rc == SQLITE_OK, "open %s: %s", uri, db ? sqlite3_errmsg(db) : "");
    sqlite3_busy_timeout(db, 10000);
    return db;
}

static libcommit_sqlite_stats stats_of(sqlite3 *db) {
    libcommit_sqlite_stats s;
    memset(&s, 0, sizeof s);
    int rc = sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_STATS, &s);
    CHECK(rc == SQLITE_OK, "stats: %d", rc);
    return s;
}

static void close_db(sqlite3 *db) { CHECK(sqlite3_close(db) == SQLITE_OK, "close: %s", sqlite3_errmsg(db)); }

/* ---- basic -------------------------------------------------------------- */

static void insert_rows(sqlite3 *db, int txns, int per_txn) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES(?1, ?2)", -1, &st, NULL) == SQLITE_OK, "prepare");
    for (int t = 0; t < txns; t++) {
        exec_ok(db, "BEGIN");
        for (int r = 0; r < per_txn; r++) {
            int id = t * per_txn + r;
            sqlite3_bind_int(st, 1, id);
            char v[64];
            snprintf(v, sizeof v, "row-%d-%08x", id, (unsigned)id * 2654435761u);
            sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
            CHECK(sqlite3_step(st) == SQLITE_DONE, "insert: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        exec_ok(db, "COMMIT");
    }
    sqlite3_finalize(st);
}

/* Every row id in [0, n) with step, and its exact value. */
static void verify_rows(sqlite3 *db, int n, int step) {
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "SELECT id, v FROM t ORDER BY id", -1, &st, NULL) == SQLITE_OK, "prepare");
    int expect = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        int id = sqlite3_column_int(st, 0);
        CHECK(id == expect, "row %d where %d was expected", id, expect);
        char v[64];
        snprintf(v, sizeof v, "row-%d-%08x", id, (unsigned)id * 2654435761u);
        CHECK(strcmp((const char *)sqlite3_column_text(st, 1), v) == 0, "row %d has the wrong value", id);
        expect += step;
    }
    CHECK(expect >= n, "rows end at %d, %d expected", expect, n);
    sqlite3_finalize(st);
}

static void basic_rows(const char *dir) {
    char *p = path_in(dir, "rows.db");
    sqlite3 *db = open_db(p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(db, 100, 100);
    integrity_ok(db);
    libcommit_sqlite_stats s = stats_of(db);
    CHECK(s.batch_commits >= 100, "batch commits %llu of 101 transactions", (unsigned long long)s.batch_commits);
    close_db(db);

    db = open_db(p, SQLITE_OPEN_READWRITE);
    CHECK(one_int(db, "SELECT count(*) FROM t") == 10000, "count after reopen");
    verify_rows(db, 10000, 1);
    integrity_ok(db);
    sqlite3_int64 pages_before = one_int(db, "PRAGMA page_count");
    exec_ok(db, "DELETE FROM t WHERE id % 2 = 1");
    exec_ok(db, "VACUUM");
    sqlite3_int64 pages_after = one_int(db, "PRAGMA page_count");
    CHECK(pages_after < pages_before, "VACUUM left %lld pages of %lld", (long long)pages_after, (long long)pages_before);
    close_db(db);

    db = open_db(p, SQLITE_OPEN_READWRITE);
    CHECK(one_int(db, "SELECT count(*) FROM t") == 5000, "count after VACUUM and reopen");
    verify_rows(db, 10000, 2);
    integrity_ok(db);
    sqlite3_int64 size = 0;
    sqlite3_file *f = NULL;
    CHECK(sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) == SQLITE_OK && f, "file pointer");
    CHECK(f->pMethods->xFileSize(f, &size) == SQLITE_OK, "size");
    CHECK(size == pages_after * one_int(db, "PRAGMA page_size"), "file size %lld after VACUUM", (long long)size);
    close_db(db);
    printf("basic rows: ok 10000 rows in 100 transactions, %llu batch commits, VACUUM %lld -> %lld pages\n",
           (unsigned long long)s.batch_commits, (long long)pages_before, (long long)pages_after);
    sqlite3_free(p);
}

static void basic_fallback(const char *dir) {
    char *p = path_in(dir, "fallback.db");
    sqlite3 *db = open_db(p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(db, 2, 10);
    libcommit_sqlite_stats before = stats_of(db);
    int n = 5;
    CHECK(sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_FAIL_BATCH, &n) == SQLITE_OK, "fail batch");
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES(?1, ?2)", -1, &st, NULL) == SQLITE_OK, "prepare");
    for (int t = 2; t < 12; t++) {
        exec_ok(db, "BEGIN");
        for (int r = 0; r < 10; r++) {
            int id = t * 10 + r;
            char v[64];
            snprintf(v, sizeof v, "row-%d-%08x", id, (unsigned)id * 2654435761u);
            sqlite3_bind_int(st, 1, id);
            sqlite3_bind_text(st, 2, v, -1, SQLITE_TRANSIENT);
            CHECK(sqlite3_step(st) == SQLITE_DONE, "insert: %s", sqlite3_errmsg(db));
            sqlite3_reset(st);
        }
        exec_ok(db, "COMMIT");
    }
    sqlite3_finalize(st);
    libcommit_sqlite_stats after = stats_of(db);
    CHECK(after.batch_failures - before.batch_failures == 5, "injected failures %llu",
          (unsigned long long)(after.batch_failures - before.batch_failures));
    CHECK(after.sync_commits - before.sync_commits >= 5, "journal commits %llu",
          (unsigned long long)(after.sync_commits - before.sync_commits));
    CHECK(after.batch_commits - before.batch_commits == 5, "batch commits after the failures %llu",
          (unsigned long long)(after.batch_commits - before.batch_commits));
    n = -1;
    CHECK(sqlite3_file_control(db, "main", LIBCOMMIT_SQLITE_FCNTL_FAIL_BATCH, &n) == SQLITE_MISUSE, "bad count");
    close_db(db);
    db = open_db(p, SQLITE_OPEN_READWRITE);
    verify_rows(db, 120, 1);
    integrity_ok(db);
    close_db(db);
    printf("fallback: ok 5 batch commits failed on purpose, SQLite redid them through its journal (%llu journal "
           "commits), 120 rows verify\n",
           (unsigned long long)(after.sync_commits - before.sync_commits));
    sqlite3_free(p);
}

static void basic_errors(const char *dir) {
    sqlite3 *db = NULL;
    char *p = path_in(dir, "errors.db");
    db = open_db(p, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec_ok(db, "CREATE TABLE t(a)");
    char *err = NULL;
    int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, &err);
    CHECK(rc == SQLITE_ERROR && err && strstr(err, "WAL is not supported"), "journal_mode=WAL: %d %s", rc,
          err ? err : "");
    sqlite3_free(err);
    close_db(db);

    /* Read-only: the data reads, every write is SQLITE_READONLY. */
    db = open_db(p, SQLITE_OPEN_READONLY);
    CHECK(one_int(db, "SELECT count(*) FROM t") == 0, "read-only read");
    rc = sqlite3_exec(db, "INSERT INTO t VALUES(1)", NULL, NULL, NULL);
    CHECK(rc == SQLITE_READONLY, "write on a read-only database: %d", rc);
    close_db(db);

    char *uri = sqlite3_mprintf("file:%s?lc_mode=paper", p);
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, LIBCOMMIT_SQLITE_VFS_NAME);
    CHECK(rc == SQLITE_CANTOPEN, "bad lc_mode: %d", rc);
    sqlite3_close(db);
    sqlite3_free(uri);
    uri = sqlite3_mprintf("file:%s?lc_group_sync=1&lc_sync=off", p);
    rc = sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI, LIBCOMMIT_SQLITE_VFS_NAME);
    CHECK(rc == SQLITE_CANTOPEN, "lc_group_sync with lc_sync=off: %d", rc);
    sqlite3_close(db);
    sqlite3_free(uri);

    /* A file that is not a libcommit database is refused and left alone. */
    char *junk = path_in(dir, "junk.db");
    FILE *f = fopen(junk, "w");
    CHECK(f, "create %s", junk);
    for (int i = 0; i < 8192; i++) fputc('x', f);
    fclose(f);
    /* As on the unix VFS: the open succeeds, the first statement fails. */
    rc = sqlite3_open_v2(junk, &db, SQLITE_OPEN_READWRITE, LIBCOMMIT_SQLITE_VFS_NAME);
    CHECK(rc == SQLITE_OK, "open of a foreign file: %d", rc);
    rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
    CHECK(rc == SQLITE_NOTADB, "not a database: %d", rc);
    rc = sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    CHECK(rc == SQLITE_NOTADB, "a write to a foreign file: %d", rc);
    sqlite3_close(db);
    struct stat sb;
    CHECK(stat(junk, &sb) == 0 && sb.st_size == 8192, "the foreign file was changed");
    char *missing = path_in(dir, "missing.db");
    rc = sqlite3_open_v2(missing, &db, SQLITE_OPEN_READWRITE, LIBCOMMIT_SQLITE_VFS_NAME);
    CHECK(rc == SQLITE_CANTOPEN, "missing without CREATE: %d", rc);
    sqlite3_close(db);
    sqlite3_free(missing);
    printf("errors: ok WAL refused, read-only, bad URI values, foreign file, missing file\n");
    sqlite3_free(junk);
    sqlite3_free(p);
}

static void backup_to(sqlite3 *from, sqlite3 *to) {
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    CHECK(b, "backup_init: %s", sqlite3_errmsg(to));
    CHECK(sqlite3_backup_step(b, -1) == SQLITE_DONE, "backup_step: %s", sqlite3_errmsg(to));
    CHECK(sqlite3_backup_finish(b) == SQLITE_OK, "backup_finish");
}

static void basic_backup_native(const char *dir) {
    char *p = path_in(dir, "native.db");
    char *uri = sqlite3_mprintf("file:%s?lc_mode=native&lc_sync=full", p);
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
    insert_rows(db, 10, 50);
    /* Out to a plain SQLite file (the unix VFS) and back into a new one. */
    char *plain = path_in(dir, "plain.db");
    sqlite3 *out = NULL;
    CHECK(sqlite3_open_v2(plain, &out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "unix") == SQLITE_OK, "plain");
    backup_to(db, out);
    close_db(db);
    char *back = path_in(dir, "restored.db");
    sqlite3 *in = open_db(back, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    backup_to(out, in);
    close_db(out);
    verify_rows(in, 500, 1);
    integrity_ok(in);
    close_db(in);
    printf("backup: ok NATIVE mode, sqlite3_backup out to a plain file and into a new libcommit database\n");
    sqlite3_free(back);
    sqlite3_free(plain);
    sqlite3_free(uri);
    sqlite3_free(p);
}

/* ---- kill -9 loop ------------------------------------------------------- */

/* One writer: transactions of 1..40 rows (the big ones spill a 16-page
 * cache, so they take the journal path), a transfer between two accounts
 * and a log row naming the transaction and its row count; each commit is
 * acknowledged on the pipe. */
static void writer(const char *uri, unsigned seed, int ack_fd) {
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE);
    exec_ok(db, "PRAGMA cache_size=16");
    sqlite3_int64 txn = one_int(db, "SELECT coalesce(max(txn), 0) FROM log");
    sqlite3_stmt *ins, *mv, *lg;
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO t(txn, pad) VALUES(?1, randomblob(700))", -1, &ins, NULL) == 0, "p");
    CHECK(sqlite3_prepare_v2(db, "UPDATE acct SET bal = bal + ?2 WHERE id = ?1", -1, &mv, NULL) == 0, "p");
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO log(txn, nrows) VALUES(?1, ?2)", -1, &lg, NULL) == 0, "p");
    for (;;) {
        txn++;
        int rows = 1 + (int)(rand_r(&seed) % 40);
        exec_ok(db, "BEGIN");
        for (int r = 0; r < rows; r++) {
            sqlite3_bind_int64(ins, 1, txn);
            CHECK(sqlite3_step(ins) == SQLITE_DONE, "insert: %s", sqlite3_errmsg(db));
            sqlite3_reset(ins);
        }
        int a = (int)(rand_r(&seed) % ACCOUNTS), b = (int)(rand_r(&seed) % ACCOUNTS), x = (int)(rand_r(&seed) % 50);
        for (int k = 0; k < 2; k++) {
            sqlite3_bind_int(mv, 1, k ? b : a);
            sqlite3_bind_int(mv, 2, k ? x : -x);
            CHECK(sqlite3_step(mv) == SQLITE_DONE, "transfer: %s", sqlite3_errmsg(db));
            sqlite3_reset(mv);
        }
        sqlite3_bind_int64(lg, 1, txn);
        sqlite3_bind_int(lg, 2, rows);
        CHECK(sqlite3_step(lg) == SQLITE_DONE, "log: %s", sqlite3_errmsg(db));
        sqlite3_reset(lg);
        exec_ok(db, "COMMIT");
        CHECK(write(ack_fd, &txn, sizeof txn) == (ssize_t)sizeof txn, "ack");
    }
}

static void verify_bank(const char *uri, sqlite3_int64 acked) {
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE);
    integrity_ok(db);
    sqlite3_int64 last = one_int(db, "SELECT coalesce(max(txn), 0) FROM log");
    CHECK(last >= acked, "acknowledged transaction %lld is missing (last %lld)", (long long)acked, (long long)last);
    CHECK(one_int(db, "SELECT sum(bal) FROM acct") == ACCOUNTS * BALANCE, "money was made or lost");
    CHECK(one_int(db, "SELECT count(*) FROM log") == last, "a transaction's log row is missing");
    CHECK(one_int(db, "SELECT count(*) FROM log WHERE nrows != (SELECT count(*) FROM t WHERE t.txn = log.txn)") == 0,
          "a transaction is there in part");
    CHECK(one_int(db, "SELECT count(*) FROM t WHERE txn NOT IN (SELECT txn FROM log)") == 0, "rows without a log");
    close_db(db);
}

static void create_bank(const char *uri) {
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, txn INTEGER NOT NULL, pad BLOB);"
                "CREATE INDEX t_txn ON t(txn);"
                "CREATE TABLE acct(id INTEGER PRIMARY KEY, bal INTEGER NOT NULL);"
                "CREATE TABLE log(txn INTEGER PRIMARY KEY, nrows INTEGER NOT NULL)");
    exec_ok(db, "BEGIN");
    for (int i = 0; i < ACCOUNTS; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO acct VALUES(%d, %d)", i, BALANCE);
        exec_ok(db, sql);
    }
    exec_ok(db, "COMMIT");
    close_db(db);
}

static void killloop(const char *dir, int iterations, const char *mode, int group) {
    char *p = sqlite3_mprintf("%s/kill-%s-%d.db", dir, mode, group);
    char *uri = sqlite3_mprintf("file:%s?lc_mode=%s&lc_group_sync=%d", p, mode, group);
    char *journal = sqlite3_mprintf("%s-journal", p);
    create_bank(uri);
    unsigned seed = (unsigned)getpid() ^ 0x5eed;
    long acked_total = 0, hot = 0;
    sqlite3_int64 acked = 0;
    for (int it = 0; it < iterations; it++) {
        int fds[2];
        CHECK(pipe(fds) == 0, "pipe");
        unsigned child_seed = (unsigned)rand_r(&seed);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            close(fds[0]);
            writer(uri, child_seed, fds[1]);
            _exit(0);
        }
        close(fds[1]);
        /* Kill after a random number of acknowledgements: the signal lands
         * wherever the next transaction happens to be. */
        int kill_after = 1 + (int)(rand_r(&seed) % 25);
        for (int n = 0; n < kill_after; n++) {
            sqlite3_int64 t;
            ssize_t r = read(fds[0], &t, sizeof t);
            CHECK(r == (ssize_t)sizeof t, "writer died early (read %zd)", r);
            acked = t;
            acked_total++;
        }
        kill(pid, SIGKILL);
        sqlite3_int64 t;
        while (read(fds[0], &t, sizeof t) == (ssize_t)sizeof t) {
            acked = t;
            acked_total++;
        }
        close(fds[0]);
        int status;
        CHECK(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status), "writer was not killed");
        if (access(journal, F_OK) == 0) hot++;
        verify_bank(uri, acked);
    }
    printf("kill loop: ok %d kills, mode %s, group sync %d, %ld transactions acknowledged, all there; "
           "%ld hot journals rolled back\n",
           iterations, mode, group, acked_total, hot);
    sqlite3_free(journal);
    sqlite3_free(uri);
    sqlite3_free(p);
}

/* ---- several processes -------------------------------------------------- */

static void multi_writer(const char *uri, int who, int rows) {
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE);
    sqlite3_busy_timeout(db, 60000);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "INSERT INTO m(who, n) VALUES(?1, ?2)", -1, &st, NULL) == SQLITE_OK, "prepare");
    for (int i = 0; i < rows; i++) {
        sqlite3_bind_int(st, 1, who);
        sqlite3_bind_int(st, 2, i);
        int rc = sqlite3_step(st);
        CHECK(rc == SQLITE_DONE, "writer %d row %d: %s (%d)", who, i, sqlite3_errmsg(db), rc);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    close_db(db);
}

/* Reads until the writers are done; every read transaction's snapshot must
 * be durable by the time it reads past page 1. */
static void multi_reader(const char *uri, int stop_fd) {
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE);
    sqlite3_busy_timeout(db, 60000);
    long reads = 0, waited = 0;
    fcntl(stop_fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        char c;
        if (read(stop_fd, &c, 1) == 0) break;
        exec_ok(db, "BEGIN");
        one_int(db, "SELECT count(*) FROM m");
        libcommit_sqlite_stats s = stats_of(db);
        exec_ok(db, "COMMIT");
        CHECK(s.durable_at_read >= s.snapshot_seq, "read at snapshot %llu with only %llu durable",
              (unsigned long long)s.snapshot_seq, (unsigned long long)s.durable_at_read);
        reads++;
        waited = (long)s.reader_waits;
    }
    close_db(db);
    printf("multi reader: ok %ld read transactions, each durable before it read; %ld waited for a sync\n", reads,
           waited);
    fflush(stdout);
}

static void multi(const char *dir, int procs, int rows, int group) {
    char *p = sqlite3_mprintf("%s/multi-%d.db", dir, group);
    char *uri = sqlite3_mprintf("file:%s?lc_group_sync=%d", p, group);
    sqlite3 *db = open_db(uri, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    exec_ok(db, "CREATE TABLE m(who INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY(who, n))");
    close_db(db);
    int stop[2];
    CHECK(pipe(stop) == 0, "pipe");
    pid_t reader = fork();
    CHECK(reader >= 0, "fork");
    if (reader == 0) {
        close(stop[1]);
        multi_reader(uri, stop[0]);
        _exit(0);
    }
    close(stop[0]);
    pid_t pids[64];
    for (int i = 0; i < procs; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0, "fork");
        if (pids[i] == 0) {
            close(stop[1]);
            multi_writer(uri, i, rows);
            _exit(0);
        }
    }
    for (int i = 0; i < procs; i++) {
        int status;
        CHECK(waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "writer %d failed", i);
    }
    close(stop[1]);
    int status;
    CHECK(waitpid(reader, &status, 0) == reader && WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader failed");
    db = open_db(uri, SQLITE_OPEN_READWRITE);
    CHECK(one_int(db, "SELECT count(*) FROM m") == (sqlite3_int64)procs * rows, "row count");
    CHECK(one_int(db, "SELECT count(DISTINCT who) FROM m") == procs, "writers");
    integrity_ok(db);
    close_db(db);
    printf("multi: ok %d writer processes x %d autocommit rows, group sync %d, exact count, integrity ok\n", procs,
           rows, group);
    sqlite3_free(uri);
    sqlite3_free(p);
}

int main(int argc, char **argv) {
    CHECK(argc >= 3, "usage: test_sqlite basic|killloop|multi DIR ...");
    CHECK(libcommit_sqlite_register(NULL, 0) == SQLITE_OK, "register");
    CHECK(libcommit_sqlite_register(NULL, 0) == SQLITE_OK, "register twice");
    CHECK(libcommit_sqlite_register("", 0) == SQLITE_MISUSE, "empty name");
    const char *dir = argv[2];
    if (strcmp(argv[1], "basic") == 0) {
        basic_rows(dir);
        basic_fallback(dir);
        basic_errors(dir);
        basic_backup_native(dir);
    } else if (strcmp(argv[1], "killloop") == 0 && argc == 6) {
        killloop(dir, atoi(argv[3]), argv[4], atoi(argv[5]));
    } else if (strcmp(argv[1], "multi") == 0 && argc == 6) {
        multi(dir, atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
    } else {
        CHECK(0, "unknown test %s", argv[1]);
    }
    sqlite3_shutdown();
    return 0;
}
