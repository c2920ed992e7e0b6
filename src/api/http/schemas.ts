import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/** A JSON Schema with the `$id` routes reference it by (`{ $ref: 'Endpoint#' }`). */
export interface ApiSchema {
  $id: string;
  [keyword: string]: unknown;
}

/** schemas/api/, the single source of request and response shapes (DESIGN.md, "Planes"). */
export const API_SCHEMAS_DIR = fileURLToPath(new URL('../../../schemas/api/', import.meta.url));

/**
 * Reads every schemas/api/*.json once at startup, sorted by file name so the OpenAPI document is
 * stable. Throws on a file without `$id`: routes could not reference it.
 */
export function loadApiSchemas(dir: string = API_SCHEMAS_DIR): ApiSchema[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  return files.map((file) => {
    const schema = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Partial<ApiSchema>;
    if (typeof schema.$id !== 'string' || schema.$id === '') {
      throw new Error(`schema ${file} has no $id`);
    }
    return schema as ApiSchema;
  });
}

/** `{ $ref: 'Name#' }`, the way routes point at a shared schema. */
export function ref(id: string): { $ref: string } {
  return { $ref: `${id}#` };
}

/** schemas/events/: the published event catalogue (control/events.ts is its TypeScript side). */
export const EVENT_SCHEMAS_DIR = fileURLToPath(new URL('../../../schemas/events/', import.meta.url));

/**
 * The event schemas: EventEnvelope, EventsGap, one `event.TYPE` per event type, and `ServerEvent`
 * (built here, not written by hand): one frame of GET /events, any of the event types.
 */
export function loadEventSchemas(dir: string = EVENT_SCHEMAS_DIR): ApiSchema[] {
  const schemas = loadApiSchemas(dir);
  const events = schemas.filter((s) => s.$id.startsWith('event.'));
  const union: ApiSchema = {
    $id: 'ServerEvent',
    title: 'ServerEvent',
    description:
      'One event of the bus (GET /events, gRPC Events, webhooks): its `type` names the schema that describes it.',
    oneOf: events.map((s) => ref(s.$id)),
  };
  return [...schemas, union];
}
