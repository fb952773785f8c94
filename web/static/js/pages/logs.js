// Logs explorer: a query in the logs language, the volume histogram, the
// matching records newest first (expandable, paged with the API's cursor),
// live tail over SSE, and a jump to the trace of any record that has one.
// Each row shows the message and, beside it, the highlighted fields the
// record has (its error and status by default: the reason an access log
// line "request served" failed is in its attributes, not in its body).
import * as api from '../api.js';
import { normalizeLog, attrValue } from '../model.js';
import { h, clear, fmtTime, fmtAgo, svcLabel, severityClass, listStep, fmtPct } from '../util.js';
import { fmtCount } from '../autocomplete.js';
import { navigate, href } from '../router.js';
import { resolveRange, rangeParams, timePicker } from '../timerange.js';
import { histogram, sparkline } from '../charts.js';
import { attrTable } from '../spanpanel.js';
import { autocomplete } from '../autocomplete.js';
import { logSource } from '../suggest.js';

// plainMessage drops what the UI shows on its own from the API's message:
// the "q: " prefix and the "(at position N)" suffix.
function plainMessage(e) {
  let m = e.message;
  if (e.param && m.startsWith(`${e.param}: `)) m = m.slice(e.param.length + 2);
  return m.replace(/\s*\(at position \d+\)$/, '');
}

const PAGE = 100;
const MAX_LIVE_ROWS = 2000;

// DEFAULT_FIELDS are the attributes shown beside a record's message when
// it has them: where instrumentations put an error's reason and a
// request's status. The user's own list (the Fields box) is kept in the
// URL (fields=) and in this browser.
export const DEFAULT_FIELDS = ['http.response.status_code', 'http.status_code', 'rpc.grpc.status_code', 'status',
  'error', 'error.message', 'exception.type', 'exception.message', 'reason'];
const FIELDS_KEY = 'tracehouse.logFields';
// FIELD_LABELS are short labels of long, well-known keys (the title of a
// field shows its key).
const FIELD_LABELS = { 'http.response.status_code': 'HTTP', 'http.status_code': 'HTTP', 'rpc.grpc.status_code': 'gRPC' };

function parseFields(text) {
  return String(text || '').split(/[\s,]+/).map((f) => f.trim()).filter(Boolean);
}

function savedFields() {
  try {
    const v = localStorage.getItem(FIELDS_KEY);
    return v === null ? null : parseFields(v);
  } catch {
    return null;
  }
}

function saveFields(list) {
  try {
    localStorage.setItem(FIELDS_KEY, list.join(', '));
  } catch { /* storage disabled */ }
}

