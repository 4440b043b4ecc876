// Home (/): every task as a card (with its frontier and transfer grid), recent tickets, search.

import { keptPct, remaining } from "../lib.js";
import { api, app, esc, frac, navigate, ticketRow, title } from "../ui.js";

export async function home() {
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
      <div class="stat"><a href="/frontier?task=${encodeURIComponent(t.task)}" data-link>frontier →</a>
        <a href="/transfer?task=${encodeURIComponent(t.task)}" data-link>transfer →</a></div>
    </li>`).join("")}</ul>` : `<p class="notice">No tickets yet. <a href="/upload" data-link>Upload the first one</a>.</p>`}
    <h2>Recent tickets</h2>
    <ul class="results">${recent.items.map(ticketRow).join("")}</ul>`;
  document.getElementById("home-search").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new FormData(e.target).get("q").trim();
    navigate(`/search${q ? `?q=${encodeURIComponent(q)}` : ""}`);
  });
}
