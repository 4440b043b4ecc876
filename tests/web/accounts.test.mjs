// The web page's account logic (static/lib.js, issue 17): who may manage a ticket, which
// authentication a request carries, what forms send. node --test tests/web/
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  authHeaders, checkName, editBody, linkableProviders, mayManage, memberActions, orcidUrl, orgRole, publishOptions,
  returnTo, SCOPES, signedIn, signInUrl, tokenRequest, tokenState, when,
} from "../../static/lib.js";

const alice = { name: "alice", via: "session", csrf_token: "c5rf", organizations: [{ org: "lab", role: "admin" }, { org: "club", role: "member" }] };
const bob = { name: "bob", via: "session", csrf_token: "b0b", organizations: [{ org: "lab", role: "member" }] };

test("a session sends its CSRF token and no Authorization; else the pasted token as Bearer; else nothing", () => {
  assert.deepEqual(authHeaders(alice, "tb_pasted"), { "X-CSRF-Token": "c5rf" });
  assert.deepEqual(authHeaders(null, " tb_pasted "), { Authorization: "Bearer tb_pasted" });
  assert.deepEqual(authHeaders(null, ""), {});
  assert.deepEqual(authHeaders(undefined, undefined), {});
  // An account read with a token (via "token") is no session: it has no CSRF token to send.
  assert.deepEqual(authHeaders({ name: "alice", via: "token" }, "tb_x"), { Authorization: "Bearer tb_x" });
  assert.equal(signedIn({ name: "alice", via: "session" }), false, "a session answer without its CSRF token is not usable");
  assert.equal(signedIn(alice), true);
});

test("who may manage a ticket: the owner, the owning organization's admins, the member who uploaded it", () => {
  assert.equal(mayManage({ owner: "alice", uploader: "alice" }, alice), true, "owner");
  assert.equal(mayManage({ owner: "alice" }, bob), false, "another person's ticket");
  assert.equal(mayManage({ owner: "lab", uploader: "bob" }, alice), true, "admin of the org");
  assert.equal(mayManage({ owner: "lab", uploader: "bob" }, bob), true, "the member who uploaded it");
  assert.equal(mayManage({ owner: "lab", uploader: "alice" }, bob), false, "a member, someone else's upload");
  assert.equal(mayManage({ owner: "club", uploader: "carol" }, alice), false, "a member of club, carol's upload");
  assert.equal(mayManage({ owner: "club", uploader: "alice" }, alice), true);
  assert.equal(mayManage({ owner: "lab", uploader: "bob" }, { ...bob, organizations: [] }), false, "a former member keeps nothing");
  assert.equal(mayManage({ owner: "alice" }, null), false, "not signed in");
  assert.equal(mayManage(null, alice), false);
  assert.equal(orgRole(alice, "lab"), "admin");
  assert.equal(orgRole(alice, "nope"), null);
  assert.equal(orgRole(null, "lab"), null);
});

test("sign-in links come back to the page, never to /signup or another site", () => {
  assert.equal(returnTo("/tickets/abc", "?x=1"), "/tickets/abc?x=1");
  assert.equal(returnTo("/signup"), "/");
  assert.equal(returnTo("//evil.example/x"), "/");
  assert.equal(returnTo(""), "/");
  assert.equal(signInUrl("local", "/search?q=a b&tag=x"), "/auth/local/login?return_to=%2Fsearch%3Fq%3Da%20b%26tag%3Dx");
});

test("providers not yet linked; ORCID iDs and their pages", () => {
  const providers = [{ id: "local", name: "local" }, { id: "orcid", name: "ORCID" }];
  assert.deepEqual(linkableProviders(providers, [{ provider: "local" }]).map((p) => p.id), ["orcid"]);
  assert.deepEqual(linkableProviders(providers, []).map((p) => p.id), ["local", "orcid"]);
  assert.deepEqual(linkableProviders([], [{ provider: "local" }]), []);
  assert.equal(orcidUrl("0000-0002-1694-233X"), "https://orcid.org/0000-0002-1694-233X");
  assert.equal(orcidUrl("0000-0002-1825-0097"), "https://orcid.org/0000-0002-1825-0097");
  assert.equal(orcidUrl("javascript:alert(1)"), null);
  assert.equal(orcidUrl(null), null);
});

test("publish under: yourself first, then each organization", () => {
  assert.deepEqual(publishOptions(alice), [
    { value: "", label: "me (alice)" }, { value: "lab", label: "lab (admin)" }, { value: "club", label: "club (member)" },
  ]);
  assert.deepEqual(publishOptions({ name: "carol", organizations: [] }), [{ value: "", label: "me (carol)" }]);
  assert.deepEqual(publishOptions(null), []);
});

