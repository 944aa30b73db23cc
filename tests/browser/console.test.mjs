// The lab console in a real headless Chromium: the lab (produce-server, worker-fast, worker-slow,
// error-handler, audit, logger, poison-worker) is started by scripts/test-browser.sh, which passes
// its URL in CONSOLE_URL, the prefix of its names in LAB_PREFIX and the binary in PLAYGROUND_BIN.
// A burst of 20 from the form must spread over both consumers (the slow one gets fewer), an
// app.error published from the form must reach error-handler, the page must log no error and fit
// a phone's width. The topology diagram must show the lab's exact shape, the burst in the work
// queue's depth and consume edges, app.error on the *.error subscriber's edges only, and a poison
// message on the dead-letter edge and in the DLQ. Screenshots go to SCREENSHOT_DIR (the script
// uses target/browser).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";

const url = process.env.CONSOLE_URL ?? "http://127.0.0.1:3000/";
const screenshots = process.env.SCREENSHOT_DIR ?? "target/browser";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const playground = process.env.PLAYGROUND_BIN ?? "target/release/playground";
// Long enough for a loaded CI machine, short enough that a broken page fails within the minute.
const WAIT = 20_000;
// The lab's names, as scripts/test-browser.sh gives them.
const prefix = process.env.LAB_PREFIX ?? "";
const lab = {
  queue: `${prefix}-q`, poison: `${prefix}-poison`, topic: `${prefix}-topic`, fanout: `${prefix}-fanout`,
  telemetry: `${prefix}-telemetry`,
};

const tid = (id) => `[data-testid="${id}"]`;

/** The diagram as drawn: every node's and edge's data attributes (counts as numbers). */
function readTopology(page) {
  return page.evaluate(() => {
    const svg = document.querySelector('svg[data-testid="topology"]');
    return {
      nodes: [...svg.querySelectorAll("g[data-node]")].map((g) => ({ ...g.dataset })),
      edges: [...svg.querySelectorAll("path[data-edge]")].map((p) => ({ ...p.dataset, count: Number(p.dataset.count) })),
    };
  });
}

/**
 * The lab's shape in words, for exact comparison: names without the lab's prefix ("P-q"), the
 * default exchange as "(default)", and server-named queues (amq.gen-…) by what is bound to them.
 */
function labShape({ nodes, edges }) {
  const short = (name) => (name.startsWith(prefix + "-") ? "P" + name.slice(prefix.length) : name);
  const node = new Map(nodes.map((n) => [n.node, n]));
  const exchange = (id) => (node.get(id).name === "" ? "(default)" : short(node.get(id).name));
  const queue = (id) => {
    const name = node.get(id).name;
    if (!name.startsWith("amq.gen-")) return short(name);
    const bound = edges.filter((e) => e.kind === "binding" && e.to === id)
      .map((e) => exchange(e.from) + (e.key ? " " + e.key : "")).sort();
    return `amq.gen[${bound.join(", ")}]`;
  };
  const of = (kind) => edges.filter((e) => e.kind === kind);
  return {
    exchanges: nodes.filter((n) => n.kind === "exchange").map((n) => exchange(n.node)).sort(),
    queues: nodes.filter((n) => n.kind === "queue").map((n) => `${queue(n.node)} (${n.purpose})`).sort(),
    consumers: nodes.filter((n) => n.kind === "consumer").map((n) => n.name).sort(),
    bindings: of("binding").map((e) => `${exchange(e.from)} → ${queue(e.to)} [${short(e.key)}]`).sort(),
    consumes: of("consume").map((e) => `${queue(e.from)} → ${node.get(e.to).name}`).sort(),
    deadLetters: of("dead-letter").map((e) => `${queue(e.from)} → ${exchange(e.to)}`).sort(),
  };
}

