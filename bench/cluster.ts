/**
 * bench:cluster — the cost of forwarding in a cluster of three real instances on one Redis
 * (test/helpers/cluster.ts: src/main.ts processes, MEDIA_WORKERS=1 each):
 *
 *  - latency of an endpoint create, a bridge create and a DTMF send asked of the instance that
 *    owns the call vs asked of another one (placement or owner lookup, then the forwarded
 *    request), and their ratio;
 *  - the placement rate: endpoint creates per second with placement over the three instances
 *    (clients spread over them, no affinity key), against creates that skip placement (the
 *    forwarded marker) in the same run.
 *
 * ITERATIONS (default 200) and CONCURRENCY (default 8) tune it. Run briefly on a shared machine and
 * quote /proc/loadavg with the figures.
 */
import { readFileSync } from 'node:fs';
import { TestCluster, type ClusterInstance } from '../test/helpers/cluster.ts';
import { RtpPeer } from '../test/helpers/RtpPeer.ts';

const ITERATIONS = Number(process.env.ITERATIONS ?? 200);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 8);
const SKIP_PLACEMENT = { 'x-msc-forwarded-by': 'bench' };

function stats(samples: number[]): { p50: number; p95: number } {
  const s = [...samples].sort((x, y) => x - y);
  return { p50: s[Math.floor(s.length / 2)]!, p95: s[Math.floor(s.length * 0.95)]! };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function ok(r: Promise<{ status: number; body: any }>, status: number): Promise<any> {
  const res = await r;
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body;
}

async function main(): Promise<void> {
  const loadBefore = readFileSync('/proc/loadavg', 'utf8').trim();
  const cluster = await TestCluster.start({ instances: 3 });
  const [a, owner] = [cluster.at(0), cluster.at(1)];
  const sink = await RtpPeer.open();
  const results: string[] = [];
  try {
    // the call lives on `owner`: its affinity key is held there
    await ok(owner.request('POST', '/endpoints', { affinity: 'bench-call' }, SKIP_PLACEMENT), 201);
    const sdp = sink.offer(['pcmu']);

    /** `run` answers the milliseconds of the request measured (clean-up after it is not). */
    const measure = async (label: string, run: (via: ClusterInstance) => Promise<number>) => {
      const at: Record<string, number[]> = { owner: [], other: [] };
      for (let i = 0; i < 10; i++) await run(i % 2 === 0 ? owner : a); // warm-up, both paths
      for (let i = 0; i < ITERATIONS; i++) {
        // alternate, so both paths see the same machine load
        at.owner!.push(await run(owner));
        at.other!.push(await run(a));
      }
      const o = stats(at.owner!);
      const n = stats(at.other!);
      results.push(
        `${label.padEnd(16)} owner p50 ${o.p50.toFixed(2)} ms p95 ${o.p95.toFixed(2)} ms | non-owner p50 ${n.p50.toFixed(2)} ms p95 ${n.p95.toFixed(2)} ms | ratio p50 ${(n.p50 / o.p50).toFixed(2)}x`,
      );
    };

    const created: string[] = [];
    await measure('endpoint create', async (via) => {
      let e: { id: string } = { id: '' };
      const ms = await timed(async () => {
        e = await ok(via.request('POST', '/endpoints', { affinity: 'bench-call', remote_sdp: sdp }), 201);
      });
      created.push(e.id);
      if (created.length > 2) await ok(owner.request('DELETE', `/endpoints/${e.id}`), 204);
      return ms;
    });
    const [x, y] = created;
    await measure('bridge create', async (via) => {
      let b: { id: string } = { id: '' };
      const ms = await timed(async () => {
        b = await ok(via.request('POST', '/bridges', { endpoint_a: x, endpoint_b: y }), 201);
      });
      await ok(owner.request('DELETE', `/bridges/${b.id}`), 204);
      return ms;
    });
    await measure('DTMF send', (via) =>
      timed(async () => {
        await ok(via.request('POST', `/endpoints/${x}/dtmf`, { digits: '1', duration_ms: 40 }), 202);
      }),
    );
    for (const id of [x, y]) await owner.request('DELETE', `/endpoints/${id}`);

    // placement rate: CONCURRENCY clients spread over the three instances
    const rate = async (headers: Record<string, string>) => {
      const ids: Array<[ClusterInstance, string]> = [];
      let next = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async (_, c) => {
          const via = cluster.at(c % 3);
          while (next < ITERATIONS) {
            next++;
            const e = await ok(via.request('POST', '/endpoints', { remote_sdp: sdp }, headers), 201);
            ids.push([via, e.id]);
          }
        }),
      );
      const perSecond = (ITERATIONS / (performance.now() - t0)) * 1000;
      const spread = new Map<string, number>();
      for (const [, id] of ids) {
        const o = (await cluster.ownerOf(id)) ?? '?';
        spread.set(o, (spread.get(o) ?? 0) + 1);
      }
      for (const [via, id] of ids) await via.request('DELETE', `/endpoints/${id}`);
      return {
        perSecond,
        spread: [...spread.entries()]
          .sort()
          .map(([k, v]) => `${k}:${v}`)
          .join(' '),
      };
    };
    const local = await rate(SKIP_PLACEMENT);
    const placed = await rate({});
    results.push(
      `placement rate   ${placed.perSecond.toFixed(0)} creates/s placed (${placed.spread}) vs ${local.perSecond.toFixed(0)} creates/s unplaced (${local.spread}) | ratio ${(placed.perSecond / local.perSecond).toFixed(2)}x`,
    );
  } finally {
    sink.close();
    await cluster.close();
  }
  console.log(`bench:cluster, 3 instances, ${ITERATIONS} iterations, concurrency ${CONCURRENCY}`);
  for (const r of results) console.log(r);
  console.log(`loadavg before: ${loadBefore}; after: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
}

await main();
