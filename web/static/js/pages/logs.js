// Logs explorer: a query in the logs language, the volume histogram, the
// matching records newest first (expandable, paged with the API's cursor),
// live tail over SSE, and a jump to the trace of any record that has one.
import * as api from '../api.js';
import { normalizeLog } from '../model.js';
import { h, clear, fmtTime, svcLabel, severityClass, listStep } from '../util.js';
import { navigate, href } from '../router.js';
import { resolveRange, rangeParams, timePicker } from '../timerange.js';
import { histogram } from '../charts.js';
import { attrTable } from '../spanpanel.js';

// plainMessage drops what the UI shows on its own from the API's message:
// the "q: " prefix and the "(at position N)" suffix.
function plainMessage(e) {
  let m = e.message;
  if (e.param && m.startsWith(`${e.param}: `)) m = m.slice(e.param.length + 2);
  return m.replace(/\s*\(at position \d+\)$/, '');
}

const PAGE = 100;
const MAX_LIVE_ROWS = 2000;

export function mount(main, route) {
  const q = route.params.get('q') || '';
  const range = resolveRange(route.params, '1h');
  const live = route.params.get('live') === '1';
  const ctl = new AbortController();
  document.title = q ? `Logs: ${q} · Tracehouse` : 'Logs · Tracehouse';
  let records = [];
  let nextCursor = '';
  let selected = -1;
  const expanded = new Set();
  let source = null;
  let disposeHist = null;

  const input = h('input', { id: 'logs-q', type: 'text', value: q, 'aria-label': 'Logs query', 'data-search': '', spellcheck: 'false', autocomplete: 'off',
    placeholder: 'service:payment level>=warn "card declined" attr.http.status_code>=500 -level:debug', 'aria-describedby': 'logs-q-help logs-q-error' });
  const errBox = h('div', { class: 'qerr hidden', id: 'logs-q-error', role: 'alert' });
  const liveBtn = h('button', { class: 'btn', type: 'button', id: 'live-toggle', 'aria-pressed': String(live), title: 'Stream new records as they arrive' },
    live ? h('span', { class: 'live-dot' }) : null, live ? 'Live' : 'Live tail');
  const form = h('form', { class: 'logs-query', role: 'search', 'aria-label': 'Search logs', onsubmit: (ev) => {
    ev.preventDefault();
    navigate('/logs', { q: input.value.trim(), ...currentRangeParams(), live: live ? '1' : '' });
  } },
  h('div', { class: 'qrow' },
    h('div', { class: 'qbox' }, input, errBox),
    timePicker(range, (rp) => navigate('/logs', { q: input.value.trim(), ...rp }), { id: 'logs-range' }),
    h('button', { class: 'btn primary', type: 'submit' }, 'Search'),
    liveBtn),
  h('div', { class: 'qhelp', id: 'logs-q-help' },
    'Words and "phrases" search the body; ', h('code', null, 'service:'), ' ', h('code', null, 'level>=warn'), ' ', h('code', null, 'trace_id:'), ' ',
    h('code', null, 'attr.key:value'), ' ', h('code', null, 'resource.key:value'), ' compare fields; ', h('code', null, 'OR'), ', ', h('code', null, 'NOT'), ' / ', h('code', null, '-'), ', ( ) combine; ',
    h('code', null, '*'), ' is a wildcard.'));
  const histBox = h('div', { class: 'logs-hist', id: 'logs-histogram' });
  const status = h('div', { class: 'muted', id: 'logs-status', 'aria-live': 'polite', style: { padding: '4px 16px 0' } });
  const tbody = h('tbody');
  const table = h('table', { class: 'grid logs-table', id: 'logs-table', 'aria-label': 'Log records' },
    h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Level'), h('th', null, 'Service'), h('th', null, 'Message'), h('th', null, h('span', { class: 'sr-only' }, 'Trace')))),
    tbody);
  const more = h('button', { class: 'btn hidden', type: 'button', id: 'logs-more', onclick: () => loadPage(true) }, 'Load older records');
  const tableWrap = h('div', { class: 'logs-table-wrap card' }, table, h('div', { style: { padding: '8px', textAlign: 'center' } }, more));
  main.appendChild(h('div', { class: 'page' }, form, histBox, status, tableWrap));

  function currentRangeParams() {
    return rangeParams(range);
  }

  input.addEventListener('input', () => {
    input.classList.remove('bad');
    errBox.classList.add('hidden');
  });

  liveBtn.addEventListener('click', () => {
    navigate('/logs', { q: input.value.trim(), ...currentRangeParams(), live: live ? '' : '1' });
  });

  function showQueryError(e) {
    input.classList.add('bad');
    input.setAttribute('aria-invalid', 'true');
    clear(errBox);
    errBox.classList.remove('hidden');
    const text = input.value;
    const pos = e.param === 'q' && e.position >= 0 ? Math.min(e.position, [...text].length) : -1;
    if (pos >= 0) {
      const chars = [...text];
      const before = chars.slice(0, pos).join('');
      const bad = chars.slice(pos, pos + 1).join('') || ' ';
      const after = chars.slice(pos + 1).join('');
      errBox.append(
        h('div', { class: 'echo' }, before, h('span', { class: 'mark', id: 'logs-q-mark' }, bad), after),
        h('div', { class: 'caret' }, ' '.repeat(pos) + '^ ', h('span', null, `position ${pos}: ${plainMessage(e)}`)));
      // Put the cursor where the problem starts.
      const utf16 = before.length;
      input.focus();
      input.setSelectionRange(utf16, utf16 + bad.length);
    } else {
      errBox.append(h('div', null, plainMessage(e)));
    }
    errBox.dataset.position = String(pos);
  }

  function showError(e) {
    if (e.status === 400 && (e.param === 'q' || e.position >= 0)) {
      showQueryError(e);
      clear(tbody);
      tableWrap.classList.add('hidden');
      status.textContent = 'Fix the query to see records.';
      clear(histBox);
      return;
    }
    clear(status).append(h('div', { class: 'error-box', role: 'alert' }, h('b', null, 'Search failed: '), e.message));
  }

  async function loadPage(older) {
    status.textContent = older ? 'Loading older records…' : 'Searching…';
    try {
      const r = await api.logs({ q, start: range.start, end: range.end, limit: PAGE, cursor: older ? nextCursor : '', histogram: !older }, { signal: ctl.signal });
      const page = (r.logs || []).map((x) => normalizeLog(x));
      if (!older) {
        records = page;
        expanded.clear();
        drawHistogram(r.histogram);
      } else records = records.concat(page);
      nextCursor = r.nextCursor || '';
      more.classList.toggle('hidden', !nextCursor);
      status.textContent = records.length
        ? `${records.length}${nextCursor ? '+' : ''} record${records.length === 1 ? '' : 's'} · newest first`
        : 'No records match in this time range.';
      renderRows(older ? records.length - page.length : 0);
    } catch (e) {
      if (e.name !== 'AbortError') showError(e);
    }
  }

  function drawHistogram(hist) {
    if (disposeHist) disposeHist();
    clear(histBox);
    if (!hist || !hist.buckets || !hist.buckets.length) return;
    const buckets = hist.buckets.map((b) => ({ t: Date.parse(b.start), counts: { errors: b.errors, other: b.count - b.errors } }));
    const step = hist.stepSeconds * 1000;
    const total = hist.buckets.reduce((a, b) => a + b.count, 0);
    const errors = hist.buckets.reduce((a, b) => a + b.errors, 0);
    const chart = h('div');
    histBox.append(h('div', { class: 'legend', style: { justifyContent: 'flex-end' } },
      h('span', null, `${total} records`), h('span', null, h('i', { style: { background: 'var(--error)' } }), `${errors} errors`), h('span', { class: 'faint' }, 'drag to zoom')), chart);
    disposeHist = histogram(chart, {
      buckets, step, domain: [range.start, range.end], label: 'Log volume over time',
      colors: { errors: 'var(--error)', other: 'var(--accent)' },
      onBrush: (a, b) => navigate('/logs', { q, range: 'custom', start: Math.floor(a), end: Math.ceil(b) }),
    });
  }

  function row(l, i) {
    const sev = severityClass(l.level || l.severityText, l.severityNumber);
    const isOpen = expanded.has(l);
    const tr = h('tr', { class: 'clickable' + (isOpen ? ' expanded' : '') + (l.fresh ? ' fresh' : ''), tabindex: '-1', 'aria-expanded': String(isOpen), 'aria-selected': String(i === selected), dataset: { index: String(i) } },
      h('td', { class: 't', title: fmtTime(l.time / 1000, { date: true }) }, fmtTime(l.time / 1000)),
      h('td', { class: 'lvl' }, h('span', { class: `sev ${sev}` }, l.severityText || l.level || sev)),
      h('td', { class: 'svc-cell' }, l.service ? svcLabel(l.service) : h('span', { class: 'faint' }, '–')),
      h('td', { class: 'body' }, h('span', { class: 'one' }, l.body)),
      h('td', { class: 'nowrap' }, l.traceID ? h('a', { href: href(`/trace/${l.traceID}`, { span: l.spanID }), class: 'trace-link', title: `Open trace ${l.traceID}`, onclick: (ev) => ev.stopPropagation() }, 'trace →') : null));
    tr.addEventListener('click', () => toggle(i));
    return tr;
  }

  function detail(l) {
    return h('tr', { class: 'detail' }, h('td', { colspan: 5 },
      h('div', { style: { display: 'grid', gridTemplateColumns: '1fr 1fr', gap: '16px' } },
        h('div', null,
          h('h3', { style: { marginTop: 0 } }, `Attributes (${l.attrs.length})`), attrTable(l.attrs),
          l.traceID ? [h('h3', null, 'Trace'), h('div', { class: 'kv' },
            h('div', { class: 'k' }, 'trace id'), h('div', { class: 'v' }, h('a', { href: href(`/trace/${l.traceID}`, { span: l.spanID }) }, l.traceID)),
            h('div', { class: 'k' }, 'span id'), h('div', { class: 'v' }, l.spanID || '–'))] : null,
          h('h3', null, 'When'), h('div', { class: 'mono' }, fmtTime(l.time / 1000, { date: true }), l.eventName ? ` · event ${l.eventName}` : '')),
        h('div', null, h('h3', { style: { marginTop: 0 } }, 'Resource'), attrTable(l.resource),
          h('h3', null, 'Body'), h('pre', { class: 'mono', style: { whiteSpace: 'pre-wrap', margin: 0 } }, l.body)))));
  }

  function renderRows(from = 0) {
    if (from === 0) clear(tbody);
    for (let i = from; i < records.length; i++) {
      tbody.appendChild(row(records[i], i));
      if (expanded.has(records[i])) tbody.appendChild(detail(records[i]));
    }
  }

  function toggle(i) {
    const l = records[i];
    if (!l) return;
    if (expanded.has(l)) expanded.delete(l);
    else expanded.add(l);
    select(i, false);
    const tr = tbody.querySelector(`tr[data-index="${i}"]`);
    const next = row(l, i);
    tr.replaceWith(next);
    if (expanded.has(l)) next.after(detail(l));
    else if (next.nextElementSibling && next.nextElementSibling.classList.contains('detail')) next.nextElementSibling.remove();
  }

  function select(i, scroll = true) {
    if (!records.length) return;
    selected = Math.max(0, Math.min(records.length - 1, i));
    for (const tr of tbody.querySelectorAll('tr[aria-selected="true"]')) tr.setAttribute('aria-selected', 'false');
    const tr = tbody.querySelector(`tr[data-index="${selected}"]`);
    if (tr) {
      tr.setAttribute('aria-selected', 'true');
      if (scroll) tr.scrollIntoView({ block: 'nearest' });
    }
  }

  // ---- Live tail ----
  function startTail() {
    status.textContent = 'Live: waiting for new records…';
    source = new EventSource(api.tailURL(q));
    source.addEventListener('log', (ev) => {
      const l = normalizeLog(JSON.parse(ev.data));
      l.fresh = true;
      records.unshift(l);
      if (records.length > MAX_LIVE_ROWS) records.length = MAX_LIVE_ROWS;
      if (selected >= 0) selected++;
      tbody.insertBefore(row(l, 0), tbody.firstChild);
      // Indices shift by one: renumber (cheap next to a full re-render).
      let k = 0;
      for (const tr of tbody.children) if (!tr.classList.contains('detail')) tr.dataset.index = String(k++);
      while (tbody.children.length > MAX_LIVE_ROWS * 1.5) tbody.lastChild.remove();
      status.textContent = `Live: ${records.length} records`;
    });
    source.addEventListener('skipped', (ev) => {
      status.textContent = JSON.parse(ev.data).msg;
    });
    source.addEventListener('error', (ev) => {
      if (ev.data) {
        const e = JSON.parse(ev.data);
        clear(status).append(h('div', { class: 'error-box', role: 'alert' }, h('b', null, 'Live tail stopped: '), e.msg));
        source.close();
      }
    });
    source.addEventListener('end', () => {
      source.close();
      status.textContent = `Live tail ended after ${records.length} records; press Live tail to resume.`;
    });
  }

  if (live) {
    loadPage(false).then(() => {
      if (!ctl.signal.aborted) startTail();
    });
  } else loadPage(false);

  return {
    destroy() {
      ctl.abort();
      if (source) source.close();
      if (disposeHist) disposeHist();
    },
    focusSearch() {
      input.focus();
      input.select();
    },
    onKey(ev) {
      const step = listStep(ev);
      if (step) {
        select(selected + step);
        return true;
      }
      if (ev.key === 'Enter' && selected >= 0) {
        toggle(selected);
        return true;
      }
      if (ev.key === 'o' && selected >= 0 && records[selected].traceID) {
        const l = records[selected];
        navigate(`/trace/${l.traceID}`, { span: l.spanID });
        return true;
      }
      if (ev.key === 'Escape') {
        if (selected >= 0 && expanded.has(records[selected])) {
          toggle(selected);
          return true;
        }
        if (expanded.size) {
          expanded.clear();
          renderRows(0);
          return true;
        }
      }
      return false;
    },
  };
}
