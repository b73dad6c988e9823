#!/usr/bin/env bash
# Prints the interpreters `make py-test` tests the wheel on: the oldest and
# the newest CPython >= 3.9 among pyenv's versions (PYENV_ROOT, else
# ~/.pyenv), or python3 alone when pyenv has none.
set -u
root=${PYENV_ROOT:-$HOME/.pyenv}
found=$(for py in "$root"/versions/3.*/bin/python3; do
    [ -x "$py" ] || continue
    v=$("$py" -c 'import sys; print("%d %d %d" % sys.version_info[:3])' 2>/dev/null) || continue
    set -- $v
    [ "$2" -ge 9 ] && printf '%05d%05d %s\n' "$2" "$3" "$py"
done | sort | awk '{print $2}')
if [ -z "$found" ]; then
    command -v python3
    exit 0
fi
oldest=$(printf '%s\n' "$found" | head -n1)
newest=$(printf '%s\n' "$found" | tail -n1)
if [ "$oldest" = "$newest" ]; then echo "$oldest"; else echo "$oldest $newest"; fi
