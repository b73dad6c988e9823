/* Makes the libcommit VFS the default in the sqlite3 shell
 * (shell.c calls SQLITE_SHELL_INIT_PROC before it opens anything). */
#include <stdio.h>

#include "libcommit_sqlite.h"

void libcommit_sqlite_shell_init(void);

void libcommit_sqlite_shell_init(void) {
    int rc = libcommit_sqlite_register(NULL, 1);
    if (rc != SQLITE_OK) fprintf(stderr, "libcommit vfs: register: %s\n", sqlite3_errstr(rc));
    sqlite3_initialize();
}
