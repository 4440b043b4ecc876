// A ticket (/tickets/{id}, /owners/{owner}/tickets/{name}): every field, the evidence (does it
// win?) with its results and a form to report one, the mask (its N:M structure, tickets of the same
// architecture, similar masks, compare with another), lineage, the layerwise profile with each
// layer's pattern, the downloads with their sizes, and snippets.

import {
  barScale, compareUrl, downloadItems, editBody, EVIDENCE_GROUPS, exactBytes, jaccardText, keptPct, layerPattern, mayManage, pct, points,
  profileRows, remaining, RESULT_KINDS, resultBody, shortFingerprint, sizeText, splitChildren, structureInfo, VERDICTS,
  verdictExplain, verdictLabel,
} from "../lib.js";
import { account, API, api, apiSend, app, bytes, esc, frac, navigate, ownerLink, rem, send, title, TOKEN_KEY, verdictBadge } from "../ui.js";

/** The evidence panel (docs/evidence.md): the verdict and why, each group of runs as a bar (mean)
 *  with its spread (min to max), the numbers beside it, and the four rules, the one applied marked. */
function evidencePanel(e, metric) {
  if (!e) return '<p class="notice" id="verdict-why">The server sent no evidence for this ticket.</p>';
  const groups = EVIDENCE_GROUPS.map((g) => ({ ...g, s: e[g.key] }));
  const scale = barScale(groups.map((g) => g.s));
  const row = (g) => {
    const s = g.s;
    const head = `<th scope="row">${esc(g.label)}<div class="hint">${esc(g.hint)}</div></th>`;
    if (!s || !s.n) return `<tr data-group="${g.key}">${head}<td class="num mean muted">–</td><td class="bar"></td><td colspan="3" class="muted">no results yet</td></tr>`;
    const lo = scale.at(s.min ?? s.mean), hi = scale.at(s.max ?? s.mean);
    return `<tr data-group="${g.key}">${head}
      <td class="num mean" title="${esc(String(s.mean))}">${pct(s.mean, 2)}</td>
      <td class="bar"><span class="ebar g-${g.key}" aria-hidden="true"><span class="fill" style="width:${scale.at(s.mean).toFixed(2)}%"></span>${s.n > 1
        ? `<span class="spread" style="left:${lo.toFixed(2)}%;width:${Math.max(hi - lo, 0.5).toFixed(2)}%"></span>` : ""}</span></td>
      <td class="num std">${s.std != null ? `± ${points(s.std)}` : '<span class="muted">–</span>'}</td>
      <td class="num minmax">${s.n > 1 ? `${points(s.min)}–${points(s.max)}%` : '<span class="muted">–</span>'}</td>
      <td class="num n">${s.n}</td></tr>`;
  };
  const margin = e.margin != null ? ` The ticket's mean ${e.margin >= 0 ? "beats" : "trails"} the best control by <strong id="margin">${e.margin >= 0 ? "+" : "−"}${points(Math.abs(e.margin))}</strong> points.` : "";
  return `
    <div class="verdict-head">${verdictBadge(e.verdict, ' id="verdict"')}<p id="verdict-why">${esc(verdictExplain(e))}</p></div>
    <div class="table-wrap"><table class="data evidence" id="evidence-table">
      <thead><tr><th scope="col">Runs</th><th scope="col" class="num">Mean</th><th scope="col"><span class="skip">Bar</span></th><th scope="col" class="num">± std</th><th scope="col" class="num minmax">Min–max</th><th scope="col" class="num">n</th></tr></thead>
      <tbody>${groups.map(row).join("")}</tbody></table></div>
    <p class="caption" id="evidence-caption">Mean ${esc(metric)} of each group of runs. Bars run from ${pct(scale.lo, 0)} to ${pct(scale.hi, 0)}; the thin line across a bar spans min to max. ± is the sample standard deviation, in points.</p>
    <p id="reproductions">${e.reproductions ?? 0} reproduction${e.reproductions === 1 ? "" : "s"}, ${e.reproductions_by_others ?? 0} by someone other than the owner.${margin}</p>
    <h3>How the verdict is decided</h3>
    <ol class="rules" id="rules">${VERDICTS.map((v) => `<li class="${v.value === e.verdict ? "applied" : ""}" data-verdict="${v.value}"><strong>${esc(verdictLabel(v.value))}</strong>: ${esc(v.rule)}${v.value === e.verdict ? ' <span class="muted">← this ticket</span>' : ""}</li>`).join("")}</ol>
    <p class="muted">The rules apply in this order; the first that holds is the verdict. Numbers compare means in the ticket's metric; the server computes them from the results below, never from the uploader's say-so.</p>`;
}

