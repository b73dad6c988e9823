/*
 * test_api.c - every libcommit C function and status, with good and bad
 * input, in one process. Run under valgrind by tests/c/run.sh.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "check.h"

#define PAGE 4096

/* Opens `name` in the temp dir with sync OFF (fast) unless opts given. */
static lc_db *open_db(const char *name, const lc_options *opts) {
    char path[512];
    check_path(path, sizeof path, name);
    lc_db *db = NULL;
    lc_options *local = NULL;
    if (opts == NULL) {
        CHECK_ST(lc_options_new(&local), LC_OK);
        CHECK_ST(lc_options_set_sync(local, LC_SYNC_OFF), LC_OK);
        opts = local;
    }
    CHECK_ST(lc_open(path, opts, &db), LC_OK);
    lc_options_free(local);
    CHECK(db != NULL);
    return db;
}

static uint64_t put(lc_db *db, uint32_t pgno, const char *text) {
    lc_page_write w = {pgno, (const uint8_t *)text, strlen(text)};
    uint64_t seq = 0;
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    return seq;
}

/* True if page `pgno` reads back as exactly `text`. */
static int page_is(lc_db *db, uint32_t pgno, const char *text) {
    uint8_t buf[PAGE];
    size_t len = 12345;
    if (lc_read(db, pgno, buf, sizeof buf, &len) != LC_OK) return 0;
    return len == strlen(text) && memcmp(buf, text, len) == 0;
}

static int txn_page_is(lc_txn *txn, uint32_t pgno, const char *text) {
    uint8_t buf[PAGE];
    size_t len = 12345;
    if (lc_txn_read(txn, pgno, buf, sizeof buf, &len) != LC_OK) return 0;
    return len == strlen(text) && memcmp(buf, text, len) == 0;
}

static uint64_t last_seq(lc_db *db) {
    lc_stats st;
    memset(&st, 0, sizeof st);
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    return st.last_commit_seq;
}

TEST(version_matches_macros) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", LC_VERSION_MAJOR, LC_VERSION_MINOR, LC_VERSION_PATCH);
    CHECK(lc_version() != NULL);
    CHECK(strcmp(lc_version(), want) == 0);
}

TEST(status_strings) {
    const char *seen[13];
    for (int s = LC_OK; s <= LC_FENCED; s++) {
        const char *text = lc_status_str((lc_status)s);
        CHECK(text != NULL && text[0] != '\0');
        CHECK(strcmp(text, "unknown status") != 0);
        for (int t = 0; t < s; t++) CHECK(strcmp(seen[t], text) != 0);
        seen[s] = text;
    }
    CHECK(strcmp(lc_status_str((lc_status)13), "unknown status") == 0);
    CHECK(strcmp(lc_status_str((lc_status)999), "unknown status") == 0);
    CHECK(strcmp(lc_status_str((lc_status)-1), "unknown status") == 0);
    CHECK(LC_OK == 0 && LC_NOT_FOUND == 1 && LC_CONFLICT == 2 && LC_BUSY == 3);
    CHECK(LC_CORRUPT == 4 && LC_IO == 5 && LC_INVALID_ARGUMENT == 6);
    CHECK(LC_BUFFER_TOO_SMALL == 7 && LC_CLOSED == 8 && LC_READ_ONLY == 9);
    CHECK(LC_FULL == 10 && LC_INTERNAL == 11);
    CHECK(LC_RECOVER_SKIP_CORRUPT == 1u && LC_RECOVER_DELETE_AFTER == 2u);
}

/* In a fresh thread: "" before any failure, set by a failure, and left
 * alone by NOT_FOUND / BUFFER_TOO_SMALL and by successful calls. */
static void *last_error_thread(void *arg) {
    lc_db *db = arg;
    CHECK(strcmp(lc_last_error(), "") == 0);
    size_t len;
    CHECK_ST(lc_read(db, 77, NULL, 0, &len), LC_NOT_FOUND);
    CHECK(strcmp(lc_last_error(), "") == 0);
    CHECK_ST(lc_read(db, 1, NULL, 0, &len), LC_BUFFER_TOO_SMALL);
    CHECK(strcmp(lc_last_error(), "") == 0);
    CHECK_ST(lc_read(db, 0, NULL, 0, &len), LC_INVALID_ARGUMENT);
    CHECK(strstr(lc_last_error(), "lc_read") != NULL);
    CHECK_ST(lc_options_new(NULL), LC_INVALID_ARGUMENT);
    CHECK(strstr(lc_last_error(), "lc_options_new") != NULL);
    CHECK(strstr(lc_last_error(), "out") != NULL);
    return NULL;
}

