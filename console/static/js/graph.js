// The tree drawn as a layered graph: dagre (vendored, global `dagre`) places the boxes, this module
// draws them in SVG with zoom, pan, fit, a minimap, selection and highlighting. The server sends
// the nodes and edges (with reachability, from the validator's own rule); nothing is computed here
// except positions.
import { el, svg, shorten } from "./util.js";

const NODE_W = 180;
const NODE_H = 46;
const MIN_ZOOM = 0.03;
const MAX_ZOOM = 2.5;
// Below this scale text is too small to read: the first view zooms in on the start instead.
const READABLE_ZOOM = 0.8;
const EDGE_KINDS = ["option", "next", "failure", "error", "empty", "shortcut"];
let instances = 0;

export class GraphView {
  // host: an empty element. options: onSelect(id), onOpen(id), decorate(node) -> {fill, line, title}
  constructor(host, options = {}) {
    this.host = host;
    this.options = options;
    this.prefix = "g" + ++instances + "-";
    this.graph = { nodes: [], edges: [] };
    this.positions = null;
    this.signature = "";
    this.view = { k: 1, x: 0, y: 0 };
    this.selected = null;
    this.current = null;
    this.order = [];
    this.build();
  }

  build() {
    this.host.classList.add("graph-view");
    this.host.textContent = "";
    const controls = el(
      "div",
      { class: "graph-controls", role: "group", "aria-label": "graph view" },
      el("button", { type: "button", class: "small", "data-zoom": "in", title: "Zoom in (+)", "aria-label": "Zoom in", text: "+", onclick: () => this.zoomBy(1.25) }),
      el("button", { type: "button", class: "small", "data-zoom": "out", title: "Zoom out (−)", "aria-label": "Zoom out", text: "−", onclick: () => this.zoomBy(0.8) }),
      el("button", { type: "button", class: "small", "data-zoom": "fit", title: "Fit the whole tree (F)", text: "Fit", onclick: () => this.fit() }),
      el("button", { type: "button", class: "small", "data-zoom": "reset", title: "Actual size around the selection", text: "100%", onclick: () => this.actualSize() })
    );
    this.canvas = svg("svg", { class: "graph-canvas", role: "presentation" });
    this.defs = svg("defs");
    for (const kind of EDGE_KINDS) {
      const marker = svg("marker", {
        id: this.prefix + "arrow-" + kind, viewBox: "0 0 10 10", refX: 9, refY: 5,
        markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse", class: "arrow " + kind,
      });
      marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
      this.defs.append(marker);
    }
    this.viewport = svg("g", { class: "viewport" });
    this.canvas.append(this.defs, this.viewport);
    this.minimap = svg("svg", { class: "minimap", "aria-hidden": "true" });
    this.legend = el("div", { class: "graph-legend", "aria-hidden": "true" });
    for (const kind of EDGE_KINDS) this.legend.append(el("span", { class: "key key-" + kind, text: kind === "error" ? "error route" : kind }));
    this.stage = el("div", { class: "graph-stage" }, this.canvas, this.minimap);
    this.host.append(controls, this.stage, this.legend);
    this.wire();
  }

  // -- data --------------------------------------------------------------------------------------
  setGraph(graph) {
    this.graph = graph;
    const signature = JSON.stringify([
      graph.nodes.map((n) => n.id),
      graph.edges.map((e) => [e.from, e.to, e.kind, e.label]),
    ]);
    const first = this.positions === null;
    if (signature !== this.signature) {
      this.signature = signature;
      this.layout();
    }
    this.render();
    if (first) this.initialView();
    this.host.dataset.ready = "yes";
  }

