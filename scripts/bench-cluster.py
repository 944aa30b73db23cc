#!/usr/bin/env python3
"""make bench-cluster: the price of replication, measured in one run.

The same three figures, with `playground perf`, on two setups:

  one node, classic queue        the shared broker on 127.0.0.1:5672 (RABBITMQ_URL), a durable
                                 classic queue, persistent messages
  three-node cluster, quorum     the private cluster of scripts/cluster.sh (c1..c3@localhost on
                                 127.0.0.1:5681-5683), a quorum queue, every client connected to
                                 c1: the node a quorum queue is declared through becomes its
                                 leader, so the client sits on the leader and each message costs
                                 the replication to the two followers, not an extra hop to the
                                 leader (the leader of every queue is checked and printed)

  confirmed publish   perf, one producer, 64 unconfirmed in flight (--confirm 64 --persistent)
  drain               perf, one consumer at prefetch 100, draining 20,000 messages put there
                      beforehand, timed from the first delivery to the last
  produce-server      POST /send-message at concurrency 64 (perf --http), confirmed requests/s;
                      each request is one confirmed message

Each figure is measured RUNS times (default 3, BENCH_TIME each, default 5s) and the median is
kept; the two setups are interleaved within a run (which goes first alternates) so that drift
on a noisy 2-core machine, where the four RabbitMQ nodes, the load tool and produce-server share
the cores, falls on both alike. The ratio quorum/classic is the price of replication on this
machine: here the three nodes share two cores, so it is paid mostly in CPU, where separate
machines would pay it in network round trips and a disk write on each.

Every run uses fresh, uniquely named queues (and exchanges for produce-server), deleted right
after use and again at the end, whatever happens. The cluster is started with
`scripts/cluster.sh up` if it is not running, and stopped with `scripts/cluster.sh down` at the
end only if this script started it. The broker on 5672 is never stopped or reconfigured.

Prints one markdown table and writes it to target/bench/cluster.md. Uses only the standard
library; needs the release binary, the broker on 5672 with rabbitmqctl, and rabbitmq-server for
the cluster.
"""

import itertools
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("BIN", "target/release/playground")
RUNS = int(os.environ.get("RUNS", "3"))
SECONDS = os.environ.get("BENCH_TIME", "5s")
DRAIN = 20_000
URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
CLUSTER_DIR = os.environ.get("CLUSTER_DIR", os.path.join(REPO, ".cluster"))
CLUSTER_SH = os.path.join(REPO, "scripts", "cluster.sh")
CLUSTER_URL = "amqp://guest:guest@127.0.0.1:5681/%2f"  # c1, the leader of every queue here
CLUSTER_CTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"
LEADER = "c1@localhost"
OUT = os.path.join(REPO, "target", "bench", "cluster.md")
TAG = uuid.uuid4().hex[:8]
SERIAL = itertools.count(1)  # every queue of a run has a name of its own
# A perf run that takes this much longer than asked for is hung: fail instead of waiting.
SLACK_S = 120


def say(text):
    print(f"bench-cluster: {text}", file=sys.stderr, flush=True)


