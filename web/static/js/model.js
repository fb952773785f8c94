// The UI's trace model, built from either API shape (Tracehouse's request
// path from /api/v1/traces/:id, or Jaeger's trace JSON), so every view works
// on the same structure:
//
//   trace: {traceID, start, end, duration (µs), services, spans, byId, roots,
//           errors, logs, orphanLogs}
//   span:  {id, parentId, service, name, kind, start, end, duration, offset,
//           self (µs), depth, children, error, status, attrs, resource, scope,
//           events, links, logs, onCrit, crit: [[from, to], …] (µs),
//           queueCrit: [[from, to], …] (µs: the critical path's wait in a
//           broker before this consumer span began), queueDelay (µs: a
//           consumer's start − its producer's start, 0 for other spans)}
//   link:  {traceID, spanID, refType, attrs, sameTrace, target (the linked
//           span once resolved: {service, name, start, duration}), missing}
//   log:   {time (µs), severityText, severityNumber, service, body, attrs,
//           resource, traceID, spanID, eventName}
//
// Attribute lists are [{key, type, value}] with type one of string, int,
// double, bool, bytes, array, map, empty.

// ---- Attributes ----

// attrsFrom reads attributes as the API writes them: Jaeger tags
// [{key, type, value}] or Tracehouse's plain JSON object {key: value}. A
// JSON object cannot tell an integral double from an int; integral numbers
// show as int.
export function attrsFrom(x) {
  if (!x) return [];
  if (Array.isArray(x)) {
    return x.map((kv) => ({ key: kv.key, type: jaegerType(kv.type, kv.value), value: kv.value }));
  }
  if (typeof x === 'object') {
    return Object.entries(x).map(([key, v]) => ({ key, type: plainType(v), value: v }));
  }
  return [];
}

function plainType(v) {
  if (v === null || v === undefined) return 'empty';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'double';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'map';
  return 'string';
}

function jaegerType(t, v) {
  switch (String(t || '').toLowerCase()) {
    case 'string': return 'string';
    case 'bool': return 'bool';
    case 'int64': return 'int';
    case 'float64': return 'double';
    case 'binary': return 'bytes';
    case 'int': case 'double': case 'bytes': case 'array': case 'map': case 'empty': return String(t).toLowerCase();
    default: return plainType(v);
  }
}

export function attrValue(list, key) {
  const a = list && list.find((x) => x.key === key);
  return a ? a.value : undefined;
}

export function fmtAttrValue(a) {
  if (a.type === 'array' || a.type === 'map') return JSON.stringify(a.value, null, 1);
  if (a.type === 'empty') return '(empty)';
  return String(a.value);
}

// ---- Time ----

// toMicros reads a time the API wrote: epoch µs (Jaeger), ns as a
// number/string, RFC 3339 text, or epoch ms.
export function toMicros(t) {
  if (t === null || t === undefined || t === '') return 0;
  if (typeof t === 'number') {
    if (t > 1e17) return t / 1000; // ns
    if (t > 1e14) return t; // µs
    if (t > 1e11) return t * 1000; // ms
    return t * 1e6; // s
  }
  if (typeof t === 'string') {
    if (/^\d+$/.test(t)) return toMicros(Number(t));
    return parseRFC3339Micros(t);
  }
  return 0;
}

// parseRFC3339Micros keeps sub-millisecond digits that Date.parse drops.
export function parseRFC3339Micros(text) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?$/.exec(text);
  if (!m) return Date.parse(text) * 1000;
  const base = Date.parse(m[1] + (m[3] || 'Z'));
  const frac = m[2] ? Number((m[2] + '000000').slice(0, 6)) : 0;
  return base * 1000 + frac;
}


// ---- Logs ----

