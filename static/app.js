// ticketbooth's web page: a small client of the public REST API, no build step, no CDN.
// Pages: /, /tasks/{task}, /search?..., /tickets/{id}, /frontier?..., /upload.

import { checkFraction, denseBaseline, keptPct, pct, profileRows, remaining, splitChildren } from "./lib.js";

const API = "/api/v1";
const app = document.getElementById("app");

// ---------- small helpers ----------

/** Escapes text for HTML. Everything from the API goes through this, except description_html,
 *  which the server renders from markdown and sanitizes. */
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
/** A fraction shown as a percentage rounded for people, its full value on hover. */
const frac = (x, digits = 2) => `<span title="${esc(String(x))}">${pct(x, digits)}</span>`;
/** The one unit: "x% of weights remaining", the API's exact sparsity on hover. */
const rem = (sparsity) => `<span title="${esc(`sparsity ${sparsity} (fraction of prunable weights removed)`)}">${esc(remaining(sparsity))}</span>`;
const bytes = (n) => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
};

async function api(path) {
  const r = await fetch(API + path, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body?.error?.message || r.statusText), { status: r.status, body });
  return body;
}

function title(t) { document.title = t ? `${t} · ticketbooth` : "ticketbooth: the open registry of lottery tickets"; }

function navigate(url, replace = false) {
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  route();
}

// Links marked data-link stay in the page (history API); others load normally.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || a.target) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route());

function showError(err) {
  app.innerHTML = `<h1>${err.status === 404 ? "Not found" : "Something went wrong"}</h1><p class="error">${esc(err.message)}</p><p><a href="/" data-link>Home</a></p>`;
}

async function route() {
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  try {
    let m;
    if (path === "/") await home();
    else if ((m = path.match(/^\/tasks\/([^/]+)$/))) { params.set("task", decodeURIComponent(m[1])); await search(params, decodeURIComponent(m[1])); }
    else if (path === "/search") await search(params);
    else if ((m = path.match(/^\/tickets\/([^/]+)$/))) await ticket(decodeURIComponent(m[1]));
    else if ((m = path.match(/^\/owners\/([^/]+)\/tickets\/([^/]+)$/))) await ticket(null, m[1], m[2]);
    else if (path === "/frontier") await frontier(params);
    else if (path === "/upload") upload();
    else showError({ status: 404, message: `No page at ${path}` });
  } catch (err) {
    showError(err);
  }
  app.focus({ preventScroll: true });
}

function ticketRow(t) {
  return `<li>
    <div class="title"><a href="/tickets/${encodeURIComponent(t.id)}" data-link>${esc(t.owner)}/${esc(t.name)}</a>
      ${t.yanked ? '<span class="chip">yanked</span>' : ""}</div>
    <div class="muted">${esc(t.task)} · ${esc(t.dataset)} · ${esc(t.architecture)} · ${esc(t.pruning_method)}</div>
    <div><span class="meter" aria-hidden="true"><span style="width:${Math.max(1, (1 - t.sparsity) * 100)}%"></span></span>
      <span data-role="remaining">${rem(t.sparsity)}</span> ·
      ${esc(t.metric)} <strong>${frac(t.accuracy)}</strong>${t.dense_accuracy != null ? ` (dense ${frac(t.dense_accuracy)})` : ""} ·
      ${t.downloads} downloads</div>
    <div class="chips">${t.tags.map((g) => `<span class="chip">${esc(g)}</span>`).join("")}</div>
  </li>`;
}

// ---------- home ----------

