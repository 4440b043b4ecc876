// Your account (/account), for a signed-in browser: who you are (username, the ORCID iD an
// ORCID sign-in verified), the identities you sign in with (unlink one, link another
// provider), your API tokens (create one, shown once with a copy button; revoke), your
// organizations (create one), and signing out here or everywhere. Not signed in: how to.

import { checkName, linkableProviders, orcidUrl, SCOPES, tokenRequest, tokenState, when } from "../lib.js";
import { account, app, esc, ownerLink, providers, renderAuth, send, signInLinks, signOut, title } from "../ui.js";

export async function accountPage() {
  title("Your account");
  const [me, list] = await Promise.all([account(true), providers()]);
  if (!me) {
    app.innerHTML = `<h1>Your account</h1>
      <p class="notice" id="not-signed-in">You are not signed in.</p>
      ${list.length ? `<p>${signInLinks(list, "/account")}</p>`
        : '<p class="muted">This registry has no sign-in: publishing takes an API token, which the operator makes (<code>ticketbooth token create --name &lt;you&gt;</code>).</p>'}`;
    return;
  }
  const orcid = orcidUrl(me.orcid);
  const linkable = linkableProviders(list, me.identities);
  app.innerHTML = `
    <h1>Your account</h1>
    <dl class="meta" id="account-facts">
      <dt>Username</dt><dd id="account-name">${ownerLink(me.name, "owner")} <span class="muted">(your profile)</span></dd>
      ${me.display_name ? `<dt>Display name</dt><dd>${esc(me.display_name)}</dd>` : ""}
      <dt>ORCID iD</dt><dd id="account-orcid">${me.orcid ? `${orcid ? `<a href="${esc(orcid)}" rel="noopener">${esc(me.orcid)}</a>` : esc(me.orcid)} <span class="chip">verified</span>`
        : '<span class="muted">none verified: link an ORCID sign-in to show one on your profile</span>'}</dd>
      ${me.session_expires_at ? `<dt>This session</dt><dd>ends ${esc(when(me.session_expires_at))} UTC</dd>` : ""}
    </dl>
    <p class="actions"><button type="button" class="secondary" id="sign-out-here">Sign out</button>
      <button type="button" class="secondary" id="sign-out-everywhere">Sign out everywhere</button>
      <span class="error" id="err-sign-out" role="alert"></span></p>

    <h2 id="identities-title">Sign-in identities</h2>
    <p class="muted">Any of these signs you in to this account.</p>
    <div class="table-wrap"><table class="data" id="identities" aria-labelledby="identities-title">
      <thead><tr><th scope="col">Provider</th><th scope="col">Who</th><th scope="col">Linked</th><th scope="col">Last sign-in</th><th scope="col"><span class="skip">Unlink</span></th></tr></thead>
      <tbody>${me.identities.map((i) => `<tr data-id="${esc(i.id)}" data-provider="${esc(i.provider)}">
        <td>${esc(i.provider)}</td>
        <td>${esc([i.name, i.email, i.orcid].filter(Boolean).join(" · ") || i.subject)}</td>
        <td class="when">${esc(when(i.created_at))}</td><td class="when">${esc(when(i.last_login_at))}</td>
        <td><button type="button" class="secondary small unlink" data-id="${esc(i.id)}" ${me.identities.length === 1 ? 'disabled title="your only way to sign in: link another first"' : ""}>Unlink</button></td></tr>`).join("")}</tbody>
    </table></div>
    ${linkable.length ? `<p id="link-providers">${linkable.map((p) => `<button type="button" class="secondary link-provider" data-provider="${esc(p.id)}">Link ${esc(p.name)}</button>`).join(" ")}</p>` : ""}
    <p class="error" id="err-identities" role="alert"></p>

    <h2 id="tokens-title">API tokens</h2>
    <p class="muted">For the command line and scripts (<code>Authorization: Bearer &lt;token&gt;</code>); this page itself uses your session. A token is shown once, when it is made: only its hash is kept.</p>
    <div id="tokens" aria-labelledby="tokens-title" aria-live="polite"><p class="muted">Loading tokens…</p></div>
    <form class="upload" id="token-form" novalidate aria-label="Create a token">
      <h3>Create a token</h3>
      <div class="grid2">
        <label for="t-label">Label <span class="hint">what it is for, one line</span>
          <input id="t-label" name="label" placeholder="laptop CLI" maxlength="128"><span class="error" id="err-t-label" role="alert"></span></label>
        <label for="t-days"><span class="req">Expires in (days)</span> <span class="hint">a token made here lives at most ${esc(me.max_session_token_days)} days</span>
          <input id="t-days" name="days" type="number" min="1" max="${esc(me.max_session_token_days)}" step="1" value="${esc(me.max_session_token_days)}"><span class="error" id="err-t-days" role="alert"></span></label>
      </div>
      <fieldset class="scopes" id="t-scopes"><legend>Scopes</legend>
        ${SCOPES.map((s) => `<label class="check"><input type="checkbox" name="scopes" value="${s.value}" id="t-scope-${s.value}" ${["upload", "results"].includes(s.value) ? "checked" : ""}>
          <span><code>${s.value}</code> <span class="hint">${esc(s.hint)}</span></span></label>`).join("")}
        <span class="error" id="err-t-scopes" role="alert"></span></fieldset>
      <p class="error" id="err-t-form" role="alert"></p>
      <div><button type="submit" id="token-submit">Create token</button></div>
    </form>
    <div class="notice new-token" id="new-token" hidden>
      <p><strong>Your new token</strong>: copy it now, it will not be shown again.</p>
      <div class="copy-row"><input id="new-token-value" readonly aria-label="The new token" spellcheck="false">
        <button type="button" id="copy-token">Copy</button> <span class="muted" id="copy-status" role="status"></span></div>
    </div>

    <h2 id="orgs-title">Organizations</h2>
    <ul class="orgs" id="orgs" aria-labelledby="orgs-title">${orgItems(me)}</ul>
    <form class="upload" id="org-form" novalidate aria-label="Create an organization">
      <h3>Create an organization</h3>
      <p class="muted">You become its admin; its members can publish tickets under its name.</p>
      <div class="grid2">
        <label for="o-name"><span class="req">Name</span><span class="hint">2 to 39 letters, digits and single hyphens; shared with usernames</span>
          <input id="o-name" name="name" placeholder="my-lab"><span class="error" id="err-o-name" role="alert"></span></label>
        <label for="o-display_name">Display name<span class="hint">optional, one line</span>
          <input id="o-display_name" name="display_name" placeholder="The Sparse Lab" maxlength="128"><span class="error" id="err-o-display_name" role="alert"></span></label>
      </div>
      <p class="error" id="err-o-form" role="alert"></p>
      <div><button type="submit" id="org-submit">Create organization</button></div>
    </form>`;
  wireSignOut();
  wireIdentities();
  loadTokens();
  wireTokenForm(me.max_session_token_days);
  wireOrgForm();
}

