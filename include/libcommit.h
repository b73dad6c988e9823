/*
 * libcommit.h - the C API of libcommit, an embeddable commit engine.
 *
 * libcommit is the commit layer of a database, as a library. A database is
 * a file path, like SQLite: the main page file lives at `path`, and the
 * engine keeps its other files beside it with `path` as prefix
 * (`{path}-wal-seg-...`, `{path}-shm`, ...). A page is a byte image of
 * 0 ..= page_size bytes stored under a page number (pgno) 1 ..= 2^32-1; a
 * read returns exactly the bytes written. Every successful commit gets the
 * next commit_seq (1, 2, 3, ...); a transaction reads at a snapshot (a
 * commit_seq) and sees exactly the commits <= it.
 *
 * Linking
 *   cc app.c $(pkg-config --cflags --libs libcommit)
 *   or: cc -I<prefix>/include app.c -L<prefix>/lib -lcommit
 *   The shared library's SONAME is libcommit.so.<MAJOR>. Linking the static
 *   libcommit.a also needs -lpthread -ldl -lm -lrt -lutil (pkg-config
 *   --static --libs libcommit). Compare lc_version() with the
 *   LC_VERSION_* macros to detect a header/library mismatch.
 *
 * Conventions
 *   - Every function that can fail returns lc_status. Results come back
 *     through out-parameters, which come last and are written only on
 *     success (LC_BUFFER_TOO_SMALL also writes the length needed).
 *   - No function aborts or reads out of bounds on bad input: NULL pointers
 *     (except where a parameter says "may be NULL"), page 0, an image larger
 *     than page_size and bad option values return LC_INVALID_ARGUMENT.
 *   - After a call fails, lc_last_error() gives a message for this thread,
 *     "<function>: <reason>". LC_NOT_FOUND and LC_BUFFER_TOO_SMALL are
 *     outcomes, not failures, and leave the message unchanged.
 *   - A panic inside the library is caught and returned as LC_INTERNAL; the
 *     database it happened on then returns LC_CLOSED until reopened. A
 *     failed sync (LC_IO) likewise closes the database to writes until it
 *     is reopened: libcommit never retries an fsync.
 *   - Paths are NUL-terminated byte strings, passed to the OS as they are.
 *   - Sizes are size_t, page numbers uint32_t, commit_seq uint64_t.
 *   - Structs that may grow (lc_metrics) start with a uint32_t `size`: set
 *     it to sizeof the struct before the call. The library fills that many
 *     bytes at most (its own size at most) and stores the bytes filled in
 *     `size`; new fields are only ever appended.
 *   - Strings copied out (lc_recovery_segment_path, ..._detail) follow
 *     lc_read's buffer rules and end with a NUL; LC_BUFFER_TOO_SMALL gives
 *     the buffer size needed, NUL included.
 *
 * Ownership
 *   - lc_options: owned by the caller; lc_options_new creates it,
 *     lc_options_free frees it. lc_open copies it, so it may be freed (or
 *     reused) right after.
 *   - lc_db: lc_open creates it, lc_close frees it (always, even when
 *     lc_close reports an error). Nothing may use the pointer after
 *     lc_close has started.
 *   - lc_txn: lc_begin creates it; exactly one of lc_txn_commit or
 *     lc_txn_abort consumes it (commit frees it also when it fails). A
 *     transaction may outlive lc_close of its database: its calls then
 *     return LC_CLOSED, and it must still be ended to free it.
 *   - Buffers and images passed in are only read during the call (images
 *     are copied); strings returned (lc_version, lc_status_str) are static;
 *     lc_last_error's string lives until the thread's next failing call.
 *   - Every free-like function accepts NULL and then does nothing:
 *     lc_options_free, lc_close (returns LC_OK), lc_txn_abort.
 *
 * Thread safety
 *   - lc_db is thread-safe: share one handle across threads, and call any
 *     function on it concurrently; commits from many threads are made
 *     durable together (group commit). lc_close waits for the commits in
 *     flight on the handle; call it once, when no thread will start another
 *     call with the handle.
 *   - lc_txn may move between threads but is used by one thread at a time.
 *   - lc_options is used by one thread at a time.
 *   - lc_last_error is per thread; everything else holds no thread state.
 *
 * Processes and fork()
 *   - Any number of processes may open one database at once (each with its
 *     own lc_open); they coordinate through {path}-shm and locks the
 *     kernel drops when a process dies, so a crashed process holds nothing
 *     up. Processes in other PID namespaces (containers) work the same.
 *   - An lc_db and its lc_txn belong to the process that opened them. In a
 *     child made by fork() with a database open, every call on them returns
 *     LC_CLOSED ("... was opened in process P and is used in forked child
 *     C; open it again in the child"); the child must call lc_open itself.
 *     lc_close (LC_OK) and lc_txn_abort in the child only free memory and
 *     touch nothing the parent uses; and the child lets go of the parent's
 *     locks at the fork, so the parent's death frees them however long the
 *     child lives.
 *
 * Durability and tickets
 *   With LC_SYNC_FULL a commit returns once it is on stable storage. With
 *   LC_SYNC_NORMAL or LC_SYNC_OFF - for the database (lc_options_set_sync),
 *   one batch (lc_commit_batch_sync) or one transaction (lc_txn_set_sync) -
 *   it returns once written, and its commit_seq is a ticket:
 *   lc_wait_durable waits (with a timeout) until that commit is durable,
 *   lc_durable_seq reads the watermark below which every commit is.
 *
 * Observing
 *   lc_stats_get (counters), lc_metrics_get (latency, group size and flush
 *   histograms; the oldest reader's lag and pinned versions), and the
 *   recovery at lc_open: lc_last_recovery (totals), lc_recovery_segment_count
 *   and lc_recovery_segment (one entry per WAL segment: epochs, frames kept
 *   and dropped, and why).
 *
 * Errors (lc_status)
 *   LC_OK 0, LC_NOT_FOUND 1, LC_CONFLICT 2, LC_BUSY 3, LC_CORRUPT 4,
 *   LC_IO 5, LC_INVALID_ARGUMENT 6, LC_BUFFER_TOO_SMALL 7, LC_CLOSED 8,
 *   LC_READ_ONLY 9, LC_FULL 10, LC_INTERNAL 11. The numbers never change.
 *
 * Example
 *   lc_db *db;
 *   if (lc_open("app.db", NULL, &db) != LC_OK) {
 *       fprintf(stderr, "%s\n", lc_last_error());
 *       return 1;
 *   }
 *   lc_page_write w = { 1, (const uint8_t *)"hello", 5 };
 *   uint64_t seq;
 *   lc_status st = lc_commit_batch(db, &w, 1, &seq);
 *   uint8_t buf[4096];
 *   size_t len;
 *   st = lc_read(db, 1, buf, sizeof buf, &len);   // len == 5
 *   lc_close(db);
 */

