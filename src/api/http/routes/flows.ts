/**
 * Flow routes: the flow registry (GET/PUT/DELETE /flows), sessions (/flow-sessions) and handing
 * an endpoint to a flow (POST /endpoints/:id/flow). A plugin over FlowService; errors are thrown
 * as the named classes of src/common/errors.ts and mapped by the app's error handler to
 * `{error: {code, message}}`. PUT takes the YAML as text/yaml, application/x-yaml or JSON {yaml}.
 */
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../../../common/errors.ts';
import type { FlowService } from '../../../flows/FlowService.ts';

const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' } },
    },
  },
} as const;

const anyObject = { type: 'object', additionalProperties: true } as const;

const flowInfoProperties = {
  name: { type: 'string' },
  description: { type: 'string' },
  version: { type: 'integer', description: 'Increases on every change; sessions keep the version they started with.' },
  file: { type: ['string', 'null'] },
  loaded_at: { type: 'string', format: 'date-time' },
  start: { type: 'string' },
  steps: {
    type: 'array',
    items: {
      type: 'object',
      required: ['name', 'type'],
      properties: { name: { type: 'string' }, type: { type: 'string' } },
    },
  },
  variables: {
    type: 'object',
    additionalProperties: {
      type: 'object',
      properties: {
        type: { type: ['string', 'null'] },
        default: {},
        required: { type: 'boolean' },
        description: { type: ['string', 'null'] },
      },
    },
  },
  warnings: { type: 'array', items: { type: 'string' } },
} as const;

const flowInfo = {
  type: 'object',
  required: ['name', 'version', 'start', 'steps'],
  properties: flowInfoProperties,
} as const;
const flowDetail = {
  type: 'object',
  required: ['name', 'version', 'yaml'],
  properties: { ...flowInfoProperties, yaml: { type: 'string', description: 'The YAML source of this version.' } },
} as const;

const outcome = {
  type: ['object', 'null'],
  description:
    'hangup, transfer (target), completed (variables) or stopped (over the API); null when the flow failed or is running',
  properties: {
    action: { enum: ['hangup', 'transfer', 'completed', 'stopped'] },
    target: { type: 'string' },
    cause: { type: 'string' },
    variables: anyObject,
  },
} as const;

const flowError = {
  type: ['object', 'null'],
  properties: { code: { type: 'string' }, message: { type: 'string' }, step: { type: ['string', 'null'] } },
} as const;

const sessionSummaryProperties = {
  id: { type: 'string' },
  flow: { type: 'string' },
  version: { type: 'integer' },
  endpoint_id: { type: 'string' },
  status: { enum: ['running', 'completed', 'failed', 'stopped'] },
  current_step: { type: ['string', 'null'] },
  outcome,
  error: flowError,
  started_at: { type: 'string', format: 'date-time' },
  ended_at: { type: ['string', 'null'], format: 'date-time' },
} as const;

const sessionSummary = {
  type: 'object',
  required: ['id', 'flow', 'endpoint_id', 'status'],
  properties: sessionSummaryProperties,
} as const;
const sessionDetail = {
  type: 'object',
  required: ['id', 'flow', 'endpoint_id', 'status', 'variables', 'history'],
  properties: {
    ...sessionSummaryProperties,
    variables: anyObject,
    history: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          step: { type: 'string' },
          type: { type: 'string' },
          flow: { type: 'string' },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
} as const;

const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$', maxLength: 64 } },
} as const;
const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

const YAML_TYPES = ['text/yaml', 'application/x-yaml', 'application/yaml', 'text/x-yaml'];

