// Service map: services as boxes laid out in layers (callers left of the
// services they call), calls as arrows, with request rate, error rate and
// p95 latency for the chosen window. A node opens its dashboard, an edge the
// traces through it.
import * as api from '../api.js';
import { h, s, clear, fmtRate, fmtPct, fmtDurationNs, serviceColor } from '../util.js';
import { navigate } from '../router.js';
import { resolveRange, rangeParams, timePicker } from '../timerange.js';

const NODE_W = 196;
const NODE_H = 70;
const GAP_X = 150;
const GAP_Y = 36;
const PAD = 40;
const BAD_ERROR_RATE = 0.05;

export function mount(main, route) {
  const range = resolveRange(route.params, '1h');
  const ctl = new AbortController();
  document.title = 'Service map · Tracehouse';
  const picker = timePicker(range, (rp) => navigate('/map', rp), { id: 'map-range' });
  const summary = h('span', { class: 'sub', id: 'map-summary' });
  const wrap = h('div', { class: 'map-wrap', id: 'service-map' });
  main.appendChild(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Service map'), picker, summary,
      h('span', { class: 'grow' }),
      h('span', { class: 'faint' }, 'Click a service for its dashboard, an arrow for its traces')),
    wrap));
  wrap.appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), 'Loading the service map…'));

  api.serviceMap(range.start, range.end, { signal: ctl.signal }).then((m) => {
    clear(wrap);
    const nodes = m.nodes || [];
    const edges = m.edges || [];
    if (!nodes.length && !edges.length) {
      wrap.appendChild(h('div', { class: 'empty' }, h('strong', null, 'No services in this window'), 'Widen the time range, or send traces to the collector.'));
      return;
    }
    summary.textContent = `${new Set([...nodes.map((n) => n.service), ...edges.flatMap((e) => [e.parent, e.child])]).size} services · ${edges.length} connections · ${range.label.toLowerCase()}`;
    draw(wrap, nodes, edges, range);
  }).catch((e) => {
    if (e.name === 'AbortError') return;
    clear(wrap).appendChild(h('div', { class: 'page-scroll' }, h('div', { class: 'error-box', role: 'alert' }, h('b', null, 'Cannot load the service map: '), e.message)));
  });

  return {
    destroy() {
      ctl.abort();
    },
    onKey(ev) {
      const items = [...wrap.querySelectorAll('.map-node')];
      if (!items.length) return false;
      const i = items.indexOf(document.activeElement);
      if (ev.key === 'j' || ev.key === 'k') {
        const next = items[(i + (ev.key === 'j' ? 1 : -1) + items.length) % items.length];
        next.focus();
        return true;
      }
      return false;
    },
  };
}