TEST(last_error_is_per_thread) {
    lc_db *db = open_db("lasterr.db", NULL);
    put(db, 1, "x");
    CHECK_ST(lc_open(NULL, NULL, NULL), LC_INVALID_ARGUMENT);
    const char *mine = lc_last_error();
    CHECK(strstr(mine, "lc_open") != NULL);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, last_error_thread, db) == 0);
    pthread_join(t, NULL);
    /* The other thread's failures did not touch this thread's message. */
    CHECK(strstr(lc_last_error(), "lc_open") != NULL);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(options_setters) {
    lc_options *o = NULL;
    CHECK_FAIL(lc_options_new(NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK(o != NULL);

    CHECK_ST(lc_options_set_page_size(o, 512), LC_OK);
    CHECK_ST(lc_options_set_page_size(o, 65536), LC_OK);
    CHECK_ST(lc_options_set_page_size(o, 4096), LC_OK);
    CHECK_FAIL(lc_options_set_page_size(o, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_page_size(o, 256), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_page_size(o, 3000), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_page_size(o, 131072), LC_INVALID_ARGUMENT);

    CHECK_ST(lc_options_set_sync(o, LC_SYNC_FULL), LC_OK);
    CHECK_ST(lc_options_set_sync(o, LC_SYNC_NORMAL), LC_OK);
    CHECK_ST(lc_options_set_sync(o, LC_SYNC_OFF), LC_OK);
    CHECK_FAIL(lc_options_set_sync(o, (lc_sync)3), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_sync(o, (lc_sync)-1), LC_INVALID_ARGUMENT);

    CHECK_ST(lc_options_set_commit_mode(o, LC_MODE_WAL), LC_OK);
    CHECK_ST(lc_options_set_commit_mode(o, LC_MODE_NATIVE), LC_OK);
    CHECK_FAIL(lc_options_set_commit_mode(o, (lc_commit_mode)2), LC_INVALID_ARGUMENT);

    CHECK_ST(lc_options_set_isolation(o, LC_ISOLATION_SNAPSHOT), LC_OK);
    CHECK_ST(lc_options_set_isolation(o, LC_ISOLATION_SERIALIZABLE), LC_OK);
    CHECK_FAIL(lc_options_set_isolation(o, (lc_isolation)7), LC_INVALID_ARGUMENT);

    CHECK_ST(lc_options_set_lanes(o, 0), LC_OK);
    CHECK_ST(lc_options_set_lanes(o, 4), LC_OK);
    CHECK_FAIL(lc_options_set_lanes(o, 100000), LC_INVALID_ARGUMENT);

    CHECK_ST(lc_options_set_max_flush_delay_us(o, 0), LC_OK);
    CHECK_ST(lc_options_set_max_flush_delay_us(o, 100), LC_OK);
    CHECK_FAIL(lc_options_set_max_flush_delay_us(o, 4000000000u), LC_INVALID_ARGUMENT);

    CHECK_ST(lc_options_set_busy_timeout_ms(o, 0), LC_OK);
    CHECK_ST(lc_options_set_busy_timeout_ms(o, 5000), LC_OK);
    CHECK_ST(lc_options_set_read_only(o, true), LC_OK);
    CHECK_ST(lc_options_set_read_only(o, false), LC_OK);

    CHECK_ST(lc_options_set_segment_size_bytes(o, 1u << 20), LC_OK);
    CHECK_FAIL(lc_options_set_segment_size_bytes(o, 1000), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_options_set_checkpoint_threshold_bytes(o, 0), LC_OK);

    CHECK_ST(lc_options_set_replica_snapshot_interval_ms(o, 0), LC_OK);
    CHECK_ST(lc_options_set_replica_retention(o, 1, 0, 0), LC_OK);
    CHECK_ST(lc_options_set_replica_retention(o, 3, 86400000u, 600000u), LC_OK);
    CHECK_FAIL(lc_options_set_replica_retention(o, 0, 0, 0), LC_INVALID_ARGUMENT);

    /* NULL options everywhere. */
    CHECK_FAIL(lc_options_set_page_size(NULL, 4096), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_sync(NULL, LC_SYNC_FULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_commit_mode(NULL, LC_MODE_WAL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_isolation(NULL, LC_ISOLATION_SNAPSHOT), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_lanes(NULL, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_max_flush_delay_us(NULL, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_busy_timeout_ms(NULL, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_read_only(NULL, false), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_segment_size_bytes(NULL, 1u << 20), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_checkpoint_threshold_bytes(NULL, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_replica_snapshot_interval_ms(NULL, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_replica_retention(NULL, 1, 0, 0), LC_INVALID_ARGUMENT);

    lc_options_free(o);
    lc_options_free(NULL);
}

TEST(open_bad_arguments) {
    char path[512];
    check_path(path, sizeof path, "badargs.db");
    lc_db *sentinel = (lc_db *)(uintptr_t)0x1234;
    lc_db *db = sentinel;
    CHECK_FAIL(lc_open(NULL, NULL, &db), LC_INVALID_ARGUMENT);
    CHECK(db == sentinel);
    CHECK_FAIL(lc_open(path, NULL, NULL), LC_INVALID_ARGUMENT);
    CHECK(!check_exists(path));
    CHECK_FAIL(lc_open("", NULL, &db), LC_INVALID_ARGUMENT);
    CHECK(db == sentinel);
    CHECK_ST(lc_close(NULL), LC_OK);
}

TEST(open_missing_directory) {
    char path[512];
    check_path(path, sizeof path, "no-such-dir/sub/x.db");
    lc_db *sentinel = (lc_db *)(uintptr_t)0x1234;
    lc_db *db = sentinel;
    lc_status st = lc_open(path, NULL, &db);
    CHECK(st != LC_OK);
    CHECK(st == LC_IO);
    CHECK(db == sentinel);
    CHECK(lc_last_error()[0] != '\0');
    CHECK(strstr(lc_last_error(), "lc_open") != NULL);
}

TEST(open_non_database_file_untouched) {
    char path[512], side[600];
    check_path(path, sizeof path, "not-a-db.txt");
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (char)("this is not a database\n"[i % 23]);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f == NULL) return;
    fwrite(junk, 1, sizeof junk, f);
    fclose(f);

    lc_db *db = NULL;
    CHECK_FAIL(lc_open(path, NULL, &db), LC_CORRUPT);
    CHECK(db == NULL);

    char back[sizeof junk + 1];
    f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f == NULL) return;
    size_t n = fread(back, 1, sizeof back, f);
    fclose(f);
    CHECK(n == sizeof junk);
    CHECK(memcmp(back, junk, sizeof junk) == 0);
    snprintf(side, sizeof side, "%s-shm", path);
    CHECK(!check_exists(side));
    snprintf(side, sizeof side, "%s-wal-seg-0000000000000001", path);
    CHECK(!check_exists(side));
}

TEST(batch_and_read) {
    lc_db *db = open_db("batch.db", NULL);
    uint64_t s1 = put(db, 1, "hello");
    uint64_t s2 = put(db, 2, "world");
    CHECK(s1 == 1);
    CHECK(s2 == 2);
    CHECK(page_is(db, 1, "hello"));
    CHECK(page_is(db, 2, "world"));

    /* Several entries, one of them a delete, in one commit. */
    lc_page_write ws[3] = {
        {3, (const uint8_t *)"three", 5},
        {1, NULL, 0},
        {4294967295u, (const uint8_t *)"last page", 9},
    };
    uint64_t s3 = 0;
    CHECK_ST(lc_commit_batch(db, ws, 3, &s3), LC_OK);
    CHECK(s3 == 3);
    size_t len = 99;
    CHECK_ST(lc_read(db, 1, NULL, 0, &len), LC_NOT_FOUND);
    CHECK(len == 99);
    CHECK(page_is(db, 3, "three"));
    CHECK(page_is(db, 4294967295u, "last page"));
    CHECK_ST(lc_read(db, 5, NULL, 0, &len), LC_NOT_FOUND);

    /* out_commit_seq may be NULL. */
    lc_page_write w = {6, (const uint8_t *)"six", 3};
    CHECK_ST(lc_commit_batch(db, &w, 1, NULL), LC_OK);
    CHECK(last_seq(db) == 4);

    /* An empty image is found, with length 0. */
    uint8_t empty_src = 0;
    lc_page_write e = {7, &empty_src, 0};
    CHECK_ST(lc_commit_batch(db, &e, 1, NULL), LC_OK);
    uint8_t buf[16];
    len = 99;
    CHECK_ST(lc_read(db, 7, buf, sizeof buf, &len), LC_OK);
    CHECK(len == 0);
    len = 99;
    CHECK_ST(lc_read(db, 7, NULL, 0, &len), LC_OK);
    CHECK(len == 0);

    /* A full page. */
    static uint8_t full[PAGE], back[PAGE];
    for (size_t i = 0; i < PAGE; i++) full[i] = (uint8_t)(i * 7 + 3);
    lc_page_write fw = {8, full, PAGE};
    CHECK_ST(lc_commit_batch(db, &fw, 1, NULL), LC_OK);
    CHECK_ST(lc_read(db, 8, back, sizeof back, &len), LC_OK);
    CHECK(len == PAGE && memcmp(full, back, PAGE) == 0);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(read_buffer_rules) {
    lc_db *db = open_db("readbuf.db", NULL);
    put(db, 1, "0123456789");
    uint8_t buf[32];
    memset(buf, 0xEE, sizeof buf);
    size_t len = 0;
    /* Length query. */
    CHECK_ST(lc_read(db, 1, NULL, 0, &len), LC_BUFFER_TOO_SMALL);
    CHECK(len == 10);
    /* Too small: buf untouched, len = needed. */
    len = 0;
    CHECK_ST(lc_read(db, 1, buf, 9, &len), LC_BUFFER_TOO_SMALL);
    CHECK(len == 10);
    CHECK(buf[0] == 0xEE);
    /* Exact fit. */
    CHECK_ST(lc_read(db, 1, buf, 10, &len), LC_OK);
    CHECK(len == 10 && memcmp(buf, "0123456789", 10) == 0);
    CHECK(buf[10] == 0xEE);
    /* Bad arguments: nothing written. */
    len = 77;
    CHECK_FAIL(lc_read(db, 1, NULL, 10, &len), LC_INVALID_ARGUMENT);
    CHECK(len == 77);
    CHECK_FAIL(lc_read(db, 1, buf, sizeof buf, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_read(db, 0, buf, sizeof buf, &len), LC_INVALID_ARGUMENT);
    CHECK(len == 77);
    CHECK_FAIL(lc_read(NULL, 1, buf, sizeof buf, &len), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(batch_bad_input_writes_nothing) {
    lc_db *db = open_db("badbatch.db", NULL);
    put(db, 1, "keep");
    uint64_t before = last_seq(db);
    static uint8_t big[PAGE + 1];
    uint64_t seq = 4242;

    lc_page_write zero[2] = {{2, (const uint8_t *)"a", 1}, {0, (const uint8_t *)"b", 1}};
    CHECK_FAIL(lc_commit_batch(db, zero, 2, &seq), LC_INVALID_ARGUMENT);
    lc_page_write over[2] = {{3, (const uint8_t *)"a", 1}, {4, big, sizeof big}};
    CHECK_FAIL(lc_commit_batch(db, over, 2, &seq), LC_INVALID_ARGUMENT);
    lc_page_write del0[2] = {{5, (const uint8_t *)"a", 1}, {0, NULL, 0}};
    CHECK_FAIL(lc_commit_batch(db, del0, 2, &seq), LC_INVALID_ARGUMENT);
    CHECK(seq == 4242);

    size_t len;
    CHECK_ST(lc_read(db, 2, NULL, 0, &len), LC_NOT_FOUND);
    CHECK_ST(lc_read(db, 3, NULL, 0, &len), LC_NOT_FOUND);
    CHECK_ST(lc_read(db, 5, NULL, 0, &len), LC_NOT_FOUND);
    CHECK(page_is(db, 1, "keep"));
    CHECK(last_seq(db) == before);

    CHECK_FAIL(lc_commit_batch(db, NULL, 1, &seq), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_commit_batch(db, NULL, 0, &seq), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_commit_batch(NULL, zero, 1, &seq), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_commit_batch(db, zero, SIZE_MAX, &seq), LC_INVALID_ARGUMENT);
    CHECK(seq == 4242);
    CHECK(last_seq(db) == before);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(page_size_option) {
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_page_size(o, 512), LC_OK);
    CHECK_ST(lc_options_set_sync(o, LC_SYNC_OFF), LC_OK);
    lc_db *db = open_db("small-pages.db", o);
    lc_options_free(o);
    uint32_t ps = 0;
    CHECK_ST(lc_page_size(db, &ps), LC_OK);
    CHECK(ps == 512);
    CHECK_FAIL(lc_page_size(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_page_size(NULL, &ps), LC_INVALID_ARGUMENT);
    static uint8_t img[513];
    lc_page_write ok = {1, img, 512}, bad = {2, img, 513};
    CHECK_ST(lc_commit_batch(db, &ok, 1, NULL), LC_OK);
    CHECK_FAIL(lc_commit_batch(db, &bad, 1, NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(transactions) {
    lc_db *db = open_db("txn.db", NULL);
    put(db, 1, "one");
    lc_txn *t = NULL;
    CHECK_ST(lc_begin(db, &t), LC_OK);
    uint64_t snap = 0;
    CHECK_ST(lc_txn_snapshot(t, &snap), LC_OK);
    CHECK(snap == 1);
    CHECK(txn_page_is(t, 1, "one"));

    /* Own writes and deletes are visible inside, not outside. */
    CHECK_ST(lc_txn_write(t, 2, (const uint8_t *)"two", 3), LC_OK);
    CHECK_ST(lc_txn_delete(t, 1), LC_OK);
    CHECK(txn_page_is(t, 2, "two"));
    size_t len = 5;
    CHECK_ST(lc_txn_read(t, 1, NULL, 0, &len), LC_NOT_FOUND);
    CHECK(page_is(db, 1, "one"));
    CHECK_ST(lc_read(db, 2, NULL, 0, &len), LC_NOT_FOUND);

    /* Snapshot isolation: a later batch is invisible to the txn. */
    put(db, 3, "three");
    CHECK_ST(lc_txn_read(t, 3, NULL, 0, &len), LC_NOT_FOUND);
    CHECK_ST(lc_txn_read(t, 2, NULL, 0, &len), LC_BUFFER_TOO_SMALL);
    CHECK(len == 3);

    uint64_t seq = 0;
    CHECK_ST(lc_txn_commit(t, &seq), LC_OK);
    CHECK(seq == 3);
    CHECK(page_is(db, 2, "two"));
    CHECK_ST(lc_read(db, 1, NULL, 0, &len), LC_NOT_FOUND);

    /* A read-only transaction commits nothing. */
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK(txn_page_is(t, 3, "three"));
    CHECK_ST(lc_txn_commit(t, NULL), LC_OK);
    CHECK(last_seq(db) == 3);

    /* Abort discards. */
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK_ST(lc_txn_write(t, 9, (const uint8_t *)"nine", 4), LC_OK);
    lc_txn_abort(t);
    CHECK_ST(lc_read(db, 9, NULL, 0, &len), LC_NOT_FOUND);
    lc_txn_abort(NULL);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(transaction_bad_input) {
    lc_db *db = open_db("txnbad.db", NULL);
    lc_txn *t = NULL;
    CHECK_FAIL(lc_begin(NULL, &t), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_begin(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_begin(db, &t), LC_OK);
    static uint8_t big[PAGE + 1];
    uint8_t buf[8];
    size_t len = 0;
    uint64_t snap = 0;
    CHECK_FAIL(lc_txn_write(t, 0, (const uint8_t *)"x", 1), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_write(t, 1, big, sizeof big), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_write(t, 1, NULL, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_write(t, 1, NULL, 5), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_write(NULL, 1, (const uint8_t *)"x", 1), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_delete(t, 0), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_delete(NULL, 1), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_read(t, 0, buf, sizeof buf, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_read(t, 1, NULL, 4, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_read(t, 1, buf, sizeof buf, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_read(NULL, 1, buf, sizeof buf, &len), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_snapshot(NULL, &snap), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_snapshot(t, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_txn_commit(NULL, NULL), LC_INVALID_ARGUMENT);
    /* The transaction is still usable after those rejections. */
    CHECK_ST(lc_txn_write(t, 1, (const uint8_t *)"fine", 4), LC_OK);
    CHECK_ST(lc_txn_commit(t, NULL), LC_OK);
    CHECK(page_is(db, 1, "fine"));
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(conflicts) {
    lc_db *db = open_db("conflict.db", NULL);
    put(db, 1, "base");
    lc_txn *a = NULL, *b = NULL;
    CHECK_ST(lc_begin(db, &a), LC_OK);
    CHECK_ST(lc_begin(db, &b), LC_OK);
    CHECK_ST(lc_txn_write(a, 1, (const uint8_t *)"from a", 6), LC_OK);
    CHECK_ST(lc_txn_write(b, 1, (const uint8_t *)"from b", 6), LC_OK);
    CHECK_ST(lc_txn_write(b, 2, (const uint8_t *)"b only", 6), LC_OK);
    uint64_t seq = 0;
    CHECK_ST(lc_txn_commit(a, &seq), LC_OK);
    uint64_t seq_b = 777;
    CHECK_FAIL(lc_txn_commit(b, &seq_b), LC_CONFLICT); /* b is consumed */
    CHECK(seq_b == 777);
    CHECK(strstr(lc_last_error(), "lc_txn_commit") != NULL);
    CHECK(page_is(db, 1, "from a"));
    size_t len;
    CHECK_ST(lc_read(db, 2, NULL, 0, &len), LC_NOT_FOUND);

    /* A blind batch after the snapshot also conflicts with a txn write. */
    CHECK_ST(lc_begin(db, &a), LC_OK);
    CHECK_ST(lc_txn_write(a, 1, (const uint8_t *)"late", 4), LC_OK);
    put(db, 1, "batch");
    CHECK_ST(lc_txn_commit(a, NULL), LC_CONFLICT);

    /* Under SNAPSHOT, reads are not validated. */
    CHECK_ST(lc_begin(db, &a), LC_OK);
    CHECK(txn_page_is(a, 1, "batch"));
    CHECK_ST(lc_txn_write(a, 3, (const uint8_t *)"x", 1), LC_OK);
    put(db, 1, "again");
    CHECK_ST(lc_txn_commit(a, NULL), LC_OK);

    lc_stats st;
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.conflicts == 2);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(serializable_read_conflict) {
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_isolation(o, LC_ISOLATION_SERIALIZABLE), LC_OK);
    CHECK_ST(lc_options_set_sync(o, LC_SYNC_OFF), LC_OK);
    lc_db *db = open_db("serial.db", o);
    lc_options_free(o);
    put(db, 1, "x");
    lc_txn *t = NULL;
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK(txn_page_is(t, 1, "x"));
    CHECK_ST(lc_txn_write(t, 2, (const uint8_t *)"y", 1), LC_OK);
    put(db, 1, "changed");
    CHECK_FAIL(lc_txn_commit(t, NULL), LC_CONFLICT);
    size_t len;
    CHECK_ST(lc_read(db, 2, NULL, 0, &len), LC_NOT_FOUND);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(txn_after_close_is_closed) {
    lc_db *db = open_db("closed.db", NULL);
    put(db, 1, "one");
    lc_txn *t1 = NULL, *t2 = NULL, *t3 = NULL;
    CHECK_ST(lc_begin(db, &t1), LC_OK);
    CHECK_ST(lc_begin(db, &t2), LC_OK);
    CHECK_ST(lc_begin(db, &t3), LC_OK);
    CHECK_ST(lc_txn_write(t2, 2, (const uint8_t *)"two", 3), LC_OK);
    CHECK_ST(lc_close(db), LC_OK); /* db is freed; the txns keep what they need */

    uint8_t buf[16];
    size_t len = 0;
    uint64_t snap = 0;
    CHECK_FAIL(lc_txn_read(t1, 1, buf, sizeof buf, &len), LC_CLOSED);
    CHECK_FAIL(lc_txn_write(t1, 1, (const uint8_t *)"x", 1), LC_CLOSED);
    CHECK_FAIL(lc_txn_delete(t1, 1), LC_CLOSED);
    CHECK_FAIL(lc_txn_snapshot(t1, &snap), LC_CLOSED);
    CHECK(strstr(lc_last_error(), "closed") != NULL);
    uint64_t seq = 55;
    CHECK_FAIL(lc_txn_commit(t2, &seq), LC_CLOSED); /* consumed */
    CHECK(seq == 55);
    CHECK_FAIL(lc_txn_commit(t3, NULL), LC_CLOSED);
    lc_txn_abort(t1);

    /* Nothing of t2 reached the database. */
    db = open_db("closed.db", NULL);
    CHECK(page_is(db, 1, "one"));
    CHECK_ST(lc_read(db, 2, NULL, 0, &len), LC_NOT_FOUND);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(read_only) {
    lc_db *db = open_db("ro.db", NULL);
    put(db, 1, "data");
    CHECK_ST(lc_close(db), LC_OK);

    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_read_only(o, true), LC_OK);
    db = open_db("ro.db", o);
    CHECK(page_is(db, 1, "data"));
    lc_page_write w = {2, (const uint8_t *)"no", 2};
    CHECK_FAIL(lc_commit_batch(db, &w, 1, NULL), LC_READ_ONLY);
    lc_txn *t = NULL;
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK(txn_page_is(t, 1, "data"));
    lc_status st = lc_txn_write(t, 2, (const uint8_t *)"no", 2);
    if (st == LC_OK) {
        CHECK_FAIL(lc_txn_commit(t, NULL), LC_READ_ONLY);
    } else {
        CHECK_ST(st, LC_READ_ONLY);
        lc_txn_abort(t);
    }
    CHECK_ST(lc_close(db), LC_OK);

    /* A read-only open never creates a database. */
    char path[512];
    check_path(path, sizeof path, "ro-missing.db");
    lc_db *none = NULL;
    CHECK(lc_open(path, o, &none) != LC_OK);
    CHECK(none == NULL);
    CHECK(!check_exists(path));
    lc_options_free(o);
}

TEST(checkpoint_and_stats) {
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_sync(o, LC_SYNC_FULL), LC_OK);
    lc_db *db = open_db("ckpt.db", o);
    lc_options_free(o);
    for (uint32_t i = 1; i <= 20; i++) put(db, i, "page image");
    lc_stats st;
    memset(&st, 0xAB, sizeof st);
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.commits == 20);
    CHECK(st.conflicts == 0);
    CHECK(st.last_commit_seq == 20);
    CHECK(st.durable_commit_seq == 20);
    CHECK(st.syncs >= 1);
    CHECK(st.bytes_logged > 0);
    CHECK(st.active_readers == 0);

    lc_txn *t = NULL;
    CHECK_ST(lc_begin(db, &t), LC_OK);
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.active_readers == 1);
    lc_txn_abort(t);

    lc_checkpoint_report r;
    memset(&r, 0, sizeof r);
    CHECK_ST(lc_checkpoint(db, &r), LC_OK);
    CHECK(r.checkpoint_seq == 20);
    CHECK(r.pages_written >= 1);
    CHECK_ST(lc_checkpoint(db, NULL), LC_OK);
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.checkpoint_seq == 20);
    for (uint32_t i = 1; i <= 20; i++) CHECK(page_is(db, i, "page image"));
    /* Commits go on after a checkpoint with the next seq. */
    CHECK(put(db, 21, "after") == 21);

    CHECK_FAIL(lc_checkpoint(NULL, &r), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_stats_get(NULL, &st), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_stats_get(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(reopen_keeps_data_and_seq) {
    lc_db *db = open_db("reopen.db", NULL);
    for (uint32_t i = 1; i <= 5; i++) put(db, i, "v1");
    CHECK_ST(lc_close(db), LC_OK);

    db = open_db("reopen.db", NULL);
    lc_recovery_report r;
    memset(&r, 0xAB, sizeof r);
    CHECK_ST(lc_last_recovery(db, &r), LC_OK);
    CHECK(r.partial_segments == 0);
    CHECK(r.last_commit_seq <= 5);
    for (uint32_t i = 1; i <= 5; i++) CHECK(page_is(db, i, "v1"));
    CHECK(last_seq(db) == 5);
    CHECK(put(db, 6, "v2") == 6); /* commit_seq survives close */
    CHECK_FAIL(lc_last_recovery(NULL, &r), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_last_recovery(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(recover_closed_database) {
    lc_db *db = open_db("offline.db", NULL);
    for (uint32_t i = 1; i <= 8; i++) put(db, i, "offline");
    CHECK_ST(lc_close(db), LC_OK);

    char path[512];
    check_path(path, sizeof path, "offline.db");
    lc_recovery_report r;
    memset(&r, 0xAB, sizeof r);
    CHECK_ST(lc_recover(path, 0, &r), LC_OK);
    CHECK(r.partial_segments == 0);
    CHECK_ST(lc_recover(path, 0, NULL), LC_OK);
    CHECK_ST(lc_recover(path, LC_RECOVER_SKIP_CORRUPT | LC_RECOVER_DELETE_AFTER, &r), LC_OK);
    CHECK(r.partial_segments == 0);

    lc_recovery_report untouched;
    memset(&untouched, 0x5A, sizeof untouched);
    r = untouched;
    CHECK_FAIL(lc_recover(path, 4, &r), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recover(path, 0x80000000u, &r), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_recover(NULL, 0, &r), LC_INVALID_ARGUMENT);
    CHECK(memcmp(&r, &untouched, sizeof r) == 0);

    db = open_db("offline.db", NULL);
    for (uint32_t i = 1; i <= 8; i++) CHECK(page_is(db, i, "offline"));
    CHECK(last_seq(db) == 8);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(recover_open_database_is_busy) {
    lc_db *db = open_db("busy.db", NULL);
    put(db, 1, "open");
    char path[512];
    check_path(path, sizeof path, "busy.db");
    lc_recovery_report r;
    memset(&r, 0x5A, sizeof r);
    lc_recovery_report untouched = r;
    CHECK_FAIL(lc_recover(path, 0, &r), LC_BUSY);
    CHECK(strstr(lc_last_error(), "lc_recover") != NULL);
    CHECK(memcmp(&r, &untouched, sizeof r) == 0);
    CHECK_ST(lc_close(db), LC_OK);
    CHECK_ST(lc_recover(path, 0, &r), LC_OK);
}

TEST(recover_missing_path) {
    char path[512];
    check_path(path, sizeof path, "nowhere/none.db");
    lc_status st = lc_recover(path, 0, NULL);
    CHECK(st != LC_OK);
    CHECK(lc_last_error()[0] != '\0');
}

TEST(native_mode) {
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_commit_mode(o, LC_MODE_NATIVE), LC_OK);
    CHECK_ST(lc_options_set_sync(o, LC_SYNC_NORMAL), LC_OK);
    lc_db *db = open_db("native.db", o);
    lc_options_free(o);
    CHECK(put(db, 1, "native") == 1);
    CHECK(page_is(db, 1, "native"));
    CHECK_ST(lc_close(db), LC_OK);
    db = open_db("native.db", NULL);
    CHECK(page_is(db, 1, "native"));
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(two_handles_one_database) {
    lc_db *a = open_db("shared.db", NULL);
    lc_db *b = open_db("shared.db", NULL);
    put(a, 1, "via a");
    CHECK(page_is(b, 1, "via a"));
    lc_stats sa, sb;
    CHECK_ST(lc_stats_get(a, &sa), LC_OK);
    CHECK_ST(lc_stats_get(b, &sb), LC_OK);
    CHECK(sa.commits == 1 && sb.commits == 0); /* per-handle counters */
    CHECK_ST(lc_close(a), LC_OK);
    CHECK(page_is(b, 1, "via a"));
    put(b, 2, "via b");
    CHECK_ST(lc_close(b), LC_OK);
}

int main(void) {
    RUN(version_matches_macros);
    RUN(status_strings);
    RUN(last_error_is_per_thread);
    RUN(options_setters);
    RUN(open_bad_arguments);
    RUN(open_missing_directory);
    RUN(open_non_database_file_untouched);
    RUN(batch_and_read);
    RUN(read_buffer_rules);
    RUN(batch_bad_input_writes_nothing);
    RUN(page_size_option);
    RUN(transactions);
    RUN(transaction_bad_input);
    RUN(conflicts);
    RUN(serializable_read_conflict);
    RUN(txn_after_close_is_closed);
    RUN(read_only);
    RUN(checkpoint_and_stats);
    RUN(reopen_keeps_data_and_seq);
    RUN(recover_closed_database);
    RUN(recover_open_database_is_busy);
    RUN(recover_missing_path);
    RUN(native_mode);
    RUN(two_handles_one_database);
    return check_finish("test_api");
}