#ifndef LIBCOMMIT_H
#define LIBCOMMIT_H

/* Generated by cbindgen from bindings/c; do not edit. Regenerate with `make header`. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * Buckets of an `lc_histogram`.
 */
#define LC_HISTOGRAM_BUCKETS 40

/**
 * `lc_recover` flag: return the durable prefix instead of failing on
 * corruption; segments not replayed are renamed to `{segment}.corrupt`.
 */
#define LC_RECOVER_SKIP_CORRUPT 1u

/**
 * `lc_recover` flag: delete replayed segments once their pages are in the
 * main file.
 */
#define LC_RECOVER_DELETE_AFTER 2u

/**
 * Major version of this header; compare with `lc_version()` at run time.
 */
#define LC_VERSION_MAJOR 0

/**
 * Minor version of this header.
 */
#define LC_VERSION_MINOR 1

/**
 * Patch version of this header.
 */
#define LC_VERSION_PATCH 0

/**
 * Bytes of `lc_replica_info.last_error`, its NUL included.
 */
#define LC_REPLICA_ERROR_BYTES 256

/**
 * `lc_restore_target.kind`: everything the replica holds (`value`
 * ignored).
 */
#define LC_RESTORE_LATEST 0

/**
 * Exactly commit_seq `value`.
 */
#define LC_RESTORE_SEQ 1

/**
 * Every chunk made at or before `value` milliseconds since the Unix epoch
 * (the shipping interval's resolution, about 1 s).
 */
#define LC_RESTORE_TIME_MS 2

/**
 * The result of every fallible call. The numbers are part of the ABI and
 * never change or get reused.
 */
typedef enum lc_status {
  /**
   * Success.
   */
  LC_OK = 0,
  /**
   * The page was never written, or was deleted (an outcome, not a failure).
   */
  LC_NOT_FOUND = 1,
  /**
   * First-committer-wins (or read-set) conflict; nothing was written.
   */
  LC_CONFLICT = 2,
  /**
   * Another process holds what the call needs, past busy_timeout.
   */
  LC_BUSY = 3,
  /**
   * A checksum or format error; nothing was changed.
   */
  LC_CORRUPT = 4,
  /**
   * An I/O error, including a failed sync: the database is then closed to
   * writes until it is reopened.
   */
  LC_IO = 5,
  /**
   * NULL, page 0, an image larger than page_size, a bad option value, ...
   */
  LC_INVALID_ARGUMENT = 6,
  /**
   * The buffer is too small: `*out_len` tells the size needed (an outcome,
   * not a failure).
   */
  LC_BUFFER_TOO_SMALL = 7,
  /**
   * The handle was already closed, or the database failed earlier.
   */
  LC_CLOSED = 8,
  /**
   * A write on a database opened read-only.
   */
  LC_READ_ONLY = 9,
  /**
   * Out of disk space; nothing partial is left behind.
   */
  LC_FULL = 10,
  /**
   * A bug (for example a caught panic).
   */
  LC_INTERNAL = 11,
  /**
   * Another writer took this database's replica with a newer epoch:
   * the database refuses commits (reads go on).
   */
  LC_FENCED = 12,
} lc_status;

/**
 * Why recovery did not replay all of a segment (`lc_segment_report.reason`).
 */
typedef enum lc_drop_reason {
  /**
   * Every frame was kept.
   */
  LC_DROP_NONE = 0,
  /**
   * The end of the log was torn by a crash: a normal event, the frames
   * after the tear were never acknowledged as durable.
   */
  LC_DROP_TORN_TAIL = 1,
  /**
   * A checksum or format check failed with valid data after it
   * (corruption).
   */
  LC_DROP_CHECKSUM = 2,
  /**
   * Commits are missing between this segment and the previous one.
   */
  LC_DROP_GAP = 3,
  /**
   * The segment could not be read.
   */
  LC_DROP_IO = 4,
  /**
   * The segment comes after the first corrupt one and was not replayed.
   */
  LC_DROP_AFTER_CORRUPTION = 5,
  /**
   * Commits from here on were written but never synced and are not all
   * there (unsynced data lost without a reboot, or after a failed
   * sync): cut like a torn tail, no durable commit is missing.
   */
  LC_DROP_NEVER_SYNCED = 6,
} lc_drop_reason;

/**
 * What the replica shipper (or, on a follower, the follower) is doing.
 * The numbers are part of the ABI: new states get new numbers.
 */
