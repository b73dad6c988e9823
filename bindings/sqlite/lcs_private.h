/*
 * lcs_private.h - what the VFS's source files share; nothing here is API
 * (that is libcommit_sqlite.h).
 *
 * The VFS is built twice from the same files: into libsqlite3lc.a beside
 * SQLite, and with -DLIBCOMMIT_SQLITE_EXTENSION into the loadable
 * extension, where every sqlite3_* call goes through the host's API table
 * (defined in libcommit_sqlite.c).
 *
 *   lcs_io.c            the file: overlay, snapshot reads, read/write/
 *                       truncate/size/sync, file controls, the methods table
 *   lcs_lock.c          SQLite's lock protocol on the lock file
 *   lcs_wait.c          busy handlers woken when the lock is let go
 *   lcs_commit.c        the overlay as a libcommit commit: batch, journal
 *                       path, group sync and its reader rule
 *   lcs_open.c          URI parameters, open and close
 *   libcommit_sqlite.c  registration and the extension entry point
 */
#ifndef LCS_PRIVATE_H
#define LCS_PRIVATE_H

#define _GNU_SOURCE /* F_OFD_SETLK */

#ifdef LIBCOMMIT_SQLITE_EXTENSION
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT3
#else
#include "sqlite3.h"
#endif

#include "libcommit_sqlite.h"

#include <libcommit.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Linked into one object with SQLite and libcommit (then made local), or
 * into the extension, whose version script exports only its entry point:
 * none of these names reach the program. */
#pragma GCC visibility push(hidden)

/* SQLite's lock bytes, as the unix VFS places them, but on our own lock
 * file: libcommit owns the main file and may replace it. */
#define LCS_PENDING_BYTE 0x40000000
#define LCS_RESERVED_BYTE (LCS_PENDING_BYTE + 1)
#define LCS_SHARED_FIRST (LCS_PENDING_BYTE + 2)
#define LCS_SHARED_SIZE 510
/* Held while a process decides whether a database is new, so that two
 * creators never race on removing a dead database's leftovers. */
#define LCS_CREATE_BYTE 0

#define LCS_LOCK_SUFFIX "-sqlite-lock"
#define LCS_PAGE_SIZE_NEW 4096u
/* The file's size lives in the last page number, so block k can be page k+1
 * for every block a 32-bit page number can address. */
#define LCS_META_PGNO 0xFFFFFFFFu
#define LCS_BLOCKS_MAX (LCS_META_PGNO - 1u)
#define LCS_META_MAGIC "LCSQLT01"
#define LCS_META_LEN 16u
#define LCS_SECTOR_SIZE 4096
#define LCS_WAIT_SLICE_MS 1000u

/* base.pAppData points back here: shims (test_quota.c, multiplexors) copy
 * the sqlite3_vfs struct and call its methods with their copy, so the
 * methods find this struct through pAppData, never by casting `vfs`. */
typedef struct lcs_vfs {
    sqlite3_vfs base;
    sqlite3_vfs *root; /* journals, temp files and everything but main files */
    char name[64];
} lcs_vfs;

#define LCS_VFS(vfs) ((lcs_vfs *)(vfs)->pAppData)

/* One block changed by the open write transaction; data NULL = zeros (a
 * block cut off by a truncation, deleted at commit). */
typedef struct lcs_slot {
    uint32_t pgno; /* 0 = empty slot */
    uint8_t *data;
} lcs_slot;

typedef struct lcs_overlay {
    lcs_slot *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
} lcs_overlay;

typedef struct lcs_file {
    sqlite3_file base;
    lcs_vfs *vfs;
    lc_db *db;
    lc_txn *txn;  /* the snapshot reads come from while a lock is held */
    uint32_t blk; /* bytes per block = libcommit's page size */
    int lock_fd;
    int level;     /* the lock level SQLite sees */
    int os_shared; /* the SHARED range is really locked (0: kept by snapshot only) */
    bool readonly;
    bool group;          /* lc_group_sync: durable after the lock is released */
    bool exclusive_mode; /* PRAGMA locking_mode=exclusive: no unlock to wait at */
    bool psow;
    bool size_valid;
    bool pending; /* the overlay or size differs from what is committed */
    bool in_batch;
    bool batch_began_dirty;
    bool durable_checked;
    int fail_batch;
    int last_errno;
    sqlite3_int64 size;           /* current logical size (valid when size_valid) */
    sqlite3_int64 committed_size; /* size at the snapshot */
    uint64_t snapshot_seq;
    uint64_t ticket; /* a commit still to be made durable (group sync) */
    lcs_overlay ov;
    uint8_t *scratch; /* one block */
    char *path;
    dev_t dev;
    ino_t ino;
    libcommit_sqlite_stats st;
    struct lcs_relmem *relmem; /* the lock file's release word (lcs_wait.c), or NULL */
    struct lcs_file *wait_next;
    int wait_refs; /* sleepers using relmem */
} lcs_file;

/* lcs_io.c */
extern const sqlite3_io_methods lcs_io_methods;
int lcs_err(lc_status st, int ioerr, const char *what);
void lcs_ov_clear(lcs_overlay *ov);
int lcs_begin(lcs_file *p);
void lcs_end(lcs_file *p);

/* lcs_lock.c */
int lcs_lock(sqlite3_file *f, int level);
int lcs_unlock(sqlite3_file *f, int level);
int lcs_check_reserved(sqlite3_file *f, int *out);
int lcs_lock_fcntl(lcs_file *p, int op, void *arg); /* SQLITE_NOTFOUND: not a lock control */
int lcs_open_lock_file(lcs_file *p);
int lcs_hold_create_byte(lcs_file *p, short type);

/* lcs_wait.c */
void lcs_wait_attach(lcs_file *p);
void lcs_wait_detach(lcs_file *p);
uint32_t lcs_wait_gen(lcs_file *p);
void lcs_wait_released(lcs_file *p);
void lcs_wait_refused(lcs_file *p, uint32_t gen, int level);
void lcs_wait_granted(lcs_file *p, int level);
int lcs_wait_sleep(sqlite3_vfs *root, int us);

/* lcs_commit.c */
int lcs_commit(lcs_file *p, uint64_t *counter);
int lcs_settle_ticket(lcs_file *p);
int lcs_reader_durable(lcs_file *p, sqlite3_int64 off, int amt);
int lcs_commit_fcntl(lcs_file *p, int op, void *arg); /* SQLITE_NOTFOUND: not a commit control */

/* lcs_open.c */
int lcs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags);
int lcs_close(sqlite3_file *f);

#pragma GCC visibility pop

#endif /* LCS_PRIVATE_H */
