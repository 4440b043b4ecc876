// What every page shares: the API, the page's root element, HTML escaping and the page's
// units, navigation within the page, and a ticket as a list row.

import { exactBytes, pct, remaining, sizeText, structureInfo, verdictLabel, verdictRule } from "./lib.js";

export const API = "/api/v1";
export const app = document.getElementById("app");

/** Escapes text for HTML. Everything from the API goes through this, except description_html,
 *  which the server renders from markdown and sanitizes. */
export const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
/** A fraction shown as a percentage rounded for people, its full value on hover. */
export const frac = (x, digits = 2) => `<span title="${esc(String(x))}">${pct(x, digits)}</span>`;
/** The one unit: "x% of weights remaining", the API's exact sparsity on hover. */
export const rem = (sparsity) => `<span title="${esc(`sparsity ${sparsity} (fraction of prunable weights removed)`)}">${esc(remaining(sparsity))}</span>`;
/** A size for people, the exact bytes on hover. */
export const bytes = (n) => `<span title="${esc(exactBytes(n))}">${esc(sizeText(n))}</span>`;

export async function api(path) {
  const r = await fetch(API + path, { headers: { Accept: "application/json" } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(body?.error?.message || r.statusText), { status: r.status, body });
  return body;
}

/** Sends JSON with the token; answers the JSON reply, or throws with the JSON error body
 *  (err.body.error: {code, message, field}) and the status. */
export async function apiSend(method, path, body, token) {
  const r = await fetch(API + path, {
    method,
    headers: { Accept: "application/json", "Content-Type": "application/json", Authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const reply = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(reply?.error?.message || `HTTP ${r.status} ${r.statusText}`), { status: r.status, body: reply });
  return reply;
}

/** The token the upload page keeps in this browser (localStorage), shared by every form. */
export const TOKEN_KEY = "ticketbooth.token";

/** The verdict as a badge: its label, the rule that gives it on hover. */
export function verdictBadge(verdict, extra = "") {
  if (!verdict) return "";
  const cls = /^[a-z_]+$/.test(verdict) ? verdict : "other";
  return `<span class="verdict v-${cls}" data-verdict="${esc(verdict)}" title="${esc(verdictRule(verdict) ?? verdict)}"${extra}>${esc(verdictLabel(verdict))}</span>`;
}

export function title(t) { document.title = t ? `${t} · ticketbooth` : "ticketbooth: the open registry of lottery tickets"; }

/** The page's router (app.js sets it): shows the page for the current URL. */
let route = () => {};
export function setRouter(fn) { route = fn; }

export function navigate(url, replace = false) {
  if (replace) history.replaceState(null, "", url); else history.pushState(null, "", url);
  route();
}

export function showError(err) {
  app.innerHTML = `<h1>${err.status === 404 ? "Not found" : "Something went wrong"}</h1><p class="error">${esc(err.message)}</p><p><a href="/" data-link>Home</a></p>`;
}

export function ticketRow(t) {
  return `<li>
    <div class="title"><a href="/tickets/${encodeURIComponent(t.id)}" data-link>${esc(t.owner)}/${esc(t.name)}</a>
      ${verdictBadge(t.evidence?.verdict)}
      ${/^\d+:\d+$/.test(t.structure ?? "") ? `<span class="structure small${structureInfo(t.structure).accelerated ? " accel" : ""}" data-structure="${esc(t.structure)}" title="${esc(structureInfo(t.structure).explain)}">${esc(t.structure)}</span>` : ""}
      ${t.yanked ? '<span class="chip">yanked</span>' : ""}</div>
    <div class="muted">${esc(t.task)} · ${esc(t.dataset)} · ${esc(t.architecture)} · ${esc(t.pruning_method)}</div>
    <div><span class="meter" aria-hidden="true"><span style="width:${Math.max(1, (1 - t.sparsity) * 100)}%"></span></span>
      <span data-role="remaining">${rem(t.sparsity)}</span> ·
      ${esc(t.metric)} <strong>${frac(t.accuracy)}</strong>${t.dense_accuracy != null ? ` (dense ${frac(t.dense_accuracy)})` : ""} ·
      ${t.downloads} downloads${t.evidence?.reproductions ? ` · ${t.evidence.reproductions} reproduction${t.evidence.reproductions === 1 ? "" : "s"}${t.evidence.reproductions_by_others ? ` (${t.evidence.reproductions_by_others} by others)` : ""}` : ""}</div>
    <div class="chips">${t.tags.map((g) => `<span class="chip">${esc(g)}</span>`).join("")}</div>
  </li>`;
}
