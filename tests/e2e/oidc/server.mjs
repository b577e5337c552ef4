// A real OpenID provider (the certified `oidc-provider`) for jwtgate's end-to-end tests.
//
//   node server.mjs PORT        (or OIDC_PORT=PORT node server.mjs)
//
// Env:
//   OIDC_JWKS_FILE  a JWKS with PRIVATE keys (one EC P-256, one RSA); the test writes it, so it
//                   controls the kids and can restart the provider on the same port with new keys
//   OIDC_RESOURCE   the resource indicator (RFC 8707) tokens are issued for; default urn:jwtgate:orders
//
// Issuer http://127.0.0.1:PORT. Clients (client_credentials, client_secret_basic):
//   es-client / es-secret   access tokens for OIDC_RESOURCE signed ES256
//   rs-client / rs-secret   the same, signed RS256
// Access tokens for the resource are JWTs (RFC 9068, typ at+jwt), aud = the resource, scopes
// orders:read orders:write. DPoP (RFC 9449) is on, as by default: a token request with a DPoP
// proof gets a token bound to the proof's key (cnf.jkt).
//
// stdout, one JSON object a line:
//   {"event":"ready","issuer":...,"port":...,"kids":[...]}   once listening
//   {"event":"request","method":...,"path":...,"ua":...,"host":...}  every request, on arrival
//   {"event":"response","method":...,"path":...,"status":...} when it is answered
// SIGTERM/SIGINT: close every connection and exit 0.

import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node server.mjs PORT (or OIDC_PORT)');
  process.exit(2);
}
const jwksFile = process.env.OIDC_JWKS_FILE;
if (!jwksFile) {
  console.error('OIDC_JWKS_FILE is required (a JWKS with private keys)');
  process.exit(2);
}
const jwks = JSON.parse(readFileSync(jwksFile, 'utf8'));
const RESOURCE = process.env.OIDC_RESOURCE || 'urn:jwtgate:orders';
const SCOPES = 'orders:read orders:write';
const ALG_BY_CLIENT = { 'es-client': 'ES256', 'rs-client': 'RS256' };

const issuer = `http://127.0.0.1:${port}`;

const client = (id, secret) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: SCOPES,
});

const provider = new Provider(issuer, {
  clients: [client('es-client', 'es-secret'), client('rs-client', 'rs-secret')],
  jwks,
  scopes: ['openid', ...SCOPES.split(' ')],
  ttl: { ClientCredentials: 600 },
  cookies: { keys: ['jwtgate-e2e-cookie-key-not-secret'] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resourceIndicator, c) => {
        if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience: RESOURCE,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: ALG_BY_CLIENT[c.clientId] ?? 'ES256' } },
        };
      },
    },
  },
});

const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

provider.use(async (ctx, next) => {
  emit({
    event: 'request', method: ctx.method, path: ctx.path, ua: ctx.get('user-agent'), host: ctx.get('host'),
  });
  try {
    await next();
  } finally {
    emit({ event: 'response', method: ctx.method, path: ctx.path, status: ctx.status });
  }
});

provider.on('server_error', (ctx, err) => {
  console.error('server_error', ctx?.path, err);
});

const server = provider.listen(port, '127.0.0.1', () => {
  emit({ event: 'ready', issuer, port, kids: jwks.keys.map((k) => k.kid) });
});
server.on('error', (err) => {
  console.error(`listen failed: ${err.message}`);
  process.exit(1);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
