// Transfer (/transfer?task=&architecture=[&source=&target=]): does a ticket found on one dataset
// still train well on another? The grid of `transfer` results for one architecture: the dataset
// the ticket was found on (rows) by the dataset it was trained on (columns), each cell the mean
// accuracy and the number of results; a cell links to the tickets behind it.

import { pct, remaining, shade, statsText, transferGrid } from "../lib.js";
import { api, app, esc, navigate, title, verdictBadge } from "../ui.js";

/** At most this many of a cell's tickets are fetched and shown in full; the rest as links. */
const SHOWN = 20;

export async function transfer(params) {
  title("Transfer");
  const tasks = (await api("/tasks")).items;
  const task = params.get("task") || tasks[0]?.task;
  if (!task) { app.innerHTML = '<h1>Transfer</h1><p class="notice">No tickets yet.</p>'; return; }
  const archs = (await api(`/facets?task=${encodeURIComponent(task)}`)).architecture.map((f) => f.value);
  const architecture = params.get("architecture") || archs[0];
  // The URL always names what is shown.
  if (architecture && (params.get("task") !== task || params.get("architecture") !== architecture)) {
    const p = new URLSearchParams(params);
    p.set("task", task);
    p.set("architecture", architecture);
    navigate(`/transfer?${p}`, true);
    return;
  }
  const q = new URLSearchParams({ task, architecture: architecture || "" });
  if (params.get("metric")) q.set("metric", params.get("metric"));
  const data = architecture ? await api(`/transfer?${q}`) : { cells: [], metric: null };
  const grid = transferGrid(data.cells);
  const source = params.get("source"), target = params.get("target");
  const selected = data.cells.find((c) => c.source === source && c.target === target) || null;
  const cellUrl = (c) => {
    const p = new URLSearchParams({ task, architecture });
    if (params.get("metric")) p.set("metric", params.get("metric"));
    p.set("source", c.source);
    p.set("target", c.target);
    return `/transfer?${p}`;
  };
  const options = (list, current) => list.map((v) => `<option ${v === current ? "selected" : ""}>${esc(v)}</option>`).join("");
  // Architectures of the task plus the one asked for, so a shared URL shows what it names.
  const archList = archs.includes(architecture) || !architecture ? archs : [architecture, ...archs];
  const cell = (c, s, t) => {
    if (!c) return s === t
      ? `<td class="empty" title="${esc(`${s} is where these tickets were found: see their reproductions`)}">·</td>`
      : '<td class="empty">–</td>';
    const on = c === selected;
    return `<td class="filled${on ? " selected" : ""}" data-source="${esc(c.source)}" data-target="${esc(c.target)}">
      <span class="shade" style="opacity:${shade(c.mean, grid.lo, grid.hi).toFixed(3)}"></span>
      <a href="${esc(cellUrl(c))}" data-link ${on ? 'aria-current="true"' : ""} title="${esc(`${c.n} transfer result${c.n === 1 ? "" : "s"} from ${c.tickets.length} ticket${c.tickets.length === 1 ? "" : "s"} found on ${c.source}, trained on ${c.target}; mean ${c.mean}`)}">
        <span class="mean">${pct(c.mean, 2)}</span><span class="n">n = ${c.n} · ${c.tickets.length} ticket${c.tickets.length === 1 ? "" : "s"}</span></a></td>`;
  };
  const table = grid.sources.length ? `<div class="table-wrap"><table class="grid" id="transfer-grid">
      <caption class="skip">Mean ${esc(data.metric || "accuracy")} of transfer results: found on (rows), trained on (columns)</caption>
      <thead><tr><th class="corner" scope="col">found on ↓ · trained on →</th>${grid.targets.map((t) => `<th scope="col">${esc(t)}</th>`).join("")}</tr></thead>
      <tbody>${grid.rows.map((row, i) => `<tr><th scope="row">${esc(grid.sources[i])}</th>${row.map((c, j) => cell(c, grid.sources[i], grid.targets[j])).join("")}</tr>`).join("")}</tbody>
    </table></div>`
    : `<p class="notice" id="no-transfer">No transfer results for ${esc(architecture || "any architecture")} on ${esc(task)} yet. Report one from a ticket's page: kind <em>transfer</em>, with the dataset it was trained on.</p>`;
  app.innerHTML = `
    <h1>Transfer</h1>
    <p class="muted">Does a ticket found on one dataset still train well on another? Each cell is the mean ${esc(data.metric || "accuracy")} of the <em>transfer</em> results of ${esc(architecture || "")} tickets found on the row's dataset and trained on the column's, with how many results (n) and tickets are behind it. Darker cells are higher on this grid. Open a cell for its tickets.</p>
    <form class="searchbar" id="transfer-form">
      <label>Task <select name="task" id="t-task">${options(tasks.map((t) => t.task), task)}</select></label>
      <label>Architecture <select name="architecture" id="t-architecture">${options(archList, architecture)}</select></label>
    </form>
    ${table}
    <section id="cell-detail" aria-live="polite">${selected ? '<p class="muted">Loading the tickets…</p>' : grid.sources.length ? '<p class="muted">Choose a cell to see its tickets.</p>' : ""}</section>`;
  document.getElementById("transfer-form").addEventListener("change", (e) => {
    const p = new URLSearchParams();
    p.set("task", e.currentTarget.task.value);
    if (e.target.name !== "task") p.set("architecture", e.currentTarget.architecture.value);
    navigate(`/transfer?${p}`);
  });
  if (selected) await detail(selected, data.metric);
}

