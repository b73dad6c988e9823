/* testfixture runs SQLite's TCL suite; SQLITE_EXTRA_INIT calls this at the
 * end of sqlite3_initialize(), so the libcommit VFS is the default VFS
 * before any test opens a database (and again after a test's
 * sqlite3_shutdown). */
#include <stddef.h>

#include "libcommit_sqlite.h"

int libcommit_sqlite_testfixture_init(const char *unused);

int libcommit_sqlite_testfixture_init(const char *unused) {
    (void)unused;
    return libcommit_sqlite_register(NULL, 1);
}
