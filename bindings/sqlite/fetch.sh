#!/usr/bin/env bash
# bindings/sqlite/fetch.sh - brings the pinned SQLite parts into build/sqlite
# (called by mk/sqlite.mk; each part is fetched once and then cached).
#
#   fetch.sh amalgamation OUT   the libsqlite3-sys crate (cargo, from the
#                               crates registry), sha256 checked; its
#                               bundled sqlite3.c/h/ext.h into OUT
#   fetch.sh source OUT         SQLite's full source (test suite, shell.c,
#                               speedtest1.c): the Debian source package,
#                               through apt with a private config whose
#                               deb-src entries use the archive this
#                               machine's apt is set up for; sha256 checked
#
# Exit 0 on success, 2 when the part cannot be had (the caller skips with
# this script's message), 1 on a wrong checksum or a broken download.
set -euo pipefail

LSS_VERSION=0.30.1 # bundles SQLite 3.46.0
LSS_SHA256=2e99fb7a497b1e3339bc746195567ed8d3e24945ecd636e3619d20b9de9e9149
DEB_SUITE=trixie
DEB_VERSION=3.46.1-7+deb13u2
DEB_UPSTREAM=3.46.1
DEB_ORIG_SHA256=d0cdd2ece271b29e7ce18095745d892517ee26d0f270065b3a25c2e9eb11639c

what=${1:?usage: fetch.sh amalgamation|source OUT}
out=${2:?usage: fetch.sh amalgamation|source OUT}
mkdir -p "$out"
out=$(cd "$out" && pwd)

sha_ok() { [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

amalgamation() {
    local crate="$out/libsqlite3-sys-$LSS_VERSION.crate"
    if [ ! -f "$crate" ] || ! sha_ok "$crate" "$LSS_SHA256"; then
        local m="$out/fetch-crate"
        mkdir -p "$m/src"
        printf '[package]\nname = "lcsqlite-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[workspace]\n\n[dependencies]\nlibsqlite3-sys = { version = "=%s", default-features = false }\n' \
            "$LSS_VERSION" >"$m/Cargo.toml"
        : >"$m/src/lib.rs"
        if ! ${CARGO:-cargo} fetch --manifest-path "$m/Cargo.toml" >"$m/fetch.log" 2>&1; then
            echo "sqlite: cannot fetch libsqlite3-sys $LSS_VERSION with cargo (see $m/fetch.log)" >&2
            return 2
        fi
        local cached
        cached=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/"libsqlite3-sys-$LSS_VERSION.crate" 2>/dev/null | head -n1)
        [ -n "$cached" ] || { echo "sqlite: cargo fetched no libsqlite3-sys-$LSS_VERSION.crate" >&2; return 2; }
        cp -f "$cached" "$crate"
    fi
    if ! sha_ok "$crate" "$LSS_SHA256"; then
        echo "sqlite: $crate: sha256 is not the pinned $LSS_SHA256" >&2
        return 1
    fi
    tar -xzf "$crate" -C "$out" "libsqlite3-sys-$LSS_VERSION/sqlite3"
    cp -f "$out/libsqlite3-sys-$LSS_VERSION"/sqlite3/{sqlite3.c,sqlite3.h,sqlite3ext.h} "$out/"
    echo "sqlite: amalgamation $(sed -n 's/^#define SQLITE_VERSION *"\(.*\)"/\1/p' "$out/sqlite3.h") from libsqlite3-sys $LSS_VERSION"
}

source_pkg() {
    local orig="$out/sqlite3_$DEB_UPSTREAM.orig.tar.xz"
    if [ ! -f "$orig" ] || ! sha_ok "$orig" "$DEB_ORIG_SHA256"; then
        command -v apt-get >/dev/null || { echo "sqlite: no apt-get here to fetch the SQLite source" >&2; return 2; }
        local apt="$out/apt"
        rm -rf "$apt"
        mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/dl"
        # The archive this machine's apt already uses, as a deb-src entry.
        local uri keyring
        uri=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v -- -security | head -n1)
        [ -n "$uri" ] || uri=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n1)
        keyring=/usr/share/keyrings/debian-archive-keyring.gpg
        [ -n "$uri" ] && [ -f "$keyring" ] || { echo "sqlite: no Debian archive configured for apt; cannot fetch the SQLite source" >&2; return 2; }
        echo "deb-src [signed-by=$keyring] $uri $DEB_SUITE main" >"$apt/sources.list"
        local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
                    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
        if ! apt-get "${opts[@]}" update >"$apt/update.log" 2>&1 ||
           ! (cd "$apt/dl" && apt-get "${opts[@]}" source --download-only "sqlite3=$DEB_VERSION") >"$apt/source.log" 2>&1; then
            echo "sqlite: cannot fetch the Debian source package sqlite3 $DEB_VERSION (see $apt/*.log)" >&2
            return 2
        fi
        cp -f "$apt/dl/sqlite3_$DEB_UPSTREAM.orig.tar.xz" "$orig"
    fi
    if ! sha_ok "$orig" "$DEB_ORIG_SHA256"; then
        echo "sqlite: $orig: sha256 is not the pinned $DEB_ORIG_SHA256" >&2
        return 1
    fi
    rm -rf "$out/sqlite3-$DEB_UPSTREAM"
    tar -xJf "$orig" -C "$out"
    echo "sqlite: source $DEB_UPSTREAM (Debian $DEB_VERSION) in $out/sqlite3-$DEB_UPSTREAM"
}

case $what in
amalgamation) amalgamation ;;
source) source_pkg ;;
*) echo "usage: fetch.sh amalgamation|source OUT" >&2; exit 1 ;;
esac
