import { createHmac, randomUUID } from 'node:crypto';
import { ValidationError } from './errors.ts';

/** Shortest secret accepted, bytes (Standard Webhooks asks for 24 to 64 random bytes). */
export const MIN_WEBHOOK_SECRET_BYTES = 16;

/**
 * The key bytes of a `WEBHOOK_SECRET`: `whsec_<base64>` (the form Standard Webhooks libraries
 * generate and expect) is the base64-decoded part; anything else is taken as raw UTF-8 bytes.
 */
export function parseWebhookSecret(secret: string): Buffer {
  let key: Buffer;
  if (secret.startsWith('whsec_')) {
    const b64 = secret.slice('whsec_'.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) {
      throw new ValidationError('INVALID_CONFIG', 'WEBHOOK_SECRET: the part after whsec_ must be base64');
    }
    key = Buffer.from(b64, 'base64');
  } else {
    key = Buffer.from(secret, 'utf8');
  }
  if (key.length < MIN_WEBHOOK_SECRET_BYTES) {
    throw new ValidationError(
      'INVALID_CONFIG',
      `WEBHOOK_SECRET must hold at least ${MIN_WEBHOOK_SECRET_BYTES} bytes, got ${key.length}`,
    );
  }
  return key;
}

/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com, "Signature scheme"):
 * `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, with the
 * message id and the unix-seconds timestamp sent as `webhook-id` and `webhook-timestamp`.
 */
export class WebhookSigner {
  readonly #key: Buffer;
  readonly #now: () => number;

  /** `now` (ms) is injectable for tests. */
  constructor(secret: string, now: () => number = Date.now) {
    this.#key = parseWebhookSecret(secret);
    this.#now = now;
  }

  /** A new message id: unique per message, reused on every retry of it. */
  newMessageId(): string {
    return `msg_${randomUUID().replaceAll('-', '')}`;
  }

  /** The three headers for one attempt of message `id` with this exact body. */
  headers(
    id: string,
    body: string,
  ): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
    const timestamp = String(Math.floor(this.#now() / 1000));
    const mac = createHmac('sha256', this.#key).update(`${id}.${timestamp}.${body}`).digest('base64');
    return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${mac}` };
  }
}
