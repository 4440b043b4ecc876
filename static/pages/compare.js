// Compare (/compare?a=REF&b=REF, REF a ticket id or owner/name): two tickets' masks, layer by
// layer (GET /api/v1/compare, docs/masks.md). Each layer's IoU of the two kept sets as a bar
// with chance (the IoU of random masks with the same kept counts) marked on it, the kept counts,
// and the sign agreement of the weights both keep; the whole network in the last row. Tickets of
// different architectures cannot be compared: the server's 422 says how they differ.

import { compareUrl, iouBar, liftText, pct, shortFingerprint } from "../lib.js";
import { api, app, esc, navigate, title } from "../ui.js";

const n = (x) => (typeof x === "number" ? x.toLocaleString("en-US") : "–");
/** A share as a percentage (one decimal), its exact value on hover; "–" for null. */
const share = (x, cls) => (typeof x === "number"
  ? `<span class="${cls}" title="${esc(String(x))}" data-value="${esc(String(x))}">${pct(x, 1)}</span>`
  : `<span class="${cls} muted" title="nothing to compare: no weight kept by both">–</span>`);

/** A layer's name, escaped, that may wrap after its dots ("layer1.0.conv1.weight") on a narrow screen. */
const breakable = (name) => esc(name).replace(/\./g, ".<wbr>");

/** A ticket by id or owner/name; null when it cannot be found. */
async function ticketByRef(ref) {
  const slash = ref.indexOf("/");
  try {
    return slash > 0
      ? await api(`/owners/${encodeURIComponent(ref.slice(0, slash))}/tickets/${encodeURIComponent(ref.slice(slash + 1))}`)
      : await api(`/tickets/${encodeURIComponent(ref)}`);
  } catch {
    return null;
  }
}

function pickForm(a = "", b = "") {
  return `<form class="searchbar compare-pick" id="compare-pick" novalidate>
      <label>A <input name="a" id="pick-a" value="${esc(a)}" placeholder="ticket id or owner/name" autocomplete="off"></label>
      <label>B <input name="b" id="pick-b" value="${esc(b)}" placeholder="ticket id or owner/name" autocomplete="off"></label>
      <button type="submit">Compare</button>
      <span class="error" id="err-pick" role="alert"></span>
    </form>`;
}

function wirePick() {
  const form = document.getElementById("compare-pick");
  form?.addEventListener("submit", (e) => {
    e.preventDefault();
    const a = form.a.value.trim(), b = form.b.value.trim();
    if (!a || !b) { document.getElementById("err-pick").textContent = "name two tickets: ids or owner/name"; (a ? form.b : form.a).focus(); return; }
    navigate(compareUrl(a, b));
  });
}

const INTRO = `<p class="muted">How much two masks agree, layer by layer: the <strong>IoU</strong> is the weights both keep divided by the weights either keeps. The mark on each bar is <strong>chance</strong>: the IoU two random masks with the same kept counts would have. <strong>Sign agreement</strong> is the share of the weights both keep whose stored values have the same sign.</p>`;

const ticketLink = (x, side) => `<span class="side side-${side}" aria-hidden="true">${side.toUpperCase()}</span>
  <a href="/tickets/${encodeURIComponent(x.id)}" data-link id="ticket-${side}">${esc(x.owner)}/${esc(x.name)}</a>`;

/** The refusal, in words: which tickets, and why the server would not compare them. */
async function refused(err, a, b) {
  const code = err.body?.error?.code;
  let why;
  if (err.status === 422 && code === "not_comparable") {
    const [ta, tb] = await Promise.all([ticketByRef(a), ticketByRef(b)]);
    const row = (t, ref, side) => t
      ? `<li>${ticketLink(t, side)} <span class="muted">${esc(t.architecture)} · fingerprint <code title="${esc(t.architecture_fingerprint ?? "")}">${esc(shortFingerprint(t.architecture_fingerprint ?? "none"))}</code></span></li>`
      : `<li><span class="side side-${side}">${side.toUpperCase()}</span> <code>${esc(ref)}</code></li>`;
    why = `<div class="notice refusal" id="not-comparable" role="alert">
        <p><strong>These two tickets cannot be compared: they prune different architectures.</strong>
        A comparison matches the masks entry by entry, so both tickets need the same tensor names and shapes (the same architecture fingerprint).</p>
        <ul class="pair">${row(ta, a, "a")}${row(tb, b, "b")}</ul>
        <p>The server says: <span id="refusal-message">${esc(err.message)}</span></p></div>`;
  } else if (err.status === 404) {
    why = `<div class="notice refusal" id="not-found" role="alert"><p><strong>No such ticket.</strong> <span id="refusal-message">${esc(err.message)}</span></p></div>`;
  } else if (err.status === 503) {
    why = `<div class="notice refusal" id="busy" role="alert"><p><strong>The server is busy comparing other tickets.</strong> A comparison reads both files, so only a few run at once. <button type="button" class="secondary" id="retry">Try again</button></p></div>`;
  } else {
    why = `<div class="notice refusal" role="alert"><p><strong>The comparison was refused.</strong> <span id="refusal-message">${esc(err.message)}</span></p></div>`;
  }
  app.innerHTML = `<h1>Compare masks</h1>${why}${INTRO}<h2>Compare other tickets</h2>${pickForm(a, b)}`;
  wirePick();
  document.getElementById("retry")?.addEventListener("click", () => navigate(compareUrl(a, b), true));
}

