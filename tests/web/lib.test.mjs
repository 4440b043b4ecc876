// The web page's pure logic (static/lib.js), with Node's own test runner: node --test tests/web/
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  barScale, checkFraction, compareUrl, denseBaseline, downloadItems, exactBytes, filterChips, iouBar, jaccardText, keptPct,
  layerPattern, liftText, pct, points, profileRows, remaining, resultBody, shade, shortFingerprint, sizeText,
  sortStructureFacet, splitChildren, statsText, STRUCTURES, structureInfo, transferGrid, VERDICTS, verdictExplain,
  verdictLabel, verdictRule, verdictsById,
} from "../../static/lib.js";

const T = (name, shape, params, kept, prunable, dtype = "F32") => ({ name, dtype, shape, params, kept, prunable });

test("torch-prune layout: one row per parameter, named without _orig/_mask, counts from the mask", () => {
  const { rows, notPruned } = profileRows([
    T("fc1.weight_orig", [300, 64], 19200, 19200, false),
    T("fc1.weight_mask", [300, 64], 19200, 3840, true),
    T("fc1.bias", [300], 300, 300, false),
    T("fc2.weight_mask", [10, 300], 3000, 1500, true, "BOOL"), // mask before its weight
    T("fc2.weight", [10, 300], 3000, 3000, false),
    T("fc2.bias", [10], 10, 10, false),
  ]);
  assert.deepEqual(rows.map((r) => [r.name, r.kept, r.params, r.dtype]), [
    ["fc1.weight", 3840, 19200, "F32"],
    ["fc2.weight", 1500, 3000, "F32"],
  ]);
  assert.deepEqual(rows[0].tensors, ["fc1.weight_orig", "fc1.weight_mask"]);
  assert.deepEqual(rows[1].tensors, ["fc2.weight", "fc2.weight_mask"]);
  assert.deepEqual(notPruned.map((t) => t.name), ["fc1.bias", "fc2.bias"]);
  assert.deepEqual(notPruned[0], { name: "fc1.bias", shape: [300], dtype: "F32", params: 300 });
});

test("zeros layout: prunable tensors are rows under their own names, the rest is not pruned", () => {
  const { rows, notPruned } = profileRows([
    T("conv.weight", [8, 3, 3, 3], 216, 20, true),
    T("bn.weight", [8], 8, 8, false),
    T("bn.running_mean", [8], 8, 8, false),
    T("step", [], 1, 1, false, "I64"),
  ]);
  assert.deepEqual(rows.map((r) => r.name), ["conv.weight"]);
  assert.deepEqual(notPruned.map((t) => t.name), ["bn.weight", "bn.running_mean", "step"]);
});

test("a masked file's unmasked layer is not pruned, even if it is a matrix", () => {
  const { rows, notPruned } = profileRows([
    T("fc1.weight_orig", [4, 4], 16, 16, false),
    T("fc1.weight_mask", [4, 4], 16, 4, true),
    T("head.weight", [2, 4], 8, 8, false),
  ]);
  assert.deepEqual(rows.map((r) => r.name), ["fc1.weight"]);
  assert.deepEqual(notPruned.map((t) => t.name), ["head.weight"]);
});

test("a mask is matched only to a parameter of its shape; P_orig before P", () => {
  const { rows, notPruned } = profileRows([
    T("w", [3], 3, 3, false), // a different shape: not the mask's parameter
    T("w_orig", [2, 2], 4, 4, false),
    T("w_mask", [2, 2], 4, 1, true),
  ]);
  assert.deepEqual(rows.map((r) => [r.name, r.tensors]), [["w", ["w_orig", "w_mask"]]]);
  assert.deepEqual(notPruned.map((t) => t.name), ["w"]);
});

test("fractions outside [0, 1] are refused with the server's hint", () => {
  assert.equal(checkFraction(""), null);
  assert.equal(checkFraction(" 0.9 "), null);
  assert.equal(checkFraction("0"), null);
  assert.equal(checkFraction("1"), null);
  assert.equal(checkFraction("90"), "must be a fraction in [0, 1]; did you mean 0.9?");
  assert.equal(checkFraction("93.4"), "must be a fraction in [0, 1]; did you mean 0.934?");
  assert.equal(checkFraction("100"), "must be a fraction in [0, 1]; did you mean 1?");
  assert.equal(checkFraction("-0.1"), "must be a fraction in [0, 1]");
  assert.equal(checkFraction("250"), "must be a fraction in [0, 1]");
  assert.equal(checkFraction("abc"), "must be a number");
});

