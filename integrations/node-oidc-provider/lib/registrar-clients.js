// node-oidc-provider reads its clients from ssa-registrar: an adapter for the `Client` model
// (the other models keep oidc-provider's own storage, or yours).
//
// - Each lookup asks the registrar (`GET /clients/{client_id}`) unless a cached answer is
//   still good; `GET /clients/changes` (long polling) drops an entry as soon as the registrar
//   records a change to its client, so a suspension at the directory reaches the token
//   endpoint within about a second.
// - Fail closed: a cached answer is served only while the change feed has answered within
//   `staleAfterMs`; past that every lookup asks the registrar, and a client the registrar
//   cannot be asked about is refused (`find` answers nothing, so oidc-provider says
//   `invalid_client`). A stale "active" is never served more than `staleAfterMs` after the
//   registrar last answered, and never more than `cacheTtlMs` after it was fetched.
// - A disabled client (`status: "disabled"`) is refused.
// - Keys: a client's `jwks_uri` (the directory's keystore) is fetched here, at most
//   `keysTtlMs` old, and handed to oidc-provider inline as `jwks`: oidc-provider then builds a
//   new client (and key set) whenever the keys change, so a key removed from the keystore
//   stops working at most `keysTtlMs` later. (oidc-provider's own `jwks_uri` cache keeps a key
//   that still verifies for as long as the client object lives.) Keys that cannot be fetched
//   and are older than that refuse the client.
// - Clients that authenticate with a shared secret are refused: the registrar keeps only the
//   secret's hash, which oidc-provider cannot check a secret against.

import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

/** Client metadata oidc-provider understands, copied from the registrar's document. */
const COPIED = [
  'client_id',
  'client_id_issued_at',
  'client_name',
  'client_uri',
  'logo_uri',
  'tos_uri',
  'policy_uri',
  'contacts',
  'redirect_uris',
  'grant_types',
  'response_types',
  'application_type',
  'token_endpoint_auth_method',
  'token_endpoint_auth_signing_alg',
  'id_token_signed_response_alg',
  'tls_client_auth_subject_dn',
  'tls_client_certificate_bound_access_tokens',
];

/** What the registrar adds that oidc-provider keeps when told to (`extraClientMetadata`). */
export const EXTRA_CLIENT_METADATA = ['software_id', 'org_id'];

/** Methods that need the client's secret itself. */
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post', 'client_secret_jwt']);

export class RegistrarClients {
  /**
   * @param {object} options
   * @param {string} options.url the registrar's base URL
   * @param {string} [options.token] its clients token (`SSA_REGISTRAR_CLIENTS_TOKEN`)
   * @param {string[]} [options.scopes] the scopes this server grants; a client's `scope` is
   *   narrowed to them
   * @param {number} [options.cacheTtlMs] how long an answer is kept at most (default 60 s)
   * @param {number} [options.staleAfterMs] how long after the change feed last answered the
   *   cache is still believed (default 10 s)
   * @param {number} [options.keysTtlMs] how old a client's fetched keys may be (default 60 s)
   * @param {number} [options.waitSecs] how long one poll of the change feed waits (default:
   *   half of `staleAfterMs`, between 1 and 5 s, so a healthy feed answers well within it)
   * @param {number} [options.maxEntries] the most clients cached (default 10,000; the oldest go
   *   first, and unknown ids are kept for a second at most)
   * @param {(message: string) => void} [options.log]
   */
  constructor({
    url,
    token,
    scopes,
    cacheTtlMs = 60_000,
    staleAfterMs = 10_000,
    keysTtlMs = 60_000,
    waitSecs = Math.max(1, Math.min(5, Math.floor(staleAfterMs / 2000))),
    maxEntries = 10_000,
    log = () => {},
  }) {
    this.url = url.replace(/\/+$/, '');
    this.token = token;
    this.scopes = scopes ? new Set(scopes) : undefined;
    this.cacheTtlMs = cacheTtlMs;
    this.staleAfterMs = staleAfterMs;
    this.keysTtlMs = keysTtlMs;
    this.waitSecs = waitSecs;
    this.log = log;
    /** client_id → { document (or null for unknown), etag, fetchedAt }, oldest first */
    this.cache = new Map();
    /** client_id → how many changes the feed reported: a fetch that began before one is not
     *  cached (its answer may be from before the change). */
    this.generations = new Map();
    this.maxEntries = maxEntries;
    /** jwks_uri → { keys, fetchedAt } */
    this.keys = new Map();
    this.lastContact = 0;
    this.stopped = false;
    this.after = 0;
  }

