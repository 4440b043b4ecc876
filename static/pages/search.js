// Search (/search?..., /tasks/{task}): facets with counts (the N:M structure among them), ranges
// checked before any request, the active filters as removable chips (an architecture fingerprint
// from a ticket's page among them), sort, "load more"; the URL holds the state.

import { checkFraction, filterChips, keptPct, sortStructureFacet, structureInfo, verdictLabel } from "../lib.js";
import { api, app, esc, navigate, ticketRow, title, wireMore } from "../ui.js";

const FILTERS = ["task", "dataset", "architecture", "pruning_method", "owner", "tag", "parent_id",
  "min_sparsity", "max_sparsity", "min_accuracy", "max_accuracy", "q", "include_yanked",
  "verdict", "min_reproductions", "reproduced_by_others", "fingerprint", "structure"];
const FACETS = [["verdict", "Verdict"], ["structure", "Structure (N:M)"], ["task", "Task"], ["dataset", "Dataset"], ["architecture", "Architecture"], ["pruning_method", "Method"], ["tag", "Tags"]];
/** Filters with no field of their own in the form: shown as chips above the results, each removable. */
const CHIPPED = ["fingerprint", "structure", "verdict", "dataset", "architecture", "pruning_method", "owner", "tag", "parent_id", "task"];

function filterParams(params) {
  const out = new URLSearchParams();
  for (const [k, v] of params) if (FILTERS.includes(k) && v !== "") out.append(k, v);
  return out;
}

