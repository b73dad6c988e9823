/*
 * lcs_wait.c - waking a busy handler when the lock it waits for is let go.
 *
 * SQLite's default busy handler sleeps 1, 2, 5, 10 ... 100 ms between
 * tries. A group-sync writer holds the lock for tens of microseconds and
 * then waits for its sync outside it, so writers asleep for milliseconds
 * leave the lock idle and miss the sync they could have shared. Every
 * release of a lock bumps a word in the first page of the lock file and
 * wakes its sleepers (futex); the VFS's xSleep sleeps on that word, and
 * returns as soon as the lock the connection was refused looks free.
 *
 * SQLite's busy timeout counts what it asked to sleep, not what was slept:
 * returning early shortens it in wall time. A retry refused again after an
 * early return counts as SQLite counts it, so early returns are allowed
 * only while they have given back less than half of what SQLite asked for
 * in this wait: a busy timeout still waits at least about half its length.
 *
 * Only group-sync connections wait this way. Without group sync the holder
 * keeps the lock through its sync, and waking every sleeper at each release
 * costs more than it gains: they race for the lock, their brief SHARED locks
 * refuse the next holder's EXCLUSIVE, and on two cores 4 writers fell from
 * about 6,100 to 3,900 transactions per second. Their sleeps stay SQLite's.
 *
 * Without a writable lock file (read-only) there is no word; sleeps are
 * the default VFS's, and releases by such a connection wake nobody (a
 * sleeper then wakes at the end of its sleep, as before).
 */
#include "lcs_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LCS_RELMEM_LEN 4096

struct lcs_relmem {
    _Atomic uint32_t gen;      /* bumped by every release of a lock */
    _Atomic uint32_t sleepers; /* so a release wakes only when someone sleeps */
};

/* Files whose word a sleeper may use: a sleeper takes a reference under the
 * mutex, so close never unmaps the word under it. A thread's record of its
 * last refusal can outlive the connection (SQLite may close it from another
 * thread); the list tells a live file from a stale pointer. */
static pthread_mutex_t lcs_files_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lcs_files_cv = PTHREAD_COND_INITIALIZER;
static lcs_file *lcs_files;

/* The lock this thread was last refused, until a sleep takes it, and the
 * accounting of the wait it belongs to (same file and level). */
static _Thread_local struct {
    lcs_file *file;
    uint32_t gen; /* the word before the refused try */
    int level;
    lcs_file *wait_file;
    int wait_level;
    int64_t asked_us, given_back_us;
} lcs_refused;

static int64_t lcs_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void lcs_wait_attach(lcs_file *p) {
    if (p->lock_fd < 0 || (fcntl(p->lock_fd, F_GETFL) & O_ACCMODE) != O_RDWR) return;
    struct stat sb;
    if (fstat(p->lock_fd, &sb) != 0) return;
    /* Only ever grown: the lock bytes lie far beyond, as locks, not data. */
    if (sb.st_size < LCS_RELMEM_LEN && ftruncate(p->lock_fd, LCS_RELMEM_LEN) != 0) return;
    void *m = mmap(NULL, LCS_RELMEM_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, p->lock_fd, 0);
    if (m == MAP_FAILED) return;
    pthread_mutex_lock(&lcs_files_mu);
    p->relmem = m;
    p->wait_next = lcs_files;
    lcs_files = p;
    pthread_mutex_unlock(&lcs_files_mu);
}

void lcs_wait_detach(lcs_file *p) {
    if (lcs_refused.file == p) lcs_refused.file = NULL;
    if (lcs_refused.wait_file == p) lcs_refused.wait_file = NULL;
    if (!p->relmem) return;
    pthread_mutex_lock(&lcs_files_mu);
    for (lcs_file **q = &lcs_files; *q; q = &(*q)->wait_next) {
        if (*q == p) {
            *q = p->wait_next;
            break;
        }
    }
    while (p->wait_refs > 0) pthread_cond_wait(&lcs_files_cv, &lcs_files_mu);
    pthread_mutex_unlock(&lcs_files_mu);
    munmap((void *)p->relmem, LCS_RELMEM_LEN);
    p->relmem = NULL;
}

uint32_t lcs_wait_gen(lcs_file *p) { return p->relmem ? atomic_load(&p->relmem->gen) : 0; }