test("a token's state: revoked wins over expired; no expiry is live", () => {
  const now = new Date("2026-06-01T00:00:00Z");
  assert.equal(tokenState({ revoked_at: "2026-05-01T00:00:00Z", expires_at: "2026-01-01T00:00:00Z" }, now), "revoked");
  assert.equal(tokenState({ revoked_at: null, expires_at: "2026-05-31T23:59:59Z" }, now), "expired");
  assert.equal(tokenState({ revoked_at: null, expires_at: "2026-06-02T00:00:00Z" }, now), "live");
  assert.equal(tokenState({ revoked_at: null, expires_at: null }, now), "live");
});

test("the create-a-token form: scopes, days and label checked as the server would", () => {
  assert.deepEqual(tokenRequest({ label: " laptop ", scopes: ["upload", "results", "upload"], days: "30" }), {
    body: { label: "laptop", scopes: ["upload", "results"], expires_in_days: 30 }, errors: {},
  });
  assert.deepEqual(tokenRequest({ label: "", scopes: [], days: "" }).errors, { scopes: "choose at least one scope", days: "required" });
  assert.match(tokenRequest({ scopes: ["admin"], days: "1" }).errors.scopes, /one of upload, yank, results, tokens, orgs/);
  assert.match(tokenRequest({ scopes: ["upload"], days: "91" }).errors.days, /from 1 to 90/);
  assert.equal(tokenRequest({ scopes: ["upload"], days: "91" }, 3650).errors.days, undefined);
  assert.match(tokenRequest({ scopes: ["upload"], days: "1.5" }).errors.days, /whole number/);
  assert.match(tokenRequest({ scopes: ["upload"], days: "0" }).errors.days, /whole number/);
  assert.match(tokenRequest({ label: "a\nb", scopes: ["upload"], days: "1" }).errors.label, /one line/);
  assert.match(tokenRequest({ label: "x".repeat(129), scopes: ["upload"], days: "1" }).errors.label, /128/);
  assert.deepEqual(SCOPES.map((s) => s.value).sort(), ["orgs", "results", "tokens", "upload", "yank"]);
});

test("usernames and organization names as the server takes them", () => {
  for (const ok of ["alice", "a1", "lab-2", "A-b-C"]) assert.equal(checkName(ok), null, ok);
  assert.equal(checkName(""), "required");
  assert.equal(checkName("a"), "2 to 39 characters");
  assert.equal(checkName("x".repeat(40)), "2 to 39 characters");
  for (const bad of ["-ab", "ab-", "a--b", "a_b", "a.b", "ab c"]) assert.match(checkName(bad), /single hyphens/, bad);
});

test("a ticket edit sends only what changed; an emptied field is cleared (null)", () => {
  const t = { description: "Old **text**\n", tags: ["lth", "imp"], paper_url: "https://arxiv.org/abs/1803.03635", code_url: null, license: "MIT" };
  const same = { description: "Old **text**", tags: "lth, imp", paper_url: "https://arxiv.org/abs/1803.03635", code_url: "", license: "MIT" };
  assert.deepEqual(editBody(same, t), { body: {}, errors: {} });
  assert.deepEqual(editBody({ ...same, description: "New" }, t).body, { description: "New" });
  assert.deepEqual(editBody({ ...same, license: "" }, t).body, { license: null });
  assert.deepEqual(editBody({ ...same, tags: "LTH, rewinding" }, t).body, { tags: ["lth", "rewinding"] });
  assert.deepEqual(editBody({ ...same, tags: "" }, t).body, { tags: [] });
  assert.deepEqual(editBody({ ...same, code_url: "ftp://x" }, t).errors, { code_url: "an http or https URL" });
  assert.deepEqual(editBody({ ...same, tags: "ok, not ok" }, t).errors, { tags: "up to 32 slugs, comma-separated" });
});

test("what a viewer may do to an organization's member", () => {
  assert.deepEqual(memberActions("alice", "admin", "bob"), { setRole: true, remove: "Remove" });
  assert.deepEqual(memberActions("alice", "admin", "alice"), { setRole: true, remove: "Leave" });
  assert.deepEqual(memberActions("bob", "member", "bob"), { setRole: false, remove: "Leave" });
  assert.deepEqual(memberActions("bob", "member", "alice"), { setRole: false, remove: null });
  assert.deepEqual(memberActions("carol", null, "alice"), { setRole: false, remove: null });
  assert.deepEqual(memberActions(undefined, null, undefined), { setRole: false, remove: null });
});

test("instants in UTC to the minute", () => {
  assert.equal(when("2026-12-03T21:07:42.123Z"), "2026-12-03 21:07");
  assert.equal(when(null), "");
  assert.equal(when("not a date"), "not a date");
});
