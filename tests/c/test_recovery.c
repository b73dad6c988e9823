/*
 * test_recovery.c - crash recovery through the C API. A forked child
 * commits and then dies by SIGKILL (no close, no checkpoint); the parent
 * reopens or runs lc_recover and checks the reports and the pages. A
 * corrupted log record makes lc_open and lc_recover fail with LC_CORRUPT
 * until LC_RECOVER_SKIP_CORRUPT keeps the durable prefix. A child forked
 * with the database open gets LC_CLOSED from the parent's handles.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define PAGE 4096

static void put_image(lc_db *db, uint32_t pgno, uint8_t fill, size_t len) {
    static uint8_t img[PAGE];
    memset(img, fill, len);
    lc_page_write w = {pgno, img, len};
    lc_status st = lc_commit_batch(db, &w, 1, NULL);
    if (st != LC_OK) {
        fprintf(stderr, "child: commit failed: %s\n", lc_last_error());
        _exit(3);
    }
}

/* True if pgno holds `len` bytes of `fill`. */
static int image_is(lc_db *db, uint32_t pgno, uint8_t fill, size_t len) {
    static uint8_t buf[PAGE];
    size_t got = 0;
    if (lc_read(db, pgno, buf, sizeof buf, &got) != LC_OK || got != len) return 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] != fill) return 0;
    return 1;
}

/* Forks a child that opens `path` (sync FULL), commits `n` one-page
 * batches (page i = `len` bytes of fill i), and dies by SIGKILL. */
static void crash_after_commits(const char *path, uint32_t n, size_t len) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        lc_db *db = NULL;
        if (lc_open(path, NULL, &db) != LC_OK) {
            fprintf(stderr, "child: open failed: %s\n", lc_last_error());
            _exit(3);
        }
        for (uint32_t i = 1; i <= n; i++) put_image(db, i, (uint8_t)(0xA0 + i), len);
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* Counts files in the temp dir whose name starts with `prefix` and that
 * end (or not) in ".corrupt"; copies the first match to `first`. */
static int count_files(const char *prefix, int corrupt, char *first, size_t cap) {
    int n = 0;
    DIR *dir = opendir(check_tmp());
    if (dir == NULL) return -1;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        size_t len = strlen(e->d_name);
        int is_corrupt = len > 8 && strcmp(e->d_name + len - 8, ".corrupt") == 0;
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && is_corrupt == corrupt) {
            if (n == 0 && first != NULL) snprintf(first, cap, "%s/%s", check_tmp(), e->d_name);
            n++;
        }
    }
    closedir(dir);
    return n;
}

TEST(crash_then_reopen_replays_log) {
    char path[512];
    check_path(path, sizeof path, "crash.db");
    crash_after_commits(path, 10, 100);
    CHECK(count_files("crash.db-wal-seg-", 0, NULL, 0) >= 1);

    lc_db *db = NULL;
    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    if (db == NULL) return;
    lc_recovery_report r;
    memset(&r, 0xAB, sizeof r);
    CHECK_ST(lc_last_recovery(db, &r), LC_OK);
    CHECK(r.commits_recovered == 10);
    CHECK(r.last_commit_seq == 10);
    CHECK(r.records_applied == 10);
    CHECK(r.segments_recovered >= 1);
    CHECK(r.bytes_read >= 10 * 100);
    CHECK(r.partial_segments == 0);
    for (uint32_t i = 1; i <= 10; i++) CHECK(image_is(db, i, (uint8_t)(0xA0 + i), 100));
    lc_stats st;
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.last_commit_seq == 10);
    uint64_t seq = 0;
    lc_page_write w = {11, (const uint8_t *)"next", 4};
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    CHECK(seq == 11);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(recover_offline_delete_after) {
    char path[512];
    check_path(path, sizeof path, "offline-crash.db");
    crash_after_commits(path, 6, 300);
    lc_recovery_report r;
    memset(&r, 0, sizeof r);
    CHECK_ST(lc_recover(path, LC_RECOVER_DELETE_AFTER, &r), LC_OK);
    CHECK(r.commits_recovered == 6);
    CHECK(r.last_commit_seq == 6);
    CHECK(r.records_applied == 6);
    CHECK(r.partial_segments == 0);
    CHECK(count_files("offline-crash.db-wal-seg-", 0, NULL, 0) == 0);

    lc_db *db = NULL;
    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    if (db == NULL) return;
    for (uint32_t i = 1; i <= 6; i++) CHECK(image_is(db, i, (uint8_t)(0xA0 + i), 300));
    lc_stats st;
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.last_commit_seq == 6);
    CHECK_ST(lc_close(db), LC_OK);
}

