#!/usr/bin/env bash
# tests/c/run.sh - the C ABI test driver, run by `make c-test` (mk/c.mk),
# which builds build/lib first and passes the paths below.
#
# Checks: each header compiles on its own (C as C99 and C++, the C++
# wrapper as C++17); a program written to API.md compiles with -Werror;
# the shared library exports exactly the header's lc_* functions and has
# SONAME libcommit.so.MAJOR; the C tests and the C++ wrapper test pass
# under valgrind memcheck (0 errors, no definite leaks), LC_FULL on a
# private 1 MiB tmpfs where one can be mounted; the static library
# links. (Installing and building from the installed prefix: routes.sh.)
# Prints "c-tests: N passed, M failed" last.
set -u

C_REPO=${C_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
C_BUILD=${C_BUILD:-$C_REPO/build}
C_LIBDIR=${C_LIBDIR:-$C_BUILD/lib}
C_VERSION=${C_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$C_REPO/bindings/c/Cargo.toml" | head -n1)}
C_SONAME=${C_SONAME:-libcommit.so.${C_VERSION%%.*}}
C_STATIC_LIBS=${C_STATIC_LIBS:--lpthread -ldl -lm -lrt -lutil}
CC=${CC:-cc}
CXX=${CXX:-c++}
MAKE=${MAKE:-make}

SRC=$C_REPO/tests/c
OUT=$C_BUILD/c-tests
INC=$C_REPO/include
CPPINC=$C_REPO/bindings/cpp
rm -rf "$OUT"
mkdir -p "$OUT"
export TMPDIR=${TMPDIR:-/tmp}

CFLAGS=(-std=c99 -Wall -Wextra -Werror -pedantic -g -I"$INC")
CXXFLAGS=(-std=c++17 -Wall -Wextra -Werror -pedantic -g -I"$INC" -I"$CPPINC")
LINK=(-L"$C_LIBDIR" -lcommit -Wl,-rpath,"$C_LIBDIR" -pthread)
VALGRIND=(valgrind --error-exitcode=99 --errors-for-leak-kinds=definite --leak-check=full
          --show-leak-kinds=definite --track-fds=no)

# Seconds one program may run under valgrind (the slowest takes about a
# minute).
TEST_TIMEOUT_S=900

passed=0
failed=0
skipped=0
summaries=()

pass() { passed=$((passed + ${2:-1})); echo "ok - $1"; }
fail() { failed=$((failed + ${2:-1})); echo "FAILED - $1"; }
# check NAME CMD...: runs CMD, output to $OUT/NAME.log; shows the log on failure.
check() {
    local name=$1
    shift
    if ( "$@" ) >"$OUT/$name.log" 2>&1; then
        pass "$name"
    else
        fail "$name"
        sed 's/^/    /' "$OUT/$name.log" | tail -n 40
    fi
}

# --- headers on their own -------------------------------------------------
printf '#include "libcommit.h"\n' >"$OUT/only_h.c"
printf '#include "libcommit.h"\nint main(void) { return 0; }\n' >"$OUT/only_h_main.c"
printf '#include "libcommit.h"\n' >"$OUT/only_h.cpp"
printf '#include "libcommit.hpp"\n' >"$OUT/only_hpp.cpp"
check header-alone-c99 "$CC" "${CFLAGS[@]}" -c "$OUT/only_h.c" -o "$OUT/only_h.o"
check header-alone-c11 "$CC" -std=c11 -Wall -Wextra -Werror -pedantic -I"$INC" -c "$OUT/only_h.c" -o "$OUT/only_h11.o"
check header-alone-cxx "$CXX" -std=c++11 -Wall -Wextra -Werror -pedantic -I"$INC" -c "$OUT/only_h.cpp" -o "$OUT/only_h_cpp.o"
check hpp-alone-cxx17 "$CXX" "${CXXFLAGS[@]}" -c "$OUT/only_hpp.cpp" -o "$OUT/only_hpp.o"
check api-contract sh -c "'$CC' -std=c11 -Wall -Wextra -Werror -I'$INC' '$SRC/api_contract.c' -o '$OUT/api_contract' ${LINK[*]} && '$OUT/api_contract'"

# --- the shared library ------------------------------------------------------
so=$C_LIBDIR/libcommit.so
exported=$(nm -D --defined-only "$so" | awk '{print $3}' | sed 's/@.*//' | sort -u)
declared=$(grep -o '\blc_[a-z_]*(' "$INC/libcommit.h" | tr -d '(' | sort -u)
n_exported=$(printf '%s\n' "$exported" | grep -c .)
echo "exported symbols ($n_exported):" >"$OUT/symbols.log"
printf '%s\n' "$exported" >>"$OUT/symbols.log"
if [ "$exported" = "$declared" ] && ! printf '%s\n' "$exported" | grep -qv '^lc_'; then
    pass "symbols: $n_exported exported, all lc_*, exactly the header's functions"
else
    fail "symbols: exports differ from the header's lc_* functions"
    diff <(printf '%s\n' "$declared") <(printf '%s\n' "$exported") | sed 's/^/    /'
fi
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\].*/\1/p')
if [ "$soname" = "$C_SONAME" ]; then pass "soname $soname"; else fail "soname '$soname' != $C_SONAME"; fi
if [ -L "$C_LIBDIR/$C_SONAME" ] && [ -L "$C_LIBDIR/libcommit.so" ]; then
    pass "build/lib symlinks"
else
    fail "build/lib symlinks"
fi

# --- C tests under valgrind ------------------------------------------------
# run_valgrind NAME BINARY: runs under memcheck; adds the program's own test
# counts ("# NAME: N tests passed, M failed") and keeps its error summary.
# Further arguments go to the program; a non-empty WRAP array runs
# valgrind through that command (used for the private tmpfs).
WRAP=()
run_valgrind() {
    local name=$1 bin=$2
    shift 2
    local log=$OUT/$name.valgrind
    # timeout signals its whole process group, forked children included:
    # a hang is a failure that names the program, not a stalled run.
    timeout -k 10 "$TEST_TIMEOUT_S" "${WRAP[@]}" "${VALGRIND[@]}" --log-file="$log.%p" "$bin" "$@" \
        >"$OUT/$name.log" 2>&1
    local rc=$?
    [ $rc -eq 124 ] && echo "# $name: timed out after $TEST_TIMEOUT_S s" >>"$OUT/$name.log"
    local line n_ok n_bad
    line=$(grep -E "^# $name: [0-9]+ tests passed, [0-9]+ failed" "$OUT/$name.log" | tail -n1)
    n_ok=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) tests passed, \([0-9]*\) failed/\1/p')
    n_bad=$(printf '%s' "$line" | sed -n 's/.*: \([0-9]*\) tests passed, \([0-9]*\) failed/\2/p')
    # The parent's log is the one naming the binary first; forked children
    # (recovery tests) write their own logs, checked for errors too.
    local summary
    summary=$(grep -h "ERROR SUMMARY" "$log".* 2>/dev/null | head -n1 | sed 's/^==[0-9]*== //')
    local child_errors
    child_errors=$(grep -h "ERROR SUMMARY" "$log".* 2>/dev/null | grep -vc "ERROR SUMMARY: 0 errors")
    summaries+=("$name: $summary")
    cat "$OUT/$name.log"
    if [ $rc -eq 0 ] && [ -n "$line" ] && [ "${n_bad:-1}" = 0 ] && [ "$child_errors" = 0 ]; then
        pass "$name under valgrind ($summary)" "$n_ok"
    else
        [ -n "$n_ok" ] && passed=$((passed + n_ok))
        # A valgrind error (or a forked child's) with every test passed
        # still counts as a failure.
        local n_fail=${n_bad:-1}
        [ "$n_fail" = 0 ] && n_fail=1
        fail "$name under valgrind (exit $rc; $summary)" "$n_fail"
        grep -h -A30 -E "Invalid|uninitialised|definitely lost|Syscall param" "$log".* 2>/dev/null | head -n 80 | sed 's/^/    /'
    fi
}

