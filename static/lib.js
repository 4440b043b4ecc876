// The web page's pure logic: no DOM, no fetch. app.js renders with these; tests/web/lib.test.mjs
// tests them with `node --test`.

/** A fraction as a percentage for people: 0.91234 -> "91.23%". */
export const pct = (x, digits = 1) => `${(x * 100).toFixed(digits)}%`;

/** A share kept (0..1) as a percentage, with more digits where there is little left. */
export function keptPct(share) {
  const r = share * 100;
  if (r === 0) return "0%";
  // Thresholds just below 10 and 1, so that 9.9999... reads "10.0", not "10.00".
  return `${r >= 9.995 ? r.toFixed(1) : r >= 0.995 ? r.toFixed(2) : r.toPrecision(2)}%`;
}

/** The one unit the page speaks: "41.0% of weights remaining". */
export const remaining = (sparsity) => `${keptPct(1 - sparsity)} of weights remaining`;

/**
 * The layerwise profile: one row per parameter, in file order.
 *
 * A tensor `X_mask` is the mask of `X_orig` or `X` (the server has checked one exists, with the
 * same shape): one row named `X`, with kept and total from the mask; its weight tensor is not a
 * row of its own. A prunable tensor with no mask (the zeros layout) is a row. Every other tensor
 * (biases, norms, unmasked layers of a masked file) is "not pruned": it counts toward no sparsity.
 *
 * tensors: [{name, dtype, shape, params, kept, prunable}] as in the single-ticket JSON.
 * Returns {rows: [{name, shape, dtype, params, kept, tensors: [names], structure (the mask's N:M
 * counts, or null)}], notPruned: [{name, shape, dtype, params}]}.
 */
export function profileRows(tensors) {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const sameShape = (a, b) => a && b && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
  // mask name -> weight name, and the reverse.
  const weightOf = new Map(), maskOf = new Map();
  for (const t of tensors) {
    if (!t.name.endsWith("_mask")) continue;
    const base = t.name.slice(0, -"_mask".length);
    const weight = [`${base}_orig`, base].find((n) => n !== t.name && sameShape(byName.get(n), t) && !maskOf.has(n));
    if (weight) { weightOf.set(t.name, weight); maskOf.set(weight, t.name); }
    else weightOf.set(t.name, null);
  }
  const rows = [], notPruned = [];
  const done = new Set();
  for (const t of tensors) {
    if (done.has(t.name)) continue;
    const mask = weightOf.has(t.name) ? t : maskOf.has(t.name) ? byName.get(maskOf.get(t.name)) : null;
    if (mask) {
      const weight = weightOf.get(mask.name);
      const base = mask.name.slice(0, -"_mask".length);
      done.add(mask.name);
      if (weight) done.add(weight);
      rows.push({ name: base, shape: mask.shape, dtype: weight ? byName.get(weight).dtype : mask.dtype,
        params: mask.params, kept: mask.kept, tensors: weight ? [weight, mask.name] : [mask.name], structure: mask.structure ?? null });
    } else if (t.prunable) {
      done.add(t.name);
      rows.push({ name: t.name, shape: t.shape, dtype: t.dtype, params: t.params, kept: t.kept, tensors: [t.name], structure: t.structure ?? null });
    } else {
      done.add(t.name);
      notPruned.push({ name: t.name, shape: t.shape, dtype: t.dtype, params: t.params });
    }
  }
  return { rows, notPruned };
}

/**
 * A search bound on a fraction (sparsity or accuracy), as typed. Returns null when it is fine
 * (empty counts as fine: no bound), else the message to show next to the field, in the server's
 * words: "must be a fraction in [0, 1]; did you mean 0.9?".
 */
export function checkFraction(raw) {
  const s = String(raw ?? "").trim();
  if (s === "") return null;
  const v = Number(s);
  if (!Number.isFinite(v)) return "must be a number";
  if (v >= 0 && v <= 1) return null;
  if (v > 1 && v <= 100) return `must be a fraction in [0, 1]; did you mean ${+(v / 100).toPrecision(12)}?`;
  return "must be a fraction in [0, 1]";
}