typedef enum lc_replica_state {
  LC_REPLICA_OFF = 0,
  LC_REPLICA_SHIPPING = 1,
  LC_REPLICA_BACKOFF = 2,
  LC_REPLICA_FENCED = 3,
  LC_REPLICA_NEEDS_SNAPSHOT = 4,
  /**
   * Another process of this database ships (or this one has not
   * started yet).
   */
  LC_REPLICA_STANDBY = 5,
  /**
   * A follower (`lc_open_follower`): applying the replica's commits as
   * they appear.
   */
  LC_REPLICA_FOLLOWING = 6,
  /**
   * A follower that found the replica on another history than its own
   * (a fork, a rollback): it applies no more; `last_error` says why.
   * Open it again with `lc_options_set_replica_resnapshot` to replace
   * it with a fresh restore.
   */
  LC_REPLICA_FORKED = 7,
} lc_replica_state;

/**
 * When a commit may report success.
 */
typedef enum lc_sync {
  /**
   * Success only after the commit is on stable storage (the default).
   */
  LC_SYNC_FULL = 0,
  /**
   * Survives a process crash; a power loss may lose the latest commits,
   * never corrupts.
   */
  LC_SYNC_NORMAL = 1,
  /**
   * Commits are never synced on their own: a power loss may lose the
   * latest ones, never corrupts (the files' structure - new segments,
   * checkpoints - is still synced). `lc_wait_durable` and LC_SYNC_FULL
   * transactions sync for real, and nothing claims durable what no sync
   * covered.
   */
  LC_SYNC_OFF = 2,
} lc_sync;

/**
 * How a commit's page images reach the disk.
 */
typedef enum lc_commit_mode {
  /**
   * Page images are appended to the write-ahead log (the default).
   */
  LC_MODE_WAL = 0,
  /**
   * Each writer persists its own checksummed capsule; the log holds only
   * small commit markers.
   */
  LC_MODE_NATIVE = 1,
} lc_commit_mode;

/**
 * Which accesses a commit validates.
 */
typedef enum lc_isolation {
  /**
   * First-committer-wins on the write set (the default).
   */
  LC_ISOLATION_SNAPSHOT = 0,
  /**
   * First-committer-wins on the write set and the read set.
   */
  LC_ISOLATION_SERIALIZABLE = 1,
} lc_isolation;

/**
 * An open database. Thread-safe: share one handle across threads. Created
 * by `lc_open`, freed by `lc_close`.
 */
typedef struct lc_db lc_db;

/**
 * Options for `lc_open`. Created by `lc_options_new`, freed by
 * `lc_options_free`; `lc_open` copies what it needs.
 */
typedef struct lc_options lc_options;

/**
 * A transaction: a snapshot plus a write set. Use from one thread at a
 * time. Created by `lc_begin`, consumed by `lc_txn_commit` or `lc_txn_abort`.
 */
typedef struct lc_txn lc_txn;

/**
 * One entry of a batch for `lc_commit_batch`.
 */
typedef struct lc_page_write {
  /**
   * The page number, 1 ..= 2^32-1.
   */
  uint32_t pgno;
  /**
   * The new image (`len` bytes), or NULL to delete the page.
   */
  const uint8_t *data;
  /**
   * Length of the image in bytes, 0 ..= page_size (ignored for a delete).
   */
  size_t len;
} lc_page_write;

/**
 * What `lc_checkpoint` did.
 */
typedef struct lc_checkpoint_report {
  /**
   * Pages written into the main file.
   */
  uint64_t pages_written;
  /**
   * WAL segments deleted.
   */
  uint64_t segments_removed;
  /**
   * Every commit <= this is now in the main file.
   */
  uint64_t checkpoint_seq;
} lc_checkpoint_report;

/**
 * What a recovery (at `lc_open`, or offline by `lc_recover`) did.
 */
typedef struct lc_recovery_report {
  /**
   * WAL segments replayed.
   */
  uint64_t segments_recovered;
  /**
   * Page records (writes and deletes) replayed.
   */
  uint64_t records_applied;
  /**
   * Commits replayed.
   */
  uint64_t commits_recovered;
  /**
   * Log bytes read.
   */
  uint64_t bytes_read;
  /**
   * The last commit_seq recovered; 0 if none.
   */
  uint64_t last_commit_seq;
  /**
   * Segments not replayed (corrupt, or after the first corrupt one).
   */
  uint64_t partial_segments;
} lc_recovery_report;

/**
 * Counters and watermarks from `lc_stats_get`. `commits` and `conflicts`
 * count what happened through this handle since it was opened; the other
 * fields describe the database.
 */
typedef struct lc_stats {
  /**
   * Commits made through this handle.
   */
  uint64_t commits;
  /**
   * Conflicts reported through this handle.
   */
  uint64_t conflicts;
  /**
   * fdatasync/fsync calls on log files.
   */
  uint64_t syncs;
  /**
   * Bytes appended to the log.
   */
  uint64_t bytes_logged;
  /**
   * The newest commit_seq.
   */
  uint64_t last_commit_seq;
  /**
   * The newest commit_seq on stable storage.
   */
  uint64_t durable_commit_seq;
  /**
   * Every commit <= this is in the main file.
   */
  uint64_t checkpoint_seq;
  /**
   * Open readers (transactions) of the database, in every live
   * process sharing it.
   */
  uint64_t active_readers;
  /**
   * Page versions kept in memory.
   */
  uint64_t retained_versions;
} lc_stats;

/**
 * A histogram with power-of-two buckets: `buckets[0]` counts zeros,
 * `buckets[i]` (i >= 1) counts values v with 2^(i-1) <= v < 2^i, and the
 * last bucket also holds everything larger. The number of values is the
 * sum of the buckets.
 */
typedef struct lc_histogram {
  /**
   * Values per bucket.
   */
  uint64_t buckets[LC_HISTOGRAM_BUCKETS];
  /**
   * The sum of all values recorded.
   */
  uint64_t sum;
} lc_histogram;

