import type { FastifyInstance, RouteOptions } from 'fastify';
import { PUBLIC_ROUTES } from './auth.ts';
import { errorResponses } from './routes/common.ts';

/** Methods whose body fastify never parses: no 413 or 415 there. */
const NO_BODY = new Set(['GET', 'HEAD']);

/**
 * The error statuses any route can answer whatever its handler does, declared on every route in
 * one place so the OpenAPI document is complete (a route's own declaration of a status wins):
 * 400 (malformed URL or Content-Length, schema violations), 401 (with a token, except public
 * routes), 413 and 415 (a body too large or not JSON, on methods with a body), 414 (a path
 * parameter over the router's limit, on routes with one, and 404 for one that normalises onto no
 * route), 500 and 503 (shutting down, not ready).
 * Must be added before the routes and before @fastify/swagger collects them.
 */
export function declareCommonErrors(app: FastifyInstance, opts: { secured: boolean }): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema;
    if (schema === undefined || (schema as { hide?: boolean }).hide === true) return;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const statuses = [400, 500, 503];
    if (opts.secured && !PUBLIC_ROUTES.has(route.url)) statuses.push(401);
    if (methods.some((m) => !NO_BODY.has(m))) statuses.push(413, 415);
    // a path parameter over the router's limit (414), or one that normalises the path onto no
    // route at all (`/flows/%2e%2e` is `/`: 404)
    if (route.url.includes(':')) statuses.push(404, 414);
    route.schema = {
      ...schema,
      response: { ...errorResponses(...statuses), ...(schema.response as object | undefined) },
    };
  });
}