// normalizeLog reads one record of /api/v1/logs (also the tail and the
// request path): {timestamp (RFC 3339), traceId, spanId, service, level,
// severityText, severityNumber, eventName, body (any JSON), attributes,
// resource, scope, offsetNs, cursor}. t0 (µs) with offsetNs gives exact
// times inside a trace.
export function normalizeLog(r, t0) {
  if (!r) return null;
  let body = r.body;
  if (body !== null && typeof body === 'object') body = JSON.stringify(body);
  else if (body === null || body === undefined) body = '';
  return {
    time: t0 !== undefined && r.offsetNs !== undefined ? t0 + r.offsetNs / 1000 : toMicros(r.timestamp),
    severityText: r.severityText || '',
    severityNumber: Number(r.severityNumber) || 0,
    level: r.level || '',
    service: r.service || '',
    body: String(body),
    attrs: attrsFrom(r.attributes),
    resource: attrsFrom(r.resource),
    scope: r.scope || null,
    traceID: lowerHex(r.traceId || ''),
    spanID: lowerHex(r.spanId || ''),
    eventName: r.eventName || '',
    cursor: r.cursor || '',
  };
}

function lowerHex(s) {
  s = String(s || '').toLowerCase();
  return /^0*$/.test(s) ? '' : s;
}

// ---- Traces ----

// fromJaeger builds the model from one Jaeger trace object
// ({traceID, spans, processes}).
export function fromJaeger(t, logs = []) {
  const processes = t.processes || {};
  const spans = (t.spans || []).map((sp) => {
    const proc = processes[sp.processID] || sp.process || {};
    const tags = attrsFrom(sp.tags);
    const statusCode = String(attrValue(tags, 'otel.status_code') || '').toUpperCase();
    const error = attrValue(tags, 'error') === true || attrValue(tags, 'error') === 'true' || statusCode === 'ERROR';
    const parentRef = (sp.references || []).find((r) => r.refType === 'CHILD_OF' && r.traceID === sp.traceID) ||
      (sp.references || []).find((r) => r.refType === 'CHILD_OF');
    const special = new Set(['otel.status_code', 'otel.status_description', 'span.kind', 'otel.scope.name', 'otel.scope.version', 'otel.library.name', 'otel.library.version', 'w3c.tracestate']);
    return {
      id: sp.spanID,
      parentId: parentRef ? parentRef.spanID : (sp.parentSpanID || ''),
      service: proc.serviceName || '',
      name: sp.operationName,
      kind: attrValue(tags, 'span.kind') || '',
      start: sp.startTime,
      duration: sp.duration,
      status: { code: statusCode || (error ? 'ERROR' : 'UNSET'), message: attrValue(tags, 'otel.status_description') || '' },
      error,
      attrs: tags.filter((a) => !special.has(a.key) && a.key !== 'error'),
      resource: attrsFrom(proc.tags),
      scope: { name: attrValue(tags, 'otel.scope.name') || attrValue(tags, 'otel.library.name') || '', version: attrValue(tags, 'otel.scope.version') || '' },
      events: (sp.logs || []).map((l) => {
        const fields = attrsFrom(l.fields);
        const name = attrValue(fields, 'event') || '';
        return { time: l.timestamp, name, attrs: fields.filter((f) => f.key !== 'event') };
      }),
      links: (sp.references || []).filter((r) => r !== parentRef).map((r) => ({ traceID: r.traceID, spanID: r.spanID, refType: r.refType, attrs: [] })),
      logs: [],
    };
  });
  const out = buildTrace(t.traceID, spans, logs.map(normalizeLog).filter(Boolean), null);
  out.incomplete = t.incomplete || null;
  return out;
}

