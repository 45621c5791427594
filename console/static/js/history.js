// Versions: history with notes, a diff between any two versions (or the draft), resetting the
// draft to a version, publishing and rolling back (each with a required note).
import { el, shorten } from "./util.js";

export class History {
  constructor(ctx) {
    this.ctx = ctx;
    this.versions = [];
    this.liveVersion = null;
    const $ = (id) => document.getElementById(id);
    this.$ = $;
    $("publish").addEventListener("click", () => this.publish());
    $("show-diff").addEventListener("click", () => this.showDiff($("diff-from").value, $("diff-to").value));
    if (!ctx.canPublish) {
      $("publish").disabled = true;
      $("publish").dataset.locked = "yes";
    }
    const note = $("note-text");
    note.addEventListener("input", () => {
      $("note-confirm").disabled = !note.value.trim();
    });
  }

  async load() {
    const { status, data } = await this.ctx.api.call("GET", "/versions");
    if (status !== 200) return;
    this.versions = data.versions;
    this.liveVersion = data.live_version;
    this.render(data);
    if (this.ctx.release) this.ctx.release.load();
  }

  render(data) {
    const { ctx, $ } = this;
    const table = $("history");
    table.textContent = "";
    table.append(el("thead", {}, el("tr", {}, ...["#", "author", "note", "created", ""].map((t) => el("th", { scope: "col", text: t })))));
    const body = el("tbody");
    for (const v of data.versions) {
      const live = v.version === data.live_version;
      const actions = el("td", { class: "actions" });
      actions.append(el("button", { type: "button", class: "small", text: "Diff with draft", "data-diff": String(v.number), onclick: () => this.showDiff(String(v.number), "draft") }));
      if (ctx.canEdit) {
        actions.append(el("button", { type: "button", class: "small", text: "Reset draft to this", "data-reset": String(v.number), onclick: (e) => this.reset(v, e.target) }));
      }
      if (ctx.canPublish && !live) {
        actions.append(el("button", { type: "button", class: "small", text: "Roll back to this", "data-rollback": String(v.number), onclick: (e) => this.rollback(v, e.target) }));
      }
      body.append(
        el("tr", { class: live ? "live" : "", "data-version": String(v.number) },
          el("td", {}, el("strong", { text: "#" + v.number }), live ? el("span", { class: "badge live", text: "live" }) : null),
          el("td", { text: v.author }),
          el("td", { class: "note", text: v.note || "—" }),
          el("td", { text: (v.created_at || "").replace("T", " ").replace("Z", "") }),
          actions)
      );
    }
    table.append(body);
    const events = $("publications");
    events.textContent = "";
    for (const p of data.publications) {
      events.append(
        el("li", { "data-kind": p.kind },
          el("strong", { text: p.kind + " #" + p.number }),
          " by " + p.author + " at " + (p.published_at || "").replace("T", " ").replace("Z", "") + (p.share && p.share < 100 ? " to " + p.share + "% of new sessions" : ""),
          p.note ? el("q", { class: "note", text: p.note }) : el("span", { class: "muted", text: " (no note)" }))
      );
    }
    for (const id of ["diff-from", "diff-to"]) {
      const select = $(id);
      const keep = select.value;
      select.textContent = "";
      select.append(el("option", { value: "draft", text: "Draft (saved)" }));
      for (const v of data.versions) {
        const live = v.version === data.live_version ? " (live)" : "";
        select.append(el("option", { value: String(v.number), text: "#" + v.number + live + " " + shorten(v.note || "", 30) }));
      }
      select.value = keep || (id === "diff-from" ? (data.versions.find((v) => v.version === data.live_version) || {}).number || "draft" : "draft");
      if (!select.value) select.selectedIndex = 0;
    }
  }

  async showDiff(from, to) {
    const { status, data } = await this.ctx.api.call(
      "GET", "/diff?from=" + encodeURIComponent(from) + "&to=" + encodeURIComponent(to), undefined,
      { busy: this.$("show-diff") }
    );
    const box = this.$("diff");
    box.textContent = "";
    if (status !== 200) return data.error === "expired" || this.ctx.say(data.message || "No diff.", "error");
    const summary = this.$("diff-summary");
    const n = data.nodes;
    summary.textContent = data.from + " → " + data.to + ": " +
      (data.unified ? n.changed.length + " screen(s) changed, " + n.added.length + " added, " + n.removed.length + " removed" : "the same");
    for (const line of (data.unified || "").split("\n")) {
      const cls = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
      box.append(el("span", { class: cls, text: line + "\n" }));
    }
    box.hidden = !data.unified;
  }