async function home() {
  title();
  const [tasks, recent] = await Promise.all([api("/tasks"), api("/tickets?limit=8")]);
  app.innerHTML = `
    <h1>Find a winning ticket before you spend GPU weeks on one</h1>
    <p class="muted">Lottery tickets are sparse subnetworks that train to full accuracy from their original initialization. Browse them by task, compare them on the sparsity/accuracy frontier, download one, or publish yours.</p>
    <form class="searchbar" role="search" id="home-search">
      <label for="q" class="skip">Search tickets</label>
      <input id="q" name="q" type="search" placeholder="Search: resnet20, cifar10, rewinding…">
      <button type="submit">Search</button>
    </form>
    <h2>Tasks</h2>
    ${tasks.items.length ? `<ul class="cards">${tasks.items.map((t) => `<li class="card">
      <a href="/tasks/${encodeURIComponent(t.task)}" data-link>${esc(t.task)}</a>
      <div class="stat"><span>tickets</span><span>${t.tickets}</span></div>
      <div class="stat"><span>best accuracy</span><span>${t.best_accuracy != null ? frac(t.best_accuracy) : "–"}</span></div>
      <div class="stat"><span>sparsest</span><span title="${t.max_sparsity != null ? esc(`${remaining(t.max_sparsity)} (sparsity ${t.max_sparsity})`) : ""}">${t.max_sparsity != null ? `${keptPct(1 - t.max_sparsity)} remaining` : "–"}</span></div>
      <div class="stat"><a href="/frontier?task=${encodeURIComponent(t.task)}" data-link>frontier →</a></div>
    </li>`).join("")}</ul>` : `<p class="notice">No tickets yet. <a href="/upload" data-link>Upload the first one</a>.</p>`}
    <h2>Recent tickets</h2>
    <ul class="results">${recent.items.map(ticketRow).join("")}</ul>`;
  document.getElementById("home-search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new FormData(e.target).get("q").trim();
    navigate(`/search${q ? `?q=${encodeURIComponent(q)}` : ""}`);
  });
}

// ---------- search ----------

const FILTERS = ["task", "dataset", "architecture", "pruning_method", "owner", "tag", "parent_id",
  "min_sparsity", "max_sparsity", "min_accuracy", "max_accuracy", "q", "include_yanked"];
const FACETS = [["task", "Task"], ["dataset", "Dataset"], ["architecture", "Architecture"], ["pruning_method", "Method"], ["tag", "Tags"]];

function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (FILTERS.includes(k) && v !== "") out.append(k, v);
  return out;
}

