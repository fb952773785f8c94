// Services: a list of every service with its RED sparkline, and one
// service's dashboard: rate, error rate and latency percentiles over time,
// for the whole service (its served requests) or one operation, plus a
// table of its operations. Every rate is calls per second of the time the
// data covers (the API's coverage), so the list, the map, the charts and
// the operations table agree for the same range; the first and last steps
// with data are partial and drawn so.
import * as api from '../api.js';
import { h, clear, fmtRate, fmtPct, fmtDurationNs, fmtSpan, fmtTime, svcLabel, serviceColor } from '../util.js';
import { navigate, href } from '../router.js';
import { resolveRange, rangeParams, timePicker } from '../timerange.js';
import { lineChart, sparkline } from '../charts.js';
import { toMicros } from '../model.js';

export function mount(main, route) {
  if (route.page === 'services' || !route.args[0]) return mountList(main, route);
  return mountDashboard(main, route);
}

// pickStep chooses a step (seconds) that gives about 60 points.
function pickStep(range) {
  const secs = (range.end - range.start) / 1000;
  return Math.max(60, Math.ceil(secs / 60 / 60) * 60);
}

const pointTime = (p) => toMicros(p.time) / 1000;

// RECENT_MS is the recent window of the operations table (as the map's).
const RECENT_MS = 5 * 60e3;

// coverageText says what the rates are over.
export function coverageText(cov) {
  if (!cov || !cov.seconds) return 'No spans in this range.';
  return `Rates are per second over the ${fmtSpan(cov.seconds)} the data covers (${fmtTime(Date.parse(cov.start), { millis: false })} – ${fmtTime(Date.parse(cov.end), { millis: false })}).`;
}

// seriesPoints turns RED points into chart points [t, value, flags]: no
// value where the data does not cover the step, partial steps flagged.
function seriesPoints(pts, value) {
  return pts.map((p) => [pointTime(p), p.rate === null ? null : value(p), { partial: !!p.partial, covered: p.coveredSeconds }]);
}

// noDataSpans are the stretches of a series that no data covers.
function noDataSpans(pts, stepMs) {
  const out = [];
  for (const p of pts) {
    if (p.rate !== null) continue;
    const t = pointTime(p);
    const last = out[out.length - 1];
    if (last && last[1] === t) last[1] = t + stepMs;
    else out.push([t, t + stepMs]);
  }
  return out;
}

function mountList(main, route) {
  const range = resolveRange(route.params, '1h');
  const ctl = new AbortController();
  document.title = 'Services · Tracehouse';
  const grid = h('div', { class: 'svc-list', id: 'service-list' });
  const note = h('div', { class: 'coverage-note', id: 'svc-coverage' });
  main.appendChild(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Services'), timePicker(range, (rp) => navigate('/services', rp), { id: 'svc-range' })),
    note,
    h('div', { class: 'page-scroll' }, grid)));
  grid.appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), 'Loading…'));
  (async () => {
    const [names, map] = await Promise.all([api.services({ signal: ctl.signal }), api.serviceMap(range.start, range.end, { signal: ctl.signal }).catch(() => null)]);
    clear(grid);
    if (!names.length) {
      grid.appendChild(h('div', { class: 'empty card' }, h('strong', null, 'No services yet'), 'Send traces to the collector and they appear here.'));
      return;
    }
    note.textContent = map ? coverageText(map.coverage) : '';
    const stats = new Map(((map && map.nodes) || []).map((n) => [n.service, n]));
    for (const name of names) {
      const st = stats.get(name);
      const hl = (st && st.health) || { state: 'ok' };
      const bad = hl.state === 'failing' || hl.state === 'unreachable';
      const spark = h('div');
      grid.appendChild(h('a', { class: 'card svc-card' + (bad ? ' bad' : ''), href: href(`/service/${encodeURIComponent(name)}`, rangeParams(range)), dataset: { service: name, health: hl.state } },
        h('div', { class: 'name' }, svcLabel(name),
          bad ? h('span', { class: 'badge error', title: hl.reason || '' }, hl.state + (hl.now ? '' : ' earlier')) : null,
          hl.rootCause ? h('span', { class: 'badge error', title: 'failing, and nothing it calls is failing' }, '⚠ failure starts here') : null),
        st && st.calls ? h('div', { class: 'muted stats' }, `${fmtRate(st.rate)} · `, h('span', { class: st.errorRate >= 0.05 ? 'err-text' : '' }, `${fmtPct(st.errorRate)} errors`), ` · p95 ${fmtDurationNs(st.p95Ns)}`)
          : h('div', { class: 'faint' }, 'no requests served in this window'),
        bad && hl.reason ? h('div', { class: 'err-text small reason' }, hl.reason) : null,
        spark));
      api.red({ service: name, start: range.start, end: range.end, step: pickStep(range) }, { signal: ctl.signal }).then((r) => {
        spark.appendChild(sparkline(r.points.map((p) => p.rate), { width: 236, height: 30, color: serviceColor(name) }));
        spark.title = 'requests per second over the range; gaps have no data';
      }).catch(() => {});
    }
  })().catch((e) => {
    if (e.name !== 'AbortError') clear(grid).appendChild(h('div', { class: 'error-box', role: 'alert' }, e.message));
  });
  return { destroy: () => ctl.abort() };
}

