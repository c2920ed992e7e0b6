/**
 * The normalised form of a flow: what the loader produces from YAML after validation, and what
 * the step compilers consume. Shorthands are gone (`menu` is a collect with choices, `goto` and
 * `branch` are steps with conditional `next`), expressions and templates are parsed, defaults
 * applied.
 */
import type { AmdParameters } from '../common/amdParameters.ts';
import type { Ast, Template } from './expressions.ts';

/** Where something sits in the YAML file (1-based), for messages an author can jump to. */
export interface SourcePos {
  file: string;
  line: number;
  column: number;
}

/** One way out of a step: taken when `cond` holds (or always when null). */
export interface NextBranch {
  cond: Ast | null;
  condText: string | null;
  target: string;
}

/** A value in `set`, `params`, `returns`, `assign`: a parsed expression or a literal. */
export type Valuer = { ast: Ast; text: string } | { literal: unknown };

/** A JSON body whose strings are templates. */
export type JsonTemplate =
  | { kind: 'template'; t: Template }
  | { kind: 'literal'; value: unknown }
  | { kind: 'array'; items: JsonTemplate[] }
  | { kind: 'object'; entries: Array<[string, JsonTemplate]> };

/** noinput / nomatch handler (VoiceXML catch): tapered prompts by count, or a goto. */
export interface Handler {
  prompts: Template[][];
  goto: string | null;
}

interface StepBase {
  name: string;
  pos: SourcePos;
  description: string | null;
  /** Ordered ways out; empty means the flow ends here (outcome completed). */
  next: NextBranch[];
  onError: string | null;
  onHangup: string | null;
}

export interface PlayStep extends StepBase {
  type: 'play';
  media: Template[];
  bargeIn: boolean;
  bargeInSpeech: boolean;
}
export interface SayStep extends StepBase {
  type: 'say';
  text: Template;
  voice: string | null;
  bargeIn: boolean;
  bargeInSpeech: boolean;
}

/** What a collect takes: keys, speech, or either (the first to come wins). */
export type CollectInput = 'dtmf' | 'speech' | 'both';

/** collect's `speech` settings (recogniser and utterance). */
export interface SpeechSettings {
  /** null: the server's SPEECH_RECOGNIZER_URL. */
  url: string | null;
  language: string | null;
  hints: string[];
  maxSpeechMs: number;
  /** A transcript below this confidence is a nomatch. */
  minConfidence: number;
}
export interface CollectStep extends StepBase {
  type: 'collect';
  /** Source type, for graphs and events: `menu` normalises into collect with choices. */
  sourceType: 'collect' | 'menu';
  prompts: Template[][];
  variable: string;
  minDigits: number;
  maxDigits: number;
  terminator: string;
  firstDigitTimeoutMs: number;
  interDigitTimeoutMs: number;
  pattern: string | null;
  bargeIn: boolean;
  /** Talk during the prompt stops it (the talk is then the input). */
  bargeInSpeech: boolean;
  input: CollectInput;
  speech: SpeechSettings;
  maxAttempts: number;
  noinput: Handler;
  nomatch: Handler;
  onFailure: string | null;
  /** menu: digits → step. */
  choices: Record<string, string> | null;
}
export interface RecordStep extends StepBase {
  type: 'record';
  path: Template | null;
  format: 'wav' | 'mp3' | 'opus';
  maxDurationMs: number;
  silenceTimeoutMs: number;
  terminator: string;
  beep: boolean;
  variable: string;
}
/** `amd`: its `on: {human, machine, notsure}` are normalised into conditional `next` branches. */
export interface AmdStep extends StepBase {
  type: 'amd';
  parameters: Partial<AmdParameters>;
  variable: string;
}
export interface ConferenceStep extends StepBase {
  type: 'conference';
  room: Template;
  options: Record<string, unknown>;
}
export interface BridgeStep extends StepBase {
  type: 'bridge';
  target: Template;
  options: Record<string, unknown>;
}
export interface HttpStep extends StepBase {
  type: 'http';
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: Template;
  headers: Array<[string, Template]>;
  body: JsonTemplate | null;
  /** true when the YAML body was a string: sent as is, not as JSON. */
  bodyIsText: boolean;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
  result: string | null;
  assign: Array<[string, Valuer]>;
  fallback: string | null;
}
/** `stream`: the call handed to a bot over a media stream until it closes or sends its result. */
export interface StreamStep extends StepBase {
  type: 'stream';
  url: Template;
  parameters: Array<[string, Template]>;
  tracks: 'inbound' | 'outbound' | 'both' | null;
  encoding: 'pcmu' | 'l16' | null;
  sampleRate: 8000 | 16000 | 24000 | null;
  mode: 'twilio' | 'binary' | null;
  bidirectional: boolean;
  token: Template | null;
  headers: Array<[string, Template]>;
  connectTimeoutMs: number | null;
  maxQueueMs: number | null;
  /** Where `{reason, result}` goes; the result's fields also become variables of their own. */
  variable: string;
}
export interface SetStep extends StepBase {
  type: 'set';
  values: Array<[string, Valuer]>;
}
/** `branch` and `goto` both normalise to this: nothing happens, `next` decides. */
export interface BranchStep extends StepBase {
  type: 'branch';
  sourceType: 'branch' | 'goto';
}
export interface CallStep extends StepBase {
  type: 'call';
  flow: string;
  params: Array<[string, Valuer]>;
  returns: Array<[string, Valuer]>;
}
export interface ReturnStep extends StepBase {
  type: 'return';
  values: Array<[string, Valuer]> | null;
}
export interface WaitStep extends StepBase {
  type: 'wait';
  durationMs: number;
}
export interface LogStep extends StepBase {
  type: 'log';
  message: Template;
  level: 'debug' | 'info' | 'warn' | 'error';
}
export interface TransferStep extends StepBase {
  type: 'transfer';
  target: Template;
}
export interface HangupStep extends StepBase {
  type: 'hangup';
  cause: string;
}

export type Step =
  | PlayStep
  | SayStep
  | CollectStep
  | RecordStep
  | AmdStep
  | ConferenceStep
  | BridgeStep
  | HttpStep
  | StreamStep
  | SetStep
  | BranchStep
  | CallStep
  | ReturnStep
  | WaitStep
  | LogStep
  | TransferStep
  | HangupStep;

export type StepType = Step['type'];

export interface VariableDecl {
  type: 'string' | 'number' | 'boolean' | 'object' | 'array' | null;
  default: unknown;
  required: boolean;
  description: string | null;
}

/** A validated, normalised flow, ready to compile. */
export interface FlowDefinition {
  name: string;
  description: string;
  file: string;
  source: string;
  variables: Record<string, VariableDecl>;
  start: string;
  onError: string | null;
  onHangup: string | null;
  steps: Record<string, Step>;
  /** Problems that do not stop loading (unreachable steps, name differing from the file). */
  warnings: FlowProblem[];
}

/** One problem in a flow file; `toString()`-able as `file:line:column: message`. */
export interface FlowProblem {
  file: string;
  line: number;
  column: number;
  message: string;
}

export function formatProblem(p: FlowProblem): string {
  return `${p.file}:${p.line}:${p.column}: ${p.message}`;
}

/** How a flow ended, for the b2bua. `stopped` is a session stopped over the API. */
export type FlowOutcome =
  | { action: 'hangup'; cause?: string }
  | { action: 'transfer'; target: string }
  | { action: 'completed'; variables: Record<string, unknown> }
  | { action: 'stopped' };