async function search(params, fixedTask = null) {
  title(fixedTask ? `Task ${fixedTask}` : "Search");
  const filters = filterParams(params);
  const query = new URLSearchParams(filters);
  for (const k of ["sort", "order"]) if (params.get(k)) query.set(k, params.get(k));
  query.set("limit", "20");
  // A refused search (400) still shows the form, with the server's message next to the field it names.
  let page, facets, refused = null;
  try {
    [page, facets] = await Promise.all([api(`/tickets?${query}`), api(`/facets?${filters}`)]);
  } catch (err) {
    if (err.status !== 400) throw err;
    refused = { field: err.body?.error?.field, message: err.message };
    page = { items: [], next_cursor: null };
    facets = {};
  }
  // The page's own URL: /tasks/{task} keeps the task in the path.
  const pageUrl = (p) => {
    const q = new URLSearchParams(p);
    if (fixedTask) { q.delete("task"); return `/tasks/${encodeURIComponent(fixedTask)}${q.toString() ? `?${q}` : ""}`; }
    return `/search${q.toString() ? `?${q}` : ""}`;
  };
  const toggled = (key, value) => {
    const p = new URLSearchParams(params);
    const values = p.getAll(key);
    p.delete(key);
    if (key === "tag") { for (const v of values) if (v !== value) p.append(key, v); if (!values.includes(value)) p.append(key, value); }
    else if (!values.includes(value)) p.set(key, value);
    return pageUrl(p);
  };
  const facetHtml = FACETS.map(([key, label]) => {
    if (key === "task" && fixedTask) return "";
    const active = params.getAll(key);
    const items = facets[key] || [];
    return `<fieldset><legend>${label}</legend><ul>${items.length ? items.map((f) => `<li><a data-link class="${active.includes(f.value) ? "on" : ""}" aria-pressed="${active.includes(f.value)}"
      href="${esc(toggled(key, f.value))}">${active.includes(f.value) ? "✓ " : ""}${esc(f.value)}</a> <span class="muted">(${f.count})</span></li>`).join("") : '<li class="muted">none</li>'}</ul></fieldset>`;
  }).join("");
  const val = (k) => esc(params.get(k) ?? "");
  app.innerHTML = `
    <h1>${fixedTask ? `Task: ${esc(fixedTask)}` : "Search tickets"}</h1>
    ${fixedTask ? `<p><a href="/frontier?task=${encodeURIComponent(fixedTask)}" data-link>See this task's sparsity/accuracy frontier →</a></p>` : ""}
    <form class="searchbar" role="search" id="search-form" novalidate>
      <label for="q" class="skip">Search text</label>
      <input id="q" name="q" type="search" value="${val("q")}" placeholder="name, description, architecture, dataset, tags">
      <label for="sort" class="skip">Sort</label>
      <select id="sort" name="sort">
        ${[["created", "Newest"], ["accuracy", "Accuracy"], ["sparsity", "Sparsity"], ["downloads", "Downloads"]].map(([v, l]) => `<option value="${v}" ${params.get("sort") === v ? "selected" : ""}>${l}</option>`).join("")}
      </select>
      <label for="order" class="skip">Order</label>
      <select id="order" name="order"><option value="desc">↓ desc</option><option value="asc" ${params.get("order") === "asc" ? "selected" : ""}>↑ asc</option></select>
      <button type="submit">Apply</button>
    </form>
    <p class="error" id="err-search" role="alert"></p>
    <div class="layout">
      <aside class="facets" aria-label="Filters">
        ${rangeFieldset("sparsity", "Sparsity (fraction removed)", val,
          `<p class="hint" id="sparsity-hint" aria-live="polite">${esc(sparsityHint(params.get("min_sparsity"), params.get("max_sparsity")))}</p>`)}
        ${rangeFieldset("accuracy", "Accuracy (fraction)", val)}
        ${facetHtml}
        ${[...filters].length ? `<p><a href="${esc(fixedTask ? `/tasks/${encodeURIComponent(fixedTask)}` : "/search")}" data-link>Clear filters</a></p>` : ""}
      </aside>
      <section aria-live="polite">
        <p class="muted" id="count">${refused ? "The registry refused this search; see the message by the field." : page.items.length ? "" : "No tickets match."}</p>
        <ul class="results" id="results">${page.items.map(ticketRow).join("")}</ul>
        ${page.next_cursor ? '<button class="secondary" id="more">Load more</button>' : ""}
      </section>
    </div>`;
  const form = document.getElementById("search-form");
  if (refused) showSearchError(refused.field, refused.message);
  const hint = () => { document.getElementById("sparsity-hint").textContent = sparsityHint(form.min_sparsity.value, form.max_sparsity.value); };
  form.min_sparsity.addEventListener("input", hint);
  form.max_sparsity.addEventListener("input", hint);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    clearSearchErrors();
    const data = new FormData(form);
    // A bound on a fraction outside [0, 1] is refused here, in the server's words, before any request.
    let bad = false;
    for (const k of RANGES) {
      // A number input holds "" for text it cannot parse; validity tells that apart from empty.
      const msg = form[k].validity.badInput ? "must be a number" : checkFraction(data.get(k));
      if (msg) { if (!bad) form[k].focus(); showSearchError(k, msg); bad = true; }
    }
    if (bad) return;
    const p = new URLSearchParams(params);
    for (const k of ["q", "sort", "order", ...RANGES]) {
      const v = (data.get(k) ?? "").toString().trim();
      if (v) p.set(k, v); else p.delete(k);
    }
    if (p.get("sort") === "created") p.delete("sort");
    if (p.get("order") === "desc") p.delete("order");
    navigate(pageUrl(p));
  });
  let cursor = page.next_cursor;
  const more = document.getElementById("more");
  more?.addEventListener("click", async () => {
    const q = new URLSearchParams(query);
    q.set("cursor", cursor);
    const next = await api(`/tickets?${q}`);
    document.getElementById("results").insertAdjacentHTML("beforeend", next.items.map(ticketRow).join(""));
    cursor = next.next_cursor;
    if (!cursor) more.remove();
  });
}

const RANGES = ["min_sparsity", "max_sparsity", "min_accuracy", "max_accuracy"];

function rangeFieldset(what, legend, val, extra = "") {
  const input = (k) => `<input form="search-form" name="${k}" id="${k}" type="number" step="any" min="0" max="1" value="${val(k)}" aria-describedby="err-${k}">`;
  return `<fieldset><legend>${legend}</legend>
    <div class="range"><label>min ${input(`min_${what}`)}</label><label>max ${input(`max_${what}`)}</label>
      <span class="error" id="err-min_${what}" role="alert"></span><span class="error" id="err-max_${what}" role="alert"></span></div>${extra}</fieldset>`;
}

/** The sparsity bounds in the page's one unit. */
function sparsityHint(min, max) {
  const ok = (v) => v != null && String(v).trim() !== "" && checkFraction(v) === null;
  const parts = [];
  if (ok(max)) parts.push(`at least ${keptPct(1 - Number(max))}`);
  if (ok(min)) parts.push(`at most ${keptPct(1 - Number(min))}`);
  return parts.length ? `${parts.join(" and ")} of weights remaining` : "0.9 = 10% of weights remaining";
}

function clearSearchErrors() {
  for (const el of document.querySelectorAll("#app .error")) el.textContent = "";
  for (const el of document.querySelectorAll("#app .invalid")) { el.classList.remove("invalid"); el.removeAttribute("aria-invalid"); }
}

/** A message next to the field it is about, or above the results when no field shows it. */
function showSearchError(field, message) {
  const input = field && document.getElementById(field);
  const el = (field && document.getElementById(`err-${field}`)) || document.getElementById("err-search");
  el.textContent = el.id === "err-search" && field ? `${field}: ${message}` : message;
  if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); }
}

// ---------- ticket ----------

/** The layerwise profile: a row per pruned parameter (kept of total, % remaining), and apart,
 *  the tensors that are not pruned, with no bar (a bar would read as pruning). */
function tensorProfile(tensors) {
  const { rows, notPruned } = profileRows(tensors);
  const shape = (s) => `[${s.join(", ")}]`;
  const n = (x) => x.toLocaleString("en-US");
  const cells = (kept, params) => {
    const share = params ? kept / params : 0;
    return `<td class="num">${n(kept)} / ${n(params)}</td>
      <td class="bar"><span class="meter wide" aria-hidden="true"><span style="width:${share * 100}%"></span></span> <span class="num">${keptPct(share)}</span></td>`;
  };
  const body = rows.map((r) => `<tr title="${esc(`${r.tensors.join(" + ")}: ${r.kept} of ${r.params} kept`)}">
      <th scope="row"><code>${esc(r.name)}</code></th><td class="shape">${esc(shape(r.shape))}</td>${cells(r.kept, r.params)}</tr>`).join("");
  const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
  const total = rows.length > 1 ? `<tfoot><tr><th scope="row">all ${rows.length}</th><td class="shape"></td>${cells(sum("kept"), sum("params"))}</tr></tfoot>` : "";
  const rest = notPruned.length ? `<h3 id="not-pruned-title">Not pruned</h3>
    <p class="muted">Tensors outside the mask (biases, norms, buffers): kept whole, counted in no sparsity.</p>
    <ul class="not-pruned" aria-labelledby="not-pruned-title">${notPruned.map((t) => `<li><code>${esc(t.name)}</code> <span class="muted">${esc(shape(t.shape))} · ${n(t.params)}</span></li>`).join("")}</ul>` : "";
  return `<div class="table-wrap"><table class="profile">
    <thead><tr><th scope="col">Parameter</th><th scope="col" class="shape">Shape</th><th scope="col" class="num">Kept / total</th><th scope="col">Weights remaining</th></tr></thead>
    <tbody>${body}</tbody>${total}</table></div>${rest}`;
}

function snippets(t) {
  const url = `${location.origin}${API}/tickets/${t.id}/file`;
  const file = `${t.name}.safetensors`;
  return `
    <h3>curl</h3><pre><code>curl -fL -o ${esc(file)} ${esc(url)}
echo "${esc(t.sha256)}  ${esc(file)}" | sha256sum -c</code></pre>
    <h3>ticketbooth CLI</h3><pre><code>ticketbooth download ${esc(t.owner)}/${esc(t.name)} --server ${esc(location.origin)}   # resumes, verifies sha256
ticketbooth show ${esc(t.owner)}/${esc(t.name)} --server ${esc(location.origin)}</code></pre>
    <h3>Python (PyTorch)</h3><pre><code>import torch
from safetensors.torch import load_file

state = load_file("${esc(file)}")
# torch.nn.utils.prune layout: P_orig holds the weights, P_mask which of them survive.
weights = {}
for name, tensor in state.items():
    if name.endswith("_mask"):
        continue
    base = name[: -len("_orig")] if name.endswith("_orig") else name
    mask = state.get(base + "_mask")
    weights[base] = tensor * mask.to(tensor.dtype) if mask is not None else tensor
model.load_state_dict(weights, strict=False)  # your ${esc(t.architecture)}; keep masks applied while training</code></pre>`;
}

