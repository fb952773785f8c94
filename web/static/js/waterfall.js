// The trace waterfall: a collapsible span tree beside a timeline, with
// logs as rows under their spans, a time ruler and a minimap. Producer and
// consumer spans are marked; a consumer's wait in the broker is drawn as a
// dashed line from its producer's start (the publish) to its own start;
// span links show as a button in the name column (following the link) and,
// once the linked span is known, as a marker at its time. Only the rows
// in view are in the DOM (virtualised), so 10,000-span traces scroll
// smoothly: the DOM holds about the viewport's height in rows however long
// the trace is.
import { h, clear, fmtDuration, serviceColor, niceTicks, severityClass, listStep } from './util.js';
import { href } from './router.js';
import { deliveryNumber } from './model.js';

export const ROW_HEIGHT = 26;
const OVERSCAN = 8;
const INDENT = 14;
const MAX_INDENT_LEVELS = 30;

export class Waterfall {
  // opts: {onSelect(row), onOpen(row), onLinks(span), collapsed: Set of
  //        span ids, showLogs, showCritical, nameWidth}
  constructor(container, trace, opts = {}) {
    this.trace = trace;
    this.opts = opts;
    this.collapsed = opts.collapsed || new Set();
    this.showLogs = opts.showLogs !== false;
    this.showCritical = opts.showCritical !== false;
    this.nameWidth = opts.nameWidth || 380;
    this.view = [0, Math.max(1, trace.duration)]; // µs offsets from trace start
    this.selectedKey = null;
    this.matches = null; // Set of span ids matching the find box
    this.rendered = new Map(); // row key -> element
    this.frame = 0;

    this.minimap = h('div', { class: 'minimap', role: 'img', 'aria-label': 'Trace minimap: drag to zoom into a time range, click to scroll' });
    this.mmCanvas = h('canvas');
    this.mmWindow = h('div', { class: 'mm-window hidden' });
    this.mmRows = h('div', { class: 'mm-rows' });
    this.mmReset = h('button', { class: 'btn small mm-reset hidden', type: 'button', onclick: (ev) => {
      ev.stopPropagation();
      this.setView(0, this.trace.duration);
    } }, 'Reset zoom');
    this.minimap.append(this.mmCanvas, this.mmWindow, this.mmRows, this.mmReset);

    this.nameHead = h('div', { class: 'wf-name-h' }, 'Service · operation',
      h('div', { class: 'wf-resize', title: 'Drag to resize', 'aria-hidden': 'true' }));
    this.ruler = h('div', { class: 'wf-ruler', 'aria-hidden': 'true' });
    this.header = h('div', { class: 'wf-header' }, this.nameHead, this.ruler);
    this.gridlines = h('div', { class: 'wf-gridlines', 'aria-hidden': 'true' });
    this.spacer = h('div', { class: 'wf-spacer' }, this.gridlines);
    this.viewport = h('div', { class: 'wf-viewport', role: 'tree', 'aria-label': 'Spans of the trace', tabindex: '0', id: 'waterfall' }, this.spacer);
    container.append(this.minimap, this.header, this.viewport);
    this.container = container;

    this.viewport.addEventListener('scroll', () => this.schedule());
    this.viewport.addEventListener('click', (ev) => this.onClick(ev));
    this.viewport.addEventListener('dblclick', (ev) => {
      const row = ev.target.closest('.wf-row');
      if (row && row.dataset.kind === 'span') this.toggle(row.dataset.key);
    });
    this.ro = new ResizeObserver(() => {
      this.drawMinimap();
      this.layoutHeader();
      this.refresh();
    });
    this.ro.observe(this.viewport);
    this.ro.observe(this.minimap);
    this.bindResize();
    this.bindMinimap();
    this.applyNameWidth();
    this.rebuild();
  }

  destroy() {
    this.ro.disconnect();
    cancelAnimationFrame(this.frame);
  }

