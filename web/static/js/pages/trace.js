// Trace view: header with the trace's numbers, the waterfall (with minimap
// and logs under their spans) and a side panel with the selected span or
// log, the trace's logs, its errors and its critical path. Span links to
// other traces are resolved (the linked spans' names and times, read in one
// request) and followed with the way back kept in the URL (from=,
// fromSpan=).
import * as api from '../api.js';
import { fromRequestPath, fromJaeger, deliveryNumber } from '../model.js';
import { h, clear, fmtDuration, fmtTime, svcLabel, copyText, debounce } from '../util.js';
import { href, setParams } from '../router.js';
import { Waterfall } from '../waterfall.js';
import { spanDetail, logList, logDetail } from '../spanpanel.js';

export function mount(main, route) {
  const id = (route.args[0] || '').toLowerCase();
  const ctl = new AbortController();
  const page = h('div', { class: 'page', id: 'trace-page' });
  main.appendChild(page);
  page.appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), `Loading trace ${id}…`));
  document.title = `Trace ${id.slice(0, 8)} · Tracehouse`;
  let view = null;

  load(id, ctl.signal).then((trace) => {
    clear(page);
    view = traceView(page, trace, route);
    resolveLinks(trace, ctl.signal).then((changed) => {
      if (changed && view) view.linksResolved();
    }).catch(() => { /* the page was left: nothing to redraw */ });
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    clear(page).appendChild(h('div', { class: 'page-scroll' },
      h('div', { class: 'error-box', role: 'alert', style: { marginTop: '16px' } },
        h('b', null, e.status === 404 ? 'Trace not found. ' : 'Cannot load the trace. '), e.message),
      h('p', { class: 'muted' }, 'Traces are kept for the configured retention (7 days by default). ', h('a', { href: '#/search' }, 'Search traces'))));
  });

  return {
    update(r) {
      // Same trace: only the selection or panel changed.
      if (r.page === 'trace' && (r.args[0] || '').toLowerCase() === id && view) {
        view.apply(r);
        return true;
      }
      return false;
    },
    destroy() {
      ctl.abort();
      if (view) view.destroy();
    },
    onKey(ev) {
      return view ? view.onKey(ev) : false;
    },
    focusSearch() {
      if (view) view.focusSearch();
    },
  };
}

async function load(id, signal) {
  try {
    return fromRequestPath(await api.requestPath(id, { signal }));
  } catch (e) {
    if (e.name === 'AbortError' || (e.status && e.status !== 404 && e.status !== 405)) throw e;
    // Fall back to the Jaeger API (older servers, or a 404 from a missing
    // route rather than a missing trace).
    try {
      const jt = await api.jaegerTrace(id, { signal });
      let logs = [];
      try {
        const lr = await api.logs({ q: `trace_id:${id}`, start: jt.spans.reduce((a, s) => Math.min(a, s.startTime), Infinity) / 1000 - 60e3, end: jt.spans.reduce((a, s) => Math.max(a, s.startTime + s.duration), 0) / 1000 + 60e3, limit: 1000 }, { signal });
        logs = (lr && (lr.records || lr.logs || lr.data)) || [];
      } catch { /* logs are optional */ }
      return fromJaeger(jt, logs);
    } catch (e2) {
      if (e2.name === 'AbortError') throw e2;
      throw e;
    }
  }
}

// MAX_LINKED_TRACES bounds the traces read to name linked spans (a batch
// consumer's receive span links to every message of its batch).
const MAX_LINKED_TRACES = 20;

