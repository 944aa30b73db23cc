#!/usr/bin/env bash
# Retry demo: a worker that fails half of its messages, on a queue with retry delays 500ms,1s,2s
# and a dead-letter queue. A burst of 10 tasks climbs the ladder; a table shows when each message
# was tried (seconds after the burst was sent) and how it ended: acked on some attempt, or parked
# in the dead-letter queue after the last one. The x-death story of one dead letter follows.
# The queues (demo-retry-PID, its delay queues, its dead-letter queue and exchange) are deleted at
# the end. The worker's log is kept only if the demo fails.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bin=${BIN:-target/release/playground}
tasks=10
delays=500ms,1s,2s
delay_labels=(500ms 1s 2s)
fail_rate=0.5
queue="demo-retry-$$"
connect_timeout=30 # seconds for the worker to log "consuming"
run_timeout=60     # seconds for every task to be acked or dead-lettered

[[ -x $bin ]] || { echo "demo-retry: $bin not found; run 'make build' first" >&2; exit 1; }
command -v python3 >/dev/null || { echo "demo-retry: python3 is needed to print the table" >&2; exit 1; }

# The demo sets every queue and worker option itself; values exported for a deployment would
# change what it shows. The connection settings (RABBITMQ_URL, RABBITMQ_USER, RABBITMQ_PASS) are kept.
unset QUEUE_NAME QUEUE_TYPE DEAD_LETTER DEAD_LETTER_QUEUE DELIVERY_LIMIT RETRY_DELAYS CONSUMER_NAME \
  WORK WORK_PER_DOT CRASH_AFTER FAIL_RATE REQUEUE SUMMARY_EVERY SHUTDOWN_GRACE PREFETCH HEALTH_PORT \
  LOG_FORMAT

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/demo-retry.XXXXXX")
log="$log_dir/worker.log"
pids=()

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
  local status=$? label
  trap - EXIT INT TERM
  stop_processes pids
  for label in "${delay_labels[@]}"; do delete_broker_object queue "$queue.retry.$label"; done
  delete_broker_object queue "$queue"
  delete_broker_object queue "$queue.dead-letter"
  delete_broker_object exchange "$queue.dlx"
  if ((status != 0)); then
    echo "demo-retry: worker log kept in $log" >&2
  else
    rm -rf "$log_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

settled() { grep -cE '"message":"(acked|processing failed \(simulated\): rejected)"' "$log" || true; }

say "$tasks tasks, a worker failing $fail_rate of them, retry delays $delays, queue $queue ($bin)"
"$bin" consume --queue "$queue" --dead-letter --retry-delays "$delays" --fail-rate "$fail_rate" \
  --name worker --prefetch 1 --log-format json --health-port 0 --summary-every 0s >"$log" 2>&1 &
pids+=("$!")
n=0
until grep -qs '"message":"consuming"' "$log"; do
  kill -0 "${pids[0]}" 2>/dev/null || { tail -n 5 "$log" >&2; fail "the worker exited before it was consuming"; }
  ((n++ < connect_timeout * 10)) || fail "the worker was not consuming after $connect_timeout s"
  sleep 0.1
done

sent_at=$EPOCHREALTIME
"$bin" send --queue "$queue" --dead-letter --retry-delays "$delays" --count "$tasks" --quiet "Task" \
  >"$log_dir/send.log" 2>&1 || { cat "$log_dir/send.log" >&2; fail "send failed"; }
n=0
while (($(settled) < tasks)); do
  kill -0 "${pids[0]}" 2>/dev/null || { tail -n 5 "$log" >&2; fail "the worker exited"; }
  ((n++ < run_timeout * 10)) || fail "only $(settled) of $tasks tasks were settled within $run_timeout s"
  sleep 0.1
done
stop_processes pids

echo
SENT_AT=${sent_at/,/.} DELAYS=$delays python3 - "$log" <<'EOF'
import datetime, json, os, sys

sent_at = float(os.environ["SENT_AT"])
attempts = len(os.environ["DELAYS"].split(",")) + 1
tries, outcome, story = {}, {}, {}
with open(sys.argv[1]) as log:
    for line in log:
        try:
            v = json.loads(line)
        except ValueError:
            continue
        seq = v.get("seq")
        if seq is None:
            continue
        at = datetime.datetime.fromisoformat(v["timestamp"].replace("Z", "+00:00")).timestamp()
        if v["message"] == "received message":
            tries.setdefault(seq, []).append(at - sent_at)
        elif v["message"] == "acked":
            outcome[seq] = f"acked on attempt {v.get('attempt')}"
        elif v["message"] == "processing failed (simulated): rejected":
            outcome[seq] = "dead-lettered"
            story[seq] = v.get("x_death", "")

header = ["message"] + [f"attempt {i}" for i in range(1, attempts + 1)] + ["outcome"]
print("  " + " ".join(f"{h:>10}" for h in header[:-1]) + "  " + header[-1])
for seq in sorted(tries):
    cells = [f"Task {seq}"] + [f"{t:.2f} s" for t in tries[seq]]
    cells += ["-"] * (attempts + 1 - len(cells))
    print("  " + " ".join(f"{c:>10}" for c in cells) + "  " + outcome.get(seq, "?"))
dead = sorted(story)
print()
print(f"  {sum(1 for o in outcome.values() if o.startswith('acked'))} acked, {len(dead)} dead-lettered, "
      f"{len(tries) - len(outcome)} unsettled")
if dead:
    print(f"  x-death of Task {dead[0]} when it was dead-lettered: {story[dead[0]]}")
EOF

cat <<EOF

What this shows:
  A failed task is not requeued at once: the worker publishes a copy (with its headers) to the
  delay queue of its attempt ($queue.retry.500ms, then .1s, then .2s), waits for the broker's
  confirm, then acks the original. The delay queue's x-message-ttl expires the copy back into the
  work queue, and the broker adds an x-death entry (reason expired, that delay queue), from which
  the worker reads the attempt. So attempts come at about 0, 0.5, 1.5 and 3.5 s, for each task
  on its own schedule. A task that failed its 4th attempt is rejected into $queue.dead-letter,
  where its x-death header tells the whole story.
EOF
