/*
 * benches/bench/w5.c - W5: benches/w5_python.py drives the libcommit
 * package from Python threads and prints one result line; main.c runs the
 * same loop in C beside it (run_w1 on ENG_LC).
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "bench.h"

bool run_python(const char *dir, int T, double secs, point *out) {
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s' %d %.3f", cfg.python, cfg.py_script, dir, T, secs);
    FILE *p = popen(cmd, "r");
    if (!p) return false;
    char line[512];
    bool got = false;
    while (fgets(line, sizeof line, p)) {
        double rate, p50, p99;
        unsigned long long ops;
        int ver, bad;
        if (sscanf(line, "W5 ops=%llu rate=%lf p50_us=%lf p99_us=%lf verified=%d bad=%d", &ops, &rate, &p50, &p99,
                   &ver, &bad) == 6) {
            *out = (point){.have = true, .rate = rate, .ops = ops, .p50 = (uint64_t)(p50 * 1000),
                           .p99 = (uint64_t)(p99 * 1000), .verified = ver, .bad = bad};
            got = true;
        } else {
            fputs(line, stderr);
        }
    }
    int st = pclose(p);
    return got && st == 0;
}
