#!/usr/bin/env python3
"""The web page's story test, in headless Debian Chromium driven by Playwright's library (no
browser download: executable_path=/usr/bin/chromium).

Usage: story.py URL TOKEN OUTDIR [OTHER_TOKEN]

Seeds the registry with real uploads (files written by safetensors + numpy), then: home ->
task (one unit: % of weights remaining) -> filter by sparsity (a percentage is refused in the
page, a server 400 lands by its field) -> ticket (measured sparsity, the layerwise profile by
parameter with "not pruned" apart, lineage with what others built on it) -> download (sha256) ->
upload through the form -> frontier (one point per ticket, the right frontier, legend, dense
baseline, readable at phone width) -> evidence (docs/evidence.md): results posted through the REST
API give one ticket the verdict `wins`, one `no_better_than_controls`, one `below_dense`; the
ticket page shows the badge, the rule and the numbers (checked against an independent
computation); search by the verdict facet and by reproductions; a result reported through the
ticket page's form (client-side checks, the server's errors by their field, then the panel
updates from the answer); the frontier coloured by verdict; the transfer grid after `transfer`
results; the mask (docs/masks.md): a 2:4 ticket, a near duplicate and a random one of the same
network give the structure badge and each layer's pattern, the structure facet, tickets of the
same architecture (fingerprint), the similar list (near duplicate first), the compare view (IoU,
chance and sign agreement against numpy; the 422 for another architecture) and the download
menu (sizes against HEAD). OTHER_TOKEN is a token of another user (bob), who builds on
one of alice's tickets; without it, the lineage answer is given such a child in the browser.
Saves a screenshot of every page to OUTDIR, and one on failure. Prints 'browser: N passed, M failed'.
"""
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import traceback

import numpy as np
import requests
from playwright.sync_api import expect, sync_playwright
from safetensors.numpy import save_file

URL, TOKEN, OUT = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
OTHER_TOKEN = sys.argv[4] if len(sys.argv) > 4 else os.environ.get("STORY_OTHER_TOKEN")
os.makedirs(OUT, exist_ok=True)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TMP = tempfile.mkdtemp()
passed = failed = 0


