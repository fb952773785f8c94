// The span detail panel and the trace-wide logs list.
import { h, fmtDuration, fmtTime, svcLabel, copyText, severityClass } from './util.js';
import { fmtAttrValue } from './model.js';
import { href } from './router.js';

// keyParts lets an attribute key wrap only after its dots and slashes
// (http.response.<wbr>status_code), never inside a word.
function keyParts(key) {
  const out = [];
  for (const part of String(key).split(/(?<=[./])/)) {
    if (out.length) out.push(h('wbr'));
    out.push(part);
  }
  return out;
}

export function attrTable(list, { empty = 'none' } = {}) {
  if (!list || !list.length) return h('div', { class: 'faint' }, empty);
  const sorted = [...list].sort((a, b) => a.key.localeCompare(b.key));
  return h('div', { class: 'kv' }, sorted.flatMap((a) => [
    h('div', { class: 'k', title: a.key }, keyParts(a.key)),
    h('div', { class: `v t-${a.type}` }, h('span', { class: 'type' }, a.type), fmtAttrValue(a)),
  ]));
}

export function spanDetail(trace, sp, { onSelectSpan, onSelectLog } = {}) {
  const statusBadge = sp.error
    ? h('span', { class: 'badge error' }, 'ERROR')
    : h('span', { class: 'badge' + (sp.status.code === 'OK' ? ' ok' : '') }, sp.status.code || 'UNSET');
  const parent = sp.parent;
  const body = h('div', null,
    h('div', { class: 'summary-grid' },
      h('div', null, h('div', { class: 'l' }, 'Duration'), h('div', { class: 'n' }, fmtDuration(sp.duration))),
      h('div', null, h('div', { class: 'l' }, 'Self time'), h('div', { class: 'n' }, fmtDuration(sp.self))),
      h('div', null, h('div', { class: 'l' }, 'Starts at'), h('div', { class: 'n' }, `+${fmtDuration(sp.offset)}`)),
      h('div', null, h('div', { class: 'l' }, 'Kind'), h('div', { class: 'n' }, sp.kind || '–')),
      h('div', null, h('div', { class: 'l' }, 'Status'), h('div', { class: 'n' }, statusBadge)),
      h('div', null, h('div', { class: 'l' }, 'Critical path'), h('div', { class: 'n' }, sp.onCrit ? `yes · ${fmtDuration(sp.crit.reduce((a, [x, y]) => a + (y - x), 0))}` : 'no'))),
    sp.status.message ? h('div', { class: 'error-box' }, h('b', null, 'Status: '), sp.status.message) : null,
    messaging(trace, sp, onSelectSpan),
    h('h3', null, `Attributes (${sp.attrs.length})`),
    attrTable(sp.attrs),
    h('h3', null, `Events (${sp.events.length})`),
    sp.events.length ? sp.events.map((ev) => h('div', { class: 'event' },
      h('div', null, h('b', { class: ev.name === 'exception' ? 'err-text' : '' }, ev.name || '(unnamed)'), ' ',
        h('span', { class: 'when' }, `+${fmtDuration(ev.time - trace.start)} · ${fmtTime(ev.time / 1000)}`)),
      ev.attrs.length ? attrTable(ev.attrs) : null)) : h('div', { class: 'faint' }, 'none'),
    h('h3', null, `Logs of this span (${sp.logs.length})`),
    sp.logs.length ? logList(trace, sp.logs, { onSelectLog, showSpan: false }) : h('div', { class: 'faint' }, 'none'),
    h('h3', { id: 'span-links' }, `Links (${sp.links.length})`),
    sp.links.length ? h('div', { class: 'kv links' }, sp.links.flatMap((l) => {
      const name = l.target ? `${l.target.service}: ${l.target.name}` : `span ${l.spanID}`;
      return [
        h('div', { class: 'k' }, l.refType || (l.sameTrace ? 'link' : 'link to another trace')),
        h('div', { class: 'v' },
          !l.sameTrace
            ? h('a', { class: 'follow-link', href: href(`/trace/${l.traceID}`, { span: l.spanID, from: trace.traceID, fromSpan: sp.id }), dataset: { traceId: l.traceID } }, name)
            : h('a', { href: '#', onclick: (e) => {
              e.preventDefault();
              if (onSelectSpan) onSelectSpan(l.spanID);
            } }, name),
          h('div', { class: 'faint mono' }, l.sameTrace ? `span ${l.spanID} in this trace` : `trace ${String(l.traceID).slice(0, 16)}… / span ${l.spanID}`,
            l.target ? ` · started ${fmtSigned(l.target.start - sp.start)} from this span` : '', l.missing ? ' · not found (kept for less time, or not sent)' : ''),
          l.attrs.length ? attrTable(l.attrs) : null),
      ];
    })) : h('div', { class: 'faint' }, 'none'),
    h('h3', null, 'Resource'),
    attrTable(sp.resource),
    sp.scope && sp.scope.name ? [h('h3', null, 'Instrumentation scope'), h('div', { class: 'mono' }, `${sp.scope.name}${sp.scope.version ? ' ' + sp.scope.version : ''}`)] : null,
    h('h3', null, 'Identifiers'),
    h('div', { class: 'kv' },
      h('div', { class: 'k' }, 'span id'), h('div', { class: 'v' }, sp.id, ' ', h('button', { class: 'btn small', type: 'button', onclick: () => copyText(sp.id) }, 'Copy')),
      h('div', { class: 'k' }, 'parent'), h('div', { class: 'v' }, parent
        ? h('a', { href: '#', onclick: (e) => {
          e.preventDefault();
          if (onSelectSpan) onSelectSpan(parent.id);
        } }, `${parent.service}: ${parent.name}`)
        : (sp.parentId ? `${sp.parentId} (not in this trace)` : '(root)')),
      h('div', { class: 'k' }, 'start'), h('div', { class: 'v' }, fmtTime(sp.start / 1000, { date: true }))),
    h('h3', null, 'More'),
    h('div', { style: { display: 'flex', gap: '6px', flexWrap: 'wrap' } },
      h('a', { class: 'btn small', href: href('/search', { service: sp.service, operation: sp.name }) }, 'Find similar traces'),
      h('a', { class: 'btn small', href: href(`/service/${encodeURIComponent(sp.service)}`, { operation: sp.name }) }, `${sp.service} dashboard`),
      h('a', { class: 'btn small', href: href('/logs', { q: `span_id:${sp.id}` }) }, 'Logs of this span')));
  return {
    title: h('div', { class: 'title' }, svcLabel(sp.service), h('div', null, sp.name)),
    body,
  };
}

