// TEST-ONLY OpenID Connect providers for ticketbooth's "Sign in with OpenID Connect" tests.
//
//   node tests/oidc/provider.mjs --port P --orcid-port Q
//
// Starts two oidc-provider instances in this one process, on loopback:
//   - "local" at http://127.0.0.1:P, a generic provider (subjects alice-sub, bob-sub, carol-sub);
//   - "orcid" at http://127.0.0.1:Q, which behaves like ORCID (subjects are ORCID iDs).
// A port of 0 means "any free port"; the ready line says which were taken. Once both listen it
// prints exactly one line to stdout:
//   ready local=http://127.0.0.1:P orcid=http://127.0.0.1:Q
// and nothing else goes to stdout (oidc-provider's notices are sent to stderr). It stops on
// SIGTERM or SIGINT. Everything lives in memory; nothing here is fit for production: the
// redirect URI check is replaced by a loopback pattern, and there is a tamper hook that forges
// ID tokens (POST /__test/tamper, see below and README.md).
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import * as jose from 'jose';
import Provider, { errors } from 'oidc-provider';

// oidc-provider prints its notices with console.info (stdout); stdout is reserved for the ready line.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

const ACCOUNTS = {
  local: {
    alice: {
      sub: 'alice-sub', name: 'Alice Example', email: 'alice@example.test', email_verified: true, preferred_username: 'alice',
    },
    bob: {
      sub: 'bob-sub', name: 'Bob Example', email: 'bob@example.test', email_verified: true, preferred_username: 'bob',
    },
    carol: {
      sub: 'carol-sub', name: 'Carol Example', email: 'carol@example.test', email_verified: true, preferred_username: 'carol',
    },
  },
  // ORCID iDs, each with a valid ISO 7064 MOD 11-2 check character.
  orcid: {
    alice: {
      sub: '0000-0002-1825-0097', name: 'Alice Example', given_name: 'Alice', family_name: 'Example',
    },
    bob: {
      sub: '0000-0001-5109-3700', name: 'Bob Example', given_name: 'Bob', family_name: 'Example',
    },
    carol: {
      sub: '0000-0002-1694-233X', name: 'Carol Example', given_name: 'Carol', family_name: 'Example',
    },
  },
};

const CLIENTS = [
  { client_id: 'ticketbooth', client_secret: 'ticketbooth-secret' },
  { client_id: 'other-client', client_secret: 'other-secret' },
].map((c) => ({
  ...c,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  // oidc-provider 9 accepts client_secret_post as well for a client registered with _basic.
  token_endpoint_auth_method: 'client_secret_basic',
  id_token_signed_response_alg: 'RS256',
  // The nominal one; any http://127.0.0.1:<port>/auth/<name>/callback is accepted (see below).
  redirect_uris: ['http://127.0.0.1/auth/local/callback', 'http://127.0.0.1/auth/orcid/callback'],
}));

// TEST-ONLY: the registry under test listens on random loopback ports, with one callback per
// configured provider, so any http://127.0.0.1:<port>/auth/<name>/callback is a valid redirect
// URI for every client here. A real provider must compare against registered URIs exactly.
const LOOPBACK_CALLBACK = /^http:\/\/127\.0\.0\.1(?::\d{1,5})?\/auth\/[A-Za-z0-9._~-]+\/callback$/;

// One-shot tamper rules, nonce -> mode, shared by both instances (a test's nonce is unique).
const TAMPER_MODES = new Set(['nonce', 'audience', 'issuer', 'expired', 'key', 'none']);
const tamperRules = new Map();

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'orcid-port': { type: 'string', default: '0' },
  },
});

