/*
 * test_replica.c - the replica ABI with a file:// target: lc_options_set_replica
 * (good and malformed URLs), lc_replica_status, lc_wait_replicated,
 * lc_restore to the latest commit and to a seq (with its report), a
 * failover that fences the old writer (LC_FENCED on commit), and bad input:
 * NULL pointers, an unknown target kind, an existing destination, a seq
 * past the replica, wait_replicated without a replica.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>

#include "check.h"

#define WAIT_MS 30000u

static void replica_url(char *out, size_t cap) {
    char dir[512];
    check_path(dir, sizeof dir, "replica");
    snprintf(out, cap, "file://%s", dir);
}

static lc_db *open_replicated(const char *name, const char *url) {
    char path[512];
    check_path(path, sizeof path, name);
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_replica(o, url), LC_OK);
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    lc_options_free(o);
    return db;
}

static uint64_t put(lc_db *db, uint32_t pgno, const char *text) {
    lc_page_write w = {pgno, (const uint8_t *)text, strlen(text)};
    uint64_t seq = 0;
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    return seq;
}

/* Page `pgno` of the database at `name` equals `text`. */
static void check_page(const char *name, uint32_t pgno, const char *text) {
    char path[512];
    check_path(path, sizeof path, name);
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    if (db == NULL) return;
    uint8_t buf[64];
    size_t len = 0;
    CHECK_ST(lc_read(db, pgno, buf, sizeof buf, &len), LC_OK);
    CHECK(len == strlen(text) && memcmp(buf, text, len) == 0);
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(ships_and_restores) {
    char url[600];
    replica_url(url, sizeof url);
    lc_db *db = open_replicated("ship.db", url);
    if (db == NULL) return;
    char text[32];
    uint64_t seq = 0;
    for (int i = 1; i <= 30; i++) {
        snprintf(text, sizeof text, "commit %d", i);
        seq = put(db, (uint32_t)(i % 5 + 1), text);
    }
    CHECK(seq == 30);
    bool done = false;
    CHECK_ST(lc_wait_replicated(db, seq, WAIT_MS, &done), LC_OK);
    CHECK(done);
    lc_replica_info st;
    memset(&st, 0xff, sizeof st);
    CHECK_ST(lc_replica_status(db, &st), LC_OK);
    CHECK(st.state == LC_REPLICA_SHIPPING);
    CHECK(st.epoch == 1 && st.shipped_seq == 30 && st.lag_commits == 0);
    CHECK(st.chunks_shipped >= 1);
    CHECK(memchr(st.last_error, '\0', sizeof st.last_error) != NULL);
    CHECK_ST(lc_close(db), LC_OK);

    char dest[512];
    check_path(dest, sizeof dest, "latest.db");
    lc_restore_report r;
    memset(&r, 0, sizeof r);
    lc_restore_target latest = {LC_RESTORE_LATEST, 0};
    CHECK_ST(lc_restore(url, dest, latest, &r), LC_OK);
    CHECK(r.restored_seq == 30 && r.commits_applied == 30 && r.objects_read >= 2 && r.bytes_read > 0);
    check_page("latest.db", 1, "commit 30");

    check_path(dest, sizeof dest, "at12.db");
    lc_restore_target at12 = {LC_RESTORE_SEQ, 12};
    CHECK_ST(lc_restore(url, dest, at12, NULL), LC_OK);
    check_page("at12.db", 3, "commit 12");
    check_page("at12.db", 2, "commit 11");

    /* The destination exists now; a target past the replica; a bad kind. */
    CHECK_FAIL(lc_restore(url, dest, at12, NULL), LC_INVALID_ARGUMENT);
    check_path(dest, sizeof dest, "past.db");
    lc_restore_target past = {LC_RESTORE_SEQ, 31};
    CHECK_FAIL(lc_restore(url, dest, past, NULL), LC_INVALID_ARGUMENT);
    lc_restore_target bad = {77, 0};
    CHECK_FAIL(lc_restore(url, dest, bad, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_restore(NULL, dest, latest, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_restore(url, NULL, latest, NULL), LC_INVALID_ARGUMENT);
}

TEST(a_failed_over_writer_is_fenced) {
    char url[600];
    replica_url(url, sizeof url);
    size_t n = strlen(url);
    snprintf(url + n, sizeof url - n, "%s", "-failover");
    lc_db *a = open_replicated("a.db", url);
    if (a == NULL) return;
    uint64_t seq = put(a, 1, "from a");
    bool done = false;
    CHECK_ST(lc_wait_replicated(a, seq, WAIT_MS, &done), LC_OK);
    CHECK(done);
    char b_path[512];
    check_path(b_path, sizeof b_path, "b.db");
    lc_restore_target latest = {LC_RESTORE_LATEST, 0};
    CHECK_ST(lc_restore(url, b_path, latest, NULL), LC_OK);
    lc_db *b = open_replicated("b.db", url);
    if (b == NULL) return;
    uint64_t s2 = put(b, 1, "from b");
    CHECK_ST(lc_wait_replicated(b, s2, WAIT_MS, &done), LC_OK);
    CHECK(done);

    /* a's next chunk finds its slot taken: a stops and refuses commits. */
    lc_page_write w = {2, (const uint8_t *)"late", 4};
    (void)lc_commit_batch(a, &w, 1, NULL);
    CHECK_ST(lc_wait_replicated(a, s2, WAIT_MS, &done), LC_OK);
    CHECK(!done);
    lc_replica_info st;
    CHECK_ST(lc_replica_status(a, &st), LC_OK);
    CHECK(st.state == LC_REPLICA_FENCED);
    CHECK(st.last_error[0] != '\0');
    CHECK_FAIL(lc_commit_batch(a, &w, 1, NULL), LC_FENCED);
    CHECK(strcmp(lc_status_str(LC_FENCED), "unknown status") != 0);
    CHECK_ST(lc_close(a), LC_OK);
    CHECK_ST(lc_close(b), LC_OK);
}

TEST(bad_input) {
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_FAIL(lc_options_set_replica(o, "ftp://nowhere"), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_replica(o, "file://relative"), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_replica(NULL, "file:///tmp/x"), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_options_set_replica(o, NULL), LC_OK);
    char path[512];
    check_path(path, sizeof path, "plain.db");
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    lc_options_free(o);
    if (db == NULL) return;
    lc_replica_info st;
    CHECK_ST(lc_replica_status(db, &st), LC_OK);
    CHECK(st.state == LC_REPLICA_OFF);
    bool done = true;
    CHECK_FAIL(lc_wait_replicated(db, 1, 10, &done), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_wait_replicated(db, 1, 10, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_wait_replicated(NULL, 1, 10, &done), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_replica_status(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_replica_status(NULL, &st), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
}

int main(void) {
    RUN(ships_and_restores);
    RUN(a_failed_over_writer_is_fenced);
    RUN(bad_input);
    return check_finish("test_replica");
}