  // ---- Row model ----

  rebuild() {
    const rows = [];
    const stack = [];
    for (let i = this.trace.roots.length - 1; i >= 0; i--) stack.push(this.trace.roots[i]);
    while (stack.length) {
      const sp = stack.pop();
      rows.push({ kind: 'span', key: sp.id, span: sp, depth: sp.depth });
      if (this.collapsed.has(sp.id)) continue;
      if (this.showLogs) for (const l of sp.logs) rows.push({ kind: 'log', key: `log:${sp.id}:${rows.length}`, log: l, span: sp, depth: sp.depth + 1 });
      for (let i = sp.children.length - 1; i >= 0; i--) stack.push(sp.children[i]);
    }
    if (this.showLogs) {
      for (const l of this.trace.orphanLogs) rows.push({ kind: 'log', key: `log:-:${rows.length}`, log: l, span: null, depth: 0 });
    }
    this.rows = rows;
    this.index = new Map(rows.map((r, i) => [r.key, i]));
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
    this.drawMinimap();
    this.refresh();
  }

  // ---- Rendering ----

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderRows();
      this.updateMinimapRows();
    });
  }

  refresh() {
    for (const el of this.rendered.values()) el.remove();
    this.rendered.clear();
    this.layoutHeader();
    this.renderRows();
    this.updateMinimapRows();
  }

  visibleRange() {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN);
    return [first, last];
  }

  renderRows() {
    const [first, last] = this.visibleRange();
    const keep = new Set();
    for (let i = first; i < last; i++) {
      const row = this.rows[i];
      keep.add(row.key);
      let el = this.rendered.get(row.key);
      if (!el) {
        el = row.kind === 'span' ? this.spanRow(row) : this.logRow(row);
        this.rendered.set(row.key, el);
        this.spacer.appendChild(el);
      }
      el.style.transform = `translateY(${i * ROW_HEIGHT}px)`;
      el.setAttribute('aria-selected', String(row.key === this.selectedKey));
      el.setAttribute('aria-posinset', String(i + 1));
    }
    for (const [key, el] of this.rendered) {
      if (!keep.has(key)) {
        el.remove();
        this.rendered.delete(key);
      }
    }
  }

  x(offset) {
    return ((offset - this.view[0]) / (this.view[1] - this.view[0])) * 100;
  }

  spanRow(row) {
    const sp = row.span;
    const color = serviceColor(sp.service);
    const hasKids = sp.children.length > 0 || (this.showLogs && sp.logs.length > 0);
    const collapsed = this.collapsed.has(sp.id);
    const levels = Math.min(row.depth, MAX_INDENT_LEVELS);
    const name = h('div', { class: 'wf-name', style: { width: 'var(--wf-name-w)' } },
      h('span', { class: 'indent', style: { width: `${levels * INDENT + 4}px` } }),
      h('button', { class: 'wf-toggle' + (hasKids ? '' : ' leaf'), type: 'button', tabindex: '-1', 'aria-label': collapsed ? 'Expand' : 'Collapse', dataset: { toggle: sp.id } }, collapsed ? '▸' : '▾'),
      h('span', { class: 'wf-svc-bar', style: { background: color } }),
      sp.error ? h('span', { class: 'wf-err-icon', title: 'error', 'aria-label': 'error' }, '!') : null,
      h('span', { class: 'wf-svc' }, sp.service),
      kindPill(sp),
      h('span', { class: 'wf-op', title: sp.name }, sp.name),
      collapsed ? h('span', { class: 'wf-count', title: 'hidden descendants' }, `+${countDescendants(sp)}`) : null,
      row.depth > MAX_INDENT_LEVELS ? h('span', { class: 'wf-count', title: 'depth' }, `d${row.depth}`) : null,
      this.linkButton(sp));
    const tl = h('div', { class: 'wf-timeline' });
    const left = this.x(sp.offset);
    const right = this.x(sp.offset + sp.duration);
    // The consumer's wait in the broker: publish start → delivery start.
    const queued = sp.queueDelay > 0 && sp.parent;
    const qLeft = queued ? this.x(sp.parent.start - this.trace.start) : 0;
    if (queued && left >= -1 && qLeft <= 101) {
      const a = Math.max(-1, qLeft);
      const w = Math.max(0, Math.min(101, left) - a);
      const text = `queued ${fmtDuration(sp.queueDelay)}`;
      const wait = h('div', { class: 'wf-queue', style: { left: `${a}%`, width: `${w}%` }, title: `${text} in the broker: from the publish (${sp.parent.service}: ${sp.parent.name}) to this delivery's start` });
      // The span's own label goes left of its bar when the bar ends late
      // (see below), over the wait's right part: then the wait's label
      // keeps to the wait's start so that neither covers the other.
      const spanLabelLeft = right > 72 && left >= 22;
      if (w > 9) wait.appendChild(h('span', { class: 'wf-queue-label' + (spanLabelLeft ? ' at-start' : '') }, text));
      tl.appendChild(wait);
    }
    const vis = right >= -1 && left <= 101;
    if (vis) {
      const l = Math.max(-1, left);
      const w = Math.max(0, Math.min(101, right) - l);
      const bar = h('div', { class: 'wf-bar' + (sp.error ? ' err' : ''), style: { left: `${l}%`, width: `${w}%`, background: `color-mix(in srgb, ${color} 42%, transparent)` } });
      // Self time: the parts of the span no child covers, drawn solid.
      if (sp.duration > 0) {
        for (const [a, b] of selfSegments(sp)) {
          const sl = ((a - sp.start) / sp.duration) * 100;
          const sw = ((b - a) / sp.duration) * 100;
          if (sw < 0.01) continue;
          bar.appendChild(h('div', { class: 'self', style: { left: `${sl}%`, width: `${sw}%`, background: color } }));
        }
      } else {
        bar.style.background = color;
      }
      tl.appendChild(bar);
      if (this.showCritical && sp.onCrit) {
        for (const [segs, cls] of [[sp.crit, 'wf-crit'], [sp.queueCrit || [], 'wf-crit queue']]) {
          for (const [a, b] of segs) {
            const cl = this.x(a - this.trace.start);
            const cr = this.x(b - this.trace.start);
            if (cr < 0 || cl > 100) continue;
            tl.appendChild(h('div', { class: cls, style: { left: `${Math.max(0, cl)}%`, width: `${Math.max(0.15, Math.min(100, cr) - Math.max(0, cl))}%` } }));
          }
        }
      }
      for (const l of sp.links) {
        if (!l.target) continue;
        const lx = this.x(l.target.start - this.trace.start);
        if (lx < 0 || lx > 100) continue;
        tl.appendChild(h('div', { class: 'wf-mark link', style: { left: `${lx}%` }, title: `linked span ${l.target.service}: ${l.target.name}${l.sameTrace ? '' : ' (another trace)'} started here` }));
      }
      for (const ev of sp.events) {
        const ex = this.x(ev.time - this.trace.start);
        if (ex < 0 || ex > 100) continue;
        tl.appendChild(h('div', { class: 'wf-mark event', style: { left: `${ex}%`, background: ev.name === 'exception' ? 'var(--error)' : null }, title: `${ev.name} at ${fmtDuration(ev.time - this.trace.start)}` }));
      }
      for (const lg of sp.logs) {
        const lx = this.x(lg.time - this.trace.start);
        if (lx < 0 || lx > 100) continue;
        tl.appendChild(h('div', { class: `wf-mark log sev-bg-${severityClass(lg.severityText, lg.severityNumber)}`, style: { left: `${lx}%` }, title: `${lg.severityText || 'log'}: ${String(lg.body).slice(0, 120)}` }));
      }
      // A delivery says which one it was and whether it failed, so that
      // redeliveries of one message read as such without opening a span.
      // A publish says where the message went (the name column may cut
      // it off: a dead-letter subject must not hide there).
      const nth = deliveryNumber(sp);
      const dest = String(sp.kind).toLowerCase() === 'producer' ? (sp.attrs.find((a) => a.key === 'messaging.destination.name') || {}).value : '';
      const label = h('span', { class: 'wf-label' }, fmtDuration(sp.duration),
        nth ? h('span', { class: 'wf-delivery' + (sp.error ? ' failed' : ''), dataset: { delivery: String(nth) } },
          ` · delivery #${nth}${sp.error ? ' failed' : ''}`) : null,
        dest ? h('span', { class: 'wf-dest' }, ` · → ${dest}`) : null,
        sp.children.length ? h('span', { class: 's' }, ` · self ${fmtDuration(sp.self)}`) : null);
      if (right <= 72) {
        label.style.left = `${Math.min(100, right) + 0.6}%`;
      } else if (left >= 22) {
        // Left of the bar; over a consumer's wait, on a background of its
        // own so the dashed line does not cross the text.
        label.style.right = `${Math.max(0, 100 - left) + 0.6}%`;
        if (queued) label.classList.add('boxed');
      } else {
        // A bar spanning most of the timeline carries its label inside.
        label.classList.add('inside');
        label.style.left = `${Math.max(0, left) + 0.6}%`;
      }
      tl.appendChild(label);
    }
    const el = h('div', {
      class: 'wf-row' + (sp.onCrit && this.showCritical ? ' on-crit' : '') + (this.matches && this.matches.has(sp.id) ? ' match' : ''),
      role: 'treeitem', 'aria-level': String(row.depth + 1), 'aria-setsize': String(this.rows.length),
      'aria-expanded': hasKids ? String(!collapsed) : null,
      'aria-label': `${sp.service} ${sp.name}${kindText(sp)}${deliveryNumber(sp) ? `, delivery #${deliveryNumber(sp)}` : ''}, ${fmtDuration(sp.duration)}${queued ? `, queued ${fmtDuration(sp.queueDelay)}` : ''}${sp.error ? ', error' : ''}${sp.onCrit ? ', on the critical path' : ''}${sp.links.length ? `, ${sp.links.length} link${sp.links.length === 1 ? '' : 's'}` : ''}`,
      dataset: { key: sp.id, kind: 'span', spanId: sp.id },
    }, name, tl);
    return el;
  }

  // linkButton follows a span's links: one link to another trace is a plain
  // link to it (remembering where it came from, for the way back); one to
  // this trace selects the span; several open the span's panel.
  linkButton(sp) {
    const links = sp.links;
    if (!links.length) return null;
    const one = links.length === 1 ? links[0] : null;
    const what = (l) => (l.target ? `${l.target.service}: ${l.target.name}` : `span ${l.spanID}`) + (l.sameTrace ? '' : ` in trace ${String(l.traceID).slice(0, 8)}…`) + (l.missing ? ' (not found)' : '');
    const title = links.length === 1 ? `Linked to ${what(one)}` : `${links.length} links:\n${links.slice(0, 12).map(what).join('\n')}${links.length > 12 ? '\n…' : ''}`;
    const text = `↗ ${links.length === 1 ? 'link' : `${links.length} links`}`;
    if (one && !one.sameTrace) {
      return h('a', { class: 'wf-link', href: href(`/trace/${one.traceID}`, { span: one.spanID, from: this.trace.traceID, fromSpan: sp.id }), title, tabindex: '-1', dataset: { linkTrace: one.traceID } }, text);
    }
    return h('button', { class: 'wf-link', type: 'button', title, tabindex: '-1', dataset: { links: sp.id } }, text);
  }

  logRow(row) {
    const l = row.log;
    const sev = severityClass(l.severityText, l.severityNumber);
    const levels = Math.min(row.depth, MAX_INDENT_LEVELS);
    const tl = h('div', { class: 'wf-timeline' }, h('div', { class: 'wf-logline' }));
    const lx = this.x(l.time - this.trace.start);
    if (lx >= 0 && lx <= 100) {
      tl.appendChild(h('div', { class: `wf-mark sev-bg-${sev}`, style: { left: `${lx}%`, top: '9px' } }));
      const label = h('span', { class: 'wf-label' }, fmtDuration(l.time - this.trace.start));
      if (lx > 80) label.style.right = `${100 - lx + 1}%`;
      else label.style.left = `${lx + 1}%`;
      tl.appendChild(label);
    }
    return h('div', {
      class: 'wf-row log-row', role: 'treeitem', 'aria-level': String(row.depth + 1),
      'aria-label': `log ${l.severityText || sev}: ${String(l.body).slice(0, 200)}`,
      dataset: { key: row.key, kind: 'log', spanId: row.span ? row.span.id : '' },
    },
    h('div', { class: 'wf-name', style: { width: 'var(--wf-name-w)' } },
      h('span', { class: 'indent', style: { width: `${levels * INDENT + 24}px` } }),
      h('span', { class: `sev ${sev}` }, (l.severityText || sev).slice(0, 5)),
      h('span', { class: 'wf-logbody', title: String(l.body) }, String(l.body))),
    tl);
  }

  layoutHeader() {
    clear(this.ruler);
    clear(this.gridlines);
    const width = this.ruler.clientWidth || 600;
    const ticks = niceTicks(this.view[0], this.view[1], Math.max(2, Math.floor(width / 110)));
    for (const t of ticks) {
      const x = this.x(t);
      if (x < 0 || x > 100) continue;
      // A label near the right edge is drawn to the left of its tick, so
      // the ruler does not cut it off.
      const end = (x / 100) * width > width - 70;
      this.ruler.appendChild(h('div', { class: 'tick' + (end ? ' end' : ''), style: { left: `${x}%` } }, fmtDuration(t)));
      this.gridlines.appendChild(h('div', { style: { left: `${x}%` } }));
    }
  }

  applyNameWidth() {
    this.container.style.setProperty('--wf-name-w', `${this.nameWidth}px`);
    this.nameHead.style.width = `${this.nameWidth}px`;
    this.gridlines.style.left = `${this.nameWidth}px`;
  }

  bindResize() {
    const grip = this.nameHead.querySelector('.wf-resize');
    grip.addEventListener('mousedown', (ev) => {
      ev.preventDefault();
      const x0 = ev.clientX;
      const w0 = this.nameWidth;
      const move = (e) => {
        this.nameWidth = Math.max(160, Math.min(this.container.clientWidth - 200, w0 + e.clientX - x0));
        this.applyNameWidth();
      };
      const up = () => {
        document.removeEventListener('mousemove', move);
        document.removeEventListener('mouseup', up);
        this.refresh();
        if (this.opts.onNameWidth) this.opts.onNameWidth(this.nameWidth);
      };
      document.addEventListener('mousemove', move);
      document.addEventListener('mouseup', up);
    });
  }

  // ---- Minimap ----

  drawMinimap() {
    const c = this.mmCanvas;
    const w = this.minimap.clientWidth;
    const hgt = this.minimap.clientHeight;
    if (!w || !hgt) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(w * dpr);
    c.height = Math.round(hgt * dpr);
    const ctx = c.getContext('2d');
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, w, hgt);
    const spanRows = this.rows;
    const n = Math.max(1, spanRows.length);
    const rowH = Math.max(0.5, Math.min(4, (hgt - 4) / n));
    const total = Math.max(1, this.trace.duration);
    for (let i = 0; i < spanRows.length; i++) {
      const r = spanRows[i];
      if (r.kind !== 'span') continue;
      const sp = r.span;
      const x = (sp.offset / total) * w;
      const bw = Math.max(1, (sp.duration / total) * w);
      const y = 2 + (i / n) * (hgt - 4);
      ctx.fillStyle = sp.error ? '#d0302f' : serviceColor(sp.service);
      ctx.fillRect(x, y, bw, Math.max(1, rowH - (rowH > 2 ? 1 : 0)));
    }
    this.updateMinimapWindow();
    this.updateMinimapRows();
  }

  updateMinimapWindow() {
    const total = Math.max(1, this.trace.duration);
    const zoomed = this.view[0] > 0 || this.view[1] < total;
    this.mmWindow.classList.toggle('hidden', !zoomed);
    this.mmReset.classList.toggle('hidden', !zoomed);
    if (zoomed) {
      this.mmWindow.style.left = `${(this.view[0] / total) * 100}%`;
      this.mmWindow.style.width = `${((this.view[1] - this.view[0]) / total) * 100}%`;
    }
  }

  updateMinimapRows() {
    const n = this.rows.length;
    const hgt = this.minimap.clientHeight;
    if (!n || !hgt) return;
    const top = this.viewport.scrollTop / ROW_HEIGHT;
    const vis = (this.viewport.clientHeight || 0) / ROW_HEIGHT;
    if (vis >= n) {
      this.mmRows.classList.add('hidden');
      return;
    }
    this.mmRows.classList.remove('hidden');
    this.mmRows.style.top = `${2 + (top / n) * (hgt - 4)}px`;
    this.mmRows.style.height = `${Math.max(3, (vis / n) * (hgt - 4))}px`;
  }

  bindMinimap() {
    let from = null;
    let moved = false;
    const pos = (ev) => {
      const r = this.minimap.getBoundingClientRect();
      return { x: Math.max(0, Math.min(1, (ev.clientX - r.left) / r.width)), y: Math.max(0, Math.min(1, (ev.clientY - r.top) / r.height)) };
    };
    this.minimap.addEventListener('mousedown', (ev) => {
      if (ev.target === this.mmReset) return;
      ev.preventDefault();
      from = pos(ev);
      moved = false;
      const move = (e) => {
        const p = pos(e);
        if (Math.abs(p.x - from.x) * this.minimap.clientWidth > 4) moved = true;
        if (!moved) return;
        this.mmWindow.classList.remove('hidden');
        this.mmWindow.style.left = `${Math.min(from.x, p.x) * 100}%`;
        this.mmWindow.style.width = `${Math.abs(p.x - from.x) * 100}%`;
      };
      const up = (e) => {
        document.removeEventListener('mousemove', move);
        document.removeEventListener('mouseup', up);
        const p = pos(e);
        const total = this.trace.duration;
        if (moved) {
          this.setView(Math.min(from.x, p.x) * total, Math.max(from.x, p.x) * total);
        } else {
          const row = Math.floor(p.y * this.rows.length);
          this.viewport.scrollTop = Math.max(0, row * ROW_HEIGHT - this.viewport.clientHeight / 2);
        }
        from = null;
      };
      document.addEventListener('mousemove', move);
      document.addEventListener('mouseup', up);
    });
    this.minimap.addEventListener('dblclick', () => this.setView(0, this.trace.duration));
  }

  setView(a, b) {
    const total = Math.max(1, this.trace.duration);
    if (!(b - a > total / 1e6)) {
      a = 0;
      b = total;
    }
    this.view = [Math.max(0, a), Math.min(total, b)];
    this.updateMinimapWindow();
    this.refresh();
    if (this.opts.onView) this.opts.onView(this.view);
  }

  // ---- Interaction ----

  onClick(ev) {
    const toggle = ev.target.closest('[data-toggle]');
    if (toggle) {
      this.toggle(toggle.dataset.toggle);
      return;
    }
    if (ev.target.closest('a.wf-link')) return; // the browser follows it
    const links = ev.target.closest('[data-links]');
    if (links) {
      const sp = this.trace.byId.get(links.dataset.links);
      if (sp && this.opts.onLinks) this.opts.onLinks(sp);
      return;
    }
    const rowEl = ev.target.closest('.wf-row');
    if (!rowEl) return;
    const i = this.index.get(rowEl.dataset.key);
    if (i === undefined) return;
    this.select(i, { scroll: false });
    if (this.opts.onOpen) this.opts.onOpen(this.rows[i]);
  }

  toggle(spanId, force) {
    const collapse = force !== undefined ? force : !this.collapsed.has(spanId);
    if (collapse) this.collapsed.add(spanId);
    else this.collapsed.delete(spanId);
    const topKey = this.rows[Math.floor(this.viewport.scrollTop / ROW_HEIGHT)]?.key;
    this.rebuild();
    const keep = this.index.get(topKey);
    if (keep !== undefined) this.viewport.scrollTop = keep * ROW_HEIGHT;
    if (this.opts.onCollapse) this.opts.onCollapse(this.collapsed);
  }

  expandAll() {
    this.collapsed.clear();
    this.rebuild();
  }

  // collapseTo hides everything below depth.
  collapseTo(depth) {
    this.collapsed.clear();
    for (const sp of this.trace.spans) if (sp.depth >= depth && sp.children.length) this.collapsed.add(sp.id);
    this.rebuild();
  }

  setShowLogs(on) {
    this.showLogs = on;
    this.rebuild();
  }

  setShowCritical(on) {
    this.showCritical = on;
    this.refresh();
  }

  setMatches(set) {
    this.matches = set;
    this.refresh();
  }

  selectedRow() {
    const i = this.index.get(this.selectedKey);
    return i === undefined ? null : this.rows[i];
  }

  select(i, { scroll = true } = {}) {
    if (!this.rows.length) return;
    i = Math.max(0, Math.min(this.rows.length - 1, i));
    this.selectedKey = this.rows[i].key;
    if (scroll) this.scrollToIndex(i);
    this.renderRows();
    if (this.opts.onSelect) this.opts.onSelect(this.rows[i]);
  }

  move(delta) {
    const i = this.index.get(this.selectedKey);
    this.select(i === undefined ? 0 : i + delta);
  }

  scrollToIndex(i) {
    const top = i * ROW_HEIGHT;
    const vp = this.viewport;
    if (top < vp.scrollTop) vp.scrollTop = top;
    else if (top + ROW_HEIGHT > vp.scrollTop + vp.clientHeight) vp.scrollTop = top + ROW_HEIGHT - vp.clientHeight;
  }

  // reveal expands a span's ancestors and selects it.
  reveal(spanId, { center = true } = {}) {
    const sp = this.trace.byId.get(spanId);
    if (!sp) return false;
    let changed = false;
    for (let p = sp.parent; p; p = p.parent) if (this.collapsed.delete(p.id)) changed = true;
    if (changed) this.rebuild();
    const i = this.index.get(spanId);
    if (i === undefined) return false;
    this.selectedKey = spanId;
    if (center) this.viewport.scrollTop = Math.max(0, i * ROW_HEIGHT - this.viewport.clientHeight / 3);
    else this.scrollToIndex(i);
    this.renderRows();
    return true;
  }

  // revealLog selects the row of a log record (expanding its span).
  revealLog(log) {
    if (!this.showLogs) this.setShowLogs(true);
    if (log.span) for (let p = log.span; p; p = p.parent) this.collapsed.delete(p.id);
    this.rebuild();
    const i = this.rows.findIndex((r) => r.kind === 'log' && r.log === log);
    if (i < 0) return false;
    this.selectedKey = this.rows[i].key;
    this.viewport.scrollTop = Math.max(0, i * ROW_HEIGHT - this.viewport.clientHeight / 3);
    this.renderRows();
    return true;
  }

  // handleKey: j/k move, h/l collapse/expand, Enter opens.
  handleKey(ev) {
    const step = listStep(ev);
    if (step) {
      this.move(step);
      return true;
    }
    switch (ev.key) {
      case 'PageDown':
        this.move(Math.floor(this.viewport.clientHeight / ROW_HEIGHT) - 1);
        return true;
      case 'PageUp':
        this.move(-Math.floor(this.viewport.clientHeight / ROW_HEIGHT) + 1);
        return true;
      case 'Home':
        this.select(0);
        return true;
      case 'End':
        this.select(this.rows.length - 1);
        return true;
      case 'h':
      case 'ArrowLeft': {
        const r = this.selectedRow();
        if (!r) return false;
        if (r.kind === 'span' && !this.collapsed.has(r.span.id) && (r.span.children.length || r.span.logs.length)) this.toggle(r.span.id, true);
        else if (r.span && (r.kind === 'log' ? r.span : r.span.parent)) {
          const target = r.kind === 'log' ? r.span : r.span.parent;
          this.select(this.index.get(target.id));
        }
        return true;
      }
      case 'l':
      case 'ArrowRight': {
        const r = this.selectedRow();
        if (r && r.kind === 'span' && this.collapsed.has(r.span.id)) this.toggle(r.span.id, false);
        else if (r) this.move(1);
        return true;
      }
      case 'Enter': {
        const r = this.selectedRow();
        if (r && this.opts.onOpen) this.opts.onOpen(r);
        return !!r;
      }
      default:
        return false;
    }
  }

  // renderedRowCount is for tests and diagnostics.
  renderedRowCount() {
    return this.rendered.size;
  }
}

