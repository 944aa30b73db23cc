// Where everything of the console's Topology diagram goes: the `topology` object of an /events
// document (node ids i:<role>/<process>, x:<exchange>, q:<queue>; edges publish, binding, consume
// and dead-letter, with counts and rates) in, a scene out: boxes with their text cut to fit, edges
// as SVG path data with their labels, column headings. topology.js draws the scene.
//
// Hand-written, no graph library: the diagram has four fixed columns (producers, exchanges,
// queues, consumers), so a column layout is deterministic by construction and takes a few hundred
// lines, where dagre or elk would add 40-400 KB to a page that is one self-contained response, for
// layouts we do not need. The scene is a pure function of the document and the width: the same lab
// draws the same SVG whatever order the documents, or the nodes in them, arrived in.
//
// Inlined into page.html at compile time (console/mod.rs); defines one global, TopologyLayout.
"use strict";
const TopologyLayout = (() => {
  /** Node kinds in column order: left to right, or top to bottom when stacked. */
  const COLUMNS = ["producer", "exchange", "queue", "consumer"];
  const HEADINGS = ["Producers", "Exchanges", "Queues", "Consumers"];
  /** Panels narrower than this (a phone, a narrow window) get the columns stacked as rows. */
  const STACK_BELOW = 880;
  /** Text styles; set as SVG attributes from here, so that measuring and drawing agree. */
  const FONTS = {
    name: { size: 12.5, weight: 600 },
    text: { size: 11.5, weight: 400 },
    label: { size: 11, weight: 400 },
    badge: { size: 10, weight: 600 },
    heading: { size: 11, weight: 600 },
  };
  const PAD = 9; // inside a box
  const LINE = 15; // pitch of a box's text lines
  const PORT_PITCH = 17; // room per edge end on a box's side: a label is 11 px high
  const NODE_GAP = 14; // between the boxes of a column
  const HEADING_HEIGHT = 22;
  const LANE = 7; // pitch of the lanes that edges take around the columns
  const MIN_COLUMN_GAP = 130; // room for the labels between two columns
  const CORNER = 5; // radius of a routed edge's corners
  const BADGES = {
    "dead-letter": "DLQ", delay: "delay", stream: "stream", reply: "reply",
    unrouted: "unrouted", subscriber: "subscriber", rpc: "rpc",
  };

  const list = (value) => (Array.isArray(value) ? value : []);
  const num = (value) => (typeof value === "number" && isFinite(value) ? value : 0);
  const str = (value) => (value === null || value === undefined ? "" : String(value));
  /** Coordinates rounded to 0.1 px: compact markup, and identical for identical input. */
  const r1 = (value) => Math.round(value * 10) / 10;
  const fmtRate = (rate) => num(rate).toFixed(1) + "/s";
  /** A count the broker may not have told: "unknown", never a made-up 0. */
  const known = (value) => (typeof value === "number" && isFinite(value) ? String(value) : "unknown");
  const byId = (a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

  /**
   * The scene for one document at one width: `nodes` (id → node), `stacked` (rows for a narrow
   * panel), `width`, `height`, `boxes`, `edges` and `headings`, each with its coordinates.
   */
  function layout(topology, width) {
    const nodes = readNodes(topology);
    const edges = readEdges(topology, nodes);
    const stacked = width < STACK_BELOW;
    if (nodes.size === 0 || width <= 0) return { nodes, stacked, width, height: 0, boxes: [], edges: [], headings: [] };
    const columns = orderColumns(nodes, edges);
    return { nodes, stacked, ...(stacked ? layoutStacked : layoutColumns)(columns, edges, width) };
  }

  // ---- reading a document -----------------------------------------------------------------

  /** The document's nodes by id, each with its kind and column. */
  function readNodes(topology) {
    const nodes = new Map();
    const add = (data, kind) => {
      const id = str(data.id);
      if (id !== "" && !nodes.has(id)) nodes.set(id, { id, kind, column: COLUMNS.indexOf(kind), data });
    };
    for (const inst of list(topology.instances)) add(inst, inst.column === "producer" ? "producer" : "consumer");
    for (const exchange of list(topology.exchanges)) add(exchange, "exchange");
    for (const queue of list(topology.queues)) add(queue, "queue");
    return nodes;
  }

  /** The edges between known nodes of different columns (the contract never sends others). */
  function readEdges(topology, nodes) {
    const edges = [];
    const seen = new Set();
    for (const e of list(topology.edges)) {
      const id = str(e.id);
      const from = nodes.get(str(e.from));
      const to = nodes.get(str(e.to));
      if (seen.has(id) || !from || !to || from.column === to.column) continue;
      seen.add(id);
      edges.push({ id, kind: str(e.kind), from, to, label: str(e.label), count: num(e.count), rate: num(e.rate) });
    }
    return edges;
  }

  // ---- order inside the columns -----------------------------------------------------------

  /**
   * The nodes of each column, top to bottom: the document's order (the back end sorts), then a
   * few sweeps that sort each column by the barycentre of its neighbours in the column before
   * (downwards) or after (upwards), ties kept in the current order; the order with the fewest
   * crossings wins. Only the input decides, so the result is deterministic.
   */
  function orderColumns(nodes, edges) {
    const neighbours = new Map([...nodes.keys()].map((id) => [id, []]));
    for (const e of edges) {
      if (Math.abs(e.from.column - e.to.column) !== 1) continue;
      neighbours.get(e.from.id).push(e.to);
      neighbours.get(e.to.id).push(e.from);
    }
    let current = COLUMNS.map(() => []);
    for (const node of nodes.values()) current[node.column].push(node);
    let best = current;
    let fewest = crossings(best, edges);
    for (let round = 0; round < 4; round++) {
      current = current.map((column) => column.slice());
      for (let c = 1; c < COLUMNS.length; c++) sortByBarycentre(current, c, c - 1, neighbours);
      for (let c = COLUMNS.length - 2; c >= 0; c--) sortByBarycentre(current, c, c + 1, neighbours);
      const count = crossings(current, edges);
      if (count < fewest) {
        best = current;
        fewest = count;
      }
    }
    return best;
  }

  /** Positions as fractions of the column's length, so columns of different sizes compare. */
  function fractions(column) {
    return new Map(column.map((node, i) => [node.id, (i + 0.5) / column.length]));
  }

  function sortByBarycentre(columns, c, reference, neighbours) {
    const there = fractions(columns[reference]);
    const here = fractions(columns[c]);
    const keyed = columns[c].map((node) => {
      const around = neighbours.get(node.id).filter((other) => there.has(other.id));
      const key = around.length
        ? around.reduce((sum, other) => sum + there.get(other.id), 0) / around.length
        : here.get(node.id);
      return { node, key, own: here.get(node.id) };
    });
    keyed.sort((a, b) => a.key - b.key || a.own - b.own);
    columns[c] = keyed.map((entry) => entry.node);
  }

  /** Crossings between adjacent columns: pairs of edges whose ends are in opposite orders. */
  function crossings(columns, edges) {
    const position = new Map(columns.flatMap((column) => column.map((node, i) => [node.id, i])));
    let count = 0;
    for (let c = 0; c + 1 < columns.length; c++) {
      const pairs = edges
        .filter((e) => Math.min(e.from.column, e.to.column) === c && Math.abs(e.from.column - e.to.column) === 1)
        .map((e) => (e.from.column === c
          ? [position.get(e.from.id), position.get(e.to.id)]
          : [position.get(e.to.id), position.get(e.from.id)]));
      for (let i = 0; i < pairs.length; i++) {
        for (let j = i + 1; j < pairs.length; j++) {
          if ((pairs[i][0] - pairs[j][0]) * (pairs[i][1] - pairs[j][1]) < 0) count++;
        }
      }
    }
    return count;
  }

  // ---- text -------------------------------------------------------------------------------

  const measure = document.createElement("canvas").getContext("2d");
  const widths = new Map();
  let fontFamily = "";

  /** Width in px of `text` in one of FONTS, in the page's font (a canvas measures like SVG text). */
  function textWidth(text, font) {
    const key = font.weight + " " + font.size + "|" + text;
    let width = widths.get(key);
    if (width === undefined) {
      // Labels change with every count: keep the cache from growing for as long as the page is open.
      if (widths.size > 4000) widths.clear();
      fontFamily = fontFamily || getComputedStyle(document.documentElement).fontFamily;
      measure.font = font.weight + " " + font.size + "px " + fontFamily;
      width = measure.measureText(text).width;
      widths.set(key, width);
    }
    return width;
  }

  /**
   * `text` cut with an ellipsis to fit `max` px ("" when not even one character fits): at the end,
   * or in the middle for names, whose ends tell them apart (orders-queue-07.dlq, amq.gen-…Xy).
   */
  function fit(text, font, max, middle = false) {
    if (textWidth(text, font) <= max) return text;
    const chars = [...text];
    const cut = (kept) => {
      const head = middle ? Math.ceil(kept * 0.55) : kept;
      return chars.slice(0, head).join("") + "…" + chars.slice(chars.length - (kept - head)).join("");
    };
    let lo = 0;
    let hi = chars.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (textWidth(cut(mid), font) <= max) lo = mid;
      else hi = mid - 1;
    }
    return lo > 0 ? cut(lo) : "";
  }

  /** What a box says: its lines (the first one bold), a purpose badge, and a tooltip. */
  function describe(node) {
    const d = node.data;
    if (node.kind === "exchange") {
      const name = str(d.name) === "" ? "(default)" : str(d.name);
      return { lines: [name, str(d.type) + " exchange"], badge: "", title: "exchange " + name + " (" + str(d.type) + ")" };
    }
    if (node.kind === "queue") {
      const facts = [str(d.type)];
      if (d.exclusive) facts.push("exclusive");
      if (d.leader) facts.push("on " + str(d.leader));
      const count = d.missing
        ? "deleted"
        : "depth " + known(d.depth) + " · " + known(d.consumers) + (d.consumers === 1 ? " consumer" : " consumers");
      return {
        lines: [str(d.name), facts.join(" · "), count],
        badge: BADGES[str(d.purpose)] || "",
        title: "queue " + str(d.name) + "\n" + str(d.type) + ", " + str(d.purpose) +
          (d.missing ? "\ndeleted: the broker says it does not exist" : "\ndepth " + known(d.depth) +
            ", consumers " + known(d.consumers)) +
          (d.leader ? "\nleader " + str(d.leader) : "") +
          (Array.isArray(d.members) && d.members.length ? "\nreplicas on " + d.members.map(str).join(", ") : ""),
      };
    }
    const role = str(d.role);
    const connection = str(d.connection);
    const where = (d.node ? str(d.node) : "node unknown") +
      (connection && connection !== "connected" ? " · " + connection : "") + (d.stale ? " · stale" : "");
    return {
      lines: [str(d.instance), role + (typeof d.prefetch === "number" ? " · prefetch " + d.prefetch : ""), where],
      badge: "",
      title: role + " " + str(d.instance) + "\n" + str(d.id) + "\n" + where,
    };
  }

  /** A box's height for its text alone. */
  const contentHeight = (described) => 2 * PAD + described.lines.length * LINE;

  /** The box's lines cut to its width; the badge takes room from the second line, not the name. */
  function fitLines(described, width) {
    const room = width - 2 * PAD - 2;
    const badgeRoom = described.badge ? textWidth(described.badge, FONTS.badge) + 16 : 0;
    return described.lines.map((line, i) => i === 0
      ? fit(line, FONTS.name, room, true)
      : fit(line, FONTS.text, i === 1 ? room - badgeRoom : room));
  }

  /** The label end of an edge: where its label stands (the end with the fewest edges, usually). */
  const labelAtSource = (edge) => edge.kind === "publish" || edge.kind === "dead-letter";

  /**
   * An edge's label: its key (not repeated for the default exchange's binding, whose key is the
   * queue's name), then its message count and rate; the key is cut first, the numbers always fit.
   */
  function labelText(edge, max) {
    const numbers = edge.count + " · " + fmtRate(edge.rate);
    const implicit = edge.kind === "binding" && edge.from.id === "x:" && edge.label === str(edge.to.data.name);
    if (edge.label === "" || implicit) return fit(numbers, FONTS.label, max);
    const whole = edge.label + " · " + numbers;
    if (textWidth(whole, FONTS.label) <= max) return whole;
    const key = fit(edge.label, FONTS.label, max - textWidth(" · " + numbers, FONTS.label));
    return key.length > 1 ? key + " · " + numbers : fit(numbers, FONTS.label, max);
  }

  function edgeTitle(edge) {
    const name = (node) => str(node.kind === "exchange" ? (node.data.name || "(default)") : node.data.name || node.data.instance);
    return edge.kind + ": " + name(edge.from) + " → " + name(edge.to) + (edge.label ? " (" + edge.label + ")" : "") +
      "\n" + edge.count + " messages since the console saw it, " + fmtRate(edge.rate) + " now";
  }

  // ---- geometry helpers -------------------------------------------------------------------

  /** A polyline as a path with rounded corners. */
  function roundedPath(points) {
    const pts = points.filter((p, i) => i === 0 || p[0] !== points[i - 1][0] || p[1] !== points[i - 1][1]);
    let d = "M" + r1(pts[0][0]) + " " + r1(pts[0][1]);
    for (let i = 1; i + 1 < pts.length; i++) {
      const [px, py] = pts[i - 1];
      const [x, y] = pts[i];
      const [nx, ny] = pts[i + 1];
      const inLength = Math.hypot(x - px, y - py);
      const outLength = Math.hypot(nx - x, ny - y);
      const r = Math.min(CORNER, inLength / 2, outLength / 2);
      const ax = x - ((x - px) / inLength) * r;
      const ay = y - ((y - py) / inLength) * r;
      const bx = x + ((nx - x) / outLength) * r;
      const by = y + ((ny - y) / outLength) * r;
      d += " L" + r1(ax) + " " + r1(ay) + " Q" + r1(x) + " " + r1(y) + " " + r1(bx) + " " + r1(by);
    }
    const last = pts[pts.length - 1];
    return d + " L" + r1(last[0]) + " " + r1(last[1]);
  }

  /** An S-curve between two ports that face each other across a gap; it never leaves the gap. */
  function curvePath(x1, y1, x2, y2) {
    const mx = (x1 + x2) / 2;
    return "M" + r1(x1) + " " + r1(y1) + " C" + r1(mx) + " " + r1(y1) + " " + r1(mx) + " " + r1(y2) + " " +
      r1(x2) + " " + r1(y2);
  }

  /**
   * Tops for boxes kept in order with gaps between them, as close as possible to the centres they
   * want (least squares): pool-adjacent-violators on tops shifted by the room the boxes above take.
   */
  function placeInOrder(boxes) {
    const blocks = [];
    let offset = 0;
    for (const box of boxes) {
      blocks.push({ sum: box.want - box.h / 2 - offset, count: 1 });
      offset += box.h + NODE_GAP;
      while (blocks.length > 1) {
        const last = blocks[blocks.length - 1];
        const before = blocks[blocks.length - 2];
        if (before.sum / before.count <= last.sum / last.count) break;
        before.sum += last.sum;
        before.count += last.count;
        blocks.pop();
      }
    }
    const tops = [];
    offset = 0;
    for (const block of blocks) {
      for (let i = 0; i < block.count; i++) {
        tops.push(block.sum / block.count + offset);
        offset += boxes[tops.length - 1].h + NODE_GAP;
      }
    }
    return tops;
  }

  // ---- layout: columns (desktop) ----------------------------------------------------------

  /**
   * Four columns; an edge between neighbouring columns is an S-curve across the gap, any other
   * edge (a consumer that publishes, a caller that consumes replies) runs above or below every
   * box in a lane of its own. Each edge end gets a port on the box side facing the other end,
   * ports in the order of the other ends, so edges into one box do not cross; a box is as tall
   * as its ports need, and every label stands at a port, in the gap beside it.
   */
  function layoutColumns(columns, edges, width) {
    const margin = 8;
    const boxWidth = Math.max(120, Math.min(190, Math.floor((width - 2 * margin - 3 * MIN_COLUMN_GAP) / 4)));
    const gap = (width - 2 * margin - 4 * boxWidth) / 3;
    const columnX = (c) => margin + c * (boxWidth + gap);
    const gapCentre = (left) => columnX(left) + boxWidth + gap / 2;

    const boxes = new Map();
    for (const column of columns) {
      for (const node of column) {
        const described = describe(node);
        boxes.set(node.id, { node, described, x: columnX(node.column), w: boxWidth, h: 0, y: 0, left: [], right: [] });
      }
    }
    const ends = edges.map((edge) => {
      const forward = edge.to.column > edge.from.column;
      const from = { edge, box: boxes.get(edge.from.id), side: forward ? "right" : "left" };
      const to = { edge, box: boxes.get(edge.to.id), side: forward ? "left" : "right" };
      from.box[from.side].push(from);
      to.box[to.side].push(to);
      return { edge, from, to, adjacent: Math.abs(edge.from.column - edge.to.column) === 1 };
    });
    for (const box of boxes.values()) {
      box.h = Math.max(contentHeight(box.described), Math.max(box.left.length, box.right.length) * PORT_PITCH + 6);
    }

    // Vertical places: stacked and centred, then each box pulled towards its neighbours' centres.
    const stacks = columns.map((column) => column.map((node) => boxes.get(node.id)));
    const stackHeight = (stack) => stack.reduce((sum, box) => sum + box.h + NODE_GAP, -NODE_GAP);
    const tallest = Math.max(0, ...stacks.map(stackHeight));
    for (const stack of stacks) {
      let y = (tallest - stackHeight(stack)) / 2;
      for (const box of stack) {
        box.y = y;
        y += box.h + NODE_GAP;
      }
    }
    const centre = (box) => box.y + box.h / 2;
    const pulls = new Map([...boxes.keys()].map((id) => [id, []]));
    for (const end of ends) {
      if (!end.adjacent) continue;
      pulls.get(end.edge.from.id).push(end.to.box);
      pulls.get(end.edge.to.id).push(end.from.box);
    }
    for (let round = 0; round < 3; round++) {
      for (const c of [0, 1, 2, 3, 2, 1]) {
        const stack = stacks[c];
        const tops = placeInOrder(stack.map((box) => {
          const around = pulls.get(box.node.id);
          const want = around.length ? around.reduce((sum, other) => sum + centre(other), 0) / around.length : centre(box);
          return { h: box.h, want };
        }));
        stack.forEach((box, i) => { box.y = tops[i]; });
      }
    }
    const all = [...boxes.values()];
    const top = Math.min(...all.map((box) => box.y));
    for (const box of all) box.y -= top;
    const bottom = Math.max(0, ...all.map((box) => box.y + box.h));

    // Edges that skip a column: a lane above the boxes or below, the shorter spans inside.
    const around = { above: [], below: [] };
    for (const end of ends) {
      if (end.adjacent) continue;
      end.channel = (centre(end.from.box) + centre(end.to.box)) / 2 < bottom / 2 ? "above" : "below";
      around[end.channel].push(end);
    }
    for (const lanes of Object.values(around)) {
      lanes.sort((a, b) => Math.abs(a.edge.from.column - a.edge.to.column) - Math.abs(b.edge.from.column - b.edge.to.column) ||
        byId(a.edge, b.edge));
      lanes.forEach((end, i) => { end.lane = i; });
    }
    const nodesTop = HEADING_HEIGHT + (around.above.length ? around.above.length * LANE + 8 : 0);
    for (const box of all) box.y += nodesTop;
    const height = nodesTop + bottom + (around.below.length ? around.below.length * LANE + 8 : 0) + 6;
    const laneY = (end) => (end.channel === "above"
      ? nodesTop - 8 - end.lane * LANE
      : nodesTop + bottom + 8 + end.lane * LANE);

    // Ports: on each side in the order of the other ends (lanes above first, below last).
    const otherY = (end, self) => {
      if (!end.adjacent) return end.channel === "above" ? -1e6 - end.lane : 1e6 + end.lane;
      return centre(self === end.from ? end.to.box : end.from.box);
    };
    for (const end of ends) {
      end.from.key = otherY(end, end.from);
      end.to.key = otherY(end, end.to);
    }
    for (const box of all) {
      for (const side of [box.left, box.right]) {
        side.sort((a, b) => a.key - b.key || byId(a.edge, b.edge));
        side.forEach((port, i) => {
          port.x = side === box.left ? box.x : box.x + box.w;
          port.y = box.y + ((i + 0.5) * box.h) / side.length;
        });
      }
    }

    const sceneEdges = ends.map((end) => {
      const { from, to, edge } = end;
      let d;
      if (end.adjacent) {
        d = curvePath(from.x, from.y, to.x, to.y);
      } else {
        // Down (or up) a gap beside each end, along the lane; the lane's further end takes the
        // outer place in its gap, so that nested lanes do not cross.
        const fromGap = gapCentre(from.side === "right" ? edge.from.column : edge.from.column - 1);
        const toGap = gapCentre(to.side === "right" ? edge.to.column : edge.to.column - 1);
        const shift = (end.lane % 5) * 5;
        const fromX = fromGap + (fromGap > toGap ? shift : -shift);
        const toX = toGap + (toGap > fromGap ? shift : -shift);
        const y = laneY(end);
        d = roundedPath([[from.x, from.y], [fromX, from.y], [fromX, y], [toX, y], [toX, to.y], [to.x, to.y]]);
      }
      const port = labelAtSource(edge) ? from : to;
      const label = {
        text: labelText(edge, gap - 14), font: FONTS.label, anchor: port.side === "right" ? "start" : "end",
        x: r1(port.side === "right" ? port.x + 5 : port.x - 5), y: r1(port.y - 4),
      };
      return { edge, d, label, title: edgeTitle(edge) };
    });

    const headings = HEADINGS.map((text, c) => ({ text, font: FONTS.heading, x: r1(columnX(c) + boxWidth / 2), y: 14, anchor: "middle" }))
      .filter((_, c) => columns[c].length > 0);
    return { width, height, boxes: sceneBoxes(columns, boxes), edges: sceneEdges, headings };
  }

  // ---- layout: stacked rows (phone) -------------------------------------------------------

  /**
   * The columns as rows from top to bottom, each wrapped into lines of boxes on one grid. Edges
   * leave a box's bottom (or top, going back up) and run in lanes: in the band between two rows or
   * the gap between two lines of a row; to get past a row's other lines they take a channel, one
   * of the grid's vertical gaps, so they never cross a box. A lane holds its edges' labels.
   */
  function layoutStacked(columns, edges, width) {
    const margin = 12;
    const columnGap = 14;
    const perLine = Math.max(1, Math.floor((width - 2 * margin + columnGap) / (140 + columnGap)));
    const boxWidth = Math.min(230, Math.floor((width - 2 * margin - (perLine - 1) * columnGap) / perLine));
    const gridX = (i) => margin + i * (boxWidth + columnGap);
    const channelX = (k) => (k === 0 ? margin / 2 : k === perLine ? gridX(perLine - 1) + boxWidth + margin / 2 : gridX(k) - columnGap / 2);
    const lines = columns.map((column) => Math.ceil(column.length / perLine));

    const boxes = new Map();
    columns.forEach((column, row) => column.forEach((node, i) => {
      const described = describe(node);
      boxes.set(node.id, {
        node, described, row, line: Math.floor(i / perLine), x: gridX(i % perLine), w: boxWidth,
        h: contentHeight(described), y: 0, top: [], bottom: [],
      });
    }));
    const centreX = (box) => box.x + box.w / 2;

    // Spaces, the horizontal strips lanes run in: "band:R" below row R, "gap:R:L" below line L.
    const below = (box) => (box.line < lines[box.row] - 1 ? "gap:" + box.row + ":" + box.line : "band:" + box.row);
    const above = (box) => (box.line > 0 ? "gap:" + box.row + ":" + (box.line - 1) : "band:" + (box.row - 1));
    const routes = edges.map((edge) => {
      const source = boxes.get(edge.from.id);
      const target = boxes.get(edge.to.id);
      const down = edge.to.column > edge.from.column;
      const route = {
        edge,
        from: { edge, box: source, side: down ? "bottom" : "top" },
        to: { edge, box: target, side: down ? "top" : "bottom" },
        first: down ? below(source) : above(source),
        last: down ? above(target) : below(target),
      };
      if (route.first !== route.last) {
        // The channel that makes the shortest way across, the leftmost of equals.
        let best = 0;
        const cost = (k) => Math.abs(channelX(k) - centreX(source)) + Math.abs(channelX(k) - centreX(target));
        for (let k = 1; k <= perLine; k++) if (cost(k) < cost(best)) best = k;
        route.channel = best;
      }
      route.from.box[route.from.side].push(route.from);
      route.to.box[route.to.side].push(route.to);
      return route;
    });

    // Edges sharing a channel run side by side in it.
    const sharing = new Map();
    for (const route of routes) {
      if (route.channel === undefined) continue;
      if (!sharing.has(route.channel)) sharing.set(route.channel, []);
      sharing.get(route.channel).push(route);
    }
    for (const [k, shared] of sharing) {
      shared.sort((a, b) => byId(a.edge, b.edge));
      shared.forEach((route, i) => { route.channelX = channelX(k) + ((i % 4) - 1.5) * 3; });
    }

    // Ports along the top and bottom sides, in the order of where their edges head.
    for (const route of routes) {
      route.from.key = route.channel === undefined ? centreX(route.to.box) : route.channelX;
      route.to.key = route.channel === undefined ? centreX(route.from.box) : route.channelX;
    }
    for (const box of boxes.values()) {
      for (const side of [box.top, box.bottom]) {
        side.sort((a, b) => a.key - b.key || byId(a.edge, b.edge));
        side.forEach((port, i) => { port.x = box.x + ((i + 0.5) * box.w) / side.length; });
      }
    }

    // Horizontal runs, each in its space; the label goes on the run next to the target.
    const spaces = new Map();
    const addRun = (space, route, x1, x2, labelled) => {
      const run = { route, lo: Math.min(x1, x2), hi: Math.max(x1, x2), labelled };
      if (labelled) {
        const text = labelText(route.edge, width - 2 * margin);
        const textWidthPx = textWidth(text, FONTS.label);
        const x = Math.max(margin, Math.min(run.lo + 4, width - margin - textWidthPx));
        route.label = { text, font: FONTS.label, anchor: "start", x: r1(x) };
        run.lo = Math.min(run.lo, x);
        run.hi = Math.max(run.hi, x + textWidthPx);
      }
      if (!spaces.has(space)) spaces.set(space, []);
      spaces.get(space).push(run);
      return run;
    };
    for (const route of routes) {
      if (route.channel === undefined) {
        route.runs = [addRun(route.first, route, route.from.x, route.to.x, true)];
      } else {
        route.runs = [
          addRun(route.first, route, route.from.x, route.channelX, false),
          addRun(route.last, route, route.channelX, route.to.x, true),
        ];
      }
    }
    // Lanes: runs packed left to right into the first lane where they fit; a lane is taller
    // when it carries a label.
    for (const runs of spaces.values()) {
      runs.sort((a, b) => a.lo - b.lo || byId(a.route.edge, b.route.edge) || a.hi - b.hi);
      const lanes = [];
      for (const run of runs) {
        let lane = lanes.find((candidate) => candidate.end + 6 <= run.lo);
        if (!lane) {
          lane = { end: -Infinity, labelled: false };
          lanes.push(lane);
        }
        lane.end = run.hi;
        lane.labelled = lane.labelled || run.labelled;
        run.lane = lane;
      }
      runs.lanes = lanes;
    }
    const spaceHeight = (key, least) => {
      const lanes = spaces.has(key) ? spaces.get(key).lanes : [];
      return Math.max(least, lanes.reduce((sum, lane) => sum + (lane.labelled ? 16 : 6), 8));
    };
    const placeSpace = (key, top) => {
      let y = top + 4;
      for (const lane of spaces.has(key) ? spaces.get(key).lanes : []) {
        y += lane.labelled ? 16 : 6;
        lane.y = y - 3;
      }
    };

    // Top to bottom: a heading per row, its lines with their gaps, the band below it.
    const headings = [];
    let y = 4;
    columns.forEach((column, row) => {
      if (column.length) {
        headings.push({ text: HEADINGS[row], font: FONTS.heading, x: margin, y: y + 12, anchor: "start" });
        y += 18;
      }
      const lineHeight = Math.max(0, ...column.map((node) => boxes.get(node.id).h));
      for (let line = 0; line < lines[row]; line++) {
        for (const node of column.slice(line * perLine, (line + 1) * perLine)) boxes.get(node.id).y = y;
        y += lineHeight;
        if (line < lines[row] - 1) {
          const key = "gap:" + row + ":" + line;
          placeSpace(key, y);
          y += spaceHeight(key, NODE_GAP);
        }
      }
      if (row < columns.length - 1) {
        const key = "band:" + row;
        placeSpace(key, y);
        y += spaceHeight(key, column.length ? 16 : 0);
      }
    });

    const sideY = (port) => (port.side === "top" ? port.box.y : port.box.y + port.box.h);
    const sceneEdges = routes.map((route) => {
      const { from, to } = route;
      const points = [[from.x, sideY(from)]];
      if (route.channel === undefined) {
        const laneY = route.runs[0].lane.y;
        points.push([from.x, laneY], [to.x, laneY]);
      } else {
        const [first, last] = route.runs;
        points.push([from.x, first.lane.y], [route.channelX, first.lane.y], [route.channelX, last.lane.y], [to.x, last.lane.y]);
      }
      points.push([to.x, sideY(to)]);
      const labelledRun = route.runs[route.runs.length - 1];
      return {
        edge: route.edge,
        d: roundedPath(points),
        label: { ...route.label, y: r1(labelledRun.lane.y - 3) },
        title: edgeTitle(route.edge),
      };
    });
    return { width, height: y + 4, boxes: sceneBoxes(columns, boxes), edges: sceneEdges, headings };
  }

  /**
   * The boxes to draw, in column order: place, size, tooltip, and their text cut to their width
   * and placed inside them (`texts`, the first line a name; `badge`, the queue's purpose).
   */
  function sceneBoxes(columns, boxes) {
    return columns.flat().map((node) => {
      const { described, x, y, w, h } = boxes.get(node.id);
      const instance = node.kind === "producer" || node.kind === "consumer";
      const lines = fitLines(described, w);
      const texts = lines.map((text, i) => ({
        text,
        font: i === 0 ? FONTS.name : FONTS.text,
        style: i === 0 ? "name" : node.data.missing && i === lines.length - 1 ? "deleted" : "text",
        // Instances have a coloured bar on their left: their text starts a little further in.
        x: PAD + (instance ? 2 : 0),
        y: PAD + 11 + i * LINE,
      }));
      let badge = null;
      if (described.badge) {
        const badgeWidth = r1(textWidth(described.badge, FONTS.badge) + 10);
        badge = { text: described.badge, font: FONTS.badge, x: r1(w - PAD - badgeWidth), y: PAD + LINE - 1, w: badgeWidth, h: 15 };
      }
      return { node, title: described.title, texts, badge, x: r1(x), y: r1(y), w: r1(w), h: r1(h) };
    });
  }

  return { layout, known, str, list, num };
})();

