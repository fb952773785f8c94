// Autocomplete for a text box (input or textarea): a list of suggestions
// under it, each with its count, fed by an async source as the user types
// (or presses ↓ in it). Arrows move, Enter or Tab accept, Esc closes; a
// click accepts too. Focusing the box opens nothing, so that / then Esc
// still leaves it as before. The box is an ARIA combobox and the list its
// listbox.
import { h, clear } from './util.js';

// fmtCount writes a count short: 950, 1.2k, 34k, 1.5M.
export function fmtCount(n) {
  if (n < 1000) return String(n);
  const units = [[1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [d, u] of units) {
    if (n >= d) {
      const v = n / d;
      return (v < 10 ? v.toFixed(1).replace(/\.0$/, '') : String(Math.round(v))) + u;
    }
  }
  return String(n);
}

// quoteValue quotes a value that holds spaces, quotes or parentheses.
export function quoteValue(v) {
  if (v !== '' && !/[\s"'()\\]/.test(v)) return v;
  return '"' + v.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

let nextId = 0;

// autocomplete wires a box to source(text, caret, signal), which resolves
// to null (nothing to offer) or {from, to, items, select}: the text
// [from, to) an accepted item replaces, and items {insert, label, count,
// hint, again}. insert replaces [from, to); again asks the source once more
// after it (a key followed by its values). select: whether the first item
// is highlighted at once (Enter then accepts it; otherwise Enter is the
// form's).
export function autocomplete(box, source, { delay = 120 } = {}) {
  const id = `ac-${++nextId}`;
  const list = h('ul', { class: 'ac-list hidden', id, role: 'listbox', 'aria-label': 'Suggestions' });
  const wrap = h('div', { class: 'ac-wrap' });
  box.replaceWith(wrap);
  wrap.append(box, list);
  box.setAttribute('role', 'combobox');
  box.setAttribute('aria-autocomplete', 'list');
  box.setAttribute('aria-controls', id);
  box.setAttribute('aria-expanded', 'false');
  box.setAttribute('autocomplete', 'off');

  let items = [];
  let active = -1;
  let span = null; // {from, to}
  let timer = 0;
  let ctl = null;
  let seq = 0;

  function close() {
    items = [];
    active = -1;
    span = null;
    list.classList.add('hidden');
    clear(list);
    box.setAttribute('aria-expanded', 'false');
    box.removeAttribute('aria-activedescendant');
  }

  function highlight(i) {
    active = i;
    for (const li of list.children) li.setAttribute('aria-selected', String(Number(li.dataset.index) === i));
    if (i >= 0) {
      box.setAttribute('aria-activedescendant', `${id}-${i}`);
      const li = list.children[i];
      if (li) li.scrollIntoView({ block: 'nearest' });
    } else box.removeAttribute('aria-activedescendant');
  }

  function show(res) {
    clear(list);
    if (!res || !res.items || !res.items.length) {
      close();
      return;
    }
    items = res.items;
    span = { from: res.from, to: res.to };
    items.forEach((it, i) => {
      list.appendChild(h('li', { id: `${id}-${i}`, role: 'option', class: 'ac-item', 'aria-selected': 'false', dataset: { index: String(i) },
        onmousedown: (ev) => {
          ev.preventDefault(); // keep the focus in the box
          accept(i);
        } },
      h('span', { class: 'ac-label' }, it.label || it.insert),
      it.hint ? h('span', { class: 'ac-hint' }, it.hint) : null,
      it.count !== undefined && it.count !== null ? h('span', { class: 'ac-count', title: it.countTitle || `${it.count}` }, fmtCount(it.count)) : null));
    });
    open();
    highlight(res.select ? 0 : -1);
  }

  // The list is fixed to the viewport under the box, so that a box in a
  // narrow, scrolling panel (the search filters) does not clip it.
  function open() {
    const r = box.getBoundingClientRect();
    const width = Math.max(r.width, 420);
    list.style.left = `${Math.max(4, Math.min(r.left, window.innerWidth - width - 4))}px`;
    list.style.top = `${r.bottom + 2}px`;
    list.style.width = `${width}px`;
    list.style.maxHeight = `${Math.max(120, Math.min(320, window.innerHeight - r.bottom - 12))}px`;
    list.classList.remove('hidden');
    box.setAttribute('aria-expanded', 'true');
  }

  function accept(i) {
    const it = items[i];
    if (!it || !span) return;
    const text = box.value;
    box.value = text.slice(0, span.from) + it.insert + text.slice(span.to);
    const caret = span.from + it.insert.length;
    box.setSelectionRange(caret, caret);
    close();
    box.dispatchEvent(new CustomEvent('ac-accept', { detail: it }));
    if (it.again) refresh(0);
  }

  function refresh(wait = delay) {
    clearTimeout(timer);
    const mine = ++seq;
    timer = setTimeout(async () => {
      if (ctl) ctl.abort();
      ctl = new AbortController();
      try {
        const res = await source(box.value, box.selectionStart, ctl.signal);
        if (mine === seq && document.activeElement === box) show(res);
      } catch (e) {
        if (e.name !== 'AbortError' && mine === seq) {
          // A failed lookup must not stop typing: say so in the list.
          clear(list).appendChild(h('li', { class: 'ac-error', role: 'option', 'aria-disabled': 'true' }, `Suggestions unavailable: ${e.message}`));
          items = [];
          open();
        }
      }
    }, wait);
  }

  // What the list showed is stale once the text changes: close it until
  // the answer for the new text comes.
  box.addEventListener('input', () => {
    close();
    refresh();
  });
  const onScroll = (ev) => {
    if (!list.contains(ev.target)) close();
  };
  window.addEventListener('scroll', onScroll, true);
  window.addEventListener('resize', close);
  box.addEventListener('blur', () => {
    clearTimeout(timer);
    seq++;
    close();
  });
  box.addEventListener('keydown', (ev) => {
    const open = !list.classList.contains('hidden');
    if (ev.key === 'Escape' && open) {
      ev.preventDefault();
      ev.stopPropagation();
      seq++;
      close();
      return;
    }
    if (!open || !items.length) {
      if (ev.key === 'ArrowDown' && ev.altKey === false && !open) {
        refresh(0);
      }
      return;
    }
    if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
      ev.preventDefault();
      ev.stopPropagation();
      const n = items.length;
      highlight(ev.key === 'ArrowDown' ? (active + 1) % n : (active <= 0 ? n - 1 : active - 1));
      return;
    }
    if ((ev.key === 'Enter' || ev.key === 'Tab') && active >= 0) {
      ev.preventDefault();
      ev.stopPropagation();
      accept(active);
    }
  });
  return {
    close,
    destroy() {
      seq++;
      close();
      window.removeEventListener('scroll', onScroll, true);
      window.removeEventListener('resize', close);
    },
    refresh,
    element: wrap,
  };
}
