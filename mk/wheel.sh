#!/usr/bin/env bash
# mk/wheel.sh REPO TOOLS OUT POLICY - `make wheel`: the abi3 wheel for
# manylinux POLICY (maturin --zig) and the sdist into OUT, then `auditwheel
# show` on the wheel, which must name the platform tag the wheel carries.
# A tool that could not be installed (mk/python.mk py-tools) makes its step
# say SKIPPED, never pass in silence.
set -euo pipefail
repo=$1 tools=$2 out=$3 policy=$4
export PATH=$tools/bin:$PATH
rm -rf "$out"
mkdir -p "$out"
cd "$repo"

if "$tools/bin/python" -m ziglang version >/dev/null 2>&1; then
    maturin build --release --zig --compatibility "$policy" --out "$out"
else
    echo "wheel: SKIPPED the $policy build: no ziglang (see py-tools above);" \
        "building a wheel for this machine only (linux_x86_64), which no index accepts"
    maturin build --release --out "$out"
fi
maturin sdist --out "$out"

wheel=$(ls "$out"/libcommit-*.whl)
echo "wheel: $(basename "$wheel")"
echo "sdist: $(basename "$(ls "$out"/libcommit-*.tar.gz)")"
if ! command -v auditwheel >/dev/null 2>&1; then
    echo "wheel: SKIPPED the auditwheel check: auditwheel is not installed (see py-tools above)"
    exit 0
fi
report=$(auditwheel show "$wheel")
printf '%s\n' "$report" | sed 's/^/  auditwheel: /'
# "is consistent with the following platform tag: "manylinux_2_17_x86_64"."
verdict=$(printf '%s\n' "$report" | tr '\n' ' ' |
    sed -n 's/.*following platform tag: *"\([^"]*\)".*/\1/p')
case $(basename "$wheel") in
*linux_x86_64.whl)
    if [ -z "$verdict" ]; then
        echo "wheel: auditwheel gave no platform tag" >&2
        exit 1
    fi
    ;;
esac
case $verdict in
manylinux_2_*)
    minor=${verdict#manylinux_2_}
    minor=${minor%%_*}
    if ! [[ $(basename "$wheel") == *"$verdict"* ]]; then
        echo "wheel: auditwheel says $verdict, which the wheel's name does not carry" >&2
        exit 1
    fi
    if [ "$minor" -lt "${policy#manylinux_2_}" ]; then
        echo "wheel: $verdict is older than $policy: the policy in mk/python.mk is too new" >&2
        exit 1
    fi
    echo "wheel: auditwheel confirms $verdict"
    ;;
*)
    if [[ $(basename "$wheel") == *manylinux* ]]; then
        echo "wheel: auditwheel says '$verdict' for a wheel tagged manylinux" >&2
        exit 1
    fi
    echo "wheel: not a manylinux wheel (auditwheel: '${verdict:-none}'), as the SKIPPED line says"
    ;;
esac
