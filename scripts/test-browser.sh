#!/usr/bin/env bash
# The lab console in a real headless Chromium. First the Topology diagram against fixtures, no
# broker needed (tests/browser/topology-layout.test.mjs, served by fixture-server.mjs); then a
# private lab: produce-server, a fast and a slow consumer on one queue, topic subscribers for
# '*.error' (error-handler) and 'audit.#' (audit), a fanout logger, and a poison-worker that
# dead-letters everything from its own queue. tests/browser/console.test.mjs opens the console,
# sends a burst and a topic message from its forms, a poison message with `playground send`, and
# checks what the page shows, the topology diagram included.
# Installs what it needs: Debian's chromium (as root) and playwright-core, pinned, with `npm ci`.
# Every queue and exchange is named pgbrowser-PID-…, so other users of the broker are never
# disturbed, and deleted at the end. Screenshots: target/browser/console.png, console-phone.png,
# topology.png, topology-phone.png, and the fixtures' topology-fixture-*.png.
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bin=${BIN:-target/release/playground}
chromium=${CHROMIUM:-/usr/bin/chromium}
prefix="pgbrowser-$$"
queue="$prefix-q"
poison="$prefix-poison" # send --dead-letter and consume --dead-letter add $poison.dlx, .dead-letter
topic="$prefix-topic" direct="$prefix-direct" fanout="$prefix-fanout" headers="$prefix-headers"
telemetry_exchange="$prefix-telemetry"
screenshots=target/browser
ready_timeout=30 # seconds for produce-server's /ready
test_timeout=120 # seconds for the whole browser test (it normally takes a few)

# Chromium from Debian (the browser builds that playwright downloads cannot be fetched here).
if [[ ! -x $chromium ]]; then
  log="${TMPDIR:-/tmp}/test-browser-chromium.log"
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    fail "$chromium is missing; run 'apt-get install chromium' as root"
  fi
  say "installing Debian's chromium"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } >"$log" 2>&1 ||
    fail "$chromium is missing and could not be installed; run 'apt-get install chromium' (log: $log)"
  [[ -x $chromium ]] || fail "chromium was installed but $chromium is not there (log: $log)"
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  fail "node and npm are needed (Node.js 20 or later); install them first"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || fail "Node.js 20 or later is needed for playwright-core; this is $(node --version)"

# playwright-core exactly as package-lock.json pins it.
npm_log="${TMPDIR:-/tmp}/test-browser-npm.log"
npm ci --prefix tests/browser --no-audit --no-fund >"$npm_log" 2>&1 ||
  fail "npm ci in tests/browser failed (log: $npm_log)"

# The diagram's layout on fixtures first: quick, and it fails on the page alone.
mkdir -p "$screenshots"
say "topology layout on fixtures (no broker)"
SCREENSHOT_DIR=$screenshots CHROMIUM=$chromium \
  timeout "$test_timeout" node --test tests/browser/topology-layout.test.mjs

if [[ ! -x $bin ]]; then
  say "building $bin"
  cargo build --release --locked
fi

# The lab sets every option itself; values exported for a deployment would change what it shows.
# The connection settings (RABBITMQ_URL, RABBITMQ_USER, RABBITMQ_PASS) are kept.
unset QUEUE_NAME QUEUE_TYPE DEAD_LETTER DEAD_LETTER_QUEUE DELIVERY_LIMIT SERVICE_NAME PREFETCH \
  HEALTH_PORT HEALTH_BIND_ADDRESS PORT BIND_ADDRESS LOG_FORMAT EXCHANGE EXCHANGE_TYPE PATTERNS \
  SUBSCRIBER_QUEUE TOPIC_EXCHANGE DIRECT_EXCHANGE FANOUT_EXCHANGE CONSUMER_NAME WORK WORK_PER_DOT \
  CRASH_AFTER FAIL_RATE REQUEUE MAX_BURST TELEMETRY TELEMETRY_EXCHANGE HEADERS_EXCHANGE HEADERS \
  HEADERS_MATCH ALTERNATE_EXCHANGE UNROUTED_QUEUE RETRY_DELAYS RPC_QUEUE SUBSCRIBER_QUEUE_TYPE

