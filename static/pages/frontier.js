// The frontier (/frontier?task=&dataset=&architecture=): accuracy against weights remaining,
// the Pareto frontier, IMP chains, the dense baseline, each ticket coloured by its verdict.

import { denseBaseline, pct, remaining, VERDICTS, verdictLabel, verdictRule, verdictsById } from "../lib.js";
import { api, app, esc, navigate, title } from "../ui.js";

/**
 * The verdict of every plotted ticket. /api/v1/points rows are compact ([id, name, sparsity,
 * accuracy, parent_id]) and carry no evidence, but take the search's filters: the same query is
 * asked once per verdict present (the facet says which), except the most common one, which the
 * rest get. Where that fails (an older server), only the tickets at hand (the frontier's and a
 * page of the search, which carry `evidence`) are coloured, the others "unknown".
 */
async function plotVerdicts(filters, rows, tickets) {
  const ids = rows.map((r) => r[0]);
  try {
    const present = ((await api(`/facets?${filters}`)).verdict || []).filter((f) => f.count > 0);
    if (!present.length) return { verdicts: verdictsById(ids, {}, tickets), complete: false };
    const [most, ...others] = present; // most frequent first
    const lists = await Promise.all(others.map((f) => api(`/points?${filters}&verdict=${encodeURIComponent(f.value)}`)));
    const byVerdict = Object.fromEntries(others.map((f, i) => [f.value, lists[i].items.map((r) => r[0])]));
    return { verdicts: verdictsById(ids, byVerdict, tickets, most.value), complete: true };
  } catch {
    return { verdicts: verdictsById(ids, {}, tickets), complete: false };
  }
}

export async function frontier(params) {
  title("Frontier");
  const tasks = (await api("/tasks")).items;
  const task = params.get("task") || tasks[0]?.task;
  if (!task) { app.innerHTML = `<h1>Frontier</h1><p class="notice">No tickets yet.</p>`; return; }
  const filters = new URLSearchParams({ task });
  for (const k of ["dataset", "architecture"]) if (params.get(k)) filters.set(k, params.get(k));
  const facets = await api(`/facets?task=${encodeURIComponent(task)}${params.get("dataset") ? `&dataset=${encodeURIComponent(params.get("dataset"))}` : ""}`);
  // Tens of thousands of points make a slow page and an unreadable plot: past a few thousand,
  // narrow to the most common dataset, then architecture (the selects can widen it again).
  const total = facets.dataset.reduce((n, f) => n + f.count, 0);
  for (const key of ["dataset", "architecture"]) {
    if (total > MAX_POINTS && !params.get(key) && facets[key].length > 1 && !params.has("all")) {
      const p = new URLSearchParams(params);
      p.set("task", task);
      p.set(key, facets[key][0].value);
      navigate(`/frontier?${p}`, true);
      return;
    }
  }
  // Points carry no dense accuracy: the frontier's tickets and a page of the search supply it.
  const [points, front, sample] = await Promise.all([api(`/points?${filters}`), api(`/frontier?${filters}`), api(`/tickets?${filters}&limit=100`)]);
  const seen = new Map([...front.items, ...sample.items].map((t) => [t.id, t]));
  const baseline = denseBaseline([...seen.values()]);
  const { verdicts, complete } = await plotVerdicts(filters, points.items, [...seen.values()]);
  const select = (name, label, options, current) => `<label>${label} <select name="${name}" id="f-${name}"><option value="">all</option>${options.map((o) => `<option ${o === current ? "selected" : ""}>${esc(o)}</option>`).join("")}</select></label>`;
  app.innerHTML = `
    <h1>Sparsity/accuracy frontier</h1>
    <form class="searchbar" id="frontier-form">
      <label>Task <select name="task" id="f-task">${tasks.map((t) => `<option ${t.task === task ? "selected" : ""}>${esc(t.task)}</option>`).join("")}</select></label>
      ${select("dataset", "Dataset", facets.dataset.map((f) => f.value), params.get("dataset"))}
      ${select("architecture", "Architecture", facets.architecture.map((f) => f.value), params.get("architecture"))}
    </form>
    <p class="muted" id="caption">${points.items.length} tickets${points.truncated ? " (first 100,000)" : ""}; ${front.items.length} on the frontier.
      A ticket is left off the frontier when another is at least as sparse and at least as accurate, and better in one of the two.
      Hover a point for the ticket; click it (or focus it and press Enter) to open it.
      Colours are verdicts: does the ticket beat random re-init and random pruning, and match dense?${complete ? "" : " (This server gave verdicts only for the tickets on the frontier and the 100 newest; the others are “unknown”.)"}</p>
    <div class="frontier-view">${legend(points.items, baseline)}${verdictLegend(verdicts)}<div id="plot-box"></div></div>`;
  drawPlot = () => {
    const box = document.getElementById("plot-box");
    if (!box) return;
    box.innerHTML = plot(points.items, front.items, baseline, box.clientWidth, verdicts);
    wirePlot();
  };
  drawPlot();
  document.getElementById("frontier-form").addEventListener("change", (e) => {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(e.currentTarget)) if (v) p.set(k, v);
    if (e.target.name === "task") { p.delete("dataset"); p.delete("architecture"); }
    navigate(`/frontier?${p}`);
  });
}