  layout() {
    const started = performance.now();
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 18, ranksep: 30, edgesep: 8, marginx: 24, marginy: 24 });
    g.setDefaultEdgeLabel(() => ({}));
    const ids = new Set(this.graph.nodes.map((n) => n.id));
    for (const node of this.graph.nodes) g.setNode(node.id, { width: NODE_W, height: NODE_H });
    this.graph.edges.forEach((edge, index) => {
      let target = edge.to;
      if (!ids.has(target)) {
        target = "\u0000missing:" + edge.to;
        if (!g.hasNode(target)) g.setNode(target, { width: 140, height: 30, missing: edge.to });
      }
      g.setEdge(edge.from, target, { width: edge.label.length * 6.2 + 8, height: 14, labelpos: "c" }, "e" + index);
    });
    dagre.layout(g);
    const nodes = {};
    for (const id of g.nodes()) nodes[id] = g.node(id);
    const edges = g.edges().map((ref) => ({ index: Number(ref.name.slice(1)), target: ref.w, ...g.edge(ref) }));
    const box = g.graph();
    this.positions = { nodes, edges, width: box.width, height: box.height };
    this.order = this.graph.nodes
      .map((n) => n.id)
      .sort((a, b) => nodes[a].x - nodes[b].x || nodes[a].y - nodes[b].y);
    this.host.dataset.layoutMs = String(Math.round(performance.now() - started));
  }

  // -- drawing -----------------------------------------------------------------------------------
  render() {
    const started = performance.now();
    const pos = this.positions;
    const byId = {};
    for (const node of this.graph.nodes) byId[node.id] = node;
    const edgesLayer = svg("g", { class: "edges" });
    const labelsLayer = svg("g", { class: "edge-labels" });
    for (const placed of pos.edges) {
      const edge = this.graph.edges[placed.index];
      if (!edge) continue;
      const cls = "edge " + edge.kind + (edge.dangling ? " dangling" : "");
      edgesLayer.append(
        svg("path", {
          d: curve(placed.points), class: cls, "data-from": edge.from, "data-to": edge.to,
          "marker-end": "url(#" + this.prefix + "arrow-" + edge.kind + ")",
        })
      );
      if (edge.label && placed.x !== undefined) {
        const w = edge.label.length * 6.2 + 6;
        const group = svg("g", { class: "edge-label " + edge.kind, transform: `translate(${placed.x},${placed.y})` });
        group.append(svg("rect", { x: -w / 2, y: -8, width: w, height: 15, rx: 3 }));
        const text = svg("text", { "text-anchor": "middle", y: 4 });
        text.textContent = edge.label;
        group.append(text);
        labelsLayer.append(group);
      }
    }
    const nodesLayer = svg("g", { class: "nodes" });
    for (const [id, placed] of Object.entries(pos.nodes)) {
      if (placed.missing !== undefined) {
        const group = svg("g", { class: "node missing", transform: `translate(${placed.x - placed.width / 2},${placed.y - placed.height / 2})` });
        group.append(svg("rect", { width: placed.width, height: placed.height, rx: 5 }));
        const text = svg("text", { x: 8, y: 19 });
        text.textContent = "missing: " + shorten(placed.missing, 14);
        group.append(text);
        nodesLayer.append(group);
        continue;
      }
      nodesLayer.append(this.drawNode(byId[id], placed));
    }
    this.viewport.replaceChildren(edgesLayer, nodesLayer, labelsLayer);
    this.applyView();
    this.drawMinimap();
    this.host.dataset.renderMs = String(Math.round(performance.now() - started));
  }

  drawNode(node, placed) {
    const decoration = this.options.decorate ? this.options.decorate(node) : null;
    const classes = ["node", "kind-" + node.kind];
    if (node.start) classes.push("start");
    if (!node.reachable) classes.push("unreachable");
    if (node.errors) classes.push("has-problem");
    else if (node.warnings) classes.push("has-warning");
    if (node.id === this.selected) classes.push("selected");
    if (node.id === this.current) classes.push("current");
    const group = svg("g", {
      class: classes.join(" "),
      "data-node": node.id,
      id: this.prefix + "node-" + node.id,
      transform: `translate(${placed.x - NODE_W / 2},${placed.y - NODE_H / 2})`,
    });
    const title = svg("title");
    title.textContent = decoration && decoration.title ? decoration.title : node.id + " (" + node.kind + "): " + (node.text.en || node.title);
    group.append(title);
    const rect = svg("rect", { width: NODE_W, height: NODE_H, rx: 6 });
    if (decoration && decoration.fill) rect.setAttribute("style", "fill:" + decoration.fill);
    group.append(rect);
    const mark = node.errors ? "⚠ " : node.warnings ? "△ " : "";
    const head = svg("text", { x: 8, y: 16, class: decoration ? "node-id decorated" : "node-id" });
    // With figures on the second line, the first says which screen it is in words.
    head.textContent = decoration ? shorten(node.title, 22) : mark + shorten(node.id, 20) + (node.reachable ? "" : " · unreachable");
    const kind = svg("text", { x: NODE_W - 7, y: 16, class: "node-kind", "text-anchor": "end" });
    kind.textContent = node.start ? "start" : node.kind;
    const body = svg("text", { x: 8, y: 35, class: "node-title" });
    body.textContent = decoration && decoration.line ? decoration.line : node.title;
    group.append(head, kind, body);
    return group;
  }

  drawMinimap() {
    const pos = this.positions;
    if (!pos) return;
    const mini = this.minimap;
    mini.setAttribute("viewBox", `0 0 ${pos.width} ${pos.height}`);
    const layer = svg("g");
    for (const [id, placed] of Object.entries(pos.nodes)) {
      const node = this.graph.nodes.find((n) => n.id === id);
      const cls = "mini-node" + (node && node.errors ? " has-problem" : "") + (id === this.selected ? " selected" : "") + (id === this.current ? " current" : "");
      layer.append(svg("rect", { x: placed.x - placed.width / 2, y: placed.y - placed.height / 2, width: placed.width, height: placed.height, class: cls }));
    }
    this.miniView = svg("rect", { class: "mini-view" });
    mini.replaceChildren(layer, this.miniView);
    this.updateMiniView();
  }

  updateMiniView() {
    if (!this.miniView) return;
    const { k, x, y } = this.view;
    const w = this.stage.clientWidth / k;
    const h = this.stage.clientHeight / k;
    this.miniView.setAttribute("x", -x / k);
    this.miniView.setAttribute("y", -y / k);
    this.miniView.setAttribute("width", Math.max(w, 1));
    this.miniView.setAttribute("height", Math.max(h, 1));
    this.miniView.setAttribute("stroke-width", Math.max(this.positions.width / 160, 2));
  }

  // -- view --------------------------------------------------------------------------------------
  applyView() {
    const { k, x, y } = this.view;
    this.viewport.setAttribute("transform", `translate(${x},${y}) scale(${k})`);
    this.host.dataset.zoom = k.toFixed(3);
    this.updateMiniView();
  }

  zoomBy(factor, cx, cy) {
    const w = this.stage.clientWidth;
    const h = this.stage.clientHeight;
    cx = cx === undefined ? w / 2 : cx;
    cy = cy === undefined ? h / 2 : cy;
    const k = clamp(this.view.k * factor, MIN_ZOOM, MAX_ZOOM);
    const ratio = k / this.view.k;
    this.view = { k, x: cx - (cx - this.view.x) * ratio, y: cy - (cy - this.view.y) * ratio };
    this.applyView();
  }

  fit() {
    if (!this.positions) return;
    const w = this.stage.clientWidth || 600;
    const h = this.stage.clientHeight || 400;
    const k = clamp(Math.min(w / this.positions.width, h / this.positions.height), MIN_ZOOM, 1.2);
    this.view = { k, x: (w - this.positions.width * k) / 2, y: (h - this.positions.height * k) / 2 };
    this.applyView();
  }

  actualSize() {
    const target = this.selected || this.graph.start;
    this.view.k = 1;
    if (target) this.center(target);
    else this.applyView();
  }

  initialView() {
    const w = this.stage.clientWidth || 600;
    const h = this.stage.clientHeight || 400;
    const fitK = Math.min(w / this.positions.width, h / this.positions.height);
    if (fitK >= READABLE_ZOOM) return this.fit();
    // A big tree: readable text, the start node at the top in the middle.
    const start = this.positions.nodes[this.graph.start];
    this.view.k = READABLE_ZOOM;
    if (!start) return this.applyView();
    this.view.x = w / 2 - start.x * this.view.k;
    this.view.y = 40 - (start.y - NODE_H / 2) * this.view.k;
    this.applyView();
  }

  center(id) {
    const placed = this.positions && this.positions.nodes[id];
    if (!placed) return;
    const w = this.stage.clientWidth;
    const h = this.stage.clientHeight;
    if (this.view.k < 0.6) this.view.k = READABLE_ZOOM;
    this.view.x = w / 2 - placed.x * this.view.k;
    this.view.y = h / 2 - placed.y * this.view.k;
    this.applyView();
  }

  isVisible(id) {
    const placed = this.positions && this.positions.nodes[id];
    if (!placed) return false;
    const { k, x, y } = this.view;
    const sx = placed.x * k + x;
    const sy = placed.y * k + y;
    return sx > 0 && sy > 0 && sx < this.stage.clientWidth && sy < this.stage.clientHeight;
  }

  // -- selection ---------------------------------------------------------------------------------
  select(id, { center = false } = {}) {
    this.selected = id;
    for (const g of this.viewport.querySelectorAll("g.node")) g.classList.toggle("selected", g.dataset.node === id);
    if (center) this.center(id);
    this.drawMinimap();
  }

  // The simulator's current screen: outlined and brought into view.
  highlight(id) {
    this.current = id;
    for (const g of this.viewport.querySelectorAll("g.node")) g.classList.toggle("current", g.dataset.node === id);
    if (id && !this.isVisible(id)) this.center(id);
    this.drawMinimap();
  }

  // -- input -------------------------------------------------------------------------------------
  wire() {
    let drag = null;
    this.canvas.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      const node = e.target.closest("g.node[data-node]");
      drag = { x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y, node: node ? node.dataset.node : null, moved: false, id: e.pointerId };
    });
    this.canvas.addEventListener("pointermove", (e) => {
      if (!drag || drag.id !== e.pointerId) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 5) return;
      if (!drag.moved) {
        drag.moved = true;
        this.canvas.setPointerCapture(e.pointerId);
        this.host.classList.add("panning");
      }
      this.view.x = drag.vx + dx;
      this.view.y = drag.vy + dy;
      this.applyView();
    });
    const end = () => {
      if (drag && !drag.moved && drag.node && this.options.onSelect) this.options.onSelect(drag.node);
      drag = null;
      this.host.classList.remove("panning");
    };
    this.canvas.addEventListener("pointerup", end);
    this.canvas.addEventListener("pointercancel", () => {
      drag = null;
      this.host.classList.remove("panning");
    });
    this.canvas.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const box = this.canvas.getBoundingClientRect();
        this.zoomBy(Math.exp(-e.deltaY * 0.0015), e.clientX - box.left, e.clientY - box.top);
      },
      { passive: false }
    );
    const moveTo = (e) => {
      if (!this.positions) return;
      const box = this.minimap.getBoundingClientRect();
      const scale = Math.max(this.positions.width / box.width, this.positions.height / box.height);
      const offsetX = (box.width - this.positions.width / scale) / 2;
      const offsetY = (box.height - this.positions.height / scale) / 2;
      const gx = (e.clientX - box.left - offsetX) * scale;
      const gy = (e.clientY - box.top - offsetY) * scale;
      this.view.x = this.stage.clientWidth / 2 - gx * this.view.k;
      this.view.y = this.stage.clientHeight / 2 - gy * this.view.k;
      this.applyView();
    };
    let miniDrag = false;
    this.minimap.addEventListener("pointerdown", (e) => {
      miniDrag = true;
      this.minimap.setPointerCapture(e.pointerId);
      moveTo(e);
    });
    this.minimap.addEventListener("pointermove", (e) => miniDrag && moveTo(e));
    this.minimap.addEventListener("pointerup", () => (miniDrag = false));
    // One tab stop for the whole graph: arrows walk the boxes, Enter opens one.
    this.stage.tabIndex = 0;
    this.stage.setAttribute("role", "application");
    this.stage.setAttribute("aria-roledescription", "menu graph");
    this.stage.setAttribute("aria-label", "Menu graph. Arrow keys move between screens, Enter edits the selected one, plus and minus zoom, F fits the tree.");
    this.stage.addEventListener("keydown", (e) => this.onKey(e));
  }

  onKey(e) {
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (step && this.order.length) {
      e.preventDefault();
      const at = this.order.indexOf(this.selected);
      const next = this.order[(at + step + this.order.length) % this.order.length];
      this.select(next);
      if (!this.isVisible(next)) this.center(next);
      if (this.options.onSelect) this.options.onSelect(next, { keyboard: true });
    } else if (e.key === "Enter" && this.selected && this.options.onOpen) {
      e.preventDefault();
      this.options.onOpen(this.selected);
    } else if (e.key === "+" || e.key === "=") {
      this.zoomBy(1.25);
    } else if (e.key === "-") {
      this.zoomBy(0.8);
    } else if (e.key === "f" || e.key === "F") {
      this.fit();
    }
  }
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

// A smooth line through dagre's points.
function curve(points) {
  if (!points || !points.length) return "";
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mx = (points[i].x + points[i + 1].x) / 2;
    const my = (points[i].y + points[i + 1].y) / 2;
    d += ` Q${points[i].x},${points[i].y} ${mx},${my}`;
  }
  const last = points[points.length - 1];
  return d + ` L${last.x},${last.y}`;
}
