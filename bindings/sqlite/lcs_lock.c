/*
 * lcs_lock.c - SQLite's lock protocol (SHARED, RESERVED, PENDING, EXCLUSIVE
 * at the unix VFS's byte offsets) on {path}-sqlite-lock, with open-file-
 * description locks, so two connections of one process exclude each other
 * as two processes do, and closing one descriptor never drops another
 * connection's lock.
 */
#include "lcs_private.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* The lock request every call below makes: `type` on [start, start+len). */
static struct flock lcs_range(short type, off_t start, off_t len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fl;
}

static int lcs_ofd(lcs_file *p, short type, off_t start, off_t len) {
    struct flock fl = lcs_range(type, start, len);
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

int lcs_lock(sqlite3_file *f, int level) {
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

int lcs_unlock(sqlite3_file *f, int level) {
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

int lcs_check_reserved(sqlite3_file *f, int *out) {
    lcs_file *p = (lcs_file *)f;
    if (p->level >= SQLITE_LOCK_RESERVED) {
        *out = 1;
        return SQLITE_OK;
    }
    struct flock fl = lcs_range(F_WRLCK, LCS_RESERVED_BYTE, 1);
    if (fcntl(p->lock_fd, F_OFD_GETLK, &fl) != 0) {
        p->last_errno = errno;
        return SQLITE_IOERR_CHECKRESERVEDLOCK;
    }
    *out = fl.l_type != F_UNLCK;
    return SQLITE_OK;
}

int lcs_lock_fcntl(lcs_file *p, int op, void *arg) {
    switch (op) {
    case SQLITE_FCNTL_LOCKSTATE: *(int *)arg = p->level; return SQLITE_OK;
    case SQLITE_FCNTL_LAST_ERRNO: *(int *)arg = p->last_errno; return SQLITE_OK;
    default: return SQLITE_NOTFOUND;
    }
}

int lcs_open_lock_file(lcs_file *p) {
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

int lcs_hold_create_byte(lcs_file *p, short type) {
    struct flock fl = lcs_range(type, LCS_CREATE_BYTE, 1);
    while (fcntl(p->lock_fd, type == F_UNLCK ? F_OFD_SETLK : F_OFD_SETLKW, &fl) != 0) {
        if (errno != EINTR) return SQLITE_IOERR_LOCK;
    }
    return SQLITE_OK;
}
