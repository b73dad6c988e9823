/*
 * lcs_commit.c - the overlay becomes one libcommit commit: at a batch-atomic
 * write, at an xSync of the journal path, or at commit end and unlock for
 * whatever is left. With group sync the commit is a ticket made durable
 * after SQLite's lock is released, and readers wait for durability before
 * they act on what they read.
 */
#include "lcs_private.h"

#include <string.h>

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
int lcs_reader_durable(lcs_file *p, sqlite3_int64 off, int amt) {
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

/* Commits the overlay and the size as one libcommit commit through the
 * snapshot's transaction: first-committer-wins then catches any write that
 * SQLite's locks should have excluded. */
int lcs_commit(lcs_file *p, uint64_t *counter) {
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
    lcs_ov_clear(&p->ov);
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

int lcs_settle_ticket(lcs_file *p) {
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


int lcs_commit_fcntl(lcs_file *p, int op, void *arg) {
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
            lcs_ov_clear(&p->ov);
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
    case LIBCOMMIT_SQLITE_FCNTL_FAIL_BATCH:
        if (*(int *)arg < 0) return SQLITE_MISUSE;
        p->fail_batch = *(int *)arg;
        return SQLITE_OK;
    default: return SQLITE_NOTFOUND;
    }
}
