// Time ranges in the URL: range=5m|15m|1h|6h|24h (relative to now), or
// range=custom with start and end as epoch milliseconds.
import { h, toLocalInput } from './util.js';

export const PRESETS = [
  { key: '5m', label: 'Last 5 minutes', ms: 5 * 60e3 },
  { key: '15m', label: 'Last 15 minutes', ms: 15 * 60e3 },
  { key: '1h', label: 'Last hour', ms: 3600e3 },
  { key: '6h', label: 'Last 6 hours', ms: 6 * 3600e3 },
  { key: '24h', label: 'Last 24 hours', ms: 24 * 3600e3 },
];

// resolveRange reads the params; now is injectable for consistent
// re-renders.
export function resolveRange(params, fallback = '1h', now = Date.now()) {
  const key = params.get('range') || fallback;
  if (key === 'custom') {
    const start = Number(params.get('start'));
    const end = Number(params.get('end'));
    if (start > 0 && end > start) return { key, start, end, label: 'Custom range' };
  }
  const p = PRESETS.find((x) => x.key === key) || PRESETS.find((x) => x.key === fallback) || PRESETS[1];
  return { key: p.key, start: now - p.ms, end: now, label: p.label };
}

export function rangeParams(r) {
  if (r.key === 'custom') return { range: 'custom', start: Math.round(r.start), end: Math.round(r.end) };
  return { range: r.key, start: null, end: null };
}

// timePicker renders the preset select and, for custom, two datetime inputs.
// onChange receives {range, start, end} params.
export function timePicker(range, onChange, { id = 'range' } = {}) {
  const start = h('input', { type: 'datetime-local', 'aria-label': 'Start time', value: toLocalInput(range.start) });
  const end = h('input', { type: 'datetime-local', 'aria-label': 'End time', value: toLocalInput(range.end) });
  const custom = h('span', { class: 'custom' + (range.key === 'custom' ? '' : ' hidden') }, start, h('span', { class: 'faint' }, '→'), end,
    h('button', { class: 'btn small', type: 'button', onclick: applyCustom }, 'Apply'));
  const select = h('select', { id, 'aria-label': 'Time range', onchange: () => {
    if (select.value === 'custom') {
      custom.classList.remove('hidden');
      start.focus();
      return;
    }
    onChange({ range: select.value, start: null, end: null });
  } },
  PRESETS.map((p) => h('option', { value: p.key, selected: p.key === range.key }, p.label)),
  h('option', { value: 'custom', selected: range.key === 'custom' }, 'Custom…'));
  function applyCustom() {
    const s = new Date(start.value).getTime();
    const e = new Date(end.value).getTime();
    if (!(s > 0 && e > s)) {
      end.setCustomValidity('The end must be after the start');
      end.reportValidity();
      return;
    }
    end.setCustomValidity('');
    onChange({ range: 'custom', start: s, end: e });
  }
  return h('span', { class: 'timepicker' }, select, custom);
}