/**
 * Histograms and reader figures from `lc_metrics_get`.
 *
 * Versioned by size: set `size` to `sizeof(lc_metrics)` before the call.
 * Later versions of the library only append fields, so a program built
 * against an older header (a smaller struct) gets the fields it knows.
 */
typedef struct lc_metrics {
  /**
   * In: the size of the caller's struct, `sizeof(lc_metrics)`. Out: the
   * bytes the library filled (the smaller of that and its own size).
   */
  uint32_t size;
  /**
   * 1 if a reader (an open transaction) is registered, else 0 (and the
   * oldest_reader_* fields are 0).
   */
  uint32_t has_oldest_reader;
  /**
   * Commit latency through this engine, in microseconds.
   */
  struct lc_histogram commit_latency_us;
  /**
   * Commits made durable per group flush.
   */
  struct lc_histogram group_size;
  /**
   * Time each group flush spent syncing, in microseconds.
   */
  struct lc_histogram flush_us;
  /**
   * The snapshot (commit_seq) of the oldest registered reader.
   */
  uint64_t oldest_reader_snapshot;
  /**
   * How many commits the oldest reader is behind the latest.
   */
  uint64_t oldest_reader_age_commits;
  /**
   * Page versions kept in memory only because of the oldest reader.
   */
  uint64_t oldest_reader_pinned_versions;
} lc_metrics;

/**
 * What recovery found in one WAL segment (`lc_recovery_segment`). The
 * segment's path and the reason's text come from
 * `lc_recovery_segment_path` and `lc_recovery_segment_detail`.
 */
typedef struct lc_segment_report {
  /**
   * The epoch in the segment's file name.
   */
  uint64_t first_epoch;
  /**
   * Lowest epoch among the frames kept (0 if none).
   */
  uint64_t epoch_min;
  /**
   * Highest epoch among the frames kept (0 if none).
   */
  uint64_t epoch_max;
  /**
   * Frames replayed.
   */
  uint64_t frames_kept;
  /**
   * Frames not replayed.
   */
  uint64_t frames_dropped;
  /**
   * Why frames were dropped; LC_DROP_NONE when all were kept.
   */
  enum lc_drop_reason reason;
} lc_segment_report;

/**
 * The shipper's (or follower's) status, as `lc_replica_status` fills it.
 * Fields are only ever appended.
 */
typedef struct lc_replica_info {
  enum lc_replica_state state;
  uint64_t epoch;
  /**
   * Every commit up to this one is in the replica.
   */
  uint64_t shipped_seq;
  uint64_t lag_commits;
  uint64_t lag_bytes;
  /**
   * Age of the oldest unshipped commit (the current RPO), 0 if none.
   */
  uint64_t oldest_unshipped_ms;
  uint64_t chunks_shipped;
  /**
   * The last store error, NUL-terminated (truncated), "" if none.
   */
  char last_error[LC_REPLICA_ERROR_BYTES];
  /**
   * A follower: every commit up to this one is applied here (0 on a
   * database that does not follow).
   */
  uint64_t applied_seq;
  /**
   * A follower: commits the replica holds that are not applied yet, as
   * of its last look (0: it found nothing newer).
   */
  uint64_t behind_commits;
  /**
   * A follower: how long the oldest of those has been in the replica,
   * in milliseconds (0 when none).
   */
  uint64_t behind_ms;
  /**
   * A follower: from the newest applied chunk's making to its commits
   * being visible here, in milliseconds: the replication delay end to
   * end.
   */
  uint64_t apply_lag_ms;
} lc_replica_info;

/**
 * What `lc_restore` restores up to (a plain integer kind, so any value
 * from C is safe to receive).
 */
typedef struct lc_restore_target {
  /**
   * LC_RESTORE_LATEST, LC_RESTORE_SEQ or LC_RESTORE_TIME_MS.
   */
  uint32_t kind;
  uint64_t value;
} lc_restore_target;

typedef struct lc_restore_report {
  uint64_t restored_seq;
  uint64_t objects_read;
  uint64_t commits_applied;
  uint64_t bytes_read;
  uint64_t elapsed_ms;
} lc_restore_report;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The library version, "MAJOR.MINOR.PATCH": a static string, never NULL.
 *
 * Equals the engine crate's version. Compare it with `LC_VERSION_MAJOR`
 * etc. to detect a header/library mismatch.
 */
const char *lc_version(void);

/**
 * A short description of `status`: a static string, never NULL.
 *
 * A value that is not an `lc_status` gives "unknown status".
 */
const char *lc_status_str(lc_status status);

/**
 * This thread's last error message, "" if no call on this thread has
 * failed. Never NULL.
 *
 * Every call that fails sets it ("<function>: <reason>"); LC_NOT_FOUND
 * and LC_BUFFER_TOO_SMALL are outcomes and leave it unchanged, and so does
 * a call that succeeds. The string belongs to the library and stays valid
 * until the next failing call on this thread (or the thread's exit):
 * copy it to keep it.
 */
const char *lc_last_error(void);

/**
 * Creates an options object holding the defaults (page size 4096, sync
 * FULL, mode WAL, isolation SNAPSHOT, lanes 0, max flush delay 0, busy
 * timeout 5000 ms, read-write).
 *
 * On LC_OK, `*out` owns the new object: free it with `lc_options_free`.
 * Returns LC_INVALID_ARGUMENT if `out` is NULL.
 */
enum lc_status lc_options_new(struct lc_options **out);

/**
 * Frees an options object. NULL is a no-op. Databases opened with it are
 * unaffected (`lc_open` copies the options).
 */
void lc_options_free(struct lc_options *opts);

/**
 * Sets the page size of a new database: a power of two in 512 ..= 65536
 * (default 4096). An existing database keeps the page size it was created
 * with.
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
 * value is out of range.
 */
enum lc_status lc_options_set_page_size(struct lc_options *opts, uint32_t page_size);

