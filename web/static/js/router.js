// Hash routing: #/page/arg?key=value&…. The fragment holds every piece of
// view state that matters, so any view is a shareable link.

export function parseHash(hash = location.hash) {
  let text = hash.replace(/^#/, '');
  if (!text.startsWith('/')) text = '/' + text;
  const q = text.indexOf('?');
  const path = q >= 0 ? text.slice(0, q) : text;
  const params = new URLSearchParams(q >= 0 ? text.slice(q + 1) : '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { page: parts[0] || 'search', args: parts.slice(1), params, path };
}

// href builds a fragment link; empty, null and false params are dropped.
export function href(path, params) {
  const p = new URLSearchParams();
  if (params) {
    const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params);
    for (const [k, v] of entries) {
      if (v === undefined || v === null || v === '' || v === false) continue;
      if (Array.isArray(v)) v.forEach((x) => p.append(k, x));
      else p.set(k, v === true ? '1' : String(v));
    }
  }
  const qs = p.toString();
  return '#' + path + (qs ? '?' + qs : '');
}

// navigate changes the URL; replace keeps history clean for state tweaks
// (e.g. selecting a span) that should not each be a Back step.
export function navigate(path, params, { replace = false } = {}) {
  const next = href(path, params);
  if (next === location.hash) return;
  if (replace) {
    history.replaceState(null, '', next);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  } else {
    location.hash = next;
  }
}

// setParams rewrites some params of the current route without adding a
// history entry and without re-rendering the page (the page already shows
// the new state); silent updates are announced as 'routeparams' events.
export function setParams(changes, { replace = true, silent = true } = {}) {
  const r = parseHash();
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '' || v === false) r.params.delete(k);
    else r.params.set(k, String(v));
  }
  const next = href(r.path, r.params);
  if (next === location.hash) return;
  if (silent) {
    if (replace) history.replaceState(null, '', next);
    else history.pushState(null, '', next);
    window.dispatchEvent(new CustomEvent('routeparams'));
  } else {
    navigate(r.path, r.params, { replace });
  }
}