// fromRequestPath builds the model from /api/v1/traces/:id: {traceId,
// start (RFC 3339, ns), durationNs, criticalPath: [span ids], errors,
// resources: [{service, attributes}], roots: [span with children], logs (the
// trace's records that name no span of it)}; spans carry startOffsetNs,
// durationNs, selfTimeNs, onCriticalPath, status, attributes, events, links,
// logs and children.
export function fromRequestPath(rp) {
  const t0 = toMicros(rp.start);
  const resources = (rp.resources || []).map((r) => attrsFrom(r.attributes));
  const spans = [];
  const logs = [];
  const stack = (rp.roots || []).map((r) => [r, '']).reverse();
  while (stack.length) {
    const [n, parentId] = stack.pop();
    const sp = spanFromPath(n, parentId, t0, resources);
    spans.push(sp);
    for (const l of n.logs || []) logs.push(normalizeLog(l, t0));
    const kids = n.children || [];
    for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], sp.id]);
  }
  for (const l of rp.logs || []) logs.push(normalizeLog(l, t0));
  const t = buildTrace(rp.traceId || '', spans, logs, rp.criticalPath || null, rp.criticalSegments || null);
  t.apiErrors = rp.errors || [];
  t.incomplete = rp.incomplete || null;
  return t;
}

function spanFromPath(n, parentId, t0, resources) {
  const start = n.startOffsetNs !== undefined ? t0 + n.startOffsetNs / 1000 : toMicros(n.start);
  const code = String((n.status && n.status.code) || 'UNSET').toUpperCase();
  return {
    id: n.spanId,
    parentId: n.parentSpanId || parentId || '',
    service: n.service || '',
    name: n.name || '',
    kind: n.kind && n.kind !== 'unspecified' ? n.kind : '',
    start,
    duration: Math.max(0, (n.durationNs || 0) / 1000),
    self: n.selfTimeNs !== undefined ? n.selfTimeNs / 1000 : undefined,
    status: { code, message: (n.status && n.status.message) || '' },
    error: code === 'ERROR',
    attrs: attrsFrom(n.attributes),
    resource: typeof n.resource === 'number' ? (resources[n.resource] || []) : attrsFrom(n.resource),
    scope: n.scope || null,
    events: (n.events || []).map((e) => ({
      time: e.offsetNs !== undefined ? t0 + e.offsetNs / 1000 : toMicros(e.time),
      name: e.name || '',
      attrs: attrsFrom(e.attributes),
    })),
    links: (n.links || []).map((l) => ({ traceID: l.traceId || '', spanID: l.spanId || '', attrs: attrsFrom(l.attributes) })),
    onCritApi: n.onCriticalPath,
    queueDelay: n.queueDelayNs ? n.queueDelayNs / 1000 : undefined,
    logs: [],
  };
}