test("one unit: percent of weights remaining, rounded for people", () => {
  assert.equal(remaining(1 - 0.8 ** 4), "41.0% of weights remaining");
  assert.equal(remaining(0.9866), "1.34% of weights remaining");
  assert.equal(remaining(0.99957), "0.043% of weights remaining");
  assert.equal(remaining(0), "100.0% of weights remaining");
  assert.equal(keptPct(0), "0%");
  assert.equal(remaining(0.9), "10.0% of weights remaining"); // 1 - 0.9 is 0.0999...
  assert.equal(remaining(0.99), "1.00% of weights remaining");
  assert.equal(remaining(0.9999), "0.010% of weights remaining");
  assert.equal(pct(0.91234, 2), "91.23%");
});

test("dense baseline: the common value, else the median; none without one", () => {
  assert.equal(denseBaseline([{}, { dense_accuracy: null }]), null);
  assert.deepEqual(denseBaseline([{ dense_accuracy: 0.97 }, { dense_accuracy: 0.97 }, {}]), { value: 0.97, agreed: true, count: 2, distinct: 1 });
  assert.deepEqual(denseBaseline([{ dense_accuracy: 0.9 }, { dense_accuracy: 0.96 }, { dense_accuracy: 0.95 }]), { value: 0.95, agreed: false, count: 3, distinct: 3 });
  assert.equal(denseBaseline([{ dense_accuracy: 0.9 }, { dense_accuracy: 0.92 }]).value, 0.91);
});

test("children: same_owner when the server sends it, else owner comparison", () => {
  const { own, others } = splitChildren([
    { id: "a", owner: "alice" },
    { id: "b", owner: "bob" },
    { id: "c", owner: "alice", same_owner: false }, // the server's word wins
    { id: "d", owner: "carol", same_owner: true },
  ], "alice");
  assert.deepEqual(own.map((c) => c.id), ["a", "d"]);
  assert.deepEqual(others.map((c) => c.id), ["b", "c"]);
});

// ---- evidence ----

const S = (n, mean, std, min, max) => ({ n, mean, std, min, max });

test("the four verdicts in the server's order, each with its rule in words", () => {
  assert.deepEqual(VERDICTS.map((v) => v.value), ["unverified", "below_dense", "no_better_than_controls", "wins"]);
  assert.equal(verdictLabel("no_better_than_controls"), "no better than controls");
  assert.equal(verdictLabel("below_dense"), "below dense");
  assert.equal(verdictLabel("something_new"), "something_new");
  assert.match(verdictRule("unverified"), /no random re-init and no random-prune result/i);
  assert.match(verdictRule("below_dense"), /half a point \(0\.005\) below/);
  assert.match(verdictRule("no_better_than_controls"), /within one point \(0\.01\).*or above it/);
  assert.match(verdictRule("wins"), /more than one point and is not below dense/);
  assert.equal(verdictRule("something_new"), null);
});

test("stats in percent, spread in points, n and range", () => {
  assert.equal(statsText(S(3, 0.981, 0.002, 0.979, 0.983)), "98.10% ± 0.20 (n = 3, 97.90–98.30%)");
  assert.equal(statsText(S(1, 0.941, null, 0.941, 0.941)), "94.10% (n = 1)");
  assert.equal(statsText(null), "no results");
  assert.equal(points(0.031), "3.10");
});

