#!/usr/bin/env python3
"""make bench: how much of the broker's raw speed the roles keep, measured in one run.

Each figure is measured RUNS times (default 3; drains DRAIN_RUNS) and the median is kept,
because a 2-core machine that runs the broker, the load generator and the service at once is
noisy. Every playground figure is set against the raw AMQP ceiling measured in the same run with
`playground perf`:

  produce-server POST /send-message at concurrency 1, 16, 64  vs  perf --confirm 1/16/64
  consume draining 20,000 messages at prefetch 1 and 100      vs  perf consumer, same prefetch
    (both timed from the first ack to the last: consume from its own log lines, json and pretty,
    written to a file at the default level; perf from its own clock; DRAIN_RUNS runs, default 5,
    interleaved), and the CPU each spent per message: on two cores the broker sets a drain's
    pace, so CPU per message is what the role itself costs
  peak RSS of produce-server (after the c=64 load) and of consume (after draining)
  start-up: process start to /ready = 200
  RPC round trip (rpc-server + `playground call` over direct reply-to) at concurrency 1 and 16:
    p50, p99 and calls/s, next to the raw publish-and-confirm rate at the same concurrency

Prints one markdown table and writes it to target/bench/report.md. Uses only the standard
library; needs the release binary, a broker on 127.0.0.1:5672 and rabbitmqctl (to purge and
delete the bench's own queues).
"""

import calendar
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid

BIN = os.environ.get("BIN", "target/release/playground")
RUNS = int(os.environ.get("RUNS", "3"))
# A drain is short and the broker's pace varies most between drains: more runs, interleaved.
DRAIN_RUNS = int(os.environ.get("DRAIN_RUNS", "5"))
SECONDS = os.environ.get("BENCH_TIME", "5s")
DRAIN = 20_000
URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2f")
OUT = "target/bench/report.md"
TAG = uuid.uuid4().hex[:8]


