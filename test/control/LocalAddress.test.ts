import assert from 'node:assert/strict';
import type os from 'node:os';
import { test } from 'node:test';
import { LocalAddress, firstExternalIpv4 } from '../../src/control/LocalAddress.ts';

type Interfaces = ReturnType<typeof os.networkInterfaces>;
const loopbackOnly: Interfaces = {
  lo: [
    {
      address: '127.0.0.1',
      netmask: '255.0.0.0',
      family: 'IPv4',
      mac: '00:00:00:00:00:00',
      internal: true,
      cidr: '127.0.0.1/8',
    },
  ],
};
const withEth: Interfaces = {
  ...loopbackOnly,
  eth0: [
    {
      address: 'fe80::1',
      netmask: 'ffff:ffff:ffff:ffff::',
      family: 'IPv6',
      mac: '02:00:00:00:00:01',
      internal: false,
      cidr: 'fe80::1/64',
      scopeid: 2,
    },
    {
      address: '198.51.100.20',
      netmask: '255.255.255.0',
      family: 'IPv4',
      mac: '02:00:00:00:00:01',
      internal: false,
      cidr: '198.51.100.20/24',
    },
  ],
};

test('firstExternalIpv4() skips loopback and IPv6, null when there is none', () => {
  assert.equal(firstExternalIpv4(withEth), '198.51.100.20');
  assert.equal(firstExternalIpv4(loopbackOnly), null);
});

test('LocalAddress announces PUBLIC_IP as it is, whatever the bind address', async () => {
  const a = await LocalAddress.resolve({ rtpBindIp: '0.0.0.0', publicIp: '203.0.113.9' }, loopbackOnly);
  assert.equal(a.default, '203.0.113.9');
  assert.equal(a.perPeer, false);
  assert.equal(await a.forPeer('127.0.0.1'), '203.0.113.9');
});

test('LocalAddress announces a specific bind address', async () => {
  const a = await LocalAddress.resolve({ rtpBindIp: '127.0.0.1', publicIp: null }, withEth);
  assert.equal(a.default, '127.0.0.1');
  assert.equal(await a.forPeer('127.0.0.5'), '127.0.0.1');
});

test('LocalAddress on the wildcard: the routing interface per peer, the first external one for offers, never 0.0.0.0', async () => {
  const a = await LocalAddress.resolve({ rtpBindIp: '0.0.0.0', publicIp: null }, withEth);
  assert.equal(a.perPeer, true);
  assert.equal(a.default, '198.51.100.20');
  assert.equal(await a.forPeer('127.0.0.1'), '127.0.0.1');
  assert.equal(await a.forPeer('0.0.0.0'), '198.51.100.20', 'a hold address has no route: the default');
  assert.equal(await a.forPeer(null), '198.51.100.20');
});

test('LocalAddress refuses a wildcard bind with nothing to announce, and a bind address the host does not have', async () => {
  await assert.rejects(
    LocalAddress.resolve({ rtpBindIp: '0.0.0.0', publicIp: null }, loopbackOnly),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INVALID_CONFIG');
      assert.match(err.message, /PUBLIC_IP/);
      return true;
    },
  );
  await assert.rejects(
    LocalAddress.resolve({ rtpBindIp: '203.0.113.77', publicIp: '203.0.113.77' }),
    /EADDRNOTAVAIL.*PUBLIC_IP/,
  );
});