async function ticket(id, owner, name) {
  const t = id ? await api(`/tickets/${encodeURIComponent(id)}`) : await api(`/owners/${owner}/tickets/${name}`);
  const lineage = await api(`/tickets/${encodeURIComponent(t.id)}/lineage`);
  title(`${t.owner}/${t.name}`);
  // Another owner's ticket is named with its owner: building on someone else's ticket is provenance, marked as such.
  const link = (x) => `<a href="/tickets/${encodeURIComponent(x.id)}" data-link>${x.owner !== t.owner ? `${esc(x.owner)}/` : ""}${esc(x.name)}</a>
    <span class="muted">(${rem(x.sparsity)}, ${frac(x.accuracy)})</span>`;
  const { own, others } = splitChildren(lineage.children, t.owner);
  const chain = [...lineage.ancestors].reverse().map(link);
  chain.push(`<strong>${esc(t.name)}</strong>`);
  const optional = (label, v) => `<dt>${label}</dt><dd>${v ?? '<span class="muted">–</span>'}</dd>`;
  const hp = t.hyperparameters ? `<pre><code>${esc(JSON.stringify(t.hyperparameters, null, 2))}</code></pre>` : null;
  app.innerHTML = `
    <p class="muted"><a href="/tasks/${encodeURIComponent(t.task)}" data-link>${esc(t.task)}</a> › ${esc(t.dataset)} › ${esc(t.architecture)}</p>
    <h1>${esc(t.owner)}/${esc(t.name)} ${t.yanked ? '<span class="chip">yanked</span>' : ""}</h1>
    <div class="kpis">
      <div class="card"><div class="muted">Measured by the server</div><div class="big" id="remaining">${esc(remaining(t.sparsity))}</div>
        <div>${t.params_kept.toLocaleString("en-US")} of ${t.params_total.toLocaleString("en-US")} prunable weights kept</div></div>
      <div class="card"><div class="muted">${esc(t.metric)}</div><div class="big" id="accuracy">${frac(t.accuracy)}</div>
        <div>${t.dense_accuracy != null ? `dense baseline ${frac(t.dense_accuracy)} (${t.accuracy >= t.dense_accuracy ? "+" : ""}${((t.accuracy - t.dense_accuracy) * 100).toFixed(2)} points)` : '<span class="muted">no dense baseline given</span>'}</div></div>
      <div class="card"><div class="muted">File</div><div>${bytes(t.size_bytes)}</div>
        <a class="button" id="download" href="${API}/tickets/${encodeURIComponent(t.id)}/file" download="${esc(t.name)}.safetensors">Download</a>
        <div class="muted" style="font-size:.75rem;overflow-wrap:anywhere">sha256 <code id="sha256">${esc(t.sha256)}</code></div></div>
    </div>
    ${t.description_html ? `<section class="card" aria-label="Description">${t.description_html}</section>` : ""}
    <h2>Lineage</h2>
    <div class="lineage">${chain.join(" → ")}</div>
    ${own.length ? `<p id="next-rounds">Next rounds: ${own.map(link).join(", ")}</p>` : ""}
    ${others.length ? `<p id="built-on">Built on this by others: ${others.map(link).join(", ")}</p>` : ""}
    <h2>Details</h2>
    <dl class="meta">
      ${optional("Owner", esc(t.owner))}${optional("Task", esc(t.task))}${optional("Dataset", esc(t.dataset))}
      ${optional("Architecture", esc(t.architecture))}${optional("Pruning method", esc(t.pruning_method))}
      ${optional("Accuracy", `${t.accuracy} (${esc(t.metric)})`)}${optional("Dense accuracy", t.dense_accuracy)}
      ${optional("Sparsity", `<span id="sparsity">${t.sparsity}</span> <span class="muted">(fraction of prunable weights removed, as in the API)</span>`)}${optional("Tags", t.tags.length ? t.tags.map((g) => `<a class="chip" href="/search?tag=${encodeURIComponent(g)}" data-link>${esc(g)}</a>`).join(" ") : null)}
      ${optional("Parent", t.parent_id ? `<a href="/tickets/${encodeURIComponent(t.parent_id)}" data-link>${esc(t.parent_id)}</a>` : null)}
      ${optional("Paper", t.paper_url ? `<a href="${esc(t.paper_url)}" rel="noopener nofollow">${esc(t.paper_url)}</a>` : null)}
      ${optional("Code", t.code_url ? `<a href="${esc(t.code_url)}" rel="noopener nofollow">${esc(t.code_url)}</a>` : null)}
      ${optional("License", t.license ? esc(t.license) : null)}${optional("Uploaded", esc(new Date(t.created_at).toISOString().slice(0, 16).replace("T", " ")) + " UTC")}
      ${optional("Downloads", t.downloads)}${optional("Id", `<code>${esc(t.id)}</code>`)}
      ${optional("Hyperparameters", hp)}
    </dl>
    <h2>Layerwise profile</h2>
    <p class="muted">Each pruned parameter in file order (a <code>P_orig</code> + <code>P_mask</code> pair is one row, <code>P</code>): weights kept of its total, and the share remaining.</p>
    ${tensorProfile(t.tensors || [])}
    <h2>Use it</h2>
    ${snippets(t)}`;
}

