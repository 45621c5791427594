// Every text of the tree in both languages side by side, missing ones flagged; editable in place.
import { el, debounce } from "./util.js";

export class Translations {
  constructor(ctx) {
    this.ctx = ctx;
    this.section = document.getElementById("translations-section");
    this.table = document.getElementById("translations");
    this.onlyMissing = document.getElementById("only-missing");
    this.section.addEventListener("toggle", () => this.render());
    this.onlyMissing.addEventListener("change", () => this.render(true));
    this.later = debounce(() => this.render(), 300);
  }

  // Each translatable text: where it is, and the object holding its en/sw strings.
  entries() {
    const out = [];
    const doc = this.ctx.state.doc || {};
    for (const [id, node] of Object.entries(this.ctx.nodes())) {
      if (node.kind !== "action") out.push({ node: id, where: "screen text", holder: () => (node.text = node.text || {}) });
      (node.options || []).forEach((option, i) =>
        out.push({ node: id, where: "option " + (i + 1), holder: () => (option.label = option.label || {}) })
      );
      if (node.input && node.input.error) out.push({ node: id, where: "input error", holder: () => node.input.error });
    }
    for (const key of Object.keys(doc.strings || {})) out.push({ node: null, where: "string " + key, holder: () => doc.strings[key] });
    return out;
  }

  render(force) {
    if (!this.section.open) return;
    if (!force && this.table.contains(document.activeElement)) return this.later();
    const { ctx } = this;
    const entries = this.entries();
    const missing = (e) => ctx.LANGS.some((lang) => !String(e.holder()[lang] || "").trim());
    const shown = this.onlyMissing.checked ? entries.filter(missing) : entries;
    document.getElementById("translation-count").textContent =
      entries.length + " texts · " + entries.filter(missing).length + " missing a translation";
    this.table.textContent = "";
    this.table.append(el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Where" }), ...ctx.LANGS.map((l) => el("th", { scope: "col", text: ctx.LANG_NAMES[l] })))));
    const body = el("tbody");
    for (const entry of shown) {
      const row = el("tr", { "data-node": entry.node || "", class: missing(entry) ? "missing" : "" });
      const where = el("td", { class: "where" });
      if (entry.node) {
        where.append(el("a", { href: "#node-pane", text: entry.node, onclick: (e) => {
          e.preventDefault();
          ctx.select(entry.node, { center: true });
        } }), el("br"));
      }
      where.append(el("span", { class: "muted", text: entry.where }));
      row.append(where);
      for (const lang of ctx.LANGS) {
        const value = String(entry.holder()[lang] || "");
        const area = el("textarea", { rows: 2, "data-lang": lang, readonly: !ctx.canEdit, "aria-label": (entry.node || "") + " " + entry.where + " in " + ctx.LANG_NAMES[lang] });
        area.value = value;
        const cell = el("td", { class: value.trim() ? "" : "missing-text" }, area);
        if (!value.trim()) cell.append(el("span", { class: "badge missing", text: "missing" }));
        area.addEventListener("input", () => {
          ctx.beginEdit("translation:" + entry.node + ":" + entry.where + ":" + lang);
          entry.holder()[lang] = area.value;
          cell.classList.toggle("missing-text", !area.value.trim());
          ctx.edited();
        });
        row.append(cell);
      }
      body.append(row);
    }
    if (!shown.length) body.append(el("tr", {}, el("td", { colspan: "3", class: "muted", text: "Every text has both languages." })));
    this.table.append(body);
  }
}
