#!/usr/bin/env python3
"""Load-to-rendered time of the web page's main views in headless Debian Chromium.

    python3 bench/pages.py URL      (a server on a seeded registry, e.g. `ticketbooth seed`)
"""
import sys
import time

from playwright.sync_api import sync_playwright

URL = sys.argv[1].rstrip("/")
VIEWS = [
    ("/", ".cards li"),
    ("/tasks/image-classification", "#results li"),
    ("/search?q=resnet&sort=accuracy&min_sparsity=0.9", "#results li"),
    ("/frontier?task=image-classification&dataset=cifar10&architecture=resnet20", "svg#plot"),
    ("/frontier?task=image-classification", "svg#plot"),
]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
    page = browser.new_page()
    for path, selector in VIEWS:
        t0 = time.time()
        page.goto(URL + path)
        page.wait_for_selector(selector, timeout=60000)
        elapsed = (time.time() - t0) * 1000
        n = page.locator("svg#plot circle").count() if "frontier" in path else page.locator(selector).count()
        print(f"{path}: {elapsed:.0f} ms ({n} items)")
    browser.close()
