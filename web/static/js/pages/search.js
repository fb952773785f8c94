// Search: filters on the left, a duration-over-time scatter plot and the
// matching traces on the right. Every filter lives in the URL.
import * as api from '../api.js';
import { summarizeJaeger } from '../model.js';
import { h, clear, fmtDuration, fmtTime, fmtAgo, svcLabel, serviceColor, parseDuration, goDuration, listStep } from '../util.js';
import { navigate, href } from '../router.js';
import { resolveRange, rangeParams, timePicker } from '../timerange.js';
import { scatterPlot } from '../charts.js';
import { autocomplete } from '../autocomplete.js';
import { tagSource } from '../suggest.js';

const LIMITS = [20, 50, 100, 200];

export function mount(main, route) {
  const p = route.params;
  const state = {
    service: p.get('service') || '',
    operation: p.get('operation') || '',
    instance: p.get('instance') || '',
    tags: p.get('tags') || '',
    minDuration: p.get('minDuration') || '',
    maxDuration: p.get('maxDuration') || '',
    errors: p.get('errors') === '1',
    limit: Number(p.get('limit')) || 20,
    range: resolveRange(p, '1h'),
    sort: p.get('sort') || 'recent',
  };
  document.title = state.service ? `Search ${state.service} · Tracehouse` : 'Search · Tracehouse';
  const ctl = new AbortController();
  let selected = -1;
  let items = [];
  let disposeChart = null;

  // ---- Filters ----
  const serviceSel = h('select', { id: 'f-service', 'aria-label': 'Service', 'data-search': '' }, h('option', { value: '' }, 'Loading…'));
  const opSel = h('select', { id: 'f-operation', 'aria-label': 'Operation' }, h('option', { value: '' }, 'All operations'));
  // The service's processes (service.instance.id): a span of the chosen
  // one must match.
  const instSel = h('select', { id: 'f-instance', 'aria-label': 'Instance' }, h('option', { value: '' }, 'All instances'),
    state.instance ? h('option', { value: state.instance, selected: true }, state.instance) : null);
  const tagsIn = h('textarea', { id: 'f-tags', rows: 2, 'aria-label': 'Attributes (key=value)', 'aria-describedby': 'f-tags-hint', placeholder: 'http.status_code=500 user.id=42', value: state.tags, spellcheck: 'false' });
  const minIn = h('input', { id: 'f-min', 'aria-label': 'Minimum duration', placeholder: 'e.g. 100ms', value: state.minDuration });
  const maxIn = h('input', { id: 'f-max', 'aria-label': 'Maximum duration', placeholder: 'e.g. 2s', value: state.maxDuration });
  const errIn = h('input', { type: 'checkbox', id: 'f-errors', checked: state.errors });
  const limitSel = h('select', { id: 'f-limit', 'aria-label': 'Limit' }, LIMITS.map((n) => h('option', { value: n, selected: n === state.limit }, `${n} traces`)));
  let pendingRange = rangeParams(state.range);
  const picker = timePicker(state.range, (rp) => {
    pendingRange = rp;
    if (rp.range !== 'custom' || rp.start) submit();
  }, { id: 'f-range' });
  const formErr = h('div', { class: 'err-text', role: 'alert' });
  const form = h('form', { class: 'filters', 'aria-label': 'Trace search filters', onsubmit: (ev) => {
    ev.preventDefault();
    submit();
  } },
  h('div', { class: 'field' }, h('label', { for: 'f-service' }, 'Service'), serviceSel),
  h('div', { class: 'field' }, h('label', { for: 'f-operation' }, 'Operation'), opSel),
  h('div', { class: 'field' }, h('label', { for: 'f-instance', title: 'service.instance.id: one process of the service' }, 'Instance'), instSel),
  h('div', { class: 'field' }, h('label', { for: 'f-tags' }, 'Attributes'), tagsIn,
    h('div', { class: 'hint', id: 'f-tags-hint' }, 'key=value, separated by spaces or new lines; quote values with spaces: ', h('code', null, 'note="card declined"'), '. One span must match them all. Type or press ↓ for keys and values seen in the range.')),
  h('div', { class: 'row2' },
    h('div', { class: 'field' }, h('label', { for: 'f-min' }, 'Min duration'), minIn),
    h('div', { class: 'field' }, h('label', { for: 'f-max' }, 'Max duration'), maxIn)),
  h('label', { class: 'check', for: 'f-errors', title: 'Traces where a span of this service (and operation) failed' }, errIn, 'Only failed requests'),
  h('div', { class: 'field' }, h('label', { for: 'f-range' }, 'Time range'), picker),
  h('div', { class: 'field' }, h('label', { for: 'f-limit' }, 'Limit'), limitSel),
  formErr,
  h('button', { class: 'btn primary', type: 'submit', id: 'f-submit' }, 'Find traces'));

  const results = h('section', { class: 'results', 'aria-label': 'Search results' });
  main.appendChild(h('div', { class: 'page' }, h('div', { class: 'search-layout' }, form, results)));
  // Keys and values as the user types, from the attribute summary of the
  // chosen service over the page's range.
  const tagsAC = autocomplete(tagsIn, tagSource(() => ({ service: serviceSel.value, start: state.range.start, end: state.range.end })));

  serviceSel.addEventListener('change', () => {
    state.service = serviceSel.value;
    state.operation = '';
    state.instance = '';
    loadOperations();
    loadInstances();
  });

  function submit() {
    const tags = parseTags(tagsIn.value);
    if (tags.error) {
      formErr.textContent = tags.error;
      tagsIn.focus();
      return;
    }
    for (const [el, name] of [[minIn, 'Min duration'], [maxIn, 'Max duration']]) {
      if (Number.isNaN(parseDuration(el.value))) {
        formErr.textContent = `${name} "${el.value}" is not a duration like 250ms, 1.5s or 30us`;
        el.focus();
        return;
      }
    }
    formErr.textContent = '';
    navigate('/search', {
      service: serviceSel.value,
      operation: opSel.value,
      instance: instSel.value,
      tags: tagsIn.value.trim(),
      minDuration: minIn.value.trim(),
      maxDuration: maxIn.value.trim(),
      errors: errIn.checked,
      limit: Number(limitSel.value) !== 20 ? limitSel.value : '',
      sort: state.sort !== 'recent' ? state.sort : '',
      ...pendingRange,
    });
  }

  async function loadServices() {
    try {
      const list = await api.services({ signal: ctl.signal });
      clear(serviceSel);
      if (!list.length) {
        serviceSel.appendChild(h('option', { value: '' }, 'No services yet'));
        showEmpty('No traces stored yet', 'Send OTLP traces to the collector and they appear here (by default gRPC :4317, HTTP :4318; Tracehouse prints the addresses it listens on when it starts).');
        return;
      }
      if (!state.service || !list.includes(state.service)) {
        if (state.service) list.unshift(state.service);
        else state.service = list[0];
      }
      for (const s of list) serviceSel.appendChild(h('option', { value: s, selected: s === state.service }, s));
      await loadOperations();
      loadInstances();
      runSearch();
    } catch (e) {
      if (e.name === 'AbortError') return;
      clear(serviceSel).appendChild(h('option', { value: '' }, '—'));
      showError(e);
    }
  }

  async function loadOperations() {
    clear(opSel).appendChild(h('option', { value: '' }, 'All operations'));
    if (!state.service) return;
    try {
      // The busiest operations first: the one a user looks for is usually
      // among them.
      const ops = await api.operationsByTraffic(state.service, { signal: ctl.signal });
      for (const o of ops) opSel.appendChild(h('option', { value: o.name, selected: o.name === state.operation, title: `${o.calls} spans` }, o.name));
      if (state.operation && !ops.some((o) => o.name === state.operation)) opSel.appendChild(h('option', { value: state.operation, selected: true }, state.operation));
    } catch (e) {
      if (e.name !== 'AbortError') formErr.textContent = `Operations: ${e.message}`;
    }
  }

  async function loadInstances() {
    clear(instSel).appendChild(h('option', { value: '' }, 'All instances'));
    if (state.instance) instSel.appendChild(h('option', { value: state.instance, selected: true }, state.instance));
    if (!state.service) return;
    try {
      const list = await api.instances({ service: state.service, start: state.range.start, end: state.range.end, spanKind: 'all' }, { signal: ctl.signal });
      for (const it of list) {
        if (it.instance && it.instance !== state.instance) instSel.appendChild(h('option', { value: it.instance }, it.instance));
      }
    } catch (e) {
      if (e.name !== 'AbortError') formErr.textContent = `Instances: ${e.message}`;
    }
  }

  function showEmpty(title, text) {
    clear(results).appendChild(h('div', { class: 'empty card' }, h('strong', null, title), text));
  }

  function showError(e) {
    clear(results).appendChild(h('div', { class: 'error-box', role: 'alert' }, h('b', null, 'Search failed: '), e.message));
  }

  async function runSearch() {
    if (!state.service) return;
    const tags = parseTags(state.tags);
    if (tags.error) {
      formErr.textContent = tags.error;
      return;
    }
    const t = { ...tags.tags };
    if (state.errors) t.error = 'true';
    const minUs = parseDuration(state.minDuration);
    const maxUs = parseDuration(state.maxDuration);
    clear(results).appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), 'Searching…'));
    try {
      const traces = await api.findTraces({
        service: state.service,
        operation: state.operation,
        instance: state.instance,
        tags: t,
        minDuration: minUs ? goDuration(minUs) : '',
        maxDuration: maxUs ? goDuration(maxUs) : '',
        start: state.range.start,
        end: state.range.end,
        limit: state.limit,
      }, { signal: ctl.signal });
      items = traces.map(summarizeJaeger);
      sortItems();
      render();
    } catch (e) {
      if (e.name !== 'AbortError') showError(e);
    }
  }

  function sortItems() {
    const by = {
      recent: (a, b) => b.start - a.start,
      longest: (a, b) => b.duration - a.duration,
      shortest: (a, b) => a.duration - b.duration,
      spans: (a, b) => b.spans - a.spans,
      errors: (a, b) => b.errors - a.errors || b.start - a.start,
    }[state.sort] || ((a, b) => b.start - a.start);
    items.sort(by);
  }

  function render() {
    clear(results);
    if (disposeChart) disposeChart();
    if (!items.length) {
      showEmpty('No traces match', `Nothing from ${state.service} in ${state.range.label.toLowerCase()} with these filters. Widen the time range or remove a filter.`);
      return;
    }
    const maxDur = Math.max(...items.map((i) => i.duration));
    const chart = h('div', { class: 'scatter', id: 'scatter' });
    const domain = resultsDomain(items);
    const incomplete = items.filter((it) => it.incomplete).length;
    results.appendChild(h('div', { class: 'card scatter-card' },
      h('div', { class: 'card-head' }, h('h2', null, 'Duration over time'),
        h('span', { class: 'muted', id: 'scatter-span' }, `the ${items.length} traces found, ${fmtTime(domain.first, { millis: false })} – ${fmtTime(domain.last, { millis: false })}`),
        h('span', { class: 'grow' }),
        incomplete ? h('span', { class: 'faint' }, '◯ hollow: may be incomplete') : null,
        h('span', { class: 'faint' }, 'click a dot to open its trace')),
      h('div', { class: 'card-body' }, chart)));
    disposeChart = scatterPlot(chart, {
      points: items.map((it) => ({ t: it.start / 1000, v: it.duration, error: it.errors > 0, id: it.traceID, size: it.spans, hollow: !!it.incomplete,
        label: `${it.rootService}: ${it.rootName} (${fmtDuration(it.duration)})${it.incomplete ? ' · may be incomplete' : ''}` })),
      domain: domain.range,
      fmtY: fmtDuration,
      label: 'Trace durations over time',
      onClick: (pt) => navigate(`/trace/${pt.id}`),
    });
    const sortSel = h('select', { 'aria-label': 'Sort traces', id: 'f-sort', onchange: () => {
      state.sort = sortSel.value;
      sortItems();
      history.replaceState(null, '', href('/search', { ...Object.fromEntries(new URLSearchParams(location.hash.split('?')[1] || '')), sort: state.sort === 'recent' ? '' : state.sort }));
      render();
    } }, [['recent', 'Most recent'], ['longest', 'Longest first'], ['shortest', 'Shortest first'], ['spans', 'Most spans'], ['errors', 'Most errors']]
      .map(([v, l]) => h('option', { value: v, selected: v === state.sort }, l)));
    results.appendChild(h('div', { class: 'results-head' },
      h('h2', { id: 'results-title' }, `${items.length} trace${items.length === 1 ? '' : 's'}`),
      h('span', { class: 'muted' }, `${state.service}${state.operation ? ' · ' + state.operation : ''} · ${state.range.label.toLowerCase()}`),
      h('span', { class: 'grow' }),
      items.length >= 2 ? h('button', { class: 'btn small', type: 'button', onclick: () => navigate('/compare', { a: items[0].traceID, b: items[1].traceID }) }, 'Compare top two') : null,
      sortSel));
    const list = h('div', { class: 'trace-list card', role: 'listbox', 'aria-labelledby': 'results-title', id: 'trace-list' });
    items.forEach((it, i) => {
      const svcs = it.services.map((sv) => h('span', { class: 'badge', title: `${sv.count} spans${sv.errors ? `, ${sv.errors} errors` : ''}` },
        h('span', { class: 'svc-dot', style: { background: serviceColor(sv.name) } }), `${sv.name} ${sv.count}`));
      const row = h('a', { class: 'trace-item', href: `#/trace/${it.traceID}`, role: 'option', 'aria-selected': String(i === selected), dataset: { traceId: it.traceID }, id: `trace-item-${i}` },
        h('div', { class: 'title' }, svcLabel(it.rootService), ': ', it.rootName,
          it.incomplete ? h('span', { class: 'badge incomplete ' + (it.incomplete.rootMissing || it.incomplete.missingParents ? 'warn' : 'arriving'), title: `Spans may be missing: ${it.incomplete.reasons.join('; ')}` }, incompleteLabel(it.incomplete))
            : it.rootMissing ? h('span', { class: 'badge warn', title: 'the root span is missing' }, 'no root') : null),
        h('div', { class: 'meta' },
          h('span', { class: 'badge' }, `${it.spans} span${it.spans === 1 ? '' : 's'}`),
          it.errors ? h('span', { class: 'badge error' }, `${it.errors} error${it.errors === 1 ? '' : 's'}`) : null,
          svcs,
          h('span', { class: 'tag-chip', title: it.traceID }, it.traceID.slice(0, 12))),
        h('div', { class: 'when', title: fmtTime(it.start / 1000, { date: true }) }, fmtTime(it.start / 1000), h('br'), h('span', { class: 'faint' }, fmtAgo(it.start / 1000))),
        h('div', { class: 'dur' }, fmtDuration(it.duration)),
        h('div', { class: 'durbar', 'aria-hidden': 'true' }, h('span', { style: { width: `${Math.max(0.5, (it.duration / maxDur) * 100)}%`, background: it.errors ? 'var(--error)' : null } })));
      row.addEventListener('mouseenter', () => select(i, false));
      list.appendChild(row);
    });
    results.appendChild(list);
  }

  function select(i, scroll = true) {
    if (!items.length) return;
    selected = Math.max(0, Math.min(items.length - 1, i));
    for (const el of results.querySelectorAll('.trace-item')) el.setAttribute('aria-selected', 'false');
    const row = results.querySelector(`#trace-item-${selected}`);
    if (row) {
      row.setAttribute('aria-selected', 'true');
      if (scroll) row.scrollIntoView({ block: 'nearest' });
    }
    for (const d of results.querySelectorAll('.dot')) d.classList.toggle('selected', d.dataset.traceId === items[selected].traceID);
  }

  loadServices();

  return {
    destroy() {
      ctl.abort();
      tagsAC.destroy();
      if (disposeChart) disposeChart();
    },
    focusSearch() {
      tagsIn.focus();
    },
    onKey(ev) {
      const step = listStep(ev);
      if (step) {
        select(selected + step);
        return true;
      }
      if (ev.key === 'Enter' && selected >= 0 && items[selected]) {
        navigate(`/trace/${items[selected].traceID}`);
        return true;
      }
      return false;
    },
  };
}

