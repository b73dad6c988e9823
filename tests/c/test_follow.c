/*
 * test_follow.c - read replicas through the C ABI, with a file:// replica:
 * lc_open_follower restores and converges (lc_replica_status's applied_seq
 * and behind_* fields, state LC_REPLICA_FOLLOWING) and refuses commits
 * (LC_READ_ONLY); lc_promote takes the replica with epoch 2 and the old
 * writer comes back fenced (LC_FENCED); a database with commits the
 * replica never had is refused as a fork, and replaced when resnapshot is
 * set; and bad input: NULL pointers, a poll interval of 0, a database that
 * never followed, promoting one that does not follow.
 */
#define _GNU_SOURCE
#include <ftw.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "check.h"

/* Every wait is bounded by this; none is an assertion by itself. */
#define WAIT_MS 30000u
/* The follower's poll interval in these tests. */
#define POLL_MS 5u
/* Batches the writer commits before the follower starts. */
#define BATCHES 20

static void replica_url(char *out, size_t cap, const char *name) {
    char dir[512];
    check_path(dir, sizeof dir, name);
    snprintf(out, cap, "file://%s", dir);
}

static lc_db *open_writer(const char *name, const char *url) {
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

/* lc_open_follower with a short poll interval (and resnapshot if asked). */
static lc_status open_follower(const char *url, const char *name, bool resnapshot, lc_db **out) {
    char path[512];
    check_path(path, sizeof path, name);
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_replica_poll_ms(o, POLL_MS), LC_OK);
    CHECK_ST(lc_options_set_replica_resnapshot(o, resnapshot), LC_OK);
    lc_status st = lc_open_follower(url, path, o, out);
    lc_options_free(o);
    return st;
}

/* Commits page `pgno` = "<tag> <i>" and page 100 + i = "extra <i>". */
static uint64_t commit_pair(lc_db *db, const char *tag, int i) {
    char text[32], extra[32];
    snprintf(text, sizeof text, "%s %d", tag, i);
    snprintf(extra, sizeof extra, "extra %d", i);
    lc_page_write w[2] = {
        {(uint32_t)(i % 4 + 1), (const uint8_t *)text, strlen(text)},
        {(uint32_t)(100 + i), (const uint8_t *)extra, strlen(extra)},
    };
    uint64_t seq = 0;
    CHECK_ST(lc_commit_batch(db, w, 2, &seq), LC_OK);
    return seq;
}

static void wait_shipped(lc_db *db, uint64_t seq) {
    bool done = false;
    CHECK_ST(lc_wait_replicated(db, seq, WAIT_MS, &done), LC_OK);
    CHECK(done);
}

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Polls lc_replica_status until the follower has applied `seq` and sees
 * nothing newer, or WAIT_MS passed; returns whether it got there, with
 * the last status in *out.
 */