/**
 * Sets the durability mode (default LC_SYNC_FULL).
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or
 * `sync` is not an `lc_sync` value.
 */
enum lc_status lc_options_set_sync(struct lc_options *opts, lc_sync sync);

/**
 * Sets the commit mode (default LC_MODE_WAL).
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or
 * `mode` is not an `lc_commit_mode` value.
 */
enum lc_status lc_options_set_commit_mode(struct lc_options *opts, lc_commit_mode mode);

/**
 * Sets the isolation level (default LC_ISOLATION_SNAPSHOT).
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or
 * `isolation` is not an `lc_isolation` value.
 */
enum lc_status lc_options_set_isolation(struct lc_options *opts, lc_isolation isolation);

/**
 * Sets the number of staging lanes: 0 = one per core (the default), at
 * most 256.
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
 * value is out of range.
 */
enum lc_status lc_options_set_lanes(struct lc_options *opts, uint32_t lanes);

/**
 * Sets how long a group-commit leader waits for more committers, in
 * microseconds: 0 = flush as soon as a leader is free (the default), at
 * most 1000000.
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
 * value is out of range.
 */
enum lc_status lc_options_set_max_flush_delay_us(struct lc_options *opts, uint32_t us);

/**
 * Sets how long to wait for another process's lock - the writer lease a
 * commit or checkpoint needs, or the lock of a process opening the
 * database - before LC_BUSY, in milliseconds (default 5000; any value).
 *
 * Returns LC_INVALID_ARGUMENT if `opts` is NULL.
 */
enum lc_status lc_options_set_busy_timeout_ms(struct lc_options *opts, uint32_t ms);

/**
 * Opens read-only when `read_only` is true (default false): the database
 * must exist, and writes return LC_READ_ONLY.
 *
 * Returns LC_INVALID_ARGUMENT if `opts` is NULL.
 */
enum lc_status lc_options_set_read_only(struct lc_options *opts, bool read_only);

/**
 * Sets the size of each WAL segment file in bytes: a multiple of 4096 in
 * 65536 ..= 2^30 (default 16 MiB). An extension to the API.
 *
 * Returns LC_INVALID_ARGUMENT (options unchanged) if `opts` is NULL or the
 * value is out of range.
 */
enum lc_status lc_options_set_segment_size_bytes(struct lc_options *opts, uint64_t bytes);

/**
 * Sets the WAL size in bytes past which commits trigger an automatic
 * checkpoint; 0 = never (default 64 MiB). An extension to the API.
 *
 * Returns LC_INVALID_ARGUMENT if `opts` is NULL.
 */
enum lc_status lc_options_set_checkpoint_threshold_bytes(struct lc_options *opts, uint64_t bytes);

/**
 * Opens (or creates) the database at `path` and replays its write-ahead
 * log; `lc_last_recovery` then tells what was replayed.
 *
 * `path` is a NUL-terminated byte string, as the OS takes it. `opts` may
 * be NULL for the defaults; it is copied and stays the caller's. On LC_OK,
 * `*out` is a new handle, shared by any number of threads, that the
 * caller must pass to `lc_close` exactly once.
 *
 * Returns LC_INVALID_ARGUMENT (NULL or empty `path`, NULL `out`, a bad
 * option), LC_CORRUPT (a file that is not a database, or a corrupt log:
 * the files are left as they were; see `lc_recover`), LC_IO (e.g. a
 * missing directory, a read-only open of a database that does not exist),
 * LC_BUSY (another process is opening and recovering it, or holds the
 * writer lease, past busy_timeout; processes share a database otherwise),
 * LC_FULL (no disk space for a file it must create or allocate, such as
 * `{path}-shm`, whose name the message gives).
 */
enum lc_status lc_open(const char *path, const struct lc_options *opts, struct lc_db **out);

/**
 * Closes the handle: waits for the commits in flight on it, then releases
 * the database (the engine may checkpoint). Frees `db` whatever the
 * status: do not use it again. NULL is LC_OK.
 *
 * Transactions still open on this handle stay valid to free
 * (`lc_txn_abort`), but their other calls return LC_CLOSED.
 *
 * Returns LC_OK, or the error of the final shutdown (LC_IO, LC_FULL, ...)
 * with `db` freed all the same.
 */
enum lc_status lc_close(struct lc_db *db);

/**
 * Starts a transaction at the latest visible commit.
 *
 * On LC_OK, `*out` is a new transaction owned by the caller: use it from
 * one thread at a time and end it with exactly one `lc_txn_commit` or
 * `lc_txn_abort`. It may outlive `lc_close(db)` (its calls then return
 * LC_CLOSED) but must still be ended to free it.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED, LC_BUSY.
 */
enum lc_status lc_begin(struct lc_db *db, struct lc_txn **out);

/**
 * The commit_seq the transaction reads at: it sees exactly the commits
 * <= this.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `txn` or `out_seq`), LC_CLOSED (its
 * database was closed).
 */
enum lc_status lc_txn_snapshot(const struct lc_txn *txn, uint64_t *out_seq);

/**
 * Reads `pgno` as the transaction sees it: its own write or delete if any,
 * else the image at its snapshot. Buffer rules as in `lc_read`: on LC_OK
 * `*out_len` is the image length; on LC_BUFFER_TOO_SMALL it is the length
 * needed (`buf` may be NULL when `cap` is 0); LC_NOT_FOUND if the page
 * does not exist at the snapshot. Under SERIALIZABLE the page joins the
 * read set that commit validates.
 *
 * Returns also LC_INVALID_ARGUMENT (NULL `txn`/`out_len`, NULL `buf` with
 * `cap` > 0, page 0), LC_CORRUPT, LC_IO, LC_CLOSED.
 */
