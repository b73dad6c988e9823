/*
 * benches/bench/util.c - timing, the page images every point writes and
 * verifies, and file helpers.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU time of this process (all threads), user + system, in seconds. */
double cpu_s(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void *xmalloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 4096, n ? n : 1) != 0) die("out of memory (%zu bytes)", n);
    return p;
}

void *xcalloc(size_t n) {
    void *p = xmalloc(n);
    memset(p, 0, n);
    return p;
}

uint64_t splitmix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A page image: pgno and tag in the first 16 bytes, then a stream derived
 * from both, so any byte out of place is caught. */
#define PAGE_MAGIC 0x4c43424eu
void fill_page(uint8_t *p, uint32_t pgno, uint64_t tag) {
    uint64_t *w = (uint64_t *)p;
    w[0] = ((uint64_t)pgno << 32) | PAGE_MAGIC;
    w[1] = tag;
    uint64_t s = splitmix(((uint64_t)pgno << 32) ^ tag) | 1;
    for (unsigned i = 2; i < PAGE / 8; i++) w[i] = rnd(&s);
}

bool check_page(const uint8_t *p, size_t len, uint32_t pgno, uint64_t tag) {
    uint8_t want[PAGE] __attribute__((aligned(8)));
    if (len != PAGE) return false;
    fill_page(want, pgno, tag);
    return memcmp(p, want, PAGE) == 0;
}

uint64_t page_tag(const uint8_t *p) { return ((const uint64_t *)p)[1]; }

int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void lv_push(lvec *l, uint64_t x) {
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4096;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) die("out of memory");
    }
    l->v[l->n++] = x;
}

uint64_t pct(uint64_t *v, size_t n, double p) {
    if (n == 0) return 0;
    size_t i = (size_t)((double)n * p);
    if (i >= n) i = n - 1;
    return v[i];
}

void path_join(char *out, const char *a, const char *b) {
    if ((size_t)snprintf(out, PATH_MAX, "%s/%s", a, b) >= PATH_MAX) die("path too long");
}

void rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d)) != NULL) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char sub[PATH_MAX];
                path_join(sub, path, e->d_name);
                rm_rf(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

void fresh_dir(const char *path) {
    rm_rf(path);
    if (mkdir(path, 0755) != 0) die("mkdir %s: %s", path, strerror(errno));
}

void full_pwrite(int fd, const void *buf, size_t n, off_t off) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            die("pwrite: %s", strerror(errno));
        }
        p += w;
        n -= (size_t)w;
        off += w;
    }
}

void full_pread(int fd, void *buf, size_t n, off_t off) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            die("pread: %s", r < 0 ? strerror(errno) : "short file");
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
}

/* A file of `pages` pages, written and synced, so that later overwrites
 * measure the write and the sync, not the allocation of blocks. */
int prewritten_file(const char *path, uint64_t pages) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    uint8_t *blk = xmalloc(1 << 20);
    memset(blk, 0x5a, 1 << 20);
    for (uint64_t off = 0; off < pages * PAGE; off += 1 << 20) full_pwrite(fd, blk, 1 << 20, (off_t)off);
    free(blk);
    if (fsync(fd)) die("fsync: %s", strerror(errno));
    return fd;
}

/* Big-endian keys keep the pages in pgno order in the sorted stores. */
void be32(uint8_t k[4], uint32_t v) {
    k[0] = (uint8_t)(v >> 24);
    k[1] = (uint8_t)(v >> 16);
    k[2] = (uint8_t)(v >> 8);
    k[3] = (uint8_t)v;
}

bool csv_has(const char *list, const char *item) {
    size_t n = strlen(item);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && strncasecmp(p, item, n) == 0) return true;
        if (!e) break;
        p = e + 1;
    }
    return false;
}
