/*
 * libcommit_sqlite.c - the libcommit VFS for SQLite (see libcommit_sqlite.h
 * for what it does, docs/SQLITE.md for why it is safe).
 *
 * Built twice from this one file: into libsqlite3lc.a beside SQLite, and
 * with -DLIBCOMMIT_SQLITE_EXTENSION into the loadable extension, where
 * every sqlite3_* call goes through the host's API table.
 */
#define _GNU_SOURCE /* F_OFD_SETLK */

#ifdef LIBCOMMIT_SQLITE_EXTENSION
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1
#else
#include "sqlite3.h"
#endif

#include "libcommit_sqlite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libcommit.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

typedef struct lcs_vfs {
    sqlite3_vfs base;
    sqlite3_vfs *root; /* journals, temp files and everything but main files */
    char name[64];
} lcs_vfs;

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
} lcs_file;

static const sqlite3_io_methods lcs_io;

/* ---- errors ------------------------------------------------------------ */

/* Maps a libcommit failure to SQLite's code for this operation and logs
 * libcommit's own message, which SQLite has no other way to show. */
static int lcs_err(lc_status st, int ioerr, const char *what) {
    int rc;
    switch (st) {
    case LC_OK: return SQLITE_OK;
    case LC_BUSY: rc = SQLITE_BUSY; break;
    case LC_FULL: rc = SQLITE_FULL; break;
    case LC_IO: rc = ioerr; break;
    case LC_READ_ONLY: rc = SQLITE_READONLY; break;
    case LC_CORRUPT: rc = SQLITE_CORRUPT; break;
    case LC_CONFLICT: rc = SQLITE_BUSY_SNAPSHOT; break;
    case LC_INTERNAL: rc = SQLITE_INTERNAL; break;
    default: rc = ioerr; break;
    }
    sqlite3_log(rc, "libcommit vfs: %s: %s (%s)", what, lc_last_error(), lc_status_str(st));
    return rc;
}

/* ---- the overlay: blocks written since the last commit ----------------- */

static lcs_slot *ov_find(lcs_overlay *ov, uint32_t pgno) {
    if (ov->cap == 0) return NULL;
    size_t mask = ov->cap - 1;
    for (size_t i = (pgno * 2654435761u) & mask;; i = (i + 1) & mask) {
        if (ov->slots[i].pgno == pgno) return &ov->slots[i];
        if (ov->slots[i].pgno == 0) return NULL;
    }
}

static int ov_grow(lcs_overlay *ov) {
    size_t cap = ov->cap ? ov->cap * 2 : 64;
    lcs_slot *slots = calloc(cap, sizeof *slots);
    if (!slots) return SQLITE_NOMEM;
    for (size_t j = 0; j < ov->cap; j++) {
        if (ov->slots[j].pgno == 0) continue;
        size_t i = (ov->slots[j].pgno * 2654435761u) & (cap - 1);
        while (slots[i].pgno) i = (i + 1) & (cap - 1);
        slots[i] = ov->slots[j];
    }
    free(ov->slots);
    ov->slots = slots;
    ov->cap = cap;
    return SQLITE_OK;
}

/* The slot for pgno, added (data NULL) if missing. */
static int ov_slot(lcs_overlay *ov, uint32_t pgno, lcs_slot **out) {
    lcs_slot *s = ov_find(ov, pgno);
    if (!s) {
        if ((ov->count + 1) * 2 > ov->cap) {
            int rc = ov_grow(ov);
            if (rc) return rc;
        }
        size_t i = (pgno * 2654435761u) & (ov->cap - 1);
        while (ov->slots[i].pgno) i = (i + 1) & (ov->cap - 1);
        s = &ov->slots[i];
        s->pgno = pgno;
        s->data = NULL;
        ov->count++;
    }
    *out = s;
    return SQLITE_OK;
}

static void ov_clear(lcs_overlay *ov) {
    for (size_t i = 0; i < ov->cap; i++) free(ov->slots[i].data);
    free(ov->slots);
    memset(ov, 0, sizeof *ov);
}

/* ---- committed state --------------------------------------------------- */

/* Reads page pgno as committed (at the snapshot when one is held) into a
 * zero-padded block; a page never written reads as zeros. */
static int lcs_read_committed(lcs_file *p, uint32_t pgno, uint8_t *out, size_t cap) {
    size_t len = 0;
    lc_status st = p->txn ? lc_txn_read(p->txn, pgno, out, cap, &len)
                          : lc_read(p->db, pgno, out, cap, &len);
    if (st == LC_NOT_FOUND) len = 0;
    else if (st != LC_OK) return lcs_err(st, SQLITE_IOERR_READ, "read");
    if (len < cap) memset(out + len, 0, cap - len);
    return SQLITE_OK;
}

static int lcs_read_meta(lcs_file *p, sqlite3_int64 *size) {
    uint8_t m[LCS_META_LEN];
    size_t len = 0;
    lc_status st = p->txn ? lc_txn_read(p->txn, LCS_META_PGNO, m, sizeof m, &len)
                          : lc_read(p->db, LCS_META_PGNO, m, sizeof m, &len);
    if (st == LC_NOT_FOUND) {
        *size = 0;
        return SQLITE_OK;
    }
    if (st == LC_BUFFER_TOO_SMALL || (st == LC_OK && (len != LCS_META_LEN || memcmp(m, LCS_META_MAGIC, 8) != 0))) {
        sqlite3_log(SQLITE_CORRUPT, "libcommit vfs: %s: page %u is not this VFS's size record", p->path,
                    LCS_META_PGNO);
        return SQLITE_CORRUPT;
    }
    if (st != LC_OK) return lcs_err(st, SQLITE_IOERR_READ, "read size");
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | m[8 + i];
    *size = (sqlite3_int64)v;
    return SQLITE_OK;
}