enum lc_status lc_txn_read(struct lc_txn *txn,
                           uint32_t pgno,
                           uint8_t *buf,
                           size_t cap,
                           size_t *out_len);

/**
 * Sets `pgno` to the `len` bytes at `data` (copied) within the
 * transaction; others see it after commit. `data` must not be NULL (for an
 * empty image pass any valid pointer with `len` 0).
 *
 * Returns LC_INVALID_ARGUMENT (NULL `txn`/`data`, page 0, `len` >
 * page_size), LC_READ_ONLY, LC_CLOSED.
 */
enum lc_status lc_txn_write(struct lc_txn *txn, uint32_t pgno, const uint8_t *data, size_t len);

/**
 * Deletes `pgno` within the transaction.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `txn`, page 0), LC_READ_ONLY,
 * LC_CLOSED.
 */
enum lc_status lc_txn_delete(struct lc_txn *txn, uint32_t pgno);

/**
 * Sets the durability mode of this transaction's commit, overriding the
 * database's (see `lc_commit_batch_sync`): with LC_SYNC_NORMAL or
 * LC_SYNC_OFF, `lc_txn_commit` returns once the commit is written and
 * `lc_wait_durable` waits for it to be durable; LC_SYNC_FULL makes the
 * commit durable before it returns even in a NORMAL or OFF database. The
 * last call wins.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `txn`, `sync` not an `lc_sync` value:
 * the transaction is unchanged), LC_CLOSED (its database was closed).
 */
enum lc_status lc_txn_set_sync(struct lc_txn *txn, lc_sync sync);

/**
 * Validates and commits the transaction, then frees it: `txn` is consumed
 * whatever the status. First-committer-wins: if another commit after the
 * snapshot wrote a page this one writes (or, under SERIALIZABLE, read),
 * nothing is written and LC_CONFLICT is returned.
 *
 * `out_commit_seq` may be NULL; on LC_OK it receives the commit's
 * commit_seq (for a transaction that wrote nothing: its snapshot).
 *
 * Returns LC_INVALID_ARGUMENT (NULL `txn`), LC_CONFLICT, LC_IO, LC_FULL,
 * LC_READ_ONLY, LC_BUSY, LC_CLOSED.
 */
enum lc_status lc_txn_commit(struct lc_txn *txn, uint64_t *out_commit_seq);

/**
 * Discards the transaction and frees it. NULL is a no-op. Valid also
 * after its database was closed.
 */
void lc_txn_abort(struct lc_txn *txn);

/**
 * Atomically commits `count` page writes and deletes (`data == NULL`
 * deletes the page). Blind writes never conflict; the later commit wins.
 * One bad entry rejects the whole batch and nothing is written.
 *
 * `writes` must not be NULL (even when `count` is 0); the images are
 * copied. `out_commit_seq` may be NULL; on LC_OK it receives the commit's
 * commit_seq.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db`/`writes`, page 0, an image longer
 * than page_size), LC_READ_ONLY, LC_IO, LC_FULL, LC_BUSY, LC_CLOSED.
 */
enum lc_status lc_commit_batch(struct lc_db *db,
                               const struct lc_page_write *writes,
                               size_t count,
                               uint64_t *out_commit_seq);

/**
 * `lc_commit_batch` with its own durability mode, overriding the
 * database's for this commit only. LC_SYNC_FULL returns once the commit is
 * on stable storage. LC_SYNC_NORMAL and LC_SYNC_OFF return once it is
 * written: the commit_seq is then a ticket that `lc_wait_durable` waits on
 * (`lc_durable_seq` tells how far durability has got). In a FULL database
 * a relaxed commit becomes visible to readers when the group flush started
 * for it completes.
 *
 * `writes` must not be NULL (even when `count` is 0); the images are
 * copied. `out_seq` may be NULL; on LC_OK it receives the commit's
 * commit_seq.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db`/`writes`, `sync` not an `lc_sync`
 * value, page 0, an image longer than page_size: nothing is written),
 * LC_READ_ONLY, LC_IO, LC_FULL, LC_BUSY, LC_CLOSED.
 */
enum lc_status lc_commit_batch_sync(struct lc_db *db,
                                    const struct lc_page_write *writes,
                                    size_t count,
                                    lc_sync sync,
                                    uint64_t *out_seq);

/**
 * Reads the latest committed image of `pgno` into `buf` (`cap` bytes).
 *
 * On LC_OK, `*out_len` is the image length (0 for an empty page) and the
 * image is in `buf`. On LC_BUFFER_TOO_SMALL, `*out_len` is the length
 * needed and `buf` is untouched: `buf` may be NULL when `cap` is 0, which
 * is how to ask for the length. LC_NOT_FOUND: never written, or deleted.
 *
 * Returns also LC_INVALID_ARGUMENT (NULL `db`/`out_len`, NULL `buf` with
 * `cap` > 0, page 0), LC_CORRUPT, LC_IO, LC_CLOSED.
 */
enum lc_status lc_read(struct lc_db *db, uint32_t pgno, uint8_t *buf, size_t cap, size_t *out_len);

/**
 * Copies every committed page not yet in the main file into it, syncs,
 * and removes the log segments no longer needed. Never passes what an
 * open transaction still reads.
 *
 * `out` may be NULL; on LC_OK it receives what was done.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db`), LC_READ_ONLY, LC_IO, LC_FULL,
 * LC_BUSY, LC_CLOSED.
 */
enum lc_status lc_checkpoint(struct lc_db *db, struct lc_checkpoint_report *out);

/**
 * Fills `*out` with what `lc_open` replayed from the log for this database.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
 */
enum lc_status lc_last_recovery(const struct lc_db *db, struct lc_recovery_report *out);

/**
 * Fills `*out` with counters of this handle (`commits`, `conflicts`) and
 * watermarks of the database (the other fields).
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
 */
