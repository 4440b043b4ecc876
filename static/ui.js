// What every page shares: the API, the page's root element, HTML escaping and the page's
// units, navigation within the page, a ticket as a list row, and who is signed in: the account
// (cached), the header's sign-in state, and the one helper for authenticated requests.

import {
  authHeaders, exactBytes, pct, remaining, returnTo, signedIn, signInUrl, sizeText, structureInfo, verdictLabel, verdictRule,
} from "./lib.js";

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

// ---- Who is signed in ----

let accountCache = null;
let providersCache = null;

/** The signed-in browser's account (GET /api/v1/account with the session cookie, which the page
 *  cannot read: it is HttpOnly), fetched once per page load; null when not signed in. */
export function account(refresh = false) {
  if (refresh || !accountCache) {
    accountCache = fetch(`${API}/account`, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(async (r) => { const a = r.ok ? await r.json() : null; return signedIn(a) ? a : null; })
      .catch(() => null);
  }
  return accountCache;
}

/** The sign-in providers (none: the registry runs on operator-made tokens). */
export function providers() {
  providersCache ??= api("/auth/providers").then((r) => r.providers || []).catch(() => []);
  return providersCache;
}

/** "Sign in with <provider>" links that come back to this page (or to `back`). */
export function signInLinks(list, back = returnTo(location.pathname, location.search)) {
  return list.map((p) => `<a class="button sign-in" href="${esc(signInUrl(p.id, back))}" data-provider="${esc(p.id)}">Sign in with ${esc(p.name)}</a>`).join(" ");
}

/** The header's sign-in state: "@name" and Sign out, or a sign-in link per provider, or nothing. */
export async function renderAuth() {
  const box = document.getElementById("auth");
  if (!box) return;
  const [me, list] = await Promise.all([account(), providers()]);
  if (me) {
    box.innerHTML = `<a href="/account" data-link id="whoami" title="Your account">@${esc(me.name)}</a>
      <button type="button" class="secondary small" id="sign-out">Sign out</button>`;
    document.getElementById("sign-out").addEventListener("click", () => signOut().catch((err) => alertError(err)));
  } else {
    box.innerHTML = signInLinks(list);
  }
}

function alertError(err) {
  const box = document.getElementById("auth");
  if (box) box.insertAdjacentHTML("beforeend", `<span class="error" role="alert">${esc(err.message)}</span>`);
}

/** Signs this browser out (or every browser of the account), then shows the page again. */
export async function signOut(everywhere = false) {
  await send("DELETE", everywhere ? "/account/sessions" : "/session");
  accountCache = Promise.resolve(null);
  route();
}

/**
 * The one helper for authenticated requests. Signed in: the session (the cookie goes with a
 * same-origin request) and its CSRF token in X-CSRF-Token; else `token` (pasted on the page) as
 * Bearer. `body`: undefined, FormData (multipart) or anything else (sent as JSON); `headers`
 * add to or replace the authentication (the sign-up's own CSRF token, say). Answers the JSON
 * reply (null for 204), or throws with the status and the JSON error body
 * (err.body.error: {code, message, field}).
 */
export async function send(method, path, body, { token, headers = {} } = {}) {
  const me = await account();
  const h = { Accept: "application/json", ...authHeaders(me, token), ...headers };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    h["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(API + path, { method, headers: h, body: payload, credentials: "same-origin" });
  // A session ended elsewhere (signed out everywhere, expired): forget it.
  if (r.status === 401 && me) { accountCache = null; renderAuth(); }
  const reply = r.status === 204 ? null : await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(reply?.error?.message || `HTTP ${r.status} ${r.statusText}`), { status: r.status, body: reply });
  return reply;
}

/** Sends JSON with the session, or else the pasted token (see send). */
export const apiSend = (method, path, body, token) => send(method, path, body, { token });

/** The authentication headers send would use, for a request it cannot make (the upload's XHR,
 *  for its progress events). */
export async function authFor(token) {
  return authHeaders(await account(), token);
}

/** An owner's name, linking to their profile. */
export const ownerLink = (name, cls = "owner") => `<a class="${cls}" href="/owners/${encodeURIComponent(name)}" data-link>${esc(name)}</a>`;

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
    <div class="muted">by ${ownerLink(t.owner)} · ${esc(t.task)} · ${esc(t.dataset)} · ${esc(t.architecture)} · ${esc(t.pruning_method)}</div>
    <div><span class="meter" aria-hidden="true"><span style="width:${Math.max(1, (1 - t.sparsity) * 100)}%"></span></span>
      <span data-role="remaining">${rem(t.sparsity)}</span> ·
      ${esc(t.metric)} <strong>${frac(t.accuracy)}</strong>${t.dense_accuracy != null ? ` (dense ${frac(t.dense_accuracy)})` : ""} ·
      ${t.downloads} downloads${t.evidence?.reproductions ? ` · ${t.evidence.reproductions} reproduction${t.evidence.reproductions === 1 ? "" : "s"}${t.evidence.reproductions_by_others ? ` (${t.evidence.reproductions_by_others} by others)` : ""}` : ""}</div>
    <div class="chips">${t.tags.map((g) => `<span class="chip">${esc(g)}</span>`).join("")}</div>
  </li>`;
}

/** A "Load more" button under a list: each click fetches the page after `cursor` (next(cursor)
 *  answers {items, next_cursor}) and appends its rows; the button goes after the last page. */
export function wireMore(button, list, cursor, next, row) {
  if (!button) return;
  if (!cursor) { button.remove(); return; }
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const page = await next(cursor);
      list.insertAdjacentHTML("beforeend", page.items.map(row).join(""));
      cursor = page.next_cursor;
      if (!cursor) button.remove();
    } finally {
      button.disabled = false;
    }
  });
}
