/**
 * Prints every PromQL query of ngsreach-dashboard.json as a Prometheus rule file (JSON is YAML), so CI can
 * parse them with `promtool check rules`: a typo in a dashboard query is otherwise only seen as an empty
 * panel in Grafana. Grafana's variables are replaced by what they stand for at query time.
 *
 *   node deploy/grafana/dashboard-queries.ts > queries.yml && promtool check rules queries.yml
 */
import { readFileSync } from "node:fs";

type Target = { expr?: string; datasource?: { uid?: string } };
type Panel = { title?: string; type?: string; datasource?: { uid?: string }; targets?: Target[]; panels?: Panel[] };

const dashboardPath = new URL("ngsreach-dashboard.json", import.meta.url);
const dashboard = JSON.parse(readFileSync(dashboardPath, "utf8")) as { panels: Panel[]; templating: { list: { name: string }[] } };
const variables = dashboard.templating.list.map((variable) => variable.name);

/** `$__rate_interval` becomes a fixed range, `$job`-style variables (used only in regex matchers) match anything. */
function asPromql(expr: string): string {
  let promql = expr.replaceAll("$__rate_interval", "5m");
  for (const name of variables) promql = promql.replaceAll(`$${name}`, ".*");
  return promql;
}

const problems: string[] = [];
const rules: { record: string; expr: string }[] = [];
const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
for (const panel of panels) {
  if (panel.type === "row") continue;
  // Every query goes through the datasource variable, so the dashboard works with whatever Prometheus is chosen.
  if (panel.datasource?.uid !== "${datasource}") problems.push(`panel "${panel.title}" does not use the $datasource variable`);
  for (const target of panel.targets ?? []) {
    if (!target.expr) problems.push(`panel "${panel.title}" has a target without a query`);
    else rules.push({ record: `dashboard:query_${rules.length + 1}`, expr: asPromql(target.expr) });
  }
}
if (problems.length > 0) {
  console.error(problems.join("\n"));
  process.exit(1);
}
console.log(JSON.stringify({ groups: [{ name: "ngsreach-dashboard-queries", rules }] }, null, 2));
