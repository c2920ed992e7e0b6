/**
 * Writes schemas/events/asyncapi.yaml: the AsyncAPI 3 document of the event stream (GET /events
 * WebSocket), one message per schema of schemas/events/, which stay the single source.
 * `npm run schemas:events` after adding or changing an event; a test fails while it is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { EVENT_SCHEMAS_DIR, loadApiSchemas } from '../src/api/http/schemas.ts';

export const ASYNCAPI_PATH = path.join(EVENT_SCHEMAS_DIR, 'asyncapi.yaml');

export function renderAsyncApi(dir: string = EVENT_SCHEMAS_DIR): string {
  const version = (
    JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  const byId = new Map(loadApiSchemas(dir).map((s, i) => [s.$id, files[i] as string]));
  const messages: Record<string, unknown> = {};
  for (const [id, file] of byId) {
    if (id === 'EventEnvelope') continue;
    const schema = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as { title: string; description: string };
    messages[schema.title] = { name: schema.title, summary: schema.description, payload: { $ref: `./${file}` } };
  }
  const doc = {
    asyncapi: '3.0.0',
    info: {
      title: 'media-server-core events',
      version,
      description:
        'Every event of the bus, one JSON text frame each, with a strictly increasing `seq` (EventEnvelope.json). ' +
        'The same events reach gRPC Events streams and webhooks. Generated from the schemas beside this file (npm run schemas:events).',
    },
    servers: {
      api: {
        host: 'localhost:8080',
        protocol: 'ws',
        description: 'API_HOST:API_PORT; ?since=SEQ replays, ?types=prefix,... filters, ?token= authenticates.',
      },
    },
    channels: {
      events: {
        address: '/events',
        messages: Object.fromEntries(Object.keys(messages).map((m) => [m, { $ref: `#/components/messages/${m}` }])),
      },
    },
    operations: {
      sendEvents: {
        action: 'send',
        channel: { $ref: '#/channels/events' },
        summary: 'The server sends every event to each connected client.',
      },
    },
    components: { messages },
  };
  return stringify(doc, { lineWidth: 0 });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  fs.writeFileSync(ASYNCAPI_PATH, renderAsyncApi());
}
