// The driver of scripts/bench/as-loop.sh (Node.js built-ins only): client credentials token
// requests with private_key_jwt assertions (PS256, signed here) against two node-oidc-provider
// servers, alternating rounds: DYNAMIC reads the client from the registrar through the adapter,
// STATIC has the same client configured in memory. Then SUSPENSIONS times: the directory
// suspends the product, and the time until DYNAMIC's token endpoint answers invalid_client is
// measured (from the directory's answer to the suspension); the product is reinstated and the
// next round waits for a token again. Prints one JSON object.
import crypto from 'node:crypto';
import fs from 'node:fs';

const env = process.env;
const key = crypto.createPrivateKey(fs.readFileSync(env.KEY_FILE));
const b64 = (data) => Buffer.from(data).toString('base64url');

function assertion(issuer) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64(JSON.stringify({ alg: 'PS256', kid: env.KID, typ: 'JWT' }));
  const claims = b64(
    JSON.stringify({
      iss: env.CLIENT_ID,
      sub: env.CLIENT_ID,
      aud: issuer,
      iat: now,
      exp: now + 60,
      jti: crypto.randomUUID(),
    }),
  );
  const signature = crypto.sign('sha256', Buffer.from(`${header}.${claims}`), {
    key,
    padding: crypto.constants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
  return `${header}.${claims}.${b64(signature)}`;
}

async function token(issuer) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    scope: 'accounts',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: assertion(issuer),
  });
  const response = await fetch(`${issuer}/token`, { method: 'POST', body });
  await response.arrayBuffer();
  return response.status;
}

/** `requests` token requests, `concurrency` at a time: requests per second and failures. */
async function round(issuer, requests, concurrency) {
  let started = 0;
  let failed = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < requests) {
        started += 1;
        if ((await token(issuer)) !== 200) failed += 1;
      }
    }),
  );
  return { rps: requests / ((performance.now() - t0) / 1000), failed };
}

async function decide(action) {
  const response = await fetch(`${env.BASE}/api/v1/software/${env.SOFTWARE}/${action}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.OP_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ reason: 'benchmark' }),
  });
  if (!response.ok) throw new Error(`${action}: ${response.status} ${await response.text()}`);
}

async function until(issuer, status) {
  const t0 = performance.now();
  for (;;) {
    if ((await token(issuer)) === status) return performance.now() - t0;
    if (performance.now() - t0 > 30_000) throw new Error(`no ${status} within 30 s`);
  }
}

const percentile = (values, p) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

const rounds = Number(env.ROUNDS ?? 3);
const requests = Number(env.REQUESTS ?? 2000);
const concurrency = Number(env.CONCURRENCY ?? 8);
// Warm both (the first request fetches keys and builds the client).
await until(env.DYNAMIC, 200);
await until(env.STATIC, 200);
const dynamic = [];
const statics = [];
let failures = 0;
for (let i = 0; i < rounds; i += 1) {
  const order = i % 2 === 0 ? [env.DYNAMIC, env.STATIC] : [env.STATIC, env.DYNAMIC];
  for (const issuer of order) {
    const { rps, failed } = await round(issuer, requests, concurrency);
    failures += failed;
    (issuer === env.DYNAMIC ? dynamic : statics).push(rps);
  }
}
const latencies = [];
for (let i = 0; i < Number(env.SUSPENSIONS ?? 50); i += 1) {
  await decide('suspend');
  latencies.push(await until(env.DYNAMIC, 401));
  await decide('reinstate');
  await until(env.DYNAMIC, 200);
}
const median = (values) => percentile(values, 50);
console.log(
  JSON.stringify({
    dynamic_rps: dynamic.map(Math.round),
    static_rps: statics.map(Math.round),
    ratio: median(dynamic) / median(statics),
    failures,
    suspension_ms: {
      count: latencies.length,
      p50: Math.round(percentile(latencies, 50)),
      p99: Math.round(percentile(latencies, 99)),
      max: Math.round(Math.max(...latencies)),
    },
  }),
);