/**
 * The dense baseline to draw on the frontier, from the tickets at hand that report one: their
 * common value when they agree, else their median. Null when none reports one.
 * Returns {value, agreed, count (tickets reporting), distinct (different values)}.
 */
export function denseBaseline(tickets) {
  const values = tickets.map((t) => t.dense_accuracy).filter((v) => typeof v === "number" && Number.isFinite(v)).sort((a, b) => a - b);
  if (!values.length) return null;
  const distinct = new Set(values).size;
  const mid = values.length >> 1;
  const value = values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  return { value, agreed: distinct === 1, count: values.length, distinct };
}

/**
 * A ticket's children: the owner's own next rounds, and what others built on it. Uses the
 * lineage's `same_owner` where the server sends it, else compares owners.
 */
export function splitChildren(children, owner) {
  const own = [], others = [];
  for (const c of children) {
    const same = typeof c.same_owner === "boolean" ? c.same_owner : c.owner === owner;
    (same ? own : others).push(c);
  }
  return { own, others };
}

// ---- Evidence: results, the verdict, transfer (docs/evidence.md) ----

/** A difference of fractions in percentage points: 0.031 -> "3.10". */
export const points = (x, digits = 2) => (x * 100).toFixed(digits);

/** The verdicts, in the order the server's rules are applied, each with its rule in words. */
export const VERDICTS = [
  { value: "unverified", label: "unverified",
    rule: "No random re-init and no random-prune result yet: nothing to compare the ticket with." },
  { value: "below_dense", label: "below dense",
    rule: "A dense accuracy is known and the ticket's mean is more than half a point (0.005) below it." },
  { value: "no_better_than_controls", label: "no better than controls",
    rule: "A control's mean (random re-init or random prune) is within one point (0.01) of the ticket's mean, or above it." },
  { value: "wins", label: "wins",
    rule: "Otherwise: the ticket beats every recorded control by more than one point and is not below dense." },
];

const VERDICT = new Map(VERDICTS.map((v) => [v.value, v]));

/** A verdict as people read it ("no better than controls"); an unknown value as it came. */
export const verdictLabel = (v) => VERDICT.get(v)?.label ?? String(v ?? "no verdict");

/** The rule that gives this verdict, in words; null for a value the page does not know. */
export const verdictRule = (v) => VERDICT.get(v)?.rule ?? null;

/** The groups of runs the evidence summarizes, in the order the page shows them. */
export const EVIDENCE_GROUPS = [
  { key: "ticket", label: "This ticket", hint: "its own accuracy and every reproduction" },
  { key: "random_reinit", label: "Random re-init", hint: "the same mask, a fresh random initialization" },
  { key: "random_prune", label: "Random prune", hint: "a random mask at the same sparsity" },
  { key: "dense", label: "Dense", hint: "the unpruned network" },
];

/** One summary {n, mean, std, min, max} for people: "95.00% ± 0.40 (n = 2, 94.70–95.30%)". */
export function statsText(s) {
  if (!s || !s.n) return "no results";
  const spread = s.std != null ? ` ± ${points(s.std)}` : "";
  const range = s.n > 1 && s.min != null && s.max != null ? `, ${points(s.min)}–${points(s.max)}%` : "";
  return `${pct(s.mean, 2)}${spread} (n = ${s.n}${range})`;
}

/**
 * The verdict explained with this ticket's numbers, after the rule the server applied. The
 * server decides; this only says why in words. Returns a sentence.
 */
