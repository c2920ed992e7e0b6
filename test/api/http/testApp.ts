import type { TestContext } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp, type BuildAppOptions } from '../../../src/api/http/app.ts';
import { silentLogger, type Logger } from '../../../src/common/logger.ts';
import { loadConfig } from '../../../src/config/config.ts';
import { FakeMediaControl, type FakeMediaControlOptions } from '../../helpers/FakeMediaControl.ts';

export interface TestAppOptions extends FakeMediaControlOptions {
  token?: string;
  logger?: Logger;
  events?: BuildAppOptions['events'];
  extraRoutes?: BuildAppOptions['extraRoutes'];
  flows?: BuildAppOptions['flows'];
  metricsRegistries?: BuildAppOptions['metricsRegistries'];
}

export interface TestApp {
  app: FastifyInstance;
  control: FakeMediaControl;
}

/**
 * The app over the in-memory control plane, closed after the test. The control plane is built
 * here only, so the tests run against the real MediaServer by changing this one line.
 */
export async function createTestApp(t: TestContext, opts: TestAppOptions = {}): Promise<TestApp> {
  const control = new FakeMediaControl(opts);
  const config = { ...loadConfig({}), apiToken: opts.token ?? null };
  const app = await buildApp({
    control,
    config,
    logger: opts.logger ?? silentLogger,
    events: opts.events,
    extraRoutes: opts.extraRoutes,
    flows: opts.flows,
    ...(opts.metricsRegistries !== undefined ? { metricsRegistries: opts.metricsRegistries } : {}),
  });
  t.after(() => app.close());
  await app.ready();
  return { app, control };
}

/** An offer as a B2BUA would pass it on from the caller's INVITE (RFC 4566). */
export function offerSdp(port = 40000, pts = '0 8 101'): string {
  return [
    'v=0',
    'o=caller 1 1 IN IP4 192.0.2.10',
    's=-',
    'c=IN IP4 192.0.2.10',
    't=0 0',
    `m=audio ${port} RTP/AVP ${pts}`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}