static int read_file(const char *path, uint8_t **out, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    *len = fread(*out, 1, (size_t)n, f);
    fclose(f);
    return *len == (size_t)n;
}

TEST(corrupt_record_then_skip_corrupt) {
    char path[512], seg[600] = "", renamed[700];
    check_path(path, sizeof path, "corrupt.db");
    /* Commits 1..3: page i = PAGE bytes of 0xA0+i. Commit 2 gets damaged;
     * commit 3 after it is valid, so this is corruption, not a torn tail. */
    crash_after_commits(path, 3, PAGE);
    int segments = count_files("corrupt.db-wal-seg-", 0, seg, sizeof seg);
    CHECK(segments == 1);
    if (segments != 1) return;

    uint8_t *bytes = NULL;
    size_t len = 0;
    CHECK(read_file(seg, &bytes, &len));
    if (bytes == NULL) return;
    size_t at = 0;
    for (size_t i = 0; i + 256 <= len; i++) {
        size_t j = 0;
        while (j < 256 && bytes[i + j] == 0xA2) j++;
        if (j == 256) {
            at = i + 128;
            break;
        }
    }
    CHECK(at != 0);
    if (at == 0) {
        free(bytes);
        return;
    }
    int fd = open(seg, O_WRONLY);
    uint8_t bad = 0x00;
    CHECK(pwrite(fd, &bad, 1, (off_t)at) == 1);
    close(fd);
    bytes[at] = bad;

    /* Open and plain recover refuse, and touch nothing. */
    lc_db *db = NULL;
    CHECK_FAIL(lc_open(path, NULL, &db), LC_CORRUPT);
    CHECK(db == NULL);
    lc_recovery_report r;
    memset(&r, 0x5A, sizeof r);
    lc_recovery_report untouched = r;
    CHECK_FAIL(lc_recover(path, 0, &r), LC_CORRUPT);
    CHECK(memcmp(&r, &untouched, sizeof r) == 0);
    uint8_t *again = NULL;
    size_t again_len = 0;
    CHECK(read_file(seg, &again, &again_len));
    CHECK(again_len == len && again != NULL && memcmp(again, bytes, len) == 0);
    free(again);
    free(bytes);

    /* SKIP_CORRUPT keeps the durable prefix (commit 1). */
    CHECK_ST(lc_recover(path, LC_RECOVER_SKIP_CORRUPT, &r), LC_OK);
    CHECK(r.partial_segments >= 1);
    CHECK(r.last_commit_seq == 1);
    snprintf(renamed, sizeof renamed, "%s.corrupt", seg);
    CHECK(check_exists(renamed));

    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    if (db == NULL) return;
    CHECK(image_is(db, 1, 0xA1, PAGE));
    size_t n = 0;
    CHECK_ST(lc_read(db, 2, NULL, 0, &n), LC_NOT_FOUND);
    CHECK_ST(lc_read(db, 3, NULL, 0, &n), LC_NOT_FOUND);
    uint64_t seq = 0;
    lc_page_write w = {4, (const uint8_t *)"after", 5};
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    CHECK(seq == 2);
    CHECK_ST(lc_close(db), LC_OK);
}

/* Another process holding the database open: lc_open joins it and sees
 * its commits; offline recovery gives LC_BUSY until that process is gone. */
TEST(busy_while_another_process_has_it_open) {
    char path[512];
    check_path(path, sizeof path, "busy.db");
    int ready[2], done[2];
    CHECK(pipe(ready) == 0 && pipe(done) == 0);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(ready[0]);
        close(done[1]);
        lc_db *db = NULL;
        lc_page_write w = {1, (const uint8_t *)"child", 5};
        char c = lc_open(path, NULL, &db) == LC_OK &&
                         lc_commit_batch(db, &w, 1, NULL) == LC_OK
                     ? 'y'
                     : 'n';
        if (write(ready[1], &c, 1) != 1) _exit(3);
        if (read(done[0], &c, 1) < 0) _exit(3); /* wait for the parent */
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    /* Only the child keeps these ends: if it dies early, the read below
     * sees end-of-file instead of waiting forever. */
    close(ready[1]);
    close(done[0]);
    char c = 0;
    CHECK(read(ready[0], &c, 1) == 1 && c == 'y');

    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_busy_timeout_ms(o, 200), LC_OK);
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    size_t n = 0;
    CHECK_ST(lc_read(db, 1, NULL, 0, &n), LC_BUFFER_TOO_SMALL);
    CHECK(n == 5); /* the child's "child" */
    CHECK_ST(lc_close(db), LC_OK);
    db = NULL;
    CHECK_FAIL(lc_recover(path, 0, NULL), LC_BUSY);
    CHECK(strstr(lc_last_error(), "lc_recover") != NULL);

    CHECK(write(done[1], "x", 1) == 1);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    close(ready[0]);
    close(done[1]);
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    lc_options_free(o);
    CHECK_ST(lc_close(db), LC_OK);
}