enum lc_status lc_stats_get(const struct lc_db *db, struct lc_stats *out);

/**
 * The page size of the database in bytes (an extension to the API).
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
 */
enum lc_status lc_page_size(const struct lc_db *db, uint32_t *out);

/**
 * Offline recovery of the closed database at `path`: replays its log into
 * the main file and reports what it found.
 *
 * `flags` is 0 or a combination of LC_RECOVER_SKIP_CORRUPT (keep the
 * durable prefix; segments not replayed are renamed to
 * `{segment}.corrupt`) and LC_RECOVER_DELETE_AFTER (delete replayed
 * segments). `out` may be NULL; on LC_OK it receives the report.
 *
 * Returns LC_INVALID_ARGUMENT (NULL or empty `path`, unknown flag bits),
 * LC_CORRUPT (without SKIP_CORRUPT: nothing is changed), LC_BUSY (the
 * database is open, in this process or another), LC_IO, LC_FULL.
 */
enum lc_status lc_recover(const char *path, uint32_t flags, struct lc_recovery_report *out);

/**
 * The durable watermark: every commit with commit_seq <= `*out` is on
 * stable storage, covered by a sync that succeeded (in a database opened
 * with LC_SYNC_OFF it moves only when something asks for a sync:
 * `lc_wait_durable`, a LC_SYNC_FULL transaction). 0 when nothing is
 * durable yet.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
 */
enum lc_status lc_durable_seq(const struct lc_db *db, uint64_t *out);

/**
 * Waits up to `timeout_ms` milliseconds until commit `seq` is durable (a
 * ticket from `lc_commit_batch_sync`, or `lc_txn_commit` after
 * `lc_txn_set_sync`). Starts the group flush itself when none is running.
 *
 * On LC_OK, `*out_durable` is true once `seq` is durable and false when
 * the timeout passed first (an outcome, not a failure). `timeout_ms` 0
 * only checks. Blocks the calling thread; other threads may use `db`
 * meanwhile (but not `lc_close` it).
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out_durable`; `seq` greater
 * than the last commit_seq handed out), LC_IO (a sync failed: the
 * database is closed to writes), LC_CLOSED.
 */
enum lc_status lc_wait_durable(struct lc_db *db,
                               uint64_t seq,
                               uint32_t timeout_ms,
                               bool *out_durable);

/**
 * Fills `*out` with the commit latency, group size and flush time
 * histograms and with how far the oldest reader lags and what it pins.
 *
 * Set `out->size = sizeof(lc_metrics)` first. The library fills the first
 * min(out->size, its own sizeof(lc_metrics)) bytes and stores that number
 * in `out->size`: a program built against an older, smaller lc_metrics
 * gets the fields it knows, and a newer, larger one can tell which fields
 * this library filled. Nothing is written unless LC_OK is returned.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`, `out->size` smaller
 * than 8), LC_CLOSED.
 */
enum lc_status lc_metrics_get(const struct lc_db *db, struct lc_metrics *out);

/**
 * The number of WAL segments the recovery at `lc_open` examined, in log
 * order; `lc_recovery_segment(db, i, ...)` describes segment i for
 * i < `*out`. 0 for a new database or one with an empty log.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
 */
enum lc_status lc_recovery_segment_count(const struct lc_db *db, size_t *out);

/**
 * Fills `*out` with what the recovery at `lc_open` found in segment
 * `index` (0-based, in log order): its first epoch, the epochs of the
 * frames kept, frames kept and dropped, and why frames were dropped
 * (LC_DROP_TORN_TAIL is the normal end of a log after a crash).
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`, `index` >=
 * `lc_recovery_segment_count`), LC_CLOSED.
 */
enum lc_status lc_recovery_segment(const struct lc_db *db,
                                   size_t index,
                                   struct lc_segment_report *out);

/**
 * Copies the file path of segment `index` into `buf` (`cap` bytes) with a
 * terminating NUL.
 *
 * On LC_OK, `buf` holds the path and a NUL, and `*out_len` is the path's
 * length without the NUL (strlen). On LC_BUFFER_TOO_SMALL (`cap` is less
 * than the length plus one), `*out_len` is the buffer size needed (the
 * length plus one) and `buf` is untouched: `buf` may be NULL when `cap` is
 * 0, which is how to ask for the size. The path starts with the path given
 * to `lc_open`.
 *
 * Returns also LC_INVALID_ARGUMENT (NULL `db`/`out_len`, NULL `buf` with
 * `cap` > 0, `index` out of range), LC_CLOSED.
 */
enum lc_status lc_recovery_segment_path(const struct lc_db *db,
                                        size_t index,
                                        uint8_t *buf,
                                        size_t cap,
                                        size_t *out_len);

/**
 * Copies the text of segment `index`'s drop reason into `buf` (`cap`
 * bytes) with a terminating NUL: "" (LC_DROP_NONE), "torn tail",
 * "checksum: <what failed>", "gap: <what is missing>", "io: <error>",
 * "after corruption" or "never synced: <what was cut>". Buffer rules as
 * in `lc_recovery_segment_path`.
 *
 * Returns LC_OK, LC_BUFFER_TOO_SMALL, LC_INVALID_ARGUMENT (NULL
 * `db`/`out_len`, NULL `buf` with `cap` > 0, `index` out of range),
 * LC_CLOSED.
 */
enum lc_status lc_recovery_segment_detail(const struct lc_db *db,
                                          size_t index,
                                          uint8_t *buf,
                                          size_t cap,
                                          size_t *out_len);

/**
 * Ships every durable commit to the replica at `url`
 * (`file:///dir/prefix` or `s3://bucket/prefix?endpoint=...&region=...`,
 * credentials from the `AWS_*` environment variables); NULL turns
 * replication off. The URL is copied. Commits never wait for the store.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `opts`, a malformed URL: options
 * unchanged).
 */