/** One row: the layer's counts, its IoU bar with chance marked, and the figures. */
function row(name, f, cls = "") {
  const bar = iouBar(f);
  const label = `IoU ${f.iou == null ? "none" : pct(f.iou, 1)}; chance ${f.expected_iou == null ? "unknown" : pct(f.expected_iou, 1)}`;
  return `<tr class="${cls}" data-layer="${esc(name)}">
    <th scope="row">${cls ? esc(name) : `<code>${breakable(name)}</code>`}</th>
    <td class="num entries">${n(f.entries)}</td>
    <td class="num kept-a">${n(f.kept_a)}</td>
    <td class="num kept-b">${n(f.kept_b)}</td>
    <td class="num both">${n(f.intersection)}</td>
    <td class="bar"><span class="ibar" role="img" aria-label="${esc(label)}" title="${esc(label)}" data-fill="${bar.fill.toFixed(2)}"${bar.marker != null ? ` data-marker="${bar.marker.toFixed(2)}"` : ""}>
      <span class="fill" style="width:${bar.fill.toFixed(2)}%"></span>${bar.marker != null ? `<span class="chance" style="left:${bar.marker.toFixed(2)}%"></span>` : ""}</span></td>
    <td class="num">${share(f.iou, "iou")}</td>
    <td class="num expected">${share(f.expected_iou, "chance-iou")}</td>
    <td class="num lift">${esc(liftText(bar.lift))}</td>
    <td class="num">${share(f.sign_agreement, "sign")}</td></tr>`;
}

export async function compare(params) {
  title("Compare");
  const a = (params.get("a") || "").trim(), b = (params.get("b") || "").trim();
  if (!a || !b) {
    app.innerHTML = `<h1>Compare masks</h1>${INTRO}<p>Name two tickets of the same architecture, or open a ticket and use its <em>similar tickets</em> list or its <em>Compare with…</em> box.</p>${pickForm(a, b)}`;
    wirePick();
    return;
  }
  // A comparison reads both files: say so while it runs.
  app.innerHTML = `<h1>Compare masks</h1><p class="muted" id="comparing">Comparing the two masks (the server reads both files)…</p>`;
  let d;
  try {
    d = await api(`/compare?${new URLSearchParams({ a, b })}`);
  } catch (err) {
    if (![400, 404, 422, 503].includes(err.status)) throw err;
    await refused(err, a, b);
    return;
  }
  title(`${d.a.owner}/${d.a.name} vs ${d.b.owner}/${d.b.name}`);
  const o = d.overall, bar = iouBar(o);
  app.innerHTML = `
    <h1>Compare masks</h1>
    <p class="pair-head">${ticketLink(d.a, "a")} <span class="muted">vs</span> ${ticketLink(d.b, "b")}
      · <a href="${esc(compareUrl(d.b.id, d.a.id))}" data-link id="swap">swap</a></p>
    <p class="muted">Same architecture: fingerprint <code title="${esc(d.a.fingerprint)}">${esc(shortFingerprint(d.a.fingerprint))}</code>, ${d.layers.length} pruned layer${d.layers.length === 1 ? "" : "s"}, ${n(o.entries)} weights.</p>
    <div class="kpis">
      <div class="card"><div class="muted">Overlap (IoU), whole network</div><div class="big" id="overall-iou">${o.iou == null ? "–" : pct(o.iou, 1)}</div>
        <div>chance ${o.expected_iou == null ? "–" : pct(o.expected_iou, 1)} · <strong id="overall-lift">${esc(liftText(bar.lift))}</strong></div></div>
      <div class="card"><div class="muted">Sign agreement</div><div class="big" id="overall-sign">${o.sign_agreement == null ? "–" : pct(o.sign_agreement, 1)}</div>
        <div>of the ${n(o.intersection)} weights both keep</div></div>
      <div class="card"><div class="muted">Kept</div><div id="overall-kept">A ${n(o.kept_a)} · B ${n(o.kept_b)} · both ${n(o.intersection)}</div>
        <div class="muted">of ${n(o.entries)}; either ${n(o.union)}</div></div>
    </div>
    ${INTRO}
    <div class="table-wrap"><table class="data compare" id="compare-table">
      <thead><tr><th scope="col">Layer</th><th scope="col" class="num entries">Entries</th><th scope="col" class="num"><span class="wide">Kept </span>A</th><th scope="col" class="num"><span class="wide">Kept </span>B</th><th scope="col" class="num">Both</th>
        <th scope="col" class="bar">IoU <span class="key"><span class="chance-key" aria-hidden="true"></span> chance</span></th><th scope="col" class="num">IoU</th><th scope="col" class="num expected">Chance</th><th scope="col" class="num lift">vs chance</th><th scope="col" class="num">Same sign</th></tr></thead>
      <tbody>${d.layers.map((l) => row(l.name, l)).join("")}</tbody>
      <tfoot>${row("Whole network", o, "overall")}</tfoot></table></div>
    <p class="caption muted" id="compare-caption">Bars run from 0 to 100% IoU; the mark across each is chance for that layer's kept counts (≈ E[both] ÷ (kept A + kept B − E[both]), E[both] = kept A × kept B ÷ entries). The whole network's chance sums each layer's.</p>
    <h2>Compare other tickets</h2>
    ${pickForm(a, b)}`;
  wirePick();
}