// INSTANCE_COLORS tell an instance's rate line apart (the service's own
// color draws the total).
const INSTANCE_COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948', '#ff9da7', '#9c755f'];

// renderInstances fills the instances card: what each process of the
// service served over the range. A row narrows the dashboard to it.
function renderInstances(box, list, { service, instance, params }) {
  const named = list.filter((it) => it.instance);
  if (!named.length) return; // one process without an id: nothing to split
  box.classList.remove('hidden');
  const tbody = h('tbody');
  for (const it of list) {
    const id = it.instance;
    const tr = h('tr', { class: id ? 'clickable' : '', tabindex: id ? '0' : null, 'aria-selected': String(!!instance && id === instance), dataset: { instance: id },
      onclick: () => id && navigate(`/service/${encodeURIComponent(service)}`, params({ instance: id === instance ? '' : id })),
      onkeydown: (ev) => {
        if (ev.key === 'Enter') tr.click();
      } },
    h('td', null, id || h('span', { class: 'faint' }, '(no service.instance.id)')),
    h('td', { class: 'num' }, String(it.calls)),
    h('td', { class: 'num' }, fmtRate(it.rate)),
    h('td', { class: 'num' + (it.errorRate >= 0.05 ? ' err-text' : '') }, it.calls ? fmtPct(it.errorRate) : '–'),
    h('td', { class: 'num' }, fmtDurationNs(it.p50Ns)),
    h('td', { class: 'num' }, fmtDurationNs(it.p95Ns)),
    h('td', { class: 'num' }, fmtDurationNs(it.p99Ns)),
    h('td', { class: 'num faint' }, fmtTime(Date.parse(it.lastSeen), { millis: false })));
    tbody.appendChild(tr);
  }
  const total = list.reduce((a, it) => a + it.calls, 0);
  box.append(h('div', { class: 'card-head' }, h('h2', { id: 'inst-title' }, `Instances (${named.length})`),
    h('span', { class: 'faint' }, ` service.instance.id · ${total} calls in all`)),
  h('div', { class: 'card-body' }, h('table', { class: 'grid', 'aria-labelledby': 'inst-title' },
    h('thead', null, h('tr', null, h('th', null, 'Instance'), h('th', { class: 'num' }, 'Calls'), h('th', { class: 'num', title: 'calls per second of the time the data covers' }, 'Rate'),
      h('th', { class: 'num' }, 'Errors'), ...['p50', 'p95', 'p99'].map((q) => h('th', { class: 'num' }, q)), h('th', { class: 'num', title: 'the last minute with its spans' }, 'Last seen'))),
    tbody)));
}

