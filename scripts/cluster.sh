#!/usr/bin/env bash
# A local three-node RabbitMQ cluster beside the broker on 5672, which it never touches: nodes
# c1..c3@localhost on 127.0.0.1:5681-5683 with their own cookie, configuration, data and logs, all
# under one git-ignored directory ($CLUSTER_DIR, default .cluster/ in the repository).
#
#   up        start the three nodes (idempotent) and join them; prints the nodes and the URLs
#   down      stop every node by its PID and delete the cluster's directory
#   status    each node: running, frozen or stopped, its PID and port; the running members
#   urls      the comma-separated AMQP URLs, for RABBITMQ_URL / --amqp-url
#   management-urls  the nodes' management API URLs (HTTP port = AMQP port + 10000), for
#             produce-server's --management-url (the console then shows each queue's leader)
#   stop N    a clean stop of node N (SIGTERM, as a node being shut down)
#   kill N    SIGKILL node N (a crash)
#   freeze N  SIGSTOP node N (a hung node or VM); thaw N: SIGCONT
#   start N   start node N again; it rejoins the cluster by itself
#   install   make sure rabbitmq-server is installed (apt-get as root), nothing else
#   leader Q  which node (1, 2 or 3) leads quorum queue Q, as the cluster says
#   ctl N ... rabbitmqctl against node N with the cluster's cookie (e.g. ctl 1 list_queues)
#
# CLUSTER_DIR, CLUSTER_NODE_PREFIX (default c) and CLUSTER_PORT_BASE (default 5680: AMQP ports
# base+1..base+3, distribution ports 20000 above those) let a second cluster run beside this one;
# the tests use that so they never touch a cluster a developer started. Each node runs the
# management plugin on 127.0.0.1, port 10000 above its AMQP port (15681-15683 by default).
#
# How (measured on this machine, see the cluster chapter of the docs): each node needs its own
# RABBITMQ_CONFIG_FILE naming its listener, or it reads /etc/rabbitmq/rabbitmq.conf, binds 5672
# and dies; the CLI tools are run from /usr/lib/rabbitmq/bin (the /usr/sbin wrappers switch to
# the rabbitmq user and the system cookie) with HOME pointing at the cluster's own cookie.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${CLUSTER_DIR:-$repo/.cluster}
bin=/usr/lib/rabbitmq/bin
nodes=(1 2 3)
prefix=${CLUSTER_NODE_PREFIX:-c}
port_base=${CLUSTER_PORT_BASE:-5680}
[[ $prefix =~ ^[a-z]+$ ]] || { echo "cluster: CLUSTER_NODE_PREFIX must be lower-case letters" >&2; exit 2; }
if ! [[ $port_base =~ ^[0-9]+$ ]] || ((port_base < 1024 || port_base > 45000)); then
  echo "cluster: CLUSTER_PORT_BASE must be a number from 1024 to 45000" >&2
  exit 2
fi
log=${TMPDIR:-/tmp}/cluster.log

say() { echo "cluster: $*"; }
die() {
  echo "cluster: $*" >&2
  exit 1
}
usage_error() {
  echo "cluster: $*" >&2
  exit 2
}

node_name() { echo "$prefix$1@localhost"; }
node_port() { echo $((port_base + $1)); }
management_port() { echo $((10000 + port_base + $1)); }
pid_file() { echo "$dir/n$1/rabbitmq.pid"; }

# The PID of node $1 if its process exists (running or frozen), else nothing.
node_pid() {
  local file pid
  file=$(pid_file "$1")
  [[ -s $file ]] || return 0
  pid=$(<"$file")
  if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

# running | frozen | stopped, from the process state (T = stopped by a signal).
node_state() {
  local pid
  pid=$(node_pid "$1")
  if [[ -z $pid ]]; then
    echo stopped
  elif [[ $(ps -o stat= -p "$pid" 2>/dev/null) == T* ]]; then
    echo frozen
  else
    echo running
  fi
}

check_node_number() {
  [[ ${1:-} =~ ^[123]$ ]] || usage_error "which node? expected 1, 2 or 3, got '${1:-}'"
}

# RabbitMQ's own tools; install the Debian package as root if they are missing (that also starts
# the system broker on 5672, which the tests use anyway), else say what to do.
ensure_installed() {
  [[ -x $bin/rabbitmq-server ]] && return 0
  if command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    say "installing rabbitmq-server with apt-get (log: $log)"
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server; } \
      >>"$log" 2>&1 || die "apt-get install rabbitmq-server failed; see $log"
    [[ -x $bin/rabbitmq-server ]] || die "rabbitmq-server was installed but $bin/rabbitmq-server is missing; see $log"
    return 0
  fi
  die "rabbitmq-server is not installed ($bin/rabbitmq-server) and cannot be installed here (needs apt-get as root); install the rabbitmq-server package"
}

