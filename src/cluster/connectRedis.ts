import { Redis } from 'ioredis';
import type { ClusterConfig } from '../config/config.ts';

/**
 * A Redis connection for the cluster. It reconnects forever with a capped back-off (an outage
 * must never crash the instance: it keeps its calls and re-registers when Redis returns), and
 * fails commands at once while disconnected instead of queueing them (`enableOfflineQueue:
 * false`), so a caller can answer 503 CLUSTER_UNAVAILABLE rather than hang. A blocking reader
 * (XREAD BLOCK) needs a connection of its own: call this once per use.
 */
export function connectRedis(config: Pick<ClusterConfig, 'redisUrl'>, name: string): Redis {
  const redis = new Redis(config.redisUrl, {
    connectionName: name,
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  });
  // ioredis emits 'error' on every failed reconnect; the caller watches 'ready'/'end' instead.
  redis.on('error', () => {});
  return redis;
}
