/*
 * test_operability.c - commit tickets and the durable watermark
 * (lc_commit_batch_sync, lc_txn_set_sync, lc_durable_seq, lc_wait_durable,
 * also from threads), lc_metrics_get with its size field, and the
 * per-segment recovery report after a torn tail. Good and bad input: NULL
 * pointers, bad lc_sync values, out-of-range indexes, small buffers.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "check.h"

#define WAIT_MS 30000u
#define BAD_SYNC ((lc_sync)3)

/* Opens `name` in the temp dir with `sync` and 64 KiB segments. */
static lc_db *open_sync(const char *name, lc_sync sync) {
    char path[512];
    check_path(path, sizeof path, name);
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_sync(o, sync), LC_OK);
    CHECK_ST(lc_options_set_segment_size_bytes(o, 65536), LC_OK);
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    lc_options_free(o);
    return db;
}

static uint64_t last_seq(lc_db *db) {
    lc_stats st;
    memset(&st, 0, sizeof st);
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    return st.last_commit_seq;
}

static uint64_t durable(lc_db *db) {
    uint64_t seq = 12345;
    CHECK_ST(lc_durable_seq(db, &seq), LC_OK);
    return seq;
}

static uint64_t histogram_count(const lc_histogram *h) {
    uint64_t n = 0;
    for (size_t i = 0; i < LC_HISTOGRAM_BUCKETS; i++) n += h->buckets[i];
    return n;
}

