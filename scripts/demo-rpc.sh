#!/usr/bin/env bash
# RPC demo: two rpc-servers share one request queue — rpc-fast answers at once, rpc-slow works
# 50 ms per request — and `playground call` makes 20 calls, 4 at a time, over direct reply-to.
# Every reply line shows who answered and the round trip; a table shows how the calls were shared
# (prefetch 1: the fast server takes more) with each server's median round trip. Then the servers
# stop, the queue goes with them (auto-delete), and one more call fails at once: nobody listens.
# The request queue (demo-rpc-PID) is auto-delete: it goes with the servers, which are always
# stopped at the end. The logs are kept only if the demo fails.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bin=${BIN:-target/release/playground}
calls=20
concurrency=4
queue="demo-rpc-$$"
connect_timeout=30 # seconds for each server to log "serving requests"

[[ -x $bin ]] || { echo "demo-rpc: $bin not found; run 'make build' first" >&2; exit 1; }

# The demo sets every server option itself; values exported for a deployment would change what
# it shows. The connection settings (RABBITMQ_URL, RABBITMQ_USER, RABBITMQ_PASS) are kept.
unset RPC_QUEUE RPC_TIMEOUT SERVER_NAME WORK WORK_PER_DOT CRASH_AFTER FAIL_RATE PREFETCH HEALTH_PORT \
  LOG_FORMAT SERVICE_NAME

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/demo-rpc.XXXXXX")
pids=()

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop_processes pids
  if ((status != 0)); then
    echo "demo-rpc: logs kept in $log_dir" >&2
  else
    rm -rf "$log_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() {
  local name=$1 work=$2 n=0
  "$bin" rpc-server --queue "$queue" --name "$name" --work "$work" --prefetch 1 --health-port 0 \
    --log-format json >"$log_dir/$name.log" 2>&1 &
  pids+=("$!")
  until grep -qs '"message":"serving requests"' "$log_dir/$name.log"; do
    kill -0 "${pids[-1]}" 2>/dev/null || { tail -n 5 "$log_dir/$name.log" >&2; fail "$name exited"; }
    ((n++ < connect_timeout * 10)) || fail "$name was not serving after $connect_timeout s"
    sleep 0.1
  done
}

say "two rpc-servers on $queue: rpc-fast (no work) and rpc-slow (50ms per request) ($bin)"
start_server rpc-fast 0s
start_server rpc-slow 50ms

say "playground call --count $calls --concurrency $concurrency ping"
echo
"$bin" call --rpc-queue "$queue" --count "$calls" --concurrency "$concurrency" ping \
  2>"$log_dir/call.log" | tee "$log_dir/call.out" || fail "some calls got no reply"
echo
printf "%-10s %8s %8s %14s\n" "server" "replies" "share" "p50 round trip"
awk '
  /^reply / { server = $4; ms = $6; n[server]++; all++; trips[server, n[server]] = ms }
  END {
    for (server in n) {
      count = n[server]
      # Insertion sort of this server'"'"'s round trips for the median.
      for (i = 1; i <= count; i++) sorted[i] = trips[server, i] + 0
      for (i = 2; i <= count; i++) { v = sorted[i]; for (j = i - 1; j >= 1 && sorted[j] > v; j--) sorted[j + 1] = sorted[j]; sorted[j + 1] = v }
      printf "%-10s %8d %7.0f%% %11.2f ms\n", server, count, 100 * count / all, sorted[int((count + 1) / 2)]
    }
  }' "$log_dir/call.out" | sort
echo

stop_processes pids
say "the servers stopped; their queue went with them (auto-delete). One more call:"
if "$bin" call --rpc-queue "$queue" --count 1 ping 2>>"$log_dir/call.log"; then
  fail "a call with no server was answered"
fi
echo
say "no rpc-server listens: the request was unroutable (mandatory), so the call failed at once"
