// A profile (/owners/{name}): a person or an organization. Who they are (display name, the
// ORCID iD an ORCID sign-in verified), an organization's members (an admin adds members,
// changes roles and removes them; a member may leave) or a person's organizations, their
// tickets (the search list, paginated) and the results a person reported.

import { memberActions, orcidUrl, orgRole, pct, RESULT_KINDS, when } from "../lib.js";
import { account, api, app, esc, ownerLink, renderAuth, send, ticketRow, title, wireMore } from "../ui.js";

export async function owner(name) {
  const profile = await api(`/owners/${encodeURIComponent(name)}`);
  const me = await account();
  const isOrg = profile.kind === "org";
  const [tickets, results] = await Promise.all([
    api(`/tickets?owner=${encodeURIComponent(profile.name)}&limit=20`),
    isOrg ? null : api(`/owners/${encodeURIComponent(profile.name)}/results?limit=20`).catch((err) => ({ items: [], error: err.message })),
  ]);
  title(profile.name);
  const orcid = orcidUrl(profile.orcid);
  app.innerHTML = `
    <p class="muted">${isOrg ? "Organization" : "Person"}</p>
    <h1 id="profile-name">${esc(profile.display_name || profile.name)} ${profile.display_name ? `<span class="muted">@${esc(profile.name)}</span>` : ""}</h1>
    <dl class="meta" id="profile-facts">
      <dt>Name</dt><dd>${esc(profile.name)}</dd>
      ${profile.display_name ? `<dt>Display name</dt><dd id="profile-display-name">${esc(profile.display_name)}</dd>` : ""}
      <dt>Kind</dt><dd id="profile-kind">${isOrg ? "organization" : "person"}</dd>
      ${profile.orcid ? `<dt>ORCID iD</dt><dd id="profile-orcid">${orcid ? `<a href="${esc(orcid)}" rel="noopener">${esc(profile.orcid)}</a>` : esc(profile.orcid)} <span class="chip" title="verified by an ORCID sign-in">verified</span></dd>` : ""}
      <dt>Since</dt><dd>${esc(when(profile.created_at).slice(0, 10))}</dd>
      <dt>Tickets</dt><dd id="profile-tickets">${profile.tickets}</dd>
      ${isOrg ? "" : `<dt>Results reported</dt><dd id="profile-results">${profile.results}</dd>`}
    </dl>
    ${me?.name === profile.name ? '<p><a href="/account" data-link>Your account: tokens, identities, organizations →</a></p>' : ""}
    ${isOrg ? `<h2 id="members-title">Members</h2><div id="members" aria-labelledby="members-title" aria-live="polite"></div>`
      : `<h2 id="orgs-title">Organizations</h2>${profile.organizations?.length
        ? `<ul class="orgs" id="owner-orgs" aria-labelledby="orgs-title">${profile.organizations.map((m) => `<li data-org="${esc(m.org)}">${ownerLink(m.org)} <span class="chip role">${esc(m.role)}</span></li>`).join("")}</ul>`
        : '<p class="muted" id="owner-orgs">None.</p>'}`}
    <h2 id="tickets-title">Tickets</h2>
    <p class="muted"><a href="/search?owner=${encodeURIComponent(profile.name)}" data-link>Search and filter them →</a></p>
    ${tickets.items.length ? "" : '<p class="muted" id="no-tickets">No tickets yet.</p>'}
    <ul class="results" id="owner-tickets" aria-labelledby="tickets-title">${tickets.items.map(ticketRow).join("")}</ul>
    ${tickets.next_cursor ? '<button class="secondary" id="more-tickets">Load more</button>' : ""}
    ${isOrg ? "" : `<h2 id="reported-title">Results reported</h2>${resultsSection(results)}`}`;
  wireMore(document.getElementById("more-tickets"), document.getElementById("owner-tickets"), tickets.next_cursor,
    (cursor) => api(`/tickets?owner=${encodeURIComponent(profile.name)}&limit=20&cursor=${encodeURIComponent(cursor)}`), ticketRow);
  if (!isOrg && results && !results.error) {
    wireMore(document.getElementById("more-results"), document.querySelector("#owner-results tbody"), results.next_cursor,
      (cursor) => api(`/owners/${encodeURIComponent(profile.name)}/results?limit=20&cursor=${encodeURIComponent(cursor)}`), resultRow);
  }
  if (isOrg) showMembers(profile.name, profile.members || [], me);
}

const kindLabel = (r) => `${RESULT_KINDS.find((k) => k.value === r.kind)?.label ?? r.kind}${r.scope ? ` (${r.scope})` : ""}`;

