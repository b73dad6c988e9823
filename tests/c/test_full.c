/*
 * test_full.c - LC_FULL through the C API. run.sh starts it in a private
 * mount namespace on a small tmpfs (argv[1]); without one it skips.
 * Commits fill the disk until one fails with LC_FULL; the database keeps
 * serving reads, the failed commit left nothing behind, and commits work
 * again once space is freed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>

#include "check.h"

#define IMAGE 4096

static const char *dir;

TEST(disk_full_is_lc_full) {
    char path[512], filler[512];
    snprintf(path, sizeof path, "%s/full.db", dir);
    snprintf(filler, sizeof filler, "%s/filler", dir);

    /* Space to give back later. */
    int fd = open(filler, O_CREAT | O_WRONLY, 0644);
    CHECK(fd >= 0);
    static uint8_t block[64 * 1024];
    for (int i = 0; i < 4; i++) CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
    close(fd);

    lc_options *o = NULL;
    CHECK_ST(lc_options_new(&o), LC_OK);
    CHECK_ST(lc_options_set_segment_size_bytes(o, 64 * 1024), LC_OK);
    CHECK_ST(lc_options_set_checkpoint_threshold_bytes(o, 0), LC_OK);
    lc_db *db = NULL;
    CHECK_ST(lc_open(path, o, &db), LC_OK);
    lc_options_free(o);
    if (db == NULL) return;

    static uint8_t img[IMAGE];
    lc_status st = LC_OK;
    uint32_t pgno = 0;
    uint64_t seq = 0;
    while (st == LC_OK && pgno < 100000) {
        pgno++;
        memset(img, (int)(pgno & 0xff), sizeof img);
        lc_page_write w = {pgno, img, sizeof img};
        st = lc_commit_batch(db, &w, 1, &seq);
    }
    printf("  disk full after %u commits: %s\n", pgno - 1, lc_status_str(st));
    CHECK_ST(st, LC_FULL);
    CHECK(strstr(lc_last_error(), "lc_commit_batch") != NULL);
    CHECK(pgno > 1);

    /* Reads still work; the failed commit is not there. */
    uint8_t buf[IMAGE];
    size_t len = 0;
    CHECK_ST(lc_read(db, 1, buf, sizeof buf, &len), LC_OK);
    CHECK(len == IMAGE && buf[0] == 1);
    CHECK_ST(lc_read(db, pgno, buf, sizeof buf, &len), LC_NOT_FOUND);
    lc_stats stats;
    CHECK_ST(lc_stats_get(db, &stats), LC_OK);
    CHECK(stats.last_commit_seq == (uint64_t)(pgno - 1));

    /* Free space: commits work again, with the next commit_seq. */
    CHECK(unlink(filler) == 0);
    memset(img, 0x77, sizeof img);
    lc_page_write w = {pgno, img, sizeof img};
    CHECK_ST(lc_commit_batch(db, &w, 1, &seq), LC_OK);
    CHECK(seq == (uint64_t)pgno);
    lc_close(db);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        printf("# test_full: 0 tests passed, 0 failed (skipped: no tmpfs given)\n");
        return 0;
    }
    dir = argv[1];
    RUN(disk_full_is_lc_full);
    return check_finish("test_full");
}