// kindPill marks producer and consumer spans (the two ends of a hop
// through a broker).
function kindPill(sp) {
  const k = String(sp.kind).toLowerCase();
  if (k === 'producer') return h('span', { class: 'wf-kind producer', title: 'PRODUCER: hands a message to a broker' }, 'producer');
  if (k === 'consumer') return h('span', { class: 'wf-kind consumer', title: 'CONSUMER: processes a message from a broker' + (sp.parent ? `; it was published by ${sp.parent.service}: ${sp.parent.name}` : '') }, 'consumer');
  return null;
}

function kindText(sp) {
  const k = String(sp.kind).toLowerCase();
  return k === 'producer' || k === 'consumer' ? ` (${k})` : '';
}

function countDescendants(sp) {
  let n = 0;
  const stack = [...sp.children];
  while (stack.length) {
    const c = stack.pop();
    n++;
    for (const k of c.children) stack.push(k);
  }
  return n;
}

// selfSegments: the intervals of a span that none of its children cover
// (cached on the span).
function selfSegments(sp) {
  if (sp._selfSegs) return sp._selfSegs;
  const ivs = [];
  for (const c of sp.children) {
    const a = Math.max(c.start, sp.start);
    const b = Math.min(c.end, sp.end);
    if (b > a) ivs.push([a, b]);
  }
  ivs.sort((x, y) => x[0] - y[0]);
  const out = [];
  let cursor = sp.start;
  for (const [a, b] of ivs) {
    if (a > cursor) out.push([cursor, a]);
    if (b > cursor) cursor = b;
  }
  if (cursor < sp.end) out.push([cursor, sp.end]);
  // Merge segments too small to see so that a span with thousands of
  // children draws a bounded number of elements.
  const minGap = sp.duration / 400;
  const merged = [];
  for (const seg of out) {
    const last = merged[merged.length - 1];
    if (last && seg[0] - last[1] < minGap) last[1] = seg[1];
    else merged.push([seg[0], seg[1]]);
  }
  sp._selfSegs = merged.length > 200 ? merged.filter((s) => s[1] - s[0] >= minGap) : merged;
  return sp._selfSegs;
}
