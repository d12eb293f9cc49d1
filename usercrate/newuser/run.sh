#!/usr/bin/env bash
# Runs each Python original (py/NAME.py) and its zeroproc port (src/bin/NAME.rs) and
# compares their stdout. A port whose output differs on purpose has the expected
# `diff python rust` in expected-diff/NAME.diff; any other difference fails.
# Usage: ./run.sh [NAME...]   (env: CARGO_TARGET_DIR as for cargo)
set -u
cd "$(dirname "$0")"
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q || exit 1
out=$(mktemp -d)
python3 gen_words.py "$out/words.txt"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=($(cd py && ls p*.py | sed 's/\.py$//'))
fails=0
for n in "${names[@]}"; do
  args=()
  [ "$n" = p19_wordcount ] && args=("$out/words.txt")
  timeout 120 python3 "py/$n.py" "${args[@]}" >"$out/$n.py.txt" 2>"$out/$n.py.err"
  timeout 120 "$target/release/$n" "${args[@]}" >"$out/$n.rs.txt" 2>"$out/$n.rs.err"
  rc=$?
  d=$(diff "$out/$n.py.txt" "$out/$n.rs.txt")
  want=""
  [ -f "expected-diff/$n.diff" ] && want=$(cat "expected-diff/$n.diff")
  if [ $rc -eq 0 ] && [ "$d" = "$want" ]; then
    echo "ok    $n${want:+ (expected difference)}"
  else
    echo "FAIL  $n (rust exit $rc)"; echo "$d" | sed 's/^/      /'
    sed 's/^/      stderr: /' "$out/$n.rs.err" | head -20
    fails=$((fails + 1))
  fi
done
rm -rf "$out"
[ $fails -eq 0 ] && echo "all ${#names[@]} ports match" || { echo "$fails failed"; exit 1; }
