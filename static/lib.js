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
 * Returns {rows: [{name, shape, dtype, params, kept, tensors: [names]}], notPruned: [{name, shape, dtype, params}]}.
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
        params: mask.params, kept: mask.kept, tensors: weight ? [weight, mask.name] : [mask.name] });
    } else if (t.prunable) {
      done.add(t.name);
      rows.push({ name: t.name, shape: t.shape, dtype: t.dtype, params: t.params, kept: t.kept, tensors: [t.name] });
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