function mountDashboard(main, route) {
  const service = route.args[0];
  const operation = route.params.get('operation') || '';
  const instance = route.params.get('instance') || '';
  const range = resolveRange(route.params, '1h');
  const ctl = new AbortController();
  const disposers = [];
  document.title = `${service} · Tracehouse`;
  const params = (extra) => ({ operation, instance, ...rangeParams(range), ...extra });

  const opSel = h('select', { id: 'dash-operation', 'aria-label': 'Operation', onchange: () => navigate(`/service/${encodeURIComponent(service)}`, params({ operation: opSel.value })) },
    h('option', { value: '' }, 'All served requests'));
  const instSel = h('select', { id: 'dash-instance', 'aria-label': 'Instance (service.instance.id)', title: 'One process of the service (service.instance.id)',
    onchange: () => navigate(`/service/${encodeURIComponent(service)}`, params({ instance: instSel.value })) },
  h('option', { value: '' }, 'All instances'), instance ? h('option', { value: instance, selected: true }, instance) : null);
  const instBox = h('div', { class: 'card hidden', id: 'instances' });
  const charts = h('div', { class: 'dash-grid', id: 'red-charts' });
  const opsBox = h('div', { class: 'card', id: 'operations' });
  const note = h('div', { class: 'coverage-note', id: 'dash-coverage' });
  const healthBox = h('div', { id: 'dash-health' });
  main.appendChild(h('div', { class: 'page' },
    h('div', { class: 'page-head' },
      h('h1', null, svcLabel(service)),
      opSel,
      instSel,
      timePicker(range, (rp) => navigate(`/service/${encodeURIComponent(service)}`, { operation, instance, ...rp }), { id: 'dash-range' }),
      h('span', { class: 'grow' }),
      h('a', { class: 'btn small', href: href('/search', { service, operation, instance, ...rangeParams(range) }) }, 'Traces'),
      h('a', { class: 'btn small', href: href('/logs', { q: `service:${service}`, ...rangeParams(range) }) }, 'Logs'),
      h('a', { class: 'btn small', href: href('/map', rangeParams(range)) }, 'Service map')),
    note,
    h('div', { class: 'page-scroll' }, healthBox, charts, h('div', { style: { height: '12px' } }), instBox, opsBox)));

  // The map's verdict on the service: its callers' failures do not show in
  // its own charts (a breaker spares a service that is down).
  api.serviceMap(range.start, range.end, { signal: ctl.signal }).then((m) => {
    const n = (m.nodes || []).find((x) => x.service === service);
    const hl = n && n.health;
    if (!hl || (hl.state !== 'failing' && hl.state !== 'unreachable')) return;
    healthBox.append(h('div', { class: 'error-box health-box', role: 'status' },
      h('b', null, `${hl.state === 'unreachable' ? 'Unreachable' : 'Failing'}${hl.now ? '' : ' earlier in the range'}${hl.rootCause ? ', and the failure starts here' : ''}: `),
      hl.reason, '.'));
  }).catch(() => { /* the charts say enough */ });

  const chartCard = (id, title) => {
    const body = h('div', { id });
    const legend = h('div', { class: 'legend' });
    charts.appendChild(h('div', { class: 'card' }, h('div', { class: 'card-head' }, h('h2', null, title), h('span', { class: 'grow' }), legend), h('div', { class: 'card-body' }, body)));
    return { body, legend };
  };
  const rateC = chartCard('chart-rate', 'Requests');
  const errC = chartCard('chart-errors', 'Error rate');
  const latC = chartCard('chart-latency', 'Latency');
  for (const c of [rateC, errC, latC]) c.body.appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' })));

  const zoom = (a, b) => navigate(`/service/${encodeURIComponent(service)}`, { operation, instance, range: 'custom', start: Math.round(a), end: Math.round(b) });
  const step = pickStep(range);
  // The instances: a table, the selector's options, and with every
  // instance shown, one rate line each.
  const instancesP = api.instances({ service, operation, start: range.start, end: range.end }, { signal: ctl.signal }).then((list) => {
    for (const it of list) {
      if (it.instance && it.instance !== instance) instSel.appendChild(h('option', { value: it.instance }, it.instance));
    }
    renderInstances(instBox, list, { service, instance, params });
    return list;
  }).catch((e) => {
    if (e.name === 'AbortError') throw e;
    return [];
  });
  const perInstanceP = instance ? Promise.resolve([]) : instancesP.then((list) => {
    const named = list.filter((it) => it.instance).slice(0, INSTANCE_COLORS.length);
    if (named.length < 2) return [];
    return Promise.all(named.map((it, i) => api.red({ service, operation, instance: it.instance, start: range.start, end: range.end, step }, { signal: ctl.signal })
      .then((r) => ({ name: it.instance, color: INSTANCE_COLORS[i], points: r.points || [] }))));
  }).catch((e) => {
    if (e.name === 'AbortError') throw e;
    return [];
  });
  Promise.all([api.red({ service, operation, instance: instance || undefined, start: range.start, end: range.end, step }, { signal: ctl.signal }), perInstanceP]).then(([r, perInstance]) => {
    const pts = r.points || [];
    const domain = [range.start, range.end];
    const noData = noDataSpans(pts, r.stepSeconds * 1000);
    note.textContent = coverageText(r.coverage);
    clear(rateC.body);
    clear(errC.body);
    clear(latC.body);
    const nz = (v, p) => (p.calls ? v : null);
    disposers.push(lineChart(rateC.body, { label: 'Requests per second', domain, onBrush: zoom, fmtY: (v) => fmtRate(v), noData,
      series: [{ name: instance ? `rate of ${instance}` : 'rate', color: 'var(--accent)', points: seriesPoints(pts, (p) => p.rate) },
        ...perInstance.map((pi) => ({ name: pi.name, color: pi.color, dash: '4 2', points: seriesPoints(pi.points, (p) => p.rate) }))] }));
    if (perInstance.length) {
      rateC.legend.append(h('span', { id: 'rate-instances' }, h('span', null, h('i', { style: { background: 'var(--accent)' } }), 'all'),
        ...perInstance.map((pi) => h('span', { dataset: { instance: pi.name } }, h('i', { style: { background: pi.color } }), pi.name))));
    }
    disposers.push(lineChart(errC.body, { label: 'Error rate', domain, onBrush: zoom, fmtY: fmtPct, yMin: 0.01, noData,
      series: [{ name: 'errors', color: 'var(--error)', points: seriesPoints(pts, (p) => nz(p.errorRate, p)) }] }));
    const lat = [
      { name: 'p50', color: '#59a14f', key: 'p50Ns' },
      { name: 'p95', color: '#f28e2b', key: 'p95Ns' },
      { name: 'p99', color: '#e15759', key: 'p99Ns' },
    ];
    disposers.push(lineChart(latC.body, { label: 'Latency percentiles', domain, onBrush: zoom, fmtY: fmtDurationNs, noData,
      series: lat.map((l) => ({ name: l.name, color: l.color, points: seriesPoints(pts, (p) => nz(p[l.key], p)) })) }));
    latC.legend.append(...lat.map((l) => h('span', null, h('i', { style: { background: l.color } }), l.name)));
    const calls = pts.reduce((a, p) => a + p.calls, 0);
    const errs = pts.reduce((a, p) => a + p.errors, 0);
    const secs = (r.coverage && r.coverage.seconds) || 0;
    rateC.legend.append(h('span', { id: 'rate-summary' }, `${calls} calls · ${fmtRate(secs ? calls / secs : 0)}`));
    errC.legend.append(h('span', { class: errs ? 'err-text' : '', id: 'error-summary' }, `${errs} errors · ${calls ? fmtPct(errs / calls) : '–'}`));
    if (pts.some((p) => p.partial)) rateC.legend.append(h('span', { class: 'faint', title: 'The first and last steps with data are only partly covered: their rate is over the covered part, drawn dashed' }, '◌ partial'));
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    clear(charts).appendChild(h('div', { class: 'error-box', role: 'alert', style: { gridColumn: '1 / -1' } }, h('b', null, 'Cannot load metrics: '), e.message));
  });

  // Operations table: one RED query per operation (whole window, one step).
  api.operations(service, { signal: ctl.signal }).then(async (ops) => {
    for (const o of ops) opSel.appendChild(h('option', { value: o, selected: o === operation }, o));
    if (operation && !ops.includes(operation)) opSel.appendChild(h('option', { value: operation, selected: true }, operation));
    const tbody = h('tbody');
    clear(opsBox).append(h('div', { class: 'card-head' }, h('h2', { id: 'ops-title' }, `Operations (${ops.length})`),
      instance ? h('span', { class: 'faint' }, ` of instance ${instance}`) : null),
      h('div', { class: 'card-body' }, h('table', { class: 'grid', 'aria-labelledby': 'ops-title' },
        h('thead', null, h('tr', null, h('th', null, 'Operation'), h('th', { class: 'num' }, 'Calls'), h('th', { class: 'num', title: 'calls per second of the time the data covers' }, 'Rate'),
          h('th', { class: 'num', title: 'failed calls over the whole range' }, 'Errors'), h('th', { class: 'num', title: 'failed calls in the last 5 minutes of the range' }, 'Last 5 min'),
          ...['p50', 'p95', 'p99'].map((q) => h('th', { class: 'num', title: 'call-weighted mean of the per-step percentiles' }, q)), h('th', null, 'Rate · error rate over time'))),
        tbody)));
    const rows = await Promise.all(ops.map(async (o) => {
      try {
        const r = await api.red({ service, operation: o, instance: instance || undefined, start: range.start, end: range.end, step }, { signal: ctl.signal });
        return { o, pts: r.points || [], cov: r.coverage };
      } catch (e) {
        if (e.name === 'AbortError') throw e;
        return { o, pts: [], err: e.message };
      }
    }));
    rows.sort((a, b) => b.pts.reduce((x, p) => x + p.calls, 0) - a.pts.reduce((x, p) => x + p.calls, 0));
    for (const { o, pts, err, cov } of rows) {
      const calls = pts.reduce((a, p) => a + p.calls, 0);
      const errors = pts.reduce((a, p) => a + p.errors, 0);
      const weighted = (k) => (calls ? pts.reduce((a, p) => a + p[k] * p.calls, 0) / calls : NaN);
      const secs = (cov && cov.seconds) || 0;
      // The last 5 minutes: the steps that start in them (the last step
      // when a step is longer).
      const stepMs = step * 1000;
      let recent = pts.filter((p) => pointTime(p) + stepMs > range.end - RECENT_MS);
      if (!recent.length && pts.length) recent = pts.slice(-1);
      const rCalls = recent.reduce((a, p) => a + p.calls, 0);
      const rErrors = recent.reduce((a, p) => a + p.errors, 0);
      const rRate = rCalls ? rErrors / rCalls : NaN;
      const tr = h('tr', { class: 'clickable', tabindex: '0', 'aria-selected': String(o === operation), dataset: { operation: o },
        onclick: () => navigate(`/service/${encodeURIComponent(service)}`, params({ operation: o === operation ? '' : o })),
        onkeydown: (ev) => {
          if (ev.key === 'Enter') tr.click();
        } },
      h('td', null, o, err ? h('div', { class: 'err-text' }, err) : null),
      h('td', { class: 'num' }, String(calls)),
      h('td', { class: 'num' }, fmtRate(secs ? calls / secs : 0)),
      h('td', { class: 'num' + (errors ? ' err-text' : '') }, calls ? fmtPct(errors / calls) : '–'),
      h('td', { class: 'num recent' + (rRate >= 0.05 ? ' err-text strong' : '') }, rCalls ? fmtPct(rRate) : '–'),
      h('td', { class: 'num' }, fmtDurationNs(weighted('p50Ns'))),
      h('td', { class: 'num' }, fmtDurationNs(weighted('p95Ns'))),
      h('td', { class: 'num' }, fmtDurationNs(weighted('p99Ns'))),
      h('td', { class: 'sparks' }, sparkline(pts.map((p) => p.rate), { width: 110, height: 24, color: serviceColor(service) }),
        errors ? sparkline(pts.map((p) => (p.rate === null ? null : p.calls ? p.errorRate : 0)), { width: 110, height: 24, color: 'var(--error)', max: 1 })
          : h('span', { class: 'spark-gap' })));
      tbody.appendChild(tr);
    }
  }).catch((e) => {
    if (e.name !== 'AbortError') clear(opsBox).appendChild(h('div', { class: 'error-box' }, e.message));
  });

  return {
    destroy() {
      ctl.abort();
      disposers.forEach((d) => d());
    },
    onKey(ev) {
      const rows = [...opsBox.querySelectorAll('tbody tr')];
      if (!rows.length) return false;
      const i = rows.indexOf(document.activeElement);
      if (ev.key === 'j') {
        rows[Math.min(rows.length - 1, i + 1)].focus();
        return true;
      }
      if (ev.key === 'k') {
        rows[Math.max(0, i - 1)].focus();
        return true;
      }
      return false;
    },
  };
}
