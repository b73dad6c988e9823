/*
 * quickstart.c - libcommit from C in one page.
 *
 *   cc -Iinclude examples/quickstart.c -Lbuild/lib -lcommit -o quickstart
 *   LD_LIBRARY_PATH=build/lib ./quickstart [path]
 *
 * Opens (or creates) a database, commits a batch, runs a transaction,
 * reads pages back and prints what happened.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "libcommit.h"

/* Prints the failure and returns 1 from main. */
#define TRY(call)                                                                       \
    do {                                                                                \
        lc_status st_ = (call);                                                         \
        if (st_ != LC_OK) {                                                             \
            fprintf(stderr, "%s failed: %s (%s)\n", #call, lc_status_str(st_), lc_last_error()); \
            return 1;                                                                   \
        }                                                                               \
    } while (0)

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "quickstart-c.db";
    printf("libcommit %s (header %d.%d.%d)\n", lc_version(), LC_VERSION_MAJOR, LC_VERSION_MINOR,
           LC_VERSION_PATCH);

    lc_options *opts = NULL;
    TRY(lc_options_new(&opts));
    TRY(lc_options_set_sync(opts, LC_SYNC_FULL));
    lc_db *db = NULL;
    lc_status st = lc_open(path, opts, &db);
    lc_options_free(opts); /* lc_open copied what it needed */
    TRY(st);

    /* A batch: two writes, committed atomically. */
    const char *hello = "hello", *world = "world";
    lc_page_write batch[2] = {
        {1, (const uint8_t *)hello, strlen(hello)},
        {2, (const uint8_t *)world, strlen(world)},
    };
    uint64_t seq = 0;
    TRY(lc_commit_batch(db, batch, 2, &seq));
    printf("batch committed as commit_seq %llu\n", (unsigned long long)seq);

    /* A transaction: read page 1, write page 3 from it, commit. */
    lc_txn *txn = NULL;
    TRY(lc_begin(db, &txn));
    uint8_t buf[4096];
    size_t len = 0;
    st = lc_txn_read(txn, 1, buf, sizeof buf, &len);
    if (st != LC_OK) {
        lc_txn_abort(txn);
        TRY(st);
    }
    memcpy(buf + len, ", again", 7);
    st = lc_txn_write(txn, 3, buf, len + 7);
    if (st != LC_OK) {
        lc_txn_abort(txn);
        TRY(st);
    }
    TRY(lc_txn_commit(txn, &seq)); /* consumes txn */
    printf("transaction committed as commit_seq %llu\n", (unsigned long long)seq);

    /* Read back: ask for the length first, then read. */
    TRY(lc_read(db, 3, buf, sizeof buf, &len));
    printf("page 3: %.*s\n", (int)len, (const char *)buf);
    st = lc_read(db, 4, buf, sizeof buf, &len);
    printf("page 4: %s\n", lc_status_str(st));

    lc_stats stats;
    TRY(lc_stats_get(db, &stats));
    printf("commits %llu, durable up to %llu\n", (unsigned long long)stats.commits,
           (unsigned long long)stats.durable_commit_seq);
    TRY(lc_close(db));
    return 0;
}
