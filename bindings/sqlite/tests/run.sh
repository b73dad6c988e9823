#!/usr/bin/env bash
# bindings/sqlite/tests/run.sh - the SQLite-on-libcommit tests, run by
# `make sqlite-test` (all) and `make sqlite-tcl` (tcl) with SQ_* set.
#
#   c:   test_sqlite basic under valgrind (rows, reopen, VACUUM, counters,
#        errors, backup, the forced journal fallback); the kill -9 loop
#        (50 WAL, 25 NATIVE, half of each with lc_group_sync); 4 writer
#        processes plus a reader (with and without group sync); speedtest1
#        --vfs libcommit and integrity_check; the shell and the extension
#   tcl: SQLite's own TCL suite on testfixture with the VFS as default, the
#        files of tcl/gate.txt (SQLITE_TCL_FILES: those files instead;
#        SQLITE_TCL_ALL=1: every test/*.test, compared with known-failing.txt)
#
# Prints "sqlite-tests: N passed, M failed, K skipped" last; exit 1 if any
# failed. A part whose SQLite source could not be fetched is skipped with
# the reason (build/sqlite/source.skip).
set -u

: "${SQ_B:?}" "${SQ_SRC:?}"
SQ_CC=${SQ_CC:-cc}
SQ_LIBS=${SQ_LIBS:--lpthread -ldl -lm -lrt -lutil}
what=${1:-all}
OUT=$SQ_B/test-out
FULL=$SQ_B/dl/sqlite3-3.46.1
TF=$SQ_B/tf/testfixture
mkdir -p "$OUT"

passed=0
failed=0
skipped=0
pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAILED - $1"; }
skip() { skipped=$((skipped + 1)); echo "SKIPPED - $1"; }
# check NAME CMD...: runs CMD with its output in $OUT/NAME.log, shows the
# summary lines ("...: ok ...") or, on failure, the log's tail.
check() {
    local name=$1
    shift
    if ("$@") >"$OUT/$name.log" 2>&1; then
        pass "$name"
        grep -E ': ok ' "$OUT/$name.log" | sed 's/^/    /'
    else
        fail "$name"
        tail -n 30 "$OUT/$name.log" | sed 's/^/    /'
    fi
}
fresh() { rm -rf "$1" && mkdir -p "$1"; }

source_skip() {
    if [ -f "$SQ_B/source.skip" ]; then
        skip "$1: $(tr '\n' ' ' <"$SQ_B/source.skip")"
        return 0
    fi
    return 1
}

