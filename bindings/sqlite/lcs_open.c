/*
 * lcs_open.c - opening a main database file: its URI parameters, the lock
 * file, the leftovers of a deleted database, libcommit's open; and close.
 */
#include "lcs_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* ---- a file that is not a libcommit database --------------------------- */

static int lcs_notadb_close(sqlite3_file *f) {
    f->pMethods = NULL;
    return SQLITE_OK;
}

/* Zeros, as a short read: SQLite reads the header at open and finds no
 * "SQLite format 3" in it at the first statement, which then fails with
 * SQLITE_NOTADB - the unix VFS's behaviour on a foreign file. */
static int lcs_notadb_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) {
    (void)f;
    (void)off;
    memset(buf, 0, (size_t)n);
    return SQLITE_IOERR_SHORT_READ;
}

static int lcs_notadb_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
    (void)f;
    (void)buf;
    (void)n;
    (void)off;
    return SQLITE_NOTADB;
}

static int lcs_notadb_truncate(sqlite3_file *f, sqlite3_int64 size) {
    (void)f;
    (void)size;
    return SQLITE_NOTADB;
}

static int lcs_notadb_sync(sqlite3_file *f, int flags) {
    (void)f;
    (void)flags;
    return SQLITE_NOTADB;
}

/* Not empty (an empty file would be a new database): one sector. */
static int lcs_notadb_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    (void)f;
    *size = LCS_SECTOR_SIZE;
    return SQLITE_OK;
}

static int lcs_notadb_lock(sqlite3_file *f, int level) {
    (void)f;
    (void)level;
    return SQLITE_OK;
}

static int lcs_notadb_check_reserved(sqlite3_file *f, int *out) {
    (void)f;
    *out = 0;
    return SQLITE_OK;
}

static int lcs_notadb_file_control(sqlite3_file *f, int op, void *arg) {
    (void)f;
    (void)op;
    (void)arg;
    return SQLITE_NOTFOUND;
}

static int lcs_notadb_sector_size(sqlite3_file *f) {
    (void)f;
    return LCS_SECTOR_SIZE;
}

static int lcs_notadb_device_characteristics(sqlite3_file *f) {
    (void)f;
    return 0;
}

/* Reads see a file of zeros, writes fail; nothing touches the file. */
static const sqlite3_io_methods lcs_notadb_methods = {
    1,
    lcs_notadb_close,
    lcs_notadb_read,
    lcs_notadb_write,
    lcs_notadb_truncate,
    lcs_notadb_sync,
    lcs_notadb_file_size,
    lcs_notadb_lock,
    lcs_notadb_lock,
    lcs_notadb_check_reserved,
    lcs_notadb_file_control,
    lcs_notadb_sector_size,
    lcs_notadb_device_characteristics,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};

int lcs_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *f, int flags, int *out_flags) {
    lcs_vfs *v = LCS_VFS(vfs);
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
        if (rc != SQLITE_NOTADB) return rc;
        /* As on the unix VFS, a file that is not a database opens and its
         * first read says so: programs (SQLite's own test harness among
         * them) treat a failed open as "no handle" and the rest alike. */
        p->base.pMethods = &lcs_notadb_methods;
        if (out_flags) *out_flags = flags;
        return SQLITE_OK;
    }
    p->base.pMethods = &lcs_io_methods;
    lcs_wait_attach(p);
    return SQLITE_OK;
}

int lcs_close(sqlite3_file *f) {
    lcs_file *p = (lcs_file *)f;
    int rc = lcs_unlock(f, SQLITE_LOCK_NONE);
    lcs_wait_detach(p);
    lcs_ov_clear(&p->ov);
    lc_status st = lc_close(p->db);
    if (st != LC_OK && rc == SQLITE_OK) rc = lcs_err(st, SQLITE_IOERR_CLOSE, "close");
    if (p->lock_fd >= 0) close(p->lock_fd);
    free(p->scratch);
    free(p->path);
    p->base.pMethods = NULL;
    return rc;
}