export function verdictExplain(e) {
  if (!e) return "No evidence yet.";
  const t = e.ticket, dense = e.dense;
  const controls = ["random_reinit", "random_prune"].filter((k) => e[k] && e[k].n)
    .map((k) => ({ k, label: EVIDENCE_GROUPS.find((g) => g.key === k).label.toLowerCase(), s: e[k] }));
  const best = controls.reduce((a, c) => (!a || c.s.mean > a.s.mean ? c : a), null);
  switch (e.verdict) {
    case "unverified":
      return "No random re-init or random-prune result yet, so nothing shows the mask and its initialization matter.";
    case "below_dense":
      if (!t || !dense) break;
      return `The ticket's mean ${pct(t.mean, 2)} is ${points(dense.mean - t.mean)} points below the dense baseline ${pct(dense.mean, 2)}: more than half a point.`;
    case "no_better_than_controls":
      if (!t || !best) break;
      return best.s.mean > t.mean + 1e-9
        ? `The ${best.label} control reaches ${pct(best.s.mean, 2)}, ${points(best.s.mean - t.mean)} points above the ticket's mean ${pct(t.mean, 2)}.`
        : `The ${best.label} control reaches ${pct(best.s.mean, 2)}, within one point of the ticket's mean ${pct(t.mean, 2)} (${points(t.mean - best.s.mean)} points).`;
    case "wins": {
      if (!t || !best) break;
      const margin = e.margin ?? t.mean - best.s.mean;
      const vsDense = !dense ? "; no dense baseline is known"
        : t.mean >= dense.mean ? `, and is at or above the dense baseline ${pct(dense.mean, 2)}`
          : `, and is within half a point of the dense baseline ${pct(dense.mean, 2)}`;
      return `The ticket's mean ${pct(t.mean, 2)} beats the best control (${best.label}, ${pct(best.s.mean, 2)}) by ${points(margin)} points, more than one point${vsDense}.`;
    }
    default:
      break;
  }
  return verdictRule(e.verdict) ?? `The server's verdict: ${e.verdict}.`;
}

/**
 * The scale for the evidence bars: from a round value a little below the lowest number shown to
 * a round value just above the highest (at most 1), so that a one-point gap is visible. Returns
 * {lo, hi, at(v) -> 0..100 (percent of the bar's width)}.
 */
export function barScale(stats) {
  const vals = stats.filter((s) => s && s.n).flatMap((s) => [s.min ?? s.mean, s.max ?? s.mean, s.mean]);
  if (!vals.length) return { lo: 0, hi: 1, at: (v) => v * 100 };
  const lo = Math.max(0, Math.floor((Math.min(...vals) - 0.01) * 20) / 20);
  let hi = Math.min(1, Math.ceil((Math.max(...vals) + 0.005) * 20) / 20);
  if (hi <= lo) hi = Math.min(1, lo + 0.05);
  const at = (v) => Math.min(100, Math.max(0, ((v - lo) / (hi - lo)) * 100));
  return { lo, hi, at };
}

/** The kinds of result, as the API names them, each with what was trained. */
export const RESULT_KINDS = [
  { value: "reproduction", label: "reproduction", hint: "this ticket: the same mask and weights" },
  { value: "random_reinit", label: "random re-init", hint: "the same mask from a fresh random initialization" },
  { value: "random_prune", label: "random prune", hint: "a random mask at the same sparsity" },
  { value: "dense", label: "dense", hint: "the unpruned network on the same setup" },
  { value: "transfer", label: "transfer", hint: "this ticket, trained on another dataset" },
];

const TWO_53 = 2 ** 53;
const SLUG = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * The report-a-result form as typed (strings), checked as the server would (docs/evidence.md),
 * against the ticket it is about. Returns {body, errors}: the JSON to POST and {field: message}.
 */
