// The lab console without a broker: serves the page exactly as produce-server does (page.html with
// topology.css, topology-layout.js and topology.js inlined at their markers, as console/mod.rs
// builds it) at `/`, and
// at `/events` replays a fixture's documents (tests/browser/fixtures/*.json) as Server-Sent Events:
// one every REPLAY_MS, then the last one again every second, as the real console refreshes.
//
// `/?fixture=NAME` picks the fixture for that browser (a cookie, since the page's EventSource asks
// for plain /events); `&replay=last` sends only the final document, to show that the picture does
// not depend on the documents before it.
//
// Used by topology-layout.test.mjs; by hand: node tests/browser/fixture-server.mjs [PORT], then
// open http://127.0.0.1:PORT/?fixture=work-queue (or pubsub, rpc, big).
import { readFileSync, readdirSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const consoleDir = join(here, "../../src/roles/produce_server/console");
const fixturesDir = join(here, "fixtures");
const REPLAY_MS = 400;
const REFRESH_MS = 1000;

/** The page as the binary serves it (the same markers as console/mod.rs replaces). */
export function buildPage() {
  const read = (name) => readFileSync(join(consoleDir, name), "utf8");
  let page = read("page.html");
  for (const file of ["topology.css", "topology-layout.js", "topology.js"]) {
    const marker = `/* ${file} */`;
    if (page.split(marker).length !== 2) throw new Error(`page.html must hold ${marker} exactly once`);
    page = page.replace(marker, () => read(file));
  }
  return page;
}

/** Every fixture by name: { description, documents }. */
export function loadFixtures() {
  const fixtures = new Map();
  for (const file of readdirSync(fixturesDir).filter((name) => name.endsWith(".json")).sort()) {
    fixtures.set(file.replace(/\.json$/, ""), JSON.parse(readFileSync(join(fixturesDir, file), "utf8")));
  }
  return fixtures;
}

function cookies(request) {
  return Object.fromEntries((request.headers.cookie ?? "").split(";").map((part) => part.trim().split("=")));
}

/** Starts the server on 127.0.0.1:`port` (0: any free port); resolves to { url, close }. */
export async function startFixtureServer(port = 0) {
  const page = buildPage();
  const fixtures = loadFixtures();
  const streams = new Set();
  const server = createServer((request, response) => {
    const url = new URL(request.url, "http://localhost");
    if (url.pathname === "/") {
      const name = url.searchParams.get("fixture") ?? "";
      if (!fixtures.has(name)) {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end(`no fixture ${JSON.stringify(name)}; try ${[...fixtures.keys()].join(", ")}\n`);
        return;
      }
      const replay = url.searchParams.get("replay") === "last" ? "last" : "all";
      response.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "set-cookie": [`fixture=${name}; Path=/; SameSite=Strict`, `replay=${replay}; Path=/; SameSite=Strict`],
      });
      response.end(page);
    } else if (url.pathname === "/events") {
      const jar = cookies(request);
      const fixture = fixtures.get(jar.fixture);
      if (!fixture) {
        response.writeHead(404, { "content-type": "text/plain" });
        response.end("open /?fixture=NAME first\n");
        return;
      }
      response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const documents = jar.replay === "last" ? fixture.documents.slice(-1) : fixture.documents;
      let next = 0;
      const send = () => {
        response.write(`data: ${JSON.stringify(documents[Math.min(next, documents.length - 1)])}\n\n`);
        next += 1;
        timer = setTimeout(send, next < documents.length ? REPLAY_MS : REFRESH_MS);
      };
      let timer = null;
      send();
      streams.add(response);
      request.on("close", () => {
        clearTimeout(timer);
        streams.delete(response);
      });
    } else {
      response.writeHead(404, { "content-type": "text/plain" });
      response.end("not found\n");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    fixtures,
    close: () => new Promise((resolve) => {
      for (const response of streams) response.destroy();
      server.close(resolve);
    }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { url, fixtures } = await startFixtureServer(Number(process.argv[2] ?? 8099));
  console.log(`fixture server on ${url}?fixture=NAME with NAME one of ${[...fixtures.keys()].join(", ")}`);
}
