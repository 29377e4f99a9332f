// Mint server: creates authorization codes, refresh tokens and access tokens
// directly through the provider's models, as the authorization endpoint
// would after a login and consent, so that a run needs no browser flow.
// Loopback only; served by the cluster primary.

import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import { ACCOUNT_ID, CLIENT_ID, REDIRECT_URI } from './provider.mjs';

export const MAX_COUNT = 200_000;
const CHUNK = 1_000; // items in flight at once
const SCOPE = 'openid offline_access tasks:read';

const epochTime = () => Math.floor(Date.now() / 1000);

/**
 * One Grant per item, like one login and consent per item. Sharing a grant
 * would make every token revocable together (a replayed code or refresh token
 * revokes its whole grant) and grow one Redis list to `count` entries.
 */
async function saveGrant(provider) {
  const grant = new provider.Grant({ accountId: ACCOUNT_ID, clientId: CLIENT_ID });
  grant.addOIDCScope(SCOPE);
  return grant.save();
}

// The login a minted item stands for: the fields that the authorization
// endpoint copies from the browser session onto a code
// (lib/helpers/process_response_types.js), and from there onto the tokens.
// With expiresWithSession false no Session record is ever looked up, so the
// sessionUid only gives the stored records their usual shape and size.
const login = () => ({
  accountId: ACCOUNT_ID,
  authTime: epochTime(),
  sessionUid: randomBytes(16).toString('base64url'),
  expiresWithSession: false,
});

async function mintCode(provider, client) {
  const verifier = randomBytes(32).toString('base64url'); // 43 characters
  const grantId = await saveGrant(provider);
  const code = new provider.AuthorizationCode({
    ...login(),
    client,
    grantId,
    scope: SCOPE,
    redirectUri: REDIRECT_URI,
    codeChallenge: createHash('sha256').update(verifier).digest('base64url'),
    codeChallengeMethod: 'S256',
  });
  return { code: await code.save(), verifier };
}

async function mintRefresh(provider, client) {
  const grantId = await saveGrant(provider);
  const token = new provider.RefreshToken({
    ...login(),
    client,
    grantId,
    scope: SCOPE,
    gty: 'authorization_code',
    rotations: 0,
  });
  return token.save();
}

async function mintAccess(provider, client) {
  const grantId = await saveGrant(provider);
  // Models keep only the fields they declare (IN_PAYLOAD): authTime is dropped.
  const token = new provider.AccessToken({
    ...login(),
    client,
    grantId,
    scope: SCOPE,
    gty: 'authorization_code',
  });
  return token.save(); // no resource server: the opaque format
}

const MINTERS = { code: mintCode, refresh: mintRefresh, access: mintAccess };

export async function mint(provider, kind, count) {
  const mintOne = MINTERS[kind];
  const client = await provider.Client.find(CLIENT_ID);
  const out = [];
  for (let done = 0; done < count; done += CHUNK) {
    const n = Math.min(CHUNK, count - done);
    out.push(...await Promise.all(Array.from({ length: n }, () => mintOne(provider, client))));
  }
  return out;
}

function send(res, status, body) {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(json),
  });
  res.end(json);
}

async function readJson(req, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(chunk);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/** POST /mint {"kind": "code"|"refresh"|"access", "count": N} -> JSON array. */
export function createMintServer(provider) {
  return createServer(async (req, res) => {
    if (req.url !== '/mint') return send(res, 404, { error: 'not found' });
    if (req.method !== 'POST') return send(res, 405, { error: 'use POST' });

    let kind;
    let count;
    try {
      ({ kind, count } = await readJson(req));
    } catch {
      return send(res, 400, { error: 'body must be JSON {"kind": ..., "count": ...}' });
    }
    if (!Object.hasOwn(MINTERS, kind)) {
      return send(res, 400, { error: 'kind must be "code", "refresh" or "access"' });
    }
    if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
      return send(res, 400, { error: `count must be an integer from 1 to ${MAX_COUNT}` });
    }

    try {
      return send(res, 200, await mint(provider, kind, count));
    } catch (err) {
      console.error(`mint ${kind} x${count} failed:`, err);
      return send(res, 500, { error: 'mint failed' });
    }
  });
}
