// Sign-up (/signup): a first sign-in, back from the provider. Shows what the provider said (the
// ORCID iD, name, email) and asks for a username, prefilled with the server's suggestion; the
// server's 400 and 409 land next to the field. Then on to where the sign-in started.

import { checkName, orcidUrl } from "../lib.js";
import { account, api, app, esc, navigate, providers, send, signInLinks, title } from "../ui.js";

export async function signup() {
  title("Choose a username");
  let pending;
  try {
    pending = await api("/signup");
  } catch (err) {
    if (err.status !== 401) throw err;
    const [me, list] = await Promise.all([account(), providers()]);
    app.innerHTML = `<h1>Choose a username</h1>
      <p class="notice" id="no-signup">${me ? `You are signed in as <a href="/account" data-link>@${esc(me.name)}</a>.`
        : `No sign-up is under way in this browser, or it expired. ${list.length ? "Sign in again:" : ""}`}</p>
      ${me ? "" : `<p>${signInLinks(list, "/")}</p>`}`;
    return;
  }
  const orcid = orcidUrl(pending.orcid);
  const said = [
    pending.orcid ? `<dt>ORCID iD</dt><dd id="signup-orcid">${orcid ? `<a href="${esc(orcid)}" rel="noopener">${esc(pending.orcid)}</a>` : esc(pending.orcid)} <span class="chip">verified</span></dd>` : "",
    pending.name ? `<dt>Name</dt><dd id="signup-name">${esc(pending.name)}</dd>` : "",
    pending.email ? `<dt>Email</dt><dd id="signup-email">${esc(pending.email)}</dd>` : "",
  ].join("");
  app.innerHTML = `
    <h1>Choose a username</h1>
    <p class="muted">You signed in with <strong id="signup-provider">${esc(pending.provider)}</strong> for the first time. It said:</p>
    ${said ? `<dl class="meta">${said}</dl>` : '<p class="muted">nothing but who you are to it.</p>'}
    <form class="upload" id="signup-form" novalidate>
      <label for="s-name"><span class="req">Username</span>
        <span class="hint">2 to 39 letters, digits and single hyphens: the owner of your tickets, in their URLs (<code>/owners/&lt;name&gt;</code>). It cannot be changed later.</span>
        <input id="s-name" name="name" autocomplete="username" value="${esc(pending.suggested_name ?? "")}" aria-describedby="err-s-name" required>
        <span class="error" id="err-s-name" role="alert"></span></label>
      <p class="error" id="err-s-form" role="alert"></p>
      <div><button type="submit" id="signup-submit">Create account</button></div>
    </form>
    <p class="muted">This sign-up expires at ${esc(new Date(pending.expires_at).toISOString().slice(0, 16).replace("T", " "))} UTC.</p>`;
  const form = document.getElementById("signup-form");
  const input = form.name;
  const show = (field, message) => {
    const el = document.getElementById(field === "name" ? "err-s-name" : "err-s-form");
    el.textContent = message;
    if (field === "name") { input.classList.add("invalid"); input.setAttribute("aria-invalid", "true"); input.focus(); }
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    for (const el of form.querySelectorAll(".error")) el.textContent = "";
    input.classList.remove("invalid"); input.removeAttribute("aria-invalid");
    const name = input.value.trim();
    const problem = checkName(name);
    if (problem) { show("name", problem); return; }
    const button = document.getElementById("signup-submit");
    button.disabled = true;
    try {
      // The sign-up's own CSRF token (there is no session yet).
      const done = await send("POST", "/signup", { name }, { headers: { "X-CSRF-Token": pending.csrf_token } });
      await account(true);
      navigate(done.return_to || "/", true);
    } catch (err) {
      // A bad or taken name (400, 409) names its field; anything else goes under the form.
      show(err.body?.error?.field === "name" ? "name" : "form", err.message);
    } finally {
      button.disabled = false;
    }
  });
}
