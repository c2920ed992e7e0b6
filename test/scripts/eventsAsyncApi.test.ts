import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { ASYNCAPI_PATH, renderAsyncApi } from '../../scripts/eventsAsyncApi.ts';
import { SERVER_EVENT_TYPES } from '../../src/control/events.ts';

test('schemas/events/asyncapi.yaml is current (npm run schemas:events) and names every event type', () => {
  const committed = readFileSync(ASYNCAPI_PATH, 'utf8');
  assert.equal(committed, renderAsyncApi());
  const doc = parse(committed) as {
    asyncapi: string;
    channels: { events: { address: string; messages: Record<string, { $ref: string }> } };
    components: { messages: Record<string, { payload: { $ref: string } }> };
  };
  assert.equal(doc.asyncapi, '3.0.0');
  assert.equal(doc.channels.events.address, '/events');
  assert.deepEqual(Object.keys(doc.channels.events.messages).sort(), [...SERVER_EVENT_TYPES, 'events.gap'].sort());
  for (const [name, m] of Object.entries(doc.components.messages)) {
    const schema = JSON.parse(readFileSync(new URL(m.payload.$ref, `file://${ASYNCAPI_PATH}`), 'utf8')) as {
      title: string;
    };
    assert.equal(schema.title, name);
  }
});
