// The console's Topology diagram in headless Chromium against fixtures (tests/browser/fixtures,
// served by fixture-server.mjs): no broker, no binary. For each lab, at a desktop and a phone
// size: every node and edge of the last document is drawn with the data attributes the contract
// implies, boxes do not overlap, their text stays inside them, edges do not run through boxes, the
// page does not scroll sideways, the same document draws the same SVG whatever came before it,
// and a click (or Enter) on a queue or a consumer lists its recent messages. Then the moving dots:
// one per new move, at most 40 per document, none when the user prefers reduced motion.
// Screenshots of the panel go to SCREENSHOT_DIR (default target/browser).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { loadFixtures, startFixtureServer } from "./fixture-server.mjs";

const screenshots = process.env.SCREENSHOT_DIR ?? "target/browser";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT = 20_000;
const VIEWPORTS = [{ width: 1280, height: 800 }, { width: 390, height: 844 }];
const MAX_DOTS_PER_DOCUMENT = 40;

/** The data attributes a node's <g> must carry, from the contract (independent of the page). */
function expectedNodes(topology) {
  const known = (value) => (typeof value === "number" ? String(value) : "unknown");
  const nodes = {};
  for (const i of topology.instances) {
    nodes[i.id] = {
      kind: i.column, name: i.instance, type: i.role, purpose: "", depth: "", consumers: "", leader: "",
      stale: String(i.stale), missing: "false",
    };
  }
  for (const x of topology.exchanges) {
    nodes[x.id] = { kind: "exchange", name: x.name, type: x.type, purpose: "", depth: "", consumers: "", leader: "", stale: "false", missing: "false" };
  }
  for (const q of topology.queues) {
    nodes[q.id] = {
      kind: "queue", name: q.name, type: q.type, purpose: q.purpose, depth: known(q.depth),
      consumers: known(q.consumers), leader: q.leader ?? "", stale: "false", missing: String(q.missing),
    };
  }
  return nodes;
}

function expectedEdges(topology) {
  return Object.fromEntries(topology.edges.map((e) => [e.id, {
    kind: e.kind, from: e.from, to: e.to, key: e.label, count: String(e.count), rate: String(e.rate),
    active: String(e.rate > 0),
  }]));
}

/** Everything the assertions need, read from the page in one go. */
function readDiagram() {
  const svg = document.querySelector('svg[data-testid="topology"]');
  const attrs = (el, names) => Object.fromEntries(names.map((name) => [name, el.getAttribute("data-" + name)]));
  const rect = (r) => ({ x: r.left, y: r.top, w: r.width, h: r.height });
  const nodes = {};
  const boxes = [];
  for (const g of svg.querySelectorAll("g[data-node]")) {
    nodes[g.dataset.node] = attrs(g, ["kind", "name", "type", "purpose", "depth", "consumers", "leader", "stale", "missing"]);
    boxes.push({
      id: g.dataset.node,
      box: rect(g.querySelector("rect.tp-box").getBoundingClientRect()),
      texts: [...g.querySelectorAll("text")].map((t) => ({ text: t.textContent, ...rect(t.getBoundingClientRect()) })),
    });
  }
  const edges = {};
  const crossings = [];
  const svgBox = svg.getBoundingClientRect();
  const matrix = svg.getScreenCTM();
  for (const path of svg.querySelectorAll("path[data-edge]")) {
    edges[path.dataset.edge] = attrs(path, ["kind", "from", "to", "key", "count", "rate", "active"]);
    // Sample the path every 3 px: no point may fall inside a box (shrunk by 2 px: ends touch sides).
    const length = path.getTotalLength();
    for (let at = 0; at <= length; at += 3) {
      const p = path.getPointAtLength(at).matrixTransform(matrix);
      const inside = boxes.find(({ box }) => p.x > box.x + 2 && p.x < box.x + box.w - 2 && p.y > box.y + 2 && p.y < box.y + box.h - 2);
      if (inside) {
        crossings.push(`${path.dataset.edge} runs through ${inside.id}`);
        break;
      }
    }
  }
  const clone = svg.cloneNode(true);
  for (const dot of clone.querySelectorAll(".dot")) dot.remove();
  return {
    nodes, edges, boxes, crossings,
    markup: clone.outerHTML,
    svgWidth: svgBox.width,
    containerWidth: svg.parentElement.clientWidth,
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  };
}

const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

