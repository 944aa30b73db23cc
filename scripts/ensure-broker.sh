#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers AMQP on $AMQP_HOST:$AMQP_PORT (default 127.0.0.1:5672):
# use a running one, else start the installed one, else install it (apt, as root), else run it in
# Docker. It never stops or restarts a broker. Noisy tool output goes to $log, named on failure.
set -euo pipefail

host=${AMQP_HOST:-127.0.0.1}
port=${AMQP_PORT:-5672}
log=${TMPDIR:-/tmp}/ensure-broker.log
container=playground-rabbitmq

say() { echo "ensure-broker: $*"; }
# Every failure is one line on stderr; the details are in the log.
die() { echo "ensure-broker: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# A plain TCP connect is what the tests need, and it works with no client tools installed.
# shellcheck disable=SC2016 # $1 and $2 are expanded by the inner bash, on purpose.
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$host" "$port" 2>/dev/null; }

# Poll the port for up to $1 seconds.
wait_port() {
  local deadline=$((SECONDS + $1))
  until port_open; do
    ((SECONDS < deadline)) || return 1
    sleep 1
  done
}

# Start the local node unless it already runs (apt's postinst may have started it), then wait.
start_local() {
  if ! timeout 15 rabbitmq-diagnostics -q ping >>"$log" 2>&1; then
    say "starting rabbitmq-server (log: $log)"
    rabbitmq-server -detached >>"$log" 2>&1 || die "'rabbitmq-server -detached' failed; see $log"
  fi
  # await_startup errors out if the node is not up at all yet, so ping until it is.
  local deadline=$((SECONDS + 60))
  until timeout 15 rabbitmq-diagnostics -q ping >>"$log" 2>&1; do
    ((SECONDS < deadline)) || die "rabbitmq-server did not answer ping within 60 s; see $log and /var/log/rabbitmq/"
    sleep 1
  done
  timeout 120 rabbitmqctl await_startup >>"$log" 2>&1 \
    || die "rabbitmqctl await_startup failed or timed out; see $log and /var/log/rabbitmq/"
  wait_port 30 || die "rabbitmq-server runs but nothing answers on $host:$port (node on another port?); see $log"
  say "RabbitMQ is up on $host:$port"
}

# (a) Already there: the common case, and the only one that must stay fast.
if port_open; then
  say "RabbitMQ already answers on $host:$port"
  exit 0
fi

# Starting a broker here cannot help a broker on another machine.
case $host in
  127.* | localhost | ::1) ;;
  *) die "nothing answers on $host:$port and it is not this machine, so nothing was started; check AMQP_HOST/AMQP_PORT" ;;
esac

{ : >"$log"; } 2>/dev/null || die "cannot write log file $log; set TMPDIR to a writable directory"

# (b) Installed but stopped (e.g. after a reboot or in a fresh CI container).
if have rabbitmq-server; then
  start_local
  exit 0
fi

# (c) Not installed: Debian's package is the quickest way when we are root.
if have apt-get && [[ $(id -u) -eq 0 ]]; then
  say "installing rabbitmq-server with apt-get (log: $log)"
  apt-get update >>"$log" 2>&1 || die "apt-get update failed; see $log"
  DEBIAN_FRONTEND=noninteractive apt-get install -y rabbitmq-server >>"$log" 2>&1 \
    || die "apt-get install rabbitmq-server failed; see $log"
  hash -r
  have rabbitmq-server || die "rabbitmq-server was installed but is not on PATH (add /usr/sbin); see $log"
  start_local
  exit 0
fi

# (d) No package manager we can use, but a Docker engine: run (or restart) a named container.
if have docker && timeout 10 docker info >>"$log" 2>&1; then
  if docker container inspect "$container" >>"$log" 2>&1; then
    say "starting existing container $container (log: $log)"
    docker start "$container" >>"$log" 2>&1 || die "docker start $container failed; see $log"
  else
    say "running RabbitMQ in Docker as $container (log: $log)"
    docker run -d --name "$container" -p "$port:5672" -p 15672:15672 rabbitmq:3.13-management \
      >>"$log" 2>&1 || die "docker run rabbitmq:3.13-management failed; see $log"
  fi
  wait_port 90 || die "container $container started but $host:$port did not answer within 90 s; see 'docker logs $container'"
  say "RabbitMQ is up on $host:$port"
  exit 0
fi

# (e) Nothing we can use: say what was tried and what would fix it.
die "no broker on $host:$port, and none could be started (no rabbitmq-server, no apt-get as root, no Docker engine); install rabbitmq-server, start Docker, or point AMQP_HOST/AMQP_PORT at a running broker"