/** What the lab declares, before any message: the default exchange is drawn once it carries some. */
const DECLARED = {
  exchanges: ["P-direct", "P-fanout", "P-headers", "P-poison.dlx", "P-topic"],
  queues: [
    "P-poison (work)", "P-poison.dead-letter (dead-letter)", "P-q (work)", "amq.gen[P-fanout] (subscriber)",
    "amq.gen[P-topic *.error] (subscriber)", "amq.gen[P-topic audit.#] (subscriber)",
  ],
  consumers: ["audit", "error-handler", "logger", "poison-worker", "worker-fast", "worker-slow"],
  bindings: [
    "P-fanout → amq.gen[P-fanout] []", "P-poison.dlx → P-poison.dead-letter []",
    "P-topic → amq.gen[P-topic *.error] [*.error]", "P-topic → amq.gen[P-topic audit.#] [audit.#]",
  ],
  consumes: [
    "P-poison → poison-worker", "P-q → worker-fast", "P-q → worker-slow", "amq.gen[P-fanout] → logger",
    "amq.gen[P-topic *.error] → error-handler", "amq.gen[P-topic audit.#] → audit",
  ],
  deadLetters: ["P-poison → P-poison.dlx"],
};

/** The lab's shape without the default exchange and its implicit bindings. */
function declaredShape(topology) {
  const shape = labShape(topology);
  return {
    ...shape,
    exchanges: shape.exchanges.filter((x) => x !== "(default)"),
    bindings: shape.bindings.filter((b) => !b.startsWith("(default) ")),
  };
}

/** Reads the diagram until `check` holds; on time-out, fails with `explain` of the last reading. */
async function untilTopology(page, check, explain) {
  const deadline = Date.now() + WAIT;
  let topology = await readTopology(page);
  while (!check(topology)) {
    if (Date.now() > deadline) {
      explain(topology);
      assert.fail("the diagram did not get there in time");
    }
    await page.waitForTimeout(200);
    topology = await readTopology(page);
  }
  return topology;
}

/** The edge counts the lessons are about, found by what the edges connect. */
function watchedCounts({ edges }) {
  const find = (test) => edges.find(test);
  const binding = (exchange, key) => find((e) => e.kind === "binding" && e.from === `x:${exchange}` && e.key === key);
  const consumed = (queueId) => edges.filter((e) => e.kind === "consume" && e.from === queueId)
    .reduce((sum, e) => sum + e.count, 0);
  const pair = (edge) => (edge ? [edge.count, consumed(edge.to)] : [NaN, NaN]);
  const deadLetter = find((e) => e.kind === "dead-letter" && e.from === `q:${lab.poison}`);
  return {
    work: consumed(`q:${lab.queue}`),
    error: pair(binding(lab.topic, "*.error")),
    audit: pair(binding(lab.topic, "audit.#")),
    logger: pair(binding(lab.fanout, "")),
    deadLettered: deadLetter ? deadLetter.count : NaN,
  };
}

const nodeAttr = (topology, id, name) => topology.nodes.find((n) => n.node === id)?.[name];

/** Clicks a form's submit button and returns the outcome the page shows for that request. */
async function submit(page, button, endpoint) {
  const result = page.locator(tid("result"));
  const before = Number((await result.getAttribute("data-count")) ?? 0);
  await page.click(tid(button));
  await page.waitForFunction(
    ([seen, path]) => {
      const box = document.querySelector('[data-testid="result"]');
      return Number(box.dataset.count ?? 0) > seen && box.dataset.endpoint === path;
    },
    [before, endpoint],
  );
  return { state: await result.getAttribute("data-state"), text: (await result.textContent()).trim() };
}