def say(text):
    print(f"bench: {text}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ctl(*args):
    subprocess.run(["rabbitmqctl", "-q", *args], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def delete_exchange(name):
    ctl("eval", f'rabbit_exchange:delete(rabbit_misc:r(<<"/">>, exchange, <<"{name}">>), '
                f'false, <<"bench">>).')


def perf(*args):
    """Runs playground perf --json and returns its summary."""
    out = subprocess.run([BIN, "perf", "--json", "--amqp-url", URL, *args], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def get(url, timeout=1.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return None, ""


def wait_ready(base, limit=30.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if get(f"{base}/ready", 0.5)[0] == 200:
            return
        time.sleep(0.002)
    raise SystemExit(f"bench: {base} not ready within {limit} s")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def metric(base, name):
    status, text = get(f"{base}/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def children_cpu_seconds():
    """User + system CPU of every child this script has waited for: around one child's run, the
    CPU that child used, start-up and shutdown included (small next to 20,000 messages)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(values):
    return statistics.median(values)


def start_server(queue, exchanges):
    port = free_port()
    process = subprocess.Popen(
        [BIN, "produce-server", "--port", str(port), "--bind", "127.0.0.1", "--queue", queue,
         "--topic-exchange", exchanges[0], "--direct-exchange", exchanges[1],
         "--fanout-exchange", exchanges[2], "--headers-exchange", exchanges[3], "--amqp-url", URL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, f"http://127.0.0.1:{port}"


def bench_http(rows):
    queue = f"bench-http-{TAG}"
    raw_queue = f"bench-raw-{TAG}"
    exchanges = [f"bench-{TAG}-{kind}" for kind in ("topic", "direct", "fanout", "headers")]
    server, base = start_server(queue, exchanges)
    try:
        wait_ready(base)
        for concurrency in (1, 16, 64):
            http, raw = [], []
            for run in range(RUNS):
                ctl("purge_queue", queue)
                http.append(perf("--http", base, "--concurrency", str(concurrency),
                                 "--time", SECONDS))
                ctl("purge_queue", queue)
                # Same work for the broker: persistent messages into a durable classic queue.
                raw.append(perf("--producers", "1", "--consumers", "0", "--confirm",
                                str(concurrency), "--persistent", "--queue", raw_queue,
                                "--time", SECONDS))
                ctl("purge_queue", raw_queue)
                say(f"c={concurrency} run {run + 1}: http {http[-1]['confirmed_per_s']} req/s, "
                    f"raw {raw[-1]['confirmed_per_s']} msg/s")
            rate = median([r["confirmed_per_s"] for r in http])
            ceiling = median([r["confirmed_per_s"] for r in raw])
            p50 = median([r["latency"]["p50_ms"] for r in http])
            p99 = median([r["latency"]["p99_ms"] for r in http])
            target = 0.70 if concurrency == 64 else (0.80 if concurrency == 1 else None)
            rows.append((f"produce-server POST /send-message, c={concurrency} (req/s)",
                         f"{rate:.0f}", f"{ceiling:.0f} (perf --confirm {concurrency})",
                         ratio(rate, ceiling), f">= {target:.0%}" if target else "-",
                         verdict(rate / ceiling >= target) if target else "-"))
            rows.append((f"  latency c={concurrency}: p50 / p99 (ms)", f"{p50} / {p99}", "-", "-",
                         "p99 < 15 ms" if concurrency == 64 else "-",
                         verdict(p99 < 15) if concurrency == 64 else "-"))
        rss = peak_rss_mib(server.pid)
        rows.append(("produce-server peak RSS after the c=64 load (MiB)", f"{rss:.1f}", "-", "-",
                     "< 20 MiB", verdict(rss < 20)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        for name in (queue, raw_queue):
            ctl("delete_queue", name)
        for name in exchanges:
            delete_exchange(name)


def fill(queue):
    subprocess.run([BIN, "send", "--queue", queue, "--count", str(DRAIN), "--quiet",
                    "--amqp-url", URL, "Task"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def first_to_last(log_path, message):
    """Messages per second between the first and the last log line saying `message`.

    The time is read from each line itself (a JSON line's "timestamp", or a pretty line's first
    word), so the rate needs nothing from the process while it works: polling its /metrics fast
    enough to time it would take CPU from the process being timed on a 2-core machine.
    """
    stamps = []
    with open(log_path, errors="replace") as log:
        for line in log:
            if line.startswith("{"):
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("message") == message:
                    stamps.append(event["timestamp"])
            elif f" {message} " in line or line.rstrip().endswith(f" {message}"):
                stamps.append(line.split()[0])
    if len(stamps) < 2:
        raise SystemExit(f"bench: fewer than two '{message}' lines in {log_path}")
    first, last = (parse_rfc3339(stamps[0]), parse_rfc3339(stamps[-1]))
    return (len(stamps) - 1) / max(last - first, 1e-6)


def parse_rfc3339(stamp):
    """Seconds since the epoch of `2026-11-30T15:42:09.914800Z` (any fraction length)."""
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float("0." + fraction) if fraction else 0.0)


def drain_with_consume(queue, prefetch, log_format):
    """Rate from the first ack to the last, read off consume's own log lines (the role logs at
    its default level, info, to a file); and peak RSS. Completion is noticed by asking /metrics
    four times a second, which costs the process nothing that matters."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cpu_before = children_cpu_seconds()
    log_path = f"target/bench/consume-{TAG}-{prefetch}-{log_format}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [BIN, "consume", "--queue", queue, "--prefetch", str(prefetch), "--health-port",
             str(port), "--health-bind", "127.0.0.1", "--summary-every", "0s", "--log-format",
             log_format, "--amqp-url", URL], stdout=log, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if metric(base, "playground_messages_acked_total") >= DRAIN:
                rss = peak_rss_mib(process.pid)
                break
            time.sleep(0.25)
        else:
            raise SystemExit("bench: consume did not drain the queue within 120 s")
    finally:
        process.terminate()
        process.wait(timeout=30)
    cpu_us = (children_cpu_seconds() - cpu_before) / DRAIN * 1e6
    rate = first_to_last(log_path, "acked")
    os.remove(log_path)
    return rate, cpu_us, rss


def drain_with_perf(queue, prefetch):
    """The raw ceiling: perf's consumer (the shared consuming path, an ack per message and
    nothing else) on the same queue, timed by its own clock; and its CPU per message."""
    cpu_before = children_cpu_seconds()
    summary = perf("--producers", "0", "--consumers", "1", "--prefetch", str(prefetch),
                   "--queue", queue, "--count", str(DRAIN))
    cpu_us = (children_cpu_seconds() - cpu_before) / DRAIN * 1e6
    return summary["received_per_s_first_to_last"], cpu_us


def bench_drain(rows):
    queue = f"bench-drain-{TAG}"
    peak = 0.0
    os.makedirs("target/bench", exist_ok=True)
    try:
        for prefetch in (1, 100):
            rates = {"raw": [], "json": [], "pretty": []}
            cpu = {"raw": [], "json": [], "pretty": []}
            for run in range(DRAIN_RUNS):
                fill(queue)
                rate, cpu_us = drain_with_perf(queue, prefetch)
                rates["raw"].append(rate)
                cpu["raw"].append(cpu_us)
                ctl("purge_queue", queue)
                for log_format in ("json", "pretty"):
                    fill(queue)
                    rate, cpu_us, rss = drain_with_consume(queue, prefetch, log_format)
                    rates[log_format].append(rate)
                    cpu[log_format].append(cpu_us)
                    peak = max(peak, rss)
                say(f"drain prefetch {prefetch} run {run + 1}: " + ", ".join(
                    f"{who} {rates[who][-1]:.0f} msg/s {cpu[who][-1]:.0f} us/msg"
                    for who in rates))
            ceiling = median(rates["raw"])
            raw_cpu = median(cpu["raw"])
            for log_format in ("json", "pretty"):
                rate = median(rates[log_format])
                rows.append((f"consume draining {DRAIN:,} at prefetch {prefetch}, {log_format} "
                             f"log to a file (msg/s)", f"{rate:.0f}",
                             f"{ceiling:.0f} (perf consumer)", ratio(rate, ceiling), ">= 90%",
                             verdict(rate / ceiling >= 0.9)))
            for log_format in ("json", "pretty"):
                rows.append((f"  CPU per message, prefetch {prefetch}, {log_format} (us)",
                             f"{median(cpu[log_format]):.0f}", f"{raw_cpu:.0f} (perf consumer)",
                             ratio(median(cpu[log_format]), raw_cpu), "-", "-"))
        rows.append(("consume peak RSS while draining (MiB)", f"{peak:.1f}", "-", "-", "< 15 MiB",
                     verdict(peak < 15)))
    finally:
        ctl("delete_queue", queue)


def bench_startup(rows):
    queue = f"bench-start-{TAG}"
    exchanges = [f"bench-start-{TAG}-{kind}" for kind in ("topic", "direct", "fanout", "headers")]
    times = []
    try:
        for _ in range(RUNS):
            started = time.monotonic()
            server, base = start_server(queue, exchanges)
            wait_ready(base)
            times.append((time.monotonic() - started) * 1000)
            server.terminate()
            server.wait(timeout=30)
        ms = median(times)
        rows.append(("start-up: process start to /ready = 200 (ms)", f"{ms:.0f}", "-", "-",
                     "< 200 ms", verdict(ms < 200)))
    finally:
        ctl("delete_queue", queue)
        for name in exchanges:
            delete_exchange(name)


RPC_CALLS = {1: 2_000, 16: 10_000}


def call(queue, concurrency):
    """One `playground call` run; returns its summary as a dict of floats."""
    done = subprocess.run(
        [BIN, "call", "--rpc-queue", queue, "--count", str(RPC_CALLS[concurrency]),
         "--concurrency", str(concurrency), "--quiet", "--amqp-url", URL, "bench"],
        capture_output=True, text=True, timeout=300)
    summary = next((line for line in done.stdout.splitlines() if line.startswith("calls=")), "")
    if done.returncode != 0 or not summary:
        raise SystemExit(f"bench: call failed ({done.returncode}): {done.stdout[-500:]}{done.stderr[-500:]}")
    return {key: float(value) for key, value in (pair.split("=") for pair in summary.split())}


def bench_rpc(rows):
    queue = f"bench-rpc-{TAG}"
    raw_queue = f"bench-rpc-raw-{TAG}"
    server = subprocess.Popen(
        [BIN, "rpc-server", "--queue", queue, "--prefetch", "16", "--health-port", "0",
         "--amqp-url", URL],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.5)
        for concurrency in (1, 16):
            calls, raw = [], []
            for run in range(RUNS):
                calls.append(call(queue, concurrency))
                raw.append(perf("--producers", "1", "--consumers", "0", "--confirm",
                                str(concurrency), "--queue", raw_queue, "--time", SECONDS))
                ctl("purge_queue", raw_queue)
                say(f"rpc c={concurrency} run {run + 1}: {calls[-1]['calls_per_s']:.0f} calls/s, "
                    f"p50 {calls[-1]['p50_ms']} ms; raw {raw[-1]['confirmed_per_s']} msg/s")
            rate = median([c["calls_per_s"] for c in calls])
            ceiling = median([r["confirmed_per_s"] for r in raw])
            p50 = median([c["p50_ms"] for c in calls])
            p99 = median([c["p99_ms"] for c in calls])
            rows.append((f"RPC round trip, c={concurrency} (calls/s)", f"{rate:.0f}",
                         f"{ceiling:.0f} (perf --confirm {concurrency}, one way)",
                         ratio(rate, ceiling), "-", "-"))
            rows.append((f"  RPC c={concurrency}: p50 / p99 (ms)", f"{p50:.2f} / {p99:.2f}", "-",
                         "-", "-", "-"))
    finally:
        server.terminate()
        server.wait(timeout=30)
        ctl("delete_queue", raw_queue)


def ratio(ours, ceiling):
    return f"{ours / ceiling:.0%}" if ceiling else "-"


def verdict(ok):
    return "met" if ok else "MISSED"


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit(f"bench: {BIN} not found; run 'make build' first")
    rows = []
    started = time.monotonic()
    cpus = os.cpu_count()
    bench_startup(rows)
    bench_http(rows)
    bench_drain(rows)
    bench_rpc(rows)
    header = ("| figure | playground | raw AMQP ceiling (same run) | ratio | target | |\n"
              "| --- | --- | --- | --- | --- | --- |\n")
    table = header + "".join("| " + " | ".join(row) + " |\n" for row in rows)
    note = (f"\nMedian of {RUNS} runs of {SECONDS} each (drains: {DRAIN_RUNS} runs of "
            f"{DRAIN:,} messages), "
            f"{time.strftime('%Y-%m-%d')}, {cpus} CPUs, broker, load and service on one machine; "
            f"took {time.monotonic() - started:.0f} s.\n")
    print(table + note)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as report:
        report.write(table + note)
    say(f"written to {OUT}")


if __name__ == "__main__":
    main()
