import type { Config } from '../config/config.ts';
import type { AdvertisedUrls } from './Cluster.ts';

const ANY = new Set(['0.0.0.0', '::', '']);

/**
 * Where the other instances reach this one: ADVERTISE_API_URL / ADVERTISE_GRPC_URL when set,
 * else the first concrete address of PUBLIC_IP, RTP_BIND_IP, API_HOST with the bound ports
 * (known only after listening when a port is 0). In Kubernetes set both from the pod IP.
 */
export function advertisedUrls(
  config: Pick<Config, 'publicIp' | 'rtpBindIp' | 'apiHost' | 'cluster'>,
  apiPort: number,
  grpcPort: number | null,
): AdvertisedUrls {
  const host =
    [config.publicIp, config.rtpBindIp, config.apiHost].find((h): h is string => h !== null && !ANY.has(h)) ??
    '127.0.0.1';
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    apiUrl: config.cluster?.advertiseApiUrl ?? `http://${hostPart}:${apiPort}`,
    grpcUrl: config.cluster?.advertiseGrpcUrl ?? (grpcPort === null ? null : `${hostPart}:${grpcPort}`),
  };
}