/* A child forked with the database open may not use the parent's handles:
 * every call is LC_CLOSED, saying why; lc_close and lc_txn_abort there
 * only free memory; the child can open the database itself. The parent's
 * handles are unharmed. */
/* Times the forked child opens, commits to and closes the database. */
#define CHILD_REOPEN_ROUNDS 32
/* Seconds the forked child may take (valgrind included). */
#define CHILD_WATCHDOG_S 300

TEST(forked_child_gets_closed) {
    char path[512];
    check_path(path, sizeof path, "fork.db");
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    lc_page_write w = {1, (const uint8_t *)"parent", 6};
    CHECK_ST(lc_commit_batch(db, &w, 1, NULL), LC_OK);
    lc_txn *txn = NULL;
    CHECK_ST(lc_begin(db, &txn), LC_OK);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        uint8_t buf[16];
        size_t len = 0;
        lc_txn *t = NULL;
        lc_stats st;
        int ok = lc_read(db, 1, buf, sizeof buf, &len) == LC_CLOSED &&
                 strstr(lc_last_error(), "is used in forked child") != NULL &&
                 lc_begin(db, &t) == LC_CLOSED && lc_commit_batch(db, &w, 1, NULL) == LC_CLOSED &&
                 lc_checkpoint(db, NULL) == LC_CLOSED && lc_stats_get(db, &st) == LC_CLOSED &&
                 lc_txn_read(txn, 1, buf, sizeof buf, &len) == LC_CLOSED;
        lc_txn_abort(txn);
        ok = ok && lc_close(db) == LC_OK;
        /* Many rounds: each open starts threads on stacks the parent's
         * threads (parked when it forked) left behind, and each close
         * wakes them; a lock with process-wide wait queues breaks on the
         * first that meets a stale entry. The alarm turns such a hang
         * into a failure. */
        alarm(CHILD_WATCHDOG_S);
        lc_page_write c = {2, (const uint8_t *)"child", 5};
        for (int round = 0; ok && round < CHILD_REOPEN_ROUNDS; round++) {
            lc_db *own = NULL;
            ok = lc_open(path, NULL, &own) == LC_OK && lc_commit_batch(own, &c, 1, NULL) == LC_OK &&
                 lc_close(own) == LC_OK;
        }
        if (!ok) {
            fprintf(stderr, "forked child: %s\n", lc_last_error());
            _exit(1);
        }
        /* Success ends in exec, not exit: what the parent's engine threads
         * held is unreachable here (fork copies no thread), so valgrind's
         * leak check at an exit would report as lost the memory the child
         * leaves alone on purpose; an exec'd program is not checked. */
        execl("/bin/sh", "sh", "-c", "exit 0", (char *)NULL);
        _exit(4);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    uint8_t buf[16];
    size_t len = 0;
    CHECK_ST(lc_txn_read(txn, 1, buf, sizeof buf, &len), LC_OK);
    CHECK(len == 6 && memcmp(buf, "parent", 6) == 0);
    lc_txn_abort(txn);
    CHECK_ST(lc_read(db, 2, buf, sizeof buf, &len), LC_OK);
    CHECK(len == 5 && memcmp(buf, "child", 5) == 0);
    CHECK_ST(lc_commit_batch(db, &w, 1, NULL), LC_OK);
    CHECK_ST(lc_checkpoint(db, NULL), LC_OK);
    CHECK_ST(lc_close(db), LC_OK);
}

int main(void) {
    /* A child that died early makes a write to its pipe fail, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    RUN(crash_then_reopen_replays_log);
    RUN(recover_offline_delete_after);
    RUN(busy_while_another_process_has_it_open);
    RUN(corrupt_record_then_skip_corrupt);
    RUN(forked_child_gets_closed);
    return check_finish("test_recovery");
}
