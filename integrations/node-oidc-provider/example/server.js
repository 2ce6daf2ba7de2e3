// An authorization server (node-oidc-provider) whose clients are the registrar's: the client
// credentials and authorization code grants, clients authenticating with private_key_jwt
// (their keys from the directory's keystore), and a discovery document whose
// registration_endpoint is the registrar's. A development example: its log-in page takes any
// user name (oidc-provider's development interactions), and it keeps tokens in memory.
//
//   REGISTRAR_URL=http://127.0.0.1:8090 REGISTRAR_TOKEN=... PORT=3000 node example/server.js
//
// Settings (environment): PORT (3000), ISSUER (http://127.0.0.1:PORT), REGISTRAR_URL,
// REGISTRAR_TOKEN (the registrar's clients token), REGISTRATION_ENDPOINT
// (REGISTRAR_URL/register), SCOPES ("openid offline_access accounts payments";
// offline_access enables the refresh_token grant the registrar's clients have), KEYS_TTL_MS
// (60000), STALE_AFTER_MS (10000). STATIC_CLIENT (a client's metadata as JSON, keys inline)
// serves that one client from memory instead of the registrar: the benchmark's reference.
// TLS_CERT_FILE and TLS_KEY_FILE make it listen with TLS, asking (not requiring) a client
// certificate that chains to TLS_CA_FILE (the directory's CA chain): clients may then
// authenticate with tls_client_auth (their transport certificate, its subject the registered
// tls_client_auth_subject_dn), and tokens are bound to certificates when the client asks.

import fs from 'node:fs';
import https from 'node:https';

import Provider from 'oidc-provider';

import {
  EXTRA_CLIENT_METADATA,
  RegistrarClients,
  subjectMatches,
} from '../lib/registrar-clients.js';

const env = process.env;
const port = Number(env.PORT ?? 3000);
const tls = env.TLS_CERT_FILE && env.TLS_KEY_FILE;
if (tls && !env.TLS_CA_FILE) {
  // Without it Node would take any certificate of the public roots for tls_client_auth.
  console.error('TLS_CA_FILE is required with TLS: the directory\'s CA chain, for client certificates');
  process.exit(2);
}
const issuer = env.ISSUER ?? `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
const registrar = env.REGISTRAR_URL;
if (!registrar) {
  console.error('REGISTRAR_URL is required: the registrar this server reads its clients from');
  process.exit(2);
}
const scopes = (env.SCOPES ?? 'openid offline_access accounts payments').split(' ').filter(Boolean);

const staticClient = env.STATIC_CLIENT ? JSON.parse(env.STATIC_CLIENT) : undefined;
const clients = new RegistrarClients({
  url: registrar,
  token: env.REGISTRAR_TOKEN,
  scopes,
  keysTtlMs: Number(env.KEYS_TTL_MS ?? 60_000),
  staleAfterMs: Number(env.STALE_AFTER_MS ?? 10_000),
  log: (message) => console.error(message),
});
if (!staticClient) clients.start();

const provider = new Provider(issuer, {
  ...(staticClient ? { clients: [staticClient] } : { adapter: clients.adapter() }),
  clientAuthMethods: tls ? ['private_key_jwt', 'tls_client_auth'] : ['private_key_jwt'],
  extraClientMetadata: { properties: EXTRA_CLIENT_METADATA },
  scopes,
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: true },
    ...(tls && {
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        certificateBoundAccessTokens: true,
        getCertificate: (ctx) => ctx.socket.getPeerX509Certificate?.(),
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) =>
          property === 'tls_client_auth_subject_dn' &&
          subjectMatches(ctx.socket.getPeerX509Certificate?.(), expected),
      },
    }),
  },
  discovery: {
    registration_endpoint: env.REGISTRATION_ENDPOINT ?? `${registrar.replace(/\/+$/, '')}/register`,
  },
  async findAccount(ctx, id) {
    return { accountId: id, claims: async () => ({ sub: id }) };
  },
});

const listening = () => console.log(`listening ${port}`);
const server = tls
  ? https
      .createServer(
        {
          cert: fs.readFileSync(env.TLS_CERT_FILE),
          key: fs.readFileSync(env.TLS_KEY_FILE),
          ca: fs.readFileSync(env.TLS_CA_FILE),
          requestCert: true,
          rejectUnauthorized: false,
        },
        provider.callback(),
      )
      .listen(port, '127.0.0.1', listening)
  : provider.listen(port, '127.0.0.1', listening);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    server.close();
    await clients.stop();
    process.exit(0);
  });
}
