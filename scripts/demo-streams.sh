#!/usr/bin/env bash
# Streams demo: a stream bound to a topic exchange keeps every message published there; readers
# that start late choose where to begin (first, a time, next) and each gets its own copy of
# everything from that point. Three batches are published around the readers' start and a table
# shows which reader saw which offsets.
# Everything uses fresh names (demo-streams-PID-…): the stream and the exchanges are deleted at the
# end, so other users of the broker are never disturbed. Reader logs are kept only if it fails.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bin=${BIN:-target/release/playground}
prefix="demo-streams-$$"
stream="$prefix-audit-log"
topic="$prefix-topic" fanout="$prefix-fanout" direct="$prefix-direct" headers="$prefix-headers"
connect_timeout=30 # seconds for every reader to log "reading stream"
deliver_timeout=20 # seconds for every expected message to be logged

[[ -x $bin ]] || { echo "demo-streams: $bin not found; run 'make build' first" >&2; exit 1; }

# The demo sets every reader option itself; values exported for a deployment would change what it
# shows. The connection settings (RABBITMQ_URL, RABBITMQ_USER, RABBITMQ_PASS) are kept.
unset STREAM STREAM_OFFSET STREAM_MAX_AGE STREAM_MAX_LENGTH_BYTES STREAM_BIND_EXCHANGE \
  STREAM_BIND_EXCHANGE_TYPE STREAM_PATTERNS SERVICE_NAME PREFETCH HEALTH_PORT LOG_FORMAT \
  TOPIC_EXCHANGE DIRECT_EXCHANGE FANOUT_EXCHANGE

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/demo-streams.XXXXXX")
pids=()
names=()
specs=()

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
  local status=$? x
  trap - EXIT INT TERM
  stop_processes pids
  delete_broker_object queue "$stream"
  for x in "$topic" "$fanout" "$direct" "$headers"; do delete_broker_object exchange "$x"; done
  if ((status != 0)); then
    echo "demo-streams: reader logs kept in $log_dir" >&2
  else
    rm -rf "$log_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts reader $1 at offset $2 and waits until it consumes.
start_reader() {
  local name=$1 offset=$2 n=0
  "$bin" stream-sub --stream "$stream" --offset "$offset" --max-age 1h \
    --bind-exchange "$topic" --pattern "audit.#" \
    --name "$name" --log-format json --health-port 0 >"$log_dir/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
  specs+=("$offset")
  until grep -qs '"message":"reading stream"' "$log_dir/$name.log"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 5 "$log_dir/$name.log" >&2; fail "$name exited before it read"; }
    ((n++ < connect_timeout * 10)) || fail "$name was not reading after $connect_timeout s"
    sleep 0.1
  done
}

# Publishes batch $1: three confirmed messages with key audit.batch$1.
publish_batch() {
  "$bin" send --topic-exchange "$topic" --fanout-exchange "$fanout" --direct-exchange "$direct" \
    --headers-exchange "$headers" --exchange topic --routing-key "audit.batch$1" --count 3 --quiet "batch $1" 2>"$log_dir/send.log" ||
    { cat "$log_dir/send.log" >&2; fail "send failed"; }
  say "published batch $1 (3 messages, key audit.batch$1)"
}

# The stream offsets reader $1 logged, space-separated, in order.
offsets() {
  grep -F '"message":"received message"' "$log_dir/$1.log" |
    sed -n 's/.*"stream_offset":\([0-9]*\).*/\1/p' | tr '\n' ' ' | sed 's/ $//'
}

say "stream $stream, bound to topic exchange $topic with audit.#"
start_reader live next
publish_batch 1
sleep 1.2 # timestamps have 1 s resolution: the time below lies after batch 1
between=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sleep 0.2
publish_batch 2
start_reader from-first first
start_reader from-time "$between"
start_reader from-next next
publish_batch 3

# live and from-first: all 9; from-time: batches 2 and 3; from-next: batch 3.
want=(9 9 6 3)
n=0
for ((i = 0; i < ${#names[@]}; i++)); do
  until (($(offsets "${names[i]}" | wc -w) >= want[i])); do
    ((n++ < deliver_timeout * 10)) || fail "${names[i]} did not get ${want[i]} messages within $deliver_timeout s"
    sleep 0.1
  done
done
sleep 0.5 # anything unexpected would have arrived by now
stop_processes pids

echo
printf '  %-10s %-22s %-22s %s\n' reader "--offset" "offsets seen" count
wrong=0
for ((i = 0; i < ${#names[@]}; i++)); do
  seen=$(offsets "${names[i]}")
  count=$(wc -w <<<"$seen")
  ((count == want[i])) || wrong=$((wrong + 1))
  printf '  %-10s %-22s %-22s %s\n' "${names[i]}" "${specs[i]}" "$seen" "$count"
done
((wrong == 0)) || fail "$wrong readers saw another number of messages than expected"

cat <<EOF2

What this shows: the stream keeps all 9 messages (offsets 0-8); reading removes nothing.
  live started before anything was published (--offset next) and saw everything as it came.
  from-first started after batch 2 and still got batches 1 and 2, replayed, then batch 3 live.
  from-time asked for what was written from $between on: batches 2 and 3, not 1.
  from-next started at the end: only batch 3.
Each reader got its own copy; none took anything away from the others.
EOF2
