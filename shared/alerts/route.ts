/** Fan-out routing: matchers and the routing tree walk (as in Alertmanager). */
import { MATCHER_PATTERN, type Route, type Routing } from './config';
import { matchLabels, type Alert, type Receiver } from './model';

/** A parsed matcher: `name op value`; a missing label matches as the empty string (as in Alertmanager). */
export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  regex?: RegExp;
}

const cache = new Map<string, Matcher>();

export function parseMatcher(text: string): Matcher {
  const hit = cache.get(text);
  if (hit) return hit;
  const m = MATCHER_PATTERN.exec(text);
  if (!m) throw new Error(`bad matcher ${JSON.stringify(text)}: must be label = value, !=, =~ or !~`);
  const op = m[2] as Matcher['op'];
  const value = m[3] ?? m[4] ?? '';
  const matcher: Matcher = {
    name: m[1]!,
    op,
    value,
    ...(op.includes('~') ? { regex: new RegExp(`^(?:${value})$`) } : {}),
  };
  cache.set(text, matcher);
  return matcher;
}

export function matches(matcher: Matcher, labels: Record<string, string>): boolean {
  const actual = labels[matcher.name] ?? '';
  switch (matcher.op) {
    case '=':
      return actual === matcher.value;
    case '!=':
      return actual !== matcher.value;
    case '=~':
      return matcher.regex!.test(actual);
    case '!~':
      return !matcher.regex!.test(actual);
  }
}

export function matchesAll(matchers: readonly string[], labels: Record<string, string>): boolean {
  return matchers.every((m) => matches(parseMatcher(m), labels));
}

/**
 * Stage 3, route: the receivers of an alert, walking the tree as Alertmanager does. Pure.
 * Returns the receivers in first-seen order, without duplicates.
 */
export function route(routing: Pick<Routing, 'receivers' | 'routes'>, alert: Alert): Receiver[] {
  const labels = matchLabels(alert);
  const root: Route = { matchers: [], receivers: routing.receivers, continue: false, routes: routing.routes };
  const out: Receiver[] = [];
  for (const node of walk(root, labels)) for (const r of node.receivers) if (!out.includes(r)) out.push(r);
  return out;
}

/** The routes that handle the alert under `node` (which matched). */
function walk(node: Route, labels: Record<string, string>): Route[] {
  const handled: Route[] = [];
  for (const child of node.routes) {
    if (!matchesAll(child.matchers, labels)) continue;
    handled.push(...walk(child, labels));
    if (!child.continue) break;
  }
  return handled.length > 0 ? handled : [node];
}