const MAX_POINTS = 5000;

// The plot is drawn at the width it has, so its text stays readable at phone width.
let drawPlot = null, plotWidth = 0;
window.addEventListener("resize", () => {
  const box = document.getElementById("plot-box");
  if (!box || !drawPlot || Math.abs(box.clientWidth - plotWidth) < 24) return;
  drawPlot();
});

/** What the marks mean. */
function legend(rows, baseline) {
  const key = (inner) => `<svg class="key" width="30" height="14" viewBox="0 0 30 14" aria-hidden="true">${inner}</svg>`;
  const items = [
    [key('<line class="frontier" x1="2" y1="7" x2="28" y2="7"/>'), "Pareto frontier: the best known ticket at each size (ringed in red)"],
    [key('<circle class="on-frontier ring" cx="15" cy="7" r="4.5"/>'), "a ticket on the frontier; the fill is its verdict"],
    [key('<line class="chain" x1="2" y1="11" x2="28" y2="3"/>'), "grey lines: IMP chains, each ticket joined to its parent (lineage)"],
  ];
  if (baseline) {
    items.push([key('<line class="baseline" x1="2" y1="7" x2="28" y2="7"/>'),
      baseline.agreed ? `dense baseline ${pct(baseline.value, 2)}: the dense model's accuracy, as these tickets report it`
        : `dense baseline ${pct(baseline.value, 2)}: the median of the dense accuracies these tickets report (${baseline.distinct} different values)`]);
  }
  return `<ul class="legend" id="legend" aria-label="Legend">${items.map(([k, text]) => `<li>${k} ${esc(text)}</li>`).join("")}</ul>`;
}

/** The verdicts' colours, with how many plotted tickets have each; the rule on hover. */
function verdictLegend(verdicts) {
  const counts = new Map();
  for (const v of verdicts.values()) counts.set(v, (counts.get(v) || 0) + 1);
  const order = [...VERDICTS.map((v) => v.value).reverse(), ...[...counts.keys()].filter((v) => !VERDICTS.some((x) => x.value === v))];
  const items = order.filter((v) => counts.has(v)).map((v) => `<li data-verdict="${esc(v)}" title="${esc(verdictRule(v) ?? "no verdict from the server")}">
    <svg class="key" width="14" height="14" viewBox="0 0 14 14" aria-hidden="true"><circle class="${vclass(v)}" cx="7" cy="7" r="5"/></svg>
    ${esc(v === "unknown" ? "verdict unknown" : verdictLabel(v))} <span class="count">(${counts.get(v)})</span></li>`);
  return `<ul class="legend" id="verdict-legend" aria-label="Verdicts">${items.join("")}</ul>`;
}

const vclass = (v) => `v-${/^[a-z_]+$/.test(v) ? v : "unknown"}`;

/** Accuracy against percent of weights remaining, log x axis, as in the LTH papers. Drawn at
 *  `width` pixels (the text at its real size), between 320 and 900. */