TEST(batch_sync_is_a_ticket) {
    lc_db *db = open_sync("ticket.db", LC_SYNC_FULL);
    if (db == NULL) return;
    lc_page_write w = {1, (const uint8_t *)"ticket", 6};
    uint64_t seq = 0;
    CHECK_ST(lc_commit_batch_sync(db, &w, 1, LC_SYNC_NORMAL, &seq), LC_OK);
    CHECK(seq == 1);
    bool ok = false;
    CHECK_ST(lc_wait_durable(db, seq, WAIT_MS, &ok), LC_OK);
    CHECK(ok);
    CHECK(durable(db) >= seq);
    uint8_t buf[16];
    size_t len = 0;
    CHECK_ST(lc_read(db, 1, buf, sizeof buf, &len), LC_OK);
    CHECK(len == 6 && memcmp(buf, "ticket", 6) == 0);

    /* Every mode works, out_seq may be NULL; FULL returns durable. */
    CHECK_ST(lc_commit_batch_sync(db, &w, 1, LC_SYNC_OFF, NULL), LC_OK);
    CHECK_ST(lc_commit_batch_sync(db, &w, 1, LC_SYNC_FULL, &seq), LC_OK);
    CHECK(seq == 3);
    CHECK(durable(db) >= 3);
    /* Already durable: a zero timeout answers at once; seq 0 is trivially durable. */
    ok = false;
    CHECK_ST(lc_wait_durable(db, 3, 0, &ok), LC_OK);
    CHECK(ok);
    ok = false;
    CHECK_ST(lc_wait_durable(db, 0, 0, &ok), LC_OK);
    CHECK(ok);

    /* Bad input: nothing is written, outputs are untouched. */
    seq = 777;
    CHECK_FAIL(lc_commit_batch_sync(db, &w, 1, BAD_SYNC, &seq), LC_INVALID_ARGUMENT);
    CHECK(strstr(lc_last_error(), "lc_commit_batch_sync") != NULL);
    CHECK_FAIL(lc_commit_batch_sync(db, &w, 1, (lc_sync)-1, &seq), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_commit_batch_sync(NULL, &w, 1, LC_SYNC_NORMAL, &seq), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_commit_batch_sync(db, NULL, 0, LC_SYNC_NORMAL, &seq), LC_INVALID_ARGUMENT);
    lc_page_write bad[2] = {{2, (const uint8_t *)"ok", 2}, {0, (const uint8_t *)"zero", 4}};
    CHECK_FAIL(lc_commit_batch_sync(db, bad, 2, LC_SYNC_NORMAL, &seq), LC_INVALID_ARGUMENT);
    CHECK(seq == 777);
    CHECK(last_seq(db) == 3);
    CHECK_ST(lc_read(db, 2, NULL, 0, &len), LC_NOT_FOUND);

    ok = true;
    CHECK_FAIL(lc_wait_durable(db, 100, 10, &ok), LC_INVALID_ARGUMENT); /* not handed out */
    CHECK(ok);
    CHECK_FAIL(lc_wait_durable(db, 1, 10, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_wait_durable(NULL, 1, 10, &ok), LC_INVALID_ARGUMENT);
    CHECK(ok);
    uint64_t d = 99;
    CHECK_FAIL(lc_durable_seq(NULL, &d), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_durable_seq(db, NULL), LC_INVALID_ARGUMENT);
    CHECK(d == 99);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(txn_set_sync_overrides_the_database) {
    lc_db *db = open_sync("normal.db", LC_SYNC_NORMAL);
    if (db == NULL) return;
    lc_page_write w = {1, (const uint8_t *)"relaxed", 7};
    uint64_t seq = 0;
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    CHECK(durable(db) == 0); /* NORMAL does not sync per commit */

    lc_txn *t = NULL;
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK_ST(lc_txn_write(t, 2, (const uint8_t *)"strict", 6), LC_OK);
    CHECK_FAIL(lc_txn_set_sync(t, BAD_SYNC), LC_INVALID_ARGUMENT);
    CHECK(strstr(lc_last_error(), "lc_txn_set_sync") != NULL);
    CHECK_FAIL(lc_txn_set_sync(t, (lc_sync)1000), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_txn_set_sync(t, LC_SYNC_OFF), LC_OK);
    CHECK_ST(lc_txn_set_sync(t, LC_SYNC_FULL), LC_OK); /* the last call wins */
    CHECK_ST(lc_txn_commit(t, &seq), LC_OK);
    CHECK(seq == 2);
    CHECK(durable(db) >= 2); /* a FULL commit returns durable */
    CHECK_FAIL(lc_txn_set_sync(NULL, LC_SYNC_FULL), LC_INVALID_ARGUMENT);

    /* A NORMAL ticket in a NORMAL database: waiting starts the flush. */
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    bool ok = false;
    CHECK_ST(lc_wait_durable(db, seq, WAIT_MS, &ok), LC_OK);
    CHECK(ok);
    CHECK(durable(db) >= seq);

    /* After close, a transaction's set_sync reports LC_CLOSED. */
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK_ST(lc_close(db), LC_OK);
    CHECK_FAIL(lc_txn_set_sync(t, LC_SYNC_FULL), LC_CLOSED);
    lc_txn_abort(t);
}

#define THREADS 4
#define PER_THREAD 15

struct waiter {
    lc_db *db;
    uint32_t first_pgno;
    int failures;
    uint64_t last;
};

/* Commits NORMAL tickets and waits for each one to become durable. */
static void *ticket_thread(void *arg) {
    struct waiter *w = arg;
    for (uint32_t i = 0; i < PER_THREAD; i++) {
        lc_page_write pw = {w->first_pgno + i, (const uint8_t *)"threaded", 8};
        uint64_t seq = 0;
        bool ok = false;
        if (lc_commit_batch_sync(w->db, &pw, 1, LC_SYNC_NORMAL, &seq) != LC_OK ||
            lc_wait_durable(w->db, seq, WAIT_MS, &ok) != LC_OK || !ok) {
            w->failures++;
            continue;
        }
        uint64_t d = 0;
        if (lc_durable_seq(w->db, &d) != LC_OK || d < seq) w->failures++;
        w->last = seq;
    }
    return NULL;
}

TEST(tickets_from_threads) {
    lc_db *db = open_sync("threads.db", LC_SYNC_FULL);
    if (db == NULL) return;
    pthread_t th[THREADS];
    struct waiter ws[THREADS];
    for (int i = 0; i < THREADS; i++) {
        ws[i] = (struct waiter){db, (uint32_t)(1 + i * PER_THREAD), 0, 0};
        CHECK(pthread_create(&th[i], NULL, ticket_thread, &ws[i]) == 0);
    }
    uint64_t max = 0;
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK(ws[i].failures == 0);
        if (ws[i].last > max) max = ws[i].last;
    }
    CHECK(max == THREADS * PER_THREAD);
    CHECK(last_seq(db) == THREADS * PER_THREAD);
    CHECK(durable(db) == THREADS * PER_THREAD);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(metrics_with_size_field) {
    lc_db *db = open_sync("metrics.db", LC_SYNC_FULL);
    if (db == NULL) return;
    for (uint32_t i = 1; i <= 10; i++) {
        lc_page_write w = {i, (const uint8_t *)"x", 1};
        CHECK_ST(lc_commit_batch(db, &w, 1, NULL), LC_OK);
    }
    lc_metrics m;
    memset(&m, 0xAB, sizeof m);
    m.size = sizeof m;
    CHECK_ST(lc_metrics_get(db, &m), LC_OK);
    CHECK(m.size == sizeof m);
    CHECK(histogram_count(&m.commit_latency_us) == 10);
    CHECK(m.commit_latency_us.sum > 0);
    CHECK(m.group_size.sum == 10); /* every commit made durable by some flush */
    CHECK(histogram_count(&m.flush_us) >= 1);
    CHECK(m.has_oldest_reader == 0);

    /* A reader at 10, then 3 more commits to pages it can see. */
    lc_txn *reader = NULL;
    CHECK_ST(lc_begin(db, &reader), LC_OK);
    for (uint32_t i = 1; i <= 3; i++) {
        lc_page_write w = {i, (const uint8_t *)"y", 1};
        CHECK_ST(lc_commit_batch(db, &w, 1, NULL), LC_OK);
    }
    m.size = sizeof m;
    CHECK_ST(lc_metrics_get(db, &m), LC_OK);
    CHECK(m.has_oldest_reader == 1);
    CHECK(m.oldest_reader_snapshot == 10);
    CHECK(m.oldest_reader_age_commits == 3);
    CHECK(m.oldest_reader_pinned_versions == 3);
    lc_txn_abort(reader);
    m.size = sizeof m;
    CHECK_ST(lc_metrics_get(db, &m), LC_OK);
    CHECK(m.has_oldest_reader == 0);

    /* An older, smaller struct: filled up to its size, nothing past it. */
    unsigned char raw[sizeof(lc_metrics) + 64];
    memset(raw, 0xCD, sizeof raw);
    uint32_t old_size = (uint32_t)offsetof(lc_metrics, group_size);
    memcpy(raw, &old_size, sizeof old_size);
    CHECK_ST(lc_metrics_get(db, (lc_metrics *)(void *)raw), LC_OK);
    uint32_t got_size = 0;
    memcpy(&got_size, raw, sizeof got_size);
    CHECK(got_size == old_size);
    lc_histogram latency;
    memcpy(&latency, raw + offsetof(lc_metrics, commit_latency_us), sizeof latency);
    CHECK(histogram_count(&latency) == 13);
    int untouched = 1;
    for (size_t i = old_size; i < sizeof raw; i++) untouched &= raw[i] == 0xCD;
    CHECK(untouched);

    /* A newer, larger struct: the library fills its own size and says so. */
    memset(raw, 0xCD, sizeof raw);
    uint32_t new_size = (uint32_t)sizeof raw;
    memcpy(raw, &new_size, sizeof new_size);
    CHECK_ST(lc_metrics_get(db, (lc_metrics *)(void *)raw), LC_OK);
    memcpy(&got_size, raw, sizeof got_size);
    CHECK(got_size == sizeof(lc_metrics));
    untouched = 1;
    for (size_t i = sizeof(lc_metrics); i < sizeof raw; i++) untouched &= raw[i] == 0xCD;
    CHECK(untouched);

    /* Bad input: size not set, NULLs; nothing written. */
    memset(&m, 0, sizeof m);
    CHECK_FAIL(lc_metrics_get(db, &m), LC_INVALID_ARGUMENT);
    CHECK(strstr(lc_last_error(), "size") != NULL);
    m.size = 7;
    CHECK_FAIL(lc_metrics_get(db, &m), LC_INVALID_ARGUMENT);
    CHECK(m.size == 7 && m.has_oldest_reader == 0);
    CHECK_FAIL(lc_metrics_get(db, NULL), LC_INVALID_ARGUMENT);
    m.size = sizeof m;
    CHECK_FAIL(lc_metrics_get(NULL, &m), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(segments_of_a_new_database) {
    lc_db *db = open_sync("fresh.db", LC_SYNC_OFF);
    if (db == NULL) return;
    size_t n = 99;
    CHECK_ST(lc_recovery_segment_count(db, &n), LC_OK);
    CHECK(n == 0);
    lc_segment_report s;
    memset(&s, 0x11, sizeof s);
    lc_segment_report before = s;
    CHECK_FAIL(lc_recovery_segment(db, 0, &s), LC_INVALID_ARGUMENT);
    CHECK(memcmp(&s, &before, sizeof s) == 0);
    size_t len = 0;
    CHECK_FAIL(lc_recovery_segment_path(db, 0, NULL, 0, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_detail(db, 0, NULL, 0, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_count(NULL, &n), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_count(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

/* Forks a child that opens `path` (sync FULL, 64 KiB segments), commits
 * pages 1..n (100 bytes each) one per batch, and dies by SIGKILL. */
static void crash_after_commits(const char *name, uint32_t n) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        lc_db *db = open_sync(name, LC_SYNC_FULL);
        uint8_t img[100];
        for (uint32_t i = 1; i <= n; i++) {
            memset(img, (int)(0xA0 + i), sizeof img);
            lc_page_write w = {i, img, sizeof img};
            if (db == NULL || lc_commit_batch(db, &w, 1, NULL) != LC_OK) _exit(3);
        }
        kill(getpid(), SIGKILL);
        _exit(4);
    }
    int status = 0;
    CHECK(pid > 0);
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

/* The offset of the last non-zero byte of `path`, 0 if none or unreadable. */
static long last_nonzero(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    long last = 0, at = 0;
    int c;
    while ((c = fgetc(f)) != EOF) {
        if (c != 0) last = at;
        at++;
    }
    fclose(f);
    return last;
}

/* Zeroes the last `n` bytes of data of the segment with the most data, as a
 * crash in the middle of a write leaves it. Returns 1 on success. */
static int tear_tail(const char *prefix, long n) {
    char best[1024] = "";
    long best_end = 0;
    DIR *dir = opendir(check_tmp());
    if (dir == NULL) return 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", check_tmp(), e->d_name);
        long end = last_nonzero(path);
        if (end > best_end) {
            best_end = end;
            snprintf(best, sizeof best, "%s", path);
        }
    }
    closedir(dir);
    if (best_end < 4096 + n) return 0;
    int fd = open(best, O_WRONLY);
    if (fd < 0) return 0;
    static const uint8_t zeros[4096];
    int ok = pwrite(fd, zeros, (size_t)n + 1, (off_t)(best_end - n)) == n + 1;
    close(fd);
    return ok;
}

TEST(segments_after_a_torn_tail) {
    char path[512];
    check_path(path, sizeof path, "torn.db");
    crash_after_commits("torn.db", 20);
    CHECK(tear_tail("torn.db-wal-seg-", 60));

    lc_db *db = open_sync("torn.db", LC_SYNC_FULL);
    if (db == NULL) return;
    lc_recovery_report r;
    memset(&r, 0, sizeof r);
    CHECK_ST(lc_last_recovery(db, &r), LC_OK);
    CHECK(r.last_commit_seq == 19); /* the torn last commit is cut */
    CHECK(r.partial_segments == 0); /* a torn tail is not corruption */

    size_t n = 0;
    CHECK_ST(lc_recovery_segment_count(db, &n), LC_OK);
    CHECK(n >= 1);
    int torn = 0;
    uint64_t kept = 0;
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s-wal-seg-", path);
    for (size_t i = 0; i < n; i++) {
        lc_segment_report s;
        memset(&s, 0, sizeof s);
        CHECK_ST(lc_recovery_segment(db, i, &s), LC_OK);
        kept += s.frames_kept;
        CHECK(s.reason == LC_DROP_NONE || s.reason == LC_DROP_TORN_TAIL);
        CHECK(s.epoch_min <= s.epoch_max);
        if (s.reason == LC_DROP_TORN_TAIL) CHECK(s.frames_dropped >= 1);

        /* The path: ask for the size, then read it NUL-terminated. */
        size_t need = 0;
        CHECK_ST(lc_recovery_segment_path(db, i, NULL, 0, &need), LC_BUFFER_TOO_SMALL);
        CHECK(need == strlen(prefix) + 16 + 1);
        char *name = malloc(need);
        size_t len = 0;
        memset(name, 'Z', need);
        CHECK_ST(lc_recovery_segment_path(db, i, (uint8_t *)name, need - 1, &len), LC_BUFFER_TOO_SMALL);
        CHECK(len == need && name[0] == 'Z'); /* buf untouched */
        CHECK_ST(lc_recovery_segment_path(db, i, (uint8_t *)name, need, &len), LC_OK);
        CHECK(len == need - 1 && name[len] == '\0' && strlen(name) == len);
        CHECK(strncmp(name, prefix, strlen(prefix)) == 0);
        free(name);

        char detail[256];
        memset(detail, 'Z', sizeof detail);
        CHECK_ST(lc_recovery_segment_detail(db, i, (uint8_t *)detail, sizeof detail, &len), LC_OK);
        CHECK(strlen(detail) == len);
        if (s.reason == LC_DROP_TORN_TAIL) {
            torn++;
            CHECK(strcmp(detail, "torn tail") == 0);
        } else {
            CHECK(len == 0);
        }
    }
    CHECK(torn == 1);
    CHECK(kept >= 19 * 2); /* a page frame and a commit frame per commit */

    /* Bad input. */
    lc_segment_report s;
    size_t len = 0;
    char buf[8];
    CHECK_FAIL(lc_recovery_segment(db, n, &s), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment(db, 0, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment(NULL, 0, &s), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_path(db, n, (uint8_t *)buf, sizeof buf, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_path(db, 0, NULL, 5, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_path(db, 0, (uint8_t *)buf, sizeof buf, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_path(NULL, 0, (uint8_t *)buf, sizeof buf, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_detail(db, 0, NULL, 5, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_detail(db, 0, (uint8_t *)buf, sizeof buf, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recovery_segment_detail(NULL, 0, (uint8_t *)buf, sizeof buf, &len), LC_INVALID_ARGUMENT);

    /* The database goes on from the recovered prefix. */
    uint64_t seq = 0;
    lc_page_write w = {50, (const uint8_t *)"after", 5};
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    CHECK(seq == 20);
    CHECK_ST(lc_close(db), LC_OK);
}

int main(void) {
    RUN(batch_sync_is_a_ticket);
    RUN(txn_set_sync_overrides_the_database);
    RUN(tickets_from_threads);
    RUN(metrics_with_size_field);
    RUN(segments_of_a_new_database);
    RUN(segments_after_a_torn_tail);
    return check_finish("test_operability");
}
