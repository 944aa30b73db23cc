// The console's Topology panel: draws the scene topology-layout.js makes of each /events
// document as SVG, keeps it live (edges carrying messages now are coloured and moving, each newly
// handled message runs along its edges as a dot), and lists a queue's or an instance's recent
// messages when it is clicked. Elements are kept per node and edge id and only changed where the
// document changed, so that focus, the dots and the CSS animations survive each update.
//
// Inlined into page.html at compile time (console/mod.rs), after topology-layout.js; defines one
// global, LabTopology.
"use strict";
const LabTopology = (() => {
  const { layout, known, str, list, num } = TopologyLayout;
  const SVG_NS = "http://www.w3.org/2000/svg";
  const EDGE_KINDS = ["publish", "binding", "consume", "dead-letter"];
  const MAX_DOTS_PER_DOCUMENT = 40;
  const DOT_SPEED = 420; // px per second
  const DOT_MAX_SECONDS = 2.5; // longer ways are run faster
  const PREVIEW_CHARS = 80;

  function svgEl(tag, attrs, text) {
    const el = document.createElementNS(SVG_NS, tag);
    setAttrs(el, attrs);
    if (text !== undefined) el.textContent = text;
    return el;
  }

  /** Sets every attribute, always in the same order and only when changed: stable markup. */
  function setAttrs(el, attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      const text = String(value);
      if (el.getAttribute(name) !== text) el.setAttribute(name, text);
    }
  }

  /** Text attributes from the layout's fonts: drawn exactly as it was measured. */
  const fontAttrs = (font) => ({ "font-size": font.size, "font-weight": font.weight });

  /** Puts `children` into `layer` in this order, moving only what is out of place (keeps focus). */
  function arrange(layer, children) {
    const wanted = new Set(children);
    for (const child of [...layer.children]) if (!wanted.has(child)) child.remove();
    children.forEach((child, i) => {
      if (layer.children[i] !== child) layer.insertBefore(child, layer.children[i] || null);
    });
  }

  /** The panel's diagram, legend and recent-messages list; render() takes each document. */
  function create(panel) {
    const svg = panel.querySelector('[data-testid="topology"]');
    const diagram = svg.parentElement;
    const empty = panel.querySelector("#topology-empty");
    const recentBox = panel.querySelector('[data-testid="topology-recent"]');
    const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

    const defs = svgEl("defs", {});
    for (const kind of ["idle", ...EDGE_KINDS]) {
      const marker = svgEl("marker", {
        id: "tp-arrow-" + kind, class: "tp-arrow kind-" + kind, viewBox: "0 0 8 8", refX: 7, refY: 4,
        markerWidth: 7, markerHeight: 7, markerUnits: "userSpaceOnUse", orient: "auto",
      });
      marker.append(svgEl("path", { d: "M0 0 L8 4 L0 8 z" }));
      defs.append(marker);
    }
    const layers = {};
    svg.append(defs);
    for (const name of ["headings", "edges", "labels", "nodes", "dots"]) {
      layers[name] = svgEl("g", { class: "tp-" + name });
      svg.append(layers[name]);
    }

    const edgeEls = new Map(); // edge id → { path, title, label }
    const nodeEls = new Map(); // node id → { g, signature }
    let current = null; // the last document's topology
    let drawnWidth = 0;
    let selected = "";
    let shownRecent = ""; // what the recent-messages list shows now, to rebuild it only on change
    let lastSeq = null;

    function draw() {
      const width = Math.floor(diagram.clientWidth);
      drawnWidth = width;
      const scene = layout(current || {}, width);
      empty.hidden = scene.nodes.size > 0;
      const height = Math.round(scene.height);
      setAttrs(svg, { width, height, viewBox: "0 0 " + width + " " + height, "data-layout": scene.stacked ? "stacked" : "columns" });
      layers.headings.replaceChildren(...scene.headings.map((h) => svgEl("text", {
        class: "tp-heading", x: h.x, y: h.y, "text-anchor": h.anchor, ...fontAttrs(h.font),
      }, h.text)));
      drawEdges(scene.edges);
      drawNodes(scene.boxes);
      if (selected && !scene.nodes.has(selected)) selected = "";
      renderRecent(scene.nodes);
    }

    function drawEdges(sceneEdges) {
      const paths = [];
      const labels = [];
      const live = new Set();
      for (const { edge, d, label, title } of sceneEdges) {
        live.add(edge.id);
        let els = edgeEls.get(edge.id);
        if (!els) {
          els = { path: svgEl("path", {}), title: svgEl("title", {}), label: svgEl("text", {}) };
          els.path.append(els.title);
          edgeEls.set(edge.id, els);
        }
        const active = edge.rate > 0;
        const kind = EDGE_KINDS.includes(edge.kind) ? edge.kind : "publish";
        setAttrs(els.path, {
          class: "tp-edge kind-" + kind + (active ? " active" : ""),
          d,
          "marker-end": "url(#tp-arrow-" + (active ? kind : "idle") + ")",
          "data-edge": edge.id,
          "data-kind": edge.kind,
          "data-from": edge.from.id,
          "data-to": edge.to.id,
          "data-key": edge.label,
          "data-count": edge.count,
          "data-rate": edge.rate,
          "data-active": active,
        });
        if (els.title.textContent !== title) els.title.textContent = title;
        setAttrs(els.label, {
          class: "tp-label" + (active ? " active" : ""), x: label.x, y: label.y, "text-anchor": label.anchor,
          ...fontAttrs(label.font),
        });
        if (els.label.textContent !== label.text) els.label.textContent = label.text;
        paths.push(els.path);
        labels.push(els.label);
      }
      for (const id of [...edgeEls.keys()]) if (!live.has(id)) edgeEls.delete(id);
      arrange(layers.edges, paths);
      arrange(layers.labels, labels);
    }

    function drawNodes(sceneBoxes) {
      const groups = [];
      const live = new Set();
      for (const box of sceneBoxes) {
        const { node } = box;
        const d = node.data;
        live.add(node.id);
        let els = nodeEls.get(node.id);
        if (!els) {
          els = { g: svgEl("g", {}), signature: "" };
          nodeEls.set(node.id, els);
        }
        const isQueue = node.kind === "queue";
        const isInstance = node.kind === "producer" || node.kind === "consumer";
        const role = isInstance ? str(d.role).replace(/[^a-z-]/g, "") : "";
        setAttrs(els.g, {
          class: "tp-node kind-" + node.kind + (role ? " role-" + role : "") + (d.stale ? " stale" : "") +
            (d.missing ? " missing" : "") + (node.id === selected ? " selected" : ""),
          transform: "translate(" + box.x + " " + box.y + ")",
          "data-node": node.id,
          "data-kind": node.kind,
          "data-name": isInstance ? str(d.instance) : str(d.name),
          "data-type": isInstance ? str(d.role) : str(d.type),
          "data-purpose": isQueue ? str(d.purpose) : "",
          "data-depth": isQueue ? known(d.depth) : "",
          "data-consumers": isQueue ? known(d.consumers) : "",
          "data-leader": isQueue && d.leader ? str(d.leader) : "",
          "data-stale": Boolean(d.stale),
          "data-missing": Boolean(d.missing),
        });
        // Queues and instances list their recent messages: focusable, and a button to assistive tech.
        if (node.kind !== "exchange") {
          setAttrs(els.g, { tabindex: 0, role: "button", "aria-label": "recent messages of " + str(d.instance || d.name) });
        }
        const signature = JSON.stringify([box.w, box.h, box.texts, box.badge, box.title]);
        if (signature !== els.signature) {
          els.signature = signature;
          els.g.replaceChildren(...boxContent(box));
        }
        groups.push(els.g);
      }
      for (const id of [...nodeEls.keys()]) if (!live.has(id)) nodeEls.delete(id);
      arrange(layers.nodes, groups);
    }

    /** A box's insides, in its own coordinates (the group is translated to the box's place). */
    function boxContent(box) {
      const { node, title, texts, badge, w, h } = box;
      const content = [svgEl("title", {}, title), svgEl("rect", { class: "tp-box", width: w, height: h, rx: 6 })];
      if (node.kind === "producer" || node.kind === "consumer") {
        content.push(svgEl("rect", { class: "tp-accent", width: 4, height: h - 8, x: 2, y: 4, rx: 2 }));
      }
      for (const t of texts) {
        const style = t.style === "name" ? "tp-name" : t.style === "deleted" ? "tp-text tp-deleted" : "tp-text";
        content.push(svgEl("text", { class: style, x: t.x, y: t.y, ...fontAttrs(t.font) }, t.text));
      }
      if (badge) {
        const purpose = str(node.data.purpose).replace(/[^a-z-]/g, "");
        const g = svgEl("g", { class: "tp-badge purpose-" + purpose, transform: "translate(" + badge.x + " " + badge.y + ")" });
        g.append(
          svgEl("rect", { width: badge.w, height: badge.h, rx: badge.h / 2 }),
          svgEl("text", { x: Math.round(badge.w * 5) / 10, y: badge.h - 4, "text-anchor": "middle", ...fontAttrs(badge.font) }, badge.text));
        content.push(g);
      }
      return content;
    }

    // ---- recent messages of the selected node ----

    function select(id) {
      selected = id;
      draw();
      recentBox.scrollIntoView({ block: "nearest" });
    }

    function renderRecent(nodes) {
      const node = nodes.get(selected);
      const messages = node ? list((current.recent || {})[node.id]) : [];
      const shown = JSON.stringify([node ? node.id : "", messages]);
      if (shown === shownRecent) return;
      shownRecent = shown;
      recentBox.hidden = !node;
      recentBox.dataset.node = node ? node.id : "";
      if (!node) {
        recentBox.replaceChildren();
        return;
      }
      const name = str(node.data.name || node.data.instance);
      const heading = document.createElement("h3");
      heading.append("Recent messages at " + (node.kind === "queue" ? "queue " : "") + name);
      const close = document.createElement("button");
      close.type = "button";
      close.className = "tp-close";
      close.textContent = "Close";
      close.addEventListener("click", () => select(""));
      const head = document.createElement("div");
      head.className = "tp-recent-head";
      head.append(heading, close);
      if (!messages.length) {
        const none = document.createElement("p");
        none.className = "empty";
        none.textContent = "No message seen here yet.";
        recentBox.replaceChildren(head, none);
        return;
      }
      const items = messages.map((m) => {
        const li = document.createElement("li");
        li.className = "outcome-" + str(m.outcome).replace(/[^a-z_]/g, "");
        li.dataset.messageId = str(m.message_id);
        const id = document.createElement("code");
        id.textContent = str(m.message_id) || "(no message id)";
        const outcome = document.createElement("span");
        outcome.className = "tp-outcome";
        outcome.textContent = str(m.outcome).replace("_", "-") + (m.redelivered ? " (redelivered)" : "");
        const preview = document.createElement("div");
        preview.className = "tp-preview";
        const chars = [...str(m.preview)];
        preview.textContent = chars.slice(0, PREVIEW_CHARS).join("") + (chars.length > PREVIEW_CHARS ? "…" : "");
        const meta = document.createElement("div");
        meta.className = "hint";
        const at = new Date(str(m.at));
        meta.textContent = [
          isNaN(at) ? "" : at.toLocaleTimeString("en-GB", { hour12: false }),
          m.by ? "by " + str(m.by) : "",
          typeof m.attempt === "number" ? "attempt " + m.attempt : "",
        ].filter(Boolean).join(" · ");
        li.append(id, " ", outcome, preview, meta);
        return li;
      });
      const ol = document.createElement("ol");
      ol.append(...items);
      recentBox.replaceChildren(head, ol);
    }

    const nodeOf = (event) => {
      const g = event.target.closest("g[data-node]");
      return g && g.hasAttribute("tabindex") ? g.dataset.node : null;
    };
    layers.nodes.addEventListener("click", (event) => {
      const id = nodeOf(event);
      if (id) select(id);
    });
    layers.nodes.addEventListener("keydown", (event) => {
      const id = nodeOf(event);
      if (id && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        select(id);
      }
    });

    // ---- moving dots ----

    const dots = []; // in flight: { kind, edgeIds, startAt, legs, circle }
    let frameRequested = false;

    /** Sends a dot along each move not seen yet (the newest 40 of them), one after another. */
    function animateMoves(moves) {
      // A restarted produce-server numbers its moves from 1 again: start over with it.
      const seqs = list(moves).map((move) => num(move.seq));
      if (lastSeq !== null && seqs.length && Math.max(...seqs) < lastSeq) lastSeq = null;
      const fresh = list(moves).filter((move) => lastSeq === null || num(move.seq) > lastSeq)
        .sort((a, b) => num(a.seq) - num(b.seq));
      if (!fresh.length) return;
      lastSeq = num(fresh[fresh.length - 1].seq);
      // No dots when the user asked for less motion, nor for a tab nobody looks at (no frames run).
      if (reducedMotion.matches || document.hidden) return;
      const newest = fresh.slice(-MAX_DOTS_PER_DOCUMENT);
      const spacing = Math.min(150, 900 / newest.length);
      const now = performance.now();
      newest.forEach((move, i) => {
        const edgeIds = list(move.edges).map(str).filter((id) => edgeEls.has(id));
        if (edgeIds.length) dots.push({ kind: str(move.kind), edgeIds, startAt: now + i * spacing, legs: null, circle: null });
      });
      if (dots.length && !frameRequested) {
        frameRequested = true;
        requestAnimationFrame(frame);
      }
    }

    function frame(now) {
      frameRequested = false;
      for (let i = dots.length - 1; i >= 0; i--) {
        if (!advance(dots[i], now)) {
          if (dots[i].circle) dots[i].circle.remove();
          dots.splice(i, 1);
        }
      }
      if (dots.length) {
        frameRequested = true;
        requestAnimationFrame(frame);
      }
    }

    /** Moves a dot to where it is now; false once it has arrived or its path is gone. */
    function advance(dot, now) {
      if (now < dot.startAt) return true;
      if (!dot.legs) {
        dot.legs = dot.edgeIds.filter((id) => edgeEls.has(id))
          .map((id) => ({ id, length: edgeEls.get(id).path.getTotalLength() }));
        dot.total = dot.legs.reduce((sum, leg) => sum + leg.length, 0);
        dot.speed = Math.max(DOT_SPEED, dot.total / DOT_MAX_SECONDS);
        dot.circle = svgEl("circle", { class: "dot", r: 4, "data-move-kind": dot.kind });
        layers.dots.append(dot.circle);
      }
      let along = ((now - dot.startAt) / 1000) * dot.speed;
      for (const leg of dot.legs) {
        const els = edgeEls.get(leg.id);
        if (!els) return false;
        if (along <= leg.length) {
          const point = els.path.getPointAtLength(along);
          dot.circle.setAttribute("cx", point.x.toFixed(1));
          dot.circle.setAttribute("cy", point.y.toFixed(1));
          return true;
        }
        along -= leg.length;
      }
      return false;
    }

    // A new width lays the diagram out again (columns or stacked).
    new ResizeObserver(() => {
      if (Math.floor(diagram.clientWidth) !== drawnWidth) draw();
    }).observe(diagram);

    return {
      /** Draws one document's topology (undefined when the back end sends none). */
      render(topology) {
        current = topology && typeof topology === "object" ? topology : null;
        draw();
        if (current) animateMoves(current.moves);
      },
    };
  }

  return { create };
})();
