// Self-test of the test OpenID Connect providers (provider.mjs): starts them on free ports,
// drives the authorization-code + PKCE flow over plain HTTP the way the registry's tests do
// (a cookie jar shared across ports, redirects followed by hand), checks every tamper mode,
// and stops them. Exits non-zero on the first failure.
//   node tests/oidc/selftest.mjs
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { strict as assert } from 'node:assert';

import * as jose from 'jose';

const started = Date.now();
const child = spawn(process.execPath, [fileURLToPath(new URL('./provider.mjs', import.meta.url)), '--port', '0', '--orcid-port', '0'], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stderr = '';
child.stderr.on('data', (d) => { stderr += d; });

async function ready() {
  let out = '';
  for await (const chunk of child.stdout) {
    out += chunk;
    const m = /^ready local=(\S+) orcid=(\S+)\n/.exec(out);
    if (m) return { local: m[1], orcid: m[2] };
  }
  throw new Error(`provider exited before it was ready: ${out}\n${stderr}`);
}

// A cookie jar like reqwest's or a browser's: cookies belong to the host, whatever the port.
const jar = new Map(); // name -> { value, path }
function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';').map((s) => s.trim());
    const name = pair.slice(0, pair.indexOf('='));
    const value = pair.slice(pair.indexOf('=') + 1);
    const path = attrs.find((a) => /^path=/i.test(a))?.slice(5) || '/';
    const expired = attrs.some((a) => /^expires=/i.test(a) && Date.parse(a.slice(8)) < Date.now())
      || attrs.some((a) => /^max-age=/i.test(a) && Number(a.slice(8)) <= 0);
    if (expired || value === '') jar.delete(name); else jar.set(name, { value, path });
  }
}
function cookieHeader(url) {
  const { pathname } = new URL(url);
  return [...jar].filter(([, c]) => pathname === c.path || pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`))
    .map(([n, c]) => `${n}=${c.value}`).join('; ');
}
async function request(url, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(url, {
    method, body, redirect: 'manual', headers: { ...headers, cookie: cookieHeader(url) },
  });
  storeCookies(res);
  return res;
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const REDIRECT = 'http://127.0.0.1:45678/auth/local/callback';

// One authorization: follows redirects, signs in as `login` when the form appears, and returns
// the callback URL plus what the form looked like.
async function authorize(issuer, {
  login = 'alice', prompt, clientId = 'ticketbooth', redirectUri = REDIRECT, nonce = b64url(crypto.randomBytes(12)),
  scope = 'openid profile email',
} = {}) {
  const verifier = b64url(crypto.randomBytes(32));
  const state = b64url(crypto.randomBytes(12));
  const params = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    scope,
    redirect_uri: redirectUri,
    state,
    nonce,
    code_challenge: b64url(crypto.createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  });
  if (prompt) params.set('prompt', prompt);
  let url = `${issuer}/auth?${params}`;
  let sawForm = false;
  let viaInteraction = false;
  for (let hop = 0; hop < 10; hop += 1) {
    if (url.startsWith(redirectUri.split('?')[0])) {
      const cb = new URL(url);
      assert.equal(cb.searchParams.get('state'), state, 'state comes back');
      assert.equal(cb.searchParams.get('iss'), issuer, 'iss (RFC 9207) comes back');
      return {
        code: cb.searchParams.get('code'), verifier, nonce, sawForm, viaInteraction, redirectUri,
      };
    }
    const res = await request(url);
    if ([302, 303].includes(res.status)) {
      if (/\/interaction\/[^/]+$/.test(new URL(url).pathname)) viaInteraction = true;
      url = new URL(res.headers.get('location'), url).href;
      continue;
    }
    const text = await res.text();
    assert.equal(res.status, 200, `${url}: ${res.status} ${text}`);
    assert.match(text, /<title>Sign in to the test provider<\/title>/);
    const action = /<form method="post" action="([^"]+)"/.exec(text)[1];
    assert.match(action, /^\/interaction\/[^/]+\/login$/);
    for (const user of ['alice', 'bob', 'carol']) {
      assert.ok(text.includes(`<button type="submit" name="login" value="${user}" id="login-${user}">`), `button for ${user}`);
      assert.ok(text.includes(`<option value="${user}">`), `option for ${user}`);
    }
    assert.ok(text.includes('<select name="login"'));
    sawForm = true;
    const posted = await request(new URL(action, url).href, {
      method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `login=${login}`,
    });
    assert.equal(posted.status, 303, `login POST: ${posted.status} ${await posted.text()}`);
    url = new URL(posted.headers.get('location'), url).href;
  }
  throw new Error('too many redirects');
}

async function exchange(issuer, { code, verifier, redirectUri }, { post = false, secret = 'ticketbooth-secret' } = {}) {
  const form = new URLSearchParams({
    grant_type: 'authorization_code', code, redirect_uri: redirectUri, code_verifier: verifier,
  });
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (post) {
    form.set('client_id', 'ticketbooth');
    form.set('client_secret', secret);
  } else {
    headers.authorization = `Basic ${Buffer.from(`ticketbooth:${secret}`).toString('base64')}`;
  }
  const res = await fetch(`${issuer}/token`, { method: 'POST', headers, body: form });
  return { status: res.status, body: await res.json() };
}

const checks = [];
function check(name, fn) { checks.push([name, fn]); }

let issuers;
const jwks = {};

check('discovery on both', async () => {
  for (const issuer of Object.values(issuers)) {
    const doc = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
    assert.equal(doc.issuer, issuer);
    assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256']);
    jwks[issuer] = jose.createLocalJWKSet(await (await fetch(doc.jwks_uri)).json());
  }
});

check('local: code flow with PKCE, id_token for alice-sub, code single-use', async () => {
  const a = await authorize(issuers.local);
  assert.ok(a.sawForm && a.code);
  const names = [...jar.keys()];
  assert.ok(names.includes('local_session'), `cookies: ${names}`);
  assert.ok(names.every((n) => /^(local|orcid)_/.test(n)), `cookies: ${names}`);
  const t = await exchange(issuers.local, a);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const { payload, protectedHeader } = await jose.jwtVerify(t.body.id_token, jwks[issuers.local], {
    issuer: issuers.local, audience: 'ticketbooth',
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.equal(payload.sub, 'alice-sub');
  assert.equal(payload.nonce, a.nonce);
  assert.equal(payload.name, 'Alice Example');
  assert.equal(payload.email, 'alice@example.test');
  assert.equal(payload.email_verified, true);
  assert.equal(payload.preferred_username, 'alice');
  const again = await exchange(issuers.local, a);
  assert.equal(again.status, 400);
  assert.equal(again.body.error, 'invalid_grant');
});

check('local: remembered session signs in silently; prompt=login shows the form; switching to bob', async () => {
  const silent = await authorize(issuers.local);
  assert.equal(silent.sawForm, false);
  const forced = await authorize(issuers.local, { prompt: 'login', login: 'bob' });
  assert.equal(forced.sawForm, true);
  const t = await exchange(issuers.local, forced, { post: true });
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.equal(jose.decodeJwt(t.body.id_token).sub, 'bob-sub');
});

check('local: signed in, a new scope is consented to without a page', async () => {
  const narrow = await authorize(issuers.local, { prompt: 'login', login: 'carol', scope: 'openid' });
  assert.equal(narrow.sawForm, true);
  const wide = await authorize(issuers.local, { scope: 'openid profile email' });
  assert.equal(wide.sawForm, false);
  assert.equal(wide.viaInteraction, true, 'went through the interaction for consent');
  const t = await exchange(issuers.local, wide);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const p = jose.decodeJwt(t.body.id_token);
  assert.equal(p.sub, 'carol-sub');
  assert.equal(p.email, 'carol@example.test');
});

check('orcid: subject is the ORCID iD, with given and family names', async () => {
  const a = await authorize(issuers.orcid, { login: 'carol', redirectUri: 'http://127.0.0.1:45678/auth/orcid/callback' });
  assert.ok(a.sawForm, 'the orcid instance does not share the local session');
  const t = await exchange(issuers.orcid, a);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  const { payload } = await jose.jwtVerify(t.body.id_token, jwks[issuers.orcid], { issuer: issuers.orcid, audience: 'ticketbooth' });
  assert.equal(payload.sub, '0000-0002-1694-233X');
  assert.equal(payload.nonce, a.nonce);
  assert.equal(payload.given_name, 'Carol');
  assert.equal(payload.family_name, 'Example');
  assert.equal(payload.name, 'Carol Example');
});

check('refusals: wrong secret, unknown account, foreign redirect_uri, no PKCE, bad tamper rule', async () => {
  const a = await authorize(issuers.local);
  assert.equal((await exchange(issuers.local, a, { secret: 'nope' })).status, 401);
  const bad = await request(`${issuers.local}/auth?${new URLSearchParams({
    client_id: 'ticketbooth', response_type: 'code', scope: 'openid', redirect_uri: 'http://evil.invalid/auth/local/callback', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256',
  })}`);
  assert.equal(bad.status, 400);
  const noPkce = await request(`${issuers.local}/auth?${new URLSearchParams({
    client_id: 'ticketbooth', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 's',
  })}`);
  assert.equal(noPkce.status, 303);
  assert.equal(new URL(noPkce.headers.get('location')).searchParams.get('error'), 'invalid_request');
  // An unknown account on the form.
  const start = await request(`${issuers.orcid}/auth?${new URLSearchParams({
    client_id: 'ticketbooth', response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, prompt: 'login', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256',
  })}`);
  const form = new URL(start.headers.get('location'), issuers.orcid).href;
  await (await request(form)).text();
  const posted = await request(`${form}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'login=mallory' });
  assert.equal(posted.status, 400);
  const rule = await fetch(`${issuers.local}/__test/tamper`, { method: 'POST', body: JSON.stringify({ nonce: 'n', mode: 'sideways' }) });
  assert.equal(rule.status, 400);
});