describe("lab console", () => {
  let browser;
  let page;
  const errors = [];

  before(async () => {
    assert.ok(prefix, "LAB_PREFIX (the prefix of the lab's names) is needed: run scripts/test-browser.sh");
    mkdirSync(screenshots, { recursive: true });
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      // Chromium's sandbox cannot start as root (CI runs as root).
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(WAIT);
    page.on("console", (msg) => {
      if (msg.type() === "error") {
        const { url: where, lineNumber } = msg.location();
        errors.push(`console.error: ${msg.text()} (${where}:${lineNumber})`);
      }
    });
    page.on("pageerror", (error) => errors.push(`uncaught: ${error.stack || error}`));
    const response = await page.goto(url);
    assert.equal(response.status(), 200, `GET ${url} answered ${response.status()}`);
    assert.match(response.headers()["content-type"] ?? "", /text\/html/);
  });

  after(async () => {
    await browser?.close();
  });

  it("shows a live card for every role of the lab", async () => {
    for (const name of ["worker-fast", "worker-slow", "error-handler"]) {
      const card = page.locator(tid(`card-${name}`)).first();
      await card.waitFor();
      await page.locator(`${tid(`card-${name}`)} ${tid(`connection-${name}`)}`).first()
        .filter({ hasText: /^connected$/ }).waitFor();
      // The broker node the instance sits on (host:port), which matters in a cluster.
      await page.locator(`${tid(`card-${name}`)} ${tid(`node-${name}`)}`).first()
        .filter({ hasText: /^[^:\s]+:\d+$/ }).waitFor();
    }
    await page.locator('[data-role="produce-server"]').first().waitFor();
    await page.locator(`${tid("stream-status")}[data-state="ok"]`).waitFor();
  });

  it("draws the lab's topology: exactly its exchanges, queues, bindings and consumers", async () => {
    const topology = await untilTopology(page,
      (t) => JSON.stringify(declaredShape(t)) === JSON.stringify(DECLARED),
      (t) => assert.deepEqual(declaredShape(t), DECLARED));
    assert.ok(topology.nodes.some((n) => n.kind === "producer" && n.type === "produce-server"), "no produce-server drawn");
    // Depths are "unknown" until produce-server's first probe of the broker, then the truth: 0.
    const empty = [`q:${lab.queue}`, `q:${lab.poison}`];
    await untilTopology(page, (t) => empty.every((id) => nodeAttr(t, id, "depth") === "0"),
      (t) => assert.deepEqual(empty.map((id) => nodeAttr(t, id, "depth")), empty.map(() => "0")));
  });

  it("spreads a burst of 20 from the form over both consumers, fewer to the slow one", async () => {
    const before = watchedCounts(await readTopology(page));
    // The work queue's depth, as drawn, at its highest while the burst drains.
    await page.evaluate((id) => {
      window.deepest = 0;
      const node = () => document.querySelector(`g[data-node="${id}"]`);
      new MutationObserver(() => {
        window.deepest = Math.max(window.deepest, Number(node()?.dataset.depth) || 0);
      }).observe(document.querySelector('svg[data-testid="topology"]'), {
        subtree: true, attributes: true, attributeFilter: ["data-depth"],
      });
    }, `q:${lab.queue}`);
    await page.fill(tid("burst-count"), "20");
    await page.fill(tid("burst-message"), "");
    const sent = await submit(page, "burst-submit", "/send-burst");
    assert.equal(sent.state, "ok", sent.text);

    const counts = async () => {
      const read = async (name) => {
        const bar = page.locator(tid(`bar-count-${name}`));
        return (await bar.count()) ? Number(await bar.first().textContent()) : 0;
      };
      return { fast: await read("worker-fast"), slow: await read("worker-slow") };
    };
    const deadline = Date.now() + WAIT;
    let seen = await counts();
    while (seen.fast + seen.slow < 20 && Date.now() < deadline) {
      await page.waitForTimeout(200);
      seen = await counts();
    }
    assert.equal(seen.fast + seen.slow, 20, `bars: ${JSON.stringify(seen)}`);
    assert.ok(seen.slow < seen.fast, `worker-slow should handle fewer: ${JSON.stringify(seen)}`);

    // The diagram: 20 more along the work queue's consume edges, the queue filled then drained.
    await untilTopology(page,
      (t) => watchedCounts(t).work === before.work + 20 && nodeAttr(t, `q:${lab.queue}`, "depth") === "0",
      (t) => assert.deepEqual({ consumed: watchedCounts(t).work, depth: nodeAttr(t, `q:${lab.queue}`, "depth") },
        { consumed: before.work + 20, depth: "0" }));
    const deepest = await page.evaluate(() => window.deepest);
    assert.ok(deepest > 0, "the work queue's depth never showed the burst");
  });

  it("publishes app.error from the form and shows it reached error-handler, and only it", async () => {
    const before = watchedCounts(await readTopology(page));
    await page.selectOption(tid("publish-exchange"), "topic");
    await page.fill(tid("publish-key"), "app.error");
    await page.fill(tid("publish-message"), "payment failed");
    const published = await submit(page, "publish-submit", "/publish");
    assert.equal(published.state, "ok", published.text);
    assert.match(published.text, /^routed:/);
    const cell = page.locator(tid("cell-app.error-error-handler"));
    await cell.filter({ hasText: /^1$/ }).waitFor();

    // The diagram: one more on the *.error binding and its consumer; after a few more documents,
    // still nothing on audit.# (no match) nor on the fanout logger (another exchange).
    await untilTopology(page, (t) => watchedCounts(t).error.join() === [before.error[0] + 1, before.error[1] + 1].join(),
      (t) => assert.deepEqual(watchedCounts(t).error, before.error.map((n) => n + 1)));
    await page.waitForTimeout(1500);
    const after = watchedCounts(await readTopology(page));
    assert.deepEqual({ audit: after.audit, logger: after.logger }, { audit: before.audit, logger: before.logger });
    // Let the bars settle, then keep the picture the README shows.
    await page.waitForTimeout(700);
    await page.screenshot({ path: join(screenshots, "console.png"), fullPage: true });
  });

  it("dead-letters a poison message: along the dead-letter edge into the DLQ", async () => {
    const before = watchedCounts(await readTopology(page));
    await promisify(execFile)(playground, [
      "send", "--log-format", "json", "--telemetry-exchange", lab.telemetry, "--queue", lab.poison, "--dead-letter",
      "--service-name", `${prefix}-sender`, "poison pill: fails every time",
    ], { timeout: WAIT });
    const dlq = `q:${lab.poison}.dead-letter`;
    await untilTopology(page,
      (t) => watchedCounts(t).deadLettered >= before.deadLettered + 1 && Number(nodeAttr(t, dlq, "depth")) >= 1,
      (t) => assert.deepEqual({ deadLettered: watchedCounts(t).deadLettered, depth: nodeAttr(t, dlq, "depth") },
        { deadLettered: before.deadLettered + 1, depth: ">= 1" }));

    // Now every queue got messages through the default exchange: its implicit bindings are drawn.
    const topology = await readTopology(page);
    assert.deepEqual(labShape(topology), {
      ...DECLARED,
      exchanges: ["(default)", ...DECLARED.exchanges],
      bindings: ["(default) → P-poison [P-poison]", "(default) → P-q [P-q]", ...DECLARED.bindings].sort(),
    });

    // A click on the poison queue lists the message.
    await page.locator(`g[data-node="q:${lab.poison}"]`).click();
    const recent = page.locator(`${tid("topology-recent")}[data-node="q:${lab.poison}"]`);
    await recent.locator("li[data-message-id]").filter({ hasText: "poison pill" }).first().waitFor();

    await page.setViewportSize({ width: 1280, height: 800 });
    await page.waitForTimeout(500);
    await page.locator("#topology-panel").screenshot({ path: join(screenshots, "topology.png") });
  });

  it("keeps the /events document small for this lab, the diagram included", async () => {
    // One document off the stream, as a script would read it; its size is quoted in the README.
    const response = await fetch(new URL("events", url), { signal: AbortSignal.timeout(WAIT) });
    const reader = response.body.getReader();
    let text = "";
    while (!text.includes("\n\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    await reader.cancel();
    const data = text.slice(text.indexOf("data: ") + 6, text.indexOf("\n\n"));
    const view = JSON.parse(data);
    const bytes = Buffer.byteLength(data);
    const topology = Buffer.byteLength(JSON.stringify(view.topology));
    console.log(`/events document: ${bytes} bytes, topology ${topology} bytes`);
    assert.ok(bytes < 96 * 1024, `${bytes} bytes`);
  });

  it("fits a phone's width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
    assert.equal(await page.getAttribute('svg[data-testid="topology"]', "data-layout"), "stacked");
    await page.locator("#topology-panel").screenshot({ path: join(screenshots, "topology-phone.png") });
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
    }));
    await page.screenshot({ path: join(screenshots, "console-phone.png"), fullPage: true });
    assert.ok(scrollWidth <= innerWidth, `page is ${scrollWidth}px wide in a ${innerWidth}px viewport`);
  });

  it("logged no console error", () => {
    assert.deepEqual(errors, []);
  });
});
