#!/usr/bin/env python3
"""The web page's story test, in headless Debian Chromium driven by Playwright's library (no
browser download: executable_path=/usr/bin/chromium).

Usage: story.py URL TOKEN OUTDIR

Seeds the registry with real uploads (files written by safetensors + numpy), then: home ->
task -> filter by sparsity -> ticket (shown measured sparsity) -> download (sha256) -> upload
through the form -> frontier (one point per ticket, the right frontier). Saves a screenshot of
every page to OUTDIR, and one on failure. Prints 'browser: N passed, M failed'.
"""
import hashlib
import json
import os
import sys
import tempfile
import traceback

import numpy as np
import requests
from playwright.sync_api import expect, sync_playwright
from safetensors.numpy import save_file

URL, TOKEN, OUT = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]
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
    save_file({"fc.weight_orig": w, "fc.weight_mask": mask.reshape(40, 25), "fc.bias": np.zeros(40, np.float32)}, path)
    return path


def upload(meta, keep_fraction, seed):
    path = ticket_file(os.path.join(TMP, f"{meta['name']}.safetensors"), keep_fraction, seed)
    with open(path, "rb") as f:
        r = requests.post(f"{URL}/api/v1/tickets", headers=AUTH, timeout=30,
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


def pareto(items):
    """Independent of the server: tickets no other beats in both sparsity and accuracy."""
    def dominated(a):
        return any(b["sparsity"] >= a["sparsity"] and b["accuracy"] >= a["accuracy"]
                   and (b["sparsity"] > a["sparsity"] or b["accuracy"] > a["accuracy"]) for b in items)
    return {t["id"] for t in items if not dominated(t)}


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
        step(page, "task", task)

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
            page.get_by_role("link", name="alice/r20-imp-l4").click()
            page.wait_for_url(f"**/tickets/{ids['r20-imp-l4']}")
            expected = requests.get(f"{URL}/api/v1/tickets/{ids['r20-imp-l4']}").json()
            assert abs(expected["sparsity"] - (1 - 0.8 ** 4)) < 1e-3, expected["sparsity"]
            expect(page.locator("#sparsity")).to_have_text(f"{expected['sparsity']:.6f}")
            expect(page.locator("#remaining")).to_contain_text("41.0% of weights remaining")
            expect(page.locator("section[aria-label=Description] strong")).to_have_text("4")
            expect(page.locator(".lineage a")).to_have_count(4)
            expect(page.locator("svg.profile rect")).to_have_count(6)
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
            page.screenshot(path=os.path.join(OUT, "frontier-plot.png"), full_page=True)
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
