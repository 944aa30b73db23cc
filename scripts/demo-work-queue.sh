#!/usr/bin/env bash
# Work-queue demo: three workers of different speeds share one queue. A burst of 30 tasks is sent
# twice, once with prefetch 1 (fair dispatch) and once with prefetch 30 (round-robin up front), and
# a table shows how many tasks each worker handled and how long each round took.
# Each round uses its own fresh queue (demo-work-PID-…), deleted at the end, so other users of the
# broker are never disturbed. Worker logs are kept only if the demo fails.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bin=${BIN:-target/release/playground}
tasks=30
high_prefetch=30
# name:--work. The speeds differ enough that the split is obvious, and round 2 (the slow worker's
# 10 tasks in a row) still takes only about 6 s.
workers=(worker-fast:50ms worker-medium:200ms worker-slow:600ms)
connect_timeout=30 # seconds for every worker to log "consuming"
round_timeout=60   # seconds for all the tasks of a round to be acked

[[ -x $bin ]] || { echo "demo-work-queue: $bin not found; run 'make build' first" >&2; exit 1; }

# The demo sets every worker option itself; values exported for a deployment (CRASH_AFTER,
# FAIL_RATE, QUEUE_TYPE, …) would change what it shows. The connection settings (RABBITMQ_URL,
# RABBITMQ_USER, RABBITMQ_PASS) are kept.
unset QUEUE_NAME QUEUE_TYPE DEAD_LETTER DEAD_LETTER_QUEUE DELIVERY_LIMIT CONSUMER_NAME WORK \
  WORK_PER_DOT CRASH_AFTER FAIL_RATE REQUEUE SUMMARY_EVERY SHUTDOWN_GRACE PREFETCH HEALTH_PORT \
  LOG_FORMAT

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/demo-work-queue.XXXXXX")
pids=()
queues=()


# Milliseconds since the epoch ($EPOCHREALTIME is "seconds.micros", with the locale's separator).
now_ms() {
  local us=${EPOCHREALTIME/[.,]/}
  echo $((us / 1000))
}
# 1234 → "1.2"
secs() { printf '%d.%d' $(($1 / 1000)) $(($1 % 1000 / 100)); }

acks() { grep -c '"message":"acked"' "$1" || true; }

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
  local status=$? q
  trap - EXIT INT TERM
  stop_processes pids
  for q in "${queues[@]}"; do delete_broker_object queue "$q"; done
  if ((status != 0)); then
    echo "demo-work-queue: worker logs kept in $log_dir" >&2
  else
    rm -rf "$log_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Print the last lines of every worker log of round $1, to explain a failure.
show_logs() {
  local f
  for f in "$log_dir/$1".*.log; do
    echo "--- last lines of $f" >&2
    tail -n 5 "$f" >&2
  done
}

# One round: start the workers with prefetch $2 on a fresh queue, wait until they consume, send
# the burst, wait for every ack, stop the workers and print the table. Sets round_ms.
run_round() {
  local round=$1 prefetch=$2 queue="demo-work-$$-prefetch-$2"
  local spec name work i n total start elapsed f
  local -a names=() works=() logs=() done_at=() counts=()
  queues+=("$queue")

  echo
  say "round $round: prefetch $prefetch, queue $queue"
  for spec in "${workers[@]}"; do
    name=${spec%%:*} work=${spec#*:}
    names+=("$name") works+=("$work") logs+=("$log_dir/$round.$name.log")
    "$bin" consume --queue "$queue" --name "$name" --work "$work" --prefetch "$prefetch" \
      --log-format json --health-port 0 --summary-every 0s >"${logs[-1]}" 2>&1 &
    pids+=("$!")
  done

  # Every worker must be consuming before the burst, or the first one up would get all of it.
  for ((i = 0; i < ${#names[@]}; i++)); do
    n=0
    until grep -qs '"message":"consuming"' "${logs[i]}"; do
      kill -0 "${pids[i]}" 2>/dev/null || { show_logs "$round"; fail "${names[i]} exited before it was consuming (see its log above)"; }
      ((n++ < connect_timeout * 10)) || { show_logs "$round"; fail "${names[i]} was not consuming after $connect_timeout s"; }
      sleep 0.1
    done
  done
  say "${names[*]} are consuming; sending $tasks tasks"

  start=$(now_ms)
  "$bin" send --queue "$queue" --count "$tasks" --quiet "Task" 2>"$log_dir/$round.send.log" ||
    { cat "$log_dir/$round.send.log" >&2; fail "send failed"; }

  # Poll the logs, noting when each worker's count last grew: that is when it finished its share.
  for ((i = 0; i < ${#names[@]}; i++)); do counts+=(0) done_at+=(0); done
  while :; do
    total=0
    for ((i = 0; i < ${#names[@]}; i++)); do
      n=$(acks "${logs[i]}")
      ((n == counts[i])) || { counts[i]=$n done_at[i]=$(($(now_ms) - start)); }
      total=$((total + n))
    done
    ((total < tasks)) || break
    for ((i = 0; i < ${#names[@]}; i++)); do
      kill -0 "${pids[i]}" 2>/dev/null || { show_logs "$round"; fail "${names[i]} exited during round $round"; }
    done
    elapsed=$(($(now_ms) - start))
    ((elapsed < round_timeout * 1000)) ||
      { show_logs "$round"; fail "only $total of $tasks tasks were acked within $round_timeout s"; }
    sleep 0.05
  done
  round_ms=$(($(now_ms) - start))

  stop_processes pids
  for f in "${logs[@]}"; do
    grep -q '"message":"consumer stopped"' "$f" || say "warning: $f has no 'consumer stopped' line" >&2
  done

  echo
  printf '  %-14s %6s %9s %8s %6s %9s\n' worker --work prefetch handled share "last ack"
  for ((i = 0; i < ${#names[@]}; i++)); do
    printf '  %-14s %6s %9d %8d %5d%% %7s s\n' "${names[i]}" "${works[i]}" "$prefetch" \
      "${counts[i]}" $(((counts[i] * 100 + total / 2) / total)) "$(secs "${done_at[i]}")"
  done
  printf '  all %d tasks acked %s s after send started\n' "$total" "$(secs "$round_ms")"
}

say "$tasks tasks for ${#workers[@]} workers ($bin)"
run_round 1 1
fair_ms=$round_ms
run_round 2 "$high_prefetch"
greedy_ms=$round_ms

cat <<EOF

What this shows:
  prefetch 1: the broker hands a worker its next task only after it acked the previous one, so
  each worker takes work at its own pace. The fast worker handled most of the burst and all three
  were done at about the same time.
  prefetch $high_prefetch: the broker pushed the tasks round-robin as they arrived, a third to each worker,
  before any was done. The fast worker then sat idle while the slow one worked through its share,
  so the same burst took $(secs "$greedy_ms") s instead of $(secs "$fair_ms") s.
  Use prefetch 1 (the default) when tasks are slow or uneven; a higher prefetch only helps when
  tasks are quick and the network round trip per message is what limits throughput.
EOF
