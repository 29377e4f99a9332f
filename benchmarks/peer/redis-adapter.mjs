// oidc-provider storage adapter backed by Redis.
//
// Rewritten (ESM, ioredis 6) after oidc-provider's example/adapters/redis.js.
// Every cluster worker and the mint server use it, so a code minted by the
// primary process or a token issued by one worker is found by any other.
//
// Key layout, after the client's keyPrefix (PEER_REDIS_PREFIX):
//   <Model>:<id>      JSON string, or for consumable models a hash
//                     { payload: JSON, consumed?: epoch seconds }
//   grant:<grantId>   list of the <Model>:<id> keys issued under a grant,
//                     so that revokeByGrantId can delete them all
//   uid:<uid>         Session uid -> session id (unused by the benchmark)
//   userCode:<code>   device flow user code -> id (unused by the benchmark)

// Models whose records are marked "consumed" instead of being deleted: reuse
// of a consumed code or refresh token is detected and revokes the grant.
const CONSUMABLE = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

// Models that carry a grantId and are revoked together with their grant.
const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

const grantKeyFor = (grantId) => `grant:${grantId}`;
const uidKeyFor = (uid) => `uid:${uid}`;
const userCodeKeyFor = (userCode) => `userCode:${userCode}`;

/**
 * Returns an adapter class for oidc-provider's `adapter` option, bound to one
 * ioredis client (created with `keyPrefix`, and ideally `enableAutoPipelining`).
 */
export function createRedisAdapter(redis) {
  // Marks a record consumed only if it still exists: a plain HSET on an
  // expired key would create a hash without a TTL.
  redis.defineCommand('oidcConsume', {
    numberOfKeys: 1,
    lua: `if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.call('HSET', KEYS[1], 'consumed', ARGV[1])
end
return 0`,
  });

  return class RedisAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    // Plain commands rather than the example's MULTI/EXEC: with
    // enableAutoPipelining the commands of all concurrent requests share one
    // socket write, where each MULTI block is a write of its own. Redis runs
    // them in the order sent; only atomicity is given up, which no reader
    // here relies on.
    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      const json = JSON.stringify(payload);
      const pending = [];

      if (CONSUMABLE.has(this.model)) {
        pending.push(redis.hset(key, 'payload', json));
        if (expiresIn) pending.push(redis.expire(key, expiresIn));
      } else if (expiresIn) {
        pending.push(redis.set(key, json, 'EX', expiresIn));
      } else {
        pending.push(redis.set(key, json));
      }

      if (GRANTABLE.has(this.model) && payload.grantId) {
        const grantKey = grantKeyFor(payload.grantId);
        // The list holds keys without the client prefix; DEL re-applies it.
        pending.push(redis.rpush(grantKey, key));
        if (expiresIn) {
          // The list lives as long as its longest-lived member: NX gives a
          // new list its first TTL, GT only ever extends it (Redis >= 7.0).
          pending.push(redis.expire(grantKey, expiresIn, 'NX'));
          pending.push(redis.expire(grantKey, expiresIn, 'GT'));
        }
      }

      if (this.model === 'Session' && payload.uid) {
        const uidKey = uidKeyFor(payload.uid);
        pending.push(expiresIn ? redis.set(uidKey, id, 'EX', expiresIn) : redis.set(uidKey, id));
      }

      if (payload.userCode) {
        const userCodeKey = userCodeKeyFor(payload.userCode);
        pending.push(expiresIn
          ? redis.set(userCodeKey, id, 'EX', expiresIn)
          : redis.set(userCodeKey, id));
      }

      await Promise.all(pending);
    }

    async find(id) {
      const key = this.key(id);

      if (CONSUMABLE.has(this.model)) {
        const data = await redis.hgetall(key);
        if (!data?.payload) return undefined;
        const payload = JSON.parse(data.payload);
        if (data.consumed) payload.consumed = Number(data.consumed);
        return payload;
      }

      const data = await redis.get(key);
      return data ? JSON.parse(data) : undefined;
    }

    async findByUid(uid) {
      const id = await redis.get(uidKeyFor(uid));
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await redis.get(userCodeKeyFor(userCode));
      return id ? this.find(id) : undefined;
    }

    async destroy(id) {
      await redis.del(this.key(id));
    }

    async consume(id) {
      await redis.oidcConsume(this.key(id), Math.floor(Date.now() / 1000));
    }

    // The grant list is shared by all models, so the first model's call
    // deletes everything and the calls for the other models find it empty.
    async revokeByGrantId(grantId) {
      const grantKey = grantKeyFor(grantId);
      const keys = await redis.lrange(grantKey, 0, -1);
      await redis.del(...keys, grantKey);
    }
  };
}

/**
 * Deletes every key under `prefix` with SCAN + UNLINK (never FLUSHDB or
 * FLUSHALL: the Redis server may hold other data). `redis` must be a client
 * without keyPrefix, since ioredis does not prefix SCAN patterns.
 * Returns the number of keys deleted.
 */
export async function deleteKeysWithPrefix(redis, prefix) {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
