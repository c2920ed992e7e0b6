import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ValidationError } from '../../../src/common/errors.ts';
import { DestinationPolicy, parseDestinationList } from '../../../src/common/net/DestinationPolicy.ts';
import { loadConfig } from '../../../src/config/config.ts';

test('DestinationPolicy refuses loopback, link-local, metadata, unspecified, multicast and broadcast by default', () => {
  const p = new DestinationPolicy();
  for (const a of [
    '127.0.0.1',
    '127.9.9.9',
    '169.254.169.254',
    '169.254.1.1',
    '100.100.100.200',
    '0.0.0.0',
    '224.0.0.1',
    '239.1.1.1',
    '255.255.255.255',
    '::1',
    '::',
    'fe80::1',
    'ff02::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:169.254.169.254',
  ]) {
    assert.equal(p.allows('media.example.com', a), false, a);
    assert.equal(p.allowsHost(a), false, `literal ${a}`);
  }
  assert.equal(p.allowsHost('[::1]'), false);
  for (const h of ['metadata.google.internal', 'METADATA.google.internal.', 'metadata.goog'])
    assert.equal(p.allowsHost(h), false, h);
  for (const a of ['93.184.216.34', '10.1.2.3', '192.168.1.10', '2001:db8::1'])
    assert.equal(p.allows('media.example.com', a), true, a);
  assert.equal(p.allowsHost('media.example.com'), true);
});

test('DestinationPolicy: MEDIA_FETCH_ALLOW entries win over denials; MEDIA_FETCH_DENY adds ranges and names', () => {
  const p = new DestinationPolicy({
    allow: ['127.0.0.1', 'media.internal', '*.cdn.example'],
    deny: ['10.0.0.0/8', 'fd12::/16', 'bad.example', '*.evil.example'],
  });
  assert.equal(p.allows('x', '127.0.0.1'), true);
  assert.equal(p.allows('x', '127.0.0.2'), false, 'only the listed address');
  assert.equal(p.allows('x', '10.9.9.9'), false);
  assert.equal(p.allows('x', 'fd12::5'), false);
  assert.equal(p.allows('media.internal', '10.9.9.9'), true, 'an allowed name is trusted whatever it resolves to');
  assert.equal(p.allows('a.cdn.example', '169.254.169.254'), true);
  assert.equal(p.allowsHost('cdn.example'), true, 'the wildcard is for names below it, and nothing denies this one');
  assert.equal(p.allowsHost('bad.example'), false);
  assert.equal(p.allowsHost('x.evil.example'), false);
  assert.equal(p.allowsHost('evil.example'), true);
  // allow-list only: deny everything, allow one name
  const only = new DestinationPolicy({ allow: ['media.example.com'], deny: ['0.0.0.0/0', '::/0'] });
  assert.equal(only.allows('media.example.com', '93.184.216.34'), true);
  assert.equal(only.allows('other.example.com', '93.184.216.34'), false);
  assert.equal(only.allows('other.example.com', '2001:db8::1'), false);
});

test('MEDIA_FETCH_ALLOW / MEDIA_FETCH_DENY are validated at start with the entry named', () => {
  assert.deepEqual(parseDestinationList(' 127.0.0.1 , ::1,10.0.0.0/8,,media.example.com ', 'MEDIA_FETCH_ALLOW'), [
    '127.0.0.1',
    '::1',
    '10.0.0.0/8',
    'media.example.com',
  ]);
  const c = loadConfig({ MEDIA_FETCH_ALLOW: '127.0.0.1', MEDIA_FETCH_DENY: '192.168.0.0/16' });
  assert.deepEqual([c.mediaFetchAllow, c.mediaFetchDeny], [['127.0.0.1'], ['192.168.0.0/16']]);
  assert.deepEqual(loadConfig({}).mediaFetchAllow, []);
  for (const bad of ['10.0.0.0/33', 'fe80::/129', '1.2.3.4/x', 'not a host', 'http://x.example']) {
    assert.throws(
      () => loadConfig({ MEDIA_FETCH_DENY: bad }),
      (e: unknown) =>
        e instanceof ValidationError && e.code === 'INVALID_CONFIG' && e.message.includes(`MEDIA_FETCH_DENY: "${bad}"`),
      bad,
    );
  }
});