// highlights are the [key, value] pairs of fields a record has, in the
// fields' order.
export function highlights(l, fields) {
  const out = [];
  for (const f of fields) {
    const v = attrValue(l.attrs, f);
    if (v !== undefined && v !== null && v !== '') out.push([f, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
  }
  return out;
}

// isErrorField: an error reason, or a status that says failure (HTTP 5xx,
// a gRPC code other than OK).
function isErrorField(key, value) {
  if (/^(error|err|exception|reason)/.test(key)) return true;
  const n = Number(value);
  if (/http.*status/.test(key)) return n >= 500;
  if (/grpc.*status/.test(key)) return n > 0;
  return false;
}

export function mount(main, route) {
  const q = route.params.get('q') || '';
  const range = resolveRange(route.params, '1h');
  const fieldsParam = route.params.get('fields');
  const fields = fieldsParam !== null ? parseFields(fieldsParam) : (savedFields() || DEFAULT_FIELDS);
  const live = route.params.get('live') === '1';
  // view: the records (default) or the patterns of the records (Patterns tab).
  const view = route.params.get('view') === 'patterns' ? 'patterns' : 'records';
  const viewParam = () => ({ view: view === 'patterns' ? 'patterns' : '' });
  const ctl = new AbortController();
  document.title = q ? `Logs: ${q} · Tracehouse` : 'Logs · Tracehouse';
  let records = [];
  let total = 0;
  let nextCursor = '';
  let selected = -1;
  const expanded = new Set();
  let source = null;
  let disposeHist = null;

  const input = h('input', { id: 'logs-q', type: 'text', value: q, 'aria-label': 'Logs query', 'data-search': '', spellcheck: 'false', autocomplete: 'off',
    placeholder: 'Search all logs — for example: service:payment level>=warn "card declined"', 'aria-describedby': 'logs-q-help logs-q-error' });
  const fieldsIn = h('input', { id: 'logs-fields', type: 'text', value: fields.join(', '), 'aria-label': 'Fields shown beside the message', spellcheck: 'false', autocomplete: 'off',
    title: 'Attributes shown beside each message when a record has them, comma-separated. Empty shows none.' });
  const errBox = h('div', { class: 'qerr hidden', id: 'logs-q-error', role: 'alert' });
  const liveBtn = h('button', { class: 'btn', type: 'button', id: 'live-toggle', 'aria-pressed': String(live), title: 'Stream new records as they arrive' },
    live ? h('span', { class: 'live-dot' }) : null, live ? 'Live' : 'Live tail');
  const fieldsParams = () => {
    const list = parseFields(fieldsIn.value);
    saveFields(list);
    const same = list.join(',') === DEFAULT_FIELDS.join(',');
    return { fields: same ? null : list.join(',') };
  };
  const form = h('form', { class: 'logs-query', role: 'search', 'aria-label': 'Search logs', onsubmit: (ev) => {
    ev.preventDefault();
    navigate('/logs', { q: input.value.trim(), ...currentRangeParams(), ...fieldsParams(), live: live ? '1' : '', ...viewParam() });
  } },
  h('div', { class: 'qrow' },
    h('div', { class: 'qbox' }, input, errBox),
    timePicker(range, (rp) => navigate('/logs', { q: input.value.trim(), ...rp, ...fieldsParams(), ...viewParam() }), { id: 'logs-range' }),
    h('button', { class: 'btn primary', type: 'submit' }, 'Search'),
    liveBtn),
  h('div', { class: 'qhelp', id: 'logs-q-help' },
    'Words and "phrases" search the message and the error fields (', h('code', null, 'error'), ', ', h('code', null, 'exception.message'), ', …); ',
    h('code', null, '*outage*'), ' matches a fragment; ', h('code', null, 'service:'), ' ', h('code', null, 'level>=warn'), ' ', h('code', null, 'trace_id:'), ' ',
    h('code', null, 'attr.key:value'), ' ', h('code', null, 'attr.error:*timeout*'), ' ', h('code', null, 'resource.key:value'), ' compare fields; ', h('code', null, 'OR'), ', ', h('code', null, 'NOT'), ' / ', h('code', null, '-'), ', ( ) combine.'),
  h('div', { class: 'qfields' }, h('label', { for: 'logs-fields' }, 'Fields beside the message:'), fieldsIn));
  const histBox = h('div', { class: 'logs-hist', id: 'logs-histogram' });
  const status = h('div', { class: 'muted', id: 'logs-status', 'aria-live': 'polite', style: { padding: '4px 16px 0' } });
  const tbody = h('tbody');
  const table = h('table', { class: 'grid logs-table', id: 'logs-table', 'aria-label': 'Log records' },
    h('colgroup', null, h('col', { class: 'c-time' }), h('col', { class: 'c-level' }), h('col', { class: 'c-svc' }), h('col', { class: 'c-msg' }), h('col', { class: 'c-trace' })),
    h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Level'), h('th', null, 'Service'), h('th', null, 'Message'), h('th', { class: 'trace-col' }, 'Trace'))),
    tbody);
  const more = h('button', { class: 'btn hidden', type: 'button', id: 'logs-more', onclick: () => loadPage(true) }, 'Load older records');
  const tableWrap = h('div', { class: 'logs-table-wrap card' }, table, h('div', { style: { padding: '8px', textAlign: 'center' } }, more));
  // Tabs: the records, or the patterns their bodies form.
  const tab = (name, label) => h('button', { type: 'button', role: 'tab', id: `logs-tab-${name}`, class: 'tab', 'aria-selected': String(view === name),
    'aria-controls': name === 'patterns' ? 'logs-patterns' : 'logs-table', tabindex: view === name ? '0' : '-1',
    onclick: () => navigate('/logs', { q, ...currentRangeParams(), fields: fieldsParam, view: name === 'patterns' ? 'patterns' : '' }) }, label);
  const tabs = h('div', { class: 'tabs logs-tabs', role: 'tablist', 'aria-label': 'Logs view' }, tab('records', 'Records'), tab('patterns', 'Patterns'));
  const patternsWrap = h('div', { class: 'logs-patterns card', id: 'logs-patterns', role: 'tabpanel', 'aria-labelledby': 'logs-tab-patterns' });
  if (view === 'patterns') tableWrap.classList.add('hidden');
  else patternsWrap.classList.add('hidden');
  main.appendChild(h('div', { class: 'page' }, form, histBox, status, tabs, tableWrap, patternsWrap));
  // Fields, attribute keys and their values as the user types.
  const queryAC = autocomplete(input, logSource(() => ({ start: range.start, end: range.end })));

  function currentRangeParams() {
    return rangeParams(range);
  }

  input.addEventListener('input', () => {
    input.classList.remove('bad');
    errBox.classList.add('hidden');
  });

  liveBtn.addEventListener('click', () => {
    // A live tail shows records: it leaves the Patterns tab.
    navigate('/logs', { q: input.value.trim(), ...currentRangeParams(), ...fieldsParams(), live: live ? '' : '1' });
  });
  fieldsIn.addEventListener('change', () => form.requestSubmit());

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
        total = r.total;
        drawHistogram(r.histogram);
      } else records = records.concat(page);
      nextCursor = r.nextCursor || '';
      more.classList.toggle('hidden', !nextCursor);
      status.textContent = records.length
        ? `${total} record${total === 1 ? '' : 's'} match in ${range.label.toLowerCase()}` + (view === 'patterns' ? '' : ` · showing the newest ${records.length}`)
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
    const buckets = hist.buckets.map((b) => ({ t: Date.parse(b.start), partial: !!b.partial, counts: { errors: b.errors, other: b.count - b.errors } }));
    const step = hist.stepSeconds * 1000;
    const sum = hist.buckets.reduce((a, b) => a + b.count, 0);
    const errors = hist.buckets.reduce((a, b) => a + b.errors, 0);
    const chart = h('div');
    histBox.append(h('div', { class: 'legend', style: { justifyContent: 'flex-end' } },
      h('span', { id: 'logs-total' }, `${sum} records`), h('span', null, h('i', { style: { background: 'var(--error)' } }), `${errors} errors`),
      buckets.some((b) => b.partial) ? h('span', { class: 'faint', title: 'Buckets cut by the range, or whose records may still arrive, are drawn faded with a dashed outline' }, 'faded: partial bucket') : null,
      h('span', { class: 'faint' }, 'drag to zoom')), chart);
    disposeHist = histogram(chart, {
      buckets, step, domain: [range.start, range.end], label: 'Log volume over time',
      colors: { errors: 'var(--error)', other: 'var(--accent)' },
      onBrush: (a, b) => navigate('/logs', { q, range: 'custom', start: Math.floor(a), end: Math.ceil(b), fields: fieldsParam, ...viewParam() }),
    });
  }

  function row(l, i) {
    const sev = severityClass(l.level || l.severityText, l.severityNumber);
    const isOpen = expanded.has(l);
    const tr = h('tr', { class: 'clickable' + (isOpen ? ' expanded' : '') + (l.fresh ? ' fresh' : ''), tabindex: '-1', 'aria-expanded': String(isOpen), 'aria-selected': String(i === selected), dataset: { index: String(i) } },
      h('td', { class: 't', title: fmtTime(l.time / 1000, { date: true }) }, fmtTime(l.time / 1000)),
      h('td', { class: 'lvl' }, h('span', { class: `sev ${sev}` }, l.severityText || l.level || sev)),
      h('td', { class: 'svc-cell' }, l.service ? svcLabel(l.service) : h('span', { class: 'faint' }, '–')),
      h('td', { class: 'body' }, h('span', { class: 'one' }, h('span', { class: 'msg' }, l.body),
        highlights(l, fields).map(([k, v]) => h('span', { class: 'hl' + (isErrorField(k, v) ? ' bad' : ''), dataset: { field: k }, title: `${k}: ${v}` },
          h('span', { class: 'hk' }, FIELD_LABELS[k] || k), ' ', v)))),
      h('td', { class: 'trace-col' }, l.traceID ? h('a', { href: href(`/trace/${l.traceID}`, { span: l.spanID }), class: 'trace-link', title: `Open trace ${l.traceID}`, onclick: (ev) => ev.stopPropagation() }, 'trace →') : null));
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

  // ---- Patterns ----
  let patterns = [];
  // withPattern adds a pattern's filter to the query: the records of the
  // pattern among those the query matches (a query with OR is
  // parenthesised, since terms bind tighter than OR).
  function withPattern(filter) {
    const base = q.trim();
    if (!base) return filter;
    return /\bOR\b/.test(base) ? `(${base}) ${filter}` : `${base} ${filter}`;
  }

  function patternText(text) {
    return text.split(/(<\*>|<…>)/).filter(Boolean).map((part) => (part === '<*>' || part === '<…>' ? h('span', { class: 'ph', title: part === '<*>' ? 'a variable part' : 'the rest of a long body' }, part) : part));
  }

  function openPattern(p) {
    navigate('/logs', { q: withPattern(p.filter), ...currentRangeParams(), fields: fieldsParam });
  }

  async function loadPatterns() {
    clear(patternsWrap).appendChild(h('div', { class: 'muted', style: { padding: '12px' } }, 'Finding patterns…'));
    try {
      const r = await api.logPatterns({ q, start: range.start, end: range.end }, { signal: ctl.signal });
      patterns = r.patterns || [];
      clear(patternsWrap);
      const note = r.exact
        ? `${r.clusters} pattern${r.clusters === 1 ? '' : 's'} in the ${r.total} records that match`
        : `${r.clusters} patterns in a sample of ${r.sampled} of the ${r.total} records that match; counts are estimated from it`;
      patternsWrap.appendChild(h('div', { class: 'patterns-note muted', id: 'patterns-note' }, note,
        r.clusters > patterns.length ? ` (the ${patterns.length} most frequent shown)` : '', '. Click a pattern to see its records.'));
      if (!patterns.length) {
        patternsWrap.appendChild(h('div', { class: 'empty' }, h('strong', null, 'No records, no patterns'), 'Widen the time range or the query.'));
        return;
      }
      const total = patterns.reduce((a, p) => Math.max(a, p.count), 0);
      const body = h('tbody');
      patterns.forEach((p, i) => {
        const share = r.total ? p.count / r.total : 0;
        const tr = h('tr', { class: 'clickable pattern-row', tabindex: '0', dataset: { index: String(i) }, title: `Show the ${p.count} records of this pattern`,
          onclick: () => openPattern(p),
          onkeydown: (ev) => {
            if (ev.key === 'Enter') {
              ev.preventDefault();
              ev.stopPropagation();
              openPattern(p);
            }
          } },
        h('td', { class: 'num' }, h('span', { class: 'pcount', title: r.exact ? `${p.count} records` : `about ${p.count} records (${p.sampled} in the sample)` }, (r.exact ? '' : '≈') + fmtCount(p.count)),
          h('div', { class: 'pbar' }, h('i', { style: { width: `${Math.max(2, (p.count / total) * 100)}%` } }))),
        h('td', { class: 'num' }, fmtPct(share)),
        h('td', { class: 'num' + (p.errors ? ' bad' : '') }, p.errors ? fmtPct(p.errorRate) : '–'),
        h('td', { class: 'ptext' }, h('div', { class: 'pattern mono' }, patternText(p.pattern)),
          h('div', { class: 'pexample faint', title: p.example.body }, 'e.g. ', p.example.service ? `${p.example.service} · ` : '', fmtTime(Date.parse(p.example.time)), ' · ', p.example.body)),
        h('td', { class: 'spark-cell' }, sparkline(p.sparkline, { width: 120, height: 26, color: p.errors ? 'var(--error)' : 'var(--accent)' })),
        h('td', { class: 'seen', title: `first ${fmtTime(Date.parse(p.firstSeen), { date: true })}, last ${fmtTime(Date.parse(p.lastSeen), { date: true })}` }, fmtAgo(Date.parse(p.lastSeen))));
        body.appendChild(tr);
      });
      patternsWrap.appendChild(h('table', { class: 'grid patterns-table', id: 'patterns-table', 'aria-label': 'Log patterns' },
        h('thead', null, h('tr', null, h('th', { class: 'num' }, 'Records'), h('th', { class: 'num' }, 'Share'), h('th', { class: 'num' }, 'Errors'), h('th', null, 'Pattern'), h('th', null, 'Over the range'), h('th', null, 'Last seen'))),
        body));
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(patternsWrap);
      // A query error is shown under the query box already.
      if (e.status === 400 && e.param === 'q') patternsWrap.classList.add('hidden');
      else patternsWrap.appendChild(h('div', { class: 'error-box', role: 'alert' }, h('b', null, 'Patterns failed: '), e.message));
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

  if (view === 'patterns') {
    loadPage(false);
    loadPatterns();
  } else if (live) {
    loadPage(false).then(() => {
      if (!ctl.signal.aborted) startTail();
    });
  } else loadPage(false);

  return {
    destroy() {
      ctl.abort();
      queryAC.destroy();
      if (source) source.close();
      if (disposeHist) disposeHist();
    },
    focusSearch() {
      input.focus();
      input.select();
    },
    onKey(ev) {
      const step = listStep(ev);
      if (view === 'patterns') {
        // j/k move between patterns (the focused row); Enter on a row opens
        // it (the row's own handler).
        if (!step) return false;
        const rows = [...patternsWrap.querySelectorAll('tr.pattern-row')];
        if (!rows.length) return false;
        const at = rows.indexOf(document.activeElement);
        rows[Math.max(0, Math.min(rows.length - 1, at < 0 ? 0 : at + step))].focus();
        return true;
      }
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
