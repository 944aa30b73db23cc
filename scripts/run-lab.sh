#!/usr/bin/env bash
# Run produce-server and consume side by side in the foreground, logs interleaved on the terminal.
# Prints a ready-to-paste curl once the producer is ready; Ctrl-C or SIGTERM stops both, exit 0.
set -euo pipefail

bin=${BIN:-target/release/playground}
port=${PORT:-3000}
health_port=${HEALTH_PORT:-8080}

[[ -x $bin ]] || { echo "run-lab: $bin not found; run 'make build' first" >&2; exit 1; }

# A port that already answers belongs to someone else (often a lab started in another terminal):
# say so and stop, instead of starting roles that fail while that other process answers our
# readiness probe.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for taken in "$port:PORT" "$health_port:HEALTH_PORT"; do
  if port_in_use "${taken%%:*}"; then
    echo "run-lab: port ${taken%%:*} is already in use (another 'make run'?); stop it, or choose another with make run ${taken#*:}=..." >&2
    exit 1
  fi
done

pids=()

any_alive() {
  local pid
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done
  return 1
}

# SIGTERM both children (they drain and exit); SIGKILL whatever is left after 10 s so the
# terminal never hangs on a stuck process.
stop_children() {
  local i
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    any_alive || break
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}

# Ctrl-C or SIGTERM is how the lab is meant to end, so it is a success.
# shellcheck disable=SC2317 # reached through the trap below
on_signal() {
  trap - INT TERM
  echo "run-lab: stopping" >&2
  stop_children
  exit 0
}
trap on_signal INT TERM

"$bin" produce-server --port "$port" &
pids+=("$!")
"$bin" consume --health-port "$health_port" &
pids+=("$!")

# Tell the user how to poke it once the producer can actually publish (bounded: ~30 s), and only
# while both of our own processes are alive: the ports were free when they started, so what
# answers is ours.
ours_alive() { kill -0 "${pids[0]}" 2>/dev/null && kill -0 "${pids[1]}" 2>/dev/null; }
if command -v curl >/dev/null; then
  for ((i = 0; i < 60; i++)); do
    ours_alive || break
    if curl -fsS -o /dev/null --max-time 1 "http://localhost:$port/ready" 2>/dev/null && ours_alive; then
      echo
      echo "run-lab: ready. Watch the lab console in a browser: http://localhost:$port/"
      echo "run-lab: send a message with:"
      echo "curl -s -X POST http://localhost:$port/send-message -H 'Content-Type: application/json' -d '{\"message\":\"Hello from RabbitMQ!\"}'"
      echo
      break
    fi
    sleep 0.5
  done
  ((i < 60)) || echo "run-lab: produce-server not ready on :$port after 30 s; see its logs above" >&2
fi

# If either process exits on its own (crash, bad flag), stop the other and pass its status on.
status=0
wait -n "${pids[@]}" || status=$?
echo "run-lab: a process exited with status $status; stopping the other" >&2
stop_children
exit "$status"