// ---------- frontier ----------

async function frontier(params) {
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
      Hover a point for the ticket; click it (or focus it and press Enter) to open it.</p>
    <div class="frontier-view">${legend(points.items, baseline)}<div id="plot-box"></div></div>`;
  drawPlot = () => {
    const box = document.getElementById("plot-box");
    if (!box) return;
    box.innerHTML = plot(points.items, front.items, baseline, box.clientWidth);
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
    [key('<line class="frontier" x1="2" y1="7" x2="28" y2="7"/>'), "Pareto frontier: the best known ticket at each size (red dots are on it)"],
    [key('<circle cx="15" cy="7" r="4"/>'), "another ticket"],
    [key('<line class="chain" x1="2" y1="11" x2="28" y2="3"/>'), "grey lines: IMP chains, each ticket joined to its parent (lineage)"],
  ];
  if (baseline) {
    items.push([key('<line class="baseline" x1="2" y1="7" x2="28" y2="7"/>'),
      baseline.agreed ? `dense baseline ${pct(baseline.value, 2)}: the dense model's accuracy, as these tickets report it`
        : `dense baseline ${pct(baseline.value, 2)}: the median of the dense accuracies these tickets report (${baseline.distinct} different values)`]);
  }
  return `<ul class="legend" id="legend" aria-label="Legend">${items.map(([k, text]) => `<li>${k} ${esc(text)}</li>`).join("")}</ul>`;
}

