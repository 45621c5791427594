// Journey tests edited as a list: add, rename, delete; each journey's steps (dial or send a key,
// what the screen must and must not show, whether the session ends) and its action stubs.
import { el } from "./util.js";

const END_CHOICES = [["", "either"], ["false", "continues"], ["true", "ends"]];

export class Journeys {
  constructor(ctx) {
    this.ctx = ctx;
    this.list = document.getElementById("journey-list");
    this.results = {};
    this.builders = new WeakMap(); // a journey's <details> → the function that builds its fields
    const add = document.getElementById("add-journey");
    add.addEventListener("click", () => this.add());
    if (!ctx.canEdit) {
      add.disabled = true;
      add.dataset.locked = "yes";
    }
  }

  doc() {
    const state = this.ctx.state;
    if (!state.journeys || typeof state.journeys !== "object") state.journeys = { tree: this.ctx.treeId, journeys: [] };
    if (!Array.isArray(state.journeys.journeys)) state.journeys.journeys = [];
    return state.journeys;
  }

  load() {
    this.results = {};
    this.render();
  }

  uniqueName(base) {
    const names = new Set(this.doc().journeys.map((j) => j.name));
    let name = base;
    let n = 2;
    while (names.has(name)) name = base + " (" + n++ + ")";
    return name;
  }

  change(key, mutate, { structure = false } = {}) {
    this.ctx.beginEdit(key);
    mutate();
    this.ctx.edited();
    if (structure) this.render();
  }

  add(journey) {
    const fresh = journey || { name: this.uniqueName("new journey"), steps: [{ dial: (this.ctx.state.doc.service_codes || ["*384*123#"])[0] }] };
    fresh.name = this.uniqueName(fresh.name);
    this.change(null, () => this.doc().journeys.push(fresh), { structure: true });
    const index = this.doc().journeys.length - 1;
    const item = this.list.querySelector(`details[data-journey="${index}"]`);
    this.builders.get(item)();
    item.open = true;
    item.scrollIntoView({ block: "nearest" });
    const name = item.querySelector("input.journey-name");
    name.focus();
    name.select();
    return fresh;
  }

  render() {
    const journeys = this.doc().journeys;
    const open = new Set([...this.list.querySelectorAll("details.journey[open]")].map((d) => d.dataset.name));
    this.list.textContent = "";
    document.getElementById("journey-count").textContent = journeys.length + " journey test(s)";
    journeys.forEach((journey, index) => this.list.append(this.journeyItem(journey, index, open.has(journey.name))));
    if (!journeys.length) this.list.append(el("p", { class: "muted", text: "No journey tests yet: add one, or record one with the simulator's Save as test." }));
  }

  // A journey's fields are built when it is first opened: a tree's tests as editable tables are
  // thousands of elements, and most journeys are never opened in a visit.
  journeyItem(journey, index, open) {
    const result = this.results[journey.name];
    const failed = result && !result.ok;
    const item = el("details", { class: "journey" + (result ? (result.ok ? " passed" : " failed") : ""), "data-journey": String(index), "data-name": journey.name });
    const steps = Array.isArray(journey.steps) ? journey.steps : (journey.steps = []);
    item.append(
      el("summary", {},
        el("span", { class: "result", text: result ? (result.ok ? "✓ " : "✗ ") : "" }),
        el("span", { class: "journey-title", text: journey.name || "(unnamed)" }),
        el("span", { class: "muted", text: " · " + steps.length + " step(s)" + (journey.lang === "sw" ? " · Kiswahili" : "") }))
    );
    if (failed) {
      item.append(el("div", { class: "journey-failure", role: "note" }, "Step " + result.step + ": " + result.message, result.screen ? el("pre", { text: result.screen }) : null));
    }
    let built = false;
    const build = () => {
      if (built) return;
      built = true;
      item.append(...this.journeyFields(journey, index, steps));
      if (!this.ctx.canEdit) for (const field of item.querySelectorAll("input, textarea, select, button")) field.disabled = true;
    };
    this.builders.set(item, build);
    item.addEventListener("toggle", () => item.open && build());
    if (open || failed) {
      build();
      item.open = true;
    }
    return item;
  }