// fmtSigned writes a time difference with its sign.
function fmtSigned(us) {
  return us < 0 ? `${fmtDuration(-us)} before` : `${fmtDuration(us)} after`;
}

// messaging says what a producer or consumer span did with its message:
// where it went, how long the delivery waited, which delivery it was, and
// for a producer, the deliveries of its message in this trace.
function messaging(trace, sp, onSelectSpan) {
  const k = String(sp.kind).toLowerCase();
  if (k !== 'producer' && k !== 'consumer') return null;
  const attr = (key) => (sp.attrs.find((a) => a.key === key) || {}).value;
  const dest = attr('messaging.destination.name');
  const system = attr('messaging.system');
  const deliveryKey = sp.attrs.find((a) => /^messaging\..+\.message\.delivery_(count|attempt)$/.test(a.key));
  const rows = [];
  if (dest) rows.push(h('div', { class: 'k' }, 'destination'), h('div', { class: 'v' }, dest, system ? h('span', { class: 'faint' }, ` (${system})`) : null));
  if (k === 'consumer') {
    if (sp.parent) {
      rows.push(h('div', { class: 'k' }, 'published by'), h('div', { class: 'v' }, h('a', { href: '#', onclick: (e) => {
        e.preventDefault();
        if (onSelectSpan) onSelectSpan(sp.parent.id);
      } }, `${sp.parent.service}: ${sp.parent.name}`)));
      rows.push(h('div', { class: 'k' }, 'queued'), h('div', { class: 'v', id: 'span-queue-delay' }, fmtDuration(sp.queueDelay), h('span', { class: 'faint' }, ' from the publish to this delivery\u2019s start')));
    }
    if (deliveryKey) rows.push(h('div', { class: 'k' }, 'delivery'), h('div', { class: 'v' }, `#${deliveryKey.value}`, Number(deliveryKey.value) > 1 ? h('span', { class: 'faint' }, ' (a redelivery: an earlier one failed or was not acknowledged)') : null));
  } else {
    const deliveries = sp.children.filter((c) => String(c.kind).toLowerCase() === 'consumer');
    rows.push(h('div', { class: 'k' }, 'deliveries'), h('div', { class: 'v' }, deliveries.length
      ? deliveries.map((d, i) => [i ? ', ' : '', h('a', { href: '#', onclick: (e) => {
        e.preventDefault();
        if (onSelectSpan) onSelectSpan(d.id);
      } }, `${d.service} +${fmtDuration(d.queueDelay)}${d.error ? ' (failed)' : ''}`)])
      : h('span', { class: 'faint' }, 'none in this trace')));
  }
  return [h('h3', null, 'Message'), h('div', { class: 'kv', id: 'span-messaging' }, rows)];
}

