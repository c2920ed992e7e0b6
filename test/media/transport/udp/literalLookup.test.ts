import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { literalLookup } from '../../../../src/media/transport/udp/literalLookup.ts';

test('literalLookup answers an IPv4 literal at once and still resolves a name through dns', async () => {
  let answered: [string, number] | null = null;
  literalLookup('127.0.0.1', 4, (err, address, family) => {
    assert.equal(err, null);
    answered = [address, family];
  });
  assert.deepEqual(answered, ['127.0.0.1', 4], 'called back inside the call');
  const named = await new Promise<[string, number]>((resolve, reject) =>
    literalLookup('localhost', 4, (err, address, family) => (err ? reject(err) : resolve([address, family]))),
  );
  assert.equal(named[1], 4);
  assert.match(named[0], /^127\./);
});

test('a socket with literalLookup puts the datagram on the wire inside send(): the buffer may be reused right after', async (t) => {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket({ type: 'udp4', lookup: literalLookup });
  t.after(() => {
    rx.close();
    tx.close();
  });
  // With an at-once lookup, bind() reports 'listening' inside the call: listen for it first.
  const listening = Promise.all([once(rx, 'listening'), once(tx, 'listening')]);
  rx.bind(0, '127.0.0.1');
  tx.bind(0, '127.0.0.1');
  await listening;
  const got: number[] = [];
  const both = new Promise<void>((resolve) =>
    rx.on('message', (m) => {
      got.push(m[0]!);
      if (got.length === 2) resolve();
    }),
  );
  const buf = Buffer.alloc(4);
  // With Node's default lookup the send happens a tick later and both datagrams would carry 2.
  buf[0] = 1;
  tx.send(buf, rx.address().port, '127.0.0.1');
  buf[0] = 2;
  tx.send(buf, rx.address().port, '127.0.0.1');
  await both;
  assert.deepEqual(got.sort(), [1, 2]);
});