const kindLabel = (r) => `${RESULT_KINDS.find((k) => k.value === r.kind)?.label ?? r.kind}${r.scope ? ` (${r.scope})` : ""}`;

/** The results reported against the ticket, oldest first, with who reported them. */
function resultsTable(items, t) {
  if (!items.length) return '<p class="muted" id="no-results">No results reported yet.</p>';
  const dash = '<span class="muted">–</span>';
  return `<div class="table-wrap"><table class="data runs" id="results-table">
    <thead><tr><th scope="col">Reported by</th><th scope="col">Kind</th><th scope="col" class="num">Accuracy</th><th scope="col" class="num">Seed</th><th scope="col">Dataset</th><th scope="col">Notes</th><th scope="col">When</th></tr></thead>
    <tbody>${items.map((r) => `<tr data-id="${esc(r.id)}">
      <td class="who">${ownerLink(r.owner)}${r.owner === t.owner ? ' <span class="chip">owner</span>' : ""}</td>
      <td class="kind">${esc(kindLabel(r))}</td>
      <td class="num acc" title="${esc(String(r.accuracy))}">${pct(r.accuracy, 2)}${r.metric && r.metric !== t.metric ? ` <span class="muted">${esc(r.metric)}</span>` : ""}</td>
      <td class="num seed">${r.seed ?? dash}</td>
      <td class="dataset">${esc(r.dataset ?? t.dataset)}</td>
      <td class="notes">${r.notes ? esc(r.notes) : ""}${r.code_url ? ` <a href="${esc(r.code_url)}" rel="noopener nofollow">code</a>` : ""}${[r.steps != null ? `${r.steps} steps` : "", r.framework, r.hardware].filter(Boolean).map((x) => ` <span class="muted">${esc(x)}</span>`).join("")}${!r.notes && !r.code_url && r.steps == null && !r.framework && !r.hardware ? dash : ""}</td>
      <td class="when">${esc(new Date(r.created_at).toISOString().slice(0, 10))}</td></tr>`).join("")}</tbody></table></div>`;
}

/** The form to report a result: checked as the server would, then POSTed as JSON with the
 *  session when signed in, else with the token kept in this browser (as on the upload page). */