/* Begins the snapshot that reads see until the lock is dropped. */
static int lcs_begin(lcs_file *p) {
    if (p->txn) return SQLITE_OK;
    lc_status st = lc_begin(p->db, &p->txn);
    if (st != LC_OK) {
        p->txn = NULL;
        return lcs_err(st, SQLITE_IOERR_LOCK, "begin");
    }
    lc_txn_snapshot(p->txn, &p->snapshot_seq);
    p->st.snapshot_seq = p->snapshot_seq;
    p->durable_checked = false;
    int rc = lcs_read_meta(p, &p->committed_size);
    if (rc) {
        lc_txn_abort(p->txn);
        p->txn = NULL;
        return rc;
    }
    if (!p->pending) {
        p->size = p->committed_size;
        p->size_valid = true;
    }
    return SQLITE_OK;
}

static void lcs_end(lcs_file *p) {
    lc_txn_abort(p->txn);
    p->txn = NULL;
    if (!p->pending) p->size_valid = false;
}

static int lcs_cur_size(lcs_file *p, sqlite3_int64 *out) {
    if (p->pending || p->size_valid) {
        *out = p->size;
        return SQLITE_OK;
    }
    return lcs_read_meta(p, out);
}

/* Waits until commit seq is durable; LC_IO means a sync failed. */
static int lcs_wait_durable(lcs_file *p, uint64_t seq) {
    for (;;) {
        bool done = false;
        lc_status st = lc_wait_durable(p->db, seq, LCS_WAIT_SLICE_MS, &done);
        if (st != LC_OK) return lcs_err(st, SQLITE_IOERR_FSYNC, "wait_durable");
        if (done) return SQLITE_OK;
    }
}

/* Group sync lets a commit be written but not yet durable when the lock is
 * released; a reader must not act on it, so its first read past page 1
 * waits for everything in its snapshot. Page 1 (header, schema) is exempt:
 * a writer reads it before it takes RESERVED, and a writer's own commit
 * waits for everything it read. */
static int lcs_reader_durable(lcs_file *p, sqlite3_int64 off, int amt) {
    if (p->level != SQLITE_LOCK_SHARED || p->durable_checked || !p->txn) return SQLITE_OK;
    if (off == 0 || off + amt <= 100) return SQLITE_OK;
    uint64_t d = 0;
    lc_status st = lc_durable_seq(p->db, &d);
    if (st != LC_OK) return lcs_err(st, SQLITE_IOERR_READ, "durable_seq");
    if (p->group && d < p->snapshot_seq) {
        int rc = lcs_wait_durable(p, p->snapshot_seq);
        if (rc) return rc;
        p->st.reader_waits++;
        lc_durable_seq(p->db, &d);
    }
    p->st.durable_at_read = d;
    p->durable_checked = true;
    return SQLITE_OK;
}

/* ---- commit ------------------------------------------------------------- */

/* Commits the overlay and the size as one libcommit commit through the
 * snapshot's transaction: first-committer-wins then catches any write that
 * SQLite's locks should have excluded. */
static int lcs_commit(lcs_file *p, uint64_t *counter) {
    if (!p->pending) return SQLITE_OK;
    int rc = lcs_begin(p);
    if (rc) return rc;
    lc_status st = LC_OK;
    for (size_t i = 0; i < p->ov.cap && st == LC_OK; i++) {
        lcs_slot *s = &p->ov.slots[i];
        if (s->pgno == 0) continue;
        st = s->data ? lc_txn_write(p->txn, s->pgno, s->data, p->blk) : lc_txn_delete(p->txn, s->pgno);
    }
    uint8_t m[LCS_META_LEN];
    memcpy(m, LCS_META_MAGIC, 8);
    uint64_t v = (uint64_t)p->size;
    for (int i = 0; i < 8; i++) m[8 + i] = (uint8_t)(v >> (8 * i));
    if (st == LC_OK) st = lc_txn_write(p->txn, LCS_META_PGNO, m, sizeof m);
    if (st == LC_OK && p->group) st = lc_txn_set_sync(p->txn, LC_SYNC_NORMAL);
    uint64_t seq = 0;
    if (st == LC_OK) {
        st = lc_txn_commit(p->txn, &seq);
    } else {
        lc_txn_abort(p->txn);
    }
    p->txn = NULL;
    ov_clear(&p->ov);
    p->pending = false;
    if (st != LC_OK) {
        p->size_valid = false;
        return lcs_err(st, SQLITE_IOERR_WRITE, "commit");
    }
    (*counter)++;
    p->st.last_commit_seq = seq;
    p->committed_size = p->size;
    p->size_valid = true;
    if (p->group && seq > p->ticket) p->ticket = seq;
    return SQLITE_OK;
}

static int lcs_settle_ticket(lcs_file *p) {
    if (!p->ticket) return SQLITE_OK;
    int rc = lcs_wait_durable(p, p->ticket);
    if (rc == SQLITE_OK) {
        p->st.group_waits++;
        if (p->txn && p->snapshot_seq <= p->ticket) {
            lc_durable_seq(p->db, &p->st.durable_at_read);
            p->durable_checked = true;
        }
    }
    p->ticket = 0;
    return rc;
}

