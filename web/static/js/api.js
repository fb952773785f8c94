// The query API's client. Every call goes to the origin that served the
// page. Errors become ApiError with the server's message and, for bad
// queries, the position in the query where the problem starts.

export class ApiError extends Error {
  constructor(status, message, { param = '', position = -1, body = null } = {}) {
    super(message);
    this.status = status;
    this.param = param;
    this.position = position;
    this.body = body;
  }
}

const BASE = new URL('.', document.baseURI).pathname.replace(/\/$/, '');

function url(path, params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => p.append(k, String(x)));
    else p.set(k, String(v));
  }
  const qs = p.toString();
  return BASE + path + (qs ? '?' + qs : '');
}

// The bearer token, when the query service requires one (--auth-token);
// kept for the browser session only.
export function authToken() {
  try {
    return sessionStorage.getItem('tracehouse.token') || '';
  } catch {
    return '';
  }
}

export function setAuthToken(token) {
  try {
    if (token) sessionStorage.setItem('tracehouse.token', token);
    else sessionStorage.removeItem('tracehouse.token');
  } catch { /* storage disabled */ }
}

// json, when given, is sent as the JSON body (method POST).
export async function getJSON(path, params, { signal, method = 'GET', json } = {}) {
  let res;
  try {
    const headers = { Accept: 'application/json' };
    const token = authToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (json !== undefined) headers['Content-Type'] = 'application/json';
    res = await fetch(url(path, params), { signal, headers, method, body: json === undefined ? undefined : JSON.stringify(json) });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the query service: ${e.message}`);
  }
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!res.ok) throw errorFrom(res.status, body, text);
  if (body && Array.isArray(body.errors) && body.errors.length && !body.data) {
    throw errorFrom(res.status, body, text);
  }
  return body;
}

// errorFrom reads the query service's error envelope:
// {"errors": [{"code", "msg", "param", "position"}]}.
function errorFrom(status, body, text) {
  let msg = '';
  let param = '';
  let position = -1;
  if (body && typeof body === 'object') {
    const e = Array.isArray(body.errors) && body.errors.length ? body.errors[0] : (body.error && typeof body.error === 'object' ? body.error : body);
    msg = e.msg || e.message || (typeof body.error === 'string' ? body.error : '') || '';
    param = e.param || '';
    if (typeof e.position === 'number') position = e.position;
  }
  if (!msg) msg = (text || '').trim().slice(0, 500) || `HTTP ${status}`;
  if (status === 401) window.dispatchEvent(new CustomEvent('tracehouse:auth'));
  return new ApiError(status, msg, { param, position, body });
}

// Times on the wire: RFC 3339 with nanoseconds for /api/v1, epoch µs for
// the Jaeger API (what Jaeger's UI sends).
export const rfc3339 = (ms) => new Date(ms).toISOString();
const micros = (ms) => Math.round(ms * 1000);

// ---- Jaeger API ----

export async function services(opts) {
  const r = await getJSON('/api/services', null, opts);
  return (r && r.data) || [];
}

// operationsByTraffic lists a service's operation names, the busiest
// first (the calls of every kind of a name added up).
export async function operationsByTraffic(service, opts) {
  const r = await getJSON('/api/v1/operations', { service }, opts);
  const calls = new Map();
  for (const o of (r && r.data) || []) calls.set(o.name, (calls.get(o.name) || 0) + (o.calls || 0));
  return [...calls.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).map(([name, n]) => ({ name, calls: n }));
}

export async function operations(service, opts) {
  const r = await getJSON(`/api/services/${encodeURIComponent(service)}/operations`, null, opts);
  return ((r && r.data) || []).map((x) => (typeof x === 'string' ? x : x.name)).filter((v, i, a) => a.indexOf(v) === i);
}

// findTraces: q = {service, operation, instance (service.instance.id), tags:
// {k: v}, minDuration, maxDuration (Go duration text), start, end (ms),
// limit}.
export async function findTraces(q, opts) {
  const params = {
    service: q.service,
    operation: q.operation,
    instance: q.instance,
    tags: q.tags && Object.keys(q.tags).length ? JSON.stringify(q.tags) : '',
    minDuration: q.minDuration,
    maxDuration: q.maxDuration,
    start: micros(q.start),
    end: micros(q.end),
    limit: q.limit,
  };
  const r = await getJSON('/api/traces', params, opts);
  return (r && r.data) || [];
}

export async function jaegerTrace(id, opts) {
  const r = await getJSON(`/api/traces/${encodeURIComponent(id)}`, null, opts);
  const t = r && r.data && r.data[0];
  if (!t) throw new ApiError(404, `trace ${id} not found`);
  return t;
}

// tracesByID reads several traces at once (Jaeger's ?traceID=…&traceID=…):
// {traces: [Jaeger trace], missing: [trace id]}.
export async function tracesByID(ids, opts) {
  const r = await getJSON('/api/traces', { traceID: ids }, opts);
  return { traces: (r && r.data) || [], missing: ((r && r.errors) || []).map((e) => e.traceID).filter(Boolean) };
}

export async function dependencies(endMs, lookbackMs, opts) {
  const r = await getJSON('/api/dependencies', { endTs: Math.round(endMs), lookback: Math.round(lookbackMs) }, opts);
  return (r && r.data) || [];
}

// ---- Tracehouse API (every answer is {data: …}) ----

const data = (r) => (r && r.data !== undefined ? r.data : r);

export async function requestPath(id, opts) {
  return data(await getJSON(`/api/v1/traces/${encodeURIComponent(id)}`, null, opts));
}

export async function compareTraces(a, b, opts) {
  return data(await getJSON('/api/v1/traces/compare', { a, b }, opts));
}

// logs answers {logs, nextCursor, histogram: {stepSeconds, buckets}, total}:
// total is every record the query matches in [start, end), not the page.
export async function logs({ q, start, end, limit, cursor, histogram }, opts) {
  const r = await getJSON('/api/v1/logs', {
    q, start: rfc3339(start), end: rfc3339(end), limit, cursor, histogram: histogram ? 1 : '',
  }, opts);
  return { ...data(r), total: r && typeof r.total === 'number' ? r.total : 0 };
}

export function tailURL(q, startMs) {
  return url('/api/v1/logs/tail', { q, start: startMs ? rfc3339(startMs) : '', access_token: authToken() });
}

// serviceMap answers {start, end, coverage, recent, recentMinutes, nodes,
// edges}: see query/README.md.
export async function serviceMap(start, end, opts) {
  return data(await getJSON('/api/v1/servicemap', { start: rfc3339(start), end: rfc3339(end) }, opts));
}

// red answers {stepSeconds, points: [{time, calls, errors, rate, errorRate,
// avgNs, p50Ns, p95Ns, p99Ns}]}; step is in seconds; instance (a
// service.instance.id) keeps one process's spans.
export async function red({ service, operation, instance, start, end, step, spanKind }, opts) {
  return data(await getJSON('/api/v1/metrics/red', { service, operation, instance, start: rfc3339(start), end: rfc3339(end), step, spanKind }, opts));
}

// instances answers [{instance, calls, errors, rate, errorRate, p50Ns, p95Ns,
// p99Ns, firstSeen, lastSeen}], busiest first: the processes of a service.
export async function instances({ service, operation, start, end, spanKind }, opts) {
  return data(await getJSON('/api/v1/metrics/instances', { service, operation, start: rfc3339(start), end: rfc3339(end), spanKind }, opts)) || [];
}

// ---- Attribute discovery (from the hourly summary, not the raw rows) ----

// attributeKeys answers [{scope, key, type, count, distinct}], the most
// frequent first; signal is span or log.
export async function attributeKeys({ signal, scope, service, prefix, start, end, limit }, opts) {
  return data(await getJSON('/api/v1/attributes', { signal, scope, service, prefix, start: rfc3339(start), end: rfc3339(end), limit }, opts)) || [];
}

// attributeValues answers {count, distinct, types, capped, values: [{value,
// count, error}]}.
export async function attributeValues({ signal, scope, key, service, prefix, start, end, limit }, opts) {
  return data(await getJSON('/api/v1/attributes/values', { signal, scope, key, service, prefix, start: rfc3339(start), end: rfc3339(end), limit }, opts));
}

// logPatterns answers {patterns: [{pattern, filter, count, sampled, errors,
// errorRate, firstSeen, lastSeen, sparkline, example}], total, sampled,
// exact, clusters, stepSeconds}.
export async function logPatterns({ q, start, end, limit, sample }, opts) {
  return data(await getJSON('/api/v1/logs/patterns', { q, start: rfc3339(start), end: rfc3339(end), limit, sample }, opts));
}

// ---- Saved views: {id, name, route, owner, created, updated} ----

export async function views(opts) {
  return data(await getJSON('/api/v1/views', null, opts)) || [];
}

export async function view(id, opts) {
  return data(await getJSON(`/api/v1/views/${encodeURIComponent(id)}`, null, opts));
}

// saveView stores {name, route} (with id: a new version of that view).
export async function saveView(v, opts) {
  return data(await getJSON('/api/v1/views', null, { ...opts, method: 'POST', json: v }));
}

export async function deleteView(id, opts) {
  return data(await getJSON(`/api/v1/views/${encodeURIComponent(id)}/delete`, null, { ...opts, method: 'POST', json: {} }));
}