export async function flowRoutes(app: FastifyInstance, opts: { flows: FlowService }): Promise<void> {
  const flows = opts.flows;

  // Encapsulated in this plugin: only these routes accept YAML bodies.
  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string', bodyLimit: 1024 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  app.get(
    '/flows',
    {
      schema: {
        tags: ['flows'],
        summary: 'List loaded flows',
        response: {
          200: {
            type: 'object',
            required: ['flows', 'problems'],
            properties: {
              flows: { type: 'array', items: flowInfo },
              problems: {
                type: 'array',
                items: { type: 'string' },
                description: 'Files that failed to load (file:line:column: message); they replaced nothing.',
              },
            },
          },
        },
      },
    },
    async () => ({
      flows: flows.list(),
      problems: flows.problems().map((p) => `${p.file}:${p.line}:${p.column}: ${p.message}`),
    }),
  );

  app.get<{ Params: { name: string } }>(
    '/flows/:name',
    {
      schema: {
        tags: ['flows'],
        summary: 'A flow, with its YAML source',
        params: nameParams,
        response: { 200: flowDetail, 404: errorSchema },
      },
    },
    async (req) => ({ ...flows.get(req.params.name), yaml: flows.source(req.params.name) }),
  );

  app.put<{ Params: { name: string }; Body: string | { yaml: string } }>(
    '/flows/:name',
    {
      schema: {
        tags: ['flows'],
        summary: 'Create or replace a flow (validated; an invalid flow replaces nothing)',
        description:
          'Body: the YAML as text/yaml or application/x-yaml, or JSON {"yaml": "..."}. Errors name file:line:column.',
        params: nameParams,
        body: {
          anyOf: [
            { type: 'string', minLength: 1 },
            {
              type: 'object',
              required: ['yaml'],
              additionalProperties: false,
              properties: { yaml: { type: 'string', minLength: 1 } },
            },
          ],
        },
        response: {
          200: flowInfo,
          201: flowInfo,
          400: errorSchema,
          409: errorSchema,
          507: { ...errorSchema, description: 'INSUFFICIENT_STORAGE: the flows directory is full' },
        },
      },
    },
    async (req, reply) => {
      const body = req.body;
      const text = typeof body === 'string' ? body : body?.yaml;
      if (typeof text !== 'string')
        throw new ValidationError('INVALID_FLOW', 'body must be YAML text or {"yaml": "..."}');
      let existed = true;
      try {
        flows.get(req.params.name);
      } catch {
        existed = false;
      }
      const info = flows.put(req.params.name, text);
      return reply.code(existed ? 200 : 201).send(info);
    },
  );

  app.delete<{ Params: { name: string } }>(
    '/flows/:name',
    {
      schema: {
        tags: ['flows'],
        summary: 'Remove a flow (running sessions keep their version)',
        params: nameParams,
        response: { 204: { description: 'Removed', type: 'null' }, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      flows.delete(req.params.name);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { status?: string; endpoint_id?: string; flow?: string } }>(
    '/flow-sessions',
    {
      schema: {
        tags: ['flows'],
        summary: 'Flow sessions, running and recently finished',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { enum: ['running', 'completed', 'failed', 'stopped'] },
            endpoint_id: { type: 'string' },
            flow: { type: 'string' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['sessions'],
            properties: { sessions: { type: 'array', items: sessionSummary } },
          },
        },
      },
    },
    async (req) => {
      const q = req.query;
      const sessions = flows
        .listSessions()
        .filter(
          (s) =>
            (q.status === undefined || s.status === q.status) &&
            (q.endpoint_id === undefined || s.endpointId === q.endpoint_id) &&
            (q.flow === undefined || s.flowName === q.flow),
        )
        .map((s) => s.toJSON());
      return { sessions };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/flow-sessions/:id',
    {
      schema: {
        tags: ['flows'],
        summary: 'A flow session: current step, variables, history, outcome',
        params: idParams,
        response: { 200: sessionDetail, 404: errorSchema },
      },
    },
    async (req) => flows.getSession(req.params.id).toJSON(),
  );

  app.delete<{ Params: { id: string } }>(
    '/flow-sessions/:id',
    {
      schema: {
        tags: ['flows'],
        summary: 'Stop a flow session (playback stopped, recording finalised); replies with its final state',
        params: idParams,
        response: { 200: sessionDetail, 404: errorSchema },
      },
    },
    async (req) => {
      const s = flows.stopSession(req.params.id);
      await s.done;
      return s.toJSON();
    },
  );

  app.post<{ Params: { id: string }; Body: { flow: string; variables?: Record<string, unknown> } }>(
    '/endpoints/:id/flow',
    {
      schema: {
        tags: ['flows'],
        summary: 'Hand the call on an endpoint to a named flow',
        params: idParams,
        body: {
          type: 'object',
          required: ['flow'],
          additionalProperties: false,
          properties: {
            flow: { type: 'string', minLength: 1, maxLength: 64 },
            variables: {
              type: 'object',
              additionalProperties: true,
              description: 'Initial variables, e.g. caller data from the b2bua: {"caller": {"number": "+1555..."}}',
            },
          },
        },
        response: {
          201: {
            type: 'object',
            required: ['session_id'],
            properties: { session_id: { type: 'string' }, flow: { type: 'string' }, version: { type: 'integer' } },
          },
          400: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const s = flows.start(req.params.id, req.body.flow, req.body.variables ?? {});
      return reply.code(201).send({ session_id: s.id, flow: s.flowName, version: s.version });
    },
  );
}
