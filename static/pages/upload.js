// Upload (/upload): the file and the metadata form, checked as the server would, with a progress
// bar and the server's errors next to their fields. Signed in, it sends with the session and
// offers to publish under one of your organizations; otherwise with a pasted API token.

import { publishOptions } from "../lib.js";
import { account, API, app, authFor, esc, navigate, ownerLink, providers, signInLinks, title, TOKEN_KEY } from "../ui.js";

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

export async function upload() {
  title("Upload");
  const [me, list] = await Promise.all([account(), providers()]);
  const field = (name, label, opts = {}) => `<label for="u-${name}"><span class="${REQUIRED.includes(name) ? "req" : ""}">${label}</span>
      ${opts.hint ? `<span class="hint">${opts.hint}</span>` : ""}
      ${opts.textarea ? `<textarea id="u-${name}" name="${name}" rows="${opts.rows || 3}" placeholder="${opts.placeholder || ""}"></textarea>`
        : `<input id="u-${name}" name="${name}" ${opts.type ? `type="${opts.type}"` : ""} ${opts.step ? `step="${opts.step}"` : ""} placeholder="${opts.placeholder || ""}" ${REQUIRED.includes(name) ? "required" : ""}>`}
      <span class="error" id="err-${name}" role="alert"></span></label>`;
  app.innerHTML = `
    <h1>Publish a ticket</h1>
    <p class="muted">A ticket is a safetensors file: the weights at the rewind point plus <code>*_mask</code> tensors (the <code>torch.nn.utils.prune</code> layout), or masked weights with pruned entries at zero. The server measures the sparsity itself. Fields marked * are required; the file's <code>__metadata__</code> may supply them too.</p>
    <form class="upload" id="upload-form" novalidate>
      ${me ? `<p class="muted" id="upload-as">Publishing as ${ownerLink(me.name)} (signed in).</p>
      <label for="u-owner">Publish under<span class="hint">yourself, or an organization you belong to</span>
        <select id="u-owner" name="owner">${publishOptions(me).map((o) => `<option value="${esc(o.value)}">${esc(o.label)}</option>`).join("")}</select>
        <span class="error" id="err-owner" role="alert"></span></label>`
    : `${field("token", "API token", { hint: list.length
        ? "kept in this browser; or sign in above and publish without one"
        : "kept in this browser; ask the registry's operator for one (<code>ticketbooth token create --name &lt;you&gt;</code>)", type: "password" })}
      ${list.length ? `<p class="muted" id="upload-sign-in">No token? ${signInLinks(list)}</p>` : ""}`}
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
  if (!me) form.token.value = localStorage.getItem(TOKEN_KEY) || "";
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll(".error")) el.textContent = "";
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    const data = new FormData(form);
    const m = {};
    for (const k of ["name", "task", "dataset", "architecture", "pruning_method", "metric", "parent_id", "paper_url", "code_url", "license", "description", "owner"]) {
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
    const token = me ? "" : form.token.value.trim();
    if (!me && !token) errors.token = "required";
    if (Object.keys(errors).length) { showFieldErrors(errors); return; }
    if (!me) localStorage.setItem(TOKEN_KEY, token);
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

async function send(metadata, file, token) {
  const auth = await authFor(token);
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
    const key = err.field === "metadata" ? "form" : err.field || ([401, 403].includes(xhr.status) && !auth["X-CSRF-Token"] ? "token" : "form");
    showFieldErrors({ [key]: err.message });
  });
  xhr.addEventListener("error", () => { button.disabled = false; showFieldErrors({ form: "the upload did not reach the server" }); });
  xhr.open("POST", `${API}/tickets`);
  for (const [k, v] of Object.entries(auth)) xhr.setRequestHeader(k, v);
  xhr.send(body);
}
