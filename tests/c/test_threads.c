/*
 * test_threads.c - one lc_db shared by 16 pthreads that run conflicting
 * read-modify-write transactions and blind batches. Every attempt ends in
 * exactly LC_OK or LC_CONFLICT, and the final counters equal the successes.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>

#include "check.h"

#define THREADS 16
#define ATTEMPTS 12      /* transactions per thread */
#define HOT_PAGES 4      /* counters every thread fights over */
#define BATCHES 4        /* blind batches per thread */

/* Every thread takes its first snapshot before any commits, so the first
 * round is sure to conflict: at most one winner per hot page. */
static pthread_barrier_t first_round;

typedef struct {
    lc_db *db;
    int id;
    int ok;
    int conflicts;
    int other;
    int ok_per_page[HOT_PAGES];
} worker;

static uint64_t read_counter(lc_txn *t, uint32_t pgno, int *found) {
    uint64_t v = 0;
    size_t len = 0;
    lc_status st = lc_txn_read(t, pgno, (uint8_t *)&v, sizeof v, &len);
    *found = st == LC_OK;
    if (st == LC_NOT_FOUND) return 0;
    CHECK_ST(st, LC_OK);
    CHECK(len == sizeof v);
    return v;
}

static void *work(void *arg) {
    worker *w = arg;
    for (int i = 0; i < ATTEMPTS; i++) {
        uint32_t hot = 1 + (uint32_t)((w->id + i) % HOT_PAGES);
        lc_txn *t = NULL;
        CHECK_ST(lc_begin(w->db, &t), LC_OK);
        if (t == NULL) continue;
        int found;
        uint64_t v = read_counter(t, hot, &found) + 1;
        CHECK_ST(lc_txn_write(t, hot, (const uint8_t *)&v, sizeof v), LC_OK);
        /* A private page too: it must be written exactly when the txn wins. */
        uint32_t mine = 1000 + (uint32_t)w->id;
        uint64_t n = read_counter(t, mine, &found) + 1;
        CHECK_ST(lc_txn_write(t, mine, (const uint8_t *)&n, sizeof n), LC_OK);
        if (i == 0) pthread_barrier_wait(&first_round);
        uint64_t seq = 0;
        lc_status st = lc_txn_commit(t, &seq);
        if (st == LC_OK) {
            w->ok++;
            w->ok_per_page[hot - 1]++;
            CHECK(seq > 0);
        } else if (st == LC_CONFLICT) {
            w->conflicts++;
        } else {
            w->other++;
            CHECK_ST(st, LC_OK);
        }
    }
    for (int i = 0; i < BATCHES; i++) {
        uint64_t v = ((uint64_t)w->id << 32) | (uint64_t)i;
        lc_page_write pw[2] = {
            {2000 + (uint32_t)w->id, (const uint8_t *)&v, sizeof v},
            {3000, (const uint8_t *)&v, sizeof v}, /* shared: blind writes never conflict */
        };
        CHECK_ST(lc_commit_batch(w->db, pw, 2, NULL), LC_OK);
    }
    return NULL;
}

static uint64_t read_u64(lc_db *db, uint32_t pgno) {
    uint64_t v = 0;
    size_t len = 0;
    lc_status st = lc_read(db, pgno, (uint8_t *)&v, sizeof v, &len);
    if (st == LC_NOT_FOUND) return 0;
    CHECK_ST(st, LC_OK);
    CHECK(len == sizeof v);
    return v;
}

static void run_threads(lc_sync sync, lc_isolation isolation, const char *name) {
    char path[512];
    check_path(path, sizeof path, name);
    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_sync(o, sync), LC_OK);
    CHECK_ST(lc_options_set_isolation(o, isolation), LC_OK);
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    lc_options_free(o);
    if (db == NULL) return;

    worker ws[THREADS];
    pthread_t ts[THREADS];
    memset(ws, 0, sizeof ws);
    CHECK(pthread_barrier_init(&first_round, NULL, THREADS) == 0);
    for (int i = 0; i < THREADS; i++) {
        ws[i].db = db;
        ws[i].id = i;
        CHECK(pthread_create(&ts[i], NULL, work, &ws[i]) == 0);
    }
    int ok = 0, conflicts = 0, other = 0;
    int per_page[HOT_PAGES] = {0};
    for (int i = 0; i < THREADS; i++) {
        pthread_join(ts[i], NULL);
        ok += ws[i].ok;
        conflicts += ws[i].conflicts;
        other += ws[i].other;
        for (int p = 0; p < HOT_PAGES; p++) per_page[p] += ws[i].ok_per_page[p];
    }
    printf("  %s: %d committed, %d conflicts of %d attempts\n", name, ok, conflicts,
           THREADS * ATTEMPTS);
    CHECK(ok + conflicts == THREADS * ATTEMPTS);
    CHECK(other == 0);
    CHECK(ok >= 1);
    CHECK(conflicts >= THREADS - HOT_PAGES);
    pthread_barrier_destroy(&first_round);

    /* No lost update: each hot counter equals its successful increments. */
    for (int p = 0; p < HOT_PAGES; p++) CHECK(read_u64(db, (uint32_t)p + 1) == (uint64_t)per_page[p]);
    for (int i = 0; i < THREADS; i++) {
        CHECK(read_u64(db, 1000 + (uint32_t)i) == (uint64_t)ws[i].ok);
        CHECK(read_u64(db, 2000 + (uint32_t)i) == (((uint64_t)i << 32) | (BATCHES - 1)));
    }
    uint64_t last = read_u64(db, 3000);
    CHECK((last & 0xffffffffu) == BATCHES - 1);

    lc_stats st;
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.commits == (uint64_t)(ok + THREADS * BATCHES));
    CHECK(st.conflicts == (uint64_t)conflicts);
    CHECK(st.last_commit_seq == (uint64_t)(ok + THREADS * BATCHES));
    if (sync == LC_SYNC_FULL) CHECK(st.durable_commit_seq == st.last_commit_seq);
    CHECK(st.active_readers == 0);
    CHECK_ST(lc_close(db), LC_OK);

    /* The same state after reopening. */
    db = NULL;
    CHECK_ST(lc_open(path, NULL, &db), LC_OK);
    if (db == NULL) return;
    for (int p = 0; p < HOT_PAGES; p++) CHECK(read_u64(db, (uint32_t)p + 1) == (uint64_t)per_page[p]);
    CHECK_ST(lc_stats_get(db, &st), LC_OK);
    CHECK(st.last_commit_seq == (uint64_t)(ok + THREADS * BATCHES));
    CHECK_ST(lc_close(db), LC_OK);
}

TEST(threads_snapshot_full_sync) { run_threads(LC_SYNC_FULL, LC_ISOLATION_SNAPSHOT, "threads-full.db"); }
TEST(threads_serializable) { run_threads(LC_SYNC_OFF, LC_ISOLATION_SERIALIZABLE, "threads-ser.db"); }

int main(void) {
    RUN(threads_snapshot_full_sync);
    RUN(threads_serializable);
    return check_finish("test_threads");
}
