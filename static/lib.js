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