/** Accuracy against percent of weights remaining, log x axis, as in the LTH papers. Drawn at
 *  `width` pixels (the text at its real size), between 320 and 900. */
function plot(rows, front, baseline, width) {
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
  const dots = rows.map((r) => `<circle r="${onFront.has(r[0]) ? 5 : 4}" cx="${x(r[2])}" cy="${y(r[3])}" class="${onFront.has(r[0]) ? "on-frontier" : ""}"
      data-id="${esc(r[0])}" data-tip="${esc(`${r[1]} · ${remaining(r[2])} · accuracy ${pct(r[3], 2)}`)}" tabindex="0" role="link" aria-label="${esc(`${r[1]}, ${remaining(r[2])}, accuracy ${pct(r[3], 2)}`)}"/>`).join("");
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

// ---------- upload ----------

const SLUG = /^[a-z0-9][a-z0-9._-]*$/;
const REQUIRED = ["name", "task", "dataset", "architecture", "pruning_method", "accuracy"];

/** The server's rules, checked before sending a byte. Returns {field: message}. */
function checkMetadata(m, file) {
  const errors = {};
  if (!file) errors.file = "choose a .safetensors file";
  for (const k of ["name", "task", "dataset", "architecture", "pruning_method"]) {
    if (!m[k]) errors[k] = "required";
    else if (!SLUG.test(m[k]) || m[k].length > 128) errors[k] = "letters, digits, '.', '_' or '-', starting with a letter or digit";
  }
  for (const k of ["accuracy", "dense_accuracy"]) {
    if (m[k] === undefined) { if (k === "accuracy") errors[k] = "required"; continue; }
    if (!Number.isFinite(m[k])) errors[k] = "a number";
    else if (m[k] > 1 && m[k] <= 100) errors[k] = `a fraction in [0, 1]; did you mean ${+(m[k] / 100).toPrecision(12)}?`;
    else if (m[k] < 0 || m[k] > 1) errors[k] = "a fraction in [0, 1]";
  }
  if (m.tags && (m.tags.length > 32 || m.tags.some((t) => !SLUG.test(t)))) errors.tags = "up to 32 slugs, comma-separated";
  for (const k of ["paper_url", "code_url"]) if (m[k] && !/^https?:\/\/[^\s]+$/.test(m[k])) errors[k] = "an http or https URL";
  if (m.hyperparameters === null) errors.hyperparameters = "a JSON object";
  if (m.description && new Blob([m.description]).size > 65536) errors.description = "at most 64 KiB";
  return errors;
}

function upload() {
  title("Upload");
  const field = (name, label, opts = {}) => `<label for="u-${name}"><span class="${REQUIRED.includes(name) ? "req" : ""}">${label}</span>
      ${opts.hint ? `<span class="hint">${opts.hint}</span>` : ""}
      ${opts.textarea ? `<textarea id="u-${name}" name="${name}" rows="${opts.rows || 3}" placeholder="${opts.placeholder || ""}"></textarea>`
        : `<input id="u-${name}" name="${name}" ${opts.type ? `type="${opts.type}"` : ""} ${opts.step ? `step="${opts.step}"` : ""} placeholder="${opts.placeholder || ""}" ${REQUIRED.includes(name) ? "required" : ""}>`}
      <span class="error" id="err-${name}" role="alert"></span></label>`;
  app.innerHTML = `
    <h1>Publish a ticket</h1>
    <p class="muted">A ticket is a safetensors file: the weights at the rewind point plus <code>*_mask</code> tensors (the <code>torch.nn.utils.prune</code> layout), or masked weights with pruned entries at zero. The server measures the sparsity itself. Fields marked * are required; the file's <code>__metadata__</code> may supply them too.</p>
    <form class="upload" id="upload-form" novalidate>
      ${field("token", "API token", { hint: "kept in this browser; create one with <code>ticketbooth token create --name you</code>", type: "password" })}
      <label for="u-file"><span class="req">Ticket file (.safetensors)</span><input id="u-file" name="file" type="file" accept=".safetensors"><span class="error" id="err-file" role="alert"></span></label>
      <div class="grid2">
        ${field("name", "Name", { placeholder: "resnet20-imp-level5" })}
        ${field("task", "Task", { placeholder: "image-classification" })}
        ${field("dataset", "Dataset", { placeholder: "cifar10" })}
        ${field("architecture", "Architecture", { placeholder: "resnet20" })}
        ${field("pruning_method", "Pruning method", { placeholder: "imp, imp-rewind, snip, random…" })}
        ${field("accuracy", "Accuracy", { type: "number", step: "any", placeholder: "0.912", hint: "fraction in [0, 1]" })}
        ${field("dense_accuracy", "Dense baseline accuracy", { type: "number", step: "any", placeholder: "0.921" })}
        ${field("metric", "Metric", { placeholder: "top1_accuracy" })}
        ${field("parent_id", "Parent ticket id", { hint: "the ticket one IMP round earlier" })}
        ${field("tags", "Tags", { placeholder: "lth, rewinding" })}
        ${field("paper_url", "Paper URL", { type: "url" })}
        ${field("code_url", "Code URL", { type: "url" })}
        ${field("license", "License", { placeholder: "CC-BY-4.0" })}
      </div>
      ${field("description", "Description (markdown)", { textarea: true, rows: 4 })}
      ${field("hyperparameters", "Hyperparameters (JSON object)", { textarea: true, rows: 3, placeholder: '{"lr": 0.1, "batch_size": 128}' })}
      <progress id="progress" max="100" value="0" hidden></progress>
      <p class="error" id="err-form" role="alert"></p>
      <div><button type="submit" id="submit">Upload</button></div>
    </form>`;
  const form = document.getElementById("upload-form");
  form.token.value = localStorage.getItem("ticketbooth.token") || "";
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll(".error")) el.textContent = "";
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    const data = new FormData(form);
    const m = {};
    for (const k of ["name", "task", "dataset", "architecture", "pruning_method", "metric", "parent_id", "paper_url", "code_url", "license", "description"]) {
      const v = (data.get(k) || "").toString().trim();
      if (v) m[k] = ["name", "task", "dataset", "architecture", "pruning_method", "metric"].includes(k) ? v.toLowerCase() : v;
    }
    for (const k of ["accuracy", "dense_accuracy"]) { const v = (data.get(k) || "").toString().trim(); if (v) m[k] = Number(v); }
    const tags = (data.get("tags") || "").toString().split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
    if (tags.length) m.tags = tags;
    const hp = (data.get("hyperparameters") || "").toString().trim();
    if (hp) { try { const v = JSON.parse(hp); m.hyperparameters = v && typeof v === "object" && !Array.isArray(v) ? v : null; } catch { m.hyperparameters = null; } }
    const file = form.file.files[0];
    const errors = checkMetadata(m, file);
    const token = form.token.value.trim();
    if (!token) errors.token = "required";
    if (Object.keys(errors).length) { showFieldErrors(errors); return; }
    localStorage.setItem("ticketbooth.token", token);
    send(m, file, token);
  });
}

