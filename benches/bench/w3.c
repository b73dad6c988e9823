/*
 * benches/bench/w3.c - W3: recovery after SIGKILL. A child process (this
 * binary with --w3-child) writes BENCH_W3_MIB of log without checkpointing
 * and is killed; the page cache of its files is dropped; then the time to
 * open the database and read one page is measured, and a sample of pages
 * is read back. libcommit and SQLite (FULL) only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

const char *g_drop_method = "none";

/* The child: writes `bytes` of log through one engine and never
 * checkpoints, reports "done <pages>" on stdout, then waits to be killed. */
int w3_child(const char *which, const char *dir, uint64_t bytes) {
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
void drop_cache(const char *dir) {
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

void run_w3(const engine *e, int idx, const char *base) {
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