function orgItems(me) {
  return me.organizations.length
    ? me.organizations.map((m) => `<li data-org="${esc(m.org)}">${ownerLink(m.org)} <span class="chip role">${esc(m.role)}</span></li>`).join("")
    : '<li class="muted" id="no-orgs">You belong to no organization yet.</li>';
}

function wireSignOut() {
  const err = document.getElementById("err-sign-out");
  document.getElementById("sign-out-here").addEventListener("click", () => signOut().catch((e) => { err.textContent = e.message; }));
  document.getElementById("sign-out-everywhere").addEventListener("click", () => signOut(true).catch((e) => { err.textContent = e.message; }));
}

function wireIdentities() {
  const err = document.getElementById("err-identities");
  // The sign-in callback comes back here when the identity to link is someone else's.
  if (new URLSearchParams(location.search).get("link_error") === "identity_taken") {
    err.textContent = "That identity is already linked to another account: nothing was linked.";
  }
  for (const b of document.querySelectorAll("#identities button.unlink")) {
    b.addEventListener("click", async () => {
      err.textContent = "";
      try {
        await send("DELETE", `/account/identities/${encodeURIComponent(b.dataset.id)}`);
        await accountPage();
      } catch (e) { err.textContent = e.message; }
    });
  }
  for (const b of document.querySelectorAll("#link-providers button")) {
    b.addEventListener("click", async () => {
      err.textContent = "";
      try {
        const { redirect } = await send("POST", "/account/identities", { provider: b.dataset.provider, return_to: "/account" });
        location.href = redirect;
      } catch (e) { err.textContent = e.message; }
    });
  }
}