function plot(rows, front, baseline, width, verdicts) {
  if (!rows.length) return '<p class="notice">No tickets match.</p>';
  const W = Math.round(Math.min(900, Math.max(320, width || 760))), H = Math.round(Math.max(300, Math.min(440, W * 0.62)));
  const L = 48, R = 20, T = 14, B = 44;
  plotWidth = W;
  const rem = (s) => Math.max((1 - s) * 100, 0.01);
  const xs = rows.map((r) => rem(r[2])), ys = rows.map((r) => r[3]);
  if (baseline) ys.push(baseline.value);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.min(...xs)))), hi = 100;
  const yMin = Math.max(0, Math.floor((Math.min(...ys) - 0.02) * 20) / 20), yMax = Math.min(1, Math.ceil((Math.max(...ys) + 0.01) * 20) / 20);
  const xOf = (v) => L + ((Math.log10(hi) - Math.log10(v)) / Math.max(Math.log10(hi) - Math.log10(lo), 1e-9)) * (W - L - R);
  const x = (s) => xOf(rem(s));
  const y = (a) => T + (1 - (a - yMin) / Math.max(yMax - yMin, 1e-6)) * (H - T - B);
  const byId = new Map(rows.map((r) => [r[0], r]));
  const onFront = new Set(front.map((t) => t.id));
  // Fewer ticks where a decade is narrow, so labels never overlap.
  const perDecade = (W - L - R) / Math.max(Math.log10(hi / lo), 1);
  const mults = perDecade >= 140 ? [1, 0.5, 0.2] : perDecade >= 60 ? [1, 0.5] : [1];
  const ticks = [];
  for (let v = hi; v >= lo * 0.999; v /= 10) for (const m of mults) { const t = v * m; if (t >= lo * 0.999 && t <= hi) ticks.push(t); }
  const xTicks = ticks.map((t) => `<line class="axis" x1="${xOf(t)}" x2="${xOf(t)}" y1="${T}" y2="${H - B}"/>
    <text x="${xOf(t)}" y="${H - B + 15}" text-anchor="middle">${t >= 1 ? +t.toFixed(0) : +t.toPrecision(1)}%</text>`).join("");
  const yTicks = [];
  for (let a = yMin; a <= yMax + 1e-9; a += (yMax - yMin) / 5) yTicks.push(`<line class="axis" x1="${L}" x2="${W - R}" y1="${y(a)}" y2="${y(a)}"/><text x="${L - 5}" y="${y(a) + 4}" text-anchor="end">${(a * 100).toFixed(0)}%</text>`);
  const chains = rows.filter((r) => r[4] && byId.has(r[4])).map((r) => { const p = byId.get(r[4]);
    return `<line class="chain" x1="${x(p[2])}" y1="${y(p[3])}" x2="${x(r[2])}" y2="${y(r[3])}"/>`; }).join("");
  const frontLine = front.map((t) => `${x(t.sparsity)},${y(t.accuracy)}`).join(" ");
  const base = baseline ? `<line class="baseline" id="baseline" x1="${L}" x2="${W - R}" y1="${y(baseline.value)}" y2="${y(baseline.value)}"/>` : "";
  // Drawn last, on a halo of the background, so lines and dots never make it unreadable.
  const baseLabel = baseline ? `<text class="baseline-label" id="baseline-label" x="${W - R - 4}" y="${y(baseline.value) - 6}" text-anchor="end">dense baseline ${pct(baseline.value, 2)}${baseline.agreed ? "" : " (median)"}</text>` : "";
  const said = (v) => (v === "unknown" ? "verdict unknown" : verdictLabel(v));
  const dots = rows.map((r) => { const v = verdicts.get(r[0]) ?? "unknown";
    return `<circle r="${onFront.has(r[0]) ? 6 : 5}" cx="${x(r[2])}" cy="${y(r[3])}" class="${onFront.has(r[0]) ? "on-frontier " : ""}${vclass(v)}" data-verdict="${esc(v)}"
      data-id="${esc(r[0])}" data-tip="${esc(`${r[1]} · ${remaining(r[2])} · accuracy ${pct(r[3], 2)} · ${said(v)}`)}" tabindex="0" role="link" aria-label="${esc(`${r[1]}, ${remaining(r[2])}, accuracy ${pct(r[3], 2)}, ${said(v)}`)}"/>`; }).join("");
  return `<svg class="plot" id="plot" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Accuracy against percent of weights remaining">
    ${xTicks}${yTicks.join("")}
    <text class="axis-title" x="${(W + L) / 2}" y="${H - 8}" text-anchor="middle">% of weights remaining (log scale)</text>
    <text class="axis-title" x="13" y="${(H - B) / 2}" transform="rotate(-90 13 ${(H - B) / 2})" text-anchor="middle">accuracy</text>
    ${chains}${base}<polyline class="frontier" points="${frontLine}"/>${dots}${baseLabel}</svg><div class="tooltip" id="tip" hidden></div>`;
}

function wirePlot() {
  const svg = document.getElementById("plot"), tip = document.getElementById("tip");
  if (!svg) return;
  svg.addEventListener("mousemove", (e) => {
    const c = e.target.closest("circle");
    if (!c) { tip.hidden = true; return; }
    tip.textContent = c.dataset.tip;
    tip.style.left = `${e.clientX + 12}px`; tip.style.top = `${e.clientY + 12}px`; tip.hidden = false;
  });
  svg.addEventListener("mouseleave", () => { tip.hidden = true; });
  const open = (c) => navigate(`/tickets/${encodeURIComponent(c.dataset.id)}`);
  svg.addEventListener("click", (e) => { const c = e.target.closest("circle"); if (c) open(c); });
  svg.addEventListener("keydown", (e) => { const c = e.target.closest("circle"); if (c && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); open(c); } });
}