// logList renders log records; clicking one calls onSelectLog(log).
export function logList(trace, logs, { onSelectLog, showSpan = true, selected } = {}) {
  return h('div', { class: 'loglist', role: 'list' }, logs.map((l) => {
    const sev = severityClass(l.severityText, l.severityNumber);
    return h('div', {
      class: 'logline', role: 'listitem', tabindex: '0', 'aria-selected': String(l === selected),
      onclick: () => onSelectLog && onSelectLog(l),
      onkeydown: (e) => {
        if (e.key === 'Enter' && onSelectLog) {
          e.stopPropagation();
          onSelectLog(l);
        }
      },
    },
    h('span', { class: 't', title: fmtTime(l.time / 1000, { date: true }) }, `+${fmtDuration(l.time - trace.start)}`),
    h('span', { class: `sev ${sev}` }, (l.severityText || sev).slice(0, 5)),
    h('span', { class: 'b' }, String(l.body)),
    showSpan ? (l.span
      ? h('span', { class: 'spanlink' }, h('a', { href: '#', title: 'Show the span that wrote this log', onclick: (e) => {
        e.preventDefault();
        e.stopPropagation();
        if (onSelectLog) onSelectLog(l, { span: true });
      } }, `${l.span.service}: ${l.span.name}`))
      : h('span', { class: 'spanlink faint' }, l.spanID ? 'span not in trace' : 'no span')) : null);
  }));
}

export function logDetail(trace, l, { onSelectSpan } = {}) {
  const sev = severityClass(l.severityText, l.severityNumber);
  return {
    title: h('div', { class: 'title' }, h('span', { class: `sev ${sev}` }, l.severityText || sev), ' ', svcLabel(l.service || (l.span && l.span.service) || '')),
    body: h('div', null,
      h('h3', null, 'Body'),
      h('pre', { class: 'mono', style: { whiteSpace: 'pre-wrap', margin: 0 } }, String(l.body)),
      h('h3', null, 'When'),
      h('div', { class: 'mono' }, `${fmtTime(l.time / 1000, { date: true })} (+${fmtDuration(l.time - trace.start)} into the trace)`),
      h('h3', null, 'Span'),
      l.span ? h('a', { href: '#', onclick: (e) => {
        e.preventDefault();
        onSelectSpan && onSelectSpan(l.span.id);
      } }, `${l.span.service}: ${l.span.name}`) : h('span', { class: 'faint' }, l.spanID ? `${l.spanID} (not in this trace)` : 'none'),
      h('h3', null, `Attributes (${l.attrs.length})`),
      attrTable(l.attrs),
      h('h3', null, 'Resource'),
      attrTable(l.resource)),
  };
}
