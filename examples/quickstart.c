/*
 * quickstart.c - libcommit from C in one page. The README's C examples are
 * the [readme:...] regions of this file.
 *
 *   make install PREFIX=$HOME/.local
 *   cc quickstart.c -I$HOME/.local/include -L$HOME/.local/lib \
 *      -Wl,-rpath,$HOME/.local/lib -lcommit -o quickstart
 *   ./quickstart [path]
 *
 * Opens (or creates) a database, commits a batch, runs a transaction,
 * reads pages back, meets a conflict, reopens and recovers.
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

    // [readme:open]
    lc_options *opts = NULL;
    TRY(lc_options_new(&opts));
    TRY(lc_options_set_sync(opts, LC_SYNC_FULL)); /* the default: durable on return */
    lc_db *db = NULL;
    lc_status st = lc_open(path, opts, &db); /* created if missing; NULL opts = defaults */
    lc_options_free(opts);                   /* lc_open copied what it needed */
    TRY(st);
    // [readme:end]

    // [readme:commit]
    const char *hello = "hello", *world = "world";
    lc_page_write batch[2] = {
        {1, (const uint8_t *)hello, strlen(hello)},
        {2, (const uint8_t *)world, strlen(world)},
    };
    uint64_t seq = 0;
    TRY(lc_commit_batch(db, batch, 2, &seq)); /* atomic; durable when it returns */

    lc_txn *txn = NULL;
    TRY(lc_begin(db, &txn));
    st = lc_txn_write(txn, 3, (const uint8_t *)"hello, again", 12);
    if (st != LC_OK) {
        lc_txn_abort(txn);
        TRY(st);
    }
    TRY(lc_txn_commit(txn, &seq)); /* consumes txn, also on failure */
    // [readme:end]
    printf("transaction committed as commit_seq %llu\n", (unsigned long long)seq);

    // [readme:read]
    uint8_t buf[4096];
    size_t len = 0;
    TRY(lc_read(db, 3, buf, sizeof buf, &len)); /* the latest committed image */
    printf("page 3: %.*s\n", (int)len, (const char *)buf);
    st = lc_read(db, 3, NULL, 0, &len); /* LC_BUFFER_TOO_SMALL, len = its size */
    printf("page 3 is %zu bytes (%s)\n", len, lc_status_str(st));
    st = lc_read(db, 4, buf, sizeof buf, &len); /* LC_NOT_FOUND: never written */
    printf("page 4: %s\n", lc_status_str(st));
    // [readme:end]

    // [readme:errors]
    lc_txn *a = NULL, *b = NULL;
    TRY(lc_begin(db, &a));
    TRY(lc_begin(db, &b));
    TRY(lc_txn_write(a, 5, (const uint8_t *)"a", 1));
    TRY(lc_txn_write(b, 5, (const uint8_t *)"b", 1));
    TRY(lc_txn_commit(a, NULL));
    st = lc_txn_commit(b, NULL); /* first committer wins: nothing of b is written */
    if (st == LC_CONFLICT) {
        printf("second writer: %s (%s); retry\n", lc_status_str(st), lc_last_error());
    } else if (st != LC_OK) {
        fprintf(stderr, "commit: %s: %s\n", lc_status_str(st), lc_last_error());
        return 1;
    }
    // [readme:end]

    lc_stats stats;
    TRY(lc_stats_get(db, &stats));
    printf("commits %llu, durable up to %llu\n", (unsigned long long)stats.commits,
           (unsigned long long)stats.durable_commit_seq);
    TRY(lc_close(db));

    // [readme:recover]
    /* Opening replays the write-ahead log: every acknowledged commit is back. */
    TRY(lc_open(path, NULL, &db));
    lc_recovery_report report;
    TRY(lc_last_recovery(db, &report));
    printf("reopened: %llu commits replayed, last commit_seq %llu\n",
           (unsigned long long)report.commits_recovered, (unsigned long long)report.last_commit_seq);
    TRY(lc_close(db));
    /* Offline, on a closed database; SKIP_CORRUPT keeps the durable prefix. */
    TRY(lc_recover(path, LC_RECOVER_SKIP_CORRUPT, &report));
    printf("recover: %llu segments not replayed\n", (unsigned long long)report.partial_segments);
    // [readme:end]
    return 0;
}