enum lc_status lc_options_set_replica(struct lc_options *opts, const char *url);

/**
 * Sets the least time between two snapshots of the main file in the
 * replica, in milliseconds (default 3600000; 0 = after every
 * checkpoint). Each snapshot uploads the whole main file.
 *
 * Returns LC_INVALID_ARGUMENT if `opts` is NULL.
 */
enum lc_status lc_options_set_replica_snapshot_interval_ms(struct lc_options *opts, uint64_t ms);

/**
 * Sets the replica's retention: the newest `snapshots` snapshots are
 * kept (default 2, at least 1), and so are those younger than
 * `window_ms` (default 86400000), with every chunk after the oldest kept
 * one; older objects are deleted `grace_ms` (default 600000) after they
 * stopped being needed, so that a restore already under way still finds
 * them.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `opts`, `snapshots` 0: options
 * unchanged).
 */
enum lc_status lc_options_set_replica_retention(struct lc_options *opts,
                                                uint32_t snapshots,
                                                uint64_t window_ms,
                                                uint64_t grace_ms);

/**
 * The replica shipper's status (state LC_REPLICA_OFF without a replica);
 * on a follower, how far it applied and how far behind it is.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out`), LC_CLOSED.
 */
enum lc_status lc_replica_status(const struct lc_db *db, struct lc_replica_info *out);

/**
 * Waits up to `timeout_ms` until commit `seq` is in the replica: RPO 0
 * for that commit. On LC_OK `*out_replicated` is false when the timeout
 * passed first, or the shipper cannot get there (fenced, needs a
 * snapshot). Blocks the calling thread only.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db` or `out_replicated`; no replica
 * configured), LC_CLOSED.
 */
enum lc_status lc_wait_replicated(struct lc_db *db,
                                  uint64_t seq,
                                  uint32_t timeout_ms,
                                  bool *out_replicated);

/**
 * Restores the replica at `url` into a new database at `dest_path` (which
 * must not exist), up to `target`; `report` may be NULL. A gap, a broken
 * hash chain or a bad checksum fails the restore naming the object.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `url` or `dest_path`, `dest_path`
 * exists, an unknown target kind, a target past what the replica holds), LC_CORRUPT, LC_IO.
 */
enum lc_status lc_restore(const char *url,
                          const char *dest_path,
                          struct lc_restore_target target,
                          struct lc_restore_report *report);

/**
 * Sets how often a follower (`lc_open_follower`) looks for the replica's
 * next chunk, in milliseconds (default 100, at least 1). Each look is
 * one request to the store.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `opts`, `ms` 0: options unchanged).
 */
enum lc_status lc_options_set_replica_poll_ms(struct lc_options *opts, uint64_t ms);

/**
 * When `resnapshot` is true (default false), `lc_open_follower` replaces
 * a local database the replica cannot continue (a fork: it has commits
 * the replica never had; the replica was rolled back or restarted; it
 * never followed a replica) with a fresh restore, instead of refusing
 * it. The replaced database's files are deleted.
 *
 * Returns LC_INVALID_ARGUMENT if `opts` is NULL.
 */
enum lc_status lc_options_set_replica_resnapshot(struct lc_options *opts, bool resnapshot);

/**
 * Opens the database at `local_path` as a read replica of the replica at
 * `url`: restored from it first when `local_path` does not exist,
 * resumed where it stopped when it does. A thread of this handle then
 * applies new commits as they appear in the replica (every
 * `lc_options_set_replica_poll_ms`); readers see them at their next
 * transaction. Commits through any handle of the database return
 * LC_READ_ONLY until `lc_promote`. `lc_replica_status` tells how far it
 * applied (state LC_REPLICA_FOLLOWING, `applied_seq`, `behind_*`).
 *
 * `url` and `local_path` are NUL-terminated and copied. `opts` may be
 * NULL for the defaults; it is copied and stays the caller's (its
 * replica URL and read-only setting are ignored). On LC_OK, `*out` is a
 * new handle, as from `lc_open`, that the caller must pass to `lc_close`
 * exactly once; closing it stops the follower.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `url`, `local_path` or `out`, an
 * empty path, a malformed URL, a bad option; `local_path` belongs to
 * another replica or never followed one), LC_FENCED (a fork: the local
 * database has commits the replica never had, or the replica no longer
 * continues its history - the message says "fork"; see
 * `lc_options_set_replica_resnapshot`), LC_BUSY (it is open in this
 * process as a writer, or locked by another process), LC_CORRUPT (a
 * damaged replica object or local file, named in the message), LC_IO,
 * LC_FULL.
 */
enum lc_status lc_open_follower(const char *url,
                                const char *local_path,
                                const struct lc_options *opts,
                                struct lc_db **out);

/**
 * Promotes a follower to the writer: the process that follows the
 * database (this one or another) applies everything the replica holds,
 * takes the replica with a new epoch - the old writer, if it comes back,
 * is fenced (LC_FENCED on its first commit) - and ships this database's
 * commits from then on; commits are accepted as soon as this returns.
 * `db` may come from `lc_open_follower`, or from `lc_open` of a follower's
 * database with `lc_options_set_replica` set to the replica's URL. Blocks
 * the calling thread, up to 60 s. On LC_OK `*epoch_out` (may be NULL) is
 * the new epoch.
 *
 * Returns LC_INVALID_ARGUMENT (NULL `db`; the database does not follow a
 * replica; no replica URL to follow it with), LC_FENCED (the follower
 * stopped on a fork, or the promotion was refused: the message says why),
 * LC_BUSY (the process that follows did not answer in time, or the old
 * writer kept shipping), LC_CLOSED, LC_IO.
 */
enum lc_status lc_promote(struct lc_db *db, uint64_t *epoch_out);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* LIBCOMMIT_H */
