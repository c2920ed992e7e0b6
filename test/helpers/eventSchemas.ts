/**
 * The published event schemas (schemas/events/) as one validator, for tests: startServer checks
 * every event a test server emits against it.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { loadEventSchemas } from '../../src/api/http/schemas.ts';
import type { ServerEvent } from '../../src/control/types.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

let compiled: Map<string, ValidateFunction> | null = null;

/** `event.TYPE` schema id -> its validator, compiled once per process. */
function validators(): Map<string, ValidateFunction> {
  if (compiled !== null) return compiled;
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false });
  addFormats(ajv);
  const schemas = loadEventSchemas();
  for (const s of schemas) ajv.addSchema(s);
  compiled = new Map(
    schemas.filter((s) => s.$id.startsWith('event.')).map((s) => [s.$id.slice('event.'.length), ajv.getSchema(s.$id)!]),
  );
  return compiled;
}

/** The event types the published schemas describe. */
export function schemaEventTypes(): string[] {
  return [...validators().keys()].sort();
}

/** Why `event` does not match its published schema, or null when it does. */
export function eventProblem(event: ServerEvent): string | null {
  const validate = validators().get(event.type);
  if (validate === undefined) return `unknown event type '${event.type}' (no schemas/events/${event.type}.json)`;
  if (validate(JSON.parse(JSON.stringify(event)))) return null;
  return (validate.errors ?? [])
    .map((e) => `${e.instancePath || '/'} ${e.message ?? ''}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`)
    .join('; ');
}