// layout assigns each service a layer (longest call chain from a service
// nobody calls; cycles are cut where a depth-first search meets them) and an
// order within its layer (a few barycenter sweeps to reduce crossings).
export function layout(names, edges) {
  const out = new Map(names.map((n) => [n, []]));
  const inn = new Map(names.map((n) => [n, []]));
  for (const e of edges) {
    if (e.parent === e.child) continue;
    out.get(e.parent).push(e.child);
    inn.get(e.child).push(e.parent);
  }
  // Cut cycles: drop back edges found by DFS.
  const state = new Map();
  const back = new Set();
  const dfs = (start) => {
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [n, i] = top;
      const kids = out.get(n);
      if (i < kids.length) {
        top[1]++;
        const c = kids[i];
        if (state.get(c) === 1) back.add(`${n}\u0000${c}`);
        else if (!state.get(c)) {
          state.set(c, 1);
          stack.push([c, 0]);
        }
      } else {
        state.set(n, 2);
        stack.pop();
      }
    }
  };
  const sources = names.filter((n) => inn.get(n).length === 0);
  for (const n of [...sources, ...names]) if (!state.get(n)) dfs(n);
  const forward = (p, c) => p !== c && !back.has(`${p}\u0000${c}`);
  // Longest-path layering over the acyclic part.
  const layer = new Map(names.map((n) => [n, 0]));
  const indeg = new Map(names.map((n) => [n, inn.get(n).filter((p) => forward(p, n)).length]));
  const queue = names.filter((n) => indeg.get(n) === 0);
  while (queue.length) {
    const n = queue.shift();
    for (const c of out.get(n)) {
      if (!forward(n, c)) continue;
      layer.set(c, Math.max(layer.get(c), layer.get(n) + 1));
      indeg.set(c, indeg.get(c) - 1);
      if (indeg.get(c) === 0) queue.push(c);
    }
  }
  const layers = [];
  for (const n of names) {
    const l = layer.get(n);
    (layers[l] = layers[l] || []).push(n);
  }
  for (const l of layers) if (l) l.sort();
  const pos = new Map();
  const index = () => layers.forEach((l, li) => (l || []).forEach((n, i) => pos.set(n, { layer: li, order: i })));
  index();
  for (let sweep = 0; sweep < 4; sweep++) {
    for (const l of layers) {
      if (!l) continue;
      const bary = (n) => {
        const nb = [...inn.get(n), ...out.get(n)].map((x) => pos.get(x).order);
        return nb.length ? nb.reduce((a, b) => a + b, 0) / nb.length : pos.get(n).order;
      };
      const keyed = l.map((n) => [n, bary(n)]);
      keyed.sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]));
      l.splice(0, l.length, ...keyed.map((k) => k[0]));
      index();
    }
  }
  return { layers: layers.map((l) => l || []), pos, back };
}

// asLink makes an SVG element (role=link, tabindex=0) open on click and on
// Enter.
function asLink(el, open) {
  el.addEventListener('click', open);
  el.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.stopPropagation();
      open();
    }
  });
}

