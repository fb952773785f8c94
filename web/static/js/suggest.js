// Suggestion sources for autocomplete.js: attribute keys and values from
// the query API's discovery endpoints, for the trace search's attributes
// box (key=value) and the logs query box (field:value).
import * as api from './api.js';
import { quoteValue } from './autocomplete.js';

// currentToken is the word under the caret: [from, caret) from the last
// whitespace outside quotes (or an opening parenthesis) before it.
export function currentToken(text, caret) {
  let from = 0;
  let quoted = false;
  for (let i = 0; i < caret; i++) {
    const c = text[i];
    if (c === '\\' && quoted) {
      i++;
      continue;
    }
    if (c === '"') quoted = !quoted;
    else if (!quoted && (/\s/.test(c) || c === '(' || c === ')')) from = i + 1;
  }
  // Replace the rest of the word after the caret too.
  let to = caret;
  while (to < text.length && !/[\s()]/.test(text[to])) to++;
  return { from, to, word: text.slice(from, caret) };
}

const unquote = (v) => (v.startsWith('"') ? v.slice(1).replace(/"$/, '').replace(/\\(.)/g, '$1') : v);

// Keys of span fields a tag search compares (Jaeger's tags): their values
// are in the summary's "field" scope.
const SPAN_FIELDS = new Set(['span.kind', 'otel.status_code', 'error']);

function typeHint(types) {
  return types.length > 1 ? types.join('|') : types[0];
}

// mergeKeys folds the rows of one key sent with several types.
function mergeKeys(rows) {
  const byKey = new Map();
  for (const r of rows) {
    const k = `${r.scope}\u0000${r.key}`;
    const cur = byKey.get(k);
    if (cur) {
      cur.count += r.count;
      cur.types.push(r.type);
    } else byKey.set(k, { scope: r.scope, key: r.key, count: r.count, distinct: r.distinct, types: [r.type] });
  }
  return [...byKey.values()].sort((a, b) => b.count - a.count || a.key.localeCompare(b.key));
}

function valueItems(res, before = '', after = ' ') {
  const items = (res.values || []).map((v) => ({
    insert: before + quoteValue(v.value) + after,
    label: v.value === '' ? '(empty)' : v.value,
    count: v.count,
    countTitle: v.error ? `${v.count} (may be overestimated by up to ${v.error})` : `${v.count} occurrences`,
  }));
  return items;
}

// tagSource completes the trace search's attributes box: keys (as key=)
// of the chosen service's spans, then the values of the key before '='.
// ctx() gives {service, start, end}.
export function tagSource(ctx) {
  return async (text, caret, signal) => {
    const { from, to, word } = currentToken(text, caret);
    const { service, start, end } = ctx();
    const eq = word.indexOf('=');
    if (eq < 0) {
      let prefix = word;
      let scope = '';
      if (prefix.startsWith('resource.')) {
        prefix = prefix.slice('resource.'.length);
        scope = 'resource';
      }
      const rows = await api.attributeKeys({ signal: 'span', scope, service, prefix, start, end, limit: 200 }, { signal });
      const items = mergeKeys(rows).slice(0, 30).map((k) => {
        const name = k.scope === 'resource' ? `resource.${k.key}` : k.key;
        return { insert: `${name}=`, label: name, hint: k.scope === 'attribute' ? typeHint(k.types) : `${k.scope} · ${typeHint(k.types)}`,
          count: k.count, countTitle: `${k.count} spans carry it; about ${k.distinct} distinct values`, again: true };
      });
      return { from, to, items, select: true };
    }
    let key = word.slice(0, eq);
    const prefix = unquote(word.slice(eq + 1));
    let scope = 'attribute';
    if (key.startsWith('resource.')) {
      key = key.slice('resource.'.length);
      scope = 'resource';
    } else if (SPAN_FIELDS.has(key)) scope = 'field';
    if (!key) return null;
    const res = await api.attributeValues({ signal: 'span', scope, key, service, prefix, start, end, limit: 30 }, { signal });
    return { from: from + eq + 1, to, items: valueItems(res), select: true };
  };
}

// The logs language's fields besides attr. and resource. (query/README.md).
const LOG_FIELDS = [
  { name: 'service', hint: 'service name', scope: 'field' },
  { name: 'level', hint: 'trace…fatal; level>=warn', scope: 'field' },
  { name: 'severity_text', hint: 'as sent', scope: 'field' },
  { name: 'trace_id', hint: 'hex id' },
  { name: 'span_id', hint: 'hex id' },
  { name: 'body', hint: 'a word or "phrase"' },
  { name: 'pattern', hint: 'a log pattern: "order <*> created"' },
];

// logSource completes the logs query box: field names (service:, level:,
// attr.<key>:, resource.<key>:) as a word is typed, then the values of
// the field before ':'. ctx() gives {start, end}. A bare word may be a
// full-text search: its suggestions are offered but not highlighted, so
// Enter still searches.
export function logSource(ctx) {
  return async (text, caret, signal) => {
    const tok = currentToken(text, caret);
    let { from, word } = tok;
    const { to } = tok;
    // A negation (-field: or NOT is a word of its own) keeps its sign.
    if (word.startsWith('-')) {
      from++;
      word = word.slice(1);
    }
    const { start, end } = ctx();
    const colon = word.search(/:|!=|>=|<=|>|</);
    if (colon < 0) {
      if (word === '' || word.startsWith('"')) return null;
      const lower = word.toLowerCase();
      let scope = '';
      let prefix = word;
      if (lower.startsWith('attr.')) {
        scope = 'attribute';
        prefix = word.slice(5);
      } else if (lower.startsWith('resource.')) {
        scope = 'resource';
        prefix = word.slice(9);
      }
      const items = scope ? [] : LOG_FIELDS.filter((f) => f.name.startsWith(lower)).map((f) => ({ insert: `${f.name}:`, label: `${f.name}:`, hint: f.hint, again: !!f.scope }));
      const rows = await api.attributeKeys({ signal: 'log', scope: scope || '', prefix, start, end, limit: 200 }, { signal });
      for (const k of mergeKeys(rows)) {
        if (k.scope === 'field') continue; // listed above
        const name = `${k.scope === 'resource' ? 'resource' : 'attr'}.${k.key}`;
        items.push({ insert: `${name}:`, label: `${name}:`, hint: typeHint(k.types), count: k.count,
          countTitle: `${k.count} records carry it; about ${k.distinct} distinct values`, again: true });
        if (items.length >= 30) break;
      }
      return { from, to, items, select: !!scope };
    }
    const field = word.slice(0, colon);
    const op = word.slice(colon).match(/^(:|!=|>=|<=|>|<)/)[1];
    const raw = word.slice(colon + op.length);
    if (raw.startsWith('*')) return null; // a wildcard is typed, not picked
    let scope = 'field';
    let key = field;
    if (field.startsWith('attr.') || field.startsWith('attributes.')) {
      scope = 'attribute';
      key = field.slice(field.indexOf('.') + 1);
    } else if (field.startsWith('resource.')) {
      scope = 'resource';
      key = field.slice(9);
    } else if (field === 'severity') key = 'level';
    else if (!['service', 'level', 'severity_text'].includes(field)) return null;
    if (!key) return null;
    const res = await api.attributeValues({ signal: 'log', scope, key, prefix: unquote(raw), start, end, limit: 30 }, { signal });
    return { from: from + colon + op.length, to, items: valueItems(res).filter((it) => it.label !== '(empty)'), select: true };
  };
}