function reportForm(t, me) {
  // The hint under the control, so that the controls of a row line up whatever the hints' lengths.
  const f = (name, label, control, hint = "") => `<label for="r-${name}"><span class="${["kind", "accuracy"].includes(name) ? "req" : ""}">${label}</span>
      ${control}${hint ? `<span class="hint">${hint}</span>` : ""}<span class="error" id="err-r-${name}" role="alert"></span></label>`;
  return `<form class="upload report" id="result-form" novalidate aria-labelledby="report-title">
    <div class="grid3">
      ${f("kind", "Kind", `<select id="r-kind" name="kind">${RESULT_KINDS.map((k) => `<option value="${k.value}">${esc(k.label)}</option>`).join("")}</select>`, '<span id="r-kind-hint"></span>')}
      ${f("accuracy", "Accuracy", `<input id="r-accuracy" name="accuracy" type="number" step="any" min="0" max="1" placeholder="0.912">`, `fraction in [0, 1], in ${esc(t.metric)}`)}
      ${f("seed", "Seed", `<input id="r-seed" name="seed" type="number" step="1" min="0" placeholder="3">`, "optional; one result per kind, dataset and seed")}
      ${f("dataset", "Dataset", `<input id="r-dataset" name="dataset" placeholder="${esc(t.dataset)}">`, `this ticket's is ${esc(t.dataset)}; another only for a transfer`)}
      ${f("scope", "Scope", `<select id="r-scope" name="scope"><option value="">not given</option><option value="layerwise">layerwise</option><option value="global">global</option></select>`, "how the random mask was drawn")}
    </div>
    ${f("notes", "Notes", `<textarea id="r-notes" name="notes" rows="2" placeholder="OpenLTH branch randomly_reinitialize, 30k steps"></textarea>`, "optional, at most 2,000 characters")}
    ${me ? `<p class="muted" id="r-as">Reporting as ${ownerLink(me.name)} (signed in).</p>`
      : f("token", "API token", `<input id="r-token" name="token" type="password" autocomplete="off">`, "kept in this browser, as on the upload page; it needs the <code>results</code> scope")}
    <p class="error" id="err-r-form" role="alert"></p>
    <p class="muted" id="report-status" role="status"></p>
    <div><button type="submit" id="report-submit">Report result</button></div>
  </form>`;
}

function wireReport(t, results, me) {
  const form = document.getElementById("result-form");
  const kind = form.kind, scope = form.scope;
  const sync = () => {
    const k = RESULT_KINDS.find((x) => x.value === kind.value);
    document.getElementById("r-kind-hint").textContent = k ? k.hint : "";
    // A scope only for a random prune: the field is there, disabled, otherwise.
    scope.disabled = kind.value !== "random_prune";
    scope.closest("label").classList.toggle("off", scope.disabled);
  };
  kind.addEventListener("change", sync);
  sync();
  if (!me) form.token.value = localStorage.getItem(TOKEN_KEY) || "";
  const clear = () => {
    for (const el of form.querySelectorAll(".error")) el.textContent = "";
    for (const el of form.querySelectorAll(".invalid")) { el.classList.remove("invalid"); el.removeAttribute("aria-invalid"); }
  };
  const show = (errors) => {
    let first = null;
    for (const [k, msg] of Object.entries(errors)) {
      const el = document.getElementById(`err-r-${k}`) || document.getElementById("err-r-form");
      el.textContent = el.id === "err-r-form" && k !== "form" ? `${k}: ${msg}` : msg;
      const input = document.getElementById(`r-${k}`);
      if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); first ??= input; }
    }
    first?.focus();
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    clear();
    document.getElementById("report-status").textContent = "";
    const data = Object.fromEntries(new FormData(form));
    const { body, errors } = resultBody(data, t);
    // A number input holds "" for text it cannot parse.
    if (form.accuracy.validity.badInput) errors.accuracy = "must be a number";
    if (form.seed.validity.badInput) errors.seed = "an integer in [0, 2^53)";
    const token = String(data.token || "").trim();
    if (!me && !token) errors.token = "required: paste an API token";
    if (Object.keys(errors).length) { show(errors); return; }
    if (!me) localStorage.setItem(TOKEN_KEY, token);
    const button = document.getElementById("report-submit");
    button.disabled = true;
    try {
      const reply = await apiSend("POST", `/tickets/${encodeURIComponent(t.id)}/results`, body, token);
      results.push(reply.result);
      document.getElementById("evidence").innerHTML = evidencePanel(reply.evidence, t.metric);
      document.getElementById("results-list").innerHTML = resultsTable(results, t);
      for (const k of ["accuracy", "seed", "notes"]) form[k].value = "";
      document.getElementById("report-status").textContent = `Recorded: ${kindLabel(reply.result)} at ${pct(reply.result.accuracy, 2)}. Verdict now: ${verdictLabel(reply.evidence?.verdict)}.`;
    } catch (err) {
      // The server's JSON error names the field; a token problem lands by the token.
      const field = err.body?.error?.field;
      const key = field && document.getElementById(`err-r-${field}`) ? field : [401, 403].includes(err.status) && !me ? "token" : field || "form";
      show({ [key]: err.message });
    } finally {
      button.disabled = false;
    }
  });
}

/** The layerwise profile: a row per pruned parameter (kept of total, % remaining), and apart,
 *  the tensors that are not pruned, with no bar (a bar would read as pruning). */
function tensorProfile(tensors, structure) {
  const { rows, notPruned } = profileRows(tensors);
  const shape = (s) => `[${s.join(", ")}]`;
  const n = (x) => x.toLocaleString("en-US");
  const cells = (kept, params) => {
    const share = params ? kept / params : 0;
    return `<td class="num">${n(kept)} / ${n(params)}</td>
      <td class="bar"><span class="meter wide" aria-hidden="true"><span style="width:${share * 100}%"></span></span> <span class="num">${keptPct(share)}</span></td>`;
  };
  const pattern = (r) => {
    const p = layerPattern(r.structure);
    return `<td class="pattern${p.pattern ? " on" : ""}" title="${esc(p.title)}">${esc(p.label)}</td>`;
  };
  const body = rows.map((r) => `<tr title="${esc(`${r.tensors.join(" + ")}: ${r.kept} of ${r.params} kept`)}" data-name="${esc(r.name)}">
      <th scope="row"><code>${esc(r.name)}</code></th><td class="shape">${esc(shape(r.shape))}</td>${cells(r.kept, r.params)}${pattern(r)}</tr>`).join("");
  const sum = (k) => rows.reduce((a, r) => a + r[k], 0);
  const info = structureInfo(structure);
  const total = rows.length > 1 ? `<tfoot><tr><th scope="row">all ${rows.length}</th><td class="shape"></td>${cells(sum("kept"), sum("params"))}<td class="pattern" title="${esc(info.explain)}">${esc(structure ?? "–")}</td></tr></tfoot>` : "";
  const rest = notPruned.length ? `<h3 id="not-pruned-title">Not pruned</h3>
    <p class="muted">Tensors outside the mask (biases, norms, buffers): kept whole, counted in no sparsity.</p>
    <ul class="not-pruned" aria-labelledby="not-pruned-title">${notPruned.map((t) => `<li><code>${esc(t.name)}</code> <span class="muted">${esc(shape(t.shape))} · ${n(t.params)}</span></li>`).join("")}</ul>` : "";
  return `<div class="table-wrap"><table class="profile">
    <thead><tr><th scope="col">Parameter</th><th scope="col" class="shape">Shape</th><th scope="col" class="num">Kept / total</th><th scope="col">Weights remaining</th><th scope="col" class="pattern" title="N:M: at most N of every M consecutive weights kept">N:M</th></tr></thead>
    <tbody>${body}</tbody>${total}</table></div>${rest}`;
}

/** The mask at a glance: its N:M structure in words, and the tickets that prune the same
 *  network (same architecture fingerprint, docs/masks.md). */
function maskPanel(t) {
  const info = structureInfo(t.structure);
  const cls = `structure${info.accelerated ? " accel" : ""}${info.value === "unknown" ? " unknown" : ""}`;
  const fp = t.architecture_fingerprint;
  const arch = fp
    ? `<p id="architecture-line">Architecture fingerprint <code title="${esc(fp)}">${esc(shortFingerprint(fp))}</code>
        · <a id="fingerprint-link" href="/search?fingerprint=${encodeURIComponent(fp)}" data-link>Tickets for this architecture<span id="fingerprint-count"></span> →</a>
        <span class="muted">(the same tensor names and shapes, whatever the layout or dtype)</span></p>`
    : '<p id="architecture-line" class="muted">No architecture fingerprint yet: the ticket was stored before the server measured one.</p>';
  return `<div class="structure-head"><span class="${cls}" id="structure" data-structure="${esc(info.value)}">${esc(info.label)}</span>
      <p id="structure-why">${esc(info.explain)}</p></div>${arch}`;
}

/** Where the similar tickets and the compare-with form go; filled by loadSimilar. */
function similarSection(t) {
  return `<h2 id="similar-title">Similar tickets</h2>
    <p class="muted">Tickets of the same architecture whose masks keep the most of the same weights: the overlap is the Jaccard index of the two kept sets (shared ÷ kept by either), estimated from a signature measured at upload. <em>Compare</em> counts it exactly, layer by layer, against chance.</p>
    <div id="similar" aria-labelledby="similar-title" aria-live="polite"><p class="muted">Looking for similar tickets…</p></div>
    <form class="searchbar compare-with" id="compare-form" novalidate>
      <label for="compare-with">Compare with…</label>
      <input id="compare-with" name="b" placeholder="another ticket: its id or owner/name" autocomplete="off" aria-describedby="err-compare-with">
      <button type="submit">Compare</button>
      <span class="error" id="err-compare-with" role="alert"></span>
    </form>`;
}

async function loadSimilar(t) {
  const box = document.getElementById("similar");
  let items;
  try {
    items = (await api(`/tickets/${encodeURIComponent(t.id)}/similar?limit=10`)).items;
  } catch (err) {
    if (document.body.contains(box)) box.innerHTML = `<p class="error">Could not load similar tickets: ${esc(err.message)}</p>`;
    return;
  }
  if (!document.body.contains(box)) return;
  if (!items.length) {
    box.innerHTML = `<p class="muted" id="no-similar">No other ticket of this architecture yet.</p>`;
    return;
  }
  box.innerHTML = `<ol class="similar" id="similar-list">${items.map((x) => `<li data-id="${esc(x.id)}">
      <span class="overlap" title="${esc(`estimated Jaccard index ${x.jaccard}`)}"><span class="meter" aria-hidden="true"><span style="width:${Math.max(0, Math.min(100, x.jaccard * 100)).toFixed(1)}%"></span></span>
        <strong class="jaccard">${esc(jaccardText(x.jaccard))}</strong> overlap</span>
      <a class="name" href="/tickets/${encodeURIComponent(x.id)}" data-link>${esc(x.owner)}/${esc(x.name)}</a>
      <span class="muted">${rem(x.sparsity)} · ${frac(x.accuracy)} · ${esc(structureInfo(x.structure).label)}</span>
      <a class="compare" href="${esc(compareUrl(t.id, x.id))}" data-link>compare →</a></li>`).join("")}</ol>`;
}

function wireCompare(t) {
  const form = document.getElementById("compare-form");
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const b = form.b.value.trim();
    const err = document.getElementById("err-compare-with");
    if (!b) { err.textContent = "type another ticket's id or owner/name"; form.b.classList.add("invalid"); form.b.focus(); return; }
    navigate(compareUrl(t.id, b));
  });
}

/** How many tickets share the fingerprint, after the link (the facet counts answer it). */
async function loadArchitectureCount(t) {
  const el = document.getElementById("fingerprint-count");
  if (!el) return;
  try {
    const f = await api(`/facets?fingerprint=${encodeURIComponent(t.architecture_fingerprint)}`);
    const n = (f.task || []).reduce((a, x) => a + x.count, 0);
    if (document.body.contains(el)) el.textContent = ` (${n})`;
  } catch { /* the link works without its count */ }
}

/** The download menu: plain links to the API, each with its size; the generated files' sizes
 *  from HEAD (exact Content-Length). Masks only is dropped for a file without masks (a 400). */
function downloadsSection(t) {
  return `<h2 id="downloads-title">Downloads</h2>
    <p class="muted">Plain links to the API. The parts and the packed file are made from the stored file when asked for (docs/masks.md); their sizes are the server's exact <code>Content-Length</code>. Only the whole file counts as a download.</p>
    <ul class="downloads" id="download-menu" aria-labelledby="downloads-title">${downloadItems(t, API).map((d) => `<li data-key="${d.key}">
      <a href="${esc(d.href)}" download="${esc(d.filename)}">${esc(d.label)}</a>
      <span class="size num"${d.size != null ? ` data-bytes="${d.size}" title="${esc(exactBytes(d.size))}"` : ""}>${d.size != null ? esc(sizeText(d.size)) : '<span class="muted">…</span>'}</span>
      <span class="hint muted">${esc(d.hint)}</span></li>`).join("")}</ul>`;
}

async function loadSizes(t) {
  const whole = t.size_bytes;
  await Promise.all(downloadItems(t, API).filter((d) => d.head).map(async (d) => {
    const li = document.querySelector(`#download-menu li[data-key="${d.key}"]`);
    if (!li) return;
    const size = li.querySelector(".size");
    try {
      const r = await fetch(d.href, { method: "HEAD" });
      if (r.status === 400 && d.key === "masks") { li.remove(); return; }
      const n = Number(r.headers.get("content-length"));
      if (!r.ok || r.headers.get("content-length") == null || !Number.isFinite(n)) { size.innerHTML = `<span class="muted">${r.ok ? "size unknown" : `HTTP ${r.status}`}</span>`; return; }
      size.dataset.bytes = String(n);
      size.title = exactBytes(n);
      size.innerHTML = `${esc(sizeText(n))}${whole && d.key !== "header" ? ` <span class="muted share">(${esc(keptPct(n / whole))} of the file)</span>` : ""}`;
    } catch {
      size.innerHTML = '<span class="muted">size unknown</span>';
    }
  }));
}