async function loadTokens() {
  const box = document.getElementById("tokens");
  let items;
  try {
    items = (await send("GET", "/tokens")).items;
  } catch (e) {
    if (document.body.contains(box)) box.innerHTML = `<p class="error">Could not load your tokens: ${esc(e.message)}</p>`;
    return;
  }
  if (!document.body.contains(box)) return;
  if (!items.length) { box.innerHTML = '<p class="muted" id="no-tokens">No tokens yet.</p>'; return; }
  const dash = '<span class="muted">–</span>';
  box.innerHTML = `<div class="table-wrap"><table class="data tokens" id="tokens-table">
    <thead><tr><th scope="col">Label</th><th scope="col">Scopes</th><th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="skip">Revoke</span></th></tr></thead>
    <tbody>${items.map((t) => {
      const state = tokenState(t);
      return `<tr data-id="${esc(t.id)}" data-state="${state}">
        <td class="label">${t.label ? esc(t.label) : dash}</td>
        <td class="scopes">${t.scopes.map((s) => `<code>${esc(s)}</code>`).join(" ")}</td>
        <td class="when">${esc(when(t.created_at))}</td>
        <td class="when">${t.expires_at ? esc(when(t.expires_at)) : "never"}</td>
        <td class="when">${t.last_used_at ? esc(when(t.last_used_at)) : "never"}</td>
        <td class="state">${state === "revoked" ? `revoked ${esc(when(t.revoked_at))}` : state}</td>
        <td>${state === "live" ? `<button type="button" class="secondary small revoke" data-id="${esc(t.id)}">Revoke</button>` : ""}</td></tr>`;
    }).join("")}</tbody></table></div>
    <p class="error" id="err-tokens" role="alert"></p>`;
  for (const b of box.querySelectorAll("button.revoke")) {
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await send("DELETE", `/tokens/${encodeURIComponent(b.dataset.id)}`);
        await loadTokens();
      } catch (e) {
        document.getElementById("err-tokens").textContent = e.message;
        b.disabled = false;
      }
    });
  }
}

/** Clears a form's errors, then shows {field: message} by their fields (prefix: the ids'). */
function showErrors(form, prefix, errors) {
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  for (const el of form.querySelectorAll(".invalid")) { el.classList.remove("invalid"); el.removeAttribute("aria-invalid"); }
  let first = null;
  for (const [k, msg] of Object.entries(errors)) {
    const el = document.getElementById(`err-${prefix}-${k}`) || document.getElementById(`err-${prefix}-form`);
    el.textContent = el.id.endsWith("-form") && k !== "form" ? `${k}: ${msg}` : msg;
    const input = document.getElementById(`${prefix}-${k}`);
    if (input) { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); first ??= input; }
  }
  first?.focus();
}

function wireTokenForm(maxDays) {
  const form = document.getElementById("token-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const { body, errors } = tokenRequest({ label: data.get("label"), days: data.get("days"), scopes: data.getAll("scopes") }, maxDays);
    if (form.days.validity.badInput) errors.days = "a whole number of days";
    showErrors(form, "t", errors);
    if (Object.keys(errors).length) return;
    const button = document.getElementById("token-submit");
    button.disabled = true;
    try {
      const created = await send("POST", "/tokens", body);
      const box = document.getElementById("new-token");
      box.hidden = false;
      box.dataset.id = String(created.record.id);
      const value = document.getElementById("new-token-value");
      value.value = created.token;
      document.getElementById("copy-status").textContent = "";
      value.focus();
      value.select();
      form.label.value = "";
      await loadTokens();
    } catch (err) {
      const field = err.body?.error?.field;
      const key = { expires_in_days: "days", expires_at: "days" }[field] ?? field;
      showErrors(form, "t", { [key && document.getElementById(`err-t-${key}`) ? key : "form"]: err.message });
    } finally {
      button.disabled = false;
    }
  });
  document.getElementById("copy-token").addEventListener("click", async () => {
    const value = document.getElementById("new-token-value");
    const status = document.getElementById("copy-status");
    try {
      await navigator.clipboard.writeText(value.value);
      status.textContent = "Copied.";
    } catch {
      // No clipboard API (or no permission): select it for Ctrl+C.
      value.focus();
      value.select();
      status.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
    }
  });
}

function wireOrgForm() {
  const form = document.getElementById("org-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const name = form.name.value.trim();
    const display = form.display_name.value.trim();
    const errors = {};
    const problem = checkName(name);
    if (problem) errors.name = problem;
    showErrors(form, "o", errors);
    if (problem) return;
    const button = document.getElementById("org-submit");
    button.disabled = true;
    try {
      await send("POST", "/orgs", display ? { name, display_name: display } : { name });
      const me = await account(true);
      document.getElementById("orgs").innerHTML = orgItems(me);
      form.reset();
      renderAuth();
    } catch (err) {
      const field = err.body?.error?.field;
      showErrors(form, "o", { [field && document.getElementById(`err-o-${field}`) ? field : "form"]: err.message });
    } finally {
      button.disabled = false;
    }
  });
}