  async reset(version, button) {
    const { ctx } = this;
    const lose = ctx.isDirty() ? " Your unsaved edits will be replaced too." : "";
    if (!window.confirm("Reset the draft to version #" + version.number + "? The draft becomes a copy of it (a new revision; nothing goes live)." + lose)) return;
    const { status, data } = await ctx.api.call("POST", "/draft/reset", { version: String(version.number), revision: ctx.state.revision }, { busy: button });
    if (status === 200) {
      await ctx.load();
      ctx.say("The draft is now a copy of version #" + version.number + " (revision " + data.revision + ").", "ok");
    } else if (data.error !== "expired") {
      ctx.say(data.message || "Not reset.", "error");
    }
  }

  // A dialog asking for a note (required). Resolves to {note, share} or null when cancelled.
  askNote(title, summary, confirmLabel, { share = false } = {}) {
    const { $ } = this;
    const dialog = $("note-dialog");
    $("note-dialog-title").textContent = title;
    $("note-dialog-summary").textContent = summary;
    $("note-confirm").textContent = confirmLabel;
    $("note-text").value = "";
    $("note-confirm").disabled = true;
    $("share-row").hidden = !share;
    $("publish-share").value = "100";
    dialog.showModal();
    $("note-text").focus();
    return new Promise((resolve) => {
      const done = (value) => {
        $("note-confirm").onclick = null;
        $("note-cancel").onclick = null;
        dialog.onclose = null;
        if (dialog.open) dialog.close();
        resolve(value);
      };
      $("note-confirm").onclick = (e) => {
        e.preventDefault();
        const note = $("note-text").value.trim();
        if (!note) return;
        done({ note, share: Number($("publish-share").value) });
      };
      $("note-cancel").onclick = () => done(null);
      dialog.onclose = () => done(null);
    });
  }

  async publish() {
    const { ctx, $ } = this;
    if (ctx.isDirty()) return ctx.say("Save the draft first: publishing takes the saved draft.", "error");
    const { data: diff } = await ctx.api.call("GET", "/diff?from=live&to=draft", undefined, { busy: $("publish") });
    const n = diff.nodes || { changed: [], added: [], removed: [] };
    const summary = diff.unified
      ? "Revision " + ctx.state.revision + " against the live version: " + n.changed.length + " screen(s) changed, " + n.added.length + " added, " + n.removed.length + " removed" +
        (n.changed.length ? " (" + n.changed.slice(0, 6).join(", ") + (n.changed.length > 6 ? ", …" : "") + ")" : "") + "."
      : "The saved draft is the same as the live version.";
    const answer = await this.askNote("Publish the draft", summary, "Publish", { share: true });
    if (!answer) return ctx.say("Not published.", "info");
    const body = { note: answer.note, revision: ctx.state.revision };
    if (answer.share < 100) body.share = answer.share;
    const { status, data } = await ctx.api.call("POST", "/publish", body, { busy: $("publish"), busyText: "Publishing…" });
    if (status === 201) {
      const staged = data.share && data.share < 100;
      ctx.say(staged
        ? "Version " + data.number + " is live for " + data.share + "% of new sessions; watch the comparison under Releases."
        : "Published version " + data.number + ". New dials get it now.", "ok");
      this.load();
    } else {
      if (data.problems && data.problems.length) ctx.applyProblems(data);
      if (data.journeys && ctx.journeys) ctx.journeys.showResults(data.journeys);
      if (data.error !== "expired") ctx.say(data.message || "Not published.", "error");
    }
  }

  async rollback(version, button) {
    const { ctx } = this;
    const answer = await this.askNote("Roll back to version #" + version.number, "Version #" + version.number + (version.note ? " (" + version.note + ")" : "") + " becomes live again for new dials; the draft is left as it is.", "Roll back");
    if (!answer) return;
    const { status, data } = await ctx.api.call("POST", "/rollback", { version: version.version, note: answer.note }, { busy: button });
    if (status === 201) {
      ctx.say("Rolled back: version " + data.number + " is live again.", "ok");
      this.load();
    } else if (data.error !== "expired") {
      ctx.say(data.message || "Not rolled back.", "error");
    }
  }
}