/** For who may change the ticket (its owner, an owning organization's admins, the member who
 *  uploaded it): edit the descriptive fields, yank or unyank. What was measured never changes. */
function managePanel(t) {
  const input = (k, label, hint, v, type = "") => `<label for="e-${k}">${label}${hint ? ` <span class="hint">${hint}</span>` : ""}
      <input id="e-${k}" name="${k}" ${type ? `type="${type}"` : ""} value="${esc(v ?? "")}"><span class="error" id="err-e-${k}" role="alert"></span></label>`;
  return `<section class="card manage" id="manage" aria-label="Manage this ticket">
    <div class="actions"><button type="button" class="secondary" id="edit-toggle" aria-expanded="false" aria-controls="edit-form">Edit</button>
      <button type="button" class="secondary" id="${t.yanked ? "unyank" : "yank"}">${t.yanked ? "Unyank" : "Yank"}</button>
      <span class="muted">${t.yanked ? "Yanked: out of search and lists, its page and file still reachable." : "Yanking takes it out of search and lists; its page, file and lineage stay."}</span>
      <span class="error" id="err-manage" role="alert"></span></div>
    <form class="upload" id="edit-form" novalidate hidden>
      <label for="e-description">Description (markdown)<textarea id="e-description" name="description" rows="5">${esc(t.description ?? "")}</textarea><span class="error" id="err-e-description" role="alert"></span></label>
      <div class="grid2">
        ${input("tags", "Tags", "comma-separated", (t.tags || []).join(", "))}
        ${input("license", "License", "", t.license)}
        ${input("paper_url", "Paper URL", "", t.paper_url, "url")}
        ${input("code_url", "Code URL", "", t.code_url, "url")}
      </div>
      <p class="muted">Only these fields can change: what was measured or uploaded stays (a corrected ticket is a new upload). An emptied field is cleared.</p>
      <p class="error" id="err-e-form" role="alert"></p>
      <div><button type="submit" id="edit-save">Save</button> <button type="button" class="secondary" id="edit-cancel">Cancel</button></div>
    </form></section>`;
}

