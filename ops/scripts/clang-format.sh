#!/usr/bin/env bash
# Check (default) or fix (--fix) the formatting of every C/C++ source in native/.
set -euo pipefail
cd "$(dirname "$0")/../../native"
mapfile -t files < <(find engine addon tests fuzz -name '*.[ch]' -o -name '*.cc' -o -name '*.hh' 2>/dev/null | sort)
[ ${#files[@]} -eq 0 ] && exit 0
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${files[@]}"
else
  clang-format --dry-run -Werror "${files[@]}"
fi
