// node-oidc-provider as a peer for Jeton's side-by-side benchmark (bench/run).
//
// One client-credentials client, introspection on, opaque access tokens (the library's default
// for client credentials without resource indicators), and the library's default in-memory
// adapter: what node-oidc-provider runs with when no database adapter is configured. One node
// process; bench/run starts it with NODE_ENV=production.
//
// Usage: PORT=4000 CLIENT_ID=bench CLIENT_SECRET=... node server.js
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 4000);
const clientId = process.env.CLIENT_ID || 'bench';
const clientSecret = process.env.CLIENT_SECRET;
if (!clientSecret) {
  console.error('CLIENT_SECRET is required');
  process.exit(2);
}

// A fresh signing key per run (used for ID tokens and JWKS; opaque access tokens need none).
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'ES256', kid: 'bench' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      introspection_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  scopes: ['openid', 'api'],
  clientBasedCORS: () => false,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      // A client may introspect the tokens it was issued (the default policy warns per call).
      allowedPolicy: (ctx, client, token) => token.clientId === client.clientId,
    },
  },
  ttl: { ClientCredentials: 3600 },
});
provider.proxy = false;

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${process.env.NODE_ENV || 'development'} listening on ${port}`);
});