class Failed(Exception):
    """One step failed; its text is the one line printed before exiting non-zero."""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class Setup:
    """Where a column of the table is measured: a broker, a queue type, how to reach its CLI."""

    def __init__(self, key, title, url, queue_type, ctl_command):
        self.key = key
        self.title = title
        self.url = url
        self.queue_type = queue_type
        self.ctl_command = ctl_command
        self.queues = set()  # created and not yet deleted
        self.exchanges = set()

    def ctl(self, *args, check=False):
        result = subprocess.run([*self.ctl_command, "-q", *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, timeout=60)
        if check and result.returncode != 0:
            raise Failed(f"rabbitmqctl {args[0]} on the {self.title} failed: "
                         f"{last_line(result.stderr or result.stdout)}")
        return result.stdout

    def queue(self, what):
        name = f"bench-cluster-{what}-{TAG}-{next(SERIAL)}"
        self.queues.add(name)
        return name

    def delete_queue(self, name):
        self.ctl("delete_queue", name)
        self.queues.discard(name)

    def delete_exchange(self, name):
        self.ctl("eval", f'rabbit_exchange:delete(rabbit_misc:r(<<"/">>, exchange, <<"{name}">>), '
                         f'false, <<"bench">>).')
        self.exchanges.discard(name)

    def leader(self, queue):
        """The node leading `queue` (quorum queues; classic ones have none)."""
        for line in self.ctl("list_queues", "name", "leader", check=True).splitlines():
            fields = line.split("\t")
            if len(fields) == 2 and fields[0] == queue:
                return fields[1]
        return "?"

    def clean_up(self):
        for name in sorted(self.queues):
            self.delete_queue(name)
        for name in sorted(self.exchanges):
            self.delete_exchange(name)


def last_line(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def perf(setup, *args, what):
    """Runs playground perf --json against `setup` and returns its summary."""
    command = [BIN, "perf", "--json", "--amqp-url", setup.url, "--queue-type", setup.queue_type,
               *args]
    try:
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, timeout=SLACK_S + seconds(SECONDS))
    except subprocess.TimeoutExpired:
        raise Failed(f"perf ({what}, {setup.title}) did not finish within "
                     f"{SLACK_S + seconds(SECONDS):.0f} s") from None
    if result.returncode != 0:
        raise Failed(f"perf ({what}, {setup.title}) exited with {result.returncode}: "
                     f"{last_line(result.stderr)}")
    try:
        return json.loads(last_line(result.stdout))
    except ValueError:
        raise Failed(f"perf ({what}, {setup.title}) printed no JSON summary: "
                     f"{last_line(result.stdout)}") from None


def seconds(duration):
    """'5s' -> 5.0 (BENCH_TIME is given to perf as is; this is only for timeouts)."""
    units = {"ms": 0.001, "s": 1, "m": 60}
    for unit in ("ms", "s", "m"):
        if duration.endswith(unit):
            try:
                return float(duration[:-len(unit)]) * units[unit]
            except ValueError:
                break
    raise Failed(f"BENCH_TIME={duration!r}: expected e.g. 5s, 1500ms or 1m")


def get(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def wait_ready(base, process, limit=30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise Failed(f"produce-server exited with {process.returncode} before /ready")
        if get(f"{base}/ready", 0.5) == 200:
            return
        time.sleep(0.01)
    raise Failed(f"produce-server at {base} not ready within {limit:.0f} s")


def confirmed_publish(setup):
    queue = setup.queue("publish")
    try:
        summary = perf(setup, "--producers", "1", "--consumers", "0", "--confirm", "64",
                       "--persistent", "--queue", queue, "--time", SECONDS,
                       what="confirmed publish")
        leader = setup.leader(queue) if setup.queue_type == "quorum" else None
    finally:
        setup.delete_queue(queue)
    return summary["confirmed_per_s"], leader


def drain(setup):
    queue = setup.queue("drain")
    try:
        filled = perf(setup, "--producers", "1", "--consumers", "0", "--confirm", "64",
                      "--persistent", "--queue", queue, "--count", str(DRAIN), what="fill")
        if filled["confirmed"] != DRAIN:
            raise Failed(f"fill ({setup.title}): {filled['confirmed']} of {DRAIN} confirmed")
        # --time only bounds a drain that cannot finish; it ends at --count.
        summary = perf(setup, "--producers", "0", "--consumers", "1", "--prefetch", "100",
                       "--queue", queue, "--count", str(DRAIN), "--time", "60s", what="drain")
        if summary["received"] < DRAIN or not summary["received_per_s_first_to_last"]:
            raise Failed(f"drain ({setup.title}): {summary['received']} of {DRAIN} received "
                         f"within 60 s")
        leader = setup.leader(queue) if setup.queue_type == "quorum" else None
    finally:
        setup.delete_queue(queue)
    return summary["received_per_s_first_to_last"], leader


def produce_server(setup):
    """A fresh produce-server and queue per run, so every run starts from an empty queue."""
    queue = setup.queue("http")
    exchanges = [f"bench-cluster-{TAG}-{kind}" for kind in ("topic", "direct", "fanout")]
    setup.exchanges.update(exchanges)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PORT=str(port), BIND_ADDRESS="127.0.0.1", RABBITMQ_URL=setup.url,
               QUEUE_NAME=queue, QUEUE_TYPE=setup.queue_type, TOPIC_EXCHANGE=exchanges[0],
               DIRECT_EXCHANGE=exchanges[1], FANOUT_EXCHANGE=exchanges[2])
    server = subprocess.Popen([BIN, "produce-server"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_ready(base, server)
        summary = perf(setup, "--http", base, "--concurrency", "64", "--time", SECONDS,
                       what="produce-server c=64")
        leader = setup.leader(queue) if setup.queue_type == "quorum" else None
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        setup.delete_queue(queue)
    return summary["confirmed_per_s"], leader, summary["failed"]


class Cluster:
    """The cluster of scripts/cluster.sh: started here if it is not running, and then stopped
    (and its data deleted) at the end; a cluster that was already running is left running."""

    def __init__(self):
        self.started = False

    def states(self):
        result = subprocess.run(["bash", CLUSTER_SH, "status"], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, timeout=60,
                                env=dict(os.environ, CLUSTER_DIR=CLUSTER_DIR))
        states = {}
        for line in result.stdout.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0] in ("c1@localhost", "c2@localhost", "c3@localhost"):
                states[fields[0]] = fields[2]
        return states

    def up(self):
        if not os.access(CLUSTER_CTL, os.X_OK) and not os.path.isdir(CLUSTER_DIR):
            say(f"{CLUSTER_CTL} is missing; scripts/cluster.sh up will try to install it")
        states = self.states()
        running = [node for node, state in states.items() if state == "running"]
        if len(running) == 3:
            say(f"using the running cluster in {CLUSTER_DIR} (left running at the end)")
            return
        if not running and any(port_open(port) for port in (5681, 5682, 5683)):
            raise Failed(f"something listens on 127.0.0.1:5681-5683 but it is not the cluster in "
                         f"{CLUSTER_DIR}; stop it or set CLUSTER_DIR to its directory")
        # From nothing: ours to stop. Partly running: someone's cluster, restored, left running.
        self.started = not running and not any(s == "frozen" for s in states.values())
        say("starting the cluster (scripts/cluster.sh up)" +
            ("" if self.started else ", which was partly running; it is left running at the end"))
        result = subprocess.run(["bash", CLUSTER_SH, "up"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, timeout=300,
                                env=dict(os.environ, CLUSTER_DIR=CLUSTER_DIR))
        if result.returncode != 0:
            raise Failed(f"scripts/cluster.sh up failed: {last_line(result.stderr)}")

    def down(self):
        if not self.started:
            return
        say("stopping the cluster this script started (scripts/cluster.sh down)")
        subprocess.run(["bash", CLUSTER_SH, "down"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=300,
                       env=dict(os.environ, CLUSTER_DIR=CLUSTER_DIR))
        self.started = False


FIGURES = (
    ("publish", "confirmed publish (perf, 1 producer, 64 in flight, persistent)",
     confirmed_publish),
    ("drain", f"drain {DRAIN:,} (perf, 1 consumer, prefetch 100)", drain),
    ("http", "produce-server POST /send-message, c=64 (confirmed req/s)", produce_server),
)


def measure(setups):
    """{figure: {setup: [rate per run]}}, the setups interleaved; and the leaders seen."""
    rates = {key: {setup.key: [] for setup in setups} for key, _, _ in FIGURES}
    leaders, failed = set(), 0
    for run in range(RUNS):
        for key, _, function in FIGURES:
            # Which setup goes first alternates, so neither always follows the other's load.
            for setup in (setups if run % 2 == 0 else setups[::-1]):
                result = function(setup)
                rates[key][setup.key].append(result[0])
                if result[1] is not None:
                    leaders.add(result[1])
                if key == "http":
                    failed += result[2]
            say(f"run {run + 1}/{RUNS} {key}: " + ", ".join(
                f"{setup.title} {rates[key][setup.key][-1]:.0f}/s" for setup in setups))
    return rates, leaders, failed


def rabbitmq_version():
    result = subprocess.run(["rabbitmqctl", "-q", "version"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, timeout=60, check=False)
    return result.stdout.strip() or "?"


def thousands(rate):
    return f"{rate:,.0f}"


def report(rates, leaders, failed, started):
    header = ("| figure | one node, classic queue (msg/s) | three-node cluster, quorum queue, "
              "client on the leader (msg/s) | ratio quorum/classic |\n"
              "| --- | --- | --- | --- |\n")
    rows, spread = [], []
    for key, title, _ in FIGURES:
        classic = statistics.median(rates[key]["classic"])
        quorum = statistics.median(rates[key]["quorum"])
        ratio = f"{quorum / classic:.0%}" if classic else "-"
        rows.append(f"| {title} | {thousands(classic)} | {thousands(quorum)} | {ratio} |\n")
        spread.append(f"{key} " + " / ".join(
            f"{thousands(min(rates[key][k]))}–{thousands(max(rates[key][k]))}"
            for k in ("classic", "quorum")))
    leader_text = ", ".join(sorted(leaders)) or "?"
    note = (f"\nMedian of {RUNS} runs ({SECONDS} each; drains of {DRAIN:,} messages), the two "
            f"setups interleaved. Spread, min–max of the runs, classic / quorum: "
            f"{'; '.join(spread)}.\n"
            f"Quorum figures: every client connected to c1 (127.0.0.1:5681), where each queue "
            f"was declared; leader of the quorum queues: {leader_text}"
            f"{'' if leaders == {LEADER} else ' (NOT only ' + LEADER + ': read with care)'}.\n"
            f"{time.strftime('%Y-%m-%d')}, RabbitMQ {rabbitmq_version()}, {os.cpu_count()} CPUs "
            f"shared by the broker on 5672, the three cluster nodes, perf and produce-server"
            f"{'' if not failed else f'; {failed} produce-server requests FAILED'}; "
            f"took {time.monotonic() - started:.0f} s.\n")
    return header + "".join(rows) + note


def main():
    if not os.access(BIN, os.X_OK):
        raise Failed(f"{BIN} not found; run 'make build' first")
    seconds(SECONDS)  # a bad BENCH_TIME fails before anything starts
    if RUNS < 1:
        raise Failed(f"RUNS={RUNS}: expected at least 1")
    started = time.monotonic()
    cluster = Cluster()
    classic = Setup("classic", "one node classic", URL, "classic", ["rabbitmqctl"])
    quorum = Setup("quorum", "cluster quorum", CLUSTER_URL, "quorum",
                   ["env", f"HOME={CLUSTER_DIR}/home", CLUSTER_CTL, "-n", LEADER])
    try:
        cluster.up()
        rates, leaders, failed = measure([classic, quorum])
    finally:
        for setup in (classic, quorum):
            try:
                setup.clean_up()
            except (OSError, subprocess.SubprocessError) as error:
                say(f"could not delete everything on the {setup.title}: {error}; left: "
                    f"{sorted(setup.queues | setup.exchanges)}")
        cluster.down()
    text = report(rates, leaders, failed, started)
    print(text)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as out:
        out.write(text)
    say(f"written to {os.path.relpath(OUT)}")


if __name__ == "__main__":
    try:
        main()
    except Failed as error:
        say(str(error))
        sys.exit(1)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    except (OSError, subprocess.SubprocessError) as error:
        say(f"failed: {error}")
        sys.exit(1)