/* ---- io methods --------------------------------------------------------- */

/* Block k as the transaction sees it, into out (blk bytes). */
static int lcs_block(lcs_file *p, uint32_t k, uint8_t *out) {
    lcs_slot *s = ov_find(&p->ov, k + 1);
    if (s) {
        if (s->data) memcpy(out, s->data, p->blk);
        else memset(out, 0, p->blk);
        return SQLITE_OK;
    }
    sqlite3_int64 committed = p->txn ? p->committed_size : p->size;
    if ((sqlite3_int64)k * p->blk >= committed && (p->txn || p->size_valid)) {
        memset(out, 0, p->blk);
        return SQLITE_OK;
    }
    return lcs_read_committed(p, k + 1, out, p->blk);
}

static int lcs_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
    lcs_file *p = (lcs_file *)f;
    sqlite3_int64 size;
    int rc;
    if (p->level >= SQLITE_LOCK_SHARED && (rc = lcs_begin(p)) != SQLITE_OK) return rc;
    if ((rc = lcs_reader_durable(p, off, amt)) != SQLITE_OK) return rc;
    if ((rc = lcs_cur_size(p, &size)) != SQLITE_OK) return rc;
    uint8_t *dst = buf;
    sqlite3_int64 end = off + amt;
    sqlite3_int64 have = end < size ? end : size;
    for (sqlite3_int64 pos = off; pos < have;) {
        uint32_t k = (uint32_t)(pos / p->blk);
        uint32_t in = (uint32_t)(pos % p->blk);
        sqlite3_int64 n = p->blk - in;
        if (n > have - pos) n = have - pos;
        if (in == 0 && n == p->blk) {
            rc = lcs_block(p, k, dst + (pos - off));
        } else {
            rc = lcs_block(p, k, p->scratch);
            if (rc == SQLITE_OK) memcpy(dst + (pos - off), p->scratch + in, (size_t)n);
        }
        if (rc) return rc;
        pos += n;
    }
    if (have < end) {
        sqlite3_int64 from = have > off ? have : off;
        memset(dst + (from - off), 0, (size_t)(end - from));
        return SQLITE_IOERR_SHORT_READ;
    }
    return SQLITE_OK;
}

/* The overlay block for k, loaded from the transaction's view first unless
 * the caller overwrites all of it. */
static int lcs_dirty_block(lcs_file *p, uint32_t k, bool whole, uint8_t **out) {
    lcs_slot *s = ov_find(&p->ov, k + 1);
    if (!s || !s->data) {
        uint8_t *d = malloc(p->blk);
        if (!d) return SQLITE_NOMEM;
        int rc = whole ? SQLITE_OK : lcs_block(p, k, d);
        if (rc == SQLITE_OK && !s) rc = ov_slot(&p->ov, k + 1, &s);
        if (rc) {
            free(d);
            return rc;
        }
        s->data = d;
    }
    *out = s->data;
    return SQLITE_OK;
}

static int lcs_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
    lcs_file *p = (lcs_file *)f;
    if (p->readonly) return SQLITE_READONLY;
    if (off < 0 || amt < 0) return SQLITE_IOERR_WRITE;
    int rc = lcs_begin(p);
    if (rc) return rc;
    sqlite3_int64 end = off + amt;
    if (end > (sqlite3_int64)LCS_BLOCKS_MAX * p->blk) return SQLITE_FULL;
    const uint8_t *src = buf;
    for (sqlite3_int64 pos = off; pos < end;) {
        uint32_t k = (uint32_t)(pos / p->blk);
        uint32_t in = (uint32_t)(pos % p->blk);
        sqlite3_int64 n = p->blk - in;
        if (n > end - pos) n = end - pos;
        uint8_t *d;
        if ((rc = lcs_dirty_block(p, k, in == 0 && n == p->blk, &d)) != SQLITE_OK) return rc;
        memcpy(d + in, src + (pos - off), (size_t)n);
        pos += n;
    }
    if (end > p->size) p->size = end;
    p->pending = true;
    return SQLITE_OK;
}

static int lcs_truncate(sqlite3_file *f, sqlite3_int64 size) {
    lcs_file *p = (lcs_file *)f;
    if (p->readonly) return SQLITE_READONLY;
    if (size < 0) return SQLITE_IOERR_TRUNCATE;
    int rc = lcs_begin(p);
    if (rc) return rc;
    if (size >= p->size) {
        if (size > (sqlite3_int64)LCS_BLOCKS_MAX * p->blk) return SQLITE_FULL;
        p->size = size;
        p->pending = true;
        return SQLITE_OK;
    }
    uint32_t keep = (uint32_t)((size + p->blk - 1) / p->blk);
    /* Every block past the new end goes, so a later extension reads zeros. */
    for (size_t i = 0; i < p->ov.cap; i++) {
        lcs_slot *s = &p->ov.slots[i];
        if (s->pgno > keep) {
            free(s->data);
            s->data = NULL;
        }
    }
    uint32_t had = (uint32_t)((p->committed_size + p->blk - 1) / p->blk);
    for (uint32_t k = keep; k < had; k++) {
        lcs_slot *s;
        if ((rc = ov_slot(&p->ov, k + 1, &s)) != SQLITE_OK) return rc;
    }
    if (size % p->blk) {
        uint8_t *d;
        if ((rc = lcs_dirty_block(p, keep - 1, false, &d)) != SQLITE_OK) return rc;
        memset(d + size % p->blk, 0, p->blk - size % p->blk);
    }
    p->size = size;
    p->pending = true;
    return SQLITE_OK;
}