async function tampered(issuer, mode) {
  const nonce = `tamper-${mode}-${crypto.randomUUID()}`;
  const rule = await fetch(`${issuer}/__test/tamper`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nonce, mode }) });
  assert.equal(rule.status, 204);
  const a = await authorize(issuer, { nonce });
  const t = await exchange(issuer, a);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  return { token: t.body.id_token, nonce };
}

check('tamper modes', async () => {
  const issuer = issuers.local;
  const now = Math.floor(Date.now() / 1000);
  const verify = (token) => jose.compactVerify(token, jwks[issuer]).then(({ payload }) => JSON.parse(Buffer.from(payload)));
  let r = await tampered(issuer, 'nonce');
  assert.equal((await verify(r.token)).nonce, 'tampered-nonce');
  r = await tampered(issuer, 'audience');
  let p = await verify(r.token);
  assert.equal(p.aud, 'other-client');
  assert.equal(p.azp, 'other-client');
  assert.equal(p.nonce, r.nonce);
  r = await tampered(issuer, 'issuer');
  assert.equal((await verify(r.token)).iss, 'http://evil.invalid');
  r = await tampered(issuer, 'expired');
  p = await verify(r.token);
  assert.ok(p.exp <= now - 3500 && p.iat <= now - 7100, JSON.stringify(p));
  r = await tampered(issuer, 'key');
  const realKid = JSON.parse(Buffer.from((await tampered(issuer, 'nonce')).token.split('.')[0], 'base64url')).kid;
  assert.equal(jose.decodeProtectedHeader(r.token).kid, realKid);
  assert.equal(jose.decodeJwt(r.token).nonce, r.nonce);
  await assert.rejects(verify(r.token), /signature verification failed/);
  r = await tampered(issuer, 'none');
  assert.deepEqual(jose.decodeProtectedHeader(r.token), { alg: 'none' });
  assert.ok(r.token.endsWith('.'));
  assert.equal(jose.decodeJwt(r.token).nonce, r.nonce);
  // On the orcid instance too; and the rule was one-shot: the same nonce again is untouched.
  r = await tampered(issuers.orcid, 'issuer');
  assert.equal(jose.decodeJwt(r.token).iss, 'http://evil.invalid');
  const a = await authorize(issuers.orcid, { nonce: r.nonce });
  const t = await exchange(issuers.orcid, a);
  assert.equal((await jose.jwtVerify(t.body.id_token, jwks[issuers.orcid], { issuer: issuers.orcid })).payload.nonce, r.nonce);
});

let failed = 0;
let passed = 0;
try {
  issuers = await ready();
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (err) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${err.stack.split('\n').slice(0, 3).join('\n     ')}`);
    }
  }
} catch (err) {
  failed += 1;
  console.log(`FAIL start: ${err.message}`);
} finally {
  child.kill('SIGTERM');
  await once(child, 'exit');
}
if (failed && stderr) console.log(`provider stderr:\n${stderr}`);
console.log(`oidc selftest took ${((Date.now() - started) / 1000).toFixed(1)} s`);
console.log(`oidc-selftest: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