const html = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>${html(title)}</title></head>
<body>
<h1>${html(title)}</h1>
${body}
</body>
</html>
`;
}

async function readBody(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error('request body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const b64url = (s) => Buffer.from(s).toString('base64url');

async function tamper(idToken, mode, instance) {
  const [h, p] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8'));
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  const now = Math.floor(Date.now() / 1000);
  let key = instance.signingKey;
  switch (mode) {
    case 'nonce': payload.nonce = 'tampered-nonce'; break;
    case 'audience': payload.aud = 'other-client'; payload.azp = 'other-client'; break;
    case 'issuer': payload.iss = 'http://evil.invalid'; break;
    case 'expired': payload.exp = now - 3600; payload.iat = now - 7200; break;
    case 'key': key = await instance.forgerKey; break; // same header, same kid, another key
    case 'none': return `${b64url(JSON.stringify({ alg: 'none' }))}.${b64url(JSON.stringify(payload))}.`;
    default: throw new Error(`unknown tamper mode ${mode}`);
  }
  return new jose.CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader(header)
    .sign(key);
}

// Finishes an interaction as `account`: login (unless `login` is false) and consent to
// every scope and claim requested, so there is no consent page.
async function finish(ctx, provider, interaction, account, { login = true } = {}) {
  const { params, prompt, session } = interaction;
  if (login && session?.accountId && session.accountId !== account.sub) {
    // Switching accounts: oidc-provider would answer with a self-submitting logout form (it
    // needs JavaScript). Drop the old session instead, so the login simply replaces it.
    const old = await provider.Session.findByUid(session.uid);
    if (old) await old.destroy();
    delete interaction.session;
    await interaction.save(interaction.exp - Math.floor(Date.now() / 1000));
  }
  let grant;
  if (interaction.grantId && session?.accountId === account.sub) {
    grant = await provider.Grant.find(interaction.grantId);
  }
  grant ||= new provider.Grant({ accountId: account.sub, clientId: params.client_id });
  grant.addOIDCScope(String(params.scope || 'openid'));
  if (prompt.details?.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  if (params.claims) {
    try {
      const requested = JSON.parse(params.claims);
      grant.addOIDCClaims([...Object.keys(requested.id_token || {}), ...Object.keys(requested.userinfo || {})]);
    } catch { /* oidc-provider already rejected an invalid claims parameter */ }
  }
  for (const [indicator, scopes] of Object.entries(prompt.details?.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const result = { consent: { grantId } };
  if (login) result.login = { accountId: account.sub };
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.redirect(returnTo);
  ctx.status = 303;
}

function loginForm(instance, interaction) {
  const { uid, params, prompt } = interaction;
  const users = Object.keys(ACCOUNTS[instance.name]);
  const options = users.map((u) => `<option value="${u}">${u}</option>`).join('');
  const buttons = users.map((u) => `<button type="submit" name="login" value="${u}" id="login-${u}">Sign in as ${u}</button>`).join('\n');
  return page('Sign in to the test provider', `<p>Provider <b id="provider">${html(instance.name)}</b> (${html(instance.issuer)}),
