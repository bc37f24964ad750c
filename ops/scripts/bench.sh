#!/usr/bin/env bash
# npm run bench: every benchmark Braid has, each printing JSON on stdout
# (progress on stderr). Short runs by default; --full for the long ones.
#   engine      integration/bench/engine.ts      simulator goodput and CPU per segment
#   mptcp       integration/bench/mptcp.ts       MPTCP schedulers, paths, failover (simulator)
#   controller  integration/bench/controller.ts  fleet of simulated nodes over real NATS
#   dataplane   integration/bench/dataplane.ts   Braid and kernel TCP over memif/veth (if present)
#   node        integration/bench/node.ts        SDK apps on braid node vs built-in engine apps vs kernel
#   seed        braid bench seed                 the seed talk's charts on the testbed
# BRAID_BENCH="engine seed" runs only the named ones; BRAID_BENCH_OUT=DIR keeps the
# seed's charts and report there (default: a new temporary directory).
set -uo pipefail
cd "$(dirname "$0")/../.."
FULL=0
for a in "$@"; do
  case "$a" in
    --full) FULL=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "bench.sh: unknown argument $a (--full)" >&2
      exit 2
      ;;
  esac
done
ONLY=" ${BRAID_BENCH:-engine mptcp controller dataplane node seed} "
OUT=${BRAID_BENCH_OUT:-$(mktemp -d /tmp/braid-bench.XXXXXX)}
mkdir -p "$OUT"
declare -a NAMES RESULTS
ANY_FAIL=0

run() { # name json-file command...
  local name=$1 file=$2
  shift 2
  if [[ "$ONLY" != *" $name "* ]]; then return; fi
  echo "=== bench $name: $*" >&2
  local t0=$SECONDS
  "$@" >"$file"
  local rc=$?
  cat "$file"
  echo >&2
  NAMES+=("$name")
  if [ "$rc" = 0 ]; then RESULTS+=("ok $((SECONDS - t0))s $file"); else
    RESULTS+=("FAILED (exit $rc) $file")
    ANY_FAIL=1
  fi
}

if [ "$FULL" = 1 ]; then
  run engine "$OUT/engine.json" node dist/integration/bench/engine.js
  run mptcp "$OUT/mptcp.json" node dist/integration/bench/mptcp.js
  run controller "$OUT/controller.json" node dist/integration/bench/controller.js
  [ -f dist/integration/bench/dataplane.js ] &&
    run dataplane "$OUT/dataplane.json" node dist/integration/bench/dataplane.js
  run node "$OUT/node.json" node dist/integration/bench/node.js --bytes 256M --rr 20000 --mptcp
  run seed "$OUT/seed-stdout.json" node dist/ops/cli/main.js bench seed --runs 10 --out "$OUT/seed"
else
  run engine "$OUT/engine.json" node dist/integration/bench/engine.js --quick
  run mptcp "$OUT/mptcp.json" node dist/integration/bench/mptcp.js --quick
  run controller "$OUT/controller.json" node dist/integration/bench/controller.js --nodes 200 --seconds 3 --commands 50 --per-connection 50
  [ -f dist/integration/bench/dataplane.js ] &&
    run dataplane "$OUT/dataplane.json" node dist/integration/bench/dataplane.js --bytes 32M --rr 2000
  run node "$OUT/node.json" node dist/integration/bench/node.js --bytes 32M --rr 2000
  run seed "$OUT/seed-stdout.json" node dist/ops/cli/main.js bench seed --quick --out "$OUT/seed"
fi

echo "=== bench summary (JSON in $OUT)" >&2
for i in "${!NAMES[@]}"; do printf '  %-12s %s\n' "${NAMES[$i]}" "${RESULTS[$i]}" >&2; done
[ -f "$OUT/seed/report.md" ] && echo "  seed report: $OUT/seed/report.md" >&2
exit $ANY_FAIL