test("the verdict explained with the ticket's numbers", () => {
  const wins = { verdict: "wins", margin: 0.031, ticket: S(3, 0.981, 0.002, 0.979, 0.983),
    random_reinit: S(2, 0.95, 0.004, 0.947, 0.953), random_prune: S(1, 0.941, null, 0.941, 0.941), dense: null };
  assert.equal(verdictExplain(wins),
    "The ticket's mean 98.10% beats the best control (random re-init, 95.00%) by 3.10 points, more than one point; no dense baseline is known.");
  assert.match(verdictExplain({ ...wins, dense: S(1, 0.984, null, 0.984, 0.984) }), /within half a point of the dense baseline 98\.40%\.$/);
  assert.match(verdictExplain({ ...wins, dense: S(1, 0.97, null, 0.97, 0.97) }), /at or above the dense baseline 97\.00%\.$/);
  // The best control is the highest mean, whichever kind it is.
  const nbc = { verdict: "no_better_than_controls", margin: -0.002, ticket: S(1, 0.9, null, 0.9, 0.9),
    random_reinit: S(1, 0.85, null, 0.85, 0.85), random_prune: S(2, 0.902, 0.001, 0.901, 0.903), dense: null };
  assert.equal(verdictExplain(nbc), "The random prune control reaches 90.20%, 0.20 points above the ticket's mean 90.00%.");
  const close = { ...nbc, random_prune: S(1, 0.895, null, 0.895, 0.895) };
  assert.equal(verdictExplain(close), "The random prune control reaches 89.50%, within one point of the ticket's mean 90.00% (0.50 points).");
  const below = { verdict: "below_dense", margin: 0.05, ticket: S(1, 0.9, null, 0.9, 0.9), random_reinit: S(1, 0.85, null, 0.85, 0.85),
    random_prune: null, dense: S(1, 0.92, null, 0.92, 0.92) };
  assert.equal(verdictExplain(below), "The ticket's mean 90.00% is 2.00 points below the dense baseline 92.00%: more than half a point.");
  assert.match(verdictExplain({ verdict: "unverified", ticket: S(1, 0.9, null, 0.9, 0.9) }), /No random re-init or random-prune result yet/);
  // A verdict the page does not know is shown as the server sent it.
  assert.equal(verdictExplain({ verdict: "odd" }), "The server's verdict: odd.");
  assert.equal(verdictExplain(null), "No evidence yet.");
});

test("bar scale: round bounds around every number shown, a one-point gap visible", () => {
  const sc = barScale([S(3, 0.981, 0.002, 0.979, 0.983), S(2, 0.95, 0.004, 0.947, 0.953), null]);
  assert.equal(sc.lo, 0.9);
  assert.equal(sc.hi, 1);
  assert.ok(Math.abs(sc.at(0.95) - 50) < 1e-9);
  assert.equal(sc.at(0.5), 0);
  assert.ok(sc.at(0.96) - sc.at(0.95) >= 9.99); // one point is a tenth of the bar
  const low = barScale([S(1, 0.31, null, 0.31, 0.31)]);
  assert.ok(low.lo <= 0.3 && low.hi >= 0.315 && low.hi <= 0.35, JSON.stringify(low));
  assert.deepEqual([barScale([]).lo, barScale([]).hi], [0, 1]);
});

