/*
 * mp_writer.c - one writer process of tests/python/test_mix_c_python.py,
 * which compiles it against include/ and build/lib and runs it beside a
 * Python process writing to the same database.
 *
 *   mp_writer DB FIRST_PGNO NPAGES COMMITS SHARED_PGNO [BUSY_TIMEOUT_MS]
 *
 * Opens DB, prints "ready" and waits for a line "go" on stdin, so the test
 * can have every writer open the database before any of them commits. Then
 * makes COMMITS blind batches: batch n (1-based) writes the pages
 * FIRST_PGNO .. FIRST_PGNO+NPAGES-1 and SHARED_PGNO, each with the image
 * mp_image("C", n, pgno). After each LC_OK it prints "seq S n" (S the
 * commit_seq), so every printed line is an acknowledged commit. It ends
 * with "stats COMMITS LAST_COMMIT_SEQ" (lc_stats_get before lc_close) and
 * exit status 0; any failure prints the status and lc_last_error() on
 * stderr and exits 1 (2 for bad arguments).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcommit.h"

/* Keep in step with image() in tests/python/test_mix_c_python.py. */
#define MP_IMAGE_LEN 300
#define MP_MAX_PAGES 64

/* "TAG n pgno|" repeated to MP_IMAGE_LEN bytes: names the writer, the
 * batch and the page, so a stale, misplaced or torn image cannot pass. */
static void mp_image(uint8_t *out, const char *tag, uint64_t n, uint32_t pgno) {
    char unit[64];
    int len = snprintf(unit, sizeof unit, "%s %" PRIu64 " %" PRIu32 "|", tag, n, pgno);
    for (size_t i = 0; i < MP_IMAGE_LEN; i++) out[i] = (uint8_t)unit[i % (size_t)len];
}

static int parse_u32(const char *s, uint32_t *out) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > UINT32_MAX) return 0;
    *out = (uint32_t)v;
    return 1;
}

static int fail(const char *what, lc_status st) {
    fprintf(stderr, "mp_writer: %s: %s (%s)\n", what, lc_status_str(st), lc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    uint32_t first, npages, commits, shared, busy_ms = 10000;
    if ((argc != 6 && argc != 7) || !parse_u32(argv[2], &first) || !parse_u32(argv[3], &npages) ||
        !parse_u32(argv[4], &commits) || !parse_u32(argv[5], &shared) ||
        (argc == 7 && !parse_u32(argv[6], &busy_ms)) || first == 0 || npages == 0 ||
        npages > MP_MAX_PAGES || (uint64_t)first + npages - 1 > UINT32_MAX || shared == 0) {
        fprintf(stderr, "usage: mp_writer DB FIRST_PGNO NPAGES(1..%d) COMMITS SHARED_PGNO"
                        " [BUSY_MS]\n", MP_MAX_PAGES);
        return 2;
    }

    lc_options *opts = NULL;
    lc_status st = lc_options_new(&opts);
    if (st != LC_OK) return fail("lc_options_new", st);
    st = lc_options_set_busy_timeout_ms(opts, busy_ms);
    if (st != LC_OK) {
        lc_options_free(opts);
        return fail("lc_options_set_busy_timeout_ms", st);
    }
    lc_db *db = NULL;
    st = lc_open(argv[1], opts, &db);
    lc_options_free(opts);
    if (st != LC_OK) return fail("lc_open", st);

    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (fgets(line, sizeof line, stdin) == NULL || strcmp(line, "go\n") != 0) {
        fprintf(stderr, "mp_writer: expected \"go\" on stdin\n");
        lc_close(db);
        return 1;
    }

    static uint8_t images[MP_MAX_PAGES + 1][MP_IMAGE_LEN];
    lc_page_write writes[MP_MAX_PAGES + 1];
    int rc = 0;
    for (uint64_t n = 1; n <= commits && rc == 0; n++) {
        for (uint32_t i = 0; i <= npages; i++) {
            uint32_t pgno = i < npages ? first + i : shared;
            mp_image(images[i], "C", n, pgno);
            writes[i].pgno = pgno;
            writes[i].data = images[i];
            writes[i].len = MP_IMAGE_LEN;
        }
        uint64_t seq = 0;
        st = lc_commit_batch(db, writes, (size_t)npages + 1, &seq);
        if (st != LC_OK) {
            rc = fail("lc_commit_batch", st);
            break;
        }
        printf("seq %" PRIu64 " %" PRIu64 "\n", seq, n);
        fflush(stdout);
    }

    if (rc == 0) {
        lc_stats stats;
        st = lc_stats_get(db, &stats);
        if (st == LC_OK) {
            printf("stats %" PRIu64 " %" PRIu64 "\n", stats.commits, stats.last_commit_seq);
            fflush(stdout);
        } else {
            rc = fail("lc_stats_get", st);
        }
    }
    st = lc_close(db);
    if (st != LC_OK && rc == 0) rc = fail("lc_close", st);
    return rc;
}
