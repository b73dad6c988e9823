/*
 * lcs_io.c - the main file as SQLite sees it: an overlay of the blocks the
 * open transaction wrote, over the libcommit snapshot taken with SHARED.
 * Also the file controls that belong to no other part, and the methods
 * table.
 */
#include "lcs_private.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- errors ------------------------------------------------------------ */

/* Maps a libcommit failure to SQLite's code for this operation and logs
 * libcommit's own message, which SQLite has no other way to show. */
int lcs_err(lc_status st, int ioerr, const char *what) {
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

void lcs_ov_clear(lcs_overlay *ov) {
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
int lcs_begin(lcs_file *p) {
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

void lcs_end(lcs_file *p) {
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

static int lcs_file_control(sqlite3_file *f, int op, void *arg) {
    lcs_file *p = (lcs_file *)f;
    int rc = lcs_commit_fcntl(p, op, arg);
    if (rc == SQLITE_NOTFOUND) rc = lcs_lock_fcntl(p, op, arg);
    if (rc != SQLITE_NOTFOUND) return rc;
    switch (op) {
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
    case SQLITE_FCNTL_MMAP_SIZE:
        /* Pages come from libcommit snapshots, never from a mapping: the
         * limit is 0 whatever is asked (PRAGMA mmap_size then says so). */
        *(sqlite3_int64 *)arg = 0;
        return SQLITE_OK;
    case SQLITE_FCNTL_PRAGMA: return lcs_pragma(p, arg);
    case LIBCOMMIT_SQLITE_FCNTL_STATS: {
        lc_stats s;
        if (lc_stats_get(p->db, &s) == LC_OK) p->st.lc_syncs = s.syncs;
        *(libcommit_sqlite_stats *)arg = p->st;
        return SQLITE_OK;
    }
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

/* SQLite WAL mode is refused (libcommit is the log), so no wal-index is
 * ever mapped. The methods exist, failing, because code that holds a file
 * may call them without looking at iVersion (SQLite's own test_vfs.c
 * does): an error is an answer, a NULL method a crash. */
static int lcs_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **out) {
    (void)f;
    (void)region;
    (void)size;
    (void)extend;
    *out = NULL;
    return SQLITE_IOERR_SHMMAP;
}

static int lcs_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
    (void)f;
    (void)offset;
    (void)n;
    (void)flags;
    return SQLITE_IOERR_SHMLOCK;
}

static void lcs_shm_barrier(sqlite3_file *f) { (void)f; }

static int lcs_shm_unmap(sqlite3_file *f, int delete_flag) {
    (void)f;
    (void)delete_flag;
    return SQLITE_OK;
}

const sqlite3_io_methods lcs_io_methods = {
    2,
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
    lcs_shm_map,
    lcs_shm_lock,
    lcs_shm_barrier,
    lcs_shm_unmap,
    NULL,
    NULL,
};