function resultRow(r) {
  return `<tr data-id="${esc(r.id)}"><td><a href="/tickets/${encodeURIComponent(r.ticket_id)}" data-link><code>${esc(r.ticket_id.slice(0, 8))}</code></a></td>
    <td>${esc(kindLabel(r))}</td><td class="num" title="${esc(String(r.accuracy))}">${pct(r.accuracy, 2)}</td>
    <td>${esc(r.dataset ?? "")}</td><td class="num">${r.seed ?? '<span class="muted">–</span>'}</td><td class="when">${esc(when(r.created_at).slice(0, 10))}</td></tr>`;
}

function resultsSection(results) {
  if (results.error) return `<p class="error">Could not load the results: ${esc(results.error)}</p>`;
  if (!results.items.length) return '<p class="muted" id="no-results">No results reported yet.</p>';
  return `<div class="table-wrap"><table class="data" id="owner-results" aria-labelledby="reported-title">
    <thead><tr><th scope="col">Ticket</th><th scope="col">Kind</th><th scope="col" class="num">Accuracy</th><th scope="col">Dataset</th><th scope="col" class="num">Seed</th><th scope="col">When</th></tr></thead>
    <tbody>${results.items.map(resultRow).join("")}</tbody></table></div>
    ${results.next_cursor ? '<button class="secondary" id="more-results">Load more</button>' : ""}`;
}

/** The members table, with what the viewer may do to each; an admin also gets the add form. */
function showMembers(org, members, me) {
  const box = document.getElementById("members");
  const role = orgRole(me, org);
  const rows = members.map((m) => {
    const can = memberActions(me?.name, role, m.name);
    const roleCell = can.setRole
      ? `<label class="skip" for="role-${esc(m.name)}">Role of ${esc(m.name)}</label><select id="role-${esc(m.name)}" class="role-select" data-member="${esc(m.name)}">
          ${["member", "admin"].map((r) => `<option value="${r}" ${r === m.role ? "selected" : ""}>${r}</option>`).join("")}</select>`
      : `<span class="chip role">${esc(m.role)}</span>`;
    return `<tr data-member="${esc(m.name)}" data-role="${esc(m.role)}"><td>${ownerLink(m.name)}</td><td class="role">${roleCell}</td>
      <td class="when">${esc(when(m.since).slice(0, 10))}</td>
      <td>${can.remove ? `<button type="button" class="secondary small remove-member" data-member="${esc(m.name)}">${can.remove}</button>` : ""}</td></tr>`;
  }).join("");
  box.innerHTML = `<div class="table-wrap"><table class="data" id="members-table">
      <thead><tr><th scope="col">Member</th><th scope="col">Role</th><th scope="col">Since</th><th scope="col"><span class="skip">Actions</span></th></tr></thead>
      <tbody>${rows}</tbody></table></div>
    <p class="error" id="err-members" role="alert"></p>
    ${role === "admin" ? `<form class="searchbar add-member" id="member-form" novalidate aria-label="Add a member">
      <label for="m-name">Add member</label>
      <input id="m-name" name="user" placeholder="username" autocomplete="off">
      <label for="m-role" class="skip">Role</label>
      <select id="m-role" name="role"><option value="member">member</option><option value="admin">admin</option></select>
      <button type="submit">Add</button></form>` : ""}
    <p class="muted">Members publish under ${esc(org)}; its admins and the member who uploaded a ticket may edit and yank it. Tickets stay with the organization when a member leaves.</p>`;
  const err = document.getElementById("err-members");
  const fail = (e) => { err.textContent = e.message; };
  const refresh = async (list) => {
    // Changing one's own membership changes what the page offers (and the upload page's choices).
    const mine = await account(true);
    renderAuth();
    showMembers(org, list ?? await api(`/orgs/${encodeURIComponent(org)}/members`), mine);
  };
  for (const sel of box.querySelectorAll("select.role-select")) {
    sel.addEventListener("change", async () => {
      err.textContent = "";
      try {
        await refresh(await send("PUT", `/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(sel.dataset.member)}`, { role: sel.value }));
      } catch (e) { fail(e); sel.value = sel.closest("tr").dataset.role; }
    });
  }
  for (const b of box.querySelectorAll("button.remove-member")) {
    b.addEventListener("click", async () => {
      err.textContent = "";
      b.disabled = true;
      try {
        await send("DELETE", `/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(b.dataset.member)}`);
        await refresh();
      } catch (e) { fail(e); b.disabled = false; }
    });
  }
  document.getElementById("member-form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const user = form.user.value.trim();
    err.textContent = "";
    if (!user) { err.textContent = "type a username to add"; form.user.focus(); return; }
    try {
      await refresh(await send("PUT", `/orgs/${encodeURIComponent(org)}/members/${encodeURIComponent(user)}`, { role: form.role.value }));
    } catch (ex) { fail(ex); }
  });
}
