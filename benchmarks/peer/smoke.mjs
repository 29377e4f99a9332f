// Smoke test for the benchmark peer: starts server.mjs on free ports with its
// own Redis key prefix, runs the benchmark scenarios once each, checks that
// any worker can finish what another process started, then stops the server
// and deletes its keys. Exit status 0 when every check passes.
//
//   node smoke.mjs            (or: npm run smoke)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

import Redis from 'ioredis';

import { deleteKeysWithPrefix } from './redis-adapter.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const REDIRECT_URI = 'https://client.example.com/callback';
const WORKERS = 2;

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// One request on a new connection (agent: false), so that the cluster's
// round-robin hands successive requests to different workers.
function http(method, url, { headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({
          status: res.statusCode, headers: res.headers, text, json,
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const form = (fields) => new URLSearchParams(fields).toString();

let passed = 0;
function check(name, condition, detail) {
  if (!condition) {
    throw new assert.AssertionError({ message: `${name}${detail ? `: ${detail}` : ''}` });
  }
  passed += 1;
  console.log(`ok  ${name}`);
}

const port = await freePort();
const mintPort = await freePort();
const prefix = `oidc-bench-smoke-${randomBytes(4).toString('hex')}:`;
const clientSecret = randomBytes(48).toString('base64url');
const issuer = `http://127.0.0.1:${port}`;
const basic = `Basic ${Buffer.from(`bench-client:${clientSecret}`).toString('base64')}`;

const child = spawn(process.execPath, ['server.mjs'], {
  cwd: HERE,
  env: {
    ...process.env,
    PEER_PORT: String(port),
    PEER_MINT_PORT: String(mintPort),
    PEER_WORKERS: String(WORKERS),
    PEER_REDIS_PREFIX: prefix,
    PEER_CLIENT_SECRET: clientSecret,
    PEER_WORKER_HEADER: '1',
  },
  stdio: ['ignore', 'pipe', 'pipe'],
});
let stdout = '';
let stderr = '';
child.stdout.on('data', (c) => { stdout += c; });
child.stderr.on('data', (c) => { stderr += c; });

async function waitForReady(ms = 20000) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (stdout.includes('\n')) return;
    if (child.exitCode !== null) throw new Error(`server exited early:\n${stderr}`);
    await new Promise((r) => { setTimeout(r, 50); });
  }
  throw new Error(`server not ready after ${ms} ms:\n${stderr}`);
}

async function mint(kind, count) {
  const res = await http('POST', `http://127.0.0.1:${mintPort}/mint`, {
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind, count }),
  });
  assert.equal(res.status, 200, `mint ${kind}: ${res.text}`);
  assert.equal(res.json.length, count);
  return res.json;
}

function tokenRequest(endpoint, fields) {
  return http('POST', endpoint, {
    headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: form(fields),
  });
}

function verifyIdToken(idToken, jwks) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (header.alg !== 'RS256' || !jwk) return false;
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  return verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
}

