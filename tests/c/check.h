/*
 * check.h - a tiny test harness for the libcommit C tests.
 *
 *   TEST(name) { CHECK(cond); CHECK_ST(call, LC_OK); ... }
 *   int main(void) { RUN(name); ...; return check_finish("test_api"); }
 *
 * A test passes when all its checks pass. Counters are atomic, so CHECK may
 * be used from several threads. check_finish prints
 * "<program>: N tests passed, M failed" and returns the exit status.
 */
#ifndef LIBCOMMIT_TEST_CHECK_H
#define LIBCOMMIT_TEST_CHECK_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libcommit.h"

static int check_failures_in_test; /* failures in the running test */
static int check_tests_passed;
static int check_tests_failed;
static char check_tmpdir[256];

static inline void check_fail(const char *file, int line, const char *what) {
    __atomic_fetch_add(&check_failures_in_test, 1, __ATOMIC_SEQ_CST);
    fprintf(stderr, "  FAIL %s:%d: %s (last error: \"%s\")\n", file, line, what, lc_last_error());
}

#define CHECK(cond)                                  \
    do {                                             \
        if (!(cond)) check_fail(__FILE__, __LINE__, #cond); \
    } while (0)

/* Checks that `call` returns status `want`; prints both names if not. */
#define CHECK_ST(call, want)                                                   \
    do {                                                                       \
        lc_status check_got_ = (call);                                         \
        if (check_got_ != (want)) {                                            \
            char check_msg_[512];                                              \
            snprintf(check_msg_, sizeof check_msg_, "%s returned %d (%s), want %s", \
                     #call, (int)check_got_, lc_status_str(check_got_), #want); \
            check_fail(__FILE__, __LINE__, check_msg_);                        \
        }                                                                      \
    } while (0)

/* Checks that `call` failed with `want` and left a last-error message. */
#define CHECK_FAIL(call, want)                      \
    do {                                            \
        CHECK_ST(call, want);                       \
        CHECK(lc_last_error()[0] != '\0');          \
    } while (0)

#define TEST(name) static void name(void)

static inline void check_run(const char *name, void (*fn)(void)) {
    __atomic_store_n(&check_failures_in_test, 0, __ATOMIC_SEQ_CST);
    fn();
    if (__atomic_load_n(&check_failures_in_test, __ATOMIC_SEQ_CST) == 0) {
        check_tests_passed++;
        printf("ok - %s\n", name);
    } else {
        check_tests_failed++;
        printf("FAILED - %s\n", name);
    }
    fflush(stdout);
}

#define RUN(name) check_run(#name, name)

/* A fresh directory for this program's databases. */
static inline const char *check_tmp(void) {
    if (check_tmpdir[0] == '\0') {
        const char *base = getenv("TMPDIR");
        snprintf(check_tmpdir, sizeof check_tmpdir, "%s/lc-ctest-XXXXXX", base ? base : "/tmp");
        if (mkdtemp(check_tmpdir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
    }
    return check_tmpdir;
}

/* Writes "<tmpdir>/<name>" into out. */
static inline void check_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", check_tmp(), name);
}

static inline int check_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static inline void check_rm_tmp(void) {
    if (check_tmpdir[0] == '\0') return;
    DIR *dir = opendir(check_tmpdir);
    if (dir != NULL) {
        struct dirent *e;
        char path[1024];
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", check_tmpdir, e->d_name);
            unlink(path);
        }
        closedir(dir);
    }
    rmdir(check_tmpdir);
}

static inline int check_finish(const char *program) {
    check_rm_tmp();
    printf("# %s: %d tests passed, %d failed\n", program, check_tests_passed, check_tests_failed);
    return check_tests_failed == 0 ? 0 : 1;
}

#endif
