// The web page's pure logic (static/lib.js), with Node's own test runner: node --test tests/web/
import { test } from "node:test";
import assert from "node:assert/strict";
import { checkFraction, denseBaseline, keptPct, pct, profileRows, remaining, splitChildren } from "../../static/lib.js";

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
