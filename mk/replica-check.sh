#!/usr/bin/env bash
# mk/replica-check.sh LOG - after tests/replica_s3.rs and follow_procs.rs: every test either
# printed its counts or skipped because its server is not installed;
# a skip for any other reason fails. Prints the counts last.
set -u
log=$1
bad=$(grep 'SKIP ' "$log" | grep -v 'is not installed')
if [ -n "$bad" ]; then
    echo "replica-test: tests skipped with their server installed:" >&2
    echo "$bad" >&2
    exit 1
fi
# cargo prints "test NAME ... " before a test's own output.
skips=$(grep -c 'SKIP ' "$log")
counted=$(grep -c 'replica_s3: ' "$log")
# One result line per test binary: their sum.
ran=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$log" | awk '{n += $1} END {print n + 0}')
echo "replica-test counts:"
grep -o 'replica_s3: .*' "$log" | sed 's/^/  /'
if [ "${ran:-0}" -ne $((counted + skips)) ]; then
    echo "replica-test: ${ran:-0} tests passed but $counted printed counts and $skips skipped" >&2
    exit 1
fi
echo "replica-test: $counted passed, 0 failed, $skips skipped (server not installed)"
