/** The REST and WebSocket addresses of a running server, for the CLI's client commands. */
export interface ApiTarget {
  /** e.g. http://127.0.0.1:8080 */
  url: string;
  token: string | null;
}

/** MEDIA_SERVER_URL / API_HOST+API_PORT and API_TOKEN, overridden by --url and --token. */
export function apiTarget(
  options: { url?: string | undefined; token?: string | undefined },
  env = process.env,
): ApiTarget {
  const host = env.API_HOST && env.API_HOST !== '0.0.0.0' ? env.API_HOST : '127.0.0.1';
  const url = options.url ?? env.MEDIA_SERVER_URL ?? `http://${host}:${env.API_PORT ?? '8080'}`;
  return { url: url.replace(/\/+$/, ''), token: options.token ?? env.API_TOKEN ?? null };
}

export class ApiCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A minimal JSON client over fetch: the error body's code and message become the error. */
export class ApiClient {
  constructor(readonly target: ApiTarget) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.target.token) headers.authorization = `Bearer ${this.target.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.target.url}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiCallError(
        0,
        'UNREACHABLE',
        `cannot reach ${this.target.url} (${(err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); is the server running (npm start)?`,
      );
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as unknown) : undefined;
    if (!res.ok) {
      const e = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ApiCallError(
        res.status,
        e?.code ?? String(res.status),
        `${method} ${path}: ${res.status} ${e?.code ?? ''} ${e?.message ?? text}`.trim(),
      );
    }
    return json as T;
  }

  /** ws(s)://…/events?since=SEQ with the token as a query parameter (no header needed). */
  eventsUrl(since: number | null): string {
    const u = new URL(`${this.target.url.replace(/^http/, 'ws')}/events`);
    if (since !== null) u.searchParams.set('since', String(since));
    if (this.target.token) u.searchParams.set('token', this.target.token);
    return u.toString();
  }
}
