// Small DOM and formatting helpers shared by every page.

const SVG_NS = 'http://www.w3.org/2000/svg';

// h builds an element: h('div', {class: 'x', onclick: fn}, child, …).
// Children may be strings, nodes, arrays, null or false (skipped).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

// s builds an SVG element the same way.
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props, true);
  append(el, children);
  return el;
}

function applyProps(el, props, svg) {
  if (!props) return;
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2).toLowerCase(), v);
    } else if (k === 'style' && typeof v === 'object') {
      for (const [sk, sv] of Object.entries(v)) {
        if (sk.startsWith('--')) el.style.setProperty(sk, sv);
        else el.style[sk] = sv;
      }
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'class' && !svg) {
      el.className = v;
    } else if (!svg && (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected' || k === 'textContent')) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

// ---- Durations and times ----

// fmtDuration formats microseconds: 850µs, 12.3ms, 1.25s, 2m 05s.
export function fmtDuration(us) {
  if (us === null || us === undefined || Number.isNaN(us)) return '–';
  const a = Math.abs(us);
  if (a < 1) return `${+(us * 1000).toFixed(0)}ns`;
  if (a < 1000) return `${+us.toFixed(a < 10 ? 2 : a < 100 ? 1 : 0)}µs`;
  const ms = us / 1000;
  if (a < 1e6) return `${+ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)}ms`;
  const sec = us / 1e6;
  if (a < 60e6) return `${+sec.toFixed(sec < 10 ? 2 : 1)}s`;
  const m = Math.floor(sec / 60);
  const rest = Math.round(sec - m * 60);
  if (m < 60) return `${m}m ${String(rest).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

// fmtDurationNs formats nanoseconds.
export const fmtDurationNs = (ns) => fmtDuration(ns / 1000);

// parseDuration reads "250ms", "1.5s", "30us", "2m" into microseconds; null
// when empty or invalid.
export function parseDuration(text) {
  const t = String(text || '').trim();
  if (!t) return null;
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)?$/i.exec(t);
  if (!m) return NaN;
  const n = parseFloat(m[1]);
  const unit = (m[2] || 'ms').toLowerCase();
  const mult = { ns: 0.001, us: 1, 'µs': 1, ms: 1000, s: 1e6, m: 60e6, h: 3600e6 }[unit];
  return n * mult;
}

// jaegerDuration writes microseconds the way Go's time.ParseDuration reads.
export function goDuration(us) {
  if (us % 1e6 === 0) return `${us / 1e6}s`;
  if (us % 1000 === 0) return `${us / 1000}ms`;
  return `${Math.round(us)}us`;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

// fmtTime formats epoch milliseconds as local "HH:MM:SS.mmm", with the date
// when it is not today.
export function fmtTime(ms, { date = 'auto', millis = true } = {}) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '–';
  const d = new Date(ms);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  let out = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (millis) out += `.${pad(d.getMilliseconds(), 3)}`;
  if (date === true || (date === 'auto' && !sameDay)) {
    out = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${out}`;
  }
  return out;
}


// fmtAgo: "12s ago", "5m ago", "3h ago", "2d ago".
export function fmtAgo(ms, now = Date.now()) {
  const d = Math.max(0, (now - ms) / 1000);
  if (d < 60) return `${Math.floor(d)}s ago`;
  if (d < 3600) return `${Math.floor(d / 60)}m ago`;
  if (d < 86400) return `${Math.floor(d / 3600)}h ago`;
  return `${Math.floor(d / 86400)}d ago`;
}

// toLocalInput turns epoch ms into a datetime-local value.
export function toLocalInput(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// ---- Numbers ----

export function fmtNum(n, digits = 2) {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e4) return `${+(n / 1e3).toFixed(1)}k`;
  if (a >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return String(+n.toFixed(digits));
}

export function fmtRate(perSec) {
  if (perSec === null || perSec === undefined || Number.isNaN(perSec)) return '–';
  if (perSec > 0 && perSec < 0.1) return `${fmtNum(perSec * 60)}/min`;
  return `${fmtNum(perSec)}/s`;
}

// fmtSpan writes a length of time given in seconds: "45 s", "14 min 8 s",
// "3 h 20 min".
export function fmtSpan(secs) {
  if (!(secs > 0)) return '0 s';
  const t = Math.round(secs);
  if (t < 60) return `${t} s`;
  if (t < 3600) return `${Math.floor(t / 60)} min${t % 60 ? ` ${t % 60} s` : ''}`;
  const m = Math.round(t / 60);
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}

export function fmtPct(ratio) {
  if (ratio === null || ratio === undefined || Number.isNaN(ratio)) return '–';
  const p = ratio * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  return `${+p.toFixed(p < 10 ? 1 : 0)}%`;
}

// ---- Colours ----

// Service colours: a fixed palette readable on light and dark backgrounds;
// a service keeps its colour everywhere (hash of its name).
const PALETTE = [
  '#4e79a7', '#f28e2b', '#59a14f', '#b07aa1', '#76b7b2', '#edc948',
  '#ff9da7', '#9c755f', '#e15759', '#6b8e23', '#8c6bb1', '#17becf',
];

export function serviceColor(name) {
  let hash = 2166136261;
  for (let i = 0; i < (name || '').length; i++) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return PALETTE[(hash >>> 0) % PALETTE.length];
}

export function svcLabel(name) {
  return h('span', { class: 'svc' }, h('span', { class: 'svc-dot', style: { background: serviceColor(name) } }), name);
}

// ---- Misc ----


export function copyText(text) {
  if (navigator.clipboard) return navigator.clipboard.writeText(text).then(() => toast('Copied'), () => {});
  return Promise.resolve();
}

let toastTimer;
export function toast(msg) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = msg;
  el.classList.add('show');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('show'), 1800);
}