/** A cell's tickets: each with its verdict, its own accuracy, and its transfer results on the
 *  cell's target dataset (from its results list). */
async function detail(c, metric) {
  const box = document.getElementById("cell-detail");
  const shown = c.tickets.slice(0, SHOWN);
  const rows = await Promise.all(shown.map(async (id) => {
    try {
      const [t, results] = await Promise.all([api(`/tickets/${encodeURIComponent(id)}`), api(`/tickets/${encodeURIComponent(id)}/results`)]);
      const runs = results.items.filter((r) => r.kind === "transfer" && r.dataset === c.target && (!metric || (r.metric ?? t.metric) === metric));
      return { id, t, runs };
    } catch (err) {
      return { id, error: err.message };
    }
  }));
  if (!document.body.contains(box)) return; // the reader has moved on
  const runsStats = (runs) => {
    if (!runs.length) return null;
    const xs = runs.map((r) => r.accuracy);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : null;
    return { n: xs.length, mean, std, min: Math.min(...xs), max: Math.max(...xs) };
  };
  const row = (r) => r.error
    ? `<tr><td colspan="5"><a href="/tickets/${encodeURIComponent(r.id)}" data-link><code>${esc(r.id)}</code></a> <span class="error">${esc(r.error)}</span></td></tr>`
    : `<tr data-id="${esc(r.id)}"><th scope="row"><a href="/tickets/${encodeURIComponent(r.id)}" data-link>${esc(r.t.owner)}/${esc(r.t.name)}</a></th>
        <td>${verdictBadge(r.t.evidence?.verdict)}</td><td>${esc(remaining(r.t.sparsity))}</td>
        <td class="num">${pct(r.t.accuracy, 2)}</td><td class="num target">${esc(statsText(runsStats(r.runs)))}</td></tr>`;
  const more = c.tickets.slice(SHOWN);
  box.innerHTML = `<h2 id="cell-title">${esc(c.source)} → ${esc(c.target)}</h2>
    <p>${c.n} transfer result${c.n === 1 ? "" : "s"}, mean <strong>${pct(c.mean, 2)}</strong>, from ${c.tickets.length} ticket${c.tickets.length === 1 ? "" : "s"} found on ${esc(c.source)}.</p>
    <div class="table-wrap"><table class="data" id="cell-tickets">
      <thead><tr><th scope="col">Ticket</th><th scope="col">Verdict</th><th scope="col">Size</th><th scope="col" class="num">On ${esc(c.source)} (its own)</th><th scope="col" class="num">On ${esc(c.target)} (transfer)</th></tr></thead>
      <tbody>${rows.map(row).join("")}</tbody></table></div>
    ${more.length ? `<p>And ${more.length} more: ${more.map((id) => `<a href="/tickets/${encodeURIComponent(id)}" data-link><code>${esc(id.slice(0, 8))}</code></a>`).join(", ")}</p>` : ""}`;
}
