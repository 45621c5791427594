// The staged release panel: the new version against the live one, live (counts, completion with
// 95% intervals, the difference), what the rollback rule says, and promote / roll back by hand.
import { el } from "./util.js";

const POLL_MS = 4000;
const pct = (x) => (x === null || x === undefined ? "–" : (x * 100).toFixed(1) + "%");
const points = (x) => (x >= 0 ? "+" : "−") + Math.abs(x * 100).toFixed(1);

export class ReleasePanel {
  constructor(ctx, history) {
    this.ctx = ctx;
    this.history = history;
    this.box = document.getElementById("release");
    this.timer = null;
  }

  async load() {
    const { status, data } = await this.ctx.api.call("GET", "/release");
    if (status !== 200) return;
    this.render(data.release);
    clearTimeout(this.timer);
    if (data.release && data.release.state === "running") this.timer = setTimeout(() => this.load(), POLL_MS);
  }

  render(release) {
    const box = this.box;
    box.textContent = "";
    box.dataset.state = release ? release.state : "none";
    if (!release) {
      box.append(el("p", { class: "muted", text: "No staged release. Publish… lets you send a new version to a share of new sessions first." }));
      return;
    }
    const c = release.candidate.number;
    const b = release.baseline.number;
    if (release.state !== "running") {
      const d = release.decision || {};
      const how = release.state === "promoted" ? "promoted to everyone" : d.automatic ? "rolled back automatically" : "rolled back";
      box.append(
        el("p", { class: "release-ended", id: "release-outcome" },
          el("strong", { text: "Last staged release: #" + c + " " + how }),
          " by " + release.ended_by + " at " + (release.ended_at || "").replace("T", " ").replace("Z", "") + ". ",
          d.candidate ? "Completion #" + c + " " + pct(d.candidate.completion) + " of " + d.candidate.finished + ", #" + b + " " + pct(d.baseline.completion) + " of " + d.baseline.finished + ". " : "",
          d.says ? el("span", { class: "muted", text: d.says + "." }) : null)
      );
      return;
    }
    const cmp = release.comparison;
    const wrap = el("div", { class: "release", id: "release-running" });
    wrap.append(
      el("h3", { text: "Version #" + c + " is live for " + release.share + "% of new sessions; #" + b + " for the rest" }),
      el("p", { class: "muted", text: "Started by " + release.started_by + " at " + (release.started_at || "").replace("T", " ").replace("Z", "") + (release.note ? ": “" + release.note + "”" : "") + ". Sessions already running stay on the version they started on." })
    );
    const table = el("table", { id: "release-figures" });
    table.append(el("thead", {}, el("tr", {}, ...["version", "sessions", "finished", "completed", "completion (95% interval)", "dropped: timeout · invalid · exit · error"].map((t) => el("th", { scope: "col", text: t })))));
    const body = el("tbody");
    for (const [side, label] of [[cmp.candidate, "#" + c + " new"], [cmp.baseline, "#" + b + " live"]]) {
      const r = side.dropped_by_reason;
      body.append(
        el("tr", { "data-version": String(side.number) },
          el("td", { text: label }),
          el("td", { text: String(side.sessions) }),
          el("td", { text: String(side.finished) }),
          el("td", { text: String(side.completed) }),
          el("td", { class: "completion", text: pct(side.completion) + " (" + pct(side.completion_ci95[0]) + " – " + pct(side.completion_ci95[1]) + ")" }),
          el("td", { text: side.dropped + ": " + [r.timeout, r.invalid, r.exit, r.error].join(" · ") }))
      );
    }
    table.append(body);
    wrap.append(el("div", { class: "table-scroll" }, table));
    const diff = cmp.difference;
    wrap.append(
      el("p", { id: "release-difference", text: "Completion #" + c + " − #" + b + ": " + points(diff.completion) + " points (95% interval " + points(diff.ci95[0]) + " to " + points(diff.ci95[1]) + ")." }),
      el("p", { class: "verdict verdict-" + cmp.verdict, id: "release-verdict", text: cmp.says.charAt(0).toUpperCase() + cmp.says.slice(1) + "." }),
      el("p", { class: "muted", text: "Rolls back automatically when the whole interval lies more than " + Math.round(cmp.rule.margin * 100) + " points below the live version, once each side has " + cmp.rule.min_sessions + " finished sessions. Figures refresh every few seconds." })
    );
    if (this.ctx.canPublish) {
      wrap.append(
        el("div", { class: "toolbar" },
          el("button", { type: "button", class: "primary", id: "release-promote", text: "Promote #" + c + " to everyone", onclick: (e) => this.end("promote", e.target, c, b) }),
          el("button", { type: "button", class: "danger", id: "release-rollback", text: "Roll back to #" + b, onclick: (e) => this.end("rollback", e.target, c, b) }))
      );
    } else {
      wrap.append(el("p", { class: "role-note", text: "Promoting or rolling back needs the publisher role; you are " + this.ctx.role + "." }));
    }
    box.append(wrap);
  }

  async end(outcome, button, c, b) {
    const promote = outcome === "promote";
    const answer = await this.history.askNote(
      promote ? "Promote version #" + c : "Roll back version #" + c,
      promote ? "#" + c + " becomes live for every new session." : "New sessions get #" + b + " again; sessions already on #" + c + " finish on it.",
      promote ? "Promote" : "Roll back"
    );
    if (!answer) return;
    const { status, data } = await this.ctx.api.call("POST", "/release/" + outcome, { note: answer.note }, { busy: button });
    if (status === 200) {
      this.ctx.say(promote ? "Version #" + c + " is live for everyone." : "Rolled back: new sessions get #" + b + ".", "ok");
      this.history.load();
    } else if (data.error !== "expired") {
      this.ctx.say(data.message || "Not done.", "error");
      this.load();
    }
  }
}