void lcs_wait_released(lcs_file *p) {
    if (!p->relmem) return;
    atomic_fetch_add(&p->relmem->gen, 1);
    /* A sleeper counts itself before it looks at the word: it sees this
     * bump or is seen here. */
    if (atomic_load(&p->relmem->sleepers) != 0) {
        syscall(SYS_futex, (uint32_t *)&p->relmem->gen, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

void lcs_wait_refused(lcs_file *p, uint32_t gen, int level) {
    if (!p->group) return;
    if (lcs_refused.wait_file != p || lcs_refused.wait_level != level) {
        lcs_refused.wait_file = p;
        lcs_refused.wait_level = level;
        lcs_refused.asked_us = lcs_refused.given_back_us = 0;
    }
    lcs_refused.file = p;
    lcs_refused.gen = gen;
    lcs_refused.level = level;
}

void lcs_wait_granted(lcs_file *p, int level) {
    if (lcs_refused.wait_file == p && level >= lcs_refused.wait_level) lcs_refused.wait_file = NULL;
    if (lcs_refused.file == p && level >= lcs_refused.level) lcs_refused.file = NULL;
}

static bool lcs_range_free(int fd, short type, off_t start, off_t len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    /* Our own description's locks never conflict with the probe. */
    return fcntl(fd, F_OFD_GETLK, &fl) != 0 || fl.l_type == F_UNLCK;
}

/* Whether a retry at `level` would likely get the lock now. */
static bool lcs_looks_free(lcs_file *p, int level) {
    if (level == SQLITE_LOCK_SHARED) {
        return lcs_range_free(p->lock_fd, F_RDLCK, LCS_PENDING_BYTE, 1) &&
               lcs_range_free(p->lock_fd, F_RDLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
    }
    if (level == SQLITE_LOCK_RESERVED) return lcs_range_free(p->lock_fd, F_WRLCK, LCS_RESERVED_BYTE, 1);
    return lcs_range_free(p->lock_fd, F_WRLCK, LCS_PENDING_BYTE, 1) &&
           lcs_range_free(p->lock_fd, F_WRLCK, LCS_SHARED_FIRST, LCS_SHARED_SIZE);
}

int lcs_wait_sleep(sqlite3_vfs *root, int us) {
    lcs_file *p = lcs_refused.file;
    /* One sleep per refusal: a later sleep (the application's own) is not
     * a wait for this lock. */
    lcs_refused.file = NULL;
    if (p) {
        pthread_mutex_lock(&lcs_files_mu);
        lcs_file *q = lcs_files;
        while (q && q != p) q = q->wait_next;
        if (q) p->wait_refs++;
        pthread_mutex_unlock(&lcs_files_mu);
        if (!q) p = NULL;
    }
    lcs_refused.asked_us += us;
    if (!p || 2 * lcs_refused.given_back_us >= lcs_refused.asked_us) {
        if (p) {
            pthread_mutex_lock(&lcs_files_mu);
            p->wait_refs--;
            pthread_cond_broadcast(&lcs_files_cv);
            pthread_mutex_unlock(&lcs_files_mu);
        }
        return root->xSleep(root, us);
    }
    int64_t start = lcs_now_us(), end = start + us, now = start;
    uint32_t seen = lcs_refused.gen;
    while (now < end) {
        uint32_t g = atomic_load(&p->relmem->gen);
        if (g != seen) {
            if (lcs_looks_free(p, lcs_refused.level)) break;
            seen = g;
            continue;
        }
        atomic_fetch_add(&p->relmem->sleepers, 1);
        if (atomic_load(&p->relmem->gen) == seen) {
            int64_t left = end - now;
            struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
            syscall(SYS_futex, (uint32_t *)&p->relmem->gen, FUTEX_WAIT, seen, &ts, NULL, 0);
        }
        atomic_fetch_sub(&p->relmem->sleepers, 1);
        now = lcs_now_us();
    }
    now = lcs_now_us();
    if (now < end) lcs_refused.given_back_us += end - now;
    pthread_mutex_lock(&lcs_files_mu);
    p->wait_refs--;
    pthread_cond_broadcast(&lcs_files_cv);
    pthread_mutex_unlock(&lcs_files_mu);
    return us;
}
