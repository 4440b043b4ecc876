#!/usr/bin/env python3
"""Accounts on the web page (issue 17), in headless Debian Chromium driven by Playwright's
library (no browser download: executable_path=/usr/bin/chromium), against a registry whose
sign-in runs through real OpenID Connect providers (tests/oidc/provider.mjs: "local" and
"orcid", accounts alice, bob and carol).

Usage: accounts.py URL [OUTDIR]   (OUTDIR: screenshots, default target/screenshots-accounts)

One browser context per person (their own cookies). The story:
 a. alice signs in with "local" at the provider, lands on /signup, picks `alice`: the header
    shows @alice;
 b. she uploads a ticket through the upload page with her session (no token), sees Edit and
    Yank on its page, edits the description, yanks and unyanks, reports a result;
 c. on /account she creates a token (shown once, copied), which works as a Bearer token, then
    revokes it (the same request now 401s);
 d. she creates the organization `lab`;
 e. bob signs in (a taken name is refused next to the field), sees no Edit or Yank on alice's
    ticket, and a PATCH he sends with his own session and CSRF token is refused 403;
 f. CSRF: alice's cookie without X-CSRF-Token is refused 403 for DELETE, PATCH and POST, and
    nothing changes;
 g. alice adds bob to lab; bob publishes under lab through "Publish under"; alice (admin)
    edits it; bob cannot remove alice (no button; the API says 403); alice removes bob (204)
    and the ticket stays lab's;
 h. profiles: /owners/alice lists her tickets and results, /owners/lab its members, owner
    names link there;
 i. alice signs out (the header offers sign-in again; /api/v1/account is 401); carol signs in
    with ORCID: /signup shows her ORCID iD, and so does her profile; she links "local" and
    unlinks it, then signs out everywhere.
Prints 'accounts: N passed, M failed' and exits non-zero on a failure.
"""
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

URL = sys.argv[1].rstrip("/")
OUT = sys.argv[2] if len(sys.argv) > 2 else "target/screenshots-accounts"
os.makedirs(OUT, exist_ok=True)
TMP = tempfile.mkdtemp()
CAROL_ORCID = "0000-0002-1694-233X"
passed = failed = 0
started = time.monotonic()


