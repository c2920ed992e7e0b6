import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp } from '../../src/api/http/app.ts';
import { silentLogger } from '../../src/common/logger.ts';
import { freeUdpPortPair, run } from '../helpers/proc.ts';
import { nextEvent, startServer } from '../helpers/server.ts';
import { SipUas } from '../helpers/sip/SipUas.ts';
import { needs } from '../helpers/peers.ts';

/**
 * The SIP test shim that the baresip tests call through, checked by a UA nobody here wrote:
 * SIPp's built-in uac scenario (INVITE with SDP, 200 expected, ACK, BYE, 200 expected) fails
 * on any missing or unexpected response.
 */
test(
  "the SIP test shim completes SIPp's uac scenario: INVITE → endpoint with our answer, BYE → endpoint deleted",
  needs('sipp'),
  async (t) => {
    const server = await startServer();
    t.after(() => server.close());
    const app = await buildApp({ control: server, config: server.config, logger: silentLogger });
    t.after(() => app.close());
    const uas = await SipUas.listen({ app, events: server.events });
    t.after(() => uas.close());

    const created = nextEvent(server, 'endpoint.created', () => true, 20_000);
    const deleted = nextEvent(server, 'endpoint.deleted', () => true, 20_000);
    const answered = uas.nextCall(20_000);
    const sipPort = await freeUdpPortPair();
    const mediaPort = await freeUdpPortPair();
    const sipp = run(
      'sipp',
      [
        '-sn',
        'uac',
        '-s',
        'ivr',
        '-m',
        '1',
        '-l',
        '1',
        '-d',
        '200',
        '-i',
        '127.0.0.1',
        '-p',
        String(sipPort),
        '-mp',
        String(mediaPort),
        '-timeout',
        '20s',
        '-timeout_error',
        '-nostdin',
        '-trace_err',
        '-error_file',
        '/dev/stderr',
        `127.0.0.1:${uas.port}`,
      ],
      30_000,
    );
    const call = await answered;
    const result = await sipp.done;
    assert.equal(
      result.code,
      0,
      `SIPp failed (${result.code}):\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`,
    );
    assert.equal(await call.ended, 'caller-bye');
    assert.equal((await created).endpoint_id, call.endpointId);
    assert.equal((await deleted).endpoint_id, call.endpointId);
    assert.match(call.answers[0]!, /^m=audio \d+ RTP\/AVP 0( 101)?\r?$/m, 'our answer: PCMU, as SIPp offered');
  },
);
