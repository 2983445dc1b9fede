#!/usr/bin/env bash
# The whole suite N times in a row (default 3) while another process keeps one core busy:
# the tests must not depend on wall-clock speed. The busy process is started here and
# ended here, by its PID. Prints each run's exit status and seconds; exit 1 if any failed.
#
#   bash bench/busy_suite.sh [N]
set -u
cd "$(dirname "$0")/.."
runs="${1:-3}"
python3 -c "while True: pass" &
busy=$!
trap 'kill "$busy" 2>/dev/null' EXIT
echo "busy core: pid $busy ($(nproc) cores)"
failed=0
for run in $(seq 1 "$runs"); do
    start=$(date +%s)
    make test > "/tmp/ballwatch-busy-suite-$run.log" 2>&1
    status=$?
    tail -n 1 "/tmp/ballwatch-busy-suite-$run.log"
    echo "run $run: exit $status in $(( $(date +%s) - start )) s (log /tmp/ballwatch-busy-suite-$run.log)"
    [ "$status" -eq 0 ] || failed=1
done
exit "$failed"