  /** The `adapter` option for oidc-provider: clients from here, the rest in memory. */
  adapter() {
    return (name) => (name === 'Client' ? new ClientAdapter(this) : new MemoryAdapter(name));
  }

  headers(extra = {}) {
    return this.token ? { authorization: `Bearer ${this.token}`, ...extra } : extra;
  }

  /** Follows the registrar's change feed until `stop()`. */
  start() {
    this.following = this.follow();
    return this;
  }

  async stop() {
    this.stopped = true;
    this.abort?.abort();
    await this.following?.catch(() => {});
  }

  async follow() {
    while (!this.stopped) {
      try {
        this.abort = new AbortController();
        const response = await fetch(
          `${this.url}/clients/changes?after=${this.after}&limit=1000&wait=${this.waitSecs}`,
          {
            headers: this.headers(),
            signal: AbortSignal.any([
              this.abort.signal,
              AbortSignal.timeout((this.waitSecs + 5) * 1000),
            ]),
          },
        );
        if (!response.ok) throw new Error(`the change feed answered ${response.status}`);
        const page = await response.json();
        for (const change of page.changes) {
          if (change.client_id) {
            this.forget(change.client_id);
          } else {
            // A stateless registrar names the software, organisation or statement.
            for (const id of [...this.cache.keys()]) this.forget(id);
            this.epoch = (this.epoch ?? 0) + 1;
          }
        }
        this.after = page.next;
        this.lastContact = Date.now();
      } catch (error) {
        if (this.stopped) return;
        this.log(`registrar change feed: ${error.message}`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** Drops a client's cached answer, and any answer of a fetch under way. */
  forget(id) {
    this.cache.delete(id);
    this.generations.set(id, (this.generations.get(id) ?? 0) + 1);
    if (this.generations.size > this.maxEntries) {
      this.generations.delete(this.generations.keys().next().value);
    }
  }

  /** The change counter a fetch of `id` starts from. */
  generation(id) {
    return `${this.epoch ?? 0}.${this.generations.get(id) ?? 0}`;
  }

  /** Whether the change feed has answered recently enough for the cache to be believed. */
  feedIsCurrent() {
    return Date.now() - this.lastContact < this.staleAfterMs;
  }

  /** The registrar's document of `id` (null when it has none), or undefined when it
   *  cannot be asked. */
  async document(id) {
    const cached = this.cache.get(id);
    // Unknown ids are kept briefly: random ids must not fill the cache.
    const ttl = cached?.document === null ? Math.min(1_000, this.cacheTtlMs) : this.cacheTtlMs;
    const fresh = cached && Date.now() - cached.fetchedAt < ttl;
    if (cached && fresh && this.feedIsCurrent()) return cached.document;
    const generation = this.generation(id);
    try {
      const headers = this.headers(cached?.etag ? { 'if-none-match': cached.etag } : {});
      const response = await fetch(`${this.url}/clients/${encodeURIComponent(id)}`, {
        headers,
        signal: AbortSignal.timeout(2_000),
      });
      let document;
      if (response.status === 304 && cached) {
        document = cached.document;
      } else if (response.status === 404) {
        document = null;
      } else if (response.ok) {
        document = await response.json();
      } else {
        throw new Error(`the registrar answered ${response.status}`);
      }
      // A change reported while this fetch was under way: answer, but do not keep, what may
      // be the state from before it.
      this.cache.delete(id);
      if (this.generation(id) === generation) {
        this.cache.set(id, {
          document,
          etag: response.headers.get('etag'),
          fetchedAt: Date.now(),
        });
        if (this.cache.size > this.maxEntries) {
          this.cache.delete(this.cache.keys().next().value);
        }
      }
      return document;
    } catch (error) {
      this.cache.delete(id);
      this.log(`registrar lookup of ${id}: ${error.message}; the client is refused`);
      return undefined;
    }
  }

  /** The client's keys from its `jwks_uri`, at most `keysTtlMs` old; undefined when they
   *  cannot be had. */
  async jwks(uri) {
    const cached = this.keys.get(uri);
    if (cached && Date.now() - cached.fetchedAt < this.keysTtlMs) return cached.keys;
    try {
      const response = await fetch(uri, { signal: AbortSignal.timeout(2_000) });
      if (!response.ok) throw new Error(`${uri} answered ${response.status}`);
      const keys = await response.json();
      if (!Array.isArray(keys?.keys)) throw new Error(`${uri} is not a JWK set`);
      this.keys.set(uri, { keys, fetchedAt: Date.now() });
      return keys;
    } catch (error) {
      this.keys.delete(uri);
      this.log(`keys of a client at ${uri}: ${error.message}; the client is refused`);
      return undefined;
    }
  }

  /** The client as oidc-provider takes it, or undefined (refused). */
  async find(id) {
    const document = await this.document(id);
    if (!document) return undefined;
    if (document.status !== 'active') return undefined;
    const method = document.token_endpoint_auth_method ?? 'client_secret_basic';
    if (SECRET_METHODS.has(method)) {
      this.log(`client ${id} authenticates with a secret, which only the registrar can check`);
      return undefined;
    }
    const metadata = {};
    for (const name of [...COPIED, ...EXTRA_CLIENT_METADATA]) {
      if (document[name] !== undefined) metadata[name] = document[name];
    }
    if (typeof document.scope === 'string') {
      const granted = document.scope
        .split(' ')
        .filter((s) => s && (!this.scopes || this.scopes.has(s)));
      metadata.scope = granted.join(' ');
    }
    const grants = metadata.grant_types ?? ['authorization_code'];
    if (!metadata.response_types && !grants.includes('authorization_code')) {
      metadata.response_types = [];
    }
    if (document.jwks) {
      metadata.jwks = document.jwks;
    } else if (document.jwks_uri) {
      const keys = await this.jwks(document.jwks_uri);
      if (!keys) return undefined;
      metadata.jwks = keys;
    }
    return metadata;
  }
}

/** The `Client` model's adapter: reads only; registration happens at the registrar. */
class ClientAdapter {
  constructor(clients) {
    this.clients = clients;
  }

  async find(id) {
    return this.clients.find(id);
  }

  async upsert() {
    throw new Error('clients are registered at the registrar');
  }

  async destroy() {
    throw new Error('clients are removed at the registrar');
  }
}

/**
 * The attribute-value pairs of a distinguished name in RFC 4514 form (as the directory
 * writes `tls_client_auth_subject_dn`: `CN=…,O=…`), types upper-cased, values unescaped
 * (`\,` and `\2C` alike), multi-valued RDNs (`+`) flattened.
 */
export function dnPairs(dn) {
  const pairs = [];
  let current = '';
  let type;
  const end = () => {
    if (type !== undefined) pairs.push([type.trim().toUpperCase(), current.trim()]);
    current = '';
    type = undefined;
  };
  for (let i = 0; i < dn.length; i += 1) {
    const c = dn[i];
    if (c === '\\') {
      const hex = dn.slice(i + 1, i + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        current += String.fromCharCode(parseInt(hex, 16));
        i += 2;
      } else if (i + 1 < dn.length) {
        current += dn[i + 1];
        i += 1;
      }
    } else if (c === '=' && type === undefined) {
      type = current;
      current = '';
    } else if (c === ',' || c === '+' || c === '\n') {
      end();
    } else {
      current += c;
    }
  }
  end();
  return pairs;
}

/**
 * Whether a client certificate (`crypto.X509Certificate`) has the subject `expected` (RFC
 * 4514). Node prints a subject one attribute per line, escaped as RFC 2253 does; both are
 * compared as sets of type and value.
 */
export function subjectMatches(certificate, expected) {
  if (!certificate || typeof expected !== 'string') return false;
  // Pairs compared as JSON: no value can pass for two attributes.
  const key = (pairs) => JSON.stringify(pairs.map(([t, v]) => [t, v]).sort());
  return key(dnPairs(certificate.subject)) === key(dnPairs(expected));
}