test("a result as typed becomes the POST body, checked as the server would", () => {
  const t = { dataset: "cifar10" };
  assert.deepEqual(resultBody({ kind: "random_reinit", accuracy: "0.912", seed: "3", dataset: "", scope: "global", notes: " openlth " }, t),
    { body: { kind: "random_reinit", accuracy: 0.912, seed: 3, notes: "openlth" }, errors: {} });
  assert.deepEqual(resultBody({ kind: "random_prune", accuracy: "0.9", scope: "layerwise", dataset: "CIFAR10" }, t).body,
    { kind: "random_prune", accuracy: 0.9, dataset: "cifar10", scope: "layerwise" });
  assert.deepEqual(resultBody({ kind: "", accuracy: "" }, t).errors, { kind: "required", accuracy: "required" });
  assert.equal(resultBody({ kind: "dense", accuracy: "97" }, t).errors.accuracy, "must be a fraction in [0, 1]; did you mean 0.97?");
  assert.equal(resultBody({ kind: "dense", accuracy: "0.9", seed: "-1" }, t).errors.seed, "an integer in [0, 2^53)");
  assert.equal(resultBody({ kind: "dense", accuracy: "0.9", seed: "1.5" }, t).errors.seed, "an integer in [0, 2^53)");
  assert.equal(resultBody({ kind: "dense", accuracy: "0.9", seed: String(2 ** 53) }, t).errors.seed, "an integer in [0, 2^53)");
  assert.equal(resultBody({ kind: "dense", accuracy: "0.9", seed: String(2 ** 53 - 1) }, t).body.seed, 2 ** 53 - 1);
  assert.match(resultBody({ kind: "transfer", accuracy: "0.6" }, t).errors.dataset, /^required/);
  assert.match(resultBody({ kind: "transfer", accuracy: "0.6", dataset: "cifar10" }, t).errors.dataset, /reproduction/);
  assert.deepEqual(resultBody({ kind: "transfer", accuracy: "0.6", dataset: "cifar100" }, t).body, { kind: "transfer", accuracy: 0.6, dataset: "cifar100" });
  assert.match(resultBody({ kind: "reproduction", accuracy: "0.6", dataset: "mnist" }, t).errors.dataset, /is a transfer/);
  assert.equal(resultBody({ kind: "random_prune", accuracy: "0.6", scope: "both" }, t).errors.scope, "layerwise or global");
  assert.equal(resultBody({ kind: "dense", accuracy: "0.6", notes: "x".repeat(2001) }, t).errors.notes, "at most 2,000 characters");
  assert.equal(resultBody({ kind: "dense", accuracy: "0.6", notes: "é".repeat(2000) }, t).errors.notes, undefined);
  assert.match(resultBody({ kind: "winning", accuracy: "0.6" }, t).errors.kind, /^one of reproduction/);
});

test("transfer grid: sources by targets, empty cells null, the range of means", () => {
  const cells = [
    { source: "cifar10", target: "svhn", n: 1, mean: 0.9, tickets: ["a"] },
    { source: "cifar10", target: "cifar100", n: 2, mean: 0.6, tickets: ["a", "b"] },
    { source: "imagenet", target: "cifar10", n: 3, mean: 0.93, tickets: ["c"] },
  ];
  const g = transferGrid(cells);
  assert.deepEqual(g.sources, ["cifar10", "imagenet"]);
  assert.deepEqual(g.targets, ["cifar10", "cifar100", "svhn"]);
  assert.deepEqual(g.rows.map((r) => r.map((c) => c && c.n)), [[null, 2, 1], [3, null, null]]);
  assert.equal(g.lo, 0.6);
  assert.equal(g.hi, 0.93);
  assert.deepEqual(transferGrid([]), { sources: [], targets: [], rows: [], lo: null, hi: null });
  assert.equal(shade(0.6, 0.6, 0.93), 0.08);
  assert.ok(Math.abs(shade(0.93, 0.6, 0.93) - 0.5) < 1e-12);
  assert.ok(shade(0.8, 0.6, 0.93) > shade(0.7, 0.6, 0.93));
  assert.equal(shade(0.7, 0.7, 0.7), 0.3);
  assert.equal(shade(null, 0.6, 0.9), 0);
});

test("each plotted ticket's verdict: from the per-verdict lists, the tickets at hand first", () => {
  const m = verdictsById(["a", "b", "c", "d"], { wins: ["a", "x"], below_dense: ["b"] }, [{ id: "b", evidence: { verdict: "wins" } }, { id: "z", evidence: { verdict: "wins" } }]);
  assert.deepEqual([...m], [["a", "wins"], ["b", "wins"], ["c", "unknown"], ["d", "unknown"]]);
  const r = verdictsById(["a", "b", "c"], { wins: ["a"] }, [], "unverified");
  assert.deepEqual([...r], [["a", "wins"], ["b", "unverified"], ["c", "unverified"]]);
});

// ---- The mask as an object (docs/masks.md) ----

