#!/usr/bin/env bash
# mk/replica.sh - starts the S3 servers of `make replica-test` and
# `make replica-bench` (mk/replica.mk), runs a command with them named in
# the environment, and stops them by pid on exit.
#
#   replica.sh RB CMD...   RB: build/replica (venv/, tools/, data)
#
# moto: LIBCOMMIT_S3_ENDPOINT, _BUCKET, _PID. s3s-fs: LIBCOMMIT_S3FS_ENDPOINT,
# _BUCKET, _PIDFILE (a test that restarts it writes the new pid there),
# _BIN, _ROOT. A server that is not installed is named in *_SKIP instead,
# and the tests that need it print SKIP with that reason; a server that is
# installed but does not answer fails the run.
set -u
RB=$1
shift
export AWS_ACCESS_KEY_ID=libcommit-test AWS_SECRET_ACCESS_KEY=libcommit-test-secret AWS_REGION=us-east-1
BUCKET=lcreplica
MOTO=$RB/venv/bin/moto_server
HERE=$(cd "$(dirname "$0")" && pwd)
S3FS=$RB/tools/bin/s3s-fs
PIDS=()
S3FS_PIDFILE=$RB/s3s-fs.pid

stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done
    if [ -s "$S3FS_PIDFILE" ]; then kill "$(cat "$S3FS_PIDFILE")" 2>/dev/null; fi
    rm -f "$S3FS_PIDFILE"
}
trap stop_all EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Waits (30 s at most) until something answers HTTP on the port.
wait_http() {
    python3 - "$1" <<'PY'
import sys, time, urllib.request, urllib.error
url = "http://127.0.0.1:%s/" % sys.argv[1]
deadline = time.time() + 30
while time.time() < deadline:
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

if [ -x "$MOTO" ]; then
    port=$(free_port)
    # One request at a time: see mk/moto_serial.py.
    "$RB/venv/bin/python" "$HERE/moto_serial.py" -H 127.0.0.1 -p "$port" >"$RB/moto.log" 2>&1 &
    PIDS+=($!)
    if ! wait_http "$port"; then
        echo "replica: moto did not answer on 127.0.0.1:$port (see $RB/moto.log)" >&2
        exit 1
    fi
    python3 -c "import urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:$port/$BUCKET', method='PUT'))"
    export LIBCOMMIT_S3_ENDPOINT=http://127.0.0.1:$port LIBCOMMIT_S3_BUCKET=$BUCKET LIBCOMMIT_S3_PID=${PIDS[-1]}
    echo "replica: moto $("$RB/venv/bin/python" -c 'import moto; print(moto.__version__)') (one request at a time) on $LIBCOMMIT_S3_ENDPOINT (pid $LIBCOMMIT_S3_PID)"
else
    export LIBCOMMIT_S3_SKIP="moto is not installed in $RB/venv (make replica-tools could not install it)"
    echo "replica: moto skipped: $LIBCOMMIT_S3_SKIP"
fi

if [ -x "$S3FS" ]; then
    port=$(free_port)
    root=$RB/s3s-fs-data
    rm -rf "$root" && mkdir -p "$root/$BUCKET"
    "$S3FS" --host 127.0.0.1 --port "$port" --access-key "$AWS_ACCESS_KEY_ID" \
        --secret-key "$AWS_SECRET_ACCESS_KEY" "$root" >"$RB/s3s-fs.log" 2>&1 &
    echo $! >"$S3FS_PIDFILE"
    if ! wait_http "$port"; then
        echo "replica: s3s-fs did not answer on 127.0.0.1:$port (see $RB/s3s-fs.log)" >&2
        exit 1
    fi
    export LIBCOMMIT_S3FS_ENDPOINT=http://127.0.0.1:$port LIBCOMMIT_S3FS_BUCKET=$BUCKET \
        LIBCOMMIT_S3FS_PIDFILE=$S3FS_PIDFILE LIBCOMMIT_S3FS_BIN=$S3FS LIBCOMMIT_S3FS_ROOT=$root
    echo "replica: $("$S3FS" --version) on $LIBCOMMIT_S3FS_ENDPOINT (pid $(cat "$S3FS_PIDFILE"), data $root)"
else
    export LIBCOMMIT_S3FS_SKIP="s3s-fs is not installed in $RB/tools (make replica-tools could not install it)"
    echo "replica: s3s-fs skipped: $LIBCOMMIT_S3FS_SKIP"
fi

"$@"
