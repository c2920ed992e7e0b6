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