test("structure: each value explained, what the tensor cores accelerate said for 2:4 and 1:4", () => {
  for (const v of ["1:4", "2:4", "4:8", "unstructured", "unknown"]) {
    const info = structureInfo(v);
    assert.ok(info.explain.length > 40 && !info.explain.includes("\n"), v);
  }
  assert.equal(structureInfo("2:4").label, "2:4 sparse");
  assert.ok(structureInfo("2:4").accelerated && structureInfo("1:4").accelerated);
  assert.ok(!structureInfo("4:8").accelerated && !structureInfo("unstructured").accelerated);
  assert.match(structureInfo("2:4").explain, /At most 2 of every 4 consecutive weights/);
  for (const v of ["1:4", "2:4", "4:8", "unstructured"]) assert.match(structureInfo(v).explain, /torch\.sparse\.to_sparse_semi_structured/, v);
  assert.match(structureInfo("2:4").explain, /NVIDIA's sparse tensor cores/);
  assert.equal(structureInfo("unknown").label, "structure unknown");
  assert.equal(structureInfo("unknown").filter, false);
  // A value this page does not know yet: said from its numbers; nonsense reads as unknown.
  assert.equal(structureInfo("8:16").explain, "At most 8 of every 16 consecutive weights are kept.");
  assert.equal(structureInfo("8:16").filter, false);
  assert.equal(structureInfo(null).label, "structure unknown");
  assert.equal(structureInfo("<b>").value, "<b>");
  assert.deepEqual(STRUCTURES.filter((s) => s.filter).map((s) => s.value), ["1:4", "2:4", "4:8", "unstructured"]);
});

test("structure facet: strictest first, unknown and unheard-of values last", () => {
  const items = [{ value: "unstructured", count: 9 }, { value: "unknown", count: 4 }, { value: "2:4", count: 2 }, { value: "9:9", count: 1 }, { value: "1:4", count: 1 }];
  assert.deepEqual(sortStructureFacet(items).map((f) => f.value), ["1:4", "2:4", "unstructured", "unknown", "9:9"]);
  assert.equal(items[0].value, "unstructured"); // not sorted in place
});

test("a layer's pattern: along rows, along input channels, none with its counts, unmeasured", () => {
  assert.deepEqual(layerPattern(null), { label: "–", title: "not measured", pattern: null });
  const rows = layerPattern({ last_axis: { 4: 2, 8: 4 }, pattern: "2:4", order: "last_axis" });
  assert.equal(rows.label, "2:4");
  assert.equal(rows.pattern, "2:4");
  assert.match(rows.title, /^2:4: at most 2 of every 4 consecutive entries kept, along each row\. along rows: at most 2 kept of 4, at most 4 kept of 8$/);
  const conv = layerPattern({ last_axis: { 4: null, 8: null }, input_channel: { 4: 2, 8: 3 }, pattern: "2:4", order: "input_channel" });
  assert.equal(conv.label, "2:4 (input channels)");
  assert.match(conv.title, /along input channels \(the \[out·kh·kw, in\] order/);
  assert.match(conv.title, /along rows: rows do not divide into groups of 4, rows do not divide into groups of 8; along input channels: at most 2 kept of 4, at most 3 kept of 8/);
  const none = layerPattern({ last_axis: { 4: 4, 8: null }, pattern: null, order: null });
  assert.equal(none.label, "none");
  assert.equal(none.pattern, null);
  assert.equal(none.title, "no N:M pattern (along rows: at most 4 kept of 4, rows do not divide into groups of 8)");
});

test("the profile carries each row's structure from its mask, or from the prunable tensor itself", () => {
  const s24 = { last_axis: { 4: 2, 8: 4 }, pattern: "2:4", order: "last_axis" };
  const { rows } = profileRows([
    { ...T("a.weight_orig", [4, 8], 32, 32, false) },
    { ...T("a.weight_mask", [4, 8], 32, 16, true), structure: s24 },
    { ...T("b.weight", [4, 8], 32, 10, true), structure: null },
  ]);
  assert.deepEqual(rows.map((r) => r.structure), [s24, null]);
});

test("sizes for people, exact on hover", () => {
  assert.equal(sizeText(0), "0 B");
  assert.equal(sizeText(999), "999 B");
  assert.equal(sizeText(1024), "1.0 KiB");
  assert.equal(sizeText(1536), "1.5 KiB");
  assert.equal(sizeText(5 * 1024 ** 2 + 1), "5.0 MiB");
  assert.equal(sizeText(3.25 * 1024 ** 3), "3.3 GiB");
  assert.equal(sizeText(2 * 1024 ** 5), "2048.0 TiB");
  assert.equal(sizeText(null), "–");
  assert.equal(sizeText(-1), "–");
  assert.equal(exactBytes(1234567), "1,234,567 bytes");
  assert.equal(exactBytes(1), "1 byte");
});

test("the download menu: the whole file sized from the ticket, the generated ones by HEAD, plain API links", () => {
  const items = downloadItems({ id: "a b", name: "r20", size_bytes: 4096 });
  assert.deepEqual(items.map((d) => d.key), ["file", "masks", "weights", "packed", "header"]);
  assert.deepEqual(items.map((d) => d.href), ["/api/v1/tickets/a%20b/file", "/api/v1/tickets/a%20b/file?part=masks",
    "/api/v1/tickets/a%20b/file?part=weights", "/api/v1/tickets/a%20b/packed", "/api/v1/tickets/a%20b/header"]);
  assert.deepEqual(items.map((d) => d.filename), ["r20.safetensors", "r20.masks.safetensors", "r20.weights.safetensors", "r20.packed.safetensors", "r20.header.json"]);
  assert.deepEqual(items.map((d) => d.head), [false, true, true, true, true]);
  assert.equal(items[0].size, 4096);
  assert.ok(items.slice(1).every((d) => d.size === null));
});

test("similar: the Jaccard estimate as a percentage", () => {
  assert.equal(jaccardText(0.8731), "87%");
  assert.equal(jaccardText(1), "100%");
  assert.equal(jaccardText(0), "0%");
  assert.equal(jaccardText(0.0712), "7.1%");
  assert.equal(jaccardText(0.0996), "10%");
  assert.equal(jaccardText(undefined), "–");
  assert.equal(compareUrl("id-1", "alice/x y"), "/compare?a=id-1&b=alice%2Fx+y");
  assert.equal(shortFingerprint("0123456789abcdef0123"), "0123456789ab…");
  assert.equal(shortFingerprint("abc"), "abc");
});

test("IoU bars: the fill and the chance marker on a 0..1 scale, and the IoU against chance", () => {
  assert.deepEqual(iouBar({ iou: 0.5, expected_iou: 0.25 }), { fill: 50, marker: 25, lift: 2 });
  assert.deepEqual(iouBar({ iou: null, expected_iou: null }), { fill: 0, marker: null, lift: null });
  assert.deepEqual(iouBar({ iou: 0.2, expected_iou: 0 }), { fill: 20, marker: 0, lift: null });
  assert.deepEqual(iouBar({ iou: 1.0000001, expected_iou: -0.1 }), { fill: 100, marker: 0, lift: null }); // clamped
  assert.equal(iouBar({ iou: 1, expected_iou: 0.25 }).lift, 4);
  assert.equal(liftText(4), "4.0× chance");
  assert.equal(liftText(12.6), "13× chance");
  assert.equal(liftText(1.05), "at chance");
  assert.equal(liftText(0.5), "0.5× chance");
  assert.equal(liftText(null), "–");
});

test("active filters as chips: the fingerprint shortened, a structure with the stricter ones it finds", () => {
  const fp = "ab".repeat(32);
  const chips = filterChips(new URLSearchParams({ fingerprint: fp, structure: "2:4", q: "x", verdict: "below_dense", min_sparsity: "0.5" }),
    ["fingerprint", "structure", "verdict", "q"]);
  assert.deepEqual(chips.map((c) => c.key), ["fingerprint", "structure", "q", "verdict"]);
  assert.equal(chips[0].label, "architecture ababababab…".replace("ababababab…", `${fp.slice(0, 12)}…`));
  assert.match(chips[0].title, new RegExp(fp));
  assert.equal(chips[1].label, "structure: 2:4");
  assert.equal(chips[1].title, "2:4, or stricter (1:4)");
  assert.equal(chips[3].label, "verdict: below dense");
  assert.equal(filterChips(new URLSearchParams("structure=1:4"), ["structure"])[0].title, "structure 1:4");
  assert.equal(filterChips(new URLSearchParams("structure=unstructured"), ["structure"])[0].title, "structure unstructured");
  assert.deepEqual(filterChips(new URLSearchParams("tag=a&tag=b&tag="), ["tag"]).map((c) => c.value), ["a", "b"]);
});
