// The drop-off map: the editor's graph of the tree, each screen coloured and labelled by drop-off.
import { GraphView } from "./graph.js";

const host = document.getElementById("heat-graph");
if (host) {
  const data = JSON.parse(document.getElementById("heat-data").textContent);
  const byNode = {};
  for (const row of data.rows) byNode[row.node] = row;
  const percent = (rate) => Math.round(rate * 100) + "%";
  const detail = document.getElementById("heat-detail");
  const view = new GraphView(host, {
    decorate(node) {
      const row = byNode[node.id];
      if (node.kind === "action") return { fill: "#f4f4f6", line: "action: no screen", title: node.id + ": an action, never a screen" };
      if (!row || !row.reached) return { fill: "#eef0f1", line: "not reached", title: node.id + ": no session reached it" };
      return {
        fill: row.colour,
        line: row.dropped + "/" + row.reached + " left · " + percent(row.dropoff_rate),
        title: node.id + ": reached " + row.reached + ", left " + row.dropped + " (" + percent(row.dropoff_rate) + "); timeout " +
          row.timeout + ", invalid " + row.invalid + ", exit " + row.exit + ", error " + row.error,
      };
    },
    onSelect(id) {
      view.select(id);
      const row = byNode[id];
      const node = data.graph.nodes.find((n) => n.id === id);
      detail.textContent = node.title + " (" + id + "): " + (row && row.reached
        ? "reached by " + row.reached + ", " + row.dropped + " left here (" + percent(row.dropoff_rate) + "): timeout " + row.timeout +
          ", invalid input " + row.invalid + ", chose to leave " + row.exit + ", error " + row.error + "."
        : "no session reached it in this window.");
    },
  });
  view.setGraph(data.graph);
}