run_c() {
    local bin=$OUT/test_sqlite data=$OUT/data
    "$SQ_CC" -std=c11 -Wall -Wextra -Werror -g -O1 -I"$SQ_B" -I"$SQ_SRC" "$SQ_SRC/tests/test_sqlite.c" \
        "$SQ_B/libsqlite3lc.a" $SQ_LIBS -o "$bin" || { fail "build test_sqlite"; return; }
    fresh "$data/basic"
    check basic-valgrind valgrind --error-exitcode=99 --errors-for-leak-kinds=definite --leak-check=full \
        --show-leak-kinds=definite -q "$bin" basic "$data/basic"
    fresh "$data/kill"
    check kill-wal "$bin" killloop "$data/kill" 25 wal 0
    check kill-wal-group "$bin" killloop "$data/kill" 25 wal 1
    check kill-native "$bin" killloop "$data/kill" 13 native 0
    check kill-native-group "$bin" killloop "$data/kill" 12 native 1
    fresh "$data/multi"
    check multi "$bin" multi "$data/multi" 4 300 0
    check multi-group "$bin" multi "$data/multi" 4 300 1

    if ! source_skip "speedtest1 and the shell"; then
        fresh "$data/speed"
        check speedtest1 bash -c "cd '$data/speed' && '$SQ_B/speedtest1' --vfs libcommit --size 10 st.db >speed.log 2>&1 &&
            tail -n 3 speed.log && r=\$('$SQ_B/sqlite3' st.db 'PRAGMA integrity_check') && echo \"\$r\" &&
            [ \"\$r\" = ok ] && echo 'speedtest1: ok --vfs libcommit --size 10 completed, integrity_check ok'"
        check shell bash -c "cd '$data/speed' && '$SQ_B/sqlite3' sh.db 'CREATE TABLE a(x); INSERT INTO a VALUES(42);' &&
            ls sh.db-wal-seg-* >/dev/null && [ \"\$('$SQ_B/sqlite3' sh.db 'SELECT x FROM a')\" = 42 ] &&
            echo 'shell: ok the VFS is the default (the database is a libcommit one)'"
    fi
    # The extension, loaded into the machine's own sqlite3 shell if it has one.
    if command -v sqlite3 >/dev/null; then
        fresh "$data/ext"
        check extension bash -c "cd '$data/ext' && r=\$(printf '%s\n' '.load $SQ_B/libcommit_sqlite' \
            '.open file:ext.db?vfs=libcommit' 'CREATE TABLE e(x);' 'INSERT INTO e VALUES(7);' 'SELECT x FROM e;' |
            sqlite3 -batch) && [ \"\$r\" = 7 ] && ls ext.db-wal-seg-* >/dev/null &&
            echo \"extension: ok .load into \$(sqlite3 --version | cut -d' ' -f1) and open with vfs=libcommit\""
    else
        skip "extension: no sqlite3 shell on this machine to load it into"
    fi
}

# One TCL file in a private directory; prints "FILE errors tests status".
tcl_one() {
    local f=$1 base=$2 dir log
    dir=$base/${f%.test}
    fresh "$dir"
    log=$OUT/tcl/$f.log
    (cd "$dir" && timeout 900 "$TF" "$FULL/test/$f" >"$log" 2>&1)
    local rc=$? line errors tests status
    line=$(grep -E '^[0-9]+ errors out of [0-9]+ tests' "$log" | tail -n1)
    if [ -n "$line" ]; then
        errors=${line%% *}
        tests=$(echo "$line" | awk '{print $5}')
        status=ok
        [ "$errors" = 0 ] || status=errors
    else
        errors=-
        tests=-
        # No summary: killed by a signal (a crash, never accepted), out of
        # time, or the script stopped at an error it did not catch.
        if [ $rc -eq 124 ]; then status=timeout
        elif [ $rc -gt 128 ]; then status="crash(signal-$((rc - 128)))"
        else status="aborted(rc=$rc)"
        fi
    fi
    rm -rf "$dir"
    echo "$f $errors $tests $status"
}
export -f tcl_one fresh
export TF FULL OUT

run_tcl() {
    source_skip "SQLite's TCL suite" && return
    if [ -f "$SQ_B/testfixture.skip" ]; then
        skip "SQLite's TCL suite: $(cat "$SQ_B/testfixture.skip")"
        return
    fi
    [ -x "$TF" ] || { fail "tcl: no testfixture at $TF"; return; }
    mkdir -p "$OUT/tcl"
    local files base
    if [ -n "${SQLITE_TCL_FILES:-}" ]; then
        files=$SQLITE_TCL_FILES
    elif [ "${SQLITE_TCL_ALL:-}" = 1 ]; then
        # Less the files that only run others (as SQLite's permutations.test
        # leaves them out of its own "all" set).
        files=$(cd "$FULL/test" && ls *.test | grep -vxF -f "$SQ_SRC/tcl/runners.txt")
    else
        files=$(sed -e 's/#.*//' "$SQ_SRC/tcl/gate.txt" | awk 'NF {print $1}')
    fi
    # tmpfs when there is one: the suite is about SQL, not the disk, and
    # testfixture's own unix VFS is built without fsync too.
    base=/dev/shm/lcsqlite-tcl-$$
    mkdir -p "$base" 2>/dev/null || base=$OUT/tcl-work
    mkdir -p "$base"
    local start=$SECONDS
    echo $files | tr ' ' '\n' | xargs -P "${SQLITE_TCL_JOBS:-2}" -I{} bash -c 'tcl_one "$@"' _ {} "$base" \
        | sort >"$OUT/tcl-results.txt"
    rm -rf "$base"
    local nfiles ncases nerr bad
    nfiles=$(wc -l <"$OUT/tcl-results.txt")
    ncases=$(awk '$3 ~ /^[0-9]+$/ {s += $3} END {print s + 0}' "$OUT/tcl-results.txt")
    nerr=$(awk '$2 ~ /^[0-9]+$/ {s += $2} END {print s + 0}' "$OUT/tcl-results.txt")
    bad=$(awk '$4 != "ok"' "$OUT/tcl-results.txt")
    if [ "${SQLITE_TCL_ALL:-}" = 1 ]; then
        # Every failing file must be a known one (a crash never is).
        local unknown
        unknown=$(awk '$4 != "ok" {print $1, $4}' "$OUT/tcl-results.txt" | while read -r f s; do
            if [[ $s == crash* ]] || ! grep -q "^$f " "$SQ_SRC/tcl/known-failing.txt"; then echo "$f $s"; fi
        done)
        echo "tcl (all files): $nfiles files, $ncases cases, $nerr errors, $(echo "$bad" | grep -c .) files failing" \
            "in $((SECONDS - start)) s; results in $OUT/tcl-results.txt"
        if [ -n "$unknown" ]; then
            fail "tcl-all: failing files not in known-failing.txt (or crashed):"
            echo "$unknown" | sed 's/^/    /'
        else
            pass "tcl-all: every failing file is listed in known-failing.txt"
        fi
        return
    fi
    echo "tcl gate: $nfiles files, $ncases cases, $nerr errors in $((SECONDS - start)) s"
    if [ -z "$bad" ]; then
        pass "tcl gate: ok $nfiles files, $ncases cases, 0 errors"
    else
        fail "tcl gate: files with errors, crashes or timeouts (logs in $OUT/tcl):"
        echo "$bad" | sed 's/^/    /'
    fi
}

start=$SECONDS
case $what in
all) run_c; run_tcl ;;
c) run_c ;;
tcl) run_tcl ;;
*) echo "usage: run.sh all|c|tcl" >&2; exit 2 ;;
esac
echo "sqlite-tests took $((SECONDS - start)) s"
echo "sqlite-tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
