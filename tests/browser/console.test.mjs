// The lab console in a real headless Chromium: the lab (produce-server, worker-fast, worker-slow,
// error-handler) is started by scripts/test-browser.sh, which passes its URL in CONSOLE_URL.
// A burst of 20 from the form must spread over both consumers (the slow one gets fewer), an
// app.error published from the form must reach error-handler, the page must log no error and fit
// a phone's width. Screenshots go to SCREENSHOT_DIR (the script uses target/browser).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.CONSOLE_URL ?? "http://127.0.0.1:3000/";
const screenshots = process.env.SCREENSHOT_DIR ?? "target/browser";
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
// Long enough for a loaded CI machine, short enough that a broken page fails within the minute.
const WAIT = 20_000;

const tid = (id) => `[data-testid="${id}"]`;

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

  it("spreads a burst of 20 from the form over both consumers, fewer to the slow one", async () => {
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
  });

  it("publishes app.error from the form and shows it reached error-handler", async () => {
    await page.selectOption(tid("publish-exchange"), "topic");
    await page.fill(tid("publish-key"), "app.error");
    await page.fill(tid("publish-message"), "payment failed");
    const published = await submit(page, "publish-submit", "/publish");
    assert.equal(published.state, "ok", published.text);
    assert.match(published.text, /^routed:/);
    const cell = page.locator(tid("cell-app.error-error-handler"));
    await cell.filter({ hasText: /^1$/ }).waitFor();
    // Let the bars settle, then keep the picture the README shows.
    await page.waitForTimeout(700);
    await page.screenshot({ path: join(screenshots, "console.png"), fullPage: true });
  });

  it("fits a phone's width", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(300);
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
