// A ticket (/tickets/{id}, /owners/{owner}/tickets/{name}): every field, lineage, the layerwise
// profile, download and snippets.

import { keptPct, profileRows, remaining, splitChildren } from "../lib.js";
import { API, api, app, bytes, esc, frac, rem, title } from "../ui.js";

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

export async function ticket(id, owner, name) {
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
