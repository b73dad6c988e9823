#!/usr/bin/env bash
# tests/c/routes.sh - `make c-routes` (mk/c.mk): `make install` into a
# temp prefix, then the quickstarts built from that prefix, outside the
# repository, the three ways a user would, and each program run:
#   pkg-config  cc app.c $(pkg-config --cflags --libs libcommit), shared
#               (the rpath from pkg-config's libdir) and static (--static)
#   cmake       tests/cmake: find_package(libcommit CONFIG), one program per
#               target (libcommit::libcommit, libcommit::static, C++)
#   readme      the `cc` lines of the README's C install block, as written,
#               and every program they name with -o
# A route whose tool is missing says SKIPPED. Prints
# "build routes: N passed, M failed[, K skipped]" last.
set -u

C_REPO=${C_REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
C_BUILD=${C_BUILD:-$C_REPO/build}
C_VERSION=${C_VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$C_REPO/bindings/c/Cargo.toml" | head -n1)}
C_SONAME=${C_SONAME:-libcommit.so.${C_VERSION%%.*}}
CC=${CC:-cc}
CXX=${CXX:-c++}
MAKE=${MAKE:-make}
# The cmake route runs with the version mk/c.mk pins, or says SKIPPED.
CMAKE_VERSION_PINNED=$(sed -n 's/^CMAKE_DEB := cmake=\([0-9.]*\)-.*/\1/p' "$C_REPO/mk/c.mk")

OUT=$C_BUILD/c-routes
rm -rf "$OUT"
mkdir -p "$OUT"
export TMPDIR=${TMPDIR:-/tmp}
PREFIX=$(mktemp -d "$TMPDIR/lc-prefix-XXXXXX")
APP=$(mktemp -d "$TMPDIR/lc-app-XXXXXX")
trap 'rm -rf "$PREFIX" "$APP"' EXIT
LIB=$PREFIX/lib

passed=0 failed=0 skipped=0
# route NAME FUNCTION: runs it with output to $OUT/NAME.log; shows the log
# on failure. A function that prints "SKIPPED: why" and returns 77 skips.
route() {
    local name=$1 t0=$SECONDS rc
    ("$2") >"$OUT/$name.log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        echo "ok - $name ($((SECONDS - t0)) s)"
    elif [ $rc -eq 77 ]; then
        skipped=$((skipped + 1))
        echo "SKIPPED - $name: $(sed -n 's/^SKIPPED: //p' "$OUT/$name.log" | head -n1)"
    else
        failed=$((failed + 1))
        echo "FAILED - $name"
        sed 's/^/    /' "$OUT/$name.log" | tail -n 40
    fi
}

installed() {
    "$MAKE" --no-print-directory -f "$C_REPO/mk/c.mk" install PREFIX="$PREFIX" || return 1
    [ -f "$LIB/libcommit.so.$C_VERSION" ] && [ -f "$LIB/libcommit.a" ] || return 1
    [ "$(readlink "$LIB/$C_SONAME")" = "libcommit.so.$C_VERSION" ] || return 1
    [ "$(readlink "$LIB/libcommit.so")" = "$C_SONAME" ] || return 1
    [ -f "$PREFIX/include/libcommit.h" ] && [ -f "$PREFIX/include/libcommit.hpp" ] || return 1
    [ -f "$LIB/pkgconfig/libcommit.pc" ] || return 1
    [ -f "$LIB/cmake/libcommit/libcommitConfig.cmake" ] || return 1
    [ -f "$LIB/cmake/libcommit/libcommitConfigVersion.cmake" ] || return 1
    cp "$C_REPO/examples/quickstart.c" "$C_REPO/examples/quickstart.cpp" "$APP/"
}

# Runs each program in a fresh directory (each makes its own database).
run_all() {
    local bin
    for bin in "$@"; do
        rm -rf "$APP/run" && mkdir -p "$APP/run" && (cd "$APP/run" && "$bin") || return 1
    done
}

pkg_config_route() {
    command -v pkg-config >/dev/null || { echo "SKIPPED: no pkg-config"; return 77; }
    export PKG_CONFIG_PATH=$LIB/pkgconfig
    pkg-config --exists --print-errors libcommit || return 1
    [ "$(pkg-config --modversion libcommit)" = "$C_VERSION" ] || return 1
    local libdir
    libdir=$(pkg-config --variable=libdir libcommit)
    cd "$APP" || return 1
    echo "flags: $(pkg-config --cflags --libs libcommit)"
    # shellcheck disable=SC2046
    "$CC" -std=c99 -Wall -Werror quickstart.c $(pkg-config --cflags --libs libcommit) \
        -Wl,-rpath,"$libdir" -o pc_c || return 1
    # shellcheck disable=SC2046
    "$CXX" -std=c++17 -Wall -Werror quickstart.cpp $(pkg-config --cflags --libs libcommit) \
        -Wl,-rpath,"$libdir" -o pc_cpp || return 1
    readelf -d pc_c | grep -q "NEEDED.*\[$C_SONAME\]" || return 1
    ldd ./pc_c | grep -q "$LIB/$C_SONAME" || return 1
    # shellcheck disable=SC2046
    "$CC" -std=c99 quickstart.c $(pkg-config --static --cflags --libs libcommit |
        sed 's/-lcommit/-l:libcommit.a/') -o pc_static || return 1
    ! readelf -d pc_static | grep -q "NEEDED.*libcommit" || return 1
    run_all "$APP/pc_c" "$APP/pc_cpp" "$APP/pc_static"
}

cmake_route() {
    command -v cmake >/dev/null || { echo "SKIPPED: no cmake (mk/c.mk c-cmake installs cmake $CMAKE_VERSION_PINNED)"; return 77; }
    local have
    have=$(cmake --version | sed -n 's/^cmake version //p')
    if [ "$have" != "$CMAKE_VERSION_PINNED" ]; then
        echo "SKIPPED: cmake $have is not the pinned $CMAKE_VERSION_PINNED"
        return 77
    fi
    local b=$APP/cmake-build
    cmake -S "$C_REPO/tests/cmake" -B "$b" -DCMAKE_PREFIX_PATH="$PREFIX" \
        -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" || return 1
    cmake --build "$b" -- -j2 || return 1
    readelf -d "$b/quickstart_c" | grep -q "NEEDED.*\[$C_SONAME\]" || return 1
    ! readelf -d "$b/quickstart_static" | grep -q "NEEDED.*libcommit" || return 1
    # A version the package does not satisfy is refused.
    printf 'cmake_minimum_required(VERSION 3.13)\nproject(v C)\nfind_package(libcommit 9.0 CONFIG REQUIRED)\n' \
        >"$APP/CMakeLists.txt"
    if cmake -S "$APP" -B "$APP/cmake-v" -DCMAKE_PREFIX_PATH="$PREFIX" >/dev/null 2>&1; then
        echo "find_package(libcommit 9.0) was satisfied by $C_VERSION"
        return 1
    fi
    run_all "$b/quickstart_c" "$b/quickstart_static" "$b/quickstart_cpp"
}

# The README's C install block: the fenced block after the marker line;
# its `cc` lines run as written, with PREFIX set and app.c the quickstart.
readme_route() {
    local block
    block=$(awk '/<!-- build route: readme -->/ { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside' "$C_REPO/README.md")
    [ -n "$block" ] || { echo "README.md has no '<!-- build route: readme -->' block"; return 1; }
    local lines
    lines=$(printf '%s\n' "$block" | grep '^cc ')
    [ -n "$lines" ] || { echo "the README's block has no cc line"; return 1; }
    printf 'README block:\n%s\n' "$block"
    cd "$APP" && cp quickstart.c app.c || return 1
    PREFIX=$PREFIX bash -euc "$lines" || return 1
    local outputs=() out
    for out in $(printf '%s\n' "$lines" | sed -n 's/.* -o \([^ ]*\).*/\1/p'); do
        [ -x "$APP/$out" ] || { echo "the README's line made no ./$out"; return 1; }
        outputs+=("$APP/$out")
    done
    [ ${#outputs[@]} -gt 0 ] || { echo "the README's cc lines name no -o output"; return 1; }
    echo "built: ${outputs[*]}"
    run_all "${outputs[@]}"
}

route install installed
route pkg-config pkg_config_route
route cmake cmake_route
route readme readme_route

if [ "$skipped" -gt 0 ]; then
    echo "build routes: $passed passed, $failed failed, $skipped skipped"
else
    echo "build routes: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