static bool wait_applied(lc_db *db, uint64_t seq, lc_replica_info *out) {
    uint64_t deadline = now_ms() + WAIT_MS;
    for (;;) {
        CHECK_ST(lc_replica_status(db, out), LC_OK);
        if (out->applied_seq >= seq && out->behind_commits == 0) return true;
        if (out->state == LC_REPLICA_FORKED || now_ms() >= deadline) {
            fprintf(stderr, "  follower stuck: state %d applied %llu behind %llu: %s\n",
                    (int)out->state, (unsigned long long)out->applied_seq,
                    (unsigned long long)out->behind_commits, out->last_error);
            return false;
        }
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

/* Page `pgno` of `db` equals `text`. */
static void check_page(lc_db *db, uint32_t pgno, const char *text) {
    uint8_t buf[64];
    size_t len = 0;
    CHECK_ST(lc_read(db, pgno, buf, sizeof buf, &len), LC_OK);
    CHECK(len == strlen(text) && memcmp(buf, text, len) == 0);
}

/* The pages commit_pair(tag, 1 ..= last) leaves. */
static void check_pairs(lc_db *db, const char *tag, int last) {
    char text[32];
    for (int i = 1; i <= last; i++) {
        snprintf(text, sizeof text, "extra %d", i);
        check_page(db, (uint32_t)(100 + i), text);
    }
    for (int i = last - 3; i <= last; i++) {
        snprintf(text, sizeof text, "%s %d", tag, i);
        check_page(db, (uint32_t)(i % 4 + 1), text);
    }
}

TEST(follows_then_promotes_and_fences_the_old_writer) {
    char url[600];
    replica_url(url, sizeof url, "replica-follow");
    lc_db *w = open_writer("w.db", url);
    if (w == NULL) return;
    uint64_t last = 0;
    for (int i = 1; i <= BATCHES; i++) last = commit_pair(w, "w", i);
    CHECK(last == BATCHES);
    wait_shipped(w, last);

    lc_db *f = NULL;
    CHECK_ST(open_follower(url, "f.db", false, &f), LC_OK);
    if (f == NULL) return;
    lc_replica_info st;
    memset(&st, 0xff, sizeof st);
    CHECK(wait_applied(f, last, &st));
    CHECK(st.state == LC_REPLICA_FOLLOWING && st.epoch == 1);
    CHECK(memchr(st.last_error, '\0', sizeof st.last_error) != NULL);
    check_pairs(f, "w", BATCHES);

    /* Commits made while it follows reach it too. */
    for (int i = BATCHES + 1; i <= BATCHES + 5; i++) last = commit_pair(w, "w", i);
    wait_shipped(w, last);
    CHECK(wait_applied(f, last, &st));
    check_pairs(f, "w", BATCHES + 5);
    lc_stats stats;
    CHECK_ST(lc_stats_get(f, &stats), LC_OK);
    CHECK(stats.last_commit_seq == last);

    lc_page_write local = {1, (const uint8_t *)"local", 5};
    uint64_t seq = 0;
    CHECK_FAIL(lc_commit_batch(f, &local, 1, &seq), LC_READ_ONLY);
    CHECK(seq == 0);

    /* Failover: the writer goes away, the follower takes the replica. */
    CHECK_ST(lc_close(w), LC_OK);
    uint64_t epoch = 0;
    CHECK_ST(lc_promote(f, &epoch), LC_OK);
    CHECK(epoch == 2);
    CHECK_ST(lc_replica_status(f, &st), LC_OK);
    CHECK(st.state == LC_REPLICA_SHIPPING && st.epoch == 2);
    lc_page_write mine = {1, (const uint8_t *)"promoted", 8};
    CHECK_ST(lc_commit_batch(f, &mine, 1, &seq), LC_OK);
    CHECK(seq == last + 1);
    wait_shipped(f, seq);
    /* It follows no more: promoting again is a bad argument. */
    CHECK_FAIL(lc_promote(f, NULL), LC_INVALID_ARGUMENT);

    /* The old writer comes back: fenced before its first commit. */
    w = open_writer("w.db", url);
    if (w != NULL) {
        lc_page_write old = {1, (const uint8_t *)"old", 3};
        CHECK_FAIL(lc_commit_batch(w, &old, 1, NULL), LC_FENCED);
        CHECK_ST(lc_close(w), LC_OK);
    }
    check_page(f, 1, "promoted");
    CHECK_ST(lc_close(f), LC_OK);
}

TEST(a_fork_is_refused_unless_resnapshotted) {
    char url[600];
    replica_url(url, sizeof url, "replica-fork");
    lc_db *a = open_writer("a.db", url);
    if (a == NULL) return;
    uint64_t last = 0;
    for (int i = 1; i <= 5; i++) last = commit_pair(a, "a", i);
    wait_shipped(a, last);
    CHECK_ST(lc_close(a), LC_OK);
    /* A commit the replica never gets: a's disk, without its replica. */
    char a_path[512];
    check_path(a_path, sizeof a_path, "a.db");
    CHECK_ST(lc_open(a_path, NULL, &a), LC_OK);
    if (a == NULL) return;
    lc_page_write unshipped = {1, (const uint8_t *)"unshipped", 9};
    CHECK_ST(lc_commit_batch(a, &unshipped, 1, NULL), LC_OK);
    CHECK_ST(lc_close(a), LC_OK);

    lc_db *b = NULL;
    CHECK_ST(open_follower(url, "b.db", false, &b), LC_OK);
    if (b == NULL) return;
    lc_replica_info st;
    CHECK(wait_applied(b, last, &st));
    CHECK_ST(lc_promote(b, NULL), LC_OK);
    lc_page_write mine = {1, (const uint8_t *)"from b", 6};
    uint64_t seq = 0;
    CHECK_ST(lc_commit_batch(b, &mine, 1, &seq), LC_OK);
    wait_shipped(b, seq);

    lc_db *again = NULL;
    CHECK_FAIL(open_follower(url, "a.db", false, &again), LC_FENCED);
    CHECK(strstr(lc_last_error(), "fork") != NULL);
    CHECK(strstr(lc_last_error(), "lc_open_follower") != NULL);
    CHECK(again == NULL);
    CHECK_ST(open_follower(url, "a.db", true, &again), LC_OK);
    if (again != NULL) {
        CHECK(wait_applied(again, seq, &st));
        CHECK(st.state == LC_REPLICA_FOLLOWING && st.epoch == 2);
        check_page(again, 1, "from b");
        CHECK_ST(lc_close(again), LC_OK);
    }
    CHECK_ST(lc_close(b), LC_OK);
}

TEST(bad_input) {
    CHECK(LC_REPLICA_FOLLOWING == 6 && LC_REPLICA_FORKED == 7);
    char url[600], path[512];
    replica_url(url, sizeof url, "replica-none");
    check_path(path, sizeof path, "bad.db");
    lc_db *db = NULL;
    CHECK_FAIL(lc_open_follower(NULL, path, NULL, &db), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_open_follower(url, NULL, NULL, &db), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_open_follower(url, "", NULL, &db), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_open_follower(url, path, NULL, NULL), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_open_follower("ftp://nowhere", path, NULL, &db), LC_INVALID_ARGUMENT);
    CHECK(db == NULL);
    CHECK(!check_exists(path));
    CHECK_FAIL(lc_promote(NULL, NULL), LC_INVALID_ARGUMENT);

    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_FAIL(lc_options_set_replica_poll_ms(NULL, 5), LC_INVALID_ARGUMENT);
    CHECK_FAIL(lc_options_set_replica_poll_ms(o, 0), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_options_set_replica_poll_ms(o, 1), LC_OK);
    CHECK_FAIL(lc_options_set_replica_resnapshot(NULL, true), LC_INVALID_ARGUMENT);
    lc_options_free(o);

    /* A database that never followed (or shipped) is not taken for one. */
    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    if (db == NULL) return;
    CHECK_FAIL(lc_promote(db, NULL), LC_INVALID_ARGUMENT);
    CHECK_ST(lc_close(db), LC_OK);
    db = NULL;
    CHECK_FAIL(lc_open_follower(url, path, NULL, &db), LC_INVALID_ARGUMENT);
    CHECK(db == NULL);
}

/* The replica directories: check_finish removes only plain files. */
static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void remove_replicas(void) {
    const char *names[] = {"replica-follow", "replica-fork"};
    char dir[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        check_path(dir, sizeof dir, names[i]);
        if (check_exists(dir)) nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

int main(void) {
    RUN(follows_then_promotes_and_fences_the_old_writer);
    RUN(a_fork_is_refused_unless_resnapshotted);
    RUN(bad_input);
    remove_replicas();
    return check_finish("test_follow");
}
