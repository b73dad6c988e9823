/*
 * libcommit_sqlite.h - SQLite on libcommit: a VFS that keeps each SQLite
 * main database file in a libcommit database.
 *
 * Linking
 *   cc app.c -Ibuild/sqlite build/sqlite/libsqlite3lc.a -lpthread -ldl -lm
 *   (the archive holds SQLite, this VFS and libcommit), or load
 *   build/sqlite/libcommit_sqlite.so into any SQLite as an extension.
 *
 * What it does
 *   Block k of the SQLite file (libcommit's page size, 4096 bytes for a new
 *   database) is libcommit page k+1; the file's size lives in page
 *   0xFFFFFFFF and is committed with the blocks. SQLite built with
 *   SQLITE_ENABLE_BATCH_ATOMIC_WRITE writes a whole transaction between
 *   SQLITE_FCNTL_BEGIN_ATOMIC_WRITE and COMMIT_ATOMIC_WRITE with no rollback
 *   journal: that is one libcommit commit. Outside a batch, SQLite's
 *   journal works as usual (journals and temp files go to the default VFS)
 *   and every xSync of the main file is one commit. Writes still pending
 *   when the exclusive lock is released (a truncation after the journal is
 *   finalized, synchronous=OFF) are committed before the lock goes.
 *
 * URI parameters (file:app.db?lc_mode=native&lc_sync=normal)
 *   lc_mode=wal|native     libcommit's commit mode for a new database
 *   lc_sync=full|normal|off durability of each commit (default full)
 *   lc_group_sync=0|1      commits of several processes share one sync:
 *                          a commit is written under SQLite's lock and made
 *                          durable after the lock is released; see
 *                          docs/SQLITE.md for what readers see and when
 *   Any other value: the open fails with SQLITE_CANTOPEN and the reason is
 *   logged (sqlite3_log).
 *
 * Errors
 *   LC_BUSY -> SQLITE_BUSY, LC_FULL -> SQLITE_FULL, LC_IO -> SQLITE_IOERR_*,
 *   LC_READ_ONLY -> SQLITE_READONLY, LC_CORRUPT -> SQLITE_CORRUPT (or
 *   SQLITE_NOTADB when the file is not a libcommit database). WAL journal
 *   mode is refused: PRAGMA journal_mode=WAL fails with SQLITE_ERROR and
 *   says why. Each failure is also logged with libcommit's message.
 */
#ifndef LIBCOMMIT_SQLITE_H
#define LIBCOMMIT_SQLITE_H

#include <stdint.h>

#include "sqlite3.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The name the VFS is registered under when vfs_name is NULL. */
#define LIBCOMMIT_SQLITE_VFS_NAME "libcommit"

/*
 * Registers the libcommit VFS under `vfs_name` (NULL: "libcommit"), over
 * the default VFS at the time of the call (journals and temp files go
 * there). `make_default` non-zero makes it the default VFS. Calling it
 * again with the same name only changes whether it is the default.
 * Returns an SQLite result code: SQLITE_OK, SQLITE_NOMEM, SQLITE_ERROR (no
 * default VFS to build on), SQLITE_MISUSE (an empty name).
 */
int libcommit_sqlite_register(const char *vfs_name, int make_default);

/*
 * The loadable-extension entry point: `.load libcommit_sqlite` in the
 * sqlite3 shell (or sqlite3_load_extension) registers the VFS as
 * "libcommit" (not as the default) and stays loaded; open databases with
 * `file:app.db?vfs=libcommit`.
 */
int sqlite3_commitsqlite_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

/* Counters of one open main database file, for sqlite3_file_control(db,
 * "main", LIBCOMMIT_SQLITE_FCNTL_STATS, &stats). */
typedef struct libcommit_sqlite_stats {
    uint64_t batch_commits;     /* commits of a batch-atomic write */
    uint64_t sync_commits;      /* commits at an xSync (journal path) */
    uint64_t unlock_commits;    /* pending writes committed at commit end or unlock */
    uint64_t batch_failures;    /* batch commits that failed (SQLite then uses its journal) */
    uint64_t group_waits;       /* waits for durability after the lock was released */
    uint64_t reader_waits;      /* readers that waited for their snapshot to be durable */
    uint64_t read_transactions; /* SHARED locks taken (snapshots begun) */
    uint64_t last_commit_seq;   /* the libcommit commit_seq of the latest commit here */
    uint64_t snapshot_seq;      /* the snapshot of the current (or last) read */
    uint64_t durable_at_read;   /* the durable watermark when that snapshot was first read beyond page 1 */
    uint64_t lc_syncs;          /* libcommit's log syncs (lc_stats.syncs) */
} libcommit_sqlite_stats;

/* File controls understood by the VFS (besides SQLite's own). */
#define LIBCOMMIT_SQLITE_FCNTL_STATS 0x4C430001      /* libcommit_sqlite_stats *: fill */
#define LIBCOMMIT_SQLITE_FCNTL_FAIL_BATCH 0x4C430002 /* int *: the next N batch commits fail with
                                                        SQLITE_IOERR_WRITE, committing nothing
                                                        (tests SQLite's journal fallback) */

#ifdef __cplusplus
}
#endif

#endif /* LIBCOMMIT_SQLITE_H */