export function resultBody(raw, ticket) {
  const s = (k) => String(raw[k] ?? "").trim();
  const errors = {}, body = {};
  const kind = s("kind");
  if (!kind) errors.kind = "required";
  else if (!RESULT_KINDS.some((k) => k.value === kind)) errors.kind = `one of ${RESULT_KINDS.map((k) => k.value).join(", ")}`;
  else body.kind = kind;
  const acc = s("accuracy");
  if (!acc) errors.accuracy = "required";
  else {
    const msg = checkFraction(acc);
    if (msg) errors.accuracy = msg;
    else body.accuracy = Number(acc);
  }
  const seed = s("seed");
  if (seed) {
    if (!/^\d+$/.test(seed) || Number(seed) >= TWO_53) errors.seed = "an integer in [0, 2^53)";
    else body.seed = Number(seed);
  }
  const dataset = s("dataset").toLowerCase();
  if (kind === "transfer") {
    if (!dataset) errors.dataset = "required for a transfer: the dataset it was trained on";
    else if (dataset === ticket.dataset) errors.dataset = `${ticket.dataset} is this ticket's own dataset: that run is a reproduction`;
  } else if (dataset && dataset !== ticket.dataset) {
    errors.dataset = `this ticket's dataset is ${ticket.dataset}; a run on another dataset is a transfer`;
  }
  if (dataset && !errors.dataset) {
    if (!SLUG.test(dataset) || dataset.length > 128) errors.dataset = "letters, digits, '.', '_' or '-', starting with a letter or digit";
    else body.dataset = dataset;
  }
  const scope = s("scope");
  if (kind === "random_prune" && scope) {
    if (scope !== "layerwise" && scope !== "global") errors.scope = "layerwise or global";
    else body.scope = scope;
  }
  const notes = s("notes");
  if (notes) {
    if ([...notes].length > 2000) errors.notes = "at most 2,000 characters";
    else body.notes = notes;
  }
  return { body, errors };
}

/**
 * The transfer matrix as a grid: source datasets (rows) by target datasets (columns), each cell
 * the server's {source, target, n, mean, tickets} or null. Rows and columns sorted by name.
 * Returns {sources, targets, rows: [[cell|null]], lo, hi} (lo/hi: the lowest and highest mean).
 */
export function transferGrid(cells) {
  const sources = [...new Set(cells.map((c) => c.source))].sort();
  const targets = [...new Set(cells.map((c) => c.target))].sort();
  const at = new Map(cells.map((c) => [`${c.source}\u0000${c.target}`, c]));
  const rows = sources.map((s) => targets.map((t) => at.get(`${s}\u0000${t}`) ?? null));
  const means = cells.map((c) => c.mean).filter((m) => typeof m === "number");
  return { sources, targets, rows, lo: means.length ? Math.min(...means) : null, hi: means.length ? Math.max(...means) : null };
}

/** How strongly to shade a cell: 0.08 for the lowest mean on the grid to 0.5 for the highest
 *  (the text on it stays readable in light and dark). */
export function shade(mean, lo, hi) {
  if (typeof mean !== "number" || lo == null || hi == null) return 0;
  if (hi - lo < 1e-12) return 0.3;
  return 0.08 + 0.42 * ((mean - lo) / (hi - lo));
}

/**
 * Each plotted ticket's verdict, from the ids of each verdict's tickets (the same plot query
 * asked once per verdict); the evidence of tickets at hand (the frontier's) wins over that.
 * An id in no list gets `rest`: the verdict that was not asked for (the most common one), or
 * "unknown". Returns Map id -> verdict.
 */
export function verdictsById(ids, byVerdict, tickets = [], rest = "unknown") {
  const out = new Map(ids.map((id) => [id, rest]));
  for (const [verdict, list] of Object.entries(byVerdict)) for (const id of list) if (out.has(id)) out.set(id, verdict);
  for (const t of tickets) if (out.has(t.id) && t.evidence?.verdict) out.set(t.id, t.evidence.verdict);
  return out;
}

// ---- The mask as an object (docs/masks.md): N:M structure, downloads, comparison ----

/** The ticket-level structures the API reports, strictest first, each with what it means for
 *  hardware in one line. `filter`: whether `structure=` takes the value. */
