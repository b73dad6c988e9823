/*
 * api_contract.c - compiled with -Werror against include/libcommit.h to
 * prove the header declares API.md's C section as written: every type
 * name, enum value, struct field, constant, and each function with exactly
 * the documented signature (assigned to a pointer of that exact type).
 * It only needs to compile and link; main() checks a few values at run time.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "libcommit.h"

#define STATIC_ASSERT(cond) _Static_assert(cond, #cond)

STATIC_ASSERT(LC_OK == 0);
STATIC_ASSERT(LC_NOT_FOUND == 1);
STATIC_ASSERT(LC_CONFLICT == 2);
STATIC_ASSERT(LC_BUSY == 3);
STATIC_ASSERT(LC_CORRUPT == 4);
STATIC_ASSERT(LC_IO == 5);
STATIC_ASSERT(LC_INVALID_ARGUMENT == 6);
STATIC_ASSERT(LC_BUFFER_TOO_SMALL == 7);
STATIC_ASSERT(LC_CLOSED == 8);
STATIC_ASSERT(LC_READ_ONLY == 9);
STATIC_ASSERT(LC_FULL == 10);
STATIC_ASSERT(LC_INTERNAL == 11);
STATIC_ASSERT(LC_FENCED == 12);
STATIC_ASSERT(LC_SYNC_FULL == 0 && LC_SYNC_NORMAL == 1 && LC_SYNC_OFF == 2);
STATIC_ASSERT(LC_MODE_WAL == 0 && LC_MODE_NATIVE == 1);
STATIC_ASSERT(LC_ISOLATION_SNAPSHOT == 0 && LC_ISOLATION_SERIALIZABLE == 1);
STATIC_ASSERT(LC_RECOVER_SKIP_CORRUPT == 1u && LC_RECOVER_DELETE_AFTER == 2u);
STATIC_ASSERT(LC_VERSION_MAJOR >= 0 && LC_VERSION_MINOR >= 0 && LC_VERSION_PATCH >= 0);

/* Enum typedefs usable as written. */
static lc_status status_v = LC_OK;
static lc_sync sync_v = LC_SYNC_FULL;
static lc_commit_mode mode_v = LC_MODE_WAL;
static lc_isolation isolation_v = LC_ISOLATION_SNAPSHOT;
static enum lc_status status_tag_v = LC_OK;

/* Opaque handle typedefs. */
static lc_db *db_v;
static lc_txn *txn_v;
static lc_options *options_v;
static struct lc_db *db_tag_v;

/* Structs with their documented fields and types. */
static lc_page_write write_v = {.pgno = (uint32_t)1, .data = (const uint8_t *)0, .len = (size_t)0};
static lc_recovery_report recovery_v = {
    .segments_recovered = (uint64_t)0, .records_applied = (uint64_t)0,
    .commits_recovered = (uint64_t)0, .bytes_read = (uint64_t)0,
    .last_commit_seq = (uint64_t)0, .partial_segments = (uint64_t)0};
static lc_checkpoint_report checkpoint_v = {
    .pages_written = (uint64_t)0, .segments_removed = (uint64_t)0, .checkpoint_seq = (uint64_t)0};
static lc_stats stats_v = {
    .commits = 0, .conflicts = 0, .syncs = 0, .bytes_logged = 0, .last_commit_seq = 0,
    .durable_commit_seq = 0, .checkpoint_seq = 0, .active_readers = 0, .retained_versions = 0};
STATIC_ASSERT(sizeof(((lc_page_write *)0)->pgno) == sizeof(uint32_t));
STATIC_ASSERT(sizeof(((lc_page_write *)0)->len) == sizeof(size_t));
STATIC_ASSERT(sizeof(lc_recovery_report) == 6 * sizeof(uint64_t));
STATIC_ASSERT(sizeof(lc_checkpoint_report) == 3 * sizeof(uint64_t));
STATIC_ASSERT(sizeof(lc_stats) == 9 * sizeof(uint64_t));

/* Every function, with the exact signature of API.md. */
const char *(*p_version)(void) = lc_version;
const char *(*p_status_str)(lc_status status) = lc_status_str;
const char *(*p_last_error)(void) = lc_last_error;
lc_status (*p_options_new)(lc_options **out) = lc_options_new;
void (*p_options_free)(lc_options *opts) = lc_options_free;
lc_status (*p_set_page_size)(lc_options *opts, uint32_t page_size) = lc_options_set_page_size;
lc_status (*p_set_sync)(lc_options *opts, lc_sync sync) = lc_options_set_sync;
lc_status (*p_set_commit_mode)(lc_options *opts, lc_commit_mode mode) = lc_options_set_commit_mode;
lc_status (*p_set_isolation)(lc_options *opts, lc_isolation isolation) = lc_options_set_isolation;
lc_status (*p_set_lanes)(lc_options *opts, uint32_t lanes) = lc_options_set_lanes;
lc_status (*p_set_max_flush_delay_us)(lc_options *opts, uint32_t us) = lc_options_set_max_flush_delay_us;
lc_status (*p_set_busy_timeout_ms)(lc_options *opts, uint32_t ms) = lc_options_set_busy_timeout_ms;
lc_status (*p_set_read_only)(lc_options *opts, bool read_only) = lc_options_set_read_only;
lc_status (*p_open)(const char *path, const lc_options *opts, lc_db **out) = lc_open;
lc_status (*p_close)(lc_db *db) = lc_close;
lc_status (*p_begin)(lc_db *db, lc_txn **out) = lc_begin;
lc_status (*p_txn_snapshot)(const lc_txn *txn, uint64_t *out_seq) = lc_txn_snapshot;
lc_status (*p_txn_read)(lc_txn *txn, uint32_t pgno, uint8_t *buf, size_t cap, size_t *out_len) = lc_txn_read;
lc_status (*p_txn_write)(lc_txn *txn, uint32_t pgno, const uint8_t *data, size_t len) = lc_txn_write;
lc_status (*p_txn_delete)(lc_txn *txn, uint32_t pgno) = lc_txn_delete;
lc_status (*p_txn_commit)(lc_txn *txn, uint64_t *out_commit_seq) = lc_txn_commit;
void (*p_txn_abort)(lc_txn *txn) = lc_txn_abort;
lc_status (*p_commit_batch)(lc_db *db, const lc_page_write *writes, size_t count, uint64_t *out_commit_seq) = lc_commit_batch;
lc_status (*p_read)(lc_db *db, uint32_t pgno, uint8_t *buf, size_t cap, size_t *out_len) = lc_read;
lc_status (*p_checkpoint)(lc_db *db, lc_checkpoint_report *out) = lc_checkpoint;
lc_status (*p_last_recovery)(const lc_db *db, lc_recovery_report *out) = lc_last_recovery;
lc_status (*p_stats_get)(const lc_db *db, lc_stats *out) = lc_stats_get;
lc_status (*p_recover)(const char *path, uint32_t flags, lc_recovery_report *out) = lc_recover;

int main(void) {
    (void)status_v; (void)sync_v; (void)mode_v; (void)isolation_v; (void)status_tag_v;
    (void)db_v; (void)txn_v; (void)options_v; (void)db_tag_v;
    (void)write_v; (void)recovery_v; (void)checkpoint_v; (void)stats_v;
    if (p_version() == NULL || p_status_str(LC_OK) == NULL || p_last_error() == NULL) return 1;
    printf("api_contract: lc_version() = %s\n", p_version());
    return 0;
}
