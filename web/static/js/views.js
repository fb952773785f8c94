// Saved views: named routes of the UI ("checkout failures, last hour")
// stored by the query service for everyone who uses it. The Views dialog
// saves the page as it is (its route holds every filter and the time
// range; a relative range stays relative) and lists the saved ones; a
// view's link, #/view/<id>, opens whatever the view holds when it is
// followed.
import * as api from './api.js';
import { h, clear, fmtTime, copyText, toast } from './util.js';

// readable shows a route with its escapes decoded (the stored route keeps
// them).
function readable(route) {
  try {
    return decodeURIComponent(route);
  } catch {
    return route;
  }
}

// currentRoute is the part of the URL after '#'.
function currentRoute() {
  return location.hash.replace(/^#/, '') || '/search';
}

export function viewLink(id) {
  return `${location.origin}${location.pathname}#/view/${id}`;
}

let dialog = null;

export function openViewsDialog() {
  if (dialog) dialog.remove();
  const name = h('input', { id: 'views-name', type: 'text', 'aria-label': 'Name of the view', placeholder: 'e.g. checkout failures, last hour', maxlength: 200, autocomplete: 'off', style: { flex: '1' } });
  const err = h('div', { class: 'err-text', id: 'views-error', role: 'alert' });
  const list = h('ul', { class: 'views-list', id: 'views-list', 'aria-label': 'Saved views' });
  const route = currentRoute();
  const form = h('form', { class: 'views-save', onsubmit: async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    try {
      const v = await api.saveView({ name: name.value, route });
      name.value = '';
      toast(`Saved "${v.name}"`);
      await load(v.id);
    } catch (e) {
      err.textContent = e.message;
      name.focus();
    }
  } },
  h('label', { for: 'views-name' }, 'Save this page as'),
  h('div', { style: { display: 'flex', gap: '8px' } }, name, h('button', { class: 'btn primary', type: 'submit', id: 'views-save' }, 'Save')),
  h('div', { class: 'faint mono views-route', title: readable(route) }, '#' + readable(route)));
  dialog = h('dialog', { class: 'views-dialog', id: 'views-dialog', 'aria-labelledby': 'views-title' },
    h('h2', { id: 'views-title' }, 'Saved views'),
    form, err,
    h('h3', null, 'Shared with everyone using this Tracehouse'),
    list,
    h('form', { method: 'dialog', style: { textAlign: 'right', marginTop: '12px' } }, h('button', { class: 'btn' }, 'Close')));
  document.body.appendChild(dialog);
  dialog.addEventListener('close', () => {
    dialog.remove();
    dialog = null;
  });
  dialog.showModal();
  name.focus();

  async function load(highlight) {
    clear(list).appendChild(h('li', { class: 'muted' }, 'Loading…'));
    try {
      const views = await api.views();
      clear(list);
      if (!views.length) {
        list.appendChild(h('li', { class: 'muted', id: 'views-empty' }, 'No saved views yet.'));
        return;
      }
      for (const v of views) {
        const del = h('button', { class: 'btn small', type: 'button', title: 'Delete this view for everyone' }, 'Delete');
        del.addEventListener('click', async () => {
          // Two steps: a view is shared, deleting it deletes it for all.
          if (del.dataset.armed !== '1') {
            del.dataset.armed = '1';
            del.textContent = 'Delete for everyone?';
            del.classList.add('danger');
            return;
          }
          try {
            await api.deleteView(v.id);
            toast(`Deleted "${v.name}"`);
            await load();
          } catch (e) {
            err.textContent = e.message;
          }
        });
        list.appendChild(h('li', { class: 'view-item' + (v.id === highlight ? ' fresh' : ''), dataset: { id: v.id } },
          h('div', { class: 'view-main' },
            h('a', { href: '#' + v.route, class: 'view-name', onclick: () => dialog && dialog.close() }, v.name),
            h('div', { class: 'faint mono views-route', title: readable(v.route) }, readable(v.route)),
            h('div', { class: 'faint' }, `saved ${fmtTime(Date.parse(v.updated), { date: true, millis: false })}`, v.owner ? ` by ${v.owner}` : '')),
          h('div', { class: 'view-actions' },
            h('button', { class: 'btn small', type: 'button', title: 'Copy a link to this view', onclick: () => {
              copyText(viewLink(v.id));
            } }, 'Copy link'),
            del)));
      }
    } catch (e) {
      clear(list);
      err.textContent = `Saved views: ${e.message}`;
    }
  }
  load();
}

// mount is the #/view/<id> page: it opens the view's route in place.
export function mount(main, route) {
  const id = route.args[0] || '';
  const ctl = new AbortController();
  main.appendChild(h('div', { class: 'empty', id: 'view-loading' }, 'Opening the saved view…'));
  api.view(id, { signal: ctl.signal }).then((v) => {
    document.title = `${v.name} · Tracehouse`;
    history.replaceState(null, '', '#' + v.route);
    window.dispatchEvent(new HashChangeEvent('hashchange'));
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    clear(main).appendChild(h('div', { class: 'empty', id: 'view-error' }, h('strong', null, 'This saved view cannot be opened'),
      e.status === 404 ? 'It was deleted, or the link is wrong.' : e.message, h('a', { href: '#/search' }, 'Go to search')));
  });
  return { destroy: () => ctl.abort() };
}
