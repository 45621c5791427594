// The phone simulator: runs the working copy through the engine with a chosen scenario (labelled
// stubs, or the reference core service live), keeps a transcript, highlights the current screen on
// the graph, and turns a run into a journey test. Element ids sim-dial, sim-key, sim-send and
// screen are kept for outside scripts.
import { el } from "./util.js";

export class Simulator {
  constructor(ctx) {
    this.ctx = ctx;
    const $ = (id) => document.getElementById(id);
    this.$ = $;
    this.keys = [];
    this.recorded = [];
    this.steps = [];
    this.sessionId = null;
    this.scenarios = [];
    $("sim-dial").addEventListener("click", () => this.dial());
    $("sim-send").addEventListener("click", () => this.send());
    $("sim-key").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        this.send();
      }
    });
    $("sim-scenario").addEventListener("change", () => this.describeScenario());
    $("sim-lang").addEventListener("change", () => this.keys.length && this.replay());
    $("sim-both").addEventListener("change", () => this.keys.length && this.replay());
    $("sim-save-test").addEventListener("click", () => this.saveAsTest());
    if (!ctx.canEdit) {
      $("sim-save-test").disabled = true;
      $("sim-save-test").dataset.locked = "yes";
      $("sim-save-test").title = "Saving a journey test needs the editor role";
    }
  }

  configure(draft) {
    const codes = draft.document.service_codes || [];
    this.serviceCode = codes[0] || "";
    this.$("sim-dial").textContent = this.serviceCode ? "Dial " + this.serviceCode : "Dial";
    this.scenarios = draft.scenarios || [];
    const select = this.$("sim-scenario");
    const keep = select.value;
    select.textContent = "";
    for (const s of this.scenarios) select.append(el("option", { value: s.id, text: s.name }));
    if (this.scenarios.some((s) => s.id === keep)) select.value = keep;
    this.describeScenario();
  }

  scenario() {
    return this.scenarios.find((s) => s.id === this.$("sim-scenario").value) || this.scenarios[0] || { id: "", label: "", kind: "stub" };
  }

  describeScenario() {
    const scenario = this.scenario();
    const label = this.$("sim-stub-label");
    label.textContent = scenario.label || "";
    label.className = "stub-label " + (scenario.kind === "live" ? "live" : "stub");
    label.title = scenario.description || "";
    this.$("sim-phone-row").hidden = scenario.kind !== "live";
    this.$("sim-both").disabled = scenario.kind === "live";
    if (scenario.kind === "live") this.$("sim-both").checked = false;
    // A new scenario means a new call: what ran before no longer applies.
    this.keys = [];
    this.recorded = [];
    this.steps = [];
    this.renderTranscript();
  }

  dial() {
    this.keys = [];
    this.recorded = [];
    this.sessionId = "console-sim-" + Math.random().toString(36).slice(2, 12);
    this.replay();
  }

  send() {
    const input = this.$("sim-key");
    const key = input.value.trim();
    if (!key) return;
    if (!this.sessionId || (this.steps.length && this.steps[this.steps.length - 1].final)) {
      this.ctx.say("Dial first: the session has ended.", "info");
      return;
    }
    this.keys.push(key);
    input.value = "";
    this.replay();
  }

  async replay() {
    const { ctx, $ } = this;
    const scenario = this.scenario();
    const lang = $("sim-lang").value;
    const body = {
      keys: this.keys, lang, scenario: scenario.id, document: ctx.state.doc, journeys: ctx.state.journeys,
      recorded: this.recorded, session_id: this.sessionId, phone: $("sim-phone").value,
    };
    const busy = [$("sim-dial"), $("sim-send")];
    $("screen").setAttribute("aria-busy", "true");
    const { status, data } = await ctx.api.call("POST", "/draft/simulate", body, { busy });
    $("screen").removeAttribute("aria-busy");
    if (status !== 200) {
      if (data.error === "expired") return;
      $("screen").textContent = "";
      $("screen-chars").textContent = "";
      ctx.say("Simulator: " + (data.message || "cannot run the draft") + (data.problems && data.problems.length ? " (" + data.problems.length + " problem(s) listed below)" : ""), "error");
      return;
    }
    this.recorded = data.recorded || [];
    this.steps = data.steps;
    this.show(data);
    if ($("sim-both").checked) {
      const other = lang === "en" ? "sw" : "en";
      const second = await ctx.api.call("POST", "/draft/simulate", { ...body, lang: other, recorded: [] });
      $("screen-other").hidden = second.status !== 200;
      if (second.status === 200) $("screen-other").textContent = second.data.reply;
    } else {
      $("screen-other").hidden = true;
    }
  }

  show(data) {
    const { $ } = this;
    $("screen").textContent = data.reply;
    $("screen").classList.toggle("ended", data.final);
    $("screen").dataset.node = data.node;
    $("screen-chars").textContent = data.chars + "/" + data.limit + " characters · screen " + data.node + (data.final ? " · session ended" : "");
    this.ctx.graph.highlight(data.node);
    this.renderTranscript();
  }

  renderTranscript() {
    const list = this.$("sim-transcript");
    list.textContent = "";
    this.steps.forEach((step, i) => {
      list.append(
        el("li", { "data-node": step.node },
          el("div", { class: "transcript-key", text: i === 0 ? "dial " + this.serviceCode : "> " + step.key }),
          el("pre", { class: "transcript-screen", text: (step.final ? "END " : "CON ") + step.screen }),
          el("div", { class: "muted", text: "screen " + step.node + (step.actions && step.actions.length ? " · ran " + step.actions.join(", ") : "") }))
      );
    });
    this.$("sim-save-test").hidden = !this.steps.length;
  }

  saveAsTest() {
    if (!this.steps.length) return;
    const scenario = this.scenario();
    const lines = (screen) => screen.split("\n").map((s) => s.trim()).filter(Boolean);
    const steps = this.steps.map((step, i) => {
      const out = i === 0 ? { dial: this.serviceCode } : { send: step.key };
      out.expect = lines(step.screen);
      if (step.final) out.end = true;
      return out;
    });
    const journey = { name: "recorded: " + this.steps.length + " screen(s) ending at " + this.steps[this.steps.length - 1].node, steps };
    if (this.$("sim-lang").value !== "en") journey.lang = this.$("sim-lang").value;
    const actions = {};
    for (const call of this.recorded) {
      const answer = { ok: call.ok };
      if (call.data && Object.keys(call.data).length) answer.data = call.data;
      if (call.error) answer.error = call.error;
      (actions[call.action] = actions[call.action] || []).push(answer);
    }
    for (const name of Object.keys(actions)) if (actions[name].length === 1) actions[name] = actions[name][0];
    if (Object.keys(actions).length) journey.actions = actions;
    const added = this.ctx.journeys.add(journey);
    this.ctx.say("Saved the run as the journey test '" + added.name + "' (" + (scenario.kind === "live" ? "the core service's answers became its stubs" : "with the scenario's stubs") + "). Rename it, then save the draft.", "ok");
    document.getElementById("journeys-section").scrollIntoView({ block: "start" });
  }
}
