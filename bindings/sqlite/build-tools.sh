#!/usr/bin/env bash
# bindings/sqlite/build-tools.sh - what needs SQLite's full source: the
# sqlite3 shell (VFS as default), speedtest1, and testfixture (SQLite's TCL
# test harness, VFS as default), all in build/sqlite and rebuilt only when
# an input is newer. Called by mk/sqlite.mk with SQ_* set.
#
#   build-tools.sh shell speedtest1 testfixture   (any subset)
#
# Without the source (fetch.sh exit 2) each tool is skipped with the reason
# and build/sqlite/source.skip records it; the test driver reports it.
set -euo pipefail

: "${SQ_B:?}" "${SQ_SRC:?}" "${SQ_REPO:?}" "${SQ_LIBCOMMIT_A:?}"
SQ_CC=${SQ_CC:-cc}
SQ_NICE=${SQ_NICE:-nice -n 10}
SQ_LIBS=${SQ_LIBS:--lpthread -ldl -lm -lrt -lutil}
DL=$SQ_B/dl
OBJ=$SQ_B/obj
LIB=$SQ_B/libsqlite3lc.a
UPSTREAM=3.46.1
FULL=$DL/sqlite3-$UPSTREAM
mkdir -p "$OBJ"
# The VFS's sources, as mk/sqlite.mk lists them.
VFS_SRCS=(libcommit_sqlite.c lcs_io.c lcs_lock.c lcs_commit.c lcs_open.c)

# newer OUT IN...: true when OUT is missing or older than an IN.
stale() {
    local out=$1
    shift
    [ -e "$out" ] || return 0
    for i in "$@"; do [ "$i" -nt "$out" ] && return 0; done
    return 1
}

get_source() {
    [ -f "$FULL/.complete" ] && return 0
    rm -f "$SQ_B/source.skip"
    local rc=0
    bash "$SQ_SRC/fetch.sh" source "$DL" 2>"$DL/fetch-source.err" || rc=$?
    if [ $rc -eq 2 ]; then
        { echo "SQLite's full source cannot be fetched:"; cat "$DL/fetch-source.err"; } >"$SQ_B/source.skip"
        return 2
    fi
    if [ $rc -ne 0 ]; then
        cat "$DL/fetch-source.err" >&2
        exit $rc
    fi
    touch "$FULL/.complete"
}

build_shell() {
    if stale "$SQ_B/sqlite3" "$LIB" "$SQ_SRC/tools/shell_init.c"; then
        (cd "$FULL" && tclsh tool/mkshellc.tcl) >"$OBJ/shell.c"
        $SQ_NICE "$SQ_CC" -O2 -g -DSQLITE_SHELL_INIT_PROC=libcommit_sqlite_shell_init -I"$SQ_B" -I"$SQ_SRC" \
            "$OBJ/shell.c" "$SQ_SRC/tools/shell_init.c" "$LIB" $SQ_LIBS -o "$SQ_B/sqlite3"
        echo "sqlite: built $SQ_B/sqlite3 (the shell, libcommit VFS as default)"
    fi
}

build_speedtest1() {
    if stale "$SQ_B/speedtest1" "$LIB" "$SQ_SRC/tools/speedtest1_main.c"; then
        $SQ_NICE "$SQ_CC" -O2 -g -I"$SQ_B" -I"$SQ_SRC" -I"$FULL/test" "$SQ_SRC/tools/speedtest1_main.c" "$LIB" \
            $SQ_LIBS -o "$SQ_B/speedtest1"
        echo "sqlite: built $SQ_B/speedtest1"
    fi
}

tcl_dev() {
    [ -f /usr/lib/tcl8.6/tclConfig.sh ] && [ -f /usr/include/tcl8.6/tcl.h ] && return 0
    echo "sqlite: installing ${SQ_TCL_DEB:?}"
    { apt-get update -qq && apt-get install -y -qq "$SQ_TCL_DEB"; } >"$SQ_B/tcl-dev.log" 2>&1 || {
        echo "tcl-dev ($SQ_TCL_DEB) cannot be installed (see $SQ_B/tcl-dev.log)" >"$SQ_B/testfixture.skip"
        return 2
    }
}

build_testfixture() {
    local tf=$SQ_B/tf
    rm -f "$SQ_B/testfixture.skip"
    tcl_dev || return 0
    if stale "$tf/testfixture" "$SQ_LIBCOMMIT_A" "${VFS_SRCS[@]/#/$SQ_SRC/}" "$SQ_SRC/libcommit_sqlite.h" \
        "$SQ_SRC/lcs_private.h" "$SQ_SRC/tcl/testfixture_init.c" "$FULL/.complete"; then
        mkdir -p "$tf"
        if [ ! -f "$tf/Makefile" ]; then
            (cd "$tf" && "$FULL/configure" --with-tcl=/usr/lib/tcl8.6 --disable-shared --disable-readline \
                >configure.log 2>&1) || { echo "sqlite: configure failed, see $tf/configure.log" >&2; exit 1; }
        fi
        (cd "$tf" && $SQ_NICE make sqlite3.h >make.log 2>&1)
        # The same VFS source as the product, against this SQLite's header.
        local objs="" s
        for s in "${VFS_SRCS[@]}"; do
            "$SQ_CC" -std=c11 -Wall -Wextra -Werror -O2 -g -I"$tf" -I"$SQ_REPO/include" -I"$SQ_SRC" \
                -c "$SQ_SRC/$s" -o "$tf/${s%.c}.o"
            objs="$objs $tf/${s%.c}.o"
        done
        "$SQ_CC" -std=c11 -Wall -Wextra -Werror -O2 -g -I"$tf" -I"$SQ_SRC" \
            -c "$SQ_SRC/tcl/testfixture_init.c" -o "$tf/testfixture_init.o"
        rm -f "$tf/testfixture"
        (cd "$tf" && $SQ_NICE make testfixture \
            OPTS="-DSQLITE_ENABLE_BATCH_ATOMIC_WRITE -DSQLITE_EXTRA_INIT=libcommit_sqlite_testfixture_init" \
            LIBS="$objs $tf/testfixture_init.o $SQ_LIBCOMMIT_A $SQ_LIBS" >>make.log 2>&1) ||
            { tail -n 30 "$tf/make.log" >&2; echo "sqlite: testfixture build failed, see $tf/make.log" >&2; exit 1; }
        echo "sqlite: built $tf/testfixture (SQLite $UPSTREAM's TCL harness, libcommit VFS as default)"
    fi
}

if ! get_source; then
    echo "sqlite: skipping $*: $(tail -n +2 "$SQ_B/source.skip" | tr '\n' ' ')"
    exit 0
fi
for t in "$@"; do
    case $t in
    shell) build_shell ;;
    speedtest1) build_speedtest1 ;;
    testfixture) build_testfixture ;;
    *) echo "build-tools.sh: unknown tool $t" >&2; exit 1 ;;
    esac
done
