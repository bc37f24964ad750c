#!/usr/bin/env bash
# Check (default) or fix (--fix) the formatting of every C/C++ source in native/.
# The check names each file that differs from clang-format's output.
set -euo pipefail
cd "$(dirname "$0")/../../native"
mapfile -t files < <(find engine addon tests fuzz tools \( -name '*.[ch]' -o -name '*.cc' -o -name '*.hh' \) 2>/dev/null | sort)
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
  exit 0
fi
bad=0
for f in "${files[@]}"; do
  if ! clang-format "$f" | cmp -s - "$f"; then
    echo "native/$f: not formatted (bash ops/scripts/clang-format.sh --fix)"
    bad=1
  fi
done
exit $bad
