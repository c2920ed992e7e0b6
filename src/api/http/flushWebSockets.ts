import type { FastifyInstance } from 'fastify';

/**
 * Waits until every WebSocket client's send buffer is empty, or `timeoutMs` passes, so that the
 * last events of a shutdown reach clients before the app's close() sends them 1001 (it cuts off
 * clients with data still buffered, as slow ones).
 */
export async function flushWebSockets(app: FastifyInstance, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    let pending = false;
    for (const client of app.websocketServer.clients) {
      if (client.readyState === client.OPEN && client.bufferedAmount > 0) pending = true;
    }
    if (!pending) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
