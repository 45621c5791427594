// The tree editor page: the graph, the node editor, checks, saving and publishing. It talks to
// /api/v1 only through Api; every piece of operator text goes in through textContent.
import { Api } from "./api.js";
import { GraphView } from "./graph.js";
import { el, debounce, shorten, clone } from "./util.js";
import { History } from "./history.js";
import { Journeys } from "./journeys.js";
import { Simulator } from "./simulator.js";
import { Translations } from "./translations.js";
import { ReleasePanel } from "./releases.js";

const LANGS = ["en", "sw"];
const LANG_NAMES = { en: "English", sw: "Kiswahili" };
const KINDS = ["menu", "input", "list", "action", "end"];
const ADVANCED_SKIP = new Set(["kind", "text", "options"]);
const UNDO_LIMIT = 200;
const ID_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;

const root = document.getElementById("editor");
if (root) start(root);

function start(root) {
  const treeId = root.dataset.tree;
  const role = root.dataset.role;
  const canEdit = root.dataset.canEdit === "yes";
  const canPublish = root.dataset.canPublish === "yes";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);

  const state = {
    doc: null,
    journeys: null,
    revision: null,
    updatedBy: null,
    problems: [],
    graph: null,
    selected: null,
    dirty: false,
    liveVersion: null,
    screenLimit: Number(root.dataset.limit),
    undo: [],
    redo: [],
    lastEdit: { key: null, at: 0 },
    edits: 0,
  };

  const api = new Api("/api/v1/menus/" + encodeURIComponent(treeId), csrf, showExpired);

  // -- status line -----------------------------------------------------------------------------
  function say(message, kind) {
    const box = $("status");
    box.textContent = "";
    box.className = "status " + (kind || "info");
    box.append(el("span", { text: message }));
    return box;
  }

  function showExpired() {
    const banner = $("session-banner");
    if (!banner.hidden) return;
    banner.hidden = false;
    banner.querySelector("a").href = "/console/login?next=" + encodeURIComponent("/console/relogged");
  }

  $("session-continue").addEventListener("click", async () => {
    if (await api.refresh()) {
      $("session-banner").hidden = true;
      say("Logged in again. Your edits were kept; carry on.", "ok");
    } else {
      say("Still not logged in: use the link to log in (it opens a new tab), then press Continue.", "error");
    }
  });

  // -- the document ----------------------------------------------------------------------------
  function nodes() {
    return state.doc && typeof state.doc.nodes === "object" && state.doc.nodes ? state.doc.nodes : {};
  }

  function problemsAt(nodeId) {
    return state.problems.filter((p) => p.node === nodeId);
  }

  // Say where inside the node: "text sw: …" rather than a bare schema message.
  function problemText(p) {
    const parts = (p.path || "").split("/");
    const where = p.node && parts[0] === "nodes" && parts.length > 2 ? parts.slice(2).join(" ") + ": " : "";
    return where + p.message;
  }

  function snapshot() {
    return { doc: clone(state.doc), journeys: clone(state.journeys), selected: state.selected };
  }

  // Call before changing state.doc or state.journeys. Keystrokes in one field within a second are
  // one undo step.
  function beginEdit(key) {
    const now = Date.now();
    const same = key && key === state.lastEdit.key && now - state.lastEdit.at < 1000;
    state.lastEdit = { key, at: now };
    if (same) return;
    state.undo.push(snapshot());
    if (state.undo.length > UNDO_LIMIT) state.undo.shift();
    state.redo = [];
    updateUndoButtons();
  }

  function edited({ structure = false } = {}) {
    state.edits += 1;
    state.dirty = true;
    $("revision").textContent = "revision " + state.revision + " · unsaved changes";
    updateUndoButtons();
    if (structure) refreshLists();
    revalidate();
    translations.render();
  }

  function restore(from, to) {
    if (!from.length) return;
    to.push(snapshot());
    const shot = from.pop();
    state.doc = shot.doc;
    state.journeys = shot.journeys;
    state.lastEdit = { key: null, at: 0 };
    const keep = nodes()[state.selected] ? state.selected : shot.selected;
    edited({ structure: true });
    journeys.load(state.journeys);
    select(nodes()[keep] ? keep : state.doc.start);
  }

  function updateUndoButtons() {
    $("undo").disabled = !canEdit || !state.undo.length;
    $("redo").disabled = !canEdit || !state.redo.length;
  }

  // -- loading ---------------------------------------------------------------------------------
  async function load() {
    say("Loading the draft…", "info");
    const { status, data } = await api.call("GET", "/draft");
    if (status !== 200) {
      say(data.message || "Cannot load the draft.", "error");
      return;
    }
    adopt(data);
    state.undo = [];
    state.redo = [];
    updateUndoButtons();
    $("tree-title").textContent = (data.document.title || treeId) + " (" + treeId + ")";
    const keep = state.selected && nodes()[state.selected] ? state.selected : data.document.start;
    journeys.load(data.journeys);
    simulator.configure(data);
    refreshLists();
    applyProblems(data);
    select(keep);
    translations.render();
    history.load();
    say("Draft revision " + data.revision + " loaded.", "info");
    root.dataset.loaded = "yes";
  }

  function adopt(data) {
    state.doc = data.document;
    state.journeys = data.journeys;
    state.revision = data.revision;
    state.updatedBy = data.updated_by;
    state.liveVersion = data.live_version;
    state.dirty = false;
    $("revision").textContent = "revision " + data.revision + " · saved by " + data.updated_by;
  }

  // -- the graph -------------------------------------------------------------------------------
  const graphView = new GraphView($("graph"), {
    onSelect: (id) => select(id),
    onOpen: (id) => {
      select(id);
      focusEditor();
    },
  });

  function focusEditor() {
    const first = $("node-editor").querySelector("textarea, input, select");
    (first || $("node-pane")).focus();
  }

  // -- search ----------------------------------------------------------------------------------
  const searchBox = $("graph-search");
  const results = $("search-results");

  // A screen is found by its id, its texts, its options, and the labels of the options that
  // lead to it ("Track application" finds the screen that option opens).
  function matches(query) {
    const phrase = query.toLowerCase().trim();
    const words = phrase.split(/\s+/).filter(Boolean);
    if (!words.length) return [];
    const incoming = {};
    for (const node of Object.values(nodes())) {
      for (const option of node.options || []) {
        for (const l of LANGS) {
          const label = ((option.label && option.label[l]) || "").toLowerCase();
          if (label && option.next) (incoming[option.next] = incoming[option.next] || []).push(label);
        }
      }
    }
    const found = [];
    for (const [id, node] of Object.entries(nodes())) {
      const texts = LANGS.map((l) => ((node.text && node.text[l]) || "").toLowerCase());
      const labels = [];
      for (const option of node.options || []) for (const l of LANGS) labels.push(((option.label && option.label[l]) || "").toLowerCase());
      const into = incoming[id] || [];
      const hay = [id, ...texts, ...labels, ...into].join(" \n ");
      if (!words.every((w) => hay.includes(w))) continue;
      let rank = 3;
      if (id === phrase || into.includes(phrase)) rank = 0;
      else if (texts.some((t) => t.split("\n")[0].includes(phrase)) || into.some((t) => t.includes(phrase))) rank = 1;
      else if (id.includes(words[0])) rank = 2;
      found.push({ id, node, rank, via: into.find((t) => t.includes(words[0])) });
    }
    return found.sort((a, b) => a.rank - b.rank || a.id.localeCompare(b.id)).slice(0, 12);
  }

  function showResults() {
    results.textContent = "";
    const found = matches(searchBox.value);
    results.hidden = !searchBox.value.trim();
    if (!found.length && searchBox.value.trim()) {
      results.append(el("li", { class: "muted", text: "No screen matches." }));
      return;
    }
    found.forEach((item, index) => {
      const text = (item.node.text && (item.node.text.en || item.node.text.sw)) || item.node.action || "";
      results.append(
        el("li", { role: "option", id: "search-option-" + index, "data-node": item.id, "aria-selected": index === 0 ? "true" : "false",
          onmousedown: (e) => {
            e.preventDefault();
            jump(item.id);
          } },
        el("code", { text: item.id }), " ", el("span", { text: shorten(text, 50) }),
        item.via ? el("span", { class: "muted", text: " · opened by “" + item.via + "”" }) : null)
      );
    });
  }

  function jump(id) {
    searchBox.value = "";
    results.hidden = true;
    select(id, { center: true });
    say("Jumped to " + id + ".", "info");
  }

  searchBox.addEventListener("input", showResults);
  searchBox.addEventListener("keydown", (e) => {
    const options = [...results.querySelectorAll("li[data-node]")];
    const at = options.findIndex((o) => o.getAttribute("aria-selected") === "true");
    if (e.key === "Enter") {
      e.preventDefault();
      if (at >= 0) jump(options[at].dataset.node);
    } else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!options.length) return;
      const next = (at + (e.key === "ArrowDown" ? 1 : -1) + options.length) % options.length;
      options.forEach((o, i) => o.setAttribute("aria-selected", i === next ? "true" : "false"));
      searchBox.setAttribute("aria-activedescendant", options[next].id);
    } else if (e.key === "Escape") {
      searchBox.value = "";
      results.hidden = true;
    }
  });
  searchBox.addEventListener("blur", () => setTimeout(() => (results.hidden = true), 150));

  // -- node ids for the "leads to" pickers -----------------------------------------------------
  function refreshLists() {
    const list = $("node-ids");
    list.textContent = "";
    for (const [id, node] of Object.entries(nodes())) {
      const text = (node.text && node.text.en) || (node.action ? "action " + node.action : "");
      list.append(el("option", { value: id, label: shorten(text, 40) }));
    }
  }

  // -- the node editor -------------------------------------------------------------------------
  function select(nodeId, { center = false } = {}) {
    state.selected = nodeId;
    $("node-id").textContent = nodeId || "";
    graphView.select(nodeId, { center });
    renderNode();
  }

  function renderNode() {
    const box = $("node-editor");
    box.textContent = "";
    const nodeId = state.selected;
    const node = nodes()[nodeId];
    if (!node) {
      $("node-id").textContent = "";
      box.append(el("p", { class: "muted", text: "Pick a screen in the graph, or search for one." }));
      return;
    }
    box.append(nodeProblemList(nodeId));
    const kind = el("select", { id: "node-kind", disabled: !canEdit });
    for (const k of KINDS) kind.append(el("option", { value: k, text: k, selected: k === node.kind }));
    kind.addEventListener("change", () => {
      beginEdit();
      node.kind = kind.value;
      edited({ structure: true });
      renderNode();
    });
    const tools = el("div", { class: "node-tools" }, el("label", { class: "row" }, "Kind ", kind));
    if (canEdit) {
      tools.append(
        el("button", { type: "button", id: "duplicate-node", class: "small", text: "Duplicate", onclick: () => duplicate(nodeId) })
      );
      if (nodeId !== state.doc.start) {
        tools.append(el("button", { type: "button", id: "remove-node", class: "small danger", text: "Remove", onclick: () => remove(nodeId) }));
      }
    }
    box.append(tools);

    if (node.kind !== "action") {
      node.text = node.text || {};
      for (const lang of LANGS) {
        const area = el("textarea", { rows: 3, "data-field": "text", "data-lang": lang, id: "text-" + lang, readonly: !canEdit });
        area.value = node.text[lang] || "";
        area.addEventListener("input", () => {
          beginEdit("text:" + nodeId + ":" + lang);
          node.text[lang] = area.value;
          edited();
          remeasure();
        });
        box.append(el("label", { class: "block" }, "Screen text (" + LANG_NAMES[lang] + ")", area));
      }
    }

    if (node.kind === "menu") {
      node.options = node.options || [];
      const list = el("ol", { class: "options", id: "options" });
      node.options.forEach((option, index) => list.append(optionRow(node, option, index)));
      box.append(el("h3", { text: "Options" }), list);
      if (canEdit) {
        box.append(
          el("button", { type: "button", id: "add-option", class: "small", text: "Add option",
            onclick: () => {
              beginEdit();
              node.options.push({ label: { en: "", sw: "" }, next: nodeId });
              edited({ structure: true });
              renderNode();
              const rows = $("options").querySelectorAll("li");
              rows[rows.length - 1].querySelector("input").focus();
            } })
        );
      }
    }

    box.append(el("h3", { text: "Screens as a phone shows them" }), el("div", { id: "measure", class: "measure", "aria-live": "polite" }));

    const advanced = {};
    for (const [key, value] of Object.entries(node)) if (!ADVANCED_SKIP.has(key)) advanced[key] = value;
    const raw = el("textarea", { rows: 6, id: "advanced", spellcheck: "false", readonly: !canEdit });
    raw.value = JSON.stringify(advanced, null, 2);
    const rawError = el("div", { class: "error", id: "advanced-error", role: "alert" });
    raw.addEventListener("input", () => {
      let parsed;
      try {
        parsed = JSON.parse(raw.value || "{}");
        if (typeof parsed !== "object" || Array.isArray(parsed) || parsed === null) throw new Error("an object, please");
      } catch (err) {
        rawError.textContent = "Not valid JSON yet: " + err.message;
        return;
      }
      rawError.textContent = "";
      beginEdit("advanced:" + nodeId);
      for (const key of Object.keys(node)) if (!ADVANCED_SKIP.has(key)) delete node[key];
      Object.assign(node, parsed);
      edited({ structure: true });
    });
    box.append(
      el("details", { class: "advanced" },
        el("summary", { text: "Other fields (input check, action, store, next, failure, errors…) as JSON" }),
        raw, rawError)
    );
    remeasure();
  }

  function nodeProblemList(nodeId) {
    const here = problemsAt(nodeId);
    const onlyWarnings = here.length && here.every((p) => p.severity === "warning");
    const list = el("ul", { class: "node-problems" + (onlyWarnings ? " only-warnings" : ""), id: "node-problems", hidden: !here.length });
    for (const p of here) list.append(el("li", { class: p.severity === "warning" ? "warning" : "error", text: (p.severity === "warning" ? "Warning: " : "") + problemText(p) }));
    return list;
  }

  function optionRow(node, option, index) {
    option.label = option.label || {};
    const row = el("li", { class: "option", "data-index": String(index) });
    const labels = el("div", { class: "option-labels" });
    for (const lang of LANGS) {
      const input = el("input", {
        type: "text", "data-lang": lang, placeholder: LANG_NAMES[lang], readonly: !canEdit,
        "aria-label": "option " + (index + 1) + " label in " + LANG_NAMES[lang],
      });
      input.value = option.label[lang] || "";
      input.addEventListener("input", () => {
        beginEdit("option:" + index + ":" + lang + ":" + state.selected);
        option.label[lang] = input.value;
        edited();
        remeasure();
      });
      labels.append(input);
    }
    const next = el("input", {
      type: "text", list: "node-ids", "data-field": "next", value: option.next || "", readonly: !canEdit,
      "aria-label": "option " + (index + 1) + " leads to (type to search)", placeholder: "leads to…", autocomplete: "off",
    });
    const hint = el("span", { class: "leads-hint muted" });
    const describe = () => {
      const target = nodes()[next.value];
      hint.textContent = target ? shorten((target.text && target.text.en) || target.action || "", 40) : next.value ? "no such screen" : "";
      hint.classList.toggle("error", !target);
    };
    describe();
    next.addEventListener("change", () => {
      describe();
      if (!nodes()[next.value]) return;
      beginEdit();
      option.next = next.value;
      edited({ structure: true });
    });
    next.addEventListener("input", describe);
    const move = el("div", { class: "option-tools" },
      el("label", { class: "leads" }, "→ ", next),
      canEdit ? el("button", { type: "button", class: "small", "data-move": "up", title: "Move up", "aria-label": "Move option " + (index + 1) + " up", text: "↑", disabled: index === 0, onclick: () => moveOption(node, index, -1) }) : null,
      canEdit ? el("button", { type: "button", class: "small", "data-move": "down", title: "Move down", "aria-label": "Move option " + (index + 1) + " down", text: "↓", disabled: index === node.options.length - 1, onclick: () => moveOption(node, index, 1) }) : null,
      canEdit ? el("button", { type: "button", class: "small", "data-remove-option": String(index), title: "Remove option", "aria-label": "Remove option " + (index + 1), text: "✕", onclick: () => {
        beginEdit();
        node.options.splice(index, 1);
        edited({ structure: true });
        renderNode();
      } }) : null
    );
    row.append(el("span", { class: "number", text: "Option " + (index + 1) + " (key " + (index + 1) + ")" }), labels, move, hint);
    return row;
  }

  function moveOption(node, index, delta) {
    beginEdit();
    const [option] = node.options.splice(index, 1);
    node.options.splice(index + delta, 0, option);
    edited({ structure: true });
    renderNode();
    const button = $("options").querySelector(`li[data-index="${index + delta}"] button[data-move="${delta < 0 ? "up" : "down"}"]`);
    if (button && !button.disabled) button.focus();
  }

  function freeId(base) {
    let id = base.slice(0, 35);
    let n = 2;
    while (nodes()[id]) id = base.slice(0, 35) + "_" + n++;
    return id;
  }

  function duplicate(nodeId) {
    const id = freeId(nodeId + "_copy");
    beginEdit();
    nodes()[id] = clone(nodes()[nodeId]);
    edited({ structure: true });
    select(id, { center: true });
    say("Duplicated " + nodeId + " as " + id + ". Link it from an option or a next field, then save.", "info");
  }

  function remove(nodeId) {
    const callers = Object.entries(nodes()).filter(([id, n]) => id !== nodeId && JSON.stringify(n).includes('"' + nodeId + '"')).map(([id]) => id);
    const warning = callers.length ? " " + callers.length + " screen(s) lead to it (" + callers.slice(0, 5).join(", ") + "): they will show as problems." : "";
    if (!window.confirm("Remove " + nodeId + "?" + warning + " You can undo this.")) return;
    beginEdit();
    delete nodes()[nodeId];
    edited({ structure: true });
    select(state.doc.start);
    say("Removed " + nodeId + ". Undo brings it back.", "info");
  }

  function addNode() {
    const id = $("new-node-id").value.trim();
    const kind = $("new-node-kind").value;
    if (!ID_PATTERN.test(id)) return say("A screen id is lower-case letters, digits and _, starting with a letter (at most 40).", "error");
    if (nodes()[id]) return say("There is already a screen " + id + ".", "error");
    const fresh = { kind };
    if (kind !== "action") fresh.text = { en: "", sw: "" };
    if (kind === "menu") fresh.options = [];
    beginEdit();
    nodes()[id] = fresh;
    $("new-node-id").value = "";
    edited({ structure: true });
    select(id, { center: true });
    say("Added " + id + ": link it from an option or a next field, fill both texts, then save.", "info");
  }

  // -- measuring -------------------------------------------------------------------------------
  // Pages are computed by the server with the engine's own rendering.
  const remeasure = debounce(async () => {
    const nodeId = state.selected;
    const node = nodes()[nodeId];
    const box = $("measure");
    if (!node || !box) return;
    if (node.kind === "action") {
      box.textContent = "An action shows no screen: it runs, then goes on to next, failure or an error route.";
      return;
    }
    const { status, data } = await api.call("POST", "/draft/measure", { node_id: nodeId, node, document: state.doc });
    if (status !== 200 || nodeId !== state.selected || !$("measure")) return;
    renderMeasure($("measure"), data);
  }, 150);

  function renderMeasure(box, data) {
    box.textContent = "";
    for (const lang of LANGS) {
      const m = data.languages[lang];
      const count = m.pages.length;
      const line = el("div", {
        class: "count" + (m.over ? " over" : "") + (m.warnings && m.warnings.length ? " warn" : ""),
        "data-lang": lang,
        text:
          LANG_NAMES[lang] + ": " + count + (count === 1 ? " page" : " pages") +
          " · longest " + Math.max(...m.page_chars) + "/" + data.limit + " characters" +
          (m.notice_pages ? " · after a wrong key " + m.notice_pages.length + (m.notice_pages.length === 1 ? " page" : " pages") : ""),
      });
      box.append(line);
      for (const warning of m.warnings || []) box.append(el("div", { class: "measure-warning", "data-lang": lang, text: "△ " + warning }));
      m.pages.forEach((page, i) =>
        box.append(el("pre", { class: "page", "data-lang": lang, title: LANG_NAMES[lang] + " page " + (i + 1), text: page }))
      );
    }
  }

  // -- checking --------------------------------------------------------------------------------
  function renderProblems() {
    const list = $("problems");
    list.textContent = "";
    const errors = state.problems.filter((p) => p.severity !== "warning");
    const warnings = state.problems.filter((p) => p.severity === "warning");
    $("problem-count").textContent = errors.length + " error(s), " + warnings.length + " warning(s)";
    if (!state.problems.length) list.append(el("li", { class: "ok", text: "No problems." }));
    for (const p of [...errors, ...warnings]) {
      const item = el("li", { class: p.severity === "warning" ? "warning" : "problem" });
      if (p.severity === "warning") item.append("Warning · ");
      if (p.node) {
        item.append(el("a", { href: "#node-pane", "data-node": p.node, text: p.node, onclick: (e) => {
          e.preventDefault();
          select(p.node, { center: true });
          focusEditor();
        } }), ": ");
      } else if (p.path) {
        item.append(el("code", { text: p.path }), ": ");
      }
      item.append(problemText(p));
      list.append(item);
    }
  }

  const revalidate = debounce(async () => {
    const { status, data } = await api.call("POST", "/draft/validate", { document: state.doc });
    if (status === 200) applyProblems(data);
  }, 350);

  function applyProblems(data) {
    state.problems = data.problems || [];
    if (data.graph) {
      state.graph = data.graph;
      graphView.setGraph(data.graph);
      graphView.select(state.selected);
    }
    renderProblems();
    const old = $("node-problems");
    if (old) old.replaceWith(nodeProblemList(state.selected));
  }

  // -- saving ----------------------------------------------------------------------------------
  async function save(over) {
    const button = $("save");
    const editsAtStart = state.edits;
    const { status, data } = await api.call(
      "PUT", "/draft",
      { revision: over || state.revision, document: state.doc, journeys: state.journeys },
      { busy: button, busyText: "Saving…" }
    );
    if (status === 200) {
      // The working copy stays the same objects (the node editor holds them); only the
      // revision moves on. Edits made while the save was on its way stay unsaved.
      state.revision = data.revision;
      state.updatedBy = data.updated_by;
      state.liveVersion = data.live_version;
      state.dirty = state.edits !== editsAtStart;
      $("revision").textContent = "revision " + data.revision + (state.dirty ? " · unsaved changes" : " · saved by " + data.updated_by);
      applyProblems(data);
      const errors = data.problems.filter((p) => p.severity !== "warning").length;
      say("Saved revision " + data.revision + (errors ? " (with " + errors + " problem(s): publishing waits until they are fixed)." : "."), "ok");
      history.load();
    } else if (status === 409) {
      const box = say(data.message + " ", "error");
      box.append(
        el("button", { type: "button", id: "overwrite", text: "Save mine over revision " + data.current_revision, onclick: () => save(data.current_revision) }),
        " ",
        el("button", { type: "button", id: "reload", text: "Discard mine and reload", onclick: load })
      );
    } else if (data.error !== "expired") {
      say(data.message || "Not saved.", "error");
    }
  }

  async function validateNow() {
    const { status, data } = await api.call("POST", "/draft/validate", { document: state.doc }, { busy: $("validate"), busyText: "Checking…" });
    if (status !== 200) return data.error === "expired" || say(data.message || "Not checked.", "error");
    applyProblems(data);
    const errors = data.problems.filter((p) => p.severity !== "warning").length;
    say(errors ? errors + " problem(s): see the marked screens and the list below." : "Valid." + (data.problems.length ? " " + data.problems.length + " warning(s) to look at." : ""), errors ? "error" : "ok");
  }

  async function runTests() {
    const { status, data } = await api.call("POST", "/draft/test", { document: state.doc, journeys: state.journeys }, { busy: $("test"), busyText: "Running tests…" });
    if (status !== 200) return data.error === "expired" || say(data.message || "The tests did not run.", "error");
    applyProblems(data);
    journeys.showResults(data.journeys);
    say(data.ok ? "Valid, and all " + data.journeys.passed.length + " journey tests pass." : "The draft has problems or failing tests: see below.", data.ok ? "ok" : "error");
  }

  // -- import and export -----------------------------------------------------------------------
  async function exportYaml() {
    const { status, data } = await api.call("POST", "/draft/export", { document: state.doc }, { busy: $("export") });
    if (status !== 200) return;
    const link = el("a", { href: URL.createObjectURL(new Blob([data.yaml], { type: "application/yaml" })), download: treeId + ".yaml" });
    document.body.append(link);
    link.click();
    link.remove();
    say("Exported the working copy as " + treeId + ".yaml.", "ok");
  }

  async function importYaml(text, button) {
    const { status, data } = await api.call("POST", "/draft/import", { yaml: text }, { busy: button });
    if (status !== 200) {
      if (data.error !== "expired") say(data.message || "Not imported.", "error");
      return false;
    }
    beginEdit();
    state.doc = data.document;
    edited({ structure: true });
    applyProblems(data);
    select(state.doc.start);
    say("Imported into the working copy (not saved yet; undo reverts it). " + data.problems.length + " problem(s).", "ok");
    return true;
  }

  $("import-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    await importYaml(await file.text(), $("import"));
    e.target.value = "";
  });
  $("import").addEventListener("click", () => $("import-file").click());
  $("export").addEventListener("click", exportYaml);

  // -- the other panels ------------------------------------------------------------------------
  const context = {
    api, say, treeId, canEdit, canPublish, role, state, nodes, beginEdit, edited, select,
    graph: graphView, load, LANGS, LANG_NAMES, adopt, applyProblems,
    isDirty: () => state.dirty,
  };
  const history = new History(context);
  const journeys = new Journeys(context);
  const simulator = new Simulator(context);
  const translations = new Translations(context);
  context.journeys = journeys;
  context.release = new ReleasePanel(context, history);

  // -- wiring ----------------------------------------------------------------------------------
  $("save").addEventListener("click", () => save());
  $("validate").addEventListener("click", validateNow);
  $("test").addEventListener("click", runTests);
  $("undo").addEventListener("click", () => restore(state.undo, state.redo));
  $("redo").addEventListener("click", () => restore(state.redo, state.undo));
  $("add-node").addEventListener("click", addNode);
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName);
    if (!(e.ctrlKey || e.metaKey) || !canEdit) return;
    if (e.key.toLowerCase() === "z" && !typing) {
      e.preventDefault();
      if (e.shiftKey) restore(state.redo, state.undo);
      else restore(state.undo, state.redo);
    } else if (e.key.toLowerCase() === "y" && !typing) {
      e.preventDefault();
      restore(state.redo, state.undo);
    } else if (e.key.toLowerCase() === "s") {
      e.preventDefault();
      if (!$("save").disabled) save();
    }
  });
  window.addEventListener("beforeunload", (e) => {
    if (state.dirty) e.preventDefault();
  });
  for (const id of ["save", "add-node", "import", "undo", "redo"]) {
    if (!canEdit) {
      $(id).disabled = true;
      $(id).dataset.locked = "yes";
    }
  }
  updateUndoButtons();
  load();
}
