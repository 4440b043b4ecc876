#!/usr/bin/env python3
"""/api/docs under its Content-Security-Policy, in headless Debian Chromium (Playwright's library,
no browser download): the policy is sent, Swagger UI renders every operation of the spec, and the
browser reports no policy violation. Usage: docs.py URL. Prints 'docs: N passed, M failed'."""
import sys
import tempfile

import requests
from playwright.sync_api import sync_playwright

URL = sys.argv[1].rstrip("/")
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


spec = requests.get(f"{URL}/api/openapi.json", timeout=10).json()
operations = sum(len(methods) for methods in spec["paths"].values())
csp = requests.get(f"{URL}/api/docs/", timeout=10).headers.get("content-security-policy", "")
check("the docs page sends a CSP", "script-src 'self'" in csp and "unsafe-eval" not in csp, csp)
check("no inline script is allowed", "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0], csp)

with sync_playwright() as p:
    # A fresh profile directory of its own.
    browser = p.chromium.launch_persistent_context(
        tempfile.mkdtemp(), executable_path="/usr/bin/chromium", headless=True,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"],
    )
    page = browser.new_page()
    violations = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    page.goto(f"{URL}/api/docs/")
    page.wait_for_selector(".opblock", timeout=20000)
    page.wait_for_timeout(500)
    shown = page.locator(".opblock").count()
    check("Swagger UI renders every operation", shown == operations, f"{shown} of {operations}")
    # Expanding an operation renders its parameters and responses (more of the UI's code).
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".responses-wrapper", timeout=10000)
    check("an operation expands", page.locator(".responses-wrapper").count() >= 1)
    check("no CSP violation", not violations, "; ".join(violations))
    browser.close()

print(f"docs: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