function showFieldErrors(errors) {
  let first = null;
  for (const [k, msg] of Object.entries(errors)) {
    const el = document.getElementById(`err-${k}`) || document.getElementById("err-form");
    el.textContent = el.id === "err-form" && k !== "form" ? `${k}: ${msg}` : msg;
    const input = document.getElementById(`u-${k}`);
    if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); first ??= input; }
  }
  first?.focus();
}

function send(metadata, file, token) {
  const body = new FormData();
  body.append("metadata", JSON.stringify(metadata));
  body.append("file", file, file.name);
  const xhr = new XMLHttpRequest();
  const bar = document.getElementById("progress"), button = document.getElementById("submit");
  bar.hidden = false; bar.value = 0; button.disabled = true;
  xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) bar.value = (e.loaded / e.total) * 100; });
  xhr.addEventListener("load", () => {
    button.disabled = false;
    let reply = {};
    try { reply = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 201) { navigate(`/tickets/${encodeURIComponent(reply.id)}`); return; }
    const err = reply.error || { message: `upload failed (HTTP ${xhr.status})` };
    const key = err.field === "metadata" ? "form" : err.field || (xhr.status === 401 ? "token" : "form");
    showFieldErrors({ [key]: err.message });
  });
  xhr.addEventListener("error", () => { button.disabled = false; showFieldErrors({ form: "the upload did not reach the server" }); });
  xhr.open("POST", `${API}/tickets`);
  xhr.setRequestHeader("Authorization", `Bearer ${token}`);
  xhr.send(body);
}

route();