export async function search(params, fixedTask = null) {
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
    const items = key === "structure" ? sortStructureFacet(facets[key] || []) : facets[key] || [];
    // A structure is explained on hover; one the filter does not take ("unknown") is not a link.
    if (key === "structure") {
      return `<fieldset id="structure-facet"><legend>${label}</legend><ul>${items.length ? items.map((f) => {
        const info = structureInfo(f.value);
        return info.filter
          ? `<li><a data-link class="${active.includes(f.value) ? "on" : ""}" aria-pressed="${active.includes(f.value)}" data-structure="${esc(f.value)}" title="${esc(info.explain)}" href="${esc(toggled(key, f.value))}">${active.includes(f.value) ? "✓ " : ""}${esc(f.value)}</a> <span class="muted">(${f.count})</span></li>`
          : `<li class="muted" data-structure="${esc(f.value)}" title="${esc(info.explain)}">${esc(f.value)} (${f.count})</li>`;
      }).join("") : '<li class="muted">none</li>'}</ul><p class="hint">At most N of every M consecutive weights kept; 2:4 runs fast on NVIDIA sparse tensor cores. A pattern also finds the stricter ones.</p></fieldset>`;
    }
    // The verdict facet in words, with its badge's colour (the rule on hover).
    const dot = (v) => `<span class="verdict v-${/^[a-z_]+$/.test(v) ? v : "other"}" aria-hidden="true"></span>`;
    const shown = (v) => (key === "verdict" ? verdictLabel(v) : v);
    return `<fieldset ${key === "verdict" ? 'id="verdict-facet"' : ""}><legend>${label}</legend><ul>${items.length ? items.map((f) => `<li>${key === "verdict" ? `${dot(f.value)} ` : ""}<a data-link class="${active.includes(f.value) ? "on" : ""}" aria-pressed="${active.includes(f.value)}"
      ${key === "verdict" ? `data-verdict="${esc(f.value)}"` : ""} href="${esc(toggled(key, f.value))}">${active.includes(f.value) ? "✓ " : ""}${esc(shown(f.value))}</a> <span class="muted">(${f.count})</span></li>`).join("") : '<li class="muted">none</li>'}</ul></fieldset>`;
  }).join("");
  const val = (k) => esc(params.get(k) ?? "");
  // The active filters with no field of their own, each with a link that drops it.
  const without = (key, value) => {
    const p = new URLSearchParams(params);
    const rest = p.getAll(key).filter((v) => v !== value);
    p.delete(key);
    for (const v of rest) p.append(key, v);
    return pageUrl(p);
  };
  const chips = filterChips(filters, CHIPPED.filter((k) => !(k === "task" && fixedTask)));
  const chipsHtml = chips.length ? `<ul class="chips active-filters" id="active-filters" aria-label="Active filters">${chips.map((c) => `<li class="chip on" data-key="${esc(c.key)}" title="${esc(c.title)}">${esc(c.label)}
      <a href="${esc(without(c.key, c.value))}" data-link aria-label="${esc(`remove the filter ${c.label}`)}">✕</a></li>`).join("")}</ul>` : "";
  app.innerHTML = `
    <h1>${fixedTask ? `Task: ${esc(fixedTask)}` : "Search tickets"}</h1>
    ${fixedTask ? `<p><a href="/frontier?task=${encodeURIComponent(fixedTask)}" data-link>See this task's sparsity/accuracy frontier →</a>
      · <a id="transfer-link" href="/transfer?task=${encodeURIComponent(fixedTask)}${params.get("architecture") ? `&amp;architecture=${encodeURIComponent(params.get("architecture"))}` : ""}" data-link>transfer results →</a></p>` : ""}
    <form class="searchbar" role="search" id="search-form" novalidate>
      <label for="q" class="skip">Search text</label>
      <input id="q" name="q" type="search" value="${val("q")}" placeholder="name, description, architecture, dataset, tags">
      <label for="sort" class="skip">Sort</label>
      <select id="sort" name="sort">
        ${[["created", "Newest"], ["accuracy", "Accuracy"], ["sparsity", "Sparsity"], ["downloads", "Downloads"], ["reproductions", "Reproductions"]].map(([v, l]) => `<option value="${v}" ${params.get("sort") === v ? "selected" : ""}>${l}</option>`).join("")}
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
        <fieldset id="reproduced"><legend>Reproductions</legend>
          <label>at least <input form="search-form" name="min_reproductions" id="min_reproductions" type="number" step="1" min="0" value="${val("min_reproductions")}" aria-describedby="err-min_reproductions"></label>
          <span class="error" id="err-min_reproductions" role="alert"></span>
          <label class="check"><input form="search-form" name="reproduced_by_others" id="reproduced_by_others" type="checkbox" value="true" ${params.get("reproduced_by_others") === "true" ? "checked" : ""}> reproduced by someone other than the owner</label>
          <span class="error" id="err-reproduced_by_others" role="alert"></span>
        </fieldset>
        ${facetHtml}
        ${[...filters].length ? `<p><a href="${esc(fixedTask ? `/tasks/${encodeURIComponent(fixedTask)}` : "/search")}" data-link>Clear filters</a></p>` : ""}
      </aside>
      <section aria-live="polite">
        ${chipsHtml}
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
    const minRep = (data.get("min_reproductions") ?? "").toString().trim();
    if (form.min_reproductions.validity.badInput || (minRep && !/^\d+$/.test(minRep))) {
      if (!bad) form.min_reproductions.focus();
      showSearchError("min_reproductions", "must be a whole number"); bad = true;
    }
    if (bad) return;
    const p = new URLSearchParams(params);
    for (const k of ["q", "sort", "order", ...RANGES, "min_reproductions", "reproduced_by_others"]) {
      const v = (data.get(k) ?? "").toString().trim();
      if (v) p.set(k, v); else p.delete(k);
    }
    if (p.get("sort") === "created") p.delete("sort");
    if (p.get("order") === "desc") p.delete("order");
    navigate(pageUrl(p));
  });
  wireMore(document.getElementById("more"), document.getElementById("results"), page.next_cursor, (cursor) => {
    const q = new URLSearchParams(query);
    q.set("cursor", cursor);
    return api(`/tickets?${q}`);
  }, ticketRow);
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
