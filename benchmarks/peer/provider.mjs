// oidc-provider configuration, kept equivalent to our Django identity
// provider for the scenarios the benchmark drives (code exchange, refresh,
// introspection, discovery). Used by the cluster workers, which serve HTTP,
// and by the primary process, which only mints artefacts (see mint.mjs).

import Provider from 'oidc-provider';

export const CLIENT_ID = 'bench-client';
export const REDIRECT_URI = 'https://client.example.com/callback';
export const ACCOUNT_ID = 'bench-user';

const DAY = 24 * 60 * 60;

// Same rule as oidc-provider's default policies (a public client may not
// introspect or revoke another client's token), defined here so that the
// library does not print its "you SHOULD change it" notice on stdout.
function introspectionAllowed(ctx, client, token) {
  return !(client.clientAuthMethod === 'none' && token.clientId !== client.clientId);
}

function revocationAllowed(ctx, client, token) {
  return token.clientId === client.clientId;
}

// Any account id exists; its claims are derived from the id.
async function findAccount(ctx, id) {
  return {
    accountId: id,
    async claims() {
      return { sub: id, email: `${id}@example.com`, name: `Bench User ${id}` };
    },
  };
}

/**
 * @param {object} options
 * @param {string} options.issuer
 * @param {string} options.clientSecret
 * @param {{ keys: object[] }} options.jwks   private signing JWKS (RS256)
 * @param {string[]} options.cookieKeys
 * @param {Function} options.Adapter         from createRedisAdapter()
 */
export function createProvider({
  issuer, clientSecret, jwks, cookieKeys, Adapter,
}) {
  const provider = new Provider(issuer, {
    adapter: Adapter,
    jwks,
    cookies: { keys: cookieKeys },

    clients: [{
      client_id: CLIENT_ID,
      client_secret: clientSecret,
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    responseTypes: ['code'],

    scopes: ['openid', 'offline_access', 'profile', 'email', 'tasks:read', 'tasks:write'],
    claims: {
      openid: ['sub'],
      email: ['email'],
      profile: ['name'],
    },
    findAccount,

    // PKCE is required for every authorization request. oidc-provider 9
    // implements only S256 (discovery: code_challenge_methods_supported).
    pkce: { required: () => true },
    // RFC 6749 §4.1.3: redirect_uri must be sent at the token endpoint when it
    // was sent to the authorization endpoint; do not fill it in for the client.
    allowOmittingSingleRegisteredRedirectUri: false,

    // A refresh token on every code exchange, as django-oauth-toolkit does
    // (the minted codes carry offline_access anyway, so the default rule,
    // "only with offline_access", would give the same result).
    issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Every refresh rotates: the old token is consumed, and presenting it
    // again fails and revokes the whole grant.
    rotateRefreshToken: true,
    // Tokens are not tied to a browser session (there is none in the benchmark).
    expiresWithSession: () => false,

    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 3600, // codes are minted ahead of a run
      IdToken: 3600,
      RefreshToken: 30 * DAY,
      Grant: 30 * DAY,
      Session: 30 * DAY,
      Interaction: 3600,
    },

    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true, allowedPolicy: introspectionAllowed },
      revocation: { enabled: true, allowedPolicy: revocationAllowed },
      // Disabled so that no resource server (and so no JWT access token
      // format) can be selected: access tokens are always opaque, stored in
      // Redis and checked by introspection.
      resourceIndicators: { enabled: false },
    },

    // Defined only to keep the library's default-function notices off stdout.
    clientBasedCORS: () => false,
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  // 4xx outcomes (invalid_grant and the like) are expected and not logged;
  // 500s are.
  provider.on('server_error', (ctx, err) => {
    console.error(`server_error ${ctx.method} ${ctx.path}:`, err);
  });

  return provider;
}
