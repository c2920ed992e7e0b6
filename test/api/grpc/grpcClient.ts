import {
  Metadata,
  credentials,
  type CallOptions,
  type Client,
  type ClientReadableStream,
  type ServiceClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import { loadMediaServerProto } from '../../../src/api/grpc/GrpcServer.ts';

const CALL_DEADLINE_MS = 15_000;

/** A grpc-js client of mediaserver.v1.MediaServer built from the same .proto as the server. */
export class GrpcTestClient {
  readonly client: Client;
  readonly #metadata: Metadata;

  constructor(port: number, token?: string) {
    const proto = loadMediaServerProto() as unknown as {
      mediaserver: { v1: { MediaServer: ServiceClientConstructor } };
    };
    this.client = new proto.mediaserver.v1.MediaServer(`127.0.0.1:${port}`, credentials.createInsecure());
    this.#metadata = new Metadata();
    if (token !== undefined) this.#metadata.set('authorization', `Bearer ${token}`);
  }

  /** One unary call; rejects with the ServiceError (code, details, metadata). */
  call<T = Record<string, unknown>>(
    method: string,
    request: Record<string, unknown> = {},
    metadata: Metadata = this.#metadata,
  ): Promise<T> {
    const fn = (
      this.client as unknown as Record<
        string,
        (req: unknown, md: Metadata, opts: CallOptions, cb: (err: ServiceError | null, res: T) => void) => void
      >
    )[method];
    if (fn === undefined) throw new Error(`no method ${method}`);
    // a deadline, so that a call the server never answers fails the test (DEADLINE_EXCEEDED) instead of hanging it
    const options: CallOptions = { deadline: Date.now() + CALL_DEADLINE_MS };
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, request, metadata, options, (err, res) => (err ? reject(err) : resolve(res)));
    });
  }

  events(
    request: Record<string, unknown> = {},
    metadata: Metadata = this.#metadata,
  ): ClientReadableStream<EventMessage> {
    const fn = (
      this.client as unknown as Record<string, (req: unknown, md: Metadata) => ClientReadableStream<EventMessage>>
    ).Events;
    return fn!.call(this.client, request, metadata);
  }

  close(): void {
    this.client.close();
  }
}

export interface EventMessage {
  seq: number;
  type: string;
  time: string;
  json: string;
}

/** Resolves with the first message of `stream` matching `pred`, or rejects on the stream's error/end. */
export function nextMessage(
  stream: ClientReadableStream<EventMessage>,
  pred: (m: EventMessage) => boolean,
  timeoutMs = 5000,
): Promise<EventMessage> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
    };
    const onData = (m: EventMessage) => {
      if (pred(m)) {
        cleanup();
        resolve(m);
      }
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no matching event within ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('data', onData);
    stream.on('error', onError);
  });
}

/** Resolves with the error that ends `stream` (grpc-js emits it as 'error'). */
export function streamError(stream: ClientReadableStream<EventMessage>, timeoutMs = 15_000): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the stream did not end within ${timeoutMs} ms`)), timeoutMs);
    stream.once('error', (err: ServiceError) => {
      clearTimeout(timer);
      resolve(err);
    });
    stream.once('end', () => {
      clearTimeout(timer);
      reject(new Error('stream ended without an error'));
    });
  });
}

/** Cancels `stream` from the client side; the CANCELLED status it ends with is expected. */
export function cancelStream(stream: ClientReadableStream<EventMessage>): void {
  stream.on('error', () => {
    /* CANCELLED, as asked */
  });
  stream.cancel();
}
