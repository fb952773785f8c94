// Trace compare: two traces' span paths side by side (service:operation
// from the root down), with what only one has, different call counts and
// duration changes marked.
import * as api from '../api.js';
import { h, clear, fmtDurationNs, svcLabel } from '../util.js';
import { navigate, href } from '../router.js';

export function mount(main, route) {
  const a = (route.params.get('a') || '').trim().toLowerCase();
  const b = (route.params.get('b') || '').trim().toLowerCase();
  const onlyDiff = route.params.get('diff') === '1';
  const ctl = new AbortController();
  document.title = 'Compare traces · Tracehouse';

  const inA = h('input', { id: 'cmp-a', 'aria-label': 'Trace A id', placeholder: 'trace id A', value: a, 'data-search': '', spellcheck: 'false' });
  const inB = h('input', { id: 'cmp-b', 'aria-label': 'Trace B id', placeholder: 'trace id B', value: b, spellcheck: 'false' });
  const diffIn = h('input', { type: 'checkbox', id: 'cmp-diff', checked: onlyDiff });
  const form = h('form', { class: 'cmp-inputs', 'aria-label': 'Traces to compare', onsubmit: (ev) => {
    ev.preventDefault();
    navigate('/compare', { a: inA.value.trim(), b: inB.value.trim(), diff: diffIn.checked });
  } },
  h('div', { class: 'field' }, h('label', { for: 'cmp-a' }, 'Trace A (baseline)'), inA),
  h('button', { class: 'btn', type: 'button', title: 'Swap A and B', 'aria-label': 'Swap A and B', onclick: () => navigate('/compare', { a: inB.value.trim(), b: inA.value.trim(), diff: diffIn.checked }) }, '⇄'),
  h('div', { class: 'field' }, h('label', { for: 'cmp-b' }, 'Trace B'), inB),
  h('button', { class: 'btn primary', type: 'submit' }, 'Compare'),
  h('label', { class: 'check', for: 'cmp-diff' }, diffIn, 'Only differences'));
  diffIn.addEventListener('change', () => form.requestSubmit());
  const out = h('div', { class: 'page-scroll', id: 'compare-result' });
  main.appendChild(h('div', { class: 'page' }, h('div', { class: 'page-head' }, h('h1', null, 'Compare traces'),
    h('span', { class: 'sub' }, 'Spans are matched by their path of service:operation from the root.')), form, out));

  if (!a || !b) {
    out.appendChild(h('div', { class: 'empty card' }, h('strong', null, 'Pick two traces'),
      'Paste two trace ids, or open a trace and choose “Compare…”, or use “Compare top two” on the search results.'));
    if (a && !b) inB.focus();
  } else {
    out.appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), 'Comparing…'));
    api.compareTraces(a, b, { signal: ctl.signal }).then((d) => render(d)).catch((e) => {
      if (e.name === 'AbortError') return;
      clear(out).appendChild(h('div', { class: 'error-box', role: 'alert' }, h('b', null, 'Cannot compare: '), e.message));
    });
  }

  function side(label, s, other) {
    const [svc, ...op] = (s.root || '').split(':');
    const delta = s.durationNs - other.durationNs;
    return h('div', { class: 'card card-body' },
      h('div', { class: 'faint' }, label),
      h('div', { style: { fontWeight: 600, fontSize: '14px', margin: '2px 0 6px' } }, svcLabel(svc), ': ', op.join(':')),
      h('div', { class: 'stats', style: { display: 'flex', gap: '14px', flexWrap: 'wrap' } },
        h('span', null, 'Duration ', h('b', null, fmtDurationNs(s.durationNs)),
          label.endsWith('B') && delta ? h('span', { class: delta > 0 ? 'err-text' : '', style: { marginLeft: '4px' } }, `(${delta > 0 ? '+' : '−'}${fmtDurationNs(Math.abs(delta))})`) : null),
        h('span', null, 'Spans ', h('b', null, String(s.spanCount))),
        h('span', null, 'Errors ', h('b', { class: s.errorCount ? 'err-text' : '' }, String(s.errorCount))),
        h('a', { href: href(`/trace/${s.traceId}`) }, 'Open ', h('code', null, s.traceId.slice(0, 12)))));
  }

  function render(d) {
    clear(out);
    out.appendChild(h('div', { class: 'cmp-summary', style: { padding: 0, marginBottom: '10px' } }, side('Trace A', d.a, d.b), side('Trace B', d.b, d.a)));
    const changed = d.paths.filter((p) => p.change || p.errorsA !== p.errorsB);
    out.appendChild(h('div', { class: 'results-head', style: { display: 'flex', gap: '12px', alignItems: 'baseline', margin: '4px 0 8px' } },
      h('h2', { id: 'cmp-title' }, `${d.paths.length} span paths`),
      h('span', { class: 'muted', id: 'cmp-counts' }, `${d.missing.length} only in A · ${d.added.length} only in B · ${d.paths.filter((p) => p.change === 'count').length} with different counts`),
      h('span', { class: 'grow' }),
      h('div', { class: 'diff-legend' }, h('span', { class: 'a' }, 'only in A'), h('span', { class: 'b' }, 'only in B'), h('span', { class: 'c' }, 'count differs'))));
    const rows = onlyDiff ? d.paths.filter((p) => p.change || Math.abs(p.deltaNs) > 0.2 * Math.max(p.durationANs, p.durationBNs) || p.errorsA !== p.errorsB) : d.paths;
    if (!rows.length) {
      out.appendChild(h('div', { class: 'empty card' }, h('strong', null, 'Same structure'), changed.length ? '' : 'Both traces have the same span paths, called the same number of times.'));
      return;
    }
    const maxDur = Math.max(1, ...d.paths.map((p) => Math.max(p.durationANs, p.durationBNs)));
    const tbody = h('tbody');
    for (const p of rows) {
      const segs = p.segments && p.segments.length ? p.segments : p.path.split('/');
      const last = segs[segs.length - 1] || '';
      const [svc, ...op] = last.split(':');
      const cls = p.change === 'missing' ? 'only-a' : p.change === 'added' ? 'only-b' : p.change === 'count' ? 'changed' : '';
      const deltaPct = p.durationANs ? p.deltaNs / p.durationANs : 0;
      tbody.appendChild(h('tr', { class: cls, dataset: { change: p.change || 'same' }, title: p.path },
        h('td', { class: 'path' }, h('span', { style: { paddingLeft: `${(segs.length - 1) * 16}px`, display: 'inline-flex', gap: '4px', alignItems: 'center' } },
          svcLabel(svc), h('span', { class: 'muted' }, op.join(':')),
          p.change === 'missing' ? h('span', { class: 'badge' }, 'only A') : p.change === 'added' ? h('span', { class: 'badge' }, 'only B') : null,
          p.errorsA || p.errorsB ? h('span', { class: 'badge error', title: 'errors in A / B' }, `errors ${p.errorsA}/${p.errorsB}`) : null)),
        h('td', { class: 'num' }, String(p.countA)),
        h('td', { class: 'num' }, String(p.countB)),
        h('td', { class: 'num' }, p.countA ? fmtDurationNs(p.durationANs) : '–'),
        h('td', { class: 'num' }, p.countB ? fmtDurationNs(p.durationBNs) : '–'),
        h('td', { class: 'num' }, p.countA && p.countB && p.deltaNs
          ? h('span', { class: `delta ${Math.abs(deltaPct) < 0.1 ? '' : p.deltaNs > 0 ? 'up' : 'down'}` }, `${p.deltaNs > 0 ? '+' : '−'}${fmtDurationNs(Math.abs(p.deltaNs))}`)
          : ''),
        h('td', { class: 'bars', 'aria-hidden': 'true' },
          h('div', { class: 'cmp-bar', style: { width: `${(p.durationANs / maxDur) * 100}%`, background: 'var(--text-3)' } }),
          h('div', { class: 'cmp-bar', style: { width: `${(p.durationBNs / maxDur) * 100}%`, background: 'var(--accent)' } }))));
    }
    out.appendChild(h('div', { class: 'card' }, h('table', { class: 'grid cmp-table', 'aria-labelledby': 'cmp-title' },
      h('thead', null, h('tr', null, h('th', null, 'Span path'), h('th', { class: 'num' }, 'Count A'), h('th', { class: 'num' }, 'Count B'),
        h('th', { class: 'num' }, 'Time A'), h('th', { class: 'num' }, 'Time B'), h('th', { class: 'num' }, 'Δ time'), h('th', null, 'A / B'))),
      tbody)));
  }

  return {
    destroy() {
      ctl.abort();
    },
  };
}