# A port nothing listens on (bash only: no helper needed on a fresh machine).
free_port() {
  local port i
  for ((i = 0; i < 50; i++)); do
    port=$((20000 + RANDOM % 40000))
    (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null || {
      echo "$port"
      return 0
    }
  done
  return 1
}

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/test-browser.XXXXXX")
pids=()

# shellcheck disable=SC2317 # reached through the traps below
cleanup() {
  local status=$? x
  trap - EXIT INT TERM
  stop_processes pids
  for x in "$queue" "$poison" "$poison.dead-letter"; do
    delete_broker_object queue "$x"
  done
  for x in "$topic" "$direct" "$fanout" "$headers" "$poison.dlx" "$telemetry_exchange"; do
    delete_broker_object exchange "$x"
  done
  if ((status != 0)); then
    echo "test-browser: FAILED; the lab's logs are kept in $log_dir" >&2
  else
    rm -rf "$log_dir"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(free_port) || fail "found no free port"
common=(--log-format json --telemetry 500ms --telemetry-exchange "$telemetry_exchange")

"$bin" produce-server "${common[@]}" --port "$port" --bind 127.0.0.1 --queue "$queue" \
  --topic-exchange "$topic" --direct-exchange "$direct" --fanout-exchange "$fanout" \
  --headers-exchange "$headers" >"$log_dir/produce-server.log" 2>&1 &
pids+=("$!")
# Slow enough that a burst of 20 stays in the queue for about a second: the broker's depth, probed
# once per interval, shows it.
"$bin" consume "${common[@]}" --queue "$queue" --name worker-fast --work 50ms --health-port 0 \
  >"$log_dir/worker-fast.log" 2>&1 &
pids+=("$!")
"$bin" consume "${common[@]}" --queue "$queue" --name worker-slow --work 500ms --health-port 0 \
  >"$log_dir/worker-slow.log" 2>&1 &
pids+=("$!")
"$bin" topic-sub "${common[@]}" --exchange "$topic" --pattern '*.error' --name error-handler \
  --health-port 0 >"$log_dir/error-handler.log" 2>&1 &
pids+=("$!")
"$bin" topic-sub "${common[@]}" --exchange "$topic" --pattern 'audit.#' --name audit \
  --health-port 0 >"$log_dir/audit.log" 2>&1 &
pids+=("$!")
"$bin" fanout-sub "${common[@]}" --exchange "$fanout" --name logger --health-port 0 \
  >"$log_dir/logger.log" 2>&1 &
pids+=("$!")
"$bin" consume "${common[@]}" --queue "$poison" --dead-letter --fail-rate 1 --name poison-worker \
  --health-port 0 >"$log_dir/poison-worker.log" 2>&1 &
pids+=("$!")

# produce-server's /ready is 200 once it can publish (node's fetch: no curl needed).
url="http://127.0.0.1:$port/"
ready=false
for ((i = 0; i < ready_timeout * 4; i++)); do
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || fail "a role of the lab exited early; see $log_dir"
  done
  if node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(1000) })
    .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))' "${url}ready"; then
    ready=true
    break
  fi
  sleep 0.2
done
$ready || fail "produce-server not ready on $url after ${ready_timeout} s; see $log_dir"
say "lab ready on $url (names $prefix-*); running the browser test"

# The test sends the poison message itself (PLAYGROUND_BIN send … to LAB_PREFIX-poison).
CONSOLE_URL=$url SCREENSHOT_DIR=$screenshots CHROMIUM=$chromium LAB_PREFIX=$prefix PLAYGROUND_BIN=$bin \
  timeout "$test_timeout" node --test tests/browser/console.test.mjs
say "screenshots: $screenshots/console.png, console-phone.png, topology.png, topology-phone.png"