// buildTrace links spans into a tree, computes offsets, self times and the
// critical path (segments from the API when it gave them), and places logs
// under their spans.
export function buildTrace(traceID, spans, logs, criticalIds, criticalSegments) {
  const byId = new Map();
  for (const sp of spans) {
    sp.end = sp.start + sp.duration;
    sp.children = [];
    if (!byId.has(sp.id)) byId.set(sp.id, sp);
  }
  let start = Infinity;
  let end = -Infinity;
  for (const sp of spans) {
    if (sp.start < start) start = sp.start;
    if (sp.end > end) end = sp.end;
  }
  if (!spans.length) start = end = 0;
  // Parents before children that start at the same time: longer first.
  spans.sort((a, b) => a.start - b.start || b.duration - a.duration || (a.id < b.id ? -1 : 1));
  const roots = [];
  for (const sp of spans) {
    const p = sp.parentId && byId.get(sp.parentId);
    if (p && p !== sp) {
      p.children.push(sp);
      sp.parent = p;
    } else {
      roots.push(sp);
      sp.parent = null;
    }
  }
  // Depth and self time, iteratively (deep traces must not overflow the
  // stack).
  const stack = roots.map((r) => [r, 0]);
  while (stack.length) {
    const [sp, depth] = stack.pop();
    sp.depth = depth;
    sp.offset = sp.start - start;
    if (sp.self === undefined || sp.self === null || Number.isNaN(sp.self)) sp.self = selfTime(sp);
    for (let i = sp.children.length - 1; i >= 0; i--) stack.push([sp.children[i], depth + 1]);
  }
  for (const sp of spans) {
    sp.crit = [];
    sp.queueCrit = [];
    sp.onCrit = false;
    // A consumer's wait: from its producer's start (the publish) to its
    // own start, as the query service computes it.
    if (sp.queueDelay === undefined) {
      sp.queueDelay = isAsync(sp) && sp.parent ? Math.max(0, sp.start - sp.parent.start) : 0;
    }
    for (const l of sp.links) l.sameTrace = !l.traceID || String(l.traceID).toLowerCase() === String(traceID).toLowerCase();
  }
  const mainRoot = roots.find((r) => !r.parentId) || roots[0];
  if (criticalSegments && criticalSegments.length) {
    for (const sg of criticalSegments) {
      const sp = byId.get(sg.spanId);
      if (!sp) continue;
      const seg = [start + sg.startOffsetNs / 1000, start + sg.endOffsetNs / 1000];
      (sg.queue ? sp.queueCrit : sp.crit).push(seg);
    }
  } else if (mainRoot) criticalPath(mainRoot);
  if (criticalIds && criticalIds.length) {
    const set = new Set(criticalIds.map((x) => String(x).toLowerCase()));
    for (const sp of spans) sp.onCrit = set.has(String(sp.id).toLowerCase());
  } else {
    for (const sp of spans) sp.onCrit = sp.crit.length > 0 || sp.queueCrit.length > 0;
  }
  // Logs: under their span when it is in the trace, else the trace's own.
  logs.sort((a, b) => a.time - b.time);
  const orphanLogs = [];
  for (const l of logs) {
    const sp = l.spanID && byId.get(l.spanID);
    if (sp) {
      sp.logs.push(l);
      l.span = sp;
    } else orphanLogs.push(l);
  }
  const services = [...new Set(spans.map((s) => s.service))].sort();
  const errors = spans.filter((s) => s.error || s.events.some((e) => e.name === 'exception'));
  const root = mainRoot;
  return {
    traceID,
    start,
    end,
    duration: end - start,
    services,
    spans,
    byId,
    roots,
    root,
    errors,
    logs,
    orphanLogs,
    critical: spans.filter((s) => s.onCrit),
    // async: the trace crosses a broker (a consumer under its producer).
    async: spans.some((s) => isAsync(s) && s.parent),
  };
}

// isAsync says whether a span is a hop through a broker from its parent: a
// consumer span, which its parent (the producer) does not wait for.
export function isAsync(sp) {
  return String(sp.kind).toLowerCase() === 'consumer';
}

// deliveryNumber is which delivery of its message a consumer span
// processed (1 the first, 2 and on redeliveries), from the messaging
// conventions' per-system attribute (messaging.nats.message.delivery_count,
// messaging.rabbitmq.message.delivery_attempt, …); 0 when the span does not
// say.
export function deliveryNumber(sp) {
  if (!isAsync(sp)) return 0;
  const a = sp.attrs.find((x) => /^messaging\..+\.message\.delivery_(count|attempt)$/.test(x.key));
  const n = a ? Number(a.value) : 0;
  return Number.isInteger(n) && n > 0 ? n : 0;
}

function selfTime(sp) {
  const ivs = [];
  for (const c of sp.children) {
    const from = Math.max(c.start, sp.start);
    const to = Math.min(c.end, sp.end);
    if (to > from) ivs.push([from, to]);
  }
  ivs.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let cur = null;
  for (const iv of ivs) {
    if (!cur || iv[0] > cur[1]) {
      if (cur) covered += cur[1] - cur[0];
      cur = [iv[0], iv[1]];
    } else cur[1] = Math.max(cur[1], iv[1]);
  }
  if (cur) covered += cur[1] - cur[0];
  return Math.max(0, sp.duration - covered);
}

