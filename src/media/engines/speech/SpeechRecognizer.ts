/** What a streaming recogniser reports about one utterance. */
export interface RecognizerEvents {
  /** An interim transcript (any number, informational). */
  partial(transcript: string): void;
  /** The result: ends the recognition ('' when nothing was recognised). */
  final(transcript: string, confidence: number): void;
  /** The recognition failed (connection, protocol, the recogniser's own error). */
  error(message: string): void;
}

export interface RecognizerOpenOptions {
  sessionId: string;
  endpointId: string;
  /** Rate of the PCM that write() takes. */
  sampleRate: number;
  language?: string;
  hints?: string[];
}

/** One utterance streamed to a recogniser. */
export interface RecognizerStream {
  /** Audio of the utterance, mono 16-bit at the sample rate; `pcm` is only valid during the call. */
  write(pcm: Int16Array): void;
  /** The utterance has ended: a final result must follow. */
  end(): void;
  /** Releases everything now (idempotent); no event follows. */
  close(): void;
}

/**
 * A streaming speech recogniser: open a stream per utterance, write its audio as it comes, end
 * it, get partial and final results. WebSocketRecognizer is the one shipped; another engine (an
 * in-process model, a vendor SDK) implements this and SpeechSession does the rest.
 */
export interface SpeechRecognizer {
  open(options: RecognizerOpenOptions, events: RecognizerEvents): RecognizerStream;
}
