/* SQLite's speedtest1 as it is, with the libcommit VFS registered first so
 * that `--vfs libcommit` finds it. */
#include "libcommit_sqlite.h"

#define main speedtest1_main
#include "speedtest1.c"
#undef main

int main(int argc, char **argv) {
    int rc = libcommit_sqlite_register(NULL, 0);
    if (rc != SQLITE_OK) {
        fprintf(stderr, "libcommit vfs: register: %s\n", sqlite3_errstr(rc));
        return 1;
    }
    return speedtest1_main(argc, argv);
}