// criticalPath marks, on each span, the segments of its own time that bound
// the request's end-to-end duration (sp.crit), and the time a message
// waited in a broker before a consumer span began (sp.queueCrit): walking
// back from the end, the child that finished last before the cursor is on
// the path, the cursor moves to that child's start, and so on. A
// synchronous child is clipped to its parent; a consumer (an async hop)
// and what it leads to extend the path past its producer. Same algorithm
// as the query service's (query/requestpath.go), used when the API gave no
// segments (the Jaeger fallback); iterative, so 10,000-deep traces do not
// overflow.
function criticalPath(root) {
  // ext: when the async work under a span ends (0: none), children first.
  const order = [];
  const stack = [root];
  while (stack.length && order.length < 1e6) {
    const n = stack.pop();
    order.push(n);
    for (const c of n.children) stack.push(c);
  }
  const ext = new Map();
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    let e = 0;
    for (const c of n.children) e = Math.max(e, ext.get(c) || 0, isAsync(c) ? c.end : 0);
    ext.set(n, e);
  }
  const reach = (n, c) => Math.max(isAsync(c) ? c.end : Math.min(c.end, n.end), ext.get(c) || 0);
  const own = (n, waiting, from, to) => {
    if (to <= from) return;
    if (waiting && to > n.end) {
      if (from < n.end) n.crit.push([from, n.end]);
      waiting.queueCrit.push([Math.max(from, n.end), to]);
      return;
    }
    n.crit.push([from, to]);
  };
  const work = [[root, root.start, Math.max(root.end, ext.get(root) || 0)]];
  let guard = 0;
  while (work.length && guard++ < 1e6) {
    const [n, from, to] = work.pop();
    let cursor = to;
    let prev = null;
    for (;;) {
      let best = null;
      let bestEnd = 0;
      for (const c of n.children) {
        if (c.start >= cursor) continue;
        const r = reach(n, c);
        if (r <= from) continue;
        const e = Math.min(r, cursor);
        if (!best || e > bestEnd) {
          best = c;
          bestEnd = e;
        }
      }
      if (!best) break;
      own(n, prev, bestEnd, cursor);
      const cFrom = Math.max(best.start, from);
      work.push([best, cFrom, bestEnd]);
      cursor = cFrom;
      prev = isAsync(best) ? best : null;
      if (cursor <= from) break;
    }
    own(n, prev, from, cursor);
    if (n === root && root.duration === 0 && !n.crit.length) n.crit.push([from, from]);
  }
}

// Summary of a Jaeger trace for the search results list.
export function summarizeJaeger(t) {
  const processes = t.processes || {};
  const spans = t.spans || [];
  const ids = new Set(spans.map((s) => s.spanID));
  let start = Infinity;
  let end = -Infinity;
  let errors = 0;
  const services = new Map();
  let root = null;
  for (const sp of spans) {
    if (sp.startTime < start) start = sp.startTime;
    if (sp.startTime + sp.duration > end) end = sp.startTime + sp.duration;
    const svc = (processes[sp.processID] || {}).serviceName || '';
    const tags = sp.tags || [];
    const isErr = tags.some((tg) => (tg.key === 'error' && (tg.value === true || tg.value === 'true')) ||
      (tg.key === 'otel.status_code' && String(tg.value).toUpperCase() === 'ERROR'));
    if (isErr) errors++;
    const e = services.get(svc) || { count: 0, errors: 0 };
    e.count++;
    if (isErr) e.errors++;
    services.set(svc, e);
    const parent = (sp.references || []).find((r) => r.refType === 'CHILD_OF');
    const isRoot = !parent || !ids.has(parent.spanID);
    if (isRoot && (!root || (!parent && root.hasParent) || sp.startTime < root.sp.startTime)) {
      if (!root || !parent || root.hasParent) root = { sp, svc, hasParent: !!parent };
    }
  }
  return {
    traceID: t.traceID,
    start,
    duration: spans.length ? end - start : 0,
    spans: spans.length,
    errors,
    services: [...services.entries()].map(([name, v]) => ({ name, ...v })).sort((a, b) => a.name.localeCompare(b.name)),
    rootService: root ? root.svc : '',
    rootName: root ? root.sp.operationName : '(no spans)',
    rootMissing: root ? root.hasParent : true,
    // incomplete is the API's word that spans may be missing: {reasons,
    // arriving, rootMissing, missingParents} or null.
    incomplete: t.incomplete || null,
  };
}
