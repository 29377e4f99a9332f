// Benchmark peer: panva/oidc-provider configured like our Django identity
// provider. See README.md for the environment variables and endpoints.
//
// The primary process clears this peer's Redis keys, generates the secrets
// every process must share (signing key, cookie keys, client secret), serves
// the loopback mint API and forks PEER_WORKERS node:cluster workers, which
// serve the provider on 127.0.0.1:PEER_PORT. All processes store codes,
// tokens and grants in Redis.
//
// PEER_STORAGE=memory is the peer's best case: one process (no workers)
// serves the provider and the mint API, with codes, tokens and grants in its
// own memory (memory-adapter.mjs), and needs no Redis.

import cluster from 'node:cluster';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';

// Production mode whatever the caller's environment says, and no `debug`
// output from oidc-provider (the debug module reads DEBUG when first
// imported, hence the dynamic imports below). Workers inherit this env.
process.env.NODE_ENV = 'production';
delete process.env.DEBUG;

const HOST = '127.0.0.1';
// Internal: how the primary hands the shared secrets to its workers.
const SHARED_ENV = 'PEER_SHARED_STATE';

function fail(message) {
  console.error(`peer: ${message}`);
  process.exit(1);
}

function intFromEnv(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') {
    if (fallback === undefined) fail(`${name} is required`);
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

// Configuration is checked before oidc-provider is loaded, so that a mistake
// is the only thing printed.
const port = intFromEnv('PEER_PORT', undefined, 1, 65535);
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const redisPrefix = process.env.PEER_REDIS_PREFIX || 'oidc-bench:';
const issuer = `http://${HOST}:${port}`;
const storage = process.env.PEER_STORAGE || 'redis';
if (storage !== 'redis' && storage !== 'memory') {
  fail(`PEER_STORAGE must be redis or memory, got ${JSON.stringify(storage)}`);
}
let mintPort;
let workers;
if (cluster.isPrimary) {
  mintPort = intFromEnv('PEER_MINT_PORT', undefined, 1, 65535);
  workers = intFromEnv('PEER_WORKERS', storage === 'memory' ? 1 : availableParallelism(), 1, 1024);
  if (mintPort === port) fail('PEER_MINT_PORT must differ from PEER_PORT');
  if (storage === 'memory' && workers !== 1) {
    fail('PEER_STORAGE=memory runs one process: PEER_WORKERS must be 1 (processes would not share memory)');
  }
}

const { default: Redis } = await import('ioredis');
const { createRedisAdapter, deleteKeysWithPrefix } = await import('./redis-adapter.mjs');
const { createMemoryAdapter } = await import('./memory-adapter.mjs');
const { createProvider } = await import('./provider.mjs');
const { createMintServer } = await import('./mint.mjs');


async function connectRedis(options = {}) {
  const redis = new Redis(redisUrl, { lazyConnect: true, ...options });
  redis.on('error', (err) => console.error(`redis: ${err.message}`));
  await redis.connect();
  return redis;
}

// Connection used by the provider models. Auto-pipelining batches the
// commands of concurrent requests into one write, as a production setup would.
function connectStore() {
  return connectRedis({ keyPrefix: redisPrefix, enableAutoPipelining: true });
}

// RS256 signing key and the other secrets, created once per start.
function createSharedState() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return {
    jwks: {
      keys: [{
        ...jwk, kid: randomBytes(8).toString('base64url'), alg: 'RS256', use: 'sig',
      }],
    },
    cookieKeys: [randomBytes(32).toString('base64url')],
    clientSecret: process.env.PEER_CLIENT_SECRET || randomBytes(48).toString('base64url'),
  };
}

async function runPrimary() {
  // Start from an empty key space (this prefix only).
  const admin = await connectRedis();
  await deleteKeysWithPrefix(admin, redisPrefix);
  await admin.quit();

  const shared = createSharedState();
  const store = await connectStore();
  // Same configuration as the workers; never listens, only its models are
  // used, to mint codes and tokens straight into Redis.
  const provider = createProvider({ issuer, ...shared, Adapter: createRedisAdapter(store) });
  const mintServer = createMintServer(provider);
  await new Promise((resolve, reject) => {
    mintServer.once('error', reject);
    mintServer.listen(mintPort, HOST, resolve);
  });

  let stopping = false;
  const stop = async (code) => {
    if (stopping) return;
    stopping = true;
    const exits = Object.values(cluster.workers).map(
      (worker) => new Promise((resolve) => {
        worker.once('exit', resolve);
        worker.process.kill('SIGTERM');
      }),
    );
    // Do not wait for slow clients; the process is going away.
    setTimeout(() => process.exit(code), 5000).unref();
    mintServer.close();
    mintServer.closeAllConnections();
    await Promise.all(exits);
    await store.quit().catch(() => {});
    process.exit(code);
  };
  process.on('SIGTERM', () => stop(0));
  process.on('SIGINT', () => stop(0));

  // A benchmark must not go on with fewer workers than it reports, so a dead
  // worker stops the peer instead of being replaced.
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    console.error(`peer: worker ${worker.process.pid} exited (code ${code}, signal ${signal}); stopping`);
    stop(1);
  });

  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === workers) {
      process.stdout.write(`peer ready ${issuer}\n`);
    }
  });

  for (let i = 0; i < workers; i += 1) {
    cluster.fork({ [SHARED_ENV]: JSON.stringify(shared) });
  }
}

async function runWorker() {
  const shared = JSON.parse(process.env[SHARED_ENV]);
  delete process.env[SHARED_ENV];

  const store = await connectStore();
  const provider = createProvider({ issuer, ...shared, Adapter: createRedisAdapter(store) });

  const handler = provider.callback();
  // Test aid (smoke.mjs): name the worker that answered.
  const serve = process.env.PEER_WORKER_HEADER === '1'
    ? (req, res) => {
      res.setHeader('x-peer-worker', String(cluster.worker.id));
      handler(req, res);
    }
    : handler;

  const server = createServer(serve);
  server.once('error', (err) => fail(`worker cannot listen on ${HOST}:${port}: ${err.message}`));
  server.listen(port, HOST);

  const stop = () => {
    server.close();
    server.closeAllConnections();
    store.disconnect();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  // Ctrl-C reaches the whole process group; the primary decides when to stop.
  process.on('SIGINT', () => {});
}

// PEER_STORAGE=memory: the provider and the mint API in this one process.
async function runSingle() {
  const shared = createSharedState();
  const provider = createProvider({ issuer, ...shared, Adapter: createMemoryAdapter() });
  const mintServer = createMintServer(provider);
  const server = createServer(provider.callback());
  for (const [listener, listenPort] of [[mintServer, mintPort], [server, port]]) {
    await new Promise((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(listenPort, HOST, resolve);
    });
  }
  const stop = () => {
    for (const listener of [mintServer, server]) {
      listener.close();
      listener.closeAllConnections();
    }
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`peer ready ${issuer}\n`);
}

try {
  if (storage === 'memory') await runSingle();
  else await (cluster.isPrimary ? runPrimary() : runWorker());
} catch (err) {
  console.error('peer: failed to start:', err);
  process.exit(1);
}
