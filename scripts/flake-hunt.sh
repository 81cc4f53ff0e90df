#!/usr/bin/env bash
# Flake hunt: runs the deployment, secure-aggregation and browser test folders N times (default 20),
# two suite runs at once (load: each suite itself runs two files at a time), every suite run
# bounded by a timeout (FLAKE_HUNT_TIMEOUT seconds, default 900). Prints one line per run and the
# counts of passes, failures and hangs (a run killed by the timeout); exits 1 unless all passed.
# Logs of runs that did not pass are kept in the printed folder.
#   scripts/flake-hunt.sh [N] [folder ...]
set -uo pipefail
cd "$(dirname "$0")/.."
N="${1:-20}"
shift || true
FOLDERS=("$@")
[ "${#FOLDERS[@]}" -gt 0 ] || FOLDERS=(test/deploy test/secagg test/web)
LIMIT="${FLAKE_HUNT_TIMEOUT:-900}"
PARALLEL="${FLAKE_HUNT_PARALLEL:-2}"
LOGS="$(mktemp -d "${TMPDIR:-/tmp}/federa-flake-hunt-XXXXXX")"
echo "flake hunt: ${N} runs of ${FOLDERS[*]}, ${PARALLEL} at once, each bounded by ${LIMIT} s; logs in ${LOGS}"

run_one() {
  local i="$1" log="$LOGS/run-$1.log" start rc secs
  start=$(date +%s)
  # --kill-after: a run that ignores SIGTERM is SIGKILLed 20 s later (its children go with it:
  # the test helpers kill theirs on exit and SIGTERM).
  timeout --kill-after=20 "$LIMIT" node scripts/run-tests.mjs "${FOLDERS[@]}" >"$log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ "$rc" -eq 0 ]; then
    echo "run $i: pass (${secs} s)"; echo pass >"$LOGS/run-$i.result"; rm -f "$log"
  elif [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "run $i: HANG (killed after ${secs} s)"; echo hang >"$LOGS/run-$i.result"
  else
    echo "run $i: FAIL (exit $rc, ${secs} s): $(grep -E '^✖ ' "$log" | grep -v 'failing tests' | sort -u | head -3 | tr '\n' ' ')"
    echo fail >"$LOGS/run-$i.result"
  fi
}

pids=()
for i in $(seq 1 "$N"); do
  run_one "$i" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$PARALLEL" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
wait

pass=$(cat "$LOGS"/run-*.result 2>/dev/null | grep -c '^pass$')
fail=$(cat "$LOGS"/run-*.result 2>/dev/null | grep -c '^fail$')
hang=$(cat "$LOGS"/run-*.result 2>/dev/null | grep -c '^hang$')
echo "flake hunt: ${N} runs: ${pass} passed, ${fail} failed, ${hang} hung (logs of the others in ${LOGS})"
[ "$fail" -eq 0 ] && [ "$hang" -eq 0 ]