# The files a node reads, written once: config with its listeners, the management plugin (the
# only way to ask where a queue's leader is), an empty env file, and the cluster's cookie in a
# HOME of its own.
prepare() {
  local n
  mkdir -p "$dir/home"
  if [[ ! -s $dir/home/.erlang.cookie ]]; then
    (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie")
    chmod 400 "$dir/home/.erlang.cookie"
  fi
  : >"$dir/empty.env"
  for n in "${nodes[@]}"; do
    mkdir -p "$dir/n$n/mnesia" "$dir/n$n/log"
    {
      echo "listeners.tcp.1 = 127.0.0.1:$(node_port "$n")"
      echo "management.tcp.ip = 127.0.0.1"
      echo "management.tcp.port = $(management_port "$n")"
    } >"$dir/n$n/rabbitmq.conf"
    echo "[rabbitmq_management]." >"$dir/n$n/enabled_plugins"
  done
}

# Runs "$@" with node $1's environment (the rest of the arguments are the command).
with_node() {
  local n=$1
  shift
  env HOME="$dir/home" \
    RABBITMQ_NODENAME="$(node_name "$n")" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT="$(node_port "$n")" \
    RABBITMQ_DIST_PORT="$((20000 + $(node_port "$n")))" \
    RABBITMQ_CONFIG_FILE="$dir/n$n/rabbitmq.conf" \
    RABBITMQ_CONF_ENV_FILE="$dir/empty.env" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/n$n/enabled_plugins" \
    RABBITMQ_MNESIA_BASE="$dir/n$n/mnesia" \
    RABBITMQ_LOG_BASE="$dir/n$n/log" \
    RABBITMQ_PID_FILE="$(pid_file "$n")" \
    ERL_EPMD_ADDRESS=127.0.0.1 \
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
    "$@"
}

ctl() {
  local n=$1
  shift
  with_node "$n" timeout 60 "$bin/rabbitmqctl" -n "$(node_name "$n")" "$@"
}

start_node() {
  local n=$1
  case $(node_state "$n") in
    running) return 0 ;;
    frozen) die "node $n is frozen; 'thaw $n' first" ;;
  esac
  with_node "$n" "$bin/rabbitmq-server" -detached >>"$log" 2>&1 \
    || die "node $n did not start; see $log and $dir/n$n/log"
}

# Waits until node $1 has booted (up to 90 s).
await_node() {
  local n=$1 deadline=$((SECONDS + 90))
  until ctl "$n" -q await_startup >>"$log" 2>&1; do
    ((SECONDS < deadline)) || die "node $n did not finish starting within 90 s; see $log and $dir/n$n/log"
    sleep 1
  done
}

# The nodes the cluster says are running, as seen from node $1 (at most ${2:-60} s: a frozen
# member can hold the answer until the net tick time passes).
running_members() {
  with_node "$1" timeout "${2:-60}" "$bin/rabbitmqctl" -n "$(node_name "$1")" -q cluster_status \
    --formatter json 2>/dev/null |
    grep -o '"running_nodes":\[[^]]*\]' | grep -o "${prefix}[0-9]@localhost" | sort -u | tr '\n' ' ' ||
    true
}

join_if_needed() {
  local n=$1
  [[ $(running_members 1) == *"$(node_name "$n")"* ]] && return 0
  ctl "$n" -q stop_app >>"$log" 2>&1 || die "node $n: stop_app failed; see $log"
  ctl "$n" -q join_cluster "$(node_name 1)" >>"$log" 2>&1 || die "node $n could not join c1; see $log"
  ctl "$n" -q start_app >>"$log" 2>&1 || die "node $n: start_app failed; see $log"
}

