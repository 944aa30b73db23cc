#!/usr/bin/env bash
# Pub/sub demo: the Node system's planned services (logger, audit, error-handler), two private
# fanout subscribers and a direct-routing receiver listen on a topic, a fanout and a direct
# exchange; a fixed set of messages is published and a matrix shows which subscriber received
# which message, and which message reached nobody.
# Everything uses fresh names (demo-pubsub-PID-…): exchanges and queues are deleted at the end, so
# other users of the broker are never disturbed. Subscriber logs are kept only if the demo fails.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bin=${BIN:-target/release/playground}
prefix="demo-pubsub-$$"
topic="$prefix-topic" fanout="$prefix-fanout" direct="$prefix-direct" headers="$prefix-headers"
connect_timeout=30 # seconds for every subscriber to log "subscribed"
deliver_timeout=20 # seconds for every expected delivery to be logged

[[ -x $bin ]] || { echo "demo-pubsub: $bin not found; run 'make build' first" >&2; exit 1; }

# The demo sets every subscriber option itself; values exported for a deployment would change what
# it shows. The connection settings (RABBITMQ_URL, RABBITMQ_USER, RABBITMQ_PASS) are kept.
unset QUEUE_NAME SERVICE_NAME PREFETCH HEALTH_PORT LOG_FORMAT EXCHANGE EXCHANGE_TYPE PATTERNS \
  TOPIC_EXCHANGE DIRECT_EXCHANGE FANOUT_EXCHANGE QUEUE_TYPE DEAD_LETTER DELIVERY_LIMIT

# name|role and its arguments. The first three are the Node system's services, as the Kubernetes
# manifests run them (their queues get the demo's prefix).
subscribers=(
  "logger-service|fanout-sub --exchange $fanout --queue $prefix-logger-service"
  "audit-service|topic-sub --exchange $topic --pattern # --queue $prefix-audit-service"
  "error-handler|topic-sub --exchange $topic --pattern *.error --queue $prefix-error-handler-service"
  "fanout-a|fanout-sub --exchange $fanout"
  "fanout-b|fanout-sub --exchange $fanout"
  "direct-error|topic-sub --exchange-type direct --exchange $direct --pattern error"
)
# exchange type|routing key|text
messages=(
  "topic|logs.info|service started"
  "topic|logs.error|disk full"
  "topic|app.error|payment failed"
  "topic|app.db.error|connection pool exhausted"
  "topic|logs.debug|cache warmed"
  "fanout|deploy|version 2 deployed"
  "direct|error|direct error"
  "direct|info|direct info"
)
# Which subscriber must get which message (by index), as AMQP routing says; the demo waits for
# these and then prints what really arrived.
expected=(
  "audit-service"
  "audit-service error-handler"
  "audit-service error-handler"
  "audit-service"
  "audit-service"
  "logger-service fanout-a fanout-b"
  "direct-error"
  ""
)

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/demo-pubsub.XXXXXX")
pids=()
names=()


# How many times subscriber $1 logged message $2 (exchange type|key|text).
received() {
  local name=$1 kind key
  IFS='|' read -r kind key _ <<<"$2"
  local exchange_var=$kind
  grep -F '"message":"received message"' "$log_dir/$name.log" |
    grep -F "\"exchange\":\"${!exchange_var}\"" |
    grep -cF "\"routing_key\":\"$key\"" || true
}

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
  local status=$? q x
  trap - EXIT INT TERM
  stop_processes pids
  for q in logger-service audit-service error-handler-service; do
    delete_broker_object queue "$prefix-$q"
  done
  for x in "$topic" "$fanout" "$direct" "$headers"; do delete_broker_object exchange "$x"; done
  if ((status != 0)); then
    echo "demo-pubsub: subscriber logs kept in $log_dir" >&2
  else
    rm -rf "$log_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "starting ${#subscribers[@]} subscribers on $topic, $fanout and $direct"
for spec in "${subscribers[@]}"; do
  name=${spec%%|*}
  read -r -a args <<<"${spec#*|}"
  names+=("$name")
  "$bin" "${args[@]}" --name "$name" --log-format json --health-port 0 \
    >"$log_dir/$name.log" 2>&1 &
  pids+=("$!")
done
for ((i = 0; i < ${#names[@]}; i++)); do
  n=0
  until grep -qs '"message":"subscribed"' "$log_dir/${names[i]}.log"; do
    kill -0 "${pids[i]}" 2>/dev/null || { tail -n 5 "$log_dir/${names[i]}.log" >&2; fail "${names[i]} exited before it subscribed"; }
    ((n++ < connect_timeout * 10)) || fail "${names[i]} had not subscribed after $connect_timeout s"
    sleep 0.1
  done
done

say "publishing ${#messages[@]} messages"
for message in "${messages[@]}"; do
  IFS='|' read -r kind key text <<<"$message"
  "$bin" send --topic-exchange "$topic" --fanout-exchange "$fanout" --direct-exchange "$direct" \
    --headers-exchange "$headers" \
    --exchange "$kind" --routing-key "$key" "$text" 2>"$log_dir/send.log" | grep -F ' sent ' ||
    { cat "$log_dir/send.log" >&2; fail "send failed"; }
done

n=0
for ((m = 0; m < ${#messages[@]}; m++)); do
  for name in ${expected[m]}; do
    until (($(received "$name" "${messages[m]}") > 0)); do
      ((n++ < deliver_timeout * 10)) || fail "$name did not receive '${messages[m]}' within $deliver_timeout s"
      sleep 0.1
    done
  done
done
# Anything unexpected would have arrived by now.
sleep 0.5
stop_processes pids

echo
printf '  %-24s' "message (exchange key)"
for name in "${names[@]}"; do printf ' %-14s' "$name"; done
echo
unexpected=0
for ((m = 0; m < ${#messages[@]}; m++)); do
  IFS='|' read -r kind key _ <<<"${messages[m]}"
  printf '  %-24s' "$kind $key"
  for name in "${names[@]}"; do
    count=$(received "$name" "${messages[m]}")
    if ((count > 0)); then cell=yes; else cell=.; fi
    [[ " ${expected[m]} " == *" $name "* ]] || ((count == 0)) || unexpected=$((unexpected + 1))
    [[ " ${expected[m]} " != *" $name "* ]] || ((count > 0)) || unexpected=$((unexpected + 1))
    printf ' %-14s' "$cell"
  done
  echo
done
((unexpected == 0)) || fail "$unexpected cells differ from what AMQP routing predicts"

cat <<EOF

What this shows (yes = received, . = not):
  topic: audit-service binds "#" and gets every topic message; error-handler binds "*.error",
  where * is exactly one word, so it gets logs.error and app.error but not app.db.error (three
  words; "#.error" would match it). Nobody else binds the topic exchange.
  fanout: every queue bound to the fanout exchange gets a copy, whatever the key: the shared
  logger-service queue and the two private (server-named) queues of fanout-a and fanout-b.
  direct: keys match exactly; direct-error binds "error", and "info" reached no queue at all
  (send printed "[-] … nobody received it": the broker accepted and dropped it).
EOF