client <b id="client">${html(params.client_id)}</b>, scope <b id="scope">${html(params.scope || '')}</b>,
prompt <b id="prompt">${html(prompt.name)}</b>.</p>
<form method="post" action="/interaction/${html(uid)}/login" id="login-form">
<label for="login">Account</label>
<select name="login" id="login">${options}</select>
<button type="submit" id="login-submit">Continue</button>
${buttons}
</form>`);
}

// Our own interaction routes (devInteractions is off) and the tamper hook. Mounted with
// provider.use, which oidc-provider places before its own routes.
function testRoutes(instance) {
  const { provider } = instance;
  return async function routes(ctx, next) {
    const m = /^\/interaction\/([A-Za-z0-9_-]+)(\/login)?$/.exec(ctx.path);
    if (m) {
      const [, uid, isLogin] = m;
      const interaction = await provider.interactionDetails(ctx.req, ctx.res);
      if (interaction.uid !== uid) throw new errors.SessionNotFound('interaction uid and cookie mismatch');
      if (!isLogin && ctx.method === 'GET') {
        if (interaction.prompt.name === 'consent' && interaction.session?.accountId) {
          // Already signed in: grant consent at once.
          const account = Object.values(ACCOUNTS[instance.name]).find((a) => a.sub === interaction.session.accountId);
          if (account) {
            await finish(ctx, provider, interaction, account, { login: false });
            return;
          }
        }
        ctx.type = 'html';
        ctx.set('cache-control', 'no-store');
        ctx.body = loginForm(instance, interaction);
        return;
      }
      if (isLogin && ctx.method === 'POST') {
        const form = new URLSearchParams(await readBody(ctx.req));
        // The select and a named button both send "login"; the button comes last.
        const login = form.getAll('login').filter(Boolean).pop();
        const account = Object.hasOwn(ACCOUNTS[instance.name], login ?? '') ? ACCOUNTS[instance.name][login] : undefined;
        if (!account) {
          ctx.status = 400;
          ctx.type = 'html';
          ctx.body = page('Unknown account', `<p>No account ${html(login ?? '(none)')} here.</p>`);
          return;
        }
        await finish(ctx, provider, interaction, account);
        return;
      }
      ctx.status = 405;
      return;
    }

    if (ctx.path === '/__test/tamper') {
      if (ctx.method !== 'POST') { ctx.status = 405; return; }
      let rule;
      try { rule = JSON.parse(await readBody(ctx.req)); } catch { rule = undefined; }
      if (!rule || typeof rule.nonce !== 'string' || !rule.nonce || !TAMPER_MODES.has(rule.mode)) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: `want {"nonce": "...", "mode": one of ${[...TAMPER_MODES].join(', ')}}` };
        return;
      }
      tamperRules.set(rule.nonce, rule.mode);
      ctx.status = 204;
      return;
    }

    await next();

    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.status === 200
      && ctx.body && typeof ctx.body === 'object' && typeof ctx.body.id_token === 'string') {
      const { nonce } = jose.decodeJwt(ctx.body.id_token);
      if (typeof nonce === 'string' && tamperRules.has(nonce)) {
        const mode = tamperRules.get(nonce);
        tamperRules.delete(nonce);
        ctx.body = { ...ctx.body, id_token: await tamper(ctx.body.id_token, mode, instance) };
      }
    }
  };
}

async function rsaKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
  return privateKey;
}

async function startInstance(name, port) {
  // The issuer names the port, so with port 0 the server listens before the provider exists:
  // requests that come in meanwhile wait for it.
  let handle;
  const handler = new Promise((resolve) => { handle = resolve; });
  const server = http.createServer((req, res) => { handler.then((h) => h(req, res)); });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;

  const signingKey = await rsaKey();
  const kid = `${name}-${crypto.randomUUID()}`;
  const jwk = {
    ...(await jose.exportJWK(signingKey)), kid, alg: 'RS256', use: 'sig',
  };
  const instance = {
    // The forger's key for the `key` tamper mode is made in the background, not before ready.
    name, issuer, server, signingKey, forgerKey: rsaKey(), kid,
  };
  instance.forgerKey.catch((err) => console.error(`[${name}] could not make the forger's key:`, err));

  const accounts = Object.values(ACCOUNTS[name]);
  const provider = new Provider(issuer, {
    clients: CLIENTS,
    jwks: { keys: [jwk] },
    scopes: ['openid', 'profile', 'email'],
    claims: name === 'orcid'
      ? { openid: ['sub'], profile: ['name', 'given_name', 'family_name'], email: [] }
      : { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'] },
    // The ID token carries the scopes' claims (like ORCID's and Google's), not only the userinfo endpoint.
    conformIdTokenClaims: false,
    async findAccount(ctx, sub) {
      const account = accounts.find((a) => a.sub === sub);
      if (!account) return undefined;
      return { accountId: sub, async claims() { return { ...account }; } };
    },
    pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.body = page('Sign out of the test provider', `${form}
<button type="submit" form="op.logoutForm" value="yes" name="logout" id="logout-yes">Yes, sign me out</button>
<button type="submit" form="op.logoutForm" id="logout-no">No, stay signed in</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.body = page('Signed out of the test provider', '<p>You are signed out.</p>');
        },
      },
    },
    cookies: {
      names: { session: `${name}_session`, interaction: `${name}_interaction`, resume: `${name}_interaction_resume` },
      keys: [crypto.randomBytes(32).toString('base64url')],
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
      RefreshToken: 24 * 3600,
    },
    clientBasedCORS: () => false,
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Test provider error', Object.entries(out)
        .map(([k, v]) => `<p><b>${html(k)}</b>: <span id="${html(k)}">${html(v)}</span></p>`).join('\n'));
    },
  });

  // TEST-ONLY, see LOOPBACK_CALLBACK above.
  provider.Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    return this.redirectUris.includes(value) || LOOPBACK_CALLBACK.test(String(value));
  };

  provider.on('server_error', (ctx, err) => console.error(`[${name}] server_error ${ctx.method} ${ctx.path}:`, err));
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error']) {
    provider.on(event, (ctx, err) => console.error(`[${name}] ${event}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`));
  }

  instance.provider = provider;
  provider.use(testRoutes(instance));
  handle(provider.callback());
  return instance;
}

let instances = [];
async function main() {
  instances = await Promise.all([startInstance('local', args.port), startInstance('orcid', args['orcid-port'])]);
  process.stdout.write(`ready local=${instances[0].issuer} orcid=${instances[1].issuer}\n`);
}

function stop() {
  for (const { server } of instances) {
    server.close();
    server.closeAllConnections();
  }
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

main().catch((err) => {
  console.error('oidc test provider failed to start:', err);
  process.exit(1);
});
