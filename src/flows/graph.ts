/**
 * `flows graph`: the compiled XState machine drawn as Mermaid or Graphviz DOT. Edges are read
 * from the machine's state nodes (not from the YAML), so the picture is what actually runs: one
 * node per step, an edge for every transition that leaves a step, labelled by its event or guard.
 */
import type { AnyStateMachine, StateNode } from 'xstate';
import type { CompiledFlow } from './compiler.ts';

export interface GraphEdge {
  from: string;
  to: string;
  label: string;
}
export interface FlowGraph {
  name: string;
  start: string;
  nodes: Array<{ id: string; label: string; kind: 'step' | 'end' }>;
  edges: GraphEdge[];
}

const END_LABELS: Record<string, string> = { __end: 'end', __hangup: 'hangup', __failed: 'failed' };

type AnyNode = StateNode<any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function guardLabel(g: unknown): string | null {
  if (!g) return null;
  if (typeof g === 'string') return guardLabel({ type: g });
  const guard = g as { type?: string; params?: Record<string, unknown> };
  const p = guard.params ?? {};
  switch (guard.type) {
    case 'expr':
      return String(p.text ?? 'condition');
    case 'collectValid':
      return p.digits !== undefined ? `key ${String(p.digits)}` : 'valid input';
    case 'attemptsExhausted':
      return `after ${String(p.max)} attempts`;
    case 'isHungUp':
      return 'hung up';
    case 'httpOk':
      return '2xx';
    case 'outcomeIs':
      return `subflow ${String(p.action)}`;
    case 'collectEmpty':
      return 'no input';
    default:
      return guard.type ?? null;
  }
}

function eventLabel(eventType: string): string {
  if (eventType === '') return '';
  if (eventType.startsWith('xstate.done.actor')) return 'done';
  if (eventType.startsWith('xstate.error.actor')) return 'error';
  const after = /^xstate\.after\.(\d+)\./.exec(eventType);
  if (after) return `after ${after[1]} ms`;
  return eventType.toLowerCase();
}

function topStep(node: AnyNode): string {
  return node.path[0] ?? '';
}

/** Extracts steps and edges from a compiled flow's machine. */
export function flowGraph(compiled: CompiledFlow): FlowGraph {
  const machine: AnyStateMachine = compiled.machine;
  const def = compiled.definition;
  const edges: GraphEdge[] = [];
  const seen = new Set<string>();
  const add = (from: string, to: string, label: string): void => {
    const k = `${from}\u0000${to}\u0000${label}`;
    if (!seen.has(k)) {
      seen.add(k);
      edges.push({ from, to, label });
    }
  };
  const visit = (step: string, node: AnyNode): void => {
    const lists: Array<[string, ReadonlyArray<{ target?: ReadonlyArray<AnyNode> | undefined; guard?: unknown }>]> = [];
    for (const [ev, ts] of node.transitions) lists.push([ev, ts]);
    if (node.always) lists.push(['', node.always]);
    for (const [ev, ts] of lists) {
      for (const t of ts) {
        // After a hangup every failure just ends the flow: implied, not drawn.
        if (t.guard === 'isHungUp' || (t.guard as { type?: string } | undefined)?.type === 'isHungUp') continue;
        for (const target of t.target ?? []) {
          const to = topStep(target);
          if (to === step || to === '') continue;
          const parts = [eventLabel(ev), guardLabel(t.guard)].filter((x) => x);
          add(step, to, parts.join(': '));
        }
      }
    }
    for (const child of Object.values(node.states)) visit(step, child as AnyNode);
  };
  for (const [name, node] of Object.entries(machine.root.states)) {
    if (name.startsWith('__')) continue;
    visit(name, node as AnyNode);
  }
  const nodes: FlowGraph['nodes'] = Object.values(def.steps).map((s) => ({
    id: s.name,
    label: `${s.name}\n(${'sourceType' in s ? s.sourceType : s.type})`,
    kind: 'step' as const,
  }));
  for (const [id, label] of Object.entries(END_LABELS))
    if (edges.some((e) => e.to === id)) nodes.push({ id, label, kind: 'end' });
  return { name: def.name, start: def.start, nodes, edges };
}

function mid(id: string): string {
  return `s_${id.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function esc(s: string): string {
  return s.replace(/"/g, '#quot;');
}

export function toMermaid(g: FlowGraph): string {
  const out = ['flowchart TD', `  start_(("${esc(g.name)}")) --> ${mid(g.start)}`];
  for (const n of g.nodes) {
    const label = esc(n.label).replace(/\n/g, '<br/>');
    out.push(n.kind === 'end' ? `  ${mid(n.id)}(["${label}"])` : `  ${mid(n.id)}["${label}"]`);
  }
  for (const e of g.edges)
    out.push(e.label ? `  ${mid(e.from)} -->|"${esc(e.label)}"| ${mid(e.to)}` : `  ${mid(e.from)} --> ${mid(e.to)}`);
  return `${out.join('\n')}\n`;
}

function dq(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

export function toDot(g: FlowGraph): string {
  const out = [
    `digraph ${dq(g.name)} {`,
    '  rankdir=TB;',
    '  node [shape=box, style=rounded];',
    '  __start [shape=circle, label="start"];',
    `  __start -> ${dq(g.start)};`,
  ];
  for (const n of g.nodes)
    out.push(`  ${dq(n.id)} [label=${dq(n.label)}${n.kind === 'end' ? ', shape=doublecircle' : ''}];`);
  for (const e of g.edges) out.push(`  ${dq(e.from)} -> ${dq(e.to)}${e.label ? ` [label=${dq(e.label)}]` : ''};`);
  out.push('}');
  return `${out.join('\n')}\n`;
}
