// Tracehouse UI entry point: theme, navigation, routing and keyboard.
import { parseHash, navigate } from './router.js';
import { clear, h, isEditable } from './util.js';
import { setAuthToken } from './api.js';
import * as search from './pages/search.js';
import * as trace from './pages/trace.js';
import * as compare from './pages/compare.js';
import * as map from './pages/map.js';
import * as service from './pages/service.js';
import * as logs from './pages/logs.js';
import * as savedView from './views.js';

const pages = { search, trace, compare, map, services: service, service, logs, view: savedView };

// ---- Theme ----
const themeBtn = document.getElementById('theme-btn');
function currentTheme() {
  const forced = document.documentElement.dataset.theme;
  if (forced) return forced;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
function applyTheme(theme) {
  if (theme) document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
  const t = currentTheme();
  themeBtn.textContent = t === 'dark' ? '☀' : '☾';
  themeBtn.setAttribute('aria-label', t === 'dark' ? 'Switch to light theme' : 'Switch to dark theme');
  themeBtn.setAttribute('aria-pressed', String(t === 'dark'));
  window.dispatchEvent(new CustomEvent('themechange'));
}
function toggleTheme() {
  const next = currentTheme() === 'dark' ? 'light' : 'dark';
  try {
    localStorage.setItem('tracehouse.theme', next);
  } catch { /* private mode */ }
  applyTheme(next);
}
let saved = null;
try {
  saved = localStorage.getItem('tracehouse.theme');
} catch { /* private mode */ }
applyTheme(saved === 'dark' || saved === 'light' ? saved : null);
themeBtn.addEventListener('click', toggleTheme);
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => applyTheme(document.documentElement.dataset.theme));

// ---- Go to trace ----
const gotoForm = document.getElementById('goto-form');
const gotoInput = document.getElementById('goto-trace');
gotoForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const id = gotoInput.value.trim().toLowerCase();
  if (!/^[0-9a-f]{1,32}$/.test(id)) {
    gotoInput.setCustomValidity('A trace id is up to 32 hexadecimal digits');
    gotoInput.reportValidity();
    return;
  }
  gotoInput.setCustomValidity('');
  gotoInput.value = '';
  gotoInput.blur();
  navigate(`/trace/${id}`);
});
gotoInput.addEventListener('input', () => gotoInput.setCustomValidity(''));

// ---- Saved views ----
document.getElementById('views-btn').addEventListener('click', () => savedView.openViewsDialog());

// ---- Help ----
const help = document.getElementById('help-dialog');
document.getElementById('help-btn').addEventListener('click', () => help.showModal());

// ---- Bearer token (when the query service runs with --auth-token) ----
let authDialog = null;
window.addEventListener('tracehouse:auth', () => {
  if (authDialog && authDialog.open) return;
  const input = h('input', { type: 'password', id: 'auth-token', 'aria-label': 'API token', autocomplete: 'current-password', style: { width: '100%' } });
  authDialog = h('dialog', { 'aria-labelledby': 'auth-title' },
    h('h2', { id: 'auth-title' }, 'This query service needs a token'),
    h('p', { class: 'muted' }, 'Paste your token (from --auth-tokens-file: the views you save then say they are yours) or the shared one the service was started with (--auth-token). It is kept for this browser tab only.'),
    h('form', { method: 'dialog', onsubmit: () => {
      setAuthToken(input.value.trim());
      setTimeout(() => {
        authDialog.remove();
        if (current && current.view.destroy) current.view.destroy();
        current = null;
        route();
      });
    } }, input, h('div', { style: { marginTop: '12px', display: 'flex', gap: '8px', justifyContent: 'flex-end' } }, h('button', { class: 'btn primary' }, 'Use token'))));
  document.body.appendChild(authDialog);
  authDialog.showModal();
});

// ---- Routing ----
const main = document.getElementById('main');
let current = null; // {name, view}

function route() {
  const r = parseHash();
  if (!location.hash) {
    history.replaceState(null, '', '#/search');
    return route();
  }
  const name = pages[r.page] ? r.page : 'notfound';
  for (const a of document.querySelectorAll('.mainnav a')) {
    const nav = a.dataset.nav;
    const on = nav === r.page || (nav === 'service' && (r.page === 'services' || r.page === 'service')) || (nav === 'search' && r.page === 'trace');
    if (on) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (current && current.name === name && current.view.update && current.view.update(r)) return;
  if (current && current.view.destroy) current.view.destroy();
  clear(main);
  if (name === 'notfound') {
    current = { name, view: {} };
    main.appendChild(h('div', { class: 'empty' }, h('strong', null, 'No such page'), h('a', { href: '#/search' }, 'Go to search')));
    document.title = 'Tracehouse';
    return;
  }
  current = { name, view: pages[name].mount(main, r) || {} };
}
window.addEventListener('hashchange', route);
route();

// ---- Keyboard ----
let pendingG = 0;
document.addEventListener('keydown', (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const editing = isEditable(ev.target);
  if (ev.key === 'Escape') {
    if (help.open) return;
    if (current && current.view.onKey && current.view.onKey(ev)) {
      ev.preventDefault();
      return;
    }
    if (editing) ev.target.blur();
    return;
  }
  if (editing) return;
  if (ev.key === '/') {
    ev.preventDefault();
    if (current && current.view.focusSearch) current.view.focusSearch();
    else {
      const el = main.querySelector('[data-search]') || gotoInput;
      el.focus();
      if (el.select) el.select();
    }
    return;
  }
  if (ev.key === '?') {
    help.showModal();
    return;
  }
  if (ev.key === 't') {
    toggleTheme();
    return;
  }
  if (ev.key === 'g') {
    pendingG = Date.now();
    return;
  }
  if (pendingG && Date.now() - pendingG < 1200) {
    pendingG = 0;
    const dest = { s: '/search', m: '/map', l: '/logs', c: '/compare', v: '/services' }[ev.key];
    if (dest) {
      navigate(dest);
      return;
    }
  }
  pendingG = 0;
  // Enter and Space on a focused control belong to that control.
  if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.closest && ev.target.closest('button, a, summary')) return;
  if (current && current.view.onKey && current.view.onKey(ev)) ev.preventDefault();
});