static int lcs_sync(sqlite3_file *f, int flags) {
    lcs_file *p = (lcs_file *)f;
    (void)flags;
    return lcs_commit(p, &p->st.sync_commits);
}

static int lcs_file_size(sqlite3_file *f, sqlite3_int64 *out) {
    lcs_file *p = (lcs_file *)f;
    if (p->level >= SQLITE_LOCK_SHARED) {
        int rc = lcs_begin(p);
        if (rc) return rc;
    }
    return lcs_cur_size(p, out);
}

/* ---- locks: SQLite's protocol on open-file-description locks, so two
 * connections of one process exclude each other as two processes do ---- */

static int lcs_ofd(lcs_file *p, short type, off_t start, off_t len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    if (fcntl(p->lock_fd, F_OFD_SETLK, &fl) == 0) return SQLITE_OK;
    p->last_errno = errno;
    if (errno == EAGAIN || errno == EACCES) return SQLITE_BUSY;
    return type == F_UNLCK ? SQLITE_IOERR_UNLOCK : SQLITE_IOERR_LOCK;
}

static int lcs_take_shared(lcs_file *p) {
    /* PENDING keeps new readers out while a writer waits for old ones. */
    int rc = lcs_ofd(p, F_RDLCK, LCS_PENDING_BYTE, 1);
    if (rc) return rc;
    rc = lcs_ofd(p, F_RDLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
    int rc2 = lcs_ofd(p, F_UNLCK, LCS_PENDING_BYTE, 1);
    if (rc) return rc;
    if (rc2) {
        lcs_ofd(p, F_UNLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
        return rc2;
    }
    p->os_shared = 1;
    return SQLITE_OK;
}

/* A connection that kept SHARED through its snapshot alone (after a group
 * commit) locks it again before writing, and only if nobody committed
 * since: otherwise SQLite's cache is stale (SQLITE_BUSY_SNAPSHOT, as WAL
 * mode says it). */
static int lcs_relock_shared(lcs_file *p) {
    int rc = lcs_take_shared(p);
    if (rc) return rc;
    lc_txn *probe;
    lc_status st = lc_begin(p->db, &probe);
    if (st != LC_OK) {
        lcs_ofd(p, F_UNLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
        p->os_shared = 0;
        return lcs_err(st, SQLITE_IOERR_LOCK, "begin");
    }
    uint64_t now = 0;
    lc_txn_snapshot(probe, &now);
    lc_txn_abort(probe);
    if (now != p->snapshot_seq) {
        lcs_ofd(p, F_UNLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
        p->os_shared = 0;
        return SQLITE_BUSY_SNAPSHOT;
    }
    return SQLITE_OK;
}

static int lcs_lock(sqlite3_file *f, int level) {
    lcs_file *p = (lcs_file *)f;
    int rc;
    if (p->level >= level) return SQLITE_OK;
    if (level == SQLITE_LOCK_SHARED) {
        if ((rc = lcs_take_shared(p)) != SQLITE_OK) return rc;
        p->level = SQLITE_LOCK_SHARED;
        p->st.read_transactions++;
        if ((rc = lcs_begin(p)) != SQLITE_OK) {
            lcs_ofd(p, F_UNLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
            p->os_shared = 0;
            p->level = SQLITE_LOCK_NONE;
            return rc == SQLITE_BUSY ? rc : SQLITE_IOERR_LOCK;
        }
        return SQLITE_OK;
    }
    if (p->readonly) return SQLITE_READONLY;
    if (!p->os_shared && (rc = lcs_relock_shared(p)) != SQLITE_OK) return rc;
    if (level == SQLITE_LOCK_RESERVED) {
        if ((rc = lcs_ofd(p, F_WRLCK, LCS_RESERVED_BYTE, 1)) != SQLITE_OK) return rc;
        p->level = SQLITE_LOCK_RESERVED;
        return SQLITE_OK;
    }
    if (p->level < SQLITE_LOCK_PENDING) {
        if ((rc = lcs_ofd(p, F_WRLCK, LCS_PENDING_BYTE, 1)) != SQLITE_OK) return rc;
        p->level = SQLITE_LOCK_PENDING;
    }
    if ((rc = lcs_ofd(p, F_WRLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE)) != SQLITE_OK) return rc;
    p->level = SQLITE_LOCK_EXCLUSIVE;
    return SQLITE_OK;
}

static int lcs_unlock(sqlite3_file *f, int level) {
    lcs_file *p = (lcs_file *)f;
    int rc = SQLITE_OK, rc2;
    if (p->level <= level) return SQLITE_OK;
    if (p->level > SQLITE_LOCK_SHARED) {
        /* Nothing SQLite wrote may outlive the lock uncommitted. */
        rc = lcs_commit(p, &p->st.unlock_commits);
        if (level == SQLITE_LOCK_SHARED) {
            if (p->ticket && !p->exclusive_mode) {
                /* Keep SHARED as a snapshot only, so other writers commit
                 * while this one waits for its sync. */
                if ((rc2 = lcs_begin(p)) != SQLITE_OK && rc == SQLITE_OK) rc = rc2;
                rc2 = lcs_ofd(p, F_UNLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
                p->os_shared = 0;
            } else {
                rc2 = lcs_ofd(p, F_RDLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
            }
            if (rc2 && rc == SQLITE_OK) rc = SQLITE_IOERR_RDLOCK;
        }
        rc2 = lcs_ofd(p, F_UNLCK, LCS_PENDING_BYTE, 2);
        if (rc2 && rc == SQLITE_OK) rc = rc2;
        p->level = SQLITE_LOCK_SHARED;
    }
    if (level == SQLITE_LOCK_NONE) {
        if (p->os_shared) {
            rc2 = lcs_ofd(p, F_UNLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
            if (rc2 && rc == SQLITE_OK) rc = rc2;
            p->os_shared = 0;
        }
        lcs_end(p);
        p->level = SQLITE_LOCK_NONE;
    }
    rc2 = lcs_settle_ticket(p);
    return rc ? rc : rc2;
}

static int lcs_check_reserved(sqlite3_file *f, int *out) {
    lcs_file *p = (lcs_file *)f;
    if (p->level >= SQLITE_LOCK_RESERVED) {
        *out = 1;
        return SQLITE_OK;
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_start = LCS_RESERVED_BYTE;
    fl.l_len = 1;
    if (fcntl(p->lock_fd, F_OFD_GETLK, &fl) != 0) {
        p->last_errno = errno;
        return SQLITE_IOERR_CHECKRESERVEDLOCK;
    }
    *out = fl.l_type != F_UNLCK;
    return SQLITE_OK;
}

/* ---- file controls ------------------------------------------------------ */

static int lcs_pragma(lcs_file *p, char **a) {
    const char *name = a[1], *value = a[2];
    if (sqlite3_stricmp(name, "journal_mode") == 0 && value && sqlite3_stricmp(value, "wal") == 0) {
        a[0] = sqlite3_mprintf("libcommit vfs: journal_mode=WAL is not supported: libcommit is the log "
                               "(keep the rollback journal; transactions commit as batch-atomic writes)");
        return SQLITE_ERROR;
    }
    if (sqlite3_stricmp(name, "locking_mode") == 0 && value) {
        p->exclusive_mode = sqlite3_stricmp(value, "exclusive") == 0;
        return SQLITE_NOTFOUND;
    }
    if (sqlite3_stricmp(name, "libcommit_stats") == 0) {
        libcommit_sqlite_stats s = p->st;
        a[0] = sqlite3_mprintf("batch_commits=%llu sync_commits=%llu unlock_commits=%llu batch_failures=%llu "
                               "group_waits=%llu reader_waits=%llu last_commit_seq=%llu",
                               (unsigned long long)s.batch_commits, (unsigned long long)s.sync_commits,
                               (unsigned long long)s.unlock_commits, (unsigned long long)s.batch_failures,
                               (unsigned long long)s.group_waits, (unsigned long long)s.reader_waits,
                               (unsigned long long)s.last_commit_seq);
        return SQLITE_OK;
    }
    return SQLITE_NOTFOUND;
}

static int lcs_commit_atomic(lcs_file *p) {
    p->in_batch = false;
    if (p->fail_batch > 0) {
        p->fail_batch--;
        p->st.batch_failures++;
        return SQLITE_IOERR_WRITE;
    }
    int rc = lcs_commit(p, &p->st.batch_commits);
    if (rc) p->st.batch_failures++;
    return rc;
}

static int lcs_file_control(sqlite3_file *f, int op, void *arg) {
    lcs_file *p = (lcs_file *)f;
    switch (op) {
    case SQLITE_FCNTL_BEGIN_ATOMIC_WRITE:
        p->in_batch = true;
        p->batch_began_dirty = p->pending;
        return SQLITE_OK;
    case SQLITE_FCNTL_COMMIT_ATOMIC_WRITE:
        return lcs_commit_atomic(p);
    case SQLITE_FCNTL_ROLLBACK_ATOMIC_WRITE:
        /* SQLite redoes the transaction through its journal. */
        if (p->in_batch && !p->batch_began_dirty) {
            ov_clear(&p->ov);
            p->pending = false;
            p->size = p->committed_size;
        }
        p->in_batch = false;
        return SQLITE_OK;
    case SQLITE_FCNTL_COMMIT_PHASETWO: {
        /* A truncation after the journal was finalized is committed here,
         * before SQLite releases its exclusive lock. */
        int rc = lcs_commit(p, &p->st.unlock_commits);
        if (rc == SQLITE_OK && p->exclusive_mode) rc = lcs_settle_ticket(p);
        return rc;
    }
    case SQLITE_FCNTL_LOCKSTATE: *(int *)arg = p->level; return SQLITE_OK;
    case SQLITE_FCNTL_LAST_ERRNO: *(int *)arg = p->last_errno; return SQLITE_OK;
    case SQLITE_FCNTL_VFSNAME: *(char **)arg = sqlite3_mprintf("%s", p->vfs->name); return SQLITE_OK;
    case SQLITE_FCNTL_SIZE_HINT:
    case SQLITE_FCNTL_CHUNK_SIZE: return SQLITE_OK;
    case SQLITE_FCNTL_PERSIST_WAL:
        *(int *)arg = 0;
        return SQLITE_OK;
    case SQLITE_FCNTL_POWERSAFE_OVERWRITE:
        if (*(int *)arg < 0) *(int *)arg = p->psow;
        else p->psow = *(int *)arg != 0;
        return SQLITE_OK;
    case SQLITE_FCNTL_HAS_MOVED: {
        struct stat sb;
        *(int *)arg = stat(p->path, &sb) != 0 || sb.st_ino != p->ino || sb.st_dev != p->dev;
        return SQLITE_OK;
    }
    case SQLITE_FCNTL_PRAGMA: return lcs_pragma(p, arg);
    case LIBCOMMIT_SQLITE_FCNTL_STATS: {
        lc_stats s;
        if (lc_stats_get(p->db, &s) == LC_OK) p->st.lc_syncs = s.syncs;
        *(libcommit_sqlite_stats *)arg = p->st;
        return SQLITE_OK;
    }
    case LIBCOMMIT_SQLITE_FCNTL_FAIL_BATCH:
        if (*(int *)arg < 0) return SQLITE_MISUSE;
        p->fail_batch = *(int *)arg;
        return SQLITE_OK;
    default: return SQLITE_NOTFOUND;
    }
}

static int lcs_sector_size(sqlite3_file *f) {
    (void)f;
    return LCS_SECTOR_SIZE;
}

static int lcs_device_characteristics(sqlite3_file *f) {
    lcs_file *p = (lcs_file *)f;
    /* Only the main file's own writes are atomic; claiming SAFE_APPEND or
     * SEQUENTIAL would let SQLite skip syncs of the journal, which is not. */
    return SQLITE_IOCAP_BATCH_ATOMIC | (p->psow ? SQLITE_IOCAP_POWERSAFE_OVERWRITE : 0);
}

static int lcs_close(sqlite3_file *f) {
    lcs_file *p = (lcs_file *)f;
    int rc = lcs_unlock(f, SQLITE_LOCK_NONE);
    ov_clear(&p->ov);
    lc_status st = lc_close(p->db);
    if (st != LC_OK && rc == SQLITE_OK) rc = lcs_err(st, SQLITE_IOERR_CLOSE, "close");
    if (p->lock_fd >= 0) close(p->lock_fd);
    free(p->scratch);
    free(p->path);
    p->base.pMethods = NULL;
    return rc;
}

static const sqlite3_io_methods lcs_io = {
    1,
    lcs_close,
    lcs_read,
    lcs_write,
    lcs_truncate,
    lcs_sync,
    lcs_file_size,
    lcs_lock,
    lcs_unlock,
    lcs_check_reserved,
    lcs_file_control,
    lcs_sector_size,
    lcs_device_characteristics,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

/* ---- open --------------------------------------------------------------- */

typedef struct lcs_params {
    lc_commit_mode mode;
    lc_sync sync;
    bool group;
} lcs_params;

static int lcs_bool(const char *v, bool *out) {
    static const char *yes[] = {"1", "on", "true", "yes"}, *no[] = {"0", "off", "false", "no"};
    for (int i = 0; i < 4; i++) {
        if (sqlite3_stricmp(v, yes[i]) == 0) return *out = true, 1;
        if (sqlite3_stricmp(v, no[i]) == 0) return *out = false, 1;
    }
    return 0;
}

static int lcs_parse_params(const char *name, lcs_params *out) {
    const char *v;
    out->mode = LC_MODE_WAL;
    out->sync = LC_SYNC_FULL;
    out->group = false;
    if ((v = sqlite3_uri_parameter(name, "lc_mode")) != NULL) {
        if (sqlite3_stricmp(v, "wal") == 0) out->mode = LC_MODE_WAL;
        else if (sqlite3_stricmp(v, "native") == 0) out->mode = LC_MODE_NATIVE;
        else goto bad;
    }
    if ((v = sqlite3_uri_parameter(name, "lc_sync")) != NULL) {
        if (sqlite3_stricmp(v, "full") == 0) out->sync = LC_SYNC_FULL;
        else if (sqlite3_stricmp(v, "normal") == 0) out->sync = LC_SYNC_NORMAL;
        else if (sqlite3_stricmp(v, "off") == 0) out->sync = LC_SYNC_OFF;
        else goto bad;
    }
    if ((v = sqlite3_uri_parameter(name, "lc_group_sync")) != NULL && !lcs_bool(v, &out->group)) goto bad;
    if (out->group && out->sync != LC_SYNC_FULL) {
        sqlite3_log(SQLITE_CANTOPEN, "libcommit vfs: %s: lc_group_sync=1 makes commits durable itself; "
                                     "it cannot be combined with lc_sync=normal|off", name);
        return SQLITE_CANTOPEN;
    }
    return SQLITE_OK;
bad:
    sqlite3_log(SQLITE_CANTOPEN, "libcommit vfs: %s: bad URI value '%s' (lc_mode=wal|native, "
                                 "lc_sync=full|normal|off, lc_group_sync=0|1)", name, v);
    return SQLITE_CANTOPEN;
}

/* A dead database's engine files: libcommit names them {path}-<these>. */
static bool lcs_is_leftover(const char *tail) {
    static const char *prefixes[] = {"wal-seg-", "cap-seg-", "wal-tmp-", "cap-tmp-"};
    for (int i = 0; i < 4; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(tail, prefixes[i], n) == 0 && strchr(tail + n, '.') == NULL) return true;
    }
    return strcmp(tail, "shm") == 0 || strcmp(tail, "lock") == 0 || strcmp(tail, "main-tmp") == 0;
}

/* The main file is the database: without it, segments and shared memory
 * left beside the path belong to a database that was deleted (SQLite drops
 * a journal found without its database the same way). */
static void lcs_remove_leftovers(const char *path) {
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) : 0;
    const char *base = slash ? slash + 1 : path;
    size_t baselen = strlen(base);
    char *dir = slash ? strndup(path, dirlen ? dirlen : 1) : strdup(".");
    if (!dir) return;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, base, baselen) != 0 || e->d_name[baselen] != '-') continue;
            if (!lcs_is_leftover(e->d_name + baselen + 1)) continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    free(dir);
}

static int lcs_open_lock_file(lcs_file *p) {
    char *lp = sqlite3_mprintf("%s%s", p->path, LCS_LOCK_SUFFIX);
    if (!lp) return SQLITE_NOMEM;
    int fd = open(lp, (p->readonly ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0644);
    if (fd < 0 && !p->readonly && (errno == EACCES || errno == EROFS || errno == EPERM)) {
        fd = open(lp, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0 && p->readonly && errno == ENOENT) fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        p->last_errno = errno;
        sqlite3_log(SQLITE_CANTOPEN, "libcommit vfs: open %s: %s", lp, strerror(errno));
    }
    sqlite3_free(lp);
    p->lock_fd = fd;
    return fd < 0 ? SQLITE_CANTOPEN : SQLITE_OK;
}

static int lcs_hold_create_byte(lcs_file *p, short type) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = LCS_CREATE_BYTE;
    fl.l_len = 1;
    while (fcntl(p->lock_fd, type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW, &fl) != 0) {
        if (errno != EINTR) return SQLITE_IOERR_LOCK;
    }
    return SQLITE_OK;
}

static lc_status lcs_lc_open(lcs_file *p, const lcs_params *prm) {
    lc_options *o = NULL;
    lc_status st = lc_options_new(&o);
    if (st == LC_OK) st = lc_options_set_page_size(o, LCS_PAGE_SIZE_NEW);
    if (st == LC_OK) st = lc_options_set_commit_mode(o, prm->mode);
    if (st == LC_OK) st = lc_options_set_sync(o, prm->group ? LC_SYNC_NORMAL : prm->sync);
    if (st == LC_OK) st = lc_options_set_read_only(o, p->readonly);
    if (st == LC_OK) st = lc_open(p->path, o, &p->db);
    lc_options_free(o);
    return st;
}

static int lcs_open_main(lcs_vfs *v, const char *name, lcs_file *p, int flags, int *out_flags) {
    lcs_params prm;
    int rc = lcs_parse_params(name, &prm);
    if (rc) return rc;
    p->readonly = (flags & SQLITE_OPEN_READONLY) != 0;
    p->path = strdup(name);
    if (!p->path) return SQLITE_NOMEM;
    if ((rc = lcs_open_lock_file(p)) != SQLITE_OK) return rc;
    struct stat sb;
    bool guard = !p->readonly && (fcntl(p->lock_fd, F_GETFL) & O_ACCMODE) == O_RDWR;
    if (guard && (rc = lcs_hold_create_byte(p, F_WRLCK)) != SQLITE_OK) return rc;
    bool exists = stat(name, &sb) == 0;
    lc_status st = LC_OK;
    if (!exists && !(flags & SQLITE_OPEN_CREATE)) rc = SQLITE_CANTOPEN;
    else if (exists && (flags & SQLITE_OPEN_EXCLUSIVE)) rc = SQLITE_CANTOPEN;
    else {
        if (!exists && !p->readonly) lcs_remove_leftovers(name);
        st = lcs_lc_open(p, &prm);
        if (st != LC_OK && !p->readonly && exists && access(name, W_OK) != 0) {
            /* A file we may only read opens read-only, as the unix VFS does. */
            p->readonly = true;
            st = lcs_lc_open(p, &prm);
        }
    }
    if (guard) lcs_hold_create_byte(p, F_UNLCK);
    if (rc) return rc;
    if (st != LC_OK) {
        p->db = NULL;
        rc = st == LC_CORRUPT ? SQLITE_NOTADB
           : st == LC_BUSY  ? SQLITE_BUSY
           : st == LC_FULL  ? SQLITE_FULL
                            : SQLITE_CANTOPEN;
        sqlite3_log(rc, "libcommit vfs: open %s: %s", name, lc_last_error());
        return rc;
    }
    if ((st = lc_page_size(p->db, &p->blk)) != LC_OK) return lcs_err(st, SQLITE_CANTOPEN, "page_size");
    if (!(p->scratch = malloc(p->blk))) return SQLITE_NOMEM;
    if (stat(name, &sb) == 0) {
        p->dev = sb.st_dev;
        p->ino = sb.st_ino;
    }
    p->vfs = v;
    p->group = prm.group;
    p->psow = true;
    if (out_flags) {
        *out_flags = p->readonly ? (flags & ~(SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_READONLY
                                 : flags;
    }
    return SQLITE_OK;
}

static int lcs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
    lcs_vfs *v = (lcs_vfs *)vfs;
    if (!(flags & SQLITE_OPEN_MAIN_DB) || name == NULL) {
        return v->root->xOpen(v->root, name, f, flags, out_flags);
    }
    lcs_file *p = (lcs_file *)f;
    memset(p, 0, sizeof *p);
    p->lock_fd = -1;
    int rc = lcs_open_main(v, name, p, flags, out_flags);
    if (rc) {
        if (p->db) lc_close(p->db);
        if (p->lock_fd >= 0) close(p->lock_fd);
        free(p->scratch);
        free(p->path);
        memset(p, 0, sizeof *p);
        return rc;
    }
    p->base.pMethods = &lcs_io;
    return SQLITE_OK;
}

/* ---- the rest of the VFS is the default one's --------------------------- */

#define ROOT(vfs) (((lcs_vfs *)(vfs))->root)

static int lcs_delete(sqlite3_vfs *vfs, const char *name, int dirsync) {
    return ROOT(vfs)->xDelete(ROOT(vfs), name, dirsync);
}
static int lcs_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    return ROOT(vfs)->xAccess(ROOT(vfs), name, flags, out);
}
static int lcs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    return ROOT(vfs)->xFullPathname(ROOT(vfs), name, n, out);
}
static void *lcs_dl_open(sqlite3_vfs *vfs, const char *name) { return ROOT(vfs)->xDlOpen(ROOT(vfs), name); }
static void lcs_dl_error(sqlite3_vfs *vfs, int n, char *out) { ROOT(vfs)->xDlError(ROOT(vfs), n, out); }
static void (*lcs_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void) {
    return ROOT(vfs)->xDlSym(ROOT(vfs), h, sym);
}
static void lcs_dl_close(sqlite3_vfs *vfs, void *h) { ROOT(vfs)->xDlClose(ROOT(vfs), h); }
static int lcs_randomness(sqlite3_vfs *vfs, int n, char *out) { return ROOT(vfs)->xRandomness(ROOT(vfs), n, out); }
static int lcs_sleep(sqlite3_vfs *vfs, int us) { return ROOT(vfs)->xSleep(ROOT(vfs), us); }
static int lcs_current_time(sqlite3_vfs *vfs, double *out) { return ROOT(vfs)->xCurrentTime(ROOT(vfs), out); }
static int lcs_get_last_error(sqlite3_vfs *vfs, int n, char *out) {
    return ROOT(vfs)->xGetLastError ? ROOT(vfs)->xGetLastError(ROOT(vfs), n, out) : 0;
}
static int lcs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    if (ROOT(vfs)->iVersion >= 2 && ROOT(vfs)->xCurrentTimeInt64) {
        return ROOT(vfs)->xCurrentTimeInt64(ROOT(vfs), out);
    }
    double d;
    int rc = ROOT(vfs)->xCurrentTime(ROOT(vfs), &d);
    *out = (sqlite3_int64)(d * 86400000.0);
    return rc;
}
static int lcs_set_system_call(sqlite3_vfs *vfs, const char *name, sqlite3_syscall_ptr fn) {
    return ROOT(vfs)->iVersion >= 3 ? ROOT(vfs)->xSetSystemCall(ROOT(vfs), name, fn) : SQLITE_NOTFOUND;
}
static sqlite3_syscall_ptr lcs_get_system_call(sqlite3_vfs *vfs, const char *name) {
    return ROOT(vfs)->iVersion >= 3 ? ROOT(vfs)->xGetSystemCall(ROOT(vfs), name) : NULL;
}
static const char *lcs_next_system_call(sqlite3_vfs *vfs, const char *name) {
    return ROOT(vfs)->iVersion >= 3 ? ROOT(vfs)->xNextSystemCall(ROOT(vfs), name) : NULL;
}

int libcommit_sqlite_register(const char *vfs_name, int make_default) {
    const char *name = vfs_name ? vfs_name : LIBCOMMIT_SQLITE_VFS_NAME;
    if (name[0] == 0 || strlen(name) >= sizeof(((lcs_vfs *)0)->name)) return SQLITE_MISUSE;
    sqlite3_vfs *existing = sqlite3_vfs_find(name);
    if (existing && existing->xOpen == lcs_open) return sqlite3_vfs_register(existing, make_default);
    sqlite3_vfs *root = sqlite3_vfs_find(NULL);
    if (!root) return SQLITE_ERROR;
    if (root->xOpen == lcs_open) root = ROOT(root);
    /* Lives as long as the process: SQLite keeps a pointer to it. */
    lcs_vfs *v = calloc(1, sizeof *v);
    if (!v) return SQLITE_NOMEM;
    v->root = root;
    strcpy(v->name, name);
    sqlite3_vfs *b = &v->base;
    b->iVersion = 3;
    b->szOsFile = root->szOsFile > (int)sizeof(lcs_file) ? root->szOsFile : (int)sizeof(lcs_file);
    b->mxPathname = root->mxPathname;
    b->zName = v->name;
    b->xOpen = lcs_open;
    b->xDelete = lcs_delete;
    b->xAccess = lcs_access;
    b->xFullPathname = lcs_full_pathname;
    b->xDlOpen = lcs_dl_open;
    b->xDlError = lcs_dl_error;
    b->xDlSym = lcs_dl_sym;
    b->xDlClose = lcs_dl_close;
    b->xRandomness = lcs_randomness;
    b->xSleep = lcs_sleep;
    b->xCurrentTime = lcs_current_time;
    b->xGetLastError = lcs_get_last_error;
    b->xCurrentTimeInt64 = lcs_current_time_int64;
    b->xSetSystemCall = lcs_set_system_call;
    b->xGetSystemCall = lcs_get_system_call;
    b->xNextSystemCall = lcs_next_system_call;
    int rc = sqlite3_vfs_register(b, make_default);
    if (rc) free(v);
    return rc;
}

int sqlite3_commitsqlite_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
    (void)db;
    (void)pzErrMsg;
#ifdef LIBCOMMIT_SQLITE_EXTENSION
    SQLITE_EXTENSION_INIT2(pApi);
#else
    (void)pApi;
#endif
    int rc = libcommit_sqlite_register(NULL, 0);
    return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}
