import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { parseAllDocuments, parse } from 'yaml';
import { loadConfig } from '../../src/config/config.ts';

/** deploy/ stays consistent with the server: known settings, probes, grace periods above the drain. */

const read = (p: string) => fs.readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

/** Every environment variable name the configuration loader reads. */
function knownSettings(): Set<string> {
  const src = read('src/config/config.ts');
  const names = new Set<string>();
  for (const m of src.matchAll(/env(?:\.|\[')([A-Z][A-Z0-9_]+)/g)) names.add(m[1]!);
  for (const m of src.matchAll(/\(\s*env,\s*'([A-Z][A-Z0-9_]+)'/g)) names.add(m[1]!);
  return names;
}

const seconds = (s: string) => Number(/^(\d+)s$/.exec(s)?.[1] ?? NaN);

test('the Kubernetes Deployment: host networking, probes on the operator port, a grace period above DRAIN_TIMEOUT_MS, known settings only', () => {
  const docs = parseAllDocuments(read('deploy/kubernetes/media-server.yaml')).map(
    (d) => d.toJS() as Record<string, any>,
  );
  const deployment = docs.find((d) => d.kind === 'Deployment');
  assert.ok(deployment);
  const pod = deployment.spec.template.spec;
  assert.equal(pod.hostNetwork, true, 'RTP needs the host network (a Service cannot carry a UDP range)');
  const container = pod.containers[0];
  const env = Object.fromEntries(
    (container.env as Array<{ name: string; value?: string }>).map((e) => [e.name, e.value]),
  );
  const known = knownSettings();
  for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is not a setting the server reads`);

  const drainMs = Number(env.DRAIN_TIMEOUT_MS);
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > drainMs, 'the kubelet waits longer than the drain');
  const metricsPort = container.ports.find((p: { name: string }) => p.name === 'metrics');
  assert.equal(String(metricsPort.containerPort), env.METRICS_PORT);
  assert.deepEqual(container.readinessProbe.httpGet, { path: '/ready', port: 'metrics' });
  assert.deepEqual(container.livenessProbe.httpGet, { path: '/health', port: 'metrics' });
  // the values parse as the server would parse them
  const config = loadConfig({
    ...Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined) as Array<[string, string]>),
    PUBLIC_IP: '203.0.113.1',
    API_TOKEN: 'x',
  });
  assert.equal(config.rtpBindIp, '0.0.0.0');
  assert.equal(config.drainTimeoutMs, drainMs);
});

test('the compose file: wildcard bind, PUBLIC_IP announced, a stop grace period above the default drain, known settings only', () => {
  const compose = parse(read('deploy/docker-compose.yml'), { merge: true }) as {
    services: Record<string, { environment: Record<string, string>; stop_grace_period: string }>;
  };
  const known = knownSettings();
  const defaultDrainMs = loadConfig({}).drainTimeoutMs;
  for (const [name, service] of Object.entries(compose.services)) {
    for (const key of Object.keys(service.environment))
      assert.ok(known.has(key), `${name}: ${key} is not a setting the server reads`);
    assert.equal(
      service.environment.RTP_BIND_IP,
      '0.0.0.0',
      `${name} binds the wildcard (PUBLIC_IP is on no interface behind NAT)`,
    );
    assert.match(service.environment.PUBLIC_IP!, /PUBLIC_IP/);
    const drainMs = service.environment.DRAIN_TIMEOUT_MS
      ? Number(service.environment.DRAIN_TIMEOUT_MS)
      : defaultDrainMs;
    assert.ok(seconds(service.stop_grace_period) * 1000 > drainMs, `${name}: stop_grace_period above the drain`);
  }
});

test('the Kubernetes cluster: N instances on one Redis, advertised at the pod IP, a shared recordings volume, known settings only', () => {
  const docs = [
    ...parseAllDocuments(read('deploy/kubernetes/cluster/media-server.yaml')),
    ...parseAllDocuments(read('deploy/kubernetes/cluster/redis.yaml')),
  ].map((d) => d.toJS() as Record<string, any>);
  const deployment = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'media-server-cluster');
  assert.ok(deployment);
  assert.ok(deployment.spec.replicas >= 2, 'a cluster');
  const pod = deployment.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet', 'the Redis Service name resolves from the host network');
  const container = pod.containers[0];
  const entries = container.env as Array<{ name: string; value?: string; valueFrom?: any }>;
  // the pod's own name and address, for $(...) expansion: Kubernetes only expands variables defined before
  const fieldRefs = new Map<string, string>();
  for (const e of entries) if (e.valueFrom?.fieldRef) fieldRefs.set(e.name, e.valueFrom.fieldRef.fieldPath);
  assert.equal(fieldRefs.get('POD_IP'), 'status.podIP');
  assert.equal(fieldRefs.get('POD_NAME'), 'metadata.name');
  const known = knownSettings();
  const env: Record<string, string> = {};
  const fake: Record<string, string> = { POD_IP: '10.0.0.7', POD_NAME: 'media-server-cluster-abc12' };
  for (const [i, e] of entries.entries()) {
    if (e.name === 'POD_IP' || e.name === 'POD_NAME') continue;
    assert.ok(known.has(e.name), `${e.name} is not a setting the server reads`);
    if (e.value === undefined) continue;
    for (const ref of e.value.matchAll(/\$\(([A-Z_]+)\)/g)) {
      const at = entries.findIndex((x) => x.name === ref[1]);
      assert.ok(at >= 0 && at < i, `${e.name} refers to ${ref[1]}, which must be defined before it`);
    }
    env[e.name] = e.value.replace(/\$\(([A-Z_]+)\)/g, (_, n: string) => fake[n] ?? '');
  }
  const config = loadConfig({ ...env, PUBLIC_IP: '203.0.113.1', API_TOKEN: 'x' });
  assert.ok(config.cluster);
  assert.equal(config.cluster.instanceId, 'media-server-cluster-abc12');
  assert.equal(config.cluster.advertiseApiUrl, `http://10.0.0.7:${config.apiPort}`);
  assert.equal(config.cluster.advertiseGrpcUrl, `10.0.0.7:${config.grpcPort}`);
  assert.ok(
    pod.terminationGracePeriodSeconds * 1000 > config.drainTimeoutMs,
    'the kubelet waits longer than the drain',
  );
  assert.ok(config.cluster.memberTtlMs >= 2 * config.cluster.heartbeatMs, 'a member survives a missed heartbeat');

  // REDIS_URL names the Redis Service and its port
  const redisUrl = new URL(config.cluster.redisUrl);
  const redisService = docs.find((d) => d.kind === 'Service' && d.metadata.name === redisUrl.hostname);
  assert.ok(redisService, `a Service named ${redisUrl.hostname}`);
  assert.equal(String(redisService.spec.ports[0].port), redisUrl.port);
  const redis = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === redisUrl.hostname);
  assert.deepEqual(redisService.spec.selector, redis?.spec.template.metadata.labels);

  // recordings on a volume every instance mounts read-write
  const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === config.recordingsDir);
  assert.ok(mount, 'RECORDINGS_DIR is a mounted volume');
  const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
  const claim = docs.find(
    (d) => d.kind === 'PersistentVolumeClaim' && d.metadata.name === volume.persistentVolumeClaim?.claimName,
  );
  assert.deepEqual(claim?.spec.accessModes, ['ReadWriteMany']);

  // the API Service reaches every pod, REST and gRPC
  const api = docs.find((d) => d.kind === 'Service' && d.metadata.name === 'media-server-api');
  assert.ok(api);
  assert.deepEqual(api.spec.selector, deployment.spec.template.metadata.labels);
  const ports = new Set(api.spec.ports.map((p: { targetPort: string }) => p.targetPort));
  assert.ok(ports.has('api') && ports.has('grpc'));
});
