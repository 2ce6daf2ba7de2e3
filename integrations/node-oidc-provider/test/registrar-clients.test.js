// The adapter's own rules, without a registrar: the cache and its bounds, failing closed, and
// the subject comparison of tls_client_auth. (The end-to-end behaviour, with the real
// directory, registrar and node-oidc-provider, is tests/api/authorization_server.rs.)
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { RegistrarClients, dnPairs, subjectMatches } from '../lib/registrar-clients.js';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

const active = {
  client_id: 'c1',
  status: 'active',
  token_endpoint_auth_method: 'private_key_jwt',
  jwks: { keys: [] },
  grant_types: ['client_credentials'],
};

/** A registrar answering `document` for every client, counting the lookups. */
function registrar(document, gate) {
  const calls = [];
  globalThis.fetch = async (url) => {
    calls.push(String(url));
    if (gate) await gate;
    return new Response(JSON.stringify(document), {
      status: 200,
      headers: { etag: '"1"', 'content-type': 'application/json' },
    });
  };
  return calls;
}

function clients(options = {}) {
  const store = new RegistrarClients({ url: 'http://registrar.invalid', ...options });
  store.lastContact = Date.now(); // as if the change feed had just answered
  return store;
}

test('an answer is cached while the feed is current, and a change drops it', async () => {
  const calls = registrar(active);
  const store = clients();
  assert.equal((await store.find('c1')).client_id, 'c1');
  await store.find('c1');
  assert.equal(calls.length, 1, 'the second lookup came from the cache');
  store.forget('c1');
  await store.find('c1');
  assert.equal(calls.length, 2, 'a change is asked again');
});

test('an answer fetched while a change was reported is not kept', async () => {
  let open;
  const gate = new Promise((resolve) => {
    open = resolve;
  });
  const calls = registrar(active, gate);
  const store = clients();
  const pending = store.find('c1');
  store.forget('c1'); // the suspension arrives while the lookup is under way
  open();
  assert.equal((await pending).client_id, 'c1');
  assert.equal(store.cache.has('c1'), false);
  registrar({ ...active, status: 'disabled' });
  assert.equal(await store.find('c1'), undefined, 'asked again: now disabled');
  assert.equal(calls.length, 1);
});

test('a registrar that cannot be asked, or a stale feed, refuses the client', async () => {
  registrar(active);
  const store = clients({ staleAfterMs: 1 });
  assert.ok(await store.find('c1'));
  globalThis.fetch = async () => {
    throw new Error('connection refused');
  };
  await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(await store.find('c1'), undefined, 'the cache is not believed: refused');
});

test('secret clients and disabled clients are refused', async () => {
  registrar({ ...active, token_endpoint_auth_method: 'client_secret_basic' });
  assert.equal(await clients().find('c1'), undefined);
  registrar({ ...active, status: 'disabled' });
  assert.equal(await clients().find('c1'), undefined);
});

test('the cache holds at most maxEntries clients', async () => {
  globalThis.fetch = async () => new Response('{}', { status: 404 });
  const store = clients({ maxEntries: 3 });
  for (let i = 0; i < 20; i += 1) assert.equal(await store.find(`random-${i}`), undefined);
  assert.ok(store.cache.size <= 3, `${store.cache.size} cached`);
});

test('subjects compare as RFC 4514 attribute sets', () => {
  const expected = 'organizationIdentifier=PSDGB-FCA-1\\, 2,CN=sw,OU=org,O=Bank\\2C Ltd,C=GB';
  assert.deepEqual(dnPairs('CN=a\\,b+OU=c'), [
    ['CN', 'a,b'],
    ['OU', 'c'],
  ]);
  const node = (subject) => ({ subject });
  assert.ok(
    subjectMatches(
      node('C=GB\nO=Bank\\, Ltd\nOU=org\nCN=sw\norganizationIdentifier=PSDGB-FCA-1\\, 2'),
      expected,
    ),
  );
  assert.equal(subjectMatches(node('C=GB\nO=Bank\\, Ltd\nOU=org\nCN=other'), expected), false);
  assert.equal(subjectMatches(node('CN=sw\\0AOU=org'), 'CN=sw,OU=org'), false);
  assert.equal(subjectMatches(undefined, expected), false);
});