urls() {
  local n list=()
  for n in "${nodes[@]}"; do list+=("amqp://guest:guest@127.0.0.1:$(node_port "$n")/%2f"); done
  (IFS=, && echo "${list[*]}")
}

management_urls() {
  local n list=()
  for n in "${nodes[@]}"; do list+=("http://127.0.0.1:$(management_port "$n")"); done
  (IFS=, && echo "${list[*]}")
}

stop_node() {
  local n=$1 pid i
  pid=$(node_pid "$n")
  [[ -n $pid ]] || return 0
  kill -CONT "$pid" 2>/dev/null || true # a frozen node cannot act on SIGTERM
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "node $n did not stop within 30 s; killing it"
  kill -KILL "$pid" 2>/dev/null || true
}

command=${1:-}
case $command in
  up)
    ensure_installed
    : >>"$log" || die "cannot write $log; set TMPDIR to a writable directory"
    prepare
    start_node 1
    await_node 1
    start_node 2
    start_node 3
    await_node 2
    await_node 3
    join_if_needed 2
    join_if_needed 3
    say "nodes: $(running_members 1)"
    say "urls: $(urls)"
    say "management: $(management_urls)"
    ;;
  down)
    for n in "${nodes[@]}"; do stop_node "$n"; done
    rm -rf "$dir"
    say "stopped; $dir deleted"
    ;;
  status)
    for n in "${nodes[@]}"; do
      echo "$(node_name "$n") 127.0.0.1:$(node_port "$n") $(node_state "$n") pid=$(node_pid "$n")"
    done
    for n in "${nodes[@]}"; do
      if [[ $(node_state "$n") == running ]]; then
        members=$(running_members "$n" 10)
        echo "running members (seen from $(node_name "$n")): ${members:-no answer within 10 s (a frozen member?)}"
        break
      fi
    done
    ;;
  urls) urls ;;
  management-urls) management_urls ;;
  install)
    ensure_installed
    say "rabbitmq-server is installed ($bin/rabbitmq-server)"
    ;;
  leader)
    queue=${2:-}
    [[ -n $queue ]] || usage_error "which queue? usage: $0 leader QUEUE"
    for n in "${nodes[@]}"; do
      [[ $(node_state "$n") == running ]] || continue
      leader=$(with_node "$n" timeout 15 "$bin/rabbitmqctl" -n "$(node_name "$n")" -q list_queues \
        name leader --formatter json 2>/dev/null |
        grep -o "{\"name\":\"$queue\",\"leader\":\"${prefix}[0-9]@localhost\"" | grep -o "${prefix}[0-9]@" | tr -dc 0-9 || true)
      if [[ -n $leader ]]; then
        echo "$leader"
        exit 0
      fi
    done
    die "no running node knows a leader for queue $queue"
    ;;
  ctl)
    check_node_number "${2:-}"
    n=$2
    shift 2
    ctl "$n" "$@"
    ;;
  stop | kill | freeze | thaw | start)
    check_node_number "${2:-}"
    n=$2
    case $command in
      stop) stop_node "$n" ;;
      start)
        ensure_installed
        [[ -d $dir/n$n ]] || die "no cluster in $dir; run 'up' first"
        start_node "$n"
        await_node "$n"
        ;;
      *)
        pid=$(node_pid "$n")
        [[ -n $pid ]] || die "node $n is not running"
        case $command in
          kill)
            kill -KILL "$pid"
            for ((i = 0; i < 50; i++)); do
              kill -0 "$pid" 2>/dev/null || break
              sleep 0.1
            done
            ;;
          freeze) kill -STOP "$pid" ;;
          thaw) kill -CONT "$pid" ;;
        esac
        ;;
    esac
    say "node $n: $(node_state "$n")"
    ;;
  *)
    usage_error "usage: $0 up|down|status|urls|management-urls|install|stop N|kill N|freeze N|thaw N|start N|leader QUEUE|ctl N ARGS..."
    ;;
esac