// resultsDomain is the scatter plot's time axis: the span of the traces
// found (not of the query's range, where 20 recent traces of an hour sit
// in one column at the right edge), padded so edge dots are not cut.
export function resultsDomain(items) {
  const ts = items.map((it) => it.start / 1000);
  const first = Math.min(...ts);
  const last = Math.max(...ts);
  // A lone trace gets a minute around it; otherwise 3% of the span.
  const pad = last > first ? Math.max(50, (last - first) * 0.03) : 30e3;
  return { first, last, range: [first - pad, last + pad] };
}

// incompleteLabel is the badge of a trace whose spans may be missing.
function incompleteLabel(inc) {
  if (inc.rootMissing) return 'incomplete: no root';
  if (inc.missingParents) return 'incomplete: missing parents';
  return 'may still be arriving';
}

// parseTags reads `k=v k2="v with spaces"` (space, comma or newline
// separated) into an object.
export function parseTags(text) {
  const tags = {};
  const src = String(text || '').trim();
  if (!src) return { tags };
  const re = /\s*([^=\s,]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^\s,]*)\s*,?/gy;
  let m;
  let pos = 0;
  while (pos < src.length) {
    re.lastIndex = pos;
    m = re.exec(src);
    if (!m || m[0] === '') return { error: `Attributes: expected key=value at "${src.slice(pos, pos + 20)}"` };
    tags[m[1]] = m[3] !== undefined ? m[3].replace(/\\(.)/g, '$1') : m[2];
    pos = re.lastIndex;
  }
  return { tags };
}
