/*
 * libcommit_sqlite.c - the libcommit VFS for SQLite: registration and the
 * loadable-extension entry point (see libcommit_sqlite.h for what the VFS
 * does, docs/SQLITE.md for why it is safe, lcs_private.h for its parts).
 */
#include "lcs_private.h"

#ifdef LIBCOMMIT_SQLITE_EXTENSION
SQLITE_EXTENSION_INIT1
#endif

#include <stdlib.h>
#include <string.h>

/* ---- the rest of the VFS is the default one's --------------------------- */

#define ROOT(vfs) (LCS_VFS(vfs)->root)

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
static int lcs_sleep(sqlite3_vfs *vfs, int us) { return lcs_wait_sleep(ROOT(vfs), us); }
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
    b->pAppData = v;
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