def ticket_file(name, keep_fraction, seed):
    """A small torch-prune style file: a mask keeping keep_fraction of 1000 weights."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(1000, np.float32)
    mask[: round(1000 * keep_fraction)] = 1
    rng.shuffle(mask)
    path = os.path.join(TMP, f"{name}.safetensors")
    save_file({"fc.weight_orig": rng.standard_normal((40, 25)).astype(np.float32),
               "fc.weight_mask": mask.reshape(40, 25), "fc.bias": np.zeros(40, np.float32)}, path)
    return path


def step(page, name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        page.screenshot(path=os.path.join(OUT, f"{passed + failed:02d}-{name}.png"), full_page=True)
    except Exception:
        failed += 1
        traceback.print_exc()
        try:
            page.screenshot(path=os.path.join(OUT, f"FAILED-{name}.png"), full_page=True)
        except Exception:
            pass
        print(f"FAIL {name}")


def api(path, **kw):
    return requests.get(f"{URL}/api/v1{path}", timeout=30, **kw)


def fetch(page, method, path, body=None, csrf=None):
    """A request from inside the page with its cookies: {status, body}. csrf: the header's value
    (None: no header at all)."""
    return page.evaluate("""async ([method, url, body, csrf]) => {
        const headers = { Accept: "application/json" };
        if (body !== null) headers["Content-Type"] = "application/json";
        if (csrf !== null) headers["X-CSRF-Token"] = csrf;
        const r = await fetch(url, { method, headers, credentials: "same-origin", body: body === null ? undefined : JSON.stringify(body) });
        const text = await r.text();
        let json = null;
        try { json = JSON.parse(text); } catch (e) { json = text; }
        return { status: r.status, body: json };
    }""", [method, URL + path, body, csrf])


def csrf_of(page):
    got = fetch(page, "GET", "/api/v1/account")
    assert got["status"] == 200 and got["body"]["via"] == "session", got
    return got["body"]["csrf_token"]


def sign_in(page, provider, who):
    """From the header's "Sign in with <provider>" through the provider's login page."""
    link = page.locator(f"#auth a.sign-in[data-provider={provider}]")
    expect(link).to_be_visible()
    link.click()
    page.wait_for_selector(f"#login-{who}")
    assert not page.url.startswith(URL), page.url
    page.click(f"#login-{who}")


def sign_up(page, provider, who, name):
    sign_in(page, provider, who)
    page.wait_for_url(URL + "/signup")
    expect(page.locator("#s-name")).to_be_visible()
    page.fill("#s-name", name)
    page.click("#signup-submit")


def upload_through_page(page, name, accuracy, seed, owner=None):
    page.goto(URL + "/upload")
    expect(page.locator("#upload-as")).to_be_visible()
    expect(page.locator("#u-token")).to_have_count(0)
    if owner:
        page.select_option("#u-owner", owner)
    page.set_input_files("#u-file", ticket_file(name, 0.3, seed))
    for k, v in {"name": name, "task": "image-classification", "dataset": "cifar10", "architecture": "resnet20",
                 "pruning_method": "imp", "accuracy": accuracy, "description": f"First words on {name}."}.items():
        page.fill(f"#u-{k}", v)
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/tickets")) as info:
        page.click("#submit")
    assert info.value.status == 201, (info.value.status, info.value.text())
    # The session, not a token: the cookie and the CSRF header, no Authorization.
    sent = info.value.request.headers
    assert "authorization" not in sent and sent.get("x-csrf-token"), sent
    page.wait_for_url("**/tickets/*")
    return info.value.json()


def main():
    providers = api("/auth/providers").json()["providers"]
    assert {p["id"] for p in providers} >= {"local", "orcid"}, providers
    state = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])

        def person():
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=URL)
            page = context.new_page()
            page.set_default_timeout(10000)
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            return page, errors

        alice, alice_errors = person()
        bob, bob_errors = person()
        carol, carol_errors = person()

        # a. Sign in with "local", choose the username on /signup.
        def alice_signs_up():
            alice.goto(URL + "/search")
            expect(alice.locator("#whoami")).to_have_count(0)
            expect(alice.locator("#auth a.sign-in")).to_have_text(["Sign in with local", "Sign in with ORCID"])
            href = alice.locator("#auth a.sign-in[data-provider=local]").get_attribute("href")
            assert href == "/auth/local/login?return_to=%2Fsearch", href
            sign_in(alice, "local", "alice")
            alice.wait_for_url(URL + "/signup")
            # What the provider said, and a suggested name.
            expect(alice.locator("#signup-provider")).to_have_text("local")
            expect(alice.locator("#signup-name")).to_have_text("Alice Example")
            expect(alice.locator("#signup-email")).to_have_text("alice@example.test")
            expect(alice.locator("#signup-orcid")).to_have_count(0)
            assert alice.input_value("#s-name") == "alice-example", alice.input_value("#s-name")
            # Checked in the page first; then the server's 400 lands by the field.
            alice.fill("#s-name", "a")
            alice.click("#signup-submit")
            expect(alice.locator("#err-s-name")).to_have_text("2 to 39 characters")
            alice.fill("#s-name", "admin")
            with alice.expect_response(lambda r: r.url.endswith("/api/v1/signup") and r.request.method == "POST") as info:
                alice.click("#signup-submit")
            assert info.value.status == 400, info.value.status
            expect(alice.locator("#err-s-name")).to_contain_text("reserved")
            alice.screenshot(path=os.path.join(OUT, "signup-refused.png"), full_page=True)
            alice.fill("#s-name", "alice")
            alice.click("#signup-submit")
            # Back where the sign-in started.
            alice.wait_for_url(URL + "/search")
            expect(alice.locator("#whoami")).to_have_text("@alice")
            expect(alice.locator("#auth a.sign-in")).to_have_count(0)
            me = fetch(alice, "GET", "/api/v1/account")["body"]
            assert me["name"] == "alice" and me["via"] == "session" and me["identities"][0]["provider"] == "local", me
        step(alice, "a-alice-signs-up", alice_signs_up)

        # b. Upload with the session; the ticket page offers Edit and Yank; edit the description.
        def alice_uploads_and_edits():
            t = upload_through_page(alice, "alice-net", "0.91", 1)
            state["alice_ticket"] = t["id"]
            assert t["owner"] == "alice", t
            expect(alice.locator("h1")).to_contain_text("alice/alice-net")
            expect(alice.locator("h1 a.owner")).to_have_attribute("href", "/owners/alice")
            expect(alice.locator("#uploaded-by")).to_have_count(0)
            expect(alice.locator("#edit-toggle")).to_be_visible()
            expect(alice.locator("#yank")).to_be_visible()
            alice.click("#edit-toggle")
            alice.fill("#e-description", "Edited by **alice** on the page.")
            alice.fill("#e-tags", "lth, edited")
            with alice.expect_response(lambda r: r.request.method == "PATCH") as info:
                alice.click("#edit-save")
            assert info.value.status == 200, info.value.text()
            expect(alice.locator("section[aria-label=Description] strong")).to_have_text("alice")
            after = api(f"/tickets/{t['id']}").json()
            assert after["description"] == "Edited by **alice** on the page." and after["tags"] == ["lth", "edited"], after
            alice.screenshot(path=os.path.join(OUT, "ticket-manage.png"), full_page=False)
            # Yank and unyank.
            alice.click("#yank")
            expect(alice.locator("#yanked")).to_be_visible()
            assert api(f"/tickets/{t['id']}").json()["yanked"] is True
            alice.click("#unyank")
            expect(alice.locator("#yank")).to_be_visible()
            expect(alice.locator("#yanked")).to_have_count(0)
            assert api(f"/tickets/{t['id']}").json()["yanked"] is False
            # The results form works with the session: no token field.
            expect(alice.locator("#r-token")).to_have_count(0)
            expect(alice.locator("#r-as")).to_contain_text("alice")
            alice.select_option("#r-kind", "reproduction")
            alice.fill("#r-accuracy", "0.905")
            alice.fill("#r-seed", "3")
            alice.click("#report-submit")
            expect(alice.locator("#report-status")).to_contain_text("Recorded")
            expect(alice.locator("#results-table tbody tr")).to_have_count(1)
        step(alice, "b-alice-uploads-edits", alice_uploads_and_edits)

        # c. A token made on /account: shown once, works as Bearer, then revoked.
        def alice_token():
            alice.click("#whoami")
            alice.wait_for_url(URL + "/account")
            expect(alice.locator("#account-name a")).to_have_attribute("href", "/owners/alice")
            expect(alice.locator("#identities tbody tr")).to_have_count(1)
            expect(alice.locator("#link-providers button")).to_have_text(["Link ORCID"])
            expect(alice.locator("#no-tokens")).to_be_visible()
            alice.fill("#t-label", "ci laptop")
            alice.check("#t-scope-tokens")
            alice.fill("#t-days", "7")
            alice.click("#token-submit")
            expect(alice.locator("#new-token")).to_be_visible()
            token = alice.input_value("#new-token-value")
            assert len(token) >= 20, token
            alice.click("#copy-token")
            expect(alice.locator("#copy-status")).to_have_text("Copied.")
            assert alice.evaluate("navigator.clipboard.readText()") == token
            row = alice.locator("#tokens-table tbody tr", has_text="ci laptop")
            expect(row).to_have_attribute("data-state", "live")
            assert sorted(row.locator("td.scopes code").all_inner_texts()) == ["results", "tokens", "upload"]
            alice.screenshot(path=os.path.join(OUT, "account-token-created.png"), full_page=True)
            bearer = {"Authorization": f"Bearer {token}"}
            listed = api("/tokens", headers=bearer)
            assert listed.status_code == 200, listed.text
            rec = [r for r in listed.json()["items"] if r["label"] == "ci laptop"]
            assert len(rec) == 1 and rec[0]["user"] == "alice" and rec[0]["expires_at"], listed.json()
            # Shown once: a reload shows the record, never the token.
            alice.reload()
            expect(alice.locator("#tokens-table tbody tr")).to_have_count(1)
            expect(alice.locator("#new-token")).to_be_hidden()
            assert token not in alice.content()
            alice.locator("#tokens-table tbody tr", has_text="ci laptop").locator("button.revoke").click()
            expect(alice.locator("#tokens-table tbody tr", has_text="ci laptop")).to_have_attribute("data-state", "revoked")
            expect(alice.locator("#tokens-table tbody tr button.revoke")).to_have_count(0)
            again = api("/tokens", headers=bearer)
            assert again.status_code == 401, (again.status_code, again.text)
        step(alice, "c-alice-token", alice_token)

        # d. An organization, created on /account.
        def alice_org():
            alice.fill("#o-name", "lab")
            alice.fill("#o-display_name", "The Sparse Lab")
            alice.click("#org-submit")
            expect(alice.locator("#orgs li[data-org=lab] .role")).to_have_text("admin")
            # Taken: the server's 409 by the field.
            alice.fill("#o-name", "alice")
            alice.click("#org-submit")
            expect(alice.locator("#err-o-name")).to_contain_text("taken")
            profile = api("/owners/lab").json()
            assert profile["kind"] == "org" and profile["display_name"] == "The Sparse Lab", profile
            assert profile["members"][0]["name"] == "alice" and profile["members"][0]["role"] == "admin", profile
            alice.screenshot(path=os.path.join(OUT, "account.png"), full_page=True)
        step(alice, "d-alice-org", alice_org)

        # e. bob: his own account; no Edit or Yank on alice's ticket; his PATCH is refused.
        def bob_signs_up():
            bob.goto(URL + "/")
            sign_in(bob, "local", "bob")
            bob.wait_for_url(URL + "/signup")
            expect(bob.locator("#signup-email")).to_have_text("bob@example.test")
            bob.fill("#s-name", "alice")
            with bob.expect_response(lambda r: r.url.endswith("/api/v1/signup") and r.request.method == "POST") as info:
                bob.click("#signup-submit")
            assert info.value.status == 409, info.value.status
            expect(bob.locator("#err-s-name")).to_have_text("the name 'alice' is taken")
            expect(bob.locator("#s-name")).to_have_attribute("aria-invalid", "true")
            bob.fill("#s-name", "bob")
            bob.click("#signup-submit")
            bob.wait_for_url(URL + "/")
            expect(bob.locator("#whoami")).to_have_text("@bob")
            tid = state["alice_ticket"]
            bob.goto(URL + f"/tickets/{tid}")
            expect(bob.locator("#remaining")).to_be_visible()
            expect(bob.locator("#manage")).to_have_count(0)
            expect(bob.locator("#edit-toggle")).to_have_count(0)
            expect(bob.locator("#yank")).to_have_count(0)
            before = api(f"/tickets/{tid}").json()["description"]
            got = fetch(bob, "PATCH", f"/api/v1/tickets/{tid}", {"description": "bob was here"}, csrf_of(bob))
            assert got["status"] == 403 and "only alice" in got["body"]["error"]["message"], got
            got = fetch(bob, "POST", f"/api/v1/tickets/{tid}/yank", None, csrf_of(bob))
            assert got["status"] == 403, got
            after = api(f"/tickets/{tid}").json()
            assert after["description"] == before and after["yanked"] is False, after
        step(bob, "e-bob-refused", bob_signs_up)

        # f. CSRF: the cookie alone changes nothing.
        def csrf():
            alice.goto(URL + "/account")
            alice.fill("#t-label", "stays live")
            alice.check("#t-scope-tokens")
            alice.click("#token-submit")
            expect(alice.locator("#new-token")).to_be_visible()
            live = alice.input_value("#new-token-value")
            row = alice.locator("#tokens-table tbody tr", has_text="stays live")
            expect(row).to_have_attribute("data-state", "live")
            token_id = row.get_attribute("data-id")
            tid = state["alice_ticket"]
            before = api(f"/tickets/{tid}").json()
            for method, path, body in [("DELETE", f"/api/v1/tokens/{token_id}", None),
                                       ("PATCH", f"/api/v1/tickets/{tid}", {"description": "forged"}),
                                       ("POST", f"/api/v1/tickets/{tid}/yank", None),
                                       ("POST", "/api/v1/orgs", {"name": "forged-org"}),
                                       ("DELETE", "/api/v1/session", None)]:
                for csrf_value in (None, "wrong-token"):
                    got = fetch(alice, method, path, body, csrf_value)
                    assert got["status"] == 403 and "X-CSRF-Token" in got["body"]["error"]["message"], (method, path, got)
            # Nothing changed: the token is live (it still authenticates), the ticket as it was,
            # no organization, and the session still signed in.
            rec = api("/tokens", headers={"Authorization": f"Bearer {live}"})
            assert rec.status_code == 200, rec.text
            assert [r["revoked_at"] for r in rec.json()["items"] if r["id"] == int(token_id)] == [None], rec.json()
            after = api(f"/tickets/{tid}").json()
            assert after["description"] == before["description"] and after["yanked"] is False, after
            assert api("/owners/forged-org").status_code == 404
            assert fetch(alice, "GET", "/api/v1/account")["status"] == 200
            # The same request with the session's CSRF token goes through (the check above is the header's).
            got = fetch(alice, "DELETE", f"/api/v1/tokens/{token_id}", None, csrf_of(alice))
            assert got["status"] == 200 and got["body"]["revoked_at"], got
        step(alice, "f-csrf", csrf)

        # g. bob joins lab and publishes under it; admin alice edits; removal rules.
        def org_story():
            alice.goto(URL + "/owners/lab")
            expect(alice.locator("#members-table tbody tr")).to_have_count(1)
            alice.fill("#m-name", "bob")
            alice.select_option("#m-role", "member")
            with alice.expect_response(lambda r: r.request.method == "PUT") as info:
                alice.click("#member-form button[type=submit]")
            assert info.value.status == 200, info.value.text()
            expect(alice.locator("#members-table tbody tr[data-member=bob]")).to_have_attribute("data-role", "member")
            # An admin changes a role from the table: bob admin, then member again.
            for role in ("admin", "member"):
                with alice.expect_response(lambda r: r.request.method == "PUT") as info:
                    alice.select_option("#members-table tr[data-member=bob] select.role-select", role)
                assert info.value.status == 200, info.value.text()
                expect(alice.locator("#members-table tbody tr[data-member=bob]")).to_have_attribute("data-role", role)
                assert {m["name"]: m["role"] for m in api("/orgs/lab/members").json()}["bob"] == role
            # bob's next page load knows his organization.
            t = upload_through_page(bob, "lab-net", "0.88", 2, owner="lab")
            state["lab_ticket"] = t["id"]
            assert t["owner"] == "lab", t
            expect(bob.locator("h1")).to_contain_text("lab/lab-net")
            expect(bob.locator("#uploaded-by")).to_contain_text("Uploaded by bob for lab")
            expect(bob.locator("#edit-toggle")).to_be_visible()  # the member who uploaded it
            assert api(f"/tickets/{t['id']}").json()["uploader"] == "bob"
            # alice, an admin of lab, may edit it.
            alice.goto(URL + f"/tickets/{t['id']}")
            expect(alice.locator("#edit-toggle")).to_be_visible()
            alice.click("#edit-toggle")
            alice.fill("#e-description", "Checked by the lab's admin.")
            alice.click("#edit-save")
            expect(alice.locator("section[aria-label=Description]")).to_contain_text("Checked by the lab's admin.")
            assert api(f"/tickets/{t['id']}").json()["description"] == "Checked by the lab's admin."
            # bob, a member, may not remove alice: no button, and the API refuses.
            bob.goto(URL + "/owners/lab")
            expect(bob.locator("#members-table tbody tr")).to_have_count(2)
            expect(bob.locator("#members-table tr[data-member=alice] button")).to_have_count(0)
            expect(bob.locator("#members-table tr[data-member=bob] button.remove-member")).to_have_text("Leave")
            expect(bob.locator("#member-form")).to_have_count(0)
            bob.screenshot(path=os.path.join(OUT, "org-as-member.png"), full_page=True)
            got = fetch(bob, "DELETE", "/api/v1/orgs/lab/members/alice", None, csrf_of(bob))
            assert got["status"] == 403, got
            assert {m["name"] for m in api("/orgs/lab/members").json()} == {"alice", "bob"}
            # alice removes bob: 204, and the ticket stays lab's.
            alice.goto(URL + "/owners/lab")
            alice.screenshot(path=os.path.join(OUT, "org-as-admin.png"), full_page=True)
            with alice.expect_response(lambda r: r.request.method == "DELETE") as info:
                alice.locator("#members-table tr[data-member=bob] button.remove-member").click()
            assert info.value.status == 204, info.value.status
            expect(alice.locator("#members-table tbody tr")).to_have_count(1)
            assert [m["name"] for m in api("/orgs/lab/members").json()] == ["alice"]
            assert api(f"/tickets/{t['id']}").json()["owner"] == "lab"
            expect(alice.locator("#owner-tickets .title a")).to_have_text(["lab/lab-net"])
            # A former member keeps nothing.
            bob.goto(URL + f"/tickets/{t['id']}")
            expect(bob.locator("#remaining")).to_be_visible()
            expect(bob.locator("#edit-toggle")).to_have_count(0)
            got = fetch(bob, "PATCH", f"/api/v1/tickets/{t['id']}", {"description": "mine"}, csrf_of(bob))
            assert got["status"] == 403, got
        step(alice, "g-org", org_story)

        # h. Profiles, and owner names linking to them.
        def profiles():
            alice.goto(URL + "/search")
            expect(alice.locator("#results li")).to_have_count(2)
            owners = alice.locator("#results a.owner").all_inner_texts()
            assert sorted(owners) == ["alice", "lab"], owners
            alice.locator("#results li", has_text="alice-net").locator("a.owner").click()
            alice.wait_for_url(URL + "/owners/alice")
            expect(alice.locator("#profile-kind")).to_have_text("person")
            expect(alice.locator("#owner-tickets .title a")).to_have_text(["alice/alice-net"])
            expect(alice.locator("#profile-tickets")).to_have_text("1")
            expect(alice.locator("#owner-results tbody tr")).to_have_count(1)
            expect(alice.locator("#owner-results tbody tr a")).to_have_attribute("href", f"/tickets/{state['alice_ticket']}")
            expect(alice.locator("#owner-orgs li[data-org=lab]")).to_contain_text("admin")
            alice.screenshot(path=os.path.join(OUT, "profile-alice.png"), full_page=True)
            alice.locator("#owner-orgs a.owner").click()
            alice.wait_for_url(URL + "/owners/lab")
            expect(alice.locator("#profile-name")).to_contain_text("The Sparse Lab")
            expect(alice.locator("#profile-kind")).to_have_text("organization")
            expect(alice.locator("#members-table tbody tr[data-member=alice]")).to_have_attribute("data-role", "admin")
            expect(alice.locator("#owner-tickets li")).to_have_count(1)
            alice.screenshot(path=os.path.join(OUT, "profile-lab.png"), full_page=True)
            # Anyone may read a profile: bob, and a page with nobody signed in.
            bob.goto(URL + "/owners/alice")
            expect(bob.locator("#owner-tickets li")).to_have_count(1)
            expect(bob.locator("#owner-results tbody tr")).to_have_count(1)
        step(alice, "h-profiles", profiles)

        # i. Signing out; ORCID for carol; linking and unlinking; signing out everywhere.
        def sign_out_and_orcid():
            alice.goto(URL + "/search")
            expect(alice.locator("#whoami")).to_have_text("@alice")
            alice.click("#sign-out")
            expect(alice.locator("#auth a.sign-in")).to_have_count(2)
            expect(alice.locator("#whoami")).to_have_count(0)
            got = fetch(alice, "GET", "/api/v1/account")
            assert got["status"] == 401, got
            alice.goto(URL + "/account")
            expect(alice.locator("#not-signed-in")).to_be_visible()
            # carol signs in with ORCID: the verified iD on /signup and on her profile.
            carol.goto(URL + "/")
            sign_in(carol, "orcid", "carol")
            carol.wait_for_url(URL + "/signup")
            expect(carol.locator("#signup-orcid a")).to_have_text(CAROL_ORCID)
            expect(carol.locator("#signup-orcid a")).to_have_attribute("href", f"https://orcid.org/{CAROL_ORCID}")
            carol.screenshot(path=os.path.join(OUT, "signup-orcid.png"), full_page=True)
            carol.fill("#s-name", "carol")
            carol.click("#signup-submit")
            carol.wait_for_url(URL + "/")
            expect(carol.locator("#whoami")).to_have_text("@carol")
            carol.goto(URL + "/owners/carol")
            expect(carol.locator("#profile-orcid a")).to_have_text(CAROL_ORCID)
            expect(carol.locator("#profile-orcid a")).to_have_attribute("href", f"https://orcid.org/{CAROL_ORCID}")
            assert api("/owners/carol").json()["orcid"] == CAROL_ORCID
            carol.screenshot(path=os.path.join(OUT, "profile-carol.png"), full_page=True)
            # Link the "local" identity, then unlink it again.
            carol.goto(URL + "/account")
            expect(carol.locator("#account-orcid a")).to_have_text(CAROL_ORCID)
            expect(carol.locator("#identities button.unlink")).to_be_disabled()
            carol.click("#link-providers button[data-provider=local]")
            carol.click("#login-carol")
            carol.wait_for_url(URL + "/account")
            expect(carol.locator("#identities tbody tr")).to_have_count(2)
            expect(carol.locator("#link-providers")).to_have_count(0)
            carol.screenshot(path=os.path.join(OUT, "account-two-identities.png"), full_page=True)
            carol.locator("#identities tr[data-provider=local] button.unlink").click()
            expect(carol.locator("#identities tbody tr")).to_have_count(1)
            expect(carol.locator("#identities tr[data-provider=orcid]")).to_have_count(1)
            carol.click("#sign-out-everywhere")
            expect(carol.locator("#not-signed-in")).to_be_visible()
            expect(carol.locator("#auth a.sign-in")).to_have_count(2)
            assert fetch(carol, "GET", "/api/v1/account")["status"] == 401
        step(carol, "i-sign-out-orcid", sign_out_and_orcid)

        def no_script_errors():
            assert not (alice_errors or bob_errors or carol_errors), (alice_errors, bob_errors, carol_errors)
        step(alice, "console", no_script_errors)
        browser.close()
    print(f"accounts story took {time.monotonic() - started:.1f} s")
    print(f"accounts: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