for t in test_api test_threads test_recovery test_operability test_replica test_follow; do
    if "$CC" "${CFLAGS[@]}" "$SRC/$t.c" -o "$OUT/$t" "${LINK[@]}" >"$OUT/$t.build.log" 2>&1; then
        run_valgrind "$t" "$OUT/$t"
    else
        fail "$t: build"
        sed 's/^/    /' "$OUT/$t.build.log"
    fi
done

# LC_FULL needs a small file system: a 1 MiB tmpfs in a private mount
# namespace (root only); elsewhere test_full reports itself skipped.
FULL_DIR=$OUT/full-tmpfs
mkdir -p "$FULL_DIR"
if "$CC" "${CFLAGS[@]}" "$SRC/test_full.c" -o "$OUT/test_full" "${LINK[@]}" >"$OUT/test_full.build.log" 2>&1; then
    if unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs "$0"' "$FULL_DIR" >/dev/null 2>&1; then
        WRAP=(unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs "$0" && exec "$@"' "$FULL_DIR")
        run_valgrind test_full "$OUT/test_full" "$FULL_DIR"
        WRAP=()
    else
        skipped=$((skipped + 1))
        echo "skipped - test_full: no private tmpfs here (needs root and unshare -m)"
    fi
else
    fail "test_full: build"
    sed 's/^/    /' "$OUT/test_full.build.log"
fi

if "$CXX" "${CXXFLAGS[@]}" "$SRC/test_cpp_a.cpp" "$SRC/test_cpp_b.cpp" -o "$OUT/test_cpp" "${LINK[@]}" \
    >"$OUT/test_cpp.build.log" 2>&1; then
    pass "test_cpp: wrapper included from two translation units links"
    run_valgrind test_cpp "$OUT/test_cpp"
else
    fail "test_cpp: build"
    sed 's/^/    /' "$OUT/test_cpp.build.log"
fi

# --- static library ------------------------------------------------------------
mkdir -p "$OUT/static"
check static-link sh -c "'$CC' -std=c99 -I'$INC' '$C_REPO/examples/quickstart.c' '$C_LIBDIR/libcommit.a' $C_STATIC_LIBS -o '$OUT/quickstart_static' && cd '$OUT/static' && '$OUT/quickstart_static' static.db"

# `make install` and building from the installed prefix (pkg-config, CMake,
# the README's line): tests/c/routes.sh, run by `make c-routes`.

echo
echo "valgrind memcheck:"
for s in "${summaries[@]}"; do echo "  $s"; done
if [ "$skipped" -gt 0 ]; then
    echo "c-tests: $passed passed, $failed failed, $skipped skipped"
else
    echo "c-tests: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