function wireManage(t) {
  const form = document.getElementById("edit-form");
  const toggle = document.getElementById("edit-toggle");
  const open = (on) => { form.hidden = !on; toggle.setAttribute("aria-expanded", String(on)); if (on) form.description.focus(); };
  toggle.addEventListener("click", () => open(form.hidden));
  document.getElementById("edit-cancel").addEventListener("click", () => open(false));
  const show = (errors) => {
    for (const el of form.querySelectorAll(".error")) el.textContent = "";
    for (const [k, msg] of Object.entries(errors)) {
      const el = document.getElementById(`err-e-${k}`) || document.getElementById("err-e-form");
      el.textContent = el.id === "err-e-form" && k !== "form" ? `${k}: ${msg}` : msg;
    }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const { body, errors } = editBody(Object.fromEntries(new FormData(form)), t);
    show(errors);
    if (Object.keys(errors).length) return;
    if (!Object.keys(body).length) { open(false); return; }
    const button = document.getElementById("edit-save");
    button.disabled = true;
    try {
      await send("PATCH", `/tickets/${encodeURIComponent(t.id)}`, body);
      // Drawn again from the server's answer: the description rendered, the fields as stored.
      await ticket(t.id);
    } catch (err) {
      show({ [err.body?.error?.field || "form"]: err.message });
      button.disabled = false;
    }
  });
  const yank = document.getElementById(t.yanked ? "unyank" : "yank");
  yank.addEventListener("click", async () => {
    yank.disabled = true;
    try {
      await send("POST", `/tickets/${encodeURIComponent(t.id)}/${t.yanked ? "unyank" : "yank"}`);
      await ticket(t.id);
    } catch (err) {
      document.getElementById("err-manage").textContent = err.message;
      yank.disabled = false;
    }
  });
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