// resolveLinks names the spans this trace's links point to: those in it
// from the trace itself, those in other traces from one read of up to
// MAX_LINKED_TRACES of them. It reports whether any link changed.
async function resolveLinks(trace, signal) {
  let changed = false;
  const others = new Map();
  for (const sp of trace.spans) {
    for (const l of sp.links) {
      if (l.sameTrace) {
        const target = trace.byId.get(l.spanID);
        if (target) {
          l.target = { service: target.service, name: target.name, start: target.start, duration: target.duration };
          changed = true;
        }
      } else if (l.traceID) {
        const id = String(l.traceID).toLowerCase();
        if (!others.has(id)) others.set(id, []);
        others.get(id).push(l);
      }
    }
  }
  const ids = [...others.keys()].slice(0, MAX_LINKED_TRACES);
  if (!ids.length) return changed;
  try {
    const { traces, missing } = await api.tracesByID(ids, { signal });
    for (const jt of traces) {
      const procs = jt.processes || {};
      const spans = new Map((jt.spans || []).map((x) => [x.spanID, x]));
      for (const l of others.get(String(jt.traceID).toLowerCase().padStart(32, '0')) || others.get(String(jt.traceID).toLowerCase()) || []) {
        const x = spans.get(l.spanID);
        if (x) l.target = { service: (procs[x.processID] || {}).serviceName || '', name: x.operationName, start: x.startTime, duration: x.duration };
        else l.missing = true;
      }
    }
    for (const m of missing) for (const l of others.get(String(m).toLowerCase().padStart(32, '0')) || others.get(String(m).toLowerCase()) || []) l.missing = true;
    return true;
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    return changed; // the links still work; they are only unnamed
  }
}