// niceTicks returns about count round tick values covering [min, max].
export function niceTicks(min, max, count = 5) {
  if (!(max > min)) return [min];
  const span = max - min;
  const raw = span / Math.max(1, count);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const out = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12));
  return out;
}

// Time ticks at round intervals for an epoch-ms range.
const TIME_STEPS = [1e3, 2e3, 5e3, 10e3, 15e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3];
export function timeTicks(min, max, count = 6) {
  const span = max - min;
  const step = TIME_STEPS.find((s) => span / s <= count) || 86400e3 * Math.ceil(span / count / 86400e3);
  const off = new Date(min).getTimezoneOffset() * 60e3;
  const out = [];
  for (let v = Math.ceil((min - off) / step) * step + off; v <= max; v += step) out.push(v);
  return { ticks: out, step };
}

export function fmtTick(ms, step) {
  const d = new Date(ms);
  if (step >= 86400e3) return `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  if (step < 60e3) return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function severityClass(text, number) {
  const t = String(text || '').toLowerCase();
  if (number >= 21 || t.startsWith('fatal') || t.startsWith('crit') || t === 'panic') return 'fatal';
  if (number >= 17 || t.startsWith('err')) return 'error';
  if (number >= 13 || t.startsWith('warn')) return 'warn';
  if (number >= 9 || t.startsWith('info')) return 'info';
  if (number >= 5 || t.startsWith('debug')) return 'debug';
  if (number >= 1 || t.startsWith('trace')) return 'trace';
  return 'info';
}


export function isEditable(el) {
  if (!el) return false;
  const tag = el.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || el.isContentEditable;
}

// listStep: the row step a list key asks for: j or ArrowDown +1, k or
// ArrowUp -1, anything else 0.
export function listStep(ev) {
  if (ev.key === 'j' || ev.key === 'ArrowDown') return 1;
  if (ev.key === 'k' || ev.key === 'ArrowUp') return -1;
  return 0;
}
