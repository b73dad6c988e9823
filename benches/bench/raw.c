/*
 * benches/bench/raw.c - the raw-disk limits, on files in the same directory
 * as the engines' databases: a 4 KiB (and 32 KiB) overwrite+fdatasync loop
 * on a pre-written file, sequential 16 MiB write+fdatasync bandwidth, and
 * sequential reads with the page cache dropped. The ideal group commit is
 * an engine (engine_rg.c), as it runs at W1's thread counts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

point raw_overwrite(const char *dir, unsigned n, double secs) {
    char p[PATH_MAX];
    path_join(p, dir, "raw-overwrite");
    int fd = prewritten_file(p, RAW_FILE_PAGES);
    uint8_t *img = xmalloc((size_t)n * PAGE);
    uint64_t nslots = RAW_FILE_PAGES / n, i = 0;
    lvec lat = {0};
    uint64_t *tags = xcalloc(RAW_FILE_PAGES * sizeof(uint64_t));
    uint64_t start = now_ns(), deadline = start + (uint64_t)(secs * 1e9);
    while (now_ns() < deadline) {
        uint64_t slot = i % nslots;
        for (unsigned k = 0; k < n; k++) {
            fill_page(img + (size_t)k * PAGE, (uint32_t)(slot * n + k), i + 1);
            tags[slot * n + k] = i + 1;
        }
        uint64_t t0 = now_ns();
        full_pwrite(fd, img, (size_t)n * PAGE, (off_t)(slot * n * PAGE));
        if (fdatasync(fd)) die("fdatasync: %s", strerror(errno));
        lv_push(&lat, now_ns() - t0);
        i++;
    }
    /* wall time, image generation included, as in the W1 loop */
    point r = {.have = true, .ops = i};
    r.rate = (double)i / ((double)(now_ns() - start) / 1e9);
    qsort(lat.v, lat.n, sizeof *lat.v, cmp_u64);
    r.p50 = pct(lat.v, lat.n, 0.5);
    r.p99 = pct(lat.v, lat.n, 0.99);
    /* verify the last 32 slots written */
    for (uint64_t s = i > 32 ? i - 32 : 0; s < i; s++) {
        uint64_t slot = s % nslots;
        for (unsigned k = 0; k < n; k++) {
            full_pread(fd, img, PAGE, (off_t)((slot * n + k) * PAGE));
            if (!check_page(img, PAGE, (uint32_t)(slot * n + k), tags[slot * n + k])) r.bad++;
            r.verified++;
        }
    }
    close(fd);
    unlink(p);
    free(img);
    free(tags);
    free(lat.v);
    return r;
}

point raw_sequential(const char *dir, double secs) {
    char p[PATH_MAX];
    path_join(p, dir, "raw-seq");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", p, strerror(errno));
    size_t chunk = (size_t)W2_PAGES * PAGE;
    uint8_t *buf = xmalloc(chunk);
    uint64_t off = 0, busy = 0, chunks = 0, wrap = 1ull << 30;
    uint64_t start = now_ns(), deadline = start + (uint64_t)(secs * 1e9);
    while (now_ns() < deadline || chunks < 2) {
        for (unsigned k = 0; k < W2_PAGES; k++)
            fill_page(buf + (size_t)k * PAGE, (uint32_t)(off / PAGE + k), chunks + 1);
        uint64_t t0 = now_ns();
        full_pwrite(fd, buf, chunk, (off_t)off);
        if (fdatasync(fd)) die("fdatasync: %s", strerror(errno));
        busy += now_ns() - t0;
        chunks++;
        off = (off + chunk) % wrap;
    }
    point r = {.have = true, .ops = chunks};
    r.rate = (double)(chunks * chunk) / (1 << 20) / ((double)busy / 1e9);
    uint64_t last = (off + wrap - chunk) % wrap;
    for (unsigned k = 0; k < W2_PAGES; k += 64) {
        full_pread(fd, buf, PAGE, (off_t)(last + (uint64_t)k * PAGE));
        if (!check_page(buf, PAGE, (uint32_t)(last / PAGE + k), chunks)) r.bad++;
        r.verified++;
    }
    close(fd);
    unlink(p);
    free(buf);
    return r;
}

point raw_overwrite_big(const char *dir, double secs) {
    char p[PATH_MAX];
    path_join(p, dir, "raw-overwrite-big");
    int fd = prewritten_file(p, RAW_FILE_PAGES);
    size_t chunk = (size_t)W2_PAGES * PAGE;
    uint64_t slots = RAW_FILE_PAGES / W2_PAGES, busy = 0, chunks = 0;
    uint8_t *buf = xmalloc(chunk);
    uint64_t deadline = now_ns() + (uint64_t)(secs * 1e9);
    while (now_ns() < deadline || chunks < 2) {
        uint64_t slot = chunks % slots;
        for (unsigned k = 0; k < W2_PAGES; k++)
            fill_page(buf + (size_t)k * PAGE, (uint32_t)(slot * W2_PAGES + k), chunks + 1);
        uint64_t t0 = now_ns();
        full_pwrite(fd, buf, chunk, (off_t)(slot * chunk));
        if (fdatasync(fd)) die("fdatasync: %s", strerror(errno));
        busy += now_ns() - t0;
        chunks++;
    }
    point r = {.have = true, .ops = chunks};
    r.rate = (double)(chunks * chunk) / (1 << 20) / ((double)busy / 1e9);
    uint64_t last = (chunks - 1) % slots;
    for (unsigned k = 0; k < W2_PAGES; k += 64) {
        full_pread(fd, buf, PAGE, (off_t)(last * chunk + (uint64_t)k * PAGE));
        if (!check_page(buf, PAGE, (uint32_t)(last * W2_PAGES + k), chunks)) r.bad++;
        r.verified++;
    }
    close(fd);
    unlink(p);
    free(buf);
    return r;
}

/* The raw limit of W3: sequential 128 KiB reads of a file of the same size
 * with its page cache dropped the same way. */
point raw_read(const char *base, uint64_t bytes) {
    char dir[PATH_MAX], p[PATH_MAX];
    path_join(dir, base, "raw-read");
    fresh_dir(dir);
    path_join(p, dir, "file");
    int fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", p, strerror(errno));
    size_t chunk = 1 << 20;
    uint8_t *buf = xmalloc(chunk);
    for (uint64_t off = 0; off < bytes; off += chunk) {
        for (unsigned k = 0; k < chunk / PAGE; k++) fill_page(buf + (size_t)k * PAGE, (uint32_t)(off / PAGE + k), 9);
        full_pwrite(fd, buf, chunk, (off_t)off);
    }
    close(fd);
    drop_cache(dir);
    point r = {.have = true};
    fd = open(p, O_RDONLY);
    chunk = 128 << 10; /* the best of 4 KiB..8 MiB reads on the test disk */
    uint64_t t0 = now_ns();
    for (uint64_t off = 0; off < bytes; off += chunk) {
        full_pread(fd, buf, chunk, (off_t)off);
        if (((off / chunk) & 127) == 0) {
            if (!check_page(buf, PAGE, (uint32_t)(off / PAGE), 9)) r.bad++;
            r.verified++;
        }
    }
    uint64_t t1 = now_ns();
    close(fd);
    r.rate = (double)bytes / (1 << 20) / ((double)(t1 - t0) / 1e9);
    free(buf);
    rm_rf(dir);
    return r;
}