  journeyFields(journey, index, steps) {
    const fields = [];
    const name = el("input", { type: "text", class: "journey-name", value: journey.name || "", "aria-label": "journey name" });
    name.addEventListener("change", () => {
      const wanted = name.value.trim() || "unnamed";
      const taken = this.doc().journeys.some((j, i) => i !== index && j.name === wanted);
      if (taken) {
        this.ctx.say("There is already a journey called " + wanted + ".", "error");
        name.value = journey.name;
        return;
      }
      name.closest("details.journey").dataset.name = wanted; // stays open under its new name
      this.change(null, () => (journey.name = wanted), { structure: true });
    });
    const lang = el("select", { class: "journey-lang", "aria-label": "language the journey starts in" });
    for (const code of this.ctx.LANGS) lang.append(el("option", { value: code, text: this.ctx.LANG_NAMES[code], selected: (journey.lang || "en") === code }));
    lang.addEventListener("change", () => this.change(null, () => {
      if (lang.value === "en") delete journey.lang;
      else journey.lang = lang.value;
    }));
    fields.push(el("div", { class: "journey-head" }, el("label", {}, "Name ", name), el("label", {}, "Starts in ", lang)));

    const table = el("table", { class: "steps" });
    table.append(el("thead", {}, el("tr", {}, ...["#", "do", "key or dial", "screen shows (a line each)", "must not show", "session", ""].map((t) => el("th", { scope: "col", text: t })))));
    const body = el("tbody");
    steps.forEach((step, i) => body.append(this.stepRow(journey, steps, step, i)));
    table.append(body);
    fields.push(el("div", { class: "table-scroll" }, table));
    fields.push(
      el("div", { class: "journey-tools" },
        el("button", { type: "button", class: "small add-step", text: "Add step", onclick: () => this.change(null, () => steps.push({ send: "1" }), { structure: true }) }),
        el("button", { type: "button", class: "small danger delete-journey", text: "Delete journey", onclick: () => {
          if (!window.confirm("Delete the journey test '" + journey.name + "'? You can undo this.")) return;
          this.change(null, () => this.doc().journeys.splice(index, 1), { structure: true });
        } }))
    );
    const stubs = el("textarea", { class: "journey-actions", rows: 5, spellcheck: "false", "aria-label": "action stubs as JSON" });
    stubs.value = JSON.stringify(journey.actions || {}, null, 2);
    const stubError = el("div", { class: "error", role: "alert" });
    stubs.addEventListener("input", () => {
      let parsed;
      try {
        parsed = JSON.parse(stubs.value || "{}");
        if (typeof parsed !== "object" || Array.isArray(parsed) || parsed === null) throw new Error("an object of action name → answer");
      } catch (err) {
        stubError.textContent = "Not valid yet: " + err.message;
        return;
      }
      stubError.textContent = "";
      this.change("stubs:" + index, () => {
        if (Object.keys(parsed).length) journey.actions = parsed;
        else delete journey.actions;
      });
    });
    fields.push(el("details", { class: "stubs" }, el("summary", { text: "Action stubs (" + Object.keys(journey.actions || {}).length + "): what each core-service action answers in this test" }), stubs, stubError));
    return fields;
  }

  stepRow(journey, steps, step, i) {
    const isDial = "dial" in step;
    const row = el("tr", { "data-step": String(i) });
    const kind = el("select", { class: "step-kind", "aria-label": "step " + (i + 1) + " kind" },
      el("option", { value: "dial", text: "dial", selected: isDial }), el("option", { value: "send", text: "send", selected: !isDial }));
    const value = el("input", { type: "text", class: "step-value", value: String(isDial ? step.dial : step.send ?? ""), "aria-label": "step " + (i + 1) + (isDial ? " dial string" : " key") });
    const lines = (v) => (v === undefined ? "" : Array.isArray(v) ? v.join("\n") : String(v));
    const pack = (text) => {
      const items = text.split("\n").map((s) => s.trim()).filter(Boolean);
      return items.length === 0 ? undefined : items.length === 1 ? items[0] : items;
    };
    const expect = el("textarea", { class: "step-expect", rows: 2, "aria-label": "step " + (i + 1) + " the screen shows" });
    expect.value = lines(step.expect);
    const notExpect = el("textarea", { class: "step-not-expect", rows: 1, "aria-label": "step " + (i + 1) + " the screen must not show" });
    notExpect.value = lines(step.not_expect);
    const end = el("select", { class: "step-end", "aria-label": "step " + (i + 1) + " session" });
    const current = "end" in step ? String(Boolean(step.end)) : "";
    for (const [v, label] of END_CHOICES) end.append(el("option", { value: v, text: label, selected: v === current }));
    const key = "step:" + journey.name + ":" + i;
    const setOrDrop = (field, v) => (v === undefined ? delete step[field] : (step[field] = v));
    kind.addEventListener("change", () => this.change(null, () => {
      const v = isDial ? step.dial : step.send;
      delete step.dial;
      delete step.send;
      step[kind.value] = String(v ?? "");
    }, { structure: true }));
    value.addEventListener("input", () => this.change(key + ":value", () => (step[isDial ? "dial" : "send"] = value.value)));
    expect.addEventListener("input", () => this.change(key + ":expect", () => setOrDrop("expect", pack(expect.value))));
    notExpect.addEventListener("input", () => this.change(key + ":not", () => setOrDrop("not_expect", pack(notExpect.value))));
    end.addEventListener("change", () => this.change(null, () => setOrDrop("end", end.value === "" ? undefined : end.value === "true")));
    const move = (delta) => this.change(null, () => {
      const [moved] = steps.splice(i, 1);
      steps.splice(i + delta, 0, moved);
    }, { structure: true });
    row.append(
      el("td", { text: String(i + 1) }),
      el("td", {}, kind),
      el("td", {}, value),
      el("td", {}, expect),
      el("td", {}, notExpect),
      el("td", {}, end),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "small", text: "↑", "aria-label": "move step " + (i + 1) + " up", disabled: i === 0, onclick: () => move(-1) }),
        el("button", { type: "button", class: "small", text: "↓", "aria-label": "move step " + (i + 1) + " down", disabled: i === steps.length - 1, onclick: () => move(1) }),
        el("button", { type: "button", class: "small", text: "✕", "aria-label": "remove step " + (i + 1), onclick: () => this.change(null, () => steps.splice(i, 1), { structure: true }) }))
    );
    return row;
  }

  showResults(report) {
    this.results = {};
    if (!report || !report.ran) {
      this.render();
      return;
    }
    for (const name of report.passed) this.results[name] = { ok: true };
    for (const f of report.failures) this.results[f.journey] = { ok: false, step: f.step, message: f.message, screen: f.screen };
    const summary = document.getElementById("journeys");
    summary.textContent = "";
    summary.append(el("li", { class: report.failures.length ? "problem" : "ok", text: report.passed.length + " passed, " + report.failures.length + " failed" }));
    for (const f of report.failures) summary.append(el("li", { class: "problem", text: "✗ " + f.journey + " (step " + f.step + "): " + f.message }));
    this.render();
  }
}
