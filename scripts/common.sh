# Shared by the demo and test scripts (sourced, not run): stopping the lab's processes and
# deleting what they declared on the broker, so every script leaves the broker as it found it.
# shellcheck shell=bash

# Lines prefixed with the script's name (demo-pubsub: …); fail stops the script, whose EXIT trap
# then cleans up and keeps the logs.
prog=$(basename "$0" .sh)
say() { echo "$prog: $*"; }
fail() {
  echo "$prog: $*" >&2
  exit 1
}

# SIGTERM the processes whose PIDs are in the array named $1 (each finishes the message in hand
# and exits), SIGKILL whatever is left after 10 s so a script never hangs, and empty the array.
stop_processes() {
  local -n _pids=$1
  local i pid alive
  ((${#_pids[@]})) || return 0
  kill -TERM "${_pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    alive=false
    for pid in "${_pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    $alive || break
    sleep 0.1
  done
  kill -KILL "${_pids[@]}" 2>/dev/null || true
  wait "${_pids[@]}" 2>/dev/null || true
  _pids=()
}

# Delete a queue or an exchange ($1 = queue|exchange, $2 = name) with the broker's own tools (the
# binary has no delete role):
# - rabbitmqctl, when installed with the broker; it needs the node's Erlang cookie (root or the
#   rabbitmq user), and has no delete_exchange, so exchanges go through its eval;
# - otherwise the management HTTP API on :15672 (the rabbitmq:3.13-management image that
#   ensure-broker runs has it), with RABBITMQ_USER/RABBITMQ_PASS or guest/guest.
# If neither works, the object is left behind and a line says how to remove it.
delete_broker_object() {
  local what=$1 name=$2
  if command -v rabbitmqctl >/dev/null; then
    if [[ $what == queue ]]; then
      timeout 30 rabbitmqctl -q delete_queue "$name" >/dev/null 2>&1 && return 0
    else
      timeout 30 rabbitmqctl -q eval \
        "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$name\">>), false, <<\"cli\">>)." \
        >/dev/null 2>&1 && return 0
    fi
  fi
  if command -v curl >/dev/null &&
    curl -fsS -o /dev/null --max-time 5 -X DELETE -u "${RABBITMQ_USER:-guest}:${RABBITMQ_PASS:-guest}" \
      "http://${AMQP_HOST:-127.0.0.1}:15672/api/${what}s/%2F/$name" 2>/dev/null; then
    return 0
  fi
  echo "${0##*/}: could not delete $what $name (no working rabbitmqctl or management API on :15672); remove it with the management UI" >&2
}