export const STRUCTURES = [
  { value: "1:4", filter: true, accelerated: true,
    explain: "At most 1 of every 4 consecutive weights is kept: stricter than 2:4, so NVIDIA's sparse tensor cores (Ampere and later, via torch.sparse.to_sparse_semi_structured) run it as 2:4, up to 2× faster matrix multiplies." },
  { value: "2:4", filter: true, accelerated: true,
    explain: "At most 2 of every 4 consecutive weights are kept: the pattern NVIDIA's sparse tensor cores (Ampere and later) run up to 2× faster than dense, e.g. through torch.sparse.to_sparse_semi_structured." },
  { value: "4:8", filter: true, accelerated: false,
    explain: "At most 4 of every 8 consecutive weights are kept: half the weights, but looser than the 2:4 that NVIDIA's sparse tensor cores (torch.sparse.to_sparse_semi_structured) need, so they do not speed it up as is." },
  { value: "unstructured", filter: true, accelerated: false,
    explain: "No N:M pattern (1:4, 2:4 or 4:8) holds in every pruned layer: the kept weights fall anywhere, which NVIDIA's sparse tensor cores (torch.sparse.to_sparse_semi_structured) cannot run; the saving is in size." },
  { value: "unknown", filter: false, accelerated: false,
    explain: "Not measured yet: the ticket was stored before the server measured N:M structure (an operator's `ticketbooth reindex` measures it)." },
];

const STRUCTURE = new Map(STRUCTURES.map((s) => [s.value, s]));

/** A ticket's structure for people: {value, label, explain, accelerated, filter}. An N:M value
 *  the page does not know is explained from its numbers. */
export function structureInfo(value) {
  const known = STRUCTURE.get(value);
  if (known) return { ...known, label: known.value === "unknown" ? "structure unknown" : known.value === "unstructured" ? "unstructured" : `${known.value} sparse` };
  const m = /^(\d+):(\d+)$/.exec(String(value ?? ""));
  if (m) return { value, filter: false, accelerated: false, label: `${value} sparse`, explain: `At most ${m[1]} of every ${m[2]} consecutive weights are kept.` };
  return { ...STRUCTURE.get("unknown"), value: String(value ?? "unknown"), label: "structure unknown" };
}

/** The order of the structure facet: strictest first, then unstructured, unknown; values the
 *  page does not know last. */
export function sortStructureFacet(items) {
  const rank = (v) => { const i = STRUCTURES.findIndex((s) => s.value === v); return i < 0 ? STRUCTURES.length : i; };
  return [...items].sort((a, b) => rank(a.value) - rank(b.value) || String(a.value).localeCompare(String(b.value)));
}

/**
 * One layer's N:M pattern, from its row's `structure` ({last_axis: {"4", "8"}, input_channel?,
 * pattern, order}). Returns {label, title, pattern}: label is what the table shows ("2:4",
 * "2:4 ⟂ in" along input channels, "none", "–" unmeasured); title says it in words with the
 * largest count kept in any group.
 */
export function layerPattern(s) {
  if (!s) return { label: "–", title: "not measured", pattern: null };
  const groups = (g, what) => {
    if (!g) return null;
    const part = (m) => (g[m] == null ? `rows do not divide into groups of ${m}` : `at most ${g[m]} kept of ${m}`);
    return `${what}: ${part("4")}, ${part("8")}`;
  };
  const counts = [groups(s.last_axis, "along rows"), groups(s.input_channel, "along input channels")].filter(Boolean).join("; ");
  if (!s.pattern) return { label: "none", title: `no N:M pattern (${counts})`, pattern: null };
  const [n, m] = s.pattern.split(":");
  const along = s.order === "input_channel" ? "along input channels (the [out·kh·kw, in] order NVIDIA's ASP prunes convolutions in)" : "along each row";
  return { label: s.order === "input_channel" ? `${s.pattern} (input channels)` : s.pattern,
    title: `${s.pattern}: at most ${n} of every ${m} consecutive entries kept, ${along}. ${counts}`, pattern: s.pattern };
}