export async function ticket(id, owner, name) {
  const t = id ? await api(`/tickets/${encodeURIComponent(id)}`) : await api(`/owners/${owner}/tickets/${name}`);
  // Without its results the rest of the page still shows, with the reason in their place.
  const [lineage, results, me] = await Promise.all([api(`/tickets/${encodeURIComponent(t.id)}/lineage`),
    api(`/tickets/${encodeURIComponent(t.id)}/results`).catch((err) => ({ items: [], error: err.message })), account()]);
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
    <h1>${ownerLink(t.owner)}/${esc(t.name)} ${t.yanked ? '<span class="chip" id="yanked">yanked</span>' : ""}</h1>
    ${t.uploader && t.uploader !== t.owner ? `<p class="muted" id="uploaded-by">Uploaded by ${ownerLink(t.uploader)} for ${ownerLink(t.owner)}.</p>` : ""}
    ${mayManage(t, me) ? managePanel(t) : ""}
    <div class="kpis">
      <div class="card"><div class="muted">Measured by the server</div><div class="big" id="remaining">${esc(remaining(t.sparsity))}</div>
        <div>${t.params_kept.toLocaleString("en-US")} of ${t.params_total.toLocaleString("en-US")} prunable weights kept</div></div>
      <div class="card"><div class="muted">${esc(t.metric)}</div><div class="big" id="accuracy">${frac(t.accuracy)}</div>
        <div>${t.dense_accuracy != null ? `dense baseline ${frac(t.dense_accuracy)} (${t.accuracy >= t.dense_accuracy ? "+" : ""}${((t.accuracy - t.dense_accuracy) * 100).toFixed(2)} points)` : '<span class="muted">no dense baseline given</span>'}</div></div>
      <div class="card"><div class="muted">File</div><div>${bytes(t.size_bytes)}</div>
        <a class="button" id="download" href="${API}/tickets/${encodeURIComponent(t.id)}/file" download="${esc(t.name)}.safetensors">Download</a>
        <button type="button" class="secondary" id="to-downloads">Masks, packed… ↓</button>
        <div class="muted" style="font-size:.75rem;overflow-wrap:anywhere">sha256 <code id="sha256">${esc(t.sha256)}</code></div></div>
    </div>
    <section class="card mask" id="mask" aria-label="The mask">${maskPanel(t)}</section>
    ${t.description_html ? `<section class="card" aria-label="Description">${t.description_html}</section>` : ""}
    <h2 id="evidence-title">Does it win?</h2>
    <p class="muted">A winning ticket trains to the dense network's accuracy, and better than the same mask re-initialized at random or a random mask of the same sparsity. The verdict comes from the results reported against it.</p>
    <section class="card" id="evidence" aria-labelledby="evidence-title">${evidencePanel(t.evidence, t.metric)}</section>
    <p><a id="transfer-link" href="/transfer?task=${encodeURIComponent(t.task)}&amp;architecture=${encodeURIComponent(t.architecture)}" data-link>Transfer results for this architecture (${esc(t.architecture)} on ${esc(t.task)}) →</a></p>
    <h3 id="results-title">Results</h3>
    <div id="results-list" aria-labelledby="results-title" aria-live="polite">${results.error ? `<p class="error">Could not load the results: ${esc(results.error)}</p>` : resultsTable(results.items, t)}</div>
    <h3 id="report-title">Report a result</h3>
    ${reportForm(t, me)}
    <h2>Lineage</h2>
    <div class="lineage">${chain.join(" → ")}</div>
    ${own.length ? `<p id="next-rounds">Next rounds: ${own.map(link).join(", ")}</p>` : ""}
    ${others.length ? `<p id="built-on">Built on this by others: ${others.map(link).join(", ")}</p>` : ""}
    ${similarSection(t)}
    <h2>Details</h2>
    <dl class="meta">
      ${optional("Owner", ownerLink(t.owner))}${t.uploader && t.uploader !== t.owner ? optional("Uploaded by", ownerLink(t.uploader)) : ""}${optional("Task", esc(t.task))}${optional("Dataset", esc(t.dataset))}
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
    <p class="muted">Each pruned parameter in file order (a <code>P_orig</code> + <code>P_mask</code> pair is one row, <code>P</code>): weights kept of its total, the share remaining, and the strictest N:M pattern its mask keeps (along rows, or for a convolution along input channels; the counts on hover).</p>
    ${tensorProfile(t.tensors || [], t.structure)}
    ${downloadsSection(t)}
    <h2>Use it</h2>
    ${snippets(t)}`;
  wireReport(t, [...results.items], me);
  if (mayManage(t, me)) wireManage(t);
  wireCompare(t);
  // Not a #fragment link: that would be a history entry, and the router would draw the page again.
  document.getElementById("to-downloads").addEventListener("click", () => document.getElementById("downloads-title").scrollIntoView({ behavior: "smooth" }));
  // What is not needed to read the page loads after it.
  loadSimilar(t);
  loadSizes(t);
  if (t.architecture_fingerprint) loadArchitectureCount(t);
}
