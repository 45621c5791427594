// The tree editor: talks to /api/v1 with the session cookie and the page's CSRF token.
// No framework and no build step; every piece of operator text goes in through textContent.
"use strict";

(function () {
  const root = document.getElementById("editor");
  if (!root) return;
  const treeId = root.dataset.tree;
  const canEdit = root.dataset.canEdit === "yes";
  const canPublish = root.dataset.canPublish === "yes";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const base = "/api/v1/menus/" + encodeURIComponent(treeId);
  const LANGS = ["en", "sw"];
  const KINDS = ["menu", "input", "list", "action", "end"];
  const SVG = "http://www.w3.org/2000/svg";

  const state = {
    doc: null, // the working copy of the draft document
    journeys: null,
    revision: null,
    dirty: false,
    selected: null,
    problems: [],
    layout: null,
    simKeys: [],
    liveVersion: null,
  };

  // -- small helpers -------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "text") node.textContent = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    return node;
  }

  async function api(method, path, body) {
    const response = await fetch(base + path, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = {};
    try {
      data = await response.json();
    } catch (_) {
      data = { message: "unexpected reply (" + response.status + ")" };
    }
    return { status: response.status, data };
  }

  function say(message, kind) {
    const box = document.getElementById("status");
    box.textContent = "";
    box.className = "status " + (kind || "info");
    box.append(el("span", { text: message }));
    return box;
  }

  function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
      clearTimeout(timer);
      timer = setTimeout(() => fn(...args), ms);
    };
  }

  function nodes() {
    return state.doc && typeof state.doc.nodes === "object" ? state.doc.nodes : {};
  }

  // "text sw: '' should be non-empty" rather than a bare schema message: say where in the node.
  function problemText(p) {
    const parts = (p.path || "").split("/");
    const where = p.node && parts[0] === "nodes" && parts.length > 2 ? parts.slice(2).join(" ") + ": " : "";
    return where + p.message;
  }

  function problemsAt(nodeId) {
    return state.problems.filter((p) => p.node === nodeId);
  }

  function markDirty() {
    state.dirty = true;
    document.getElementById("revision").textContent =
      "revision " + state.revision + " · unsaved changes";
    revalidate();
  }

  // -- loading -------------------------------------------------------------------------------
  async function load() {
    const { status, data } = await api("GET", "/draft");
    if (status !== 200) {
      say(data.message || "cannot load the draft", "error");
      return;
    }
    state.doc = data.document;
    state.journeys = data.journeys;
    state.revision = data.revision;
    state.problems = data.problems;
    state.layout = data.layout;
    state.liveVersion = data.live_version;
    state.dirty = false;
    document.getElementById("tree-title").textContent = (data.document.title || treeId) + " (" + treeId + ")";
    document.getElementById("revision").textContent =
      "revision " + data.revision + " · saved by " + data.updated_by;
    const codes = data.document.service_codes || [];
    if (codes.length) document.getElementById("sim-dial").textContent = "Dial " + codes[0];
    const keep = state.selected && nodes()[state.selected] ? state.selected : data.document.start;
    document.getElementById("journeys-json").value = JSON.stringify(data.journeys, null, 2);
    renderGraph();
    renderProblems();
    select(keep);
    loadHistory();
  }

  // -- the graph -----------------------------------------------------------------------------
  function renderGraph() {
    const box = document.getElementById("graph");
    box.textContent = "";
    const layout = state.layout;
    if (!layout) return;
    const w = layout.node_width;
    const h = layout.node_height;
    const picture = svg("svg", {
      width: layout.width,
      height: layout.height,
      viewBox: "0 0 " + layout.width + " " + layout.height,
      role: "img",
      "aria-label": "menu tree",
    });
    const at = {};
    for (const node of layout.nodes) at[node.id] = node;
    for (const edge of layout.edges) {
      const from = at[edge.from];
      const to = at[edge.to];
      if (!from) continue;
      if (!to) {
        picture.append(
          svg("line", {
            x1: from.x + w, y1: from.y + h / 2, x2: from.x + w + 24, y2: from.y + h / 2,
            class: "edge dangling",
          })
        );
        continue;
      }
      const x1 = from.x + w;
      const y1 = from.y + h / 2;
      const x2 = to.x;
      const y2 = to.y + h / 2;
      const back = x2 <= x1;
      const path = back
        ? `M${x1},${y1} C${x1 + 40},${y1 - 30} ${x2 - 40},${y2 - 30} ${x2},${y2}`
        : `M${x1},${y1} C${x1 + 20},${y1} ${x2 - 20},${y2} ${x2},${y2}`;
      picture.append(svg("path", { d: path, class: back ? "edge back" : "edge" }));
    }
    for (const node of layout.nodes) {
      const bad = problemsAt(node.id).length > 0;
      const group = svg("g", {
        class:
          "node kind-" + node.kind + (bad ? " has-problem" : "") +
          (node.id === state.selected ? " selected" : "") + (node.start ? " start" : ""),
        "data-node": node.id,
        transform: `translate(${node.x},${node.y})`,
        tabindex: "0",
      });
      group.append(svg("rect", { width: w, height: h, rx: 5 }));
      const label = svg("text", { x: 8, y: h / 2 + 4 });
      label.textContent = (bad ? "⚠ " : "") + node.id;
      group.append(label);
      const kind = svg("text", { x: w - 6, y: h / 2 + 4, "text-anchor": "end", class: "kind" });
      kind.textContent = node.kind;
      group.append(kind);
      group.addEventListener("click", () => select(node.id));
      group.addEventListener("keydown", (e) => e.key === "Enter" && select(node.id));
      picture.append(group);
    }
    box.append(picture);
  }

  // -- the node editor -----------------------------------------------------------------------
  const ADVANCED_SKIP = new Set(["kind", "text", "options"]);

  function select(nodeId) {
    state.selected = nodeId;
    document.getElementById("node-id").textContent = nodeId || "";
    for (const g of document.querySelectorAll("#graph g.node")) {
      g.classList.toggle("selected", g.dataset.node === nodeId);
    }
    renderNode();
  }

  function renderNode() {
    const box = document.getElementById("node-editor");
    box.textContent = "";
    const nodeId = state.selected;
    const node = nodes()[nodeId];
    if (!node) {
      box.append(el("p", { class: "muted", text: "Pick a node in the tree." }));
      return;
    }
    const here = problemsAt(nodeId);
    if (here.length) {
      const list = el("ul", { class: "node-problems", id: "node-problems" });
      for (const p of here) list.append(el("li", { text: problemText(p) }));
      box.append(list);
    }
    const kind = el("select", { id: "node-kind", disabled: !canEdit || null });
    for (const k of KINDS) kind.append(el("option", { value: k, text: k, selected: k === node.kind || null }));
    kind.addEventListener("change", () => {
      node.kind = kind.value;
      markDirty();
      renderNode();
    });
    box.append(el("label", { class: "row" }, "Kind ", kind));

    if (node.kind !== "action") {
      node.text = node.text || {};
      for (const lang of LANGS) {
        const area = el("textarea", {
          rows: 3, "data-field": "text", "data-lang": lang, id: "text-" + lang, readonly: !canEdit || null,
        });
        area.value = node.text[lang] || "";
        area.addEventListener("input", () => {
          node.text[lang] = area.value;
          markDirty();
          remeasure();
        });
        box.append(el("label", { class: "block" }, "Text (" + lang + ")", area));
      }
    }

    if (node.kind === "menu") {
      node.options = node.options || [];
      const list = el("div", { class: "options", id: "options" });
      node.options.forEach((option, index) => list.append(optionRow(node, option, index)));
      box.append(el("h3", { text: "Options" }), list);
      if (canEdit) {
        box.append(
          el("button", {
            type: "button", id: "add-option", text: "Add option",
            onclick: () => {
              node.options.push({ label: { en: "", sw: "" }, next: nodeId });
              markDirty();
              renderNode();
            },
          })
        );
      }
    }

    box.append(el("h3", { text: "Screens" }), el("div", { id: "measure", class: "measure" }));

    const advanced = {};
    for (const [key, value] of Object.entries(node)) if (!ADVANCED_SKIP.has(key)) advanced[key] = value;
    const raw = el("textarea", { rows: 5, id: "advanced", spellcheck: "false", readonly: !canEdit || null });
    raw.value = JSON.stringify(advanced, null, 2);
    const rawError = el("div", { class: "error", id: "advanced-error" });
    raw.addEventListener("input", () => {
      let parsed;
      try {
        parsed = JSON.parse(raw.value || "{}");
        if (typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("an object, please");
      } catch (err) {
        rawError.textContent = "Not valid JSON: " + err.message;
        return;
      }
      rawError.textContent = "";
      for (const key of Object.keys(node)) if (!ADVANCED_SKIP.has(key)) delete node[key];
      Object.assign(node, parsed);
      markDirty();
    });
    box.append(
      el("details", {}, el("summary", { text: "Other fields (input, action, store, next, failure…) as JSON" }), raw, rawError)
    );

    if (canEdit && nodeId !== (state.doc && state.doc.start)) {
      box.append(
        el("button", {
          type: "button", id: "remove-node", class: "danger", text: "Remove this node",
          onclick: () => {
            if (!window.confirm("Remove node " + nodeId + "? Options leading to it will show as errors.")) return;
            delete nodes()[nodeId];
            state.selected = state.doc.start;
            markDirty();
            renderNode();
          },
        })
      );
    }
    remeasure();
  }

  function optionRow(node, option, index) {
    option.label = option.label || {};
    const row = el("div", { class: "option", "data-index": String(index) });
    row.append(el("span", { class: "number", text: index + 1 + "." }));
    for (const lang of LANGS) {
      const input = el("input", {
        type: "text", "data-lang": lang, placeholder: lang, "aria-label": "option " + (index + 1) + " " + lang,
        readonly: !canEdit || null,
      });
      input.value = option.label[lang] || "";
      input.addEventListener("input", () => {
        option.label[lang] = input.value;
        markDirty();
        remeasure();
      });
      row.append(input);
    }
    const next = el("select", { "data-field": "next", "aria-label": "option " + (index + 1) + " leads to", disabled: !canEdit || null });
    const ids = Object.keys(nodes());
    if (!ids.includes(option.next)) ids.push(option.next);
    for (const id of ids) next.append(el("option", { value: id, text: "→ " + id, selected: id === option.next || null }));
    next.addEventListener("change", () => {
      option.next = next.value;
      markDirty();
    });
    row.append(next);
    if (canEdit) {
      row.append(
        el("button", {
          type: "button", class: "small", text: "✕", title: "remove option",
          onclick: () => {
            node.options.splice(index, 1);
            markDirty();
            renderNode();
          },
        })
      );
    }
    return row;
  }

  // Pages are computed by the server with the engine's own pagination (menus.render.paginate).
  const remeasure = debounce(async () => {
    const nodeId = state.selected;
    const node = nodes()[nodeId];
    const box = document.getElementById("measure");
    if (!node || !box) return;
    const { status, data } = await api("POST", "/draft/measure", { node_id: nodeId, node, document: state.doc });
    if (status !== 200 || nodeId !== state.selected) return;
    box.textContent = "";
    for (const lang of LANGS) {
      const m = data.languages[lang];
      const pages = m.pages.length;
      const line = el("div", {
        class: "count" + (m.over ? " over" : ""),
        "data-lang": lang,
        text:
          lang + ": text " + m.text_chars + " chars · " + pages + (pages === 1 ? " page" : " pages") +
          " · longest screen " + Math.max(...m.page_chars) + "/" + data.limit +
          " (with an error notice " + m.worst_chars + ")",
      });
      box.append(line);
      m.pages.forEach((page, i) => box.append(el("pre", { class: "page", text: page, title: lang + " page " + (i + 1) })));
    }
  }, 150);

  // -- checking ------------------------------------------------------------------------------
  function renderProblems() {
    const list = document.getElementById("problems");
    list.textContent = "";
    if (!state.problems.length) list.append(el("li", { class: "ok", text: "No problems." }));
    for (const p of state.problems) {
      const item = el("li", { class: "problem" });
      if (p.node) {
        item.append(el("a", { href: "#", text: p.node, onclick: (e) => { e.preventDefault(); select(p.node); } }), ": ");
      } else if (p.path) {
        item.append(el("code", { text: p.path }), ": ");
      }
      item.append(problemText(p));
      list.append(item);
    }
  }

  const revalidate = debounce(async () => {
    const { status, data } = await api("POST", "/draft/validate", { document: state.doc });
    if (status !== 200) return;
    applyProblems(data);
  }, 400);

  function applyProblems(data) {
    state.problems = data.problems;
    if (data.layout) state.layout = data.layout;
    renderGraph();
    renderProblems();
    renderNodeProblemsOnly();
  }

  function renderNodeProblemsOnly() {
    // Refresh the node's problem list without re-rendering its inputs (keeps the caret).
    const box = document.getElementById("node-editor");
    const old = document.getElementById("node-problems");
    if (old) old.remove();
    const here = problemsAt(state.selected);
    if (!here.length) return;
    const list = el("ul", { class: "node-problems", id: "node-problems" });
    for (const p of here) list.append(el("li", { text: problemText(p) }));
    box.prepend(list);
  }

  // -- saving, testing, publishing -----------------------------------------------------------
  async function save(force) {
    const { status, data } = await api("PUT", "/draft", {
      revision: force ? force : state.revision,
      document: state.doc,
      journeys: state.journeys,
    });
    if (status === 200) {
      state.revision = data.revision;
      state.problems = data.problems;
      state.layout = data.layout;
      state.dirty = false;
      document.getElementById("revision").textContent = "revision " + data.revision + " · saved by " + data.updated_by;
      renderGraph();
      renderProblems();
      renderNodeProblemsOnly();
      say("Saved revision " + data.revision + (data.problems.length ? " (with " + data.problems.length + " problem(s))" : "."), "ok");
    } else if (status === 409) {
      const box = say(data.message + " ", "error");
      box.append(
        el("button", { type: "button", id: "overwrite", text: "Save mine over revision " + data.current_revision, onclick: () => save(data.current_revision) }),
        " ",
        el("button", { type: "button", id: "reload", text: "Discard mine and reload", onclick: load })
      );
    } else {
      say(data.message || "not saved", "error");
    }
  }

  function showJourneys(data) {
    const list = document.getElementById("journeys");
    list.textContent = "";
    for (const name of data.journeys.passed) list.append(el("li", { class: "ok", text: "✓ " + name }));
    for (const f of data.journeys.failures) {
      list.append(el("li", { class: "problem" }, "✗ " + f.journey + " (step " + f.step + "): " + f.message, el("pre", { text: f.screen })));
    }
  }

  async function runTests() {
    const { status, data } = await api("POST", "/draft/test", { document: state.doc, journeys: state.journeys });
    if (status !== 200) return say(data.message || "tests did not run", "error");
    applyProblems(data);
    showJourneys(data);
    say(data.ok ? "Valid, and all " + data.journeys.passed.length + " journey tests pass." : "The draft has problems: see below.", data.ok ? "ok" : "error");
  }

  async function publish() {
    if (state.dirty) return say("Save the draft first: publishing takes the saved draft.", "error");
    const note = document.getElementById("publish-note").value;
    const { status, data } = await api("POST", "/publish", { note, revision: state.revision });
    if (status === 201) {
      say("Published version " + data.number + " (" + data.version + "). New dials get it now.", "ok");
      document.getElementById("publish-note").value = "";
      loadHistory();
    } else {
      if (data.problems && data.problems.length) applyProblems(data);
      if (data.journeys) showJourneys(data);
      say(data.message || "not published", "error");
    }
  }

  // -- history, diff, rollback ---------------------------------------------------------------
  async function loadHistory() {
    const { status, data } = await api("GET", "/versions");
    if (status !== 200) return;
    state.liveVersion = data.live_version;
    const table = document.getElementById("history");
    table.textContent = "";
    table.append(el("tr", {}, ...["#", "version", "author", "note", "created", ""].map((t) => el("th", { text: t }))));
    for (const v of data.versions) {
      const live = v.version === data.live_version;
      const actions = el("td", {});
      actions.append(el("button", { type: "button", class: "small", text: "Diff with draft", "data-diff": String(v.number), onclick: () => showDiff(String(v.number), "draft") }));
      if (canPublish && !live) {
        actions.append(" ", el("button", { type: "button", class: "small", text: "Roll back to this", "data-rollback": String(v.number), onclick: () => rollback(v) }));
      }
      table.append(
        el("tr", { class: live ? "live" : "" },
          el("td", { text: String(v.number) }),
          el("td", {}, el("code", { text: v.version }), live ? el("strong", { text: " live" }) : null),
          el("td", { text: v.author }),
          el("td", { text: v.note }),
          el("td", { text: v.created_at || "" }),
          actions)
      );
    }
    const events = el("tr", {}, el("td", { colspan: "6", class: "muted", text: data.publications.map((p) => p.kind + " #" + p.number + " by " + p.author + " at " + p.published_at).join(" · ") }));
    table.append(events);
  }

  async function showDiff(from, to) {
    const { status, data } = await api("GET", "/diff?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to));
    const box = document.getElementById("diff");
    box.textContent = "";
    if (status !== 200) return say(data.message || "no diff", "error");
    if (!data.unified) {
      box.append(el("span", { text: data.from + " and " + data.to + " are the same." }));
      return;
    }
    for (const line of data.unified.split("\n")) {
      const cls = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
      box.append(el("span", { class: cls, text: line + "\n" }));
    }
  }

  async function rollback(version) {
    const note = window.prompt("Roll back to version " + version.number + ". Why?", "rollback");
    if (note === null) return;
    const { status, data } = await api("POST", "/rollback", { version: version.version, note });
    if (status === 201) {
      say("Rolled back: version " + data.number + " (" + data.version + ") is live again.", "ok");
      loadHistory();
    } else {
      say(data.message || "not rolled back", "error");
    }
  }

  // -- simulator -----------------------------------------------------------------------------
  async function simulate() {
    const lang = document.getElementById("sim-lang").value;
    const { status, data } = await api("POST", "/draft/simulate", { keys: state.simKeys, lang, document: state.doc });
    const screen = document.getElementById("screen");
    if (status !== 200) {
      screen.textContent = data.message || "cannot simulate";
      return;
    }
    screen.textContent = data.reply;
    screen.classList.toggle("ended", data.final);
    document.getElementById("screen-chars").textContent = data.chars + "/" + data.limit + " chars · node " + data.node;
  }

  function dial() {
    state.simKeys = [];
    simulate();
  }

  function send() {
    const input = document.getElementById("sim-key");
    state.simKeys.push(input.value.trim());
    input.value = "";
    simulate();
  }

  // -- wiring --------------------------------------------------------------------------------
  document.getElementById("save").addEventListener("click", () => save());
  document.getElementById("validate").addEventListener("click", async () => {
    const { data } = await api("POST", "/draft/validate", { document: state.doc });
    applyProblems(data);
    say(data.ok ? "Valid." : data.problems.length + " problem(s): see the marked nodes.", data.ok ? "ok" : "error");
  });
  document.getElementById("test").addEventListener("click", runTests);
  document.getElementById("journeys-json").addEventListener("input", (e) => {
    const error = document.getElementById("journeys-error");
    try {
      const parsed = JSON.parse(e.target.value);
      if (!parsed || !Array.isArray(parsed.journeys)) throw new Error("needs a list of \"journeys\"");
      state.journeys = parsed;
      error.textContent = "";
      markDirty();
    } catch (err) {
      error.textContent = "Not saved until valid: " + err.message;
    }
  });
  if (!canEdit) document.getElementById("journeys-json").readOnly = true;
  document.getElementById("publish").addEventListener("click", publish);
  document.getElementById("sim-dial").addEventListener("click", dial);
  document.getElementById("sim-send").addEventListener("click", send);
  document.getElementById("sim-key").addEventListener("keydown", (e) => e.key === "Enter" && send());
  document.getElementById("add-node").addEventListener("click", () => {
    const id = document.getElementById("new-node-id").value.trim();
    const kind = document.getElementById("new-node-kind").value;
    if (!/^[a-z][a-z0-9_]{0,39}$/.test(id)) return say("A node id is lower-case letters, digits and _, starting with a letter.", "error");
    if (nodes()[id]) return say("There is already a node " + id + ".", "error");
    const fresh = { kind };
    if (kind !== "action") fresh.text = { en: "", sw: "" };
    if (kind === "menu") fresh.options = [];
    nodes()[id] = fresh;
    document.getElementById("new-node-id").value = "";
    state.selected = id;
    markDirty();
    select(id);
    say("Added " + id + ": link it from an option or a next field, fill both texts, then save.", "info");
  });
  window.addEventListener("beforeunload", (e) => {
    if (state.dirty) e.preventDefault();
  });
  for (const id of ["save", "add-node"]) if (!canEdit) document.getElementById(id).disabled = true;
  if (!canPublish) document.getElementById("publish").disabled = true;

  load();
})();