/** A size in bytes for people: 1536 -> "1.5 KiB", 999 -> "999 B". */
export function sizeText(n) {
  if (typeof n !== "number" || !Number.isFinite(n) || n < 0) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

/** Exact bytes with thousands separators: 1234567 -> "1,234,567 bytes". */
export const exactBytes = (n) => `${Number(n).toLocaleString("en-US")} byte${n === 1 ? "" : "s"}`;

/**
 * The download menu of a ticket: what the API serves for it (docs/masks.md), in the order
 * shown. Each {key, label, hint, href, filename, size, head}: `size` is known for the stored
 * file; `head` says the size comes from a HEAD request (the generated files, whose
 * Content-Length is exact). The masks-only entry is dropped by the page when its HEAD is a 400
 * (a file without masks).
 */
export function downloadItems(t, api = "/api/v1") {
  const base = `${api}/tickets/${encodeURIComponent(t.id)}`;
  const name = t.name;
  return [
    { key: "file", label: "Whole file", hint: "as uploaded, every tensor; check it against the sha256 above", href: `${base}/file`, filename: `${name}.safetensors`, size: t.size_bytes ?? null, head: false },
    { key: "masks", label: "Masks only", hint: "every *_mask tensor, as a safetensors file", href: `${base}/file?part=masks`, filename: `${name}.masks.safetensors`, size: null, head: true },
    { key: "weights", label: "Weights only", hint: "every tensor but the masks", href: `${base}/file?part=weights`, filename: `${name}.weights.safetensors`, size: null, head: true },
    { key: "packed", label: "Packed", hint: "each mask as bits and only the kept weights (ticketbooth.unpack restores it)", href: `${base}/packed`, filename: `${name}.packed.safetensors`, size: null, head: true },
    { key: "header", label: "Header (JSON)", hint: "tensor names, dtypes, shapes and metadata; no weights", href: `${base}/header`, filename: `${name}.header.json`, size: null, head: true },
  ];
}

/** An estimated Jaccard index as a percentage for people: 0.8731 -> "87%", small ones with a digit. */
export function jaccardText(j) {
  if (typeof j !== "number" || !Number.isFinite(j)) return "–";
  const r = j * 100;
  return `${r > 0 && r < 9.95 ? r.toFixed(1) : r.toFixed(0)}%`;
}

/** The compare view's URL for two tickets (ids or owner/name). */
export const compareUrl = (a, b) => `/compare?${new URLSearchParams({ a, b })}`;

/** A fingerprint shortened for people: the first 12 hex digits and an ellipsis. */
export const shortFingerprint = (fp) => (typeof fp === "string" && fp.length > 12 ? `${fp.slice(0, 12)}…` : String(fp ?? ""));

/**
 * The geometry of one IoU bar, on a 0..1 scale: {fill, marker} in percent of the bar's width
 * (fill: the IoU; marker: the expected IoU of random masks of the same sizes, null when
 * unknown), and `lift`, how many times chance the IoU is (null when either is unknown or
 * chance is 0).
 */
export function iouBar(fig) {
  const clamp = (x) => Math.min(100, Math.max(0, x * 100));
  const iou = typeof fig?.iou === "number" ? fig.iou : null;
  const expected = typeof fig?.expected_iou === "number" ? fig.expected_iou : null;
  return {
    fill: iou == null ? 0 : clamp(iou),
    marker: expected == null ? null : clamp(expected),
    lift: iou != null && expected != null && expected > 0 ? iou / expected : null,
  };
}

/** How an IoU compares with chance, in words: "5.2× chance", "at chance" (within 10%). */
export function liftText(lift) {
  if (lift == null || !Number.isFinite(lift)) return "–";
  if (Math.abs(lift - 1) < 0.1) return "at chance";
  return `${lift >= 10 ? lift.toFixed(0) : lift.toFixed(1)}× chance`;
}

/**
 * The active search filters as chips: [{key, value, label, title}] for each filter in `params`
 * (only the keys in `keys`). A fingerprint is shortened (the whole one on hover); a structure
 * says it also matches the stricter patterns.
 */
export function filterChips(params, keys) {
  const out = [];
  for (const [key, value] of params) {
    if (!keys.includes(key) || value === "") continue;
    let label = `${key.replace(/_/g, " ")}: ${value}`, title = `${key}=${value}`;
    if (key === "fingerprint") { label = `architecture ${shortFingerprint(value)}`; title = `architecture fingerprint ${value}: tickets that prune the same network`; }
    else if (key === "structure") {
      const nm = STRUCTURES.filter((s) => /^\d+:\d+$/.test(s.value)).map((s) => s.value);
      const stricter = nm.includes(value) ? nm.slice(0, nm.indexOf(value)) : [];
      label = `structure: ${value}`;
      title = stricter.length ? `${value}, or stricter (${stricter.join(", ")})` : `structure ${value}`;
    } else if (key === "verdict") label = `verdict: ${verdictLabel(value)}`;
    else if (key === "q") label = `text: ${value}`;
    out.push({ key, value, label, title });
  }
  return out;
}

// ---- Accounts (issue 17): who is signed in, what they may do, what the page sends ----

/** The token scopes, as the API names them, each with what it allows. */
export const SCOPES = [
  { value: "upload", hint: "publish tickets and edit yours" },
  { value: "yank", hint: "yank and unyank your tickets" },
  { value: "results", hint: "report results" },
  { value: "tokens", hint: "list, create and revoke your tokens" },
  { value: "orgs", hint: "create organizations and manage their members" },
];

/** Whether /api/v1/account's answer is a signed-in browser (a session with its CSRF token). */
export const signedIn = (account) => Boolean(account && account.via === "session" && account.csrf_token);

/**
 * The headers that authenticate a state-changing request from the page: with a session, the
 * session's CSRF token (the cookie goes by itself); else a pasted API token as Bearer; else
 * none (the server answers 401). A session wins over a pasted token.
 */
export function authHeaders(account, token) {
  if (signedIn(account)) return { "X-CSRF-Token": account.csrf_token };
  const t = String(token ?? "").trim();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** The viewer's role in organization `org` ("admin", "member"), or null. */
export function orgRole(account, org) {
  return account?.organizations?.find((m) => m.org === org)?.role ?? null;
}

/**
 * Whether the signed-in viewer may edit and yank the ticket, as the server decides it: its
 * owner; for an organization's ticket, the organization's admins and the member who uploaded
 * it (a former member keeps nothing). `ticket.uploader` is given on a single ticket's view.
 */
export function mayManage(ticket, account) {
  if (!account?.name || !ticket) return false;
  if (ticket.owner === account.name) return true;
  const role = orgRole(account, ticket.owner);
  if (role === "admin") return true;
  return role === "member" && ticket.uploader === account.name;
}

/** Where a sign-in comes back to: this page (path and query), but never the sign-up page. */
export function returnTo(path, search = "") {
  const p = String(path || "/");
  if (!p.startsWith("/") || p.startsWith("//") || p === "/signup") return "/";
  return `${p}${search || ""}`;
}

/** The URL that starts signing in with a provider and comes back to `back`. */
export const signInUrl = (providerId, back) => `/auth/${encodeURIComponent(providerId)}/login?return_to=${encodeURIComponent(back || "/")}`;

/** The providers not yet linked to the account (offered as "Link <provider>"). */
export function linkableProviders(providers, identities) {
  const linked = new Set((identities || []).map((i) => i.provider));
  return (providers || []).filter((p) => !linked.has(p.id));
}

/** An ORCID iD's public page, or null for something that is not an ORCID iD. */
export function orcidUrl(id) {
  return /^\d{4}-\d{4}-\d{4}-\d{3}[\dX]$/.test(String(id ?? "")) ? `https://orcid.org/${id}` : null;
}

/** Who a ticket can be published under from the upload page: the viewer, then each of their
 *  organizations. [{value ("" = yourself), label}] */
export function publishOptions(account) {
  if (!account?.name) return [];
  return [{ value: "", label: `me (${account.name})` },
    ...(account.organizations || []).map((m) => ({ value: m.org, label: `${m.org} (${m.role})` }))];
}

/** A token record's state at `now`: "revoked", "expired" or "live". */
export function tokenState(record, now = new Date()) {
  if (record.revoked_at) return "revoked";
  if (record.expires_at && new Date(record.expires_at) <= now) return "expired";
  return "live";
}

/**
 * The create-a-token form as typed ({label, scopes: [..], days}), checked as the server would.
 * `maxDays`: the longest life a token made from a session may have. Returns {body, errors}.
 */
export function tokenRequest(raw, maxDays = 90) {
  const errors = {}, body = {};
  const label = String(raw.label ?? "").trim();
  if (label) {
    if ([...label].length > 128) errors.label = "at most 128 characters";
    // eslint-disable-next-line no-control-regex
    else if (/[\u0000-\u001f\u007f-\u009f]/.test(label)) errors.label = "one line, no control characters";
    else body.label = label;
  }
  const known = new Set(SCOPES.map((s) => s.value));
  const scopes = [...new Set(raw.scopes || [])];
  if (!scopes.length) errors.scopes = "choose at least one scope";
  else if (scopes.some((s) => !known.has(s))) errors.scopes = `one of ${[...known].join(", ")}`;
  else body.scopes = scopes;
  const days = String(raw.days ?? "").trim();
  if (!days) errors.days = "required";
  else if (!/^\d+$/.test(days) || Number(days) < 1 || Number(days) > maxDays) errors.days = `a whole number of days from 1 to ${maxDays}`;
  else body.expires_in_days = Number(days);
  return { body, errors };
}

/** A username or organization name, checked as the server would: 2 to 39 letters, digits and
 *  single hyphens, not starting or ending with one. Null when fine, else the message. */
export function checkName(raw) {
  const s = String(raw ?? "").trim();
  if (!s) return "required";
  if (s.length < 2 || s.length > 39) return "2 to 39 characters";
  if (!/^[A-Za-z0-9](-?[A-Za-z0-9])+$/.test(s)) return "letters, digits and single hyphens, not at the start or end";
  return null;
}

/**
 * The body of a ticket edit (PATCH): only the fields that changed; an emptied field is null
 * (cleared). `raw`: {description, tags ("a, b"), paper_url, code_url, license}. Returns
 * {body, errors}.
 */
export function editBody(raw, ticket) {
  const errors = {}, body = {};
  const text = (k) => String(raw[k] ?? "").trim();
  for (const k of ["description", "paper_url", "code_url", "license"]) {
    const v = k === "description" ? String(raw[k] ?? "").replace(/\s+$/, "") : text(k);
    const was = k === "description" ? String(ticket[k] ?? "").replace(/\s+$/, "") : ticket[k] ?? "";
    if (v === was) continue;
    if (v && (k === "paper_url" || k === "code_url") && !/^https?:\/\/\S+$/.test(v)) { errors[k] = "an http or https URL"; continue; }
    body[k] = v || null;
  }
  const tags = text("tags").split(",").map((t) => t.trim().toLowerCase()).filter(Boolean);
  if (tags.length > 32 || tags.some((t) => !/^[a-z0-9][a-z0-9._-]*$/.test(t))) errors.tags = "up to 32 slugs, comma-separated";
  else if (tags.join(",") !== (ticket.tags || []).join(",")) body.tags = tags;
  return { body, errors };
}

/** An instant for people, in UTC to the minute: "2026-12-03 21:07"; "" for none. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(0, 16).replace("T", " ");
}

/**
 * What the viewer may do to one member of an organization, as the server allows it: an admin
 * changes roles and removes anyone (themselves: "Leave"); a member may only leave. The server
 * still refuses the last admin stepping down or leaving (409). `viewerRole`: the viewer's role
 * in the organization, or null. Returns {setRole: bool, remove: "Remove" | "Leave" | null}.
 */
export function memberActions(viewerName, viewerRole, memberName) {
  const self = Boolean(viewerName) && viewerName === memberName;
  if (viewerRole === "admin") return { setRole: true, remove: self ? "Leave" : "Remove" };
  if (viewerRole === "member" && self) return { setRole: false, remove: "Leave" };
  return { setRole: false, remove: null };
}