function draw(wrap, nodes, edges, range) {
  const byName = new Map(nodes.map((n) => [n.service, n]));
  for (const e of edges) {
    for (const n of [e.parent, e.child]) if (!byName.has(n)) byName.set(n, { service: n, calls: 0, errors: 0, rate: 0, errorRate: 0, p95Ns: 0 });
  }
  const names = [...byName.keys()].sort();
  const { layers, pos } = layout(names, edges);
  const maxRows = Math.max(...layers.map((l) => l.length));
  const width = PAD * 2 + layers.length * NODE_W + (layers.length - 1) * GAP_X;
  const height = PAD * 2 + maxRows * NODE_H + (maxRows - 1) * GAP_Y;
  const xy = new Map();
  layers.forEach((l, li) => {
    const colH = l.length * NODE_H + (l.length - 1) * GAP_Y;
    const y0 = PAD + (height - PAD * 2 - colH) / 2;
    l.forEach((n, i) => xy.set(n, { x: PAD + li * (NODE_W + GAP_X), y: y0 + i * (NODE_H + GAP_Y) }));
  });
  const svg = s('svg', { width: Math.max(width, wrap.clientWidth - 4), height: Math.max(height, wrap.clientHeight - 4), role: 'group', 'aria-label': 'Service map' });
  svg.appendChild(s('defs', null,
    s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'var(--border-strong)' })),
    s('marker', { id: 'arrow-bad', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'var(--error)' }))));
  const offsetX = Math.max(0, (svg.getAttribute('width') - width) / 2);
  const offsetY = Math.max(0, (svg.getAttribute('height') - height) / 3);
  const g = s('g', { transform: `translate(${offsetX},${offsetY})` });
  svg.appendChild(g);

  // Edges first, under the nodes.
  const maxRate = Math.max(1e-9, ...edges.map((e) => e.rate));
  for (const e of edges) {
    const a = xy.get(e.parent);
    const b = xy.get(e.child);
    const bad = e.errorRate >= BAD_ERROR_RATE;
    let d;
    let lx;
    let ly;
    if (e.parent === e.child) {
      d = `M${a.x + NODE_W - 30},${a.y} C${a.x + NODE_W - 30},${a.y - 40} ${a.x + NODE_W + 30},${a.y - 40} ${a.x + NODE_W},${a.y + 14}`;
      lx = a.x + NODE_W;
      ly = a.y - 34;
    } else if (pos.get(e.child).layer > pos.get(e.parent).layer) {
      const x1 = a.x + NODE_W;
      const y1 = a.y + NODE_H / 2;
      const x2 = b.x - 2;
      const y2 = b.y + NODE_H / 2;
      const mx = (x1 + x2) / 2;
      d = `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      lx = mx;
      ly = (y1 + y2) / 2 - 6;
    } else {
      // Calls back to an earlier layer (or within one) arc below.
      const x1 = a.x + NODE_W / 2;
      const y1 = a.y + NODE_H;
      const x2 = b.x + NODE_W / 2;
      const y2 = b.y + NODE_H + 2;
      const dip = Math.max(y1, y2) + 46;
      d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = dip - 14;
    }
    const label = `${e.parent} → ${e.child}: ${fmtRate(e.rate)}, ${fmtPct(e.errorRate)} errors, p95 ${fmtDurationNs(e.p95Ns)}`;
    const edge = s('g', { class: 'map-edge' + (bad ? ' bad' : ''), tabindex: '0', role: 'link', 'aria-label': `${label}. Open traces`, dataset: { parent: e.parent, child: e.child } },
      s('path', { class: 'hit', d }),
      s('path', { class: 'line', d, 'marker-end': bad ? 'url(#arrow-bad)' : 'url(#arrow)', 'stroke-width': 1.2 + 2.5 * Math.sqrt(e.rate / maxRate) }),
      s('text', { x: lx, y: ly, 'text-anchor': 'middle' }, `${fmtRate(e.rate)} · p95 ${fmtDurationNs(e.p95Ns)}`),
      e.errors ? s('text', { class: 'err', x: lx, y: ly + 13, 'text-anchor': 'middle' }, `${fmtPct(e.errorRate)} errors`) : null,
      s('title', null, label));
    const open = () => navigate('/search', { service: e.child, ...rangeParams(range) });
    asLink(edge, open);
    g.appendChild(edge);
  }

  for (const name of names) {
    const n = byName.get(name);
    const { x, y } = xy.get(name);
    const bad = n.errorRate >= BAD_ERROR_RATE;
    const served = n.calls > 0;
    const node = s('g', { class: 'map-node', transform: `translate(${x},${y})`, tabindex: '0', role: 'link', dataset: { service: name },
      'aria-label': `${name}: ${served ? `${fmtRate(n.rate)}, ${fmtPct(n.errorRate)} errors, p95 ${fmtDurationNs(n.p95Ns)}` : 'no requests served'}. Open dashboard` },
    s('rect', { class: bad ? 'box bad' : 'box', width: NODE_W, height: NODE_H, rx: 8 }),
    s('rect', { x: 0, y: 0, width: 5, height: NODE_H, rx: 2, fill: serviceColor(name) }),
    s('text', { class: 'name', x: 16, y: 22 }, name),
    served
      ? [s('text', { class: 'stat', x: 16, y: 41 }, `${fmtRate(n.rate)} · `, s('tspan', { class: bad ? 'stat bad' : 'stat' }, `${fmtPct(n.errorRate)} err`)),
        s('text', { class: 'stat', x: 16, y: 58 }, `p50 ${fmtDurationNs(n.p50Ns)} · p95 ${fmtDurationNs(n.p95Ns)}`)]
      : s('text', { class: 'stat', x: 16, y: 44 }, 'no requests served (caller only)'),
    s('title', null, name));
    const open = () => navigate(`/service/${encodeURIComponent(name)}`, rangeParams(range));
    asLink(node, open);
    g.appendChild(node);
  }
  wrap.appendChild(svg);
  wrap.appendChild(h('div', { class: 'map-legend' }, 'Rate = requests/s · error rate · latency percentiles of the served requests; arrows: calls (thicker = more), red ≥ 5% errors'));
}
