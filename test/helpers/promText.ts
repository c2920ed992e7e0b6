/**
 * A strict reader of the Prometheus text exposition format 0.0.4 (promtool is not installed):
 * families with their HELP, TYPE and samples, and the naming rules operators rely on.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  type: string | null;
  help: string | null;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/;

function parseValue(text: string): number {
  // Prometheus reads these with Go's ParseFloat, case-insensitively (prom-client writes 'Nan')
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  if (!/^-?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`bad sample value '${text}'`);
  return Number(text);
}

function parseLabels(text: string | undefined, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined || text === '') return labels;
  // split on commas outside quotes
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && quoted) {
      cur += c + (text[++i] ?? '');
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur !== '') parts.push(cur);
  for (const part of parts) {
    const m = LABEL.exec(part);
    if (!m) throw new Error(`bad label '${part}' in: ${line}`);
    if (m[1]! in labels) throw new Error(`label '${m[1]}' twice in: ${line}`);
    labels[m[1]!] = m[2]!;
  }
  return labels;
}

/** The family a sample belongs to: histogram and summary samples carry a suffix. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct !== undefined) return direct;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (!sample.endsWith(suffix)) continue;
    const f = families.get(sample.slice(0, -suffix.length));
    if (f !== undefined && (f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

/** Parses the text; throws on a malformed line, a family defined twice or a sample without a family. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const declare = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { name, type: null, help: null, samples: [] }));
    return f;
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line);
      if (!m) throw new Error(`bad HELP line: ${line}`);
      const f = declare(m[1]!);
      if (f.help !== null) throw new Error(`HELP twice for ${f.name}`);
      f.help = m[2]!;
      continue;
    }
    if (line.startsWith('# TYPE ')) {
      const m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line);
      if (!m) throw new Error(`bad TYPE line: ${line}`);
      const f = declare(m[1]!);
      if (f.type !== null) throw new Error(`TYPE twice for ${f.name}`);
      if (f.samples.length > 0) throw new Error(`TYPE after samples for ${f.name}`);
      f.type = m[2]!;
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad sample line: ${line}`);
    const f = familyOf(m[1]!, families);
    if (f === undefined) throw new Error(`sample without HELP/TYPE: ${line}`);
    f.samples.push({ name: m[1]!, labels: parseLabels(m[2], line), value: parseValue(m[3]!) });
  }
  return families;
}

/**
 * What is wrong with the families' names and metadata by Prometheus' conventions
 * (https://prometheus.io/docs/practices/naming/): HELP and TYPE on each, snake_case, base units
 * (no `_ms`), counters ending in `_total` and, for `prefix` families, only counters.
 */
export function namingProblems(families: Map<string, Family>, prefix = 'msc_'): string[] {
  const problems: string[] = [];
  for (const f of families.values()) {
    if (f.help === null || f.help.trim() === '') problems.push(`${f.name}: no HELP`);
    if (f.type === null) problems.push(`${f.name}: no TYPE`);
    if (f.type === 'untyped') problems.push(`${f.name}: untyped`);
    if (!/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(f.name)) problems.push(`${f.name}: not snake_case`);
    if (/_(ms|millis|milliseconds|us|ns|kb|mb|percent)(_|$)/.test(f.name))
      problems.push(`${f.name}: not in base units`);
    if (f.type === 'counter' && !f.name.endsWith('_total')) problems.push(`${f.name}: counter without _total`);
    if (f.name.startsWith(prefix) && f.type !== 'counter' && f.name.endsWith('_total'))
      problems.push(`${f.name}: _total on a ${f.type}`);
    for (const s of f.samples) {
      for (const label of Object.keys(s.labels)) {
        if (!/^[a-z][a-z0-9_]*$/.test(label)) problems.push(`${f.name}: label ${label} not snake_case`);
      }
      if (f.type === 'counter' && !(s.value >= 0)) problems.push(`${f.name}: counter sample ${s.value}`);
    }
  }
  return problems;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const f = familyOf(name, families);
  const s = f?.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}
