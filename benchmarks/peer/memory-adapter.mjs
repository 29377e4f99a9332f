// oidc-provider storage in this process's memory, for the peer's best case:
// one Node process that needs no shared store (PEER_STORAGE=memory).
// oidc-provider's own development adapter keeps at most 1,000 entries (an
// LRU), fewer than the codes and tokens the benchmark mints ahead of a run;
// this one keeps every entry until it expires.

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

export function createMemoryAdapter() {
  const entries = new Map(); // key -> { payload, expiresAt }
  const grants = new Map(); // grantId -> [key]
  const uids = new Map();
  const userCodes = new Map();

  const live = (key) => {
    const entry = entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt && entry.expiresAt <= Date.now()) {
      entries.delete(key);
      return undefined;
    }
    return entry.payload;
  };

  return class MemoryAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      entries.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : 0 });
      if (GRANTABLE.has(this.model) && payload.grantId) {
        const keys = grants.get(payload.grantId) || [];
        keys.push(key);
        grants.set(payload.grantId, keys);
      }
      if (this.model === 'Session' && payload.uid) uids.set(payload.uid, id);
      if (payload.userCode) userCodes.set(payload.userCode, id);
    }

    async find(id) {
      return live(this.key(id));
    }

    async findByUid(uid) {
      const id = uids.get(uid);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = userCodes.get(userCode);
      return id ? this.find(id) : undefined;
    }

    async destroy(id) {
      entries.delete(this.key(id));
    }

    async consume(id) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async revokeByGrantId(grantId) {
      for (const key of grants.get(grantId) || []) entries.delete(key);
      grants.delete(grantId);
    }
  };
}