let failed = false;
try {
  await waitForReady();
  check('stdout is exactly "peer ready <issuer>"', stdout === `peer ready ${issuer}\n`, JSON.stringify(stdout));

  // Discovery.
  const disco = await http('GET', `${issuer}/.well-known/openid-configuration`);
  check('discovery 200', disco.status === 200, disco.status);
  const meta = disco.json;
  check('issuer', meta.issuer === issuer, meta.issuer);
  check('PKCE S256 only', JSON.stringify(meta.code_challenge_methods_supported) === '["S256"]');
  check('introspection and revocation endpoints', !!meta.introspection_endpoint && !!meta.revocation_endpoint);
  console.log(`    token: ${meta.token_endpoint}\n    introspection: ${meta.introspection_endpoint}\n    revocation: ${meta.revocation_endpoint}\n    jwks: ${meta.jwks_uri}`);
  const jwks = (await http('GET', meta.jwks_uri)).json;

  // Code exchange.
  const [{ code, verifier }] = await mint('code', 1);
  check('minted code and 43+ char verifier', typeof code === 'string' && verifier.length >= 43);
  const exchangeFields = {
    grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: REDIRECT_URI,
  };
  const exchange = await tokenRequest(meta.token_endpoint, exchangeFields);
  check('code exchange 200', exchange.status === 200, exchange.text);
  const tokens = exchange.json;
  check('access, refresh and ID token', !!(tokens.access_token && tokens.refresh_token && tokens.id_token));
  check('access token is opaque', !tokens.access_token.includes('.'), tokens.access_token);
  check('scope', tokens.scope === 'openid offline_access tasks:read', tokens.scope);
  check('ID token verifies against the JWKS', verifyIdToken(tokens.id_token, jwks));
  const introExchanged = await tokenRequest(meta.introspection_endpoint, { token: tokens.access_token });
  check('exchanged access token active', introExchanged.json?.active === true, introExchanged.text);
  const replay = await tokenRequest(meta.token_endpoint, exchangeFields);
  check('replayed code rejected', replay.status === 400 && replay.json?.error === 'invalid_grant', replay.text);
  // A replayed code revokes its grant and so the tokens issued for it.
  const introRevoked = await tokenRequest(meta.introspection_endpoint, { token: tokens.access_token });
  check('replay revoked the access token', introRevoked.json?.active === false, introRevoked.text);

  // Refresh with rotation.
  const [refreshToken] = await mint('refresh', 1);
  const refreshed = await tokenRequest(meta.token_endpoint, {
    grant_type: 'refresh_token', refresh_token: refreshToken,
  });
  check('refresh 200', refreshed.status === 200, refreshed.text);
  check('refresh rotates', !!refreshed.json.refresh_token && refreshed.json.refresh_token !== refreshToken);
  const reused = await tokenRequest(meta.token_endpoint, {
    grant_type: 'refresh_token', refresh_token: refreshToken,
  });
  check('reused refresh token rejected', reused.status === 400 && reused.json?.error === 'invalid_grant', reused.text);
  // Reuse revokes the grant (RFC 9700 §4.14.2), so the rotated token is dead too.
  const afterReuse = await tokenRequest(meta.token_endpoint, {
    grant_type: 'refresh_token', refresh_token: refreshed.json.refresh_token,
  });
  check('reuse revoked the rotated token', afterReuse.status === 400, afterReuse.text);

  // Introspection.
  const [accessToken] = await mint('access', 1);
  check('minted access token is opaque', !accessToken.includes('.'), accessToken);
  const intro = await tokenRequest(meta.introspection_endpoint, { token: accessToken });
  check('introspection 200 active', intro.status === 200 && intro.json.active === true, intro.text);
  check('introspection claims', intro.json.client_id === 'bench-client' && intro.json.sub === 'bench-user'
    && intro.json.scope === 'openid offline_access tasks:read' && intro.json.token_type === 'Bearer', intro.text);
  const introBogus = await tokenRequest(meta.introspection_endpoint, { token: 'not-a-token' });
  check('unknown token inactive', introBogus.status === 200 && introBogus.json.active === false, introBogus.text);
  const badAuth = await http('POST', meta.token_endpoint, {
    headers: {
      authorization: `Basic ${Buffer.from('bench-client:wrong').toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: form(exchangeFields),
  });
  check('wrong client secret rejected', badAuth.status === 401 && badAuth.json?.error === 'invalid_client', badAuth.text);

  // Across workers: each request on its own connection; codes minted by the
  // primary, exchanged, refreshed and introspected by whichever worker answers.
  const N = 20;
  const codes = await mint('code', N);
  const exchanges = await Promise.all(codes.map((c) => tokenRequest(meta.token_endpoint, {
    grant_type: 'authorization_code', code: c.code, code_verifier: c.verifier, redirect_uri: REDIRECT_URI,
  })));
  check(`${N} code exchanges on separate connections`, exchanges.every((r) => r.status === 200), exchanges.map((r) => r.status).join(','));
  const refreshes = await Promise.all(exchanges.map((r) => tokenRequest(meta.token_endpoint, {
    grant_type: 'refresh_token', refresh_token: r.json.refresh_token,
  })));
  check(`${N} refreshes of those tokens`, refreshes.every((r) => r.status === 200), refreshes.map((r) => r.status).join(','));
  const intros = await Promise.all(refreshes.map((r) => tokenRequest(meta.introspection_endpoint, {
    token: r.json.access_token,
  })));
  check(`${N} introspections of the new access tokens`, intros.every((r) => r.json?.active === true));
  check(`${N} ID tokens verify`, exchanges.every((r) => verifyIdToken(r.json.id_token, jwks)));
  const seen = new Set([...exchanges, ...refreshes, ...intros].map((r) => r.headers['x-peer-worker']));
  check(`answers came from all ${WORKERS} workers`, seen.size === WORKERS, [...seen].join(','));

  // Mint API input checks.
  const badKind = await http('POST', `http://127.0.0.1:${mintPort}/mint`, { body: '{"kind":"x","count":1}' });
  const tooMany = await http('POST', `http://127.0.0.1:${mintPort}/mint`, { body: '{"kind":"code","count":200001}' });
  check('mint rejects bad input', badKind.status === 400 && tooMany.status === 400);
} catch (err) {
  failed = true;
  console.error(`FAIL ${err.message}`);
} finally {
  child.kill('SIGTERM');
  const code = await new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (c) => resolve(c));
  });
  if (code !== 0) {
    failed = true;
    console.error(`FAIL server exit code ${code}`);
  }
  if (stderr.trim()) console.log(`server stderr:\n${stderr.trimEnd()}`);

  const redis = new Redis(process.env.REDIS_URL || 'redis://127.0.0.1:6379');
  const deleted = await deleteKeysWithPrefix(redis, prefix);
  await redis.quit();
  console.log(`deleted ${deleted} Redis keys under ${prefix}`);
}

console.log(failed ? `FAILED after ${passed} checks` : `PASS: ${passed} checks`);
process.exit(failed ? 1 : 0);
