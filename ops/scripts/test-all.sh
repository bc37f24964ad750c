#!/usr/bin/env bash
# npm test: every check Braid has, in order, with a summary at the end.
#   format -> lint -> typecheck -> native unit tests (plain, ASan+UBSan) -> fuzz (short) -> jest
# Every stage runs even when an earlier one failed; the exit code is non-zero if any failed.
# BRAID_TEST_STAGES="lint jest" runs only the named stages.
set -uo pipefail
cd "$(dirname "$0")/../.."
LOGDIR=$(mktemp -d /tmp/braid-test.XXXXXX)
declare -a NAMES RESULTS TIMES
PASSED=0
FAILED=0
ANY_FAIL=0
ONLY=" ${BRAID_TEST_STAGES:-} "

stage() {
  local name=$1
  shift
  if [ "$ONLY" != "  " ] && [[ "$ONLY" != *" $name "* ]]; then return; fi
  echo
  echo "=== $name: $*"
  local t0=$SECONDS rc
  "$@" 2>&1 | tee "$LOGDIR/$name.log"
  rc=${PIPESTATUS[0]}
  NAMES+=("$name")
  TIMES+=($((SECONDS - t0)))
  if [ "$rc" = 0 ]; then RESULTS+=(ok); else RESULTS+=("FAILED (exit $rc)"); ANY_FAIL=1; fi
}

count_native() { # add up the "native: N passed, N failed" lines of a log
  local p f
  while read -r p f; do PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); done < <(
    sed -n 's/^native: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$1" 2>/dev/null)
}

stage format bash -c 'npx --no-install prettier --check . --log-level warn && bash ops/scripts/clang-format.sh && echo "formatting ok"'
stage lint npx --no-install eslint .
stage typecheck bash -c 'npx --no-install tsc -p tsconfig.json && node dist/schemas/src/gen.js --check && echo "types ok"'
stage native-plain make -s -C native test-plain
stage native-sanitized make -s -C native test-asan
stage fuzz-short make -s -C native fuzz-short
stage jest npx --no-install jest --runInBand --ci --forceExit --json --outputFile="$LOGDIR/jest.json"

for n in native-plain native-sanitized; do count_native "$LOGDIR/$n.log"; done
if [ -f "$LOGDIR/jest.json" ]; then
  read -r jp jf < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests, r.numFailedTests + r.numRuntimeErrorTestSuites)' "$LOGDIR/jest.json")
  PASSED=$((PASSED + jp))
  FAILED=$((FAILED + jf))
elif [[ " ${NAMES[*]} " == *" jest "* ]]; then
  FAILED=$((FAILED + 1)) # jest did not run its tests at all
fi

echo
echo "=== summary (logs in $LOGDIR)"
for i in "${!NAMES[@]}"; do
  printf '  %-18s %-18s %4ss\n' "${NAMES[$i]}" "${RESULTS[$i]}" "${TIMES[$i]}"
done
if [ "$ANY_FAIL" = 0 ]; then echo "all stages passed"; else echo "SOME STAGES FAILED"; fi
echo "tests: $PASSED passed, $FAILED failed"
exit $ANY_FAIL