describe("topology diagram on fixtures", () => {
  let server;
  let browser;

  before(async () => {
    mkdirSync(screenshots, { recursive: true });
    server = await startFixtureServer(0);
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      // Chromium's sandbox cannot start as root (CI runs as root).
      args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /**
   * Opens a fixture and waits until its last document is drawn (every edge shows its final count).
   * A counter of the dots ever added is installed before the page runs.
   */
  async function open(name, viewport, { replay = "all", reducedMotion = "no-preference" } = {}) {
    const context = await browser.newContext({ viewport, reducedMotion });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT);
    const errors = [];
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(`console.error: ${msg.text()}`);
    });
    page.on("pageerror", (error) => errors.push(`uncaught: ${error.stack || error}`));
    await page.addInitScript(() => {
      window.dotsAdded = [];
      new MutationObserver((records) => {
        for (const record of records) {
          for (const node of record.addedNodes) {
            if (node.classList?.contains("dot")) window.dotsAdded.push(node.getAttribute("data-move-kind"));
          }
        }
      }).observe(document, { subtree: true, childList: true });
    });
    const response = await page.goto(`${server.url}?fixture=${name}&replay=${replay}`);
    assert.equal(response.status(), 200);
    const documents = server.fixtures.get(name).documents;
    const final = documents[documents.length - 1].topology;
    await page.waitForFunction((edges) => {
      const drawn = new Map([...document.querySelectorAll("path[data-edge]")].map((p) => [p.dataset.edge, p.dataset.count]));
      return edges.every(([id, count]) => drawn.get(id) === String(count));
    }, final.edges.map((e) => [e.id, e.count]));
    return { context, page, errors, final, documents };
  }

  for (const name of loadFixtures().keys()) {
    for (const viewport of VIEWPORTS) {
      it(`${name} at ${viewport.width}×${viewport.height}`, async () => {
        const { context, page, errors, final } = await open(name, viewport);
        try {
          const drawn = await page.evaluate(readDiagram);
          assert.deepEqual(drawn.nodes, expectedNodes(final), "nodes and their data attributes");
          assert.deepEqual(drawn.edges, expectedEdges(final), "edges and their data attributes");

          for (let i = 0; i < drawn.boxes.length; i++) {
            for (let j = i + 1; j < drawn.boxes.length; j++) {
              const [a, b] = [drawn.boxes[i], drawn.boxes[j]];
              assert.ok(!overlaps(a.box, b.box), `${a.id} overlaps ${b.id}: ${JSON.stringify([a.box, b.box])}`);
            }
          }
          for (const { id, box, texts } of drawn.boxes) {
            for (const t of texts) {
              assert.ok(t.x >= box.x - 0.5 && t.x + t.w <= box.x + box.w + 0.5,
                `text "${t.text}" of ${id} overflows its box: ${JSON.stringify({ t, box })}`);
            }
          }
          assert.deepEqual(drawn.crossings, [], "edges running through boxes");
          assert.ok(drawn.svgWidth <= drawn.containerWidth, `diagram ${drawn.svgWidth}px in ${drawn.containerWidth}px`);
          assert.ok(drawn.scrollWidth <= drawn.innerWidth,
            `page is ${drawn.scrollWidth}px wide in a ${drawn.innerWidth}px viewport`);
          await page.locator("#topology-panel").screenshot({
            path: join(screenshots, `topology-fixture-${name}-${viewport.width}.png`),
          });

          // Deterministic: the last document alone draws the same SVG as the whole replay.
          const alone = await open(name, viewport, { replay: "last" });
          try {
            const again = await alone.page.evaluate(readDiagram);
            assert.equal(again.markup, drawn.markup, "the same document drew a different SVG");
            assert.deepEqual(alone.errors, []);
          } finally {
            await alone.context.close();
          }

          // A click on a queue lists its recent messages, newest first, by message id.
          const queue = final.queues.find((q) => (final.recent[q.id] ?? []).length > 0);
          await page.locator(`g[data-node="${queue.id}"]`).click();
          const recent = page.locator(`[data-testid="topology-recent"][data-node="${queue.id}"]`);
          await recent.waitFor();
          assert.deepEqual(await recent.locator("li[data-message-id]").evaluateAll((items) => items.map((li) => li.dataset.messageId)),
            final.recent[queue.id].map((m) => m.message_id));
          // Enter on a focused consumer does the same.
          const consumer = final.instances.find((i) => i.column === "consumer" && (final.recent[i.id] ?? []).length > 0);
          await page.locator(`g[data-node="${consumer.id}"]`).focus();
          await page.keyboard.press("Enter");
          await page.locator(`[data-testid="topology-recent"][data-node="${consumer.id}"] li[data-message-id="${final.recent[consumer.id][0].message_id}"]`).waitFor();

          assert.deepEqual(errors, [], "the page logged errors");
        } finally {
          await context.close();
        }
      });
    }
  }

  it("animates one dot per new move, at most 40 per document, none with reduced motion", async () => {
    // The whole replay: every document's new moves (fewer than 40 each) become dots.
    const replay = await open("work-queue", VIEWPORTS[0]);
    try {
      const moves = new Map(replay.documents.flatMap((doc) => doc.topology.moves.map((m) => [m.seq, m.kind])));
      await replay.page.waitForFunction((count) => window.dotsAdded.length >= count, moves.size);
      await replay.page.waitForTimeout(1200); // a repeated document must not start any again
      const kinds = await replay.page.evaluate(() => window.dotsAdded);
      assert.deepEqual(kinds.slice().sort(), [...moves.values()].sort());
    } finally {
      await replay.context.close();
    }
    // One document with 60 unseen moves: the newest 40 only.
    const burst = await open("big", VIEWPORTS[0], { replay: "last" });
    try {
      await burst.page.waitForFunction((count) => window.dotsAdded.length >= count, MAX_DOTS_PER_DOCUMENT);
      await burst.page.waitForTimeout(1500);
      assert.equal(await burst.page.evaluate(() => window.dotsAdded.length), MAX_DOTS_PER_DOCUMENT);
    } finally {
      await burst.context.close();
    }
    // Reduced motion: counts update, nothing moves.
    const calm = await open("work-queue", VIEWPORTS[0], { reducedMotion: "reduce" });
    try {
      await calm.page.waitForTimeout(1200);
      assert.deepEqual(await calm.page.evaluate(() => window.dotsAdded), []);
      const animations = await calm.page.evaluate(() =>
        [...document.querySelectorAll('path[data-active="true"]')].map((p) => getComputedStyle(p).animationName));
      assert.ok(animations.length > 0 && animations.every((name) => name === "none"), `animations: ${animations}`);
    } finally {
      await calm.context.close();
    }
  });
});