def ticket_file(path, keep_fraction, seed):
    """A torch-prune style file whose mask keeps exactly keep_fraction of 1000 weights."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((40, 25)).astype(np.float32)
    mask = np.zeros(1000, np.float32)
    mask[: round(1000 * keep_fraction)] = 1
    rng.shuffle(mask)
    save_file({"fc.weight_orig": w, "fc.weight_mask": mask.reshape(40, 25), "fc.bias": np.zeros(40, np.float32),
               "norm.weight": np.ones(40, np.float32)}, path)
    return path


def upload(meta, keep_fraction, seed, token=TOKEN):
    path = ticket_file(os.path.join(TMP, f"{meta['name']}.safetensors"), keep_fraction, seed)
    with open(path, "rb") as f:
        r = requests.post(f"{URL}/api/v1/tickets", headers={"Authorization": f"Bearer {token}"}, timeout=30,
                          files={"metadata": (None, json.dumps(meta)), "file": ("t.safetensors", f)})
    r.raise_for_status()
    return r.json()


def seed():
    base = {"task": "image-classification", "dataset": "cifar10", "architecture": "resnet20", "pruning_method": "imp-rewind"}
    tickets, parent = [], None
    # An IMP run: 20% of the remaining weights per round.
    for level, acc in enumerate([0.912, 0.918, 0.921, 0.915, 0.903, 0.884]):
        meta = dict(base, name=f"r20-imp-l{level}", accuracy=acc, dense_accuracy=0.912, tags=["lth", "rewinding"],
                    description=f"IMP round **{level}** with rewinding to iteration 500.")
        if parent:
            meta["parent_id"] = parent
        t = upload(meta, 0.8 ** level, level)
        tickets.append(t)
        parent = t["id"]
    tickets.append(upload(dict(base, name="r20-random", pruning_method="random", accuracy=0.85), 0.5, 99))
    upload(dict(base, name="lenet-a", task="image-classification", dataset="mnist", architecture="lenet-300-100",
                pruning_method="imp", accuracy=0.981), 0.1, 7)
    upload(dict(base, name="bert-a", task="text-classification", dataset="sst2", architecture="bert-base",
                pruning_method="imp", accuracy=0.91), 0.4, 8)
    return tickets


def post_result(ticket_id, body, token=TOKEN, status=201):
    r = requests.post(f"{URL}/api/v1/tickets/{ticket_id}/results", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == status, (r.status_code, r.text)
    return r.json()


def stats(xs):
    """Independent of the server: {n, mean, std (sample), min, max}."""
    n = len(xs)
    mean = sum(xs) / n
    std = (sum((x - mean) ** 2 for x in xs) / (n - 1)) ** 0.5 if n > 1 else None
    return {"n": n, "mean": mean, "std": std, "min": min(xs), "max": max(xs)}


def same_stats(got, want):
    assert got is not None and got["n"] == want["n"], (got, want)
    for k in ("mean", "min", "max"):
        assert abs(got[k] - want[k]) < 1e-9, (k, got, want)
    assert (got["std"] is None) == (want["std"] is None), (got, want)
    if want["std"] is not None:
        assert abs(got["std"] - want["std"]) < 1e-9, (got, want)


def p2(x):
    """A fraction as the page shows it: 0.887 -> '88.70%'."""
    return f"{x * 100:.2f}%"


def pareto(items):
    """Independent of the server: tickets no other beats in both sparsity and accuracy."""
    def dominated(a):
        return any(b["sparsity"] >= a["sparsity"] and b["accuracy"] >= a["accuracy"]
                   and (b["sparsity"] > a["sparsity"] or b["accuracy"] > a["accuracy"]) for b in items)
    return {t["id"] for t in items if not dominated(t)}


def two_of_four(shape, rng):
    """A keep mask with exactly 2 of every 4 consecutive entries along the last axis."""
    ranks = rng.random(shape[:-1] + (shape[-1] // 4, 4)).argsort(-1).argsort(-1)
    return (ranks >= 2).reshape(shape)


def redraw_groups(keep, share, rng):
    """The same 2:4 mask with about `share` of its groups of 4 (along the last axis) drawn anew."""
    groups = keep.reshape(-1, 4).copy()
    for g in np.flatnonzero(rng.random(len(groups)) < share):
        groups[g] = False
        groups[g, rng.choice(4, 2, replace=False)] = True
    return groups.reshape(keep.shape)


def nm_tickets():
    """Three tickets of one small network (conv.weight [8,16,3,3], fc.weight [16,32]): a 2:4 one
    (fc along rows, conv along input channels, NVIDIA ASP's order) in the torch-prune layout, a
    near duplicate of it (a few groups redrawn, the weights nudged), and a random one in the zeros
    layout (no masks). Returns {name: (files' tensors, {layer: (keep, stored weights)})}."""
    rng = np.random.default_rng(1616)
    conv, fc = rng.standard_normal((8, 16, 3, 3)).astype(np.float32), rng.standard_normal((16, 32)).astype(np.float32)
    # Input channels last ([out, kh, kw, in]) for the conv's groups, then back.
    conv_keep = two_of_four((8, 3, 3, 16), rng).transpose(0, 3, 1, 2)
    fc_keep = two_of_four((16, 32), rng)
    near_conv = redraw_groups(conv_keep.transpose(0, 2, 3, 1), 0.08, rng).transpose(0, 3, 1, 2)
    near_fc = redraw_groups(fc_keep, 0.08, rng)
    nudge = lambda w: (w + 0.02 * rng.standard_normal(w.shape)).astype(np.float32)
    near_w = {"conv.weight": nudge(conv), "fc.weight": nudge(fc)}
    bias = {"conv.bias": np.zeros(8, np.float32), "fc.bias": np.zeros(16, np.float32)}

    def masked(layers):
        files = dict(bias)
        for name, (keep, w) in layers.items():
            # Contiguous: safetensors writes an array's buffer as it lies, whatever its strides.
            files[f"{name}_orig"] = np.ascontiguousarray(w)
            files[f"{name}_mask"] = np.ascontiguousarray(keep, dtype=np.float32)
        return files, layers
    out = {
        "nm-2to4": masked({"conv.weight": (conv_keep, conv), "fc.weight": (fc_keep, fc)}),
        "nm-2to4-near": masked({"conv.weight": (near_conv, near_w["conv.weight"]), "fc.weight": (near_fc, near_w["fc.weight"])}),
    }
    rand = {}
    for name, shape in (("conv.weight", (8, 16, 3, 3)), ("fc.weight", (16, 32))):
        keep = rng.random(shape) < 0.5
        w = rng.standard_normal(shape).astype(np.float32)
        w[~keep] = 0.0
        rand[name] = (keep, w)
    out["nm-random"] = (dict(bias, **{k: w for k, (_, w) in rand.items()}), rand)
    return out


def compare_numpy(a, b):
    """Independent of the server: per layer and overall, the counts, IoU, chance and sign agreement."""
    rows, tot = {}, dict(entries=0, kept_a=0, kept_b=0, intersection=0, same=0, expected=0.0)
    for name in sorted(a):
        (ka, wa), (kb, wb) = a[name], b[name]
        both = ka & kb
        r = dict(entries=ka.size, kept_a=int(ka.sum()), kept_b=int(kb.sum()), intersection=int(both.sum()),
                 same=int((np.signbit(wa) == np.signbit(wb))[both].sum()))
        r["expected"] = r["kept_a"] * r["kept_b"] / r["entries"]
        for k in tot:
            tot[k] += r[k]
        rows[name] = r
    rows["overall"] = tot
    for r in rows.values():
        union = r["kept_a"] + r["kept_b"] - r["intersection"]
        r["union"], r["iou"] = union, r["intersection"] / union
        r["expected_iou"] = r["expected"] / (r["kept_a"] + r["kept_b"] - r["expected"])
        r["sign"] = r["same"] / r["intersection"]
    return rows


def until(predicate, seconds=10):
    """Polls (the page's CSP forbids the eval that wait_for_function needs)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def step(page, name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        page.screenshot(path=os.path.join(OUT, f"{passed + failed:02d}-{name}.png"), full_page=True)
    except Exception:
        failed += 1
        traceback.print_exc()
        page.screenshot(path=os.path.join(OUT, f"FAILED-{name}.png"), full_page=True)
        print(f"FAIL {name}")


def main():
    run = seed()
    ids = {t["name"]: t["id"] for t in run}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        context = browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15000)
        console_errors = []
        page.on("pageerror", lambda e: console_errors.append(str(e)))
        searches = []
        page.on("request", lambda r: searches.append(r.url) if "/api/v1/tickets?" in r.url else None)

        def home():
            page.goto(URL + "/")
            expect(page.get_by_role("link", name="image-classification", exact=True)).to_be_visible()
            expect(page.locator(".results li")).to_have_count(8)
        step(page, "home", home)

        def task():
            page.get_by_role("link", name="image-classification", exact=True).click()
            page.wait_for_url("**/tasks/image-classification")
            expect(page.locator("#results li")).to_have_count(8)
            expect(page.locator("h1")).to_contain_text("image-classification")
            # One unit on every card: "x% of weights remaining" (the exact sparsity on hover), no "sparse".
            units = page.locator("#results [data-role=remaining]").all_inner_texts()
            assert len(units) == 8 and all(re.fullmatch(r"\d+(\.\d+)?% of weights remaining", u) for u in units), units
            cards = page.inner_text("#results")
            assert "sparse" not in cards and "sparsity 0." not in cards, cards
            # Accuracy to 2 decimals in percent, the full value on hover.
            expect(page.locator("#results strong span[title='0.981']")).to_have_text("98.10%")
        step(page, "task", task)

        def range_refused():
            # A percentage typed into a fraction field is refused in the page, in the server's words: no request.
            before = len(searches)
            page.fill("#min_sparsity", "90")
            page.get_by_role("button", name="Apply").click()
            expect(page.locator("#err-min_sparsity")).to_have_text("must be a fraction in [0, 1]; did you mean 0.9?")
            expect(page.locator("#min_sparsity")).to_have_attribute("aria-invalid", "true")
            assert page.url.endswith("/tasks/image-classification"), page.url
            page.fill("#max_accuracy", "-1")
            page.get_by_role("button", name="Apply").click()
            expect(page.locator("#err-max_accuracy")).to_have_text("must be a fraction in [0, 1]")
            page.wait_for_timeout(300)
            assert len(searches) == before, searches[before:]
            page.screenshot(path=os.path.join(OUT, "search-range-refused.png"), full_page=True)
            page.fill("#min_sparsity", "")
            page.fill("#max_accuracy", "")
            # A search the server refuses (a shared URL, say) shows its message by the field it names.
            page.goto(URL + "/search?min_sparsity=abc")
            # By the field it names (the message itself does not repeat the name).
            expect(page.locator("#err-min_sparsity")).to_contain_text("must be a number")
            expect(page.locator("#count")).to_contain_text("refused")
            # Once the API refuses percentages too, its hint lands by the field the same way.
            if requests.get(f"{URL}/api/v1/tickets", params={"max_accuracy": "93"}).status_code == 400:
                page.goto(URL + "/search?max_accuracy=93")
                expect(page.locator("#err-max_accuracy")).to_contain_text("did you mean 0.93?")
            page.goto(URL + "/tasks/image-classification")
            expect(page.locator("#results li")).to_have_count(8)
        step(page, "range", range_refused)

        def filter_by_sparsity():
            page.fill("#min_sparsity", "0.5")
            page.get_by_role("button", name="Apply").click()
            page.wait_for_url("**min_sparsity=0.5**")
            # Levels 4 and 5 (59% and 67% sparse) and the random 50% ticket, and lenet (90%).
            names = page.locator("#results .title a").all_inner_texts()
            assert sorted(names) == sorted(["alice/lenet-a", "alice/r20-imp-l4", "alice/r20-imp-l5", "alice/r20-random"]), names
            page.go_back()
            page.wait_for_url("**/tasks/image-classification")
            expect(page.locator("#results li")).to_have_count(8)
            page.go_forward()
            expect(page.locator("#results li")).to_have_count(4)
        step(page, "filter", filter_by_sparsity)

        def open_ticket():
            # Another user builds on alice's level 4 (another dataset, so alice's counts stay as they are).
            child = {"name": "r20-l4-on-cifar100", "task": "image-classification", "dataset": "cifar100",
                     "architecture": "resnet20", "pruning_method": "imp-rewind", "accuracy": 0.70, "parent_id": ids["r20-imp-l4"]}
            if OTHER_TOKEN:
                upload(child, 0.3, 11, token=OTHER_TOKEN)
            else:
                print("story: no OTHER_TOKEN; the lineage answer gets bob's child in the browser")

                def add_child(route):
                    body = route.fetch().json()
                    if route.request.url.split("/")[-2] == ids["r20-imp-l4"]:
                        body["children"].append(dict(child, id="00000000-0000-0000-0000-00000000b0b0", owner="bob", sparsity=0.7, tags=[],
                                                     metric="top1_accuracy", same_owner=False))
                    route.fulfill(json=body)
                page.route("**/api/v1/tickets/*/lineage", add_child)
            page.get_by_role("link", name="alice/r20-imp-l4").click()
            page.wait_for_url(f"**/tickets/{ids['r20-imp-l4']}")
            expected = requests.get(f"{URL}/api/v1/tickets/{ids['r20-imp-l4']}").json()
            assert abs(expected["sparsity"] - (1 - 0.8 ** 4)) < 1e-3, expected["sparsity"]
            # The headline in the one unit; the API's exact sparsity in the details.
            expect(page.locator("#remaining")).to_have_text("41.0% of weights remaining")
            assert float(page.inner_text("#sparsity")) == expected["sparsity"], page.inner_text("#sparsity")
            expect(page.locator("#accuracy")).to_have_text("90.30%")
            expect(page.locator("#accuracy span")).to_have_attribute("title", "0.903")
            expect(page.locator("section[aria-label=Description] strong")).to_have_text("4")
            # Lineage in the same unit, never "sparse".
            expect(page.locator(".lineage a")).to_have_count(4)
            lineage = page.inner_text(".lineage")
            assert lineage.count("% of weights remaining") == 4 and "sparse" not in lineage, lineage
            assert "100.0% of weights remaining, 91.20%" in lineage, lineage
            # Alice's next round, and apart from it, what bob built on it.
            expect(page.locator("#next-rounds a")).to_have_text(["r20-imp-l5"])
            expect(page.locator("#built-on")).to_contain_text("Built on this by others")
            expect(page.locator("#built-on a")).to_have_text(["bob/r20-l4-on-cifar100"])
            # The profile: one row per parameter (fc.weight_orig + fc.weight_mask is "fc.weight"),
            # kept / total from the mask; the bias and the norm apart as "not pruned", with no bar.
            expect(page.locator("table.profile tbody th")).to_have_text(["fc.weight"])
            kept = expected["params_kept"]
            expect(page.locator("table.profile tbody td.num")).to_have_text([f"{kept:,} / 1,000"])
            expect(page.locator("table.profile tbody .bar")).to_contain_text(f"{kept / 10:.1f}%")
            expect(page.locator("table.profile .meter")).to_have_count(1)
            expect(page.locator("#not-pruned-title")).to_have_text("Not pruned")
            expect(page.locator("ul.not-pruned li code")).to_have_text(["fc.bias", "norm.weight"])
            expect(page.locator("ul.not-pruned .meter, ul.not-pruned svg")).to_have_count(0)
            assert "weight_orig" not in page.inner_text("table.profile")
            assert "%" not in page.inner_text("ul.not-pruned"), page.inner_text("ul.not-pruned")
            page.screenshot(path=os.path.join(OUT, "ticket-desktop.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=os.path.join(OUT, "ticket-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})
            page.unroute("**/api/v1/tickets/*/lineage")
        step(page, "ticket", open_ticket)

        def download():
            with page.expect_download() as info:
                page.click("#download")
            data = open(info.value.path(), "rb").read()
            assert hashlib.sha256(data).hexdigest() == page.inner_text("#sha256")
            assert info.value.suggested_filename == "r20-imp-l4.safetensors"
        step(page, "download", download)

        def upload_form():
            page.goto(URL + "/upload")
            # No sign-in configured: no sign-in link anywhere; the token box says how to get a token.
            expect(page.locator("label[for=u-token] .hint")).to_contain_text("ticketbooth token create --name <you>")
            expect(page.locator("#auth a.sign-in")).to_have_count(0)
            expect(page.locator("#whoami")).to_have_count(0)
            page.fill("#u-token", TOKEN)
            path = ticket_file(os.path.join(TMP, "form.safetensors"), 0.25, 42)
            page.set_input_files("#u-file", path)
            for k, v in {"name": "From-The-Form", "task": "image-classification", "dataset": "cifar10",
                         "architecture": "resnet20", "pruning_method": "snip", "accuracy": "93.1"}.items():
                page.fill(f"#u-{k}", v)
            page.click("#submit")
            # The client mirrors the server's check and names the field.
            expect(page.locator("#err-accuracy")).to_contain_text("did you mean 0.931")
            page.screenshot(path=os.path.join(OUT, "upload-form.png"), full_page=True)
            page.fill("#u-accuracy", "0.931")
            page.fill("#u-parent_id", "no-such-ticket")
            page.click("#submit")
            # The server's error lands next to the field it names.
            expect(page.locator("#err-parent_id")).to_contain_text("does not exist")
            page.fill("#u-parent_id", "")
            page.click("#submit")
            page.wait_for_url("**/tickets/*")
            expect(page.locator("h1")).to_contain_text("alice/from-the-form")
            expect(page.locator("#remaining")).to_contain_text("25.0% of weights remaining")
        step(page, "upload", upload_form)

        def frontier():
            page.goto(URL + "/frontier?task=image-classification&dataset=cifar10&architecture=resnet20")
            points = requests.get(f"{URL}/api/v1/points", params={"task": "image-classification", "dataset": "cifar10", "architecture": "resnet20"}).json()["items"]
            expect(page.locator("svg#plot circle")).to_have_count(len(points))
            items = [{"id": r[0], "sparsity": r[2], "accuracy": r[3]} for r in points]
            want = pareto(items)
            shown = set(page.eval_on_selector_all("svg#plot circle.on-frontier", "els => els.map(e => e.dataset.id)"))
            assert shown == want, (shown, want)
            n = len(page.get_attribute("polyline.frontier", "points").split())
            assert n == len(want), (n, want)
            # The caption says the rule; the legend says what the marks are.
            expect(page.locator("#caption")).to_contain_text("left off the frontier when another is at least as sparse and at least as accurate, and better in one")
            legend = page.locator("#legend li")
            expect(legend).to_have_count(4)
            expect(legend.nth(0)).to_contain_text("Pareto frontier")
            expect(legend.nth(2)).to_contain_text("IMP chains")
            # Every ticket of this run reports a dense accuracy of 0.912: one dashed line there.
            expect(legend.nth(3)).to_contain_text("dense baseline 91.20%")
            expect(page.locator("#baseline-label")).to_have_text("dense baseline 91.20%")
            y_line = float(page.get_attribute("#baseline", "y1"))
            assert page.get_attribute("#baseline", "y1") == page.get_attribute("#baseline", "y2")
            dense = page.locator(f"svg#plot circle[data-id='{ids['r20-imp-l0']}']")  # accuracy 0.912, the baseline
            assert abs(float(dense.get_attribute("cy")) - y_line) < 0.01, (dense.get_attribute("cy"), y_line)
            expect(page.locator("svg#plot text.axis-title").first).to_have_text("% of weights remaining (log scale)")
            page.screenshot(path=os.path.join(OUT, "frontier-desktop.png"), full_page=True)
            # At phone width the plot is redrawn at its size, so its text is not shrunk.
            page.set_viewport_size({"width": 390, "height": 844})
            plot_width = "document.getElementById('plot').viewBox.baseVal.width"
            until(lambda: page.evaluate(plot_width) <= 370)
            scale = page.evaluate("(() => { const s = document.getElementById('plot'); return s.getBoundingClientRect().width / s.viewBox.baseVal.width; })()")
            assert scale > 0.99, scale
            size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('svg#plot text')).fontSize)")
            assert size >= 11, size
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            expect(page.locator("svg#plot circle")).to_have_count(len(points))
            page.screenshot(path=os.path.join(OUT, "frontier-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})
            until(lambda: page.evaluate(plot_width) > 700)
            page.locator(f"svg#plot circle[data-id='{ids['r20-imp-l2']}']").click()
            page.wait_for_url(f"**/tickets/{ids['r20-imp-l2']}")
        step(page, "frontier", frontier)

        def search_page():
            page.goto(URL + "/search?q=rewinding&sort=accuracy")
            expect(page.locator("#results li")).to_have_count(6)
            page.set_viewport_size({"width": 390, "height": 844})
            page.screenshot(path=os.path.join(OUT, "phone-search.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})
        step(page, "search", search_page)

        # ---- evidence (docs/evidence.md) ----
        other = OTHER_TOKEN or TOKEN
        by_others = 1 if OTHER_TOKEN else 0
        W, L, B = ids["r20-imp-l2"], ids["r20-imp-l3"], ids["r20-imp-l5"]  # to win, to tie the controls, below dense

        def evidence_api():
            # W: own 0.921 and a reproduction 0.919, against re-inits 0.885/0.889 and a random prune 0.872; dense 0.912.
            post_result(W, {"kind": "random_reinit", "accuracy": 0.885, "seed": 1})
            post_result(W, {"kind": "random_reinit", "accuracy": 0.889, "seed": 2}, token=other)
            post_result(W, {"kind": "random_prune", "accuracy": 0.872, "seed": 1, "scope": "layerwise", "notes": "layerwise random mask"})
            e = post_result(W, {"kind": "reproduction", "accuracy": 0.919, "seed": 5, "dataset": "cifar10"}, token=other)["evidence"]
            assert e["verdict"] == "wins", e
            same_stats(e["ticket"], stats([0.921, 0.919]))
            same_stats(e["random_reinit"], stats([0.885, 0.889]))
            same_stats(e["random_prune"], stats([0.872]))
            same_stats(e["dense"], stats([0.912]))
            assert abs(e["margin"] - (0.92 - 0.887)) < 1e-9, e
            assert e["reproductions"] == 1 and e["reproductions_by_others"] == by_others, e
            # L: own 0.915; a re-init at 0.912 is within one point.
            post_result(L, {"kind": "random_reinit", "accuracy": 0.912, "seed": 1})
            e = post_result(L, {"kind": "random_prune", "accuracy": 0.909, "seed": 1, "scope": "global"})["evidence"]
            assert e["verdict"] == "no_better_than_controls", e
            # B: own 0.884 against dense 0.912: more than half a point below.
            e = post_result(B, {"kind": "random_reinit", "accuracy": 0.80, "seed": 1})["evidence"]
            assert e["verdict"] == "below_dense", e
            # A second result of the same (user, kind, dataset, seed) is refused.
            post_result(L, {"kind": "random_reinit", "accuracy": 0.5, "seed": 1}, status=409)
        step(page, "evidence-api", evidence_api)

        def evidence_page():
            page.goto(URL + f"/tickets/{W}")
            expect(page.locator("#verdict")).to_have_text("wins")
            expect(page.locator("#verdict")).to_have_attribute("data-verdict", "wins")
            expect(page.locator("#verdict-why")).to_have_text(
                "The ticket's mean 92.00% beats the best control (random re-init, 88.70%) by 3.30 points, "
                "more than one point, and is at or above the dense baseline 91.20%.")
            row = lambda g: page.locator(f"#evidence-table tr[data-group={g}]")
            expect(row("ticket").locator("td.mean")).to_have_text("92.00%")
            expect(row("ticket").locator("td.n")).to_have_text("2")
            expect(row("ticket").locator("td.std")).to_have_text("± 0.14")  # sample std of 0.921, 0.919
            expect(row("ticket").locator("td.minmax")).to_have_text("91.90–92.10%")
            expect(row("random_reinit").locator("td.mean")).to_have_text("88.70%")
            expect(row("random_reinit").locator("td.std")).to_have_text("± 0.28")
            expect(row("random_reinit").locator("td.minmax")).to_have_text("88.50–88.90%")
            expect(row("random_prune").locator("td.mean")).to_have_text("87.20%")
            expect(row("random_prune").locator("td.n")).to_have_text("1")
            expect(row("dense").locator("td.mean")).to_have_text("91.20%")
            # The bars are in the order of the means.
            width = {g: row(g).locator(".fill").bounding_box()["width"] for g in ("ticket", "random_reinit", "random_prune", "dense")}
            assert width["ticket"] > width["dense"] > width["random_reinit"] > width["random_prune"] > 0, width
            # The four rules, the one applied marked.
            expect(page.locator("#rules li")).to_have_count(4)
            expect(page.locator("#rules li.applied")).to_have_attribute("data-verdict", "wins")
            expect(page.locator("#reproductions")).to_contain_text(f"1 reproduction, {by_others} by someone other than the owner")
            expect(page.locator("#margin")).to_have_text("+3.30")
            # The results, oldest first, with who reported them.
            rows = page.locator("#results-table tbody tr")
            expect(rows).to_have_count(4)
            expect(rows.locator("td.kind")).to_have_text(["random re-init", "random re-init", "random prune (layerwise)", "reproduction"])
            expect(rows.locator("td.acc")).to_have_text(["88.50%", "88.90%", "87.20%", "91.90%"])
            expect(rows.locator("td.seed")).to_have_text(["1", "2", "1", "5"])
            expect(rows.nth(2).locator("td.notes")).to_have_text("layerwise random mask")
            expect(rows.nth(3).locator("td.who")).to_contain_text("bob" if OTHER_TOKEN else "alice")
            page.screenshot(path=os.path.join(OUT, "evidence-wins.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.locator("#evidence").screenshot(path=os.path.join(OUT, "evidence-phone.png"))
            page.set_viewport_size({"width": 1200, "height": 900})
            page.goto(URL + f"/tickets/{L}")
            expect(page.locator("#verdict")).to_have_text("no better than controls")
            expect(page.locator("#verdict-why")).to_have_text(
                "The random re-init control reaches 91.20%, within one point of the ticket's mean 91.50% (0.30 points).")
            expect(page.locator("#rules li.applied")).to_have_attribute("data-verdict", "no_better_than_controls")
            page.goto(URL + f"/tickets/{B}")
            expect(page.locator("#verdict")).to_have_text("below dense")
            expect(page.locator("#verdict-why")).to_have_text(
                "The ticket's mean 88.40% is 2.80 points below the dense baseline 91.20%: more than half a point.")
            # A ticket nobody has tested yet.
            page.goto(URL + f"/tickets/{ids['r20-imp-l0']}")
            expect(page.locator("#verdict")).to_have_text("unverified")
            expect(page.locator("#evidence-table tr[data-group=random_reinit]")).to_contain_text("no results yet")
            expect(page.locator("#no-results")).to_be_visible()
        step(page, "evidence-page", evidence_page)

        def search_verdict():
            page.goto(URL + "/tasks/image-classification")
            facet = requests.get(f"{URL}/api/v1/facets", params={"task": "image-classification"}).json()["verdict"]
            counts = {f["value"]: f["count"] for f in facet}
            assert counts.get("wins") == 1 and counts.get("no_better_than_controls") == 1 and counts.get("below_dense") == 1, counts
            for value, label in [("wins", "wins"), ("no_better_than_controls", "no better than controls"), ("below_dense", "below dense")]:
                expect(page.locator("#verdict-facet li").filter(has=page.locator(f"a[data-verdict={value}]"))).to_have_text(f"{label} ({counts[value]})")
            page.locator("#verdict-facet a[data-verdict=wins]").click()
            page.wait_for_url("**verdict=wins**")
            expect(page.locator("#results .title a")).to_have_text(["alice/r20-imp-l2"])
            expect(page.locator("#results .verdict")).to_have_text(["wins"])
            expect(page.locator("#verdict-facet a.on")).to_have_attribute("data-verdict", "wins")
            page.screenshot(path=os.path.join(OUT, "search-verdict.png"), full_page=True)
            page.goto(URL + "/search?verdict=no_better_than_controls")
            expect(page.locator("#results .title a")).to_have_text(["alice/r20-imp-l3"])
            expect(page.locator("#results .verdict")).to_have_text(["no better than controls"])
            # Every row of a search carries its badge.
            page.goto(URL + "/search?task=image-classification&dataset=cifar10&architecture=resnet20")
            api_items = requests.get(f"{URL}/api/v1/tickets", params={"task": "image-classification", "dataset": "cifar10", "architecture": "resnet20", "limit": 20}).json()["items"]
            expect(page.locator("#results .verdict")).to_have_text([t["evidence"]["verdict"].replace("_", " ") for t in api_items])
            # Reproductions: a whole number, checked in the page; then as the API answers.
            page.goto(URL + "/search")
            page.fill("#min_reproductions", "1.5")
            page.get_by_role("button", name="Apply").click()
            expect(page.locator("#err-min_reproductions")).to_have_text("must be a whole number")
            page.fill("#min_reproductions", "1")
            page.check("#reproduced_by_others")
            page.get_by_role("button", name="Apply").click()
            page.wait_for_url("**reproduced_by_others=true**")
            want = requests.get(f"{URL}/api/v1/tickets", params={"min_reproductions": 1, "reproduced_by_others": "true"}).json()["items"]
            assert [t["name"] for t in want] == (["r20-imp-l2"] if OTHER_TOKEN else []), want
            if want:
                expect(page.locator("#results .title a")).to_have_text([f"{t['owner']}/{t['name']}" for t in want])
                expect(page.locator("#results li").first).to_contain_text(f"1 reproduction ({by_others} by others)")
            else:
                expect(page.locator("#count")).to_have_text("No tickets match.")
            expect(page.locator("#reproduced_by_others")).to_be_checked()
        step(page, "search-verdict", search_verdict)

        def report_form():
            posts = []
            listener = lambda r: posts.append(r.url) if r.method == "POST" and r.url.endswith("/results") else None
            page.on("request", listener)
            page.goto(URL + f"/tickets/{L}")
            expect(page.locator("#verdict")).to_have_text("no better than controls")
            # The token the upload page kept is there already.
            expect(page.locator("#r-token")).to_have_value(TOKEN)
            # A scope only for a random prune.
            page.select_option("#r-kind", "reproduction")
            expect(page.locator("#r-scope")).to_be_disabled()
            page.select_option("#r-kind", "random_prune")
            expect(page.locator("#r-scope")).to_be_enabled()
            # Checked in the page, in the server's words, before any request.
            page.select_option("#r-kind", "reproduction")
            page.fill("#r-accuracy", "93.5")
            page.fill("#r-dataset", "mnist")
            page.click("#report-submit")
            expect(page.locator("#err-r-accuracy")).to_have_text("must be a fraction in [0, 1]; did you mean 0.935?")
            expect(page.locator("#err-r-dataset")).to_contain_text("a run on another dataset is a transfer")
            expect(page.locator("#r-accuracy")).to_have_attribute("aria-invalid", "true")
            page.screenshot(path=os.path.join(OUT, "report-refused.png"), full_page=False)
            page.wait_for_timeout(200)
            assert posts == [], posts
            # The server's refusals, from its JSON error body: a duplicate (409), a bad token (401).
            page.fill("#r-dataset", "")
            page.select_option("#r-kind", "random_reinit")
            page.fill("#r-accuracy", "0.5")
            page.fill("#r-seed", "1")
            with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/results")) as info:
                page.click("#report-submit")
            assert info.value.status == 409, info.value.status
            message = info.value.json()["error"]["message"]
            expect(page.locator("#result-form .error:not(:empty)")).to_contain_text(message)
            page.fill("#r-token", "not-a-token")
            page.select_option("#r-kind", "reproduction")
            page.fill("#r-accuracy", "0.935")
            page.fill("#r-seed", "7")
            with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/results")) as info:
                page.click("#report-submit")
            assert info.value.status == 401, info.value.status
            expect(page.locator("#err-r-token")).to_have_text(info.value.json()["error"]["message"])
            # Accepted: the panel re-renders from the answer. The ticket's mean is now 0.925, 1.3
            # points above the best control (0.912): it wins.
            page.fill("#r-token", TOKEN)
            page.fill("#r-notes", "reproduced from the web page")
            with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/results")) as info:
                page.click("#report-submit")
            assert info.value.status == 201, (info.value.status, info.value.text())
            expect(page.locator("#verdict")).to_have_text("wins")
            expect(page.locator("#evidence-table tr[data-group=ticket] td.mean")).to_have_text("92.50%")
            expect(page.locator("#evidence-table tr[data-group=ticket] td.n")).to_have_text("2")
            expect(page.locator("#margin")).to_have_text("+1.30")
            expect(page.locator("#report-status")).to_contain_text("Verdict now: wins")
            expect(page.locator("#results-table tbody tr")).to_have_count(3)
            expect(page.locator("#results-table tbody tr").last.locator("td.notes")).to_have_text("reproduced from the web page")
            expect(page.locator("#result-form .error:not(:empty)")).to_have_count(0)
            expect(page.locator("#r-accuracy")).to_have_value("")
            page.screenshot(path=os.path.join(OUT, "report-accepted.png"), full_page=True)
            assert len(posts) == 3, posts
            # Stored: a reload shows the same.
            page.reload()
            expect(page.locator("#verdict")).to_have_text("wins")
            page.remove_listener("request", listener)
        step(page, "report-form", report_form)

        def frontier_verdicts():
            q = {"task": "image-classification", "dataset": "cifar10", "architecture": "resnet20"}
            page.goto(URL + "/frontier?task=image-classification&dataset=cifar10&architecture=resnet20")
            items = requests.get(f"{URL}/api/v1/tickets", params=dict(q, limit=100)).json()["items"]
            want = {t["id"]: t["evidence"]["verdict"] for t in items}
            expect(page.locator("svg#plot circle")).to_have_count(len(want))
            shown = dict(page.eval_on_selector_all("svg#plot circle", "els => els.map(e => [e.dataset.id, e.dataset.verdict])"))
            assert shown == want, (shown, want)
            assert list(want.values()).count("wins") == 2 and list(want.values()).count("below_dense") == 1, want
            fill = lambda i: page.locator(f"svg#plot circle[data-id='{i}']").evaluate("e => getComputedStyle(e).fill")
            assert fill(W) == "rgb(0, 158, 115)", fill(W)
            assert fill(B) == "rgb(204, 121, 167)", fill(B)
            assert fill(ids["r20-imp-l0"]) == "rgb(141, 141, 141)", fill(ids["r20-imp-l0"])
            legend = page.locator("#verdict-legend li")
            expect(legend).to_have_text(["wins (2)", "below dense (1)", f"unverified ({len(want) - 3})"])
            expect(page.locator("#caption")).not_to_contain_text("unknown")
            page.screenshot(path=os.path.join(OUT, "frontier-verdicts.png"), full_page=True)
        step(page, "frontier-verdicts", frontier_verdicts)

        def transfer():
            post_result(W, {"kind": "transfer", "dataset": "cifar100", "accuracy": 0.62, "seed": 1})
            post_result(ids["r20-imp-l4"], {"kind": "transfer", "dataset": "cifar100", "accuracy": 0.60, "seed": 1}, token=other)
            post_result(W, {"kind": "transfer", "dataset": "svhn", "accuracy": 0.9})
            # A transfer to the ticket's own dataset is a reproduction: refused.
            post_result(W, {"kind": "transfer", "dataset": "cifar10", "accuracy": 0.9}, status=422)
            matrix = requests.get(f"{URL}/api/v1/transfer", params={"task": "image-classification", "architecture": "resnet20"}).json()
            cells = {(c["source"], c["target"]): c for c in matrix["cells"]}
            assert set(cells) == {("cifar10", "cifar100"), ("cifar10", "svhn")}, cells
            assert cells[("cifar10", "cifar100")]["n"] == 2 and abs(cells[("cifar10", "cifar100")]["mean"] - 0.61) < 1e-9, cells
            page.goto(URL + f"/tickets/{W}")
            page.click("#transfer-link")
            page.wait_for_url("**/transfer?task=image-classification&architecture=resnet20")
            grid = page.locator("#transfer-grid")
            expect(grid.locator("thead th")).to_have_text(["found on ↓ · trained on →", "cifar100", "svhn"])
            expect(grid.locator("tbody th")).to_have_text(["cifar10"])
            cell = grid.locator("td[data-source=cifar10][data-target=cifar100]")
            expect(cell.locator(".mean")).to_have_text("61.00%")
            expect(cell.locator(".n")).to_have_text("n = 2 · 2 tickets")
            expect(grid.locator("td[data-source=cifar10][data-target=svhn] .mean")).to_have_text("90.00%")
            expect(grid.locator("td[data-source=cifar10][data-target=svhn] .n")).to_have_text("n = 1 · 1 ticket")
            page.screenshot(path=os.path.join(OUT, "transfer-grid.png"), full_page=True)
            cell.locator("a").click()
            page.wait_for_url("**source=cifar10&target=cifar100")
            rows = page.locator("#cell-tickets tbody tr")
            expect(rows).to_have_count(2)
            names = sorted(rows.locator("th a").all_inner_texts())
            assert names == sorted(["alice/r20-imp-l2", "alice/r20-imp-l4"]), names
            expect(page.locator(f"#cell-tickets tr[data-id='{W}'] td.target")).to_have_text("62.00% (n = 1)")
            expect(page.locator(f"#cell-tickets tr[data-id='{W}'] .verdict")).to_have_text("wins")
            page.screenshot(path=os.path.join(OUT, "transfer-cell.png"), full_page=True)
            # The pickers: another task has no transfer results.
            page.select_option("#t-task", "text-classification")
            page.wait_for_url("**/transfer?task=text-classification&architecture=bert-base")
            expect(page.locator("#no-transfer")).to_be_visible()
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(URL + "/transfer?task=image-classification&architecture=resnet20")
            expect(page.locator("#transfer-grid td.filled")).to_have_count(2)
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=os.path.join(OUT, "transfer-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})
        step(page, "transfer", transfer)

        def masks():
            # Issue 16: the mask as an object. Three tickets of one network: 2:4, a near duplicate, random.
            made = nm_tickets()
            base = {"task": "image-classification", "dataset": "mnist", "architecture": "tiny-cnn", "accuracy": 0.97}
            nm = {}
            for name, (tensors, _) in made.items():
                path = os.path.join(TMP, f"{name}.safetensors")
                save_file(tensors, path)
                meta = dict(base, name=name, pruning_method="random" if name == "nm-random" else "asp-2to4")
                with open(path, "rb") as f:
                    r = requests.post(f"{URL}/api/v1/tickets", headers=AUTH, timeout=30,
                                      files={"metadata": (None, json.dumps(meta)), "file": ("t.safetensors", f)})
                r.raise_for_status()
                nm[name] = r.json()
            A, N, R = nm["nm-2to4"]["id"], nm["nm-2to4-near"]["id"], nm["nm-random"]["id"]
            assert [nm[k]["structure"] for k in ("nm-2to4", "nm-2to4-near", "nm-random")] == ["2:4", "2:4", "unstructured"], nm
            fp = nm["nm-2to4"]["architecture_fingerprint"]
            assert fp and nm["nm-random"]["architecture_fingerprint"] == fp == nm["nm-2to4-near"]["architecture_fingerprint"]

            # The ticket page: the badge and its one line, each layer's pattern.
            page.goto(URL + f"/tickets/{A}")
            expect(page.locator("#structure")).to_have_text("2:4 sparse")
            expect(page.locator("#structure")).to_have_attribute("data-structure", "2:4")
            expect(page.locator("#structure-why")).to_contain_text("NVIDIA's sparse tensor cores")
            expect(page.locator("#structure-why")).to_contain_text("torch.sparse.to_sparse_semi_structured")
            expect(page.locator("table.profile tr[data-name='fc.weight'] td.pattern")).to_have_text("2:4")
            expect(page.locator("table.profile tr[data-name='conv.weight'] td.pattern")).to_have_text("2:4 (input channels)")
            assert "along input channels" in page.get_attribute("table.profile tr[data-name='conv.weight'] td.pattern", "title")
            expect(page.locator("table.profile tfoot td.pattern")).to_have_text("2:4")
            # Similar tickets: the near duplicate first, each with its Jaccard estimate as a percentage.
            similar = requests.get(f"{URL}/api/v1/tickets/{A}/similar").json()["items"]
            assert [x["id"] for x in similar] == [N, R], similar
            assert similar[0]["jaccard"] > 0.6 > similar[1]["jaccard"], similar
            items = page.locator("#similar-list li")
            expect(items).to_have_count(2)
            assert [items.nth(i).get_attribute("data-id") for i in range(2)] == [N, R]
            for i, x in enumerate(similar):
                expect(items.nth(i).locator(".jaccard")).to_have_text(f"{x['jaccard'] * 100:.0f}%")
                expect(items.nth(i).locator("a.name")).to_have_text(f"alice/{x['name']}")
            expect(page.locator("#fingerprint-count")).to_have_text(" (3)")
            # The download menu: each size is the HEAD's exact Content-Length.
            menu = page.locator("#download-menu li")
            expect(menu).to_have_count(5)
            until(lambda: page.locator("#download-menu .size[data-bytes]").count() == 5)
            for key in ("file", "masks", "weights", "packed", "header"):
                href = page.get_attribute(f"#download-menu li[data-key={key}] a", "href")
                head = requests.head(URL + href, timeout=30)
                assert head.status_code == 200, (key, head.status_code)
                got = page.get_attribute(f"#download-menu li[data-key={key}] .size", "data-bytes")
                assert got == head.headers["content-length"], (key, got, head.headers)
            assert int(page.get_attribute("#download-menu li[data-key=file] .size", "data-bytes")) == nm["nm-2to4"]["size_bytes"]
            with page.expect_download() as info:
                page.click("#download-menu li[data-key=packed] a")
            assert info.value.suggested_filename == "nm-2to4.packed.safetensors", info.value.suggested_filename
            packed = open(info.value.path(), "rb").read()
            assert str(len(packed)) == page.get_attribute("#download-menu li[data-key=packed] .size", "data-bytes")
            page.screenshot(path=os.path.join(OUT, "mask-ticket.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=os.path.join(OUT, "mask-ticket-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})

            # Tickets for this architecture: the search honours the fingerprint and shows it as a chip.
            page.click("#fingerprint-link")
            page.wait_for_url(f"**/search?fingerprint={fp}")
            want = requests.get(f"{URL}/api/v1/tickets", params={"fingerprint": fp}).json()["items"]
            assert len(want) == 3, want
            expect(page.locator("#results li")).to_have_count(3)
            expect(page.locator("#active-filters li[data-key=fingerprint]")).to_contain_text(fp[:12])
            # The structure facet (2:4 also finds the stricter 1:4).
            facet = {f["value"]: f["count"] for f in requests.get(f"{URL}/api/v1/facets", params={"fingerprint": fp}).json()["structure"]}
            assert facet == {"2:4": 2, "unstructured": 1}, facet
            expect(page.locator("#structure-facet li").filter(has=page.locator("a[data-structure='2:4']"))).to_have_text("2:4 (2)")
            expect(page.locator("#results .structure")).to_have_count(2)
            page.locator("#structure-facet a[data-structure='2:4']").click()
            page.wait_for_url("**structure=2%3A4**")
            expect(page.locator("#results .title a")).to_have_count(2)
            assert sorted(page.locator("#results .title a").all_inner_texts()) == ["alice/nm-2to4", "alice/nm-2to4-near"]
            expect(page.locator("#active-filters li")).to_have_count(2)
            page.screenshot(path=os.path.join(OUT, "mask-search.png"), full_page=True)
            # Dropping the fingerprint chip keeps the structure: every 2:4 ticket in the registry.
            page.locator("#active-filters li[data-key=fingerprint] a").click()
            page.wait_for_url("**/search?structure=2%3A4")
            expect(page.locator("#results li")).to_have_count(2)

            # The compare view from the similar list: per-layer bars against chance, checked against numpy.
            page.goto(URL + f"/tickets/{A}")
            page.locator(f"#similar-list li[data-id='{N}'] a.compare").click()
            page.wait_for_url(f"**/compare?a={A}&b={N}")

            def check_compare(want_rows):
                rows = page.locator("#compare-table tbody tr")
                expect(rows).to_have_count(2)
                assert [rows.nth(i).get_attribute("data-layer") for i in range(2)] == ["conv.weight", "fc.weight"]
                for name, sel in [("conv.weight", "#compare-table tbody tr[data-layer='conv.weight']"),
                                  ("fc.weight", "#compare-table tbody tr[data-layer='fc.weight']"),
                                  ("overall", "#compare-table tfoot tr")]:
                    w, row = want_rows[name], page.locator(sel)
                    for cls, k in (("kept-a", "kept_a"), ("kept-b", "kept_b"), ("both", "intersection"), ("entries", "entries")):
                        expect(row.locator(f"td.{cls}")).to_have_text(f"{w[k]:,}")
                    for cls, k in (("iou", "iou"), ("chance-iou", "expected_iou"), ("sign", "sign")):
                        got = float(row.locator(f".{cls}").get_attribute("data-value"))
                        assert abs(got - w[k]) < 1e-9, (name, k, got, w[k])
                        expect(row.locator(f".{cls}")).to_have_text(f"{w[k] * 100:.1f}%")
                    bar = row.locator(".ibar")
                    assert abs(float(bar.get_attribute("data-fill")) - w["iou"] * 100) < 0.01, (name, bar.get_attribute("data-fill"))
                    assert abs(float(bar.get_attribute("data-marker")) - w["expected_iou"] * 100) < 0.01, name
                    # Drawn where the numbers say: the fill's width and the marker's position.
                    box, fill, mark = bar.bounding_box(), bar.locator(".fill").bounding_box(), bar.locator(".chance").bounding_box()
                    assert abs(fill["width"] - box["width"] * w["iou"]) < 1.5, (name, fill, box)
                    assert abs(mark["x"] + mark["width"] / 2 - (box["x"] + box["width"] * w["expected_iou"])) < 2, (name, mark, box)
                o = want_rows["overall"]
                expect(page.locator("#overall-iou")).to_have_text(f"{o['iou'] * 100:.1f}%")
                expect(page.locator("#overall-sign")).to_have_text(f"{o['sign'] * 100:.1f}%")

            want_near = compare_numpy(made["nm-2to4"][1], made["nm-2to4-near"][1])
            assert want_near["overall"]["iou"] > 0.8 and want_near["overall"]["sign"] > 0.95, want_near["overall"]
            check_compare(want_near)
            expect(page.locator("#ticket-a")).to_have_text("alice/nm-2to4")
            expect(page.locator("#ticket-b")).to_have_text("alice/nm-2to4-near")
            page.screenshot(path=os.path.join(OUT, "compare.png"), full_page=True)
            page.set_viewport_size({"width": 390, "height": 844})
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=os.path.join(OUT, "compare-phone.png"), full_page=True)
            page.set_viewport_size({"width": 1200, "height": 900})
            # "Compare with…" on the ticket page, by owner/name: the random ticket, near chance.
            page.goto(URL + f"/tickets/{A}")
            page.click("#compare-form button")
            expect(page.locator("#err-compare-with")).not_to_be_empty()
            page.fill("#compare-with", "alice/nm-random")
            page.click("#compare-form button")
            page.wait_for_url(f"**/compare?a={A}&b=alice%2Fnm-random")
            want_rand = compare_numpy(made["nm-2to4"][1], made["nm-random"][1])
            check_compare(want_rand)
            expect(page.locator("#overall-lift")).to_contain_text("chance")
            # The random ticket has no masks: no masks-only download (its HEAD is a 400).
            assert requests.head(f"{URL}/api/v1/tickets/{R}/file?part=masks").status_code == 400
            page.goto(URL + f"/tickets/{R}")
            expect(page.locator("#structure")).to_have_text("unstructured")
            until(lambda: page.locator("#download-menu .size[data-bytes]").count() == 4)
            expect(page.locator("#download-menu li")).to_have_count(4)
            expect(page.locator("#download-menu li[data-key=masks]")).to_have_count(0)
            expect(page.locator("table.profile tr[data-name='fc.weight'] td.pattern")).to_have_text("none")
            # Tickets of different architectures: the 422, in words.
            other_arch = ids["r20-imp-l0"]
            refusal = requests.get(f"{URL}/api/v1/compare", params={"a": A, "b": other_arch})
            assert refusal.status_code == 422 and refusal.json()["error"]["code"] == "not_comparable", refusal.text
            page.goto(URL + f"/compare?a={A}&b={other_arch}")
            expect(page.locator("#not-comparable")).to_contain_text("cannot be compared: they prune different architectures")
            expect(page.locator("#refusal-message")).to_have_text(refusal.json()["error"]["message"])
            expect(page.locator("#not-comparable ul.pair li")).to_have_count(2)
            page.screenshot(path=os.path.join(OUT, "compare-refused.png"), full_page=True)
            # Dark: the compare view and the ticket's mask panel stay readable.
            dark_page = browser.new_context(color_scheme="dark", viewport={"width": 1200, "height": 900}).new_page()
            dark_page.goto(URL + f"/compare?a={A}&b={N}")
            expect(dark_page.locator("#compare-table tbody tr")).to_have_count(2)
            dark_page.screenshot(path=os.path.join(OUT, "compare-dark.png"), full_page=True)
            dark_page.goto(URL + f"/tickets/{A}")
            expect(dark_page.locator("#similar-list li")).to_have_count(2)
            until(lambda: dark_page.locator("#download-menu .size[data-bytes]").count() == 5)
            dark_page.screenshot(path=os.path.join(OUT, "mask-ticket-dark.png"), full_page=True)
            dark_page.context.close()
        step(page, "masks", masks)

        def dark():
            dark_page = browser.new_context(color_scheme="dark").new_page()
            dark_page.goto(URL + f"/tickets/{ids['r20-imp-l5']}")
            expect(dark_page.locator("#remaining")).to_be_visible()
            bg = dark_page.evaluate("getComputedStyle(document.body).backgroundColor")
            dark_page.screenshot(path=os.path.join(OUT, "dark-ticket.png"), full_page=True)
            assert bg == "rgb(18, 19, 22)", bg
        step(page, "dark", dark)

        def no_script_errors():
            assert not console_errors, console_errors
        step(page, "console", no_script_errors)
        browser.close()
    print(f"browser: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