function traceView(page, trace, route) {
  const root = trace.root;
  const maxDepth = trace.spans.reduce((a, s) => Math.max(a, s.depth), 0);
  document.title = `${root ? root.service + ': ' + root.name : 'Trace'} · Tracehouse`;
  let panelOpen = false;
  let tab = route.params.get('tab') || 'span';
  let current = null; // {kind: 'span'|'log', span, log}

  // ---- Header ----
  const findIn = h('input', { type: 'search', id: 'trace-find', placeholder: 'Find in trace…  (/)', 'aria-label': 'Find spans in this trace', style: { width: '220px' }, 'data-search': '' });
  const findCount = h('span', { class: 'faint', 'aria-live': 'polite' });
  const logsBtn = h('button', { class: 'btn small', type: 'button', 'aria-pressed': 'true', id: 'toggle-logs', title: 'Show log records as rows under their spans' }, `Logs in timeline (${trace.logs.length})`);
  const critBtn = h('button', { class: 'btn small', type: 'button', 'aria-pressed': 'true', id: 'toggle-critical', title: 'Mark the critical path' }, 'Critical path');
  const depthSel = h('select', { 'aria-label': 'Expand to depth', id: 'depth-select' },
    h('option', { value: '' }, 'Expand…'), h('option', { value: 'all' }, 'Expand all'),
    [1, 2, 3, 4, 5].filter((d) => d <= maxDepth).map((d) => h('option', { value: d }, `Collapse below level ${d}`)));
  const head = h('div', { class: 'trace-head' },
    h('div', { class: 'line1' },
      h('h1', { id: 'trace-title' }, root ? [svcLabel(root.service), ': ', root.name] : 'Trace'),
      trace.errors.length ? h('span', { class: 'badge error', id: 'trace-errors' }, `${trace.errors.length} error${trace.errors.length === 1 ? '' : 's'}`) : null,
      h('span', { class: 'traceid', title: 'Trace id' }, trace.traceID),
      h('button', { class: 'btn small', type: 'button', onclick: () => copyText(trace.traceID), 'aria-label': 'Copy trace id' }, 'Copy id'),
      h('div', { class: 'trace-tools' },
        h('a', { class: 'btn small', href: href('/compare', { a: trace.traceID }) }, 'Compare…'),
        h('a', { class: 'btn small', href: href('/logs', { q: `trace_id:${trace.traceID}`, range: 'custom', start: Math.floor(trace.start / 1000) - 60e3, end: Math.ceil(trace.end / 1000) + 60e3 }) }, 'Open in logs'),
        h('a', { class: 'btn small', href: `api/traces/${trace.traceID}`, target: '_blank', rel: 'noopener' }, 'JSON'))),
    h('div', { class: 'stats' },
      h('span', null, 'Started ', h('b', null, fmtTime(trace.start / 1000, { date: true }))),
      h('span', null, 'Duration ', h('b', { id: 'trace-duration' }, fmtDuration(trace.duration))),
      trace.async && root ? h('span', { title: 'The root span\u2019s duration: when the request was answered. The trace goes on with the work its messages started (consumers, after the broker).' },
        'Response ', h('b', { id: 'trace-response' }, fmtDuration(root.duration)), ' · then async work') : null,
      h('span', null, 'Spans ', h('b', { id: 'trace-span-count' }, String(trace.spans.length))),
      h('span', null, 'Depth ', h('b', null, String(maxDepth + 1))),
      h('span', null, 'Services ', h('b', null, String(trace.services.length))),
      h('span', { class: 'svc-chips' }, trace.services.map((s) => h('span', { class: 'badge' }, svcLabel(s))))),
    trace.incomplete ? h('div', { class: 'incomplete-banner', id: 'trace-incomplete', role: 'status' },
      h('b', null, 'This trace may be incomplete: '), trace.incomplete.reasons.join('; '), '. ',
      h('a', { href: '#', onclick: (ev) => {
        ev.preventDefault();
        location.reload();
      } }, 'Reload')) : null,
    backLink(route));
  const toolbar = h('div', { class: 'trace-toolbar', role: 'toolbar', 'aria-label': 'Waterfall' },
    findIn, findCount, depthSel, critBtn, logsBtn,
    h('span', { class: 'grow' }),
    h('span', { class: 'wf-legend', 'aria-hidden': 'true' },
      h('span', null, h('i', { class: 'lg-self' }), 'self time'),
      h('span', null, h('i', { class: 'lg-child' }), 'in children'),
      h('span', null, h('i', { class: 'lg-crit' }), 'critical path'),
      trace.async ? h('span', { title: 'A message waiting in a broker: from its publish to the start of a delivery' }, h('i', { class: 'lg-queue' }), 'queued') : null,
      trace.spans.some((x) => x.links.length) ? h('span', { title: 'Where a linked span started; ↗ in the name column follows the link' }, h('i', { class: 'lg-link' }), 'link') : null,
      h('span', null, h('i', { class: 'lg-log' }), 'log'),
      h('span', null, h('i', { class: 'lg-err' }), 'error')));

  // ---- Body ----
  const wfBox = h('div', { class: 'trace-main' });
  const panel = h('aside', { class: 'side-panel hidden', id: 'side-panel', 'aria-label': 'Details' });
  page.append(head, toolbar, h('div', { class: 'trace-body' }, wfBox, panel));

  const wf = new Waterfall(wfBox, trace, {
    nameWidth: Math.round(Math.min(420, Math.max(260, wfBox.clientWidth * 0.32))),
    onOpen: (row) => openRow(row),
    onLinks: (sp) => {
      const one = sp.links.length === 1 ? sp.links[0] : null;
      if (one && one.sameTrace && trace.byId.has(one.spanID)) {
        selectSpan(one.spanID);
        return;
      }
      selectSpan(sp.id);
      const links = panel.querySelector('#span-links');
      if (links) links.scrollIntoView({ block: 'start' });
    },
    onSelect: (row) => {
      if (panelOpen && (tab === 'span' || tab === 'log')) openRow(row, { keepFocus: true });
      else remember(row);
    },
  });

  // ---- Panel ----
  function remember(row) {
    current = row.kind === 'span' ? { kind: 'span', span: row.span } : { kind: 'log', log: row.log, span: row.span };
    const changes = row.kind === 'span' ? { span: row.span.id, log: null } : { span: row.span ? row.span.id : null, log: trace.logs.indexOf(row.log) };
    setParams(changes);
  }

  function openRow(row, { keepFocus } = {}) {
    remember(row);
    tab = row.kind === 'span' ? 'span' : 'log';
    renderPanel();
    if (!keepFocus) wf.viewport.focus({ preventScroll: true });
  }

  function selectSpan(spanId, { open = true } = {}) {
    if (!wf.reveal(spanId)) return;
    const row = wf.selectedRow();
    if (open) openRow(row);
    else remember(row);
  }

  function selectLog(l, { span = false } = {}) {
    if (span && l.span) {
      selectSpan(l.span.id);
      return;
    }
    wf.revealLog(l);
    const row = wf.selectedRow();
    if (row) openRow(row, { keepFocus: true });
  }

  function renderPanel() {
    panelOpen = true;
    panel.classList.remove('hidden');
    clear(panel);
    const tabs = [
      ['span', current && current.kind === 'log' ? 'Log' : 'Span'],
      ['logs', `Trace logs (${trace.logs.length})`],
      ['errors', `Errors (${trace.errors.length})`],
      ['critical', `Critical path (${trace.critical.length})`],
    ];
    const active = tab === 'log' ? 'span' : tab;
    const tabBar = h('div', { class: 'tabs', role: 'tablist' }, tabs.map(([k, label]) => h('button', {
      role: 'tab', type: 'button', 'aria-selected': String(k === active), id: `tab-${k}`,
      onclick: () => {
        tab = k;
        setParams({ tab: k === 'span' ? null : k });
        renderPanel();
      },
    }, label)));
    let title;
    let body;
    if (active === 'span') {
      if (current && current.kind === 'log') {
        ({ title, body } = logDetail(trace, current.log, { onSelectSpan: (sid) => selectSpan(sid) }));
      } else if (current && current.span) {
        ({ title, body } = spanDetail(trace, current.span, { onSelectSpan: (sid) => selectSpan(sid), onSelectLog: (l) => selectLog(l) }));
      } else {
        title = h('div', { class: 'title' }, 'No span selected');
        body = h('div', { class: 'faint' }, 'Click a span, or move with j / k and press Enter.');
      }
    } else if (active === 'logs') {
      title = h('div', { class: 'title' }, 'Logs of this trace');
      body = trace.logs.length
        ? logList(trace, trace.logs, { onSelectLog: selectLog, selected: current && current.log })
        : h('div', { class: 'faint', style: { padding: '12px 0' } }, 'No log records carry this trace id.');
    } else if (active === 'errors') {
      title = h('div', { class: 'title' }, 'Errors');
      body = trace.errors.length ? h('div', { class: 'loglist' }, trace.errors.map((sp) => h('div', { class: 'logline', tabindex: '0', onclick: () => selectSpan(sp.id) },
        h('span', { class: 't' }, `+${fmtDuration(sp.offset)}`),
        h('span', { class: 'b' }, h('b', null, `${sp.service}: ${sp.name}`), h('br'), h('span', { class: 'err-text' }, sp.status.message || exceptionMessage(sp) || 'error status'))))) : h('div', { class: 'faint', style: { padding: '12px 0' } }, 'No span failed.');
    } else {
      title = h('div', { class: 'title' }, 'Critical path');
      const total = trace.duration || 1;
      // Each span's own time on the path, and each wait in a broker as a
      // line of its own before the delivery it held up.
      const lines = [];
      for (const sp of trace.critical) {
        const onPath = sp.crit.reduce((a, [x, y]) => a + (y - x), 0);
        if (onPath > 0 || !sp.queueCrit.length) lines.push({ sp, at: firstCrit(sp), dur: onPath, queue: false });
        const waited = sp.queueCrit.reduce((a, [x, y]) => a + (y - x), 0);
        if (waited > 0) lines.push({ sp, at: Math.min(...sp.queueCrit.map((c) => c[0])), dur: waited, queue: true });
      }
      lines.sort((a, b) => a.at - b.at || (a.queue ? -1 : 1));
      const dest = (sp) => (sp.attrs.find((a) => a.key === 'messaging.destination.name') || {}).value || 'the broker';
      body = h('div', null,
        h('p', { class: 'muted' }, 'The spans that bound the request\u2019s duration: shorten one of them and it finishes sooner. Time is each span\u2019s own time on the path.',
          trace.async ? ' The path runs on through the consumers of the messages the request published; the time a message waited in the broker is no span\u2019s own time, and is listed as a wait.' : ''),
        h('div', { class: 'loglist' }, lines.map(({ sp, dur, queue }) => h('div', { class: 'logline' + (queue ? ' queue-line' : ''), tabindex: '0', onclick: () => selectSpan(sp.id), dataset: { spanId: sp.id, queue: String(queue) } },
          h('span', { class: 't' }, fmtDuration(dur)),
          queue ? h('span', { class: 'b' }, h('i', null, `waiting in ${dest(sp)}`, deliveryNumber(sp) > 1 ? ` for redelivery #${deliveryNumber(sp)}` : ''), ` before ${sp.service}: ${sp.name}`)
            : h('span', { class: 'b' }, svcLabel(sp.service), ' ', sp.name, deliveryNumber(sp) ? h('span', { class: sp.error ? 'err-text' : 'faint' }, ` (delivery #${deliveryNumber(sp)}${sp.error ? ', failed' : ''})`) : null),
          h('span', { class: 'faint' }, `${Math.round((dur / total) * 100)}%`)))));
    }
    panel.append(
      h('div', { class: 'panel-resize', 'aria-hidden': 'true' }),
      h('div', { class: 'panel-head' }, title, h('button', { class: 'icon-btn close', type: 'button', 'aria-label': 'Close panel (Esc)', onclick: closePanel }, '✕')),
      tabBar,
      h('div', { class: 'panel-body', id: 'panel-body' }, body));
    bindPanelResize();
  }

  function closePanel() {
    panelOpen = false;
    panel.classList.add('hidden');
    setParams({ tab: null, open: null });
    wf.viewport.focus({ preventScroll: true });
  }

  let panelWidth = 440;
  function bindPanelResize() {
    panel.style.width = `${panelWidth}px`;
    const grip = panel.querySelector('.panel-resize');
    grip.addEventListener('mousedown', (ev) => {
      ev.preventDefault();
      const x0 = ev.clientX;
      const w0 = panelWidth;
      const move = (e) => {
        panelWidth = Math.max(300, Math.min(900, w0 - (e.clientX - x0)));
        panel.style.width = `${panelWidth}px`;
      };
      const up = () => {
        document.removeEventListener('mousemove', move);
        document.removeEventListener('mouseup', up);
      };
      document.addEventListener('mousemove', move);
      document.addEventListener('mouseup', up);
    });
  }

  // ---- Toolbar ----
  logsBtn.addEventListener('click', () => {
    const on = logsBtn.getAttribute('aria-pressed') !== 'true';
    logsBtn.setAttribute('aria-pressed', String(on));
    wf.setShowLogs(on);
  });
  critBtn.addEventListener('click', () => {
    const on = critBtn.getAttribute('aria-pressed') !== 'true';
    critBtn.setAttribute('aria-pressed', String(on));
    wf.setShowCritical(on);
  });
  depthSel.addEventListener('change', () => {
    if (depthSel.value === 'all') wf.expandAll();
    else if (depthSel.value) wf.collapseTo(Number(depthSel.value));
    depthSel.value = '';
  });

  let matchList = [];
  let matchPos = -1;
  const runFind = debounce(() => {
    const q = findIn.value.trim().toLowerCase();
    if (!q) {
      matchList = [];
      findCount.textContent = '';
      wf.setMatches(null);
      return;
    }
    matchList = trace.spans.filter((sp) => sp.name.toLowerCase().includes(q) || sp.service.toLowerCase().includes(q) || sp.id === q ||
      sp.attrs.some((a) => a.key.toLowerCase().includes(q) || String(a.value).toLowerCase().includes(q)));
    matchPos = -1;
    findCount.textContent = `${matchList.length} match${matchList.length === 1 ? '' : 'es'}`;
    wf.setMatches(new Set(matchList.map((sp) => sp.id)));
  }, 150);
  findIn.addEventListener('input', runFind);
  findIn.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && matchList.length) {
      ev.preventDefault();
      matchPos = (matchPos + (ev.shiftKey ? -1 : 1) + matchList.length) % matchList.length;
      findCount.textContent = `${matchPos + 1} of ${matchList.length}`;
      selectSpan(matchList[matchPos].id, { open: false });
    }
  });

  // ---- Initial state from the URL ----
  function apply(r) {
    const spanId = r.params.get('span');
    const logIdx = r.params.get('log');
    const t = r.params.get('tab');
    if (logIdx !== null && trace.logs[Number(logIdx)]) {
      const l = trace.logs[Number(logIdx)];
      if (!(current && current.log === l)) {
        wf.revealLog(l);
        current = { kind: 'log', log: l, span: l.span };
      }
      tab = t || 'log';
      renderPanel();
    } else if (spanId && trace.byId.has(spanId)) {
      if (!(current && current.kind === 'span' && current.span.id === spanId)) {
        wf.reveal(spanId);
        current = { kind: 'span', span: trace.byId.get(spanId) };
      }
      tab = t || 'span';
      renderPanel();
    } else if (t) {
      tab = t;
      renderPanel();
    }
  }
  apply(route);
  if (!current && trace.spans.length) wf.select(0, { scroll: false });

  // Expose for tests and diagnostics.
  page.__waterfall = wf;
  window.__tracehouse = { trace, waterfall: wf };

  return {
    apply,
    // linksResolved redraws what names the linked spans.
    linksResolved() {
      wf.refresh();
      if (panelOpen && current && current.kind === 'span') renderPanel();
    },
    destroy() {
      wf.destroy();
      if (window.__tracehouse && window.__tracehouse.waterfall === wf) delete window.__tracehouse;
    },
    focusSearch() {
      findIn.focus();
      findIn.select();
    },
    onKey(ev) {
      if (ev.key === 'Escape') {
        if (panelOpen) {
          closePanel();
          return true;
        }
        if (findIn.value) {
          findIn.value = '';
          runFind();
          return true;
        }
        return false;
      }
      return wf.handleKey(ev);
    },
  };
}

// firstCrit is when a span's first stretch on the critical path starts.
function firstCrit(sp) {
  return sp.crit.length ? Math.min(...sp.crit.map((c) => c[0])) : sp.start;
}

// backLink leads back to the trace a link was followed from.
function backLink(route) {
  const from = route.params.get('from');
  if (!from || !/^[0-9a-f]{1,32}$/i.test(from)) return null;
  const fromSpan = route.params.get('fromSpan');
  return h('div', { class: 'link-back', id: 'link-back' },
    'Followed a span link from trace ', h('span', { class: 'mono' }, `${from.slice(0, 16)}…`), ' ',
    h('a', { class: 'btn small', id: 'link-back-btn', href: href(`/trace/${from}`, fromSpan && /^[0-9a-f]{1,16}$/i.test(fromSpan) ? { span: fromSpan } : {}) }, '← Back to it'));
}

function exceptionMessage(sp) {
  const ex = sp.events.find((e) => e.name === 'exception');
  if (!ex) return '';
  const m = ex.attrs.find((a) => a.key === 'exception.message');
  const t = ex.attrs.find((a) => a.key === 'exception.type');
  return [t && t.value, m && m.value].filter(Boolean).join(': ');
}
