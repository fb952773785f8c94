// Service map: services as boxes laid out in layers (callers left of the
// services they call), calls as arrows. Rates are per second of the time
// the data covers (said under the title). A service is red when its
// requests fail or when its callers' calls to it fail (errors, timeouts,
// circuit-breaker short-circuits: a service its callers cannot reach is
// not healthy); the failing service none of whose callees fails is marked
// as where the failure starts. The recent view (the last few minutes of the
// range) shows what an outage looks like before the range averages it
// away; red in either view shows in both. A node opens its dashboard, an
// edge the traces through it.
//
// Messages through a broker are not calls: a destination (topic, subject,
// queue) is a node of its own between its producers and its consumers.
// The arrow into it counts publishes, the arrow out of it deliveries —
// every delivery, so redeliveries count — with the time messages waited in
// the queue. A hop through a broker plays no part in a service's health.
import * as api from '../api.js';
import { h, s, clear, fmtRate, fmtPct, fmtDurationNs, fmtTime, fmtSpan, serviceColor } from '../util.js';
import { navigate } from '../router.js';
import { resolveRange, rangeParams, timePicker } from '../timerange.js';

const NODE_W = 212;
const NODE_H = 92;
const GAP_X = 230;
const GAP_Y = 44;
const PAD = 48;
// Every edge leaves its caller through its own port and runs straight for
// LABEL_RUN pixels before it curves: its label sits above that straight
// run, where no other edge passes (ports are PORT_GAP apart), so labels
// never cross a line.
const LABEL_RUN = 150;
// labelWidth estimates a label's width at the map's 10.5px font.
const labelWidth = (text) => text.length * 6.3;
const PORT_GAP = 34;
// A map wider than its pane is drawn smaller to fit, down to MIN_SCALE
// (below that its text is too small to read; it scrolls instead): a
// request path that crosses a broker has a column more, and a consumer off
// the pane's edge would hide where the path ends.
const MIN_SCALE = 0.68;

const failing = (hl) => hl && (hl.state === 'failing' || hl.state === 'unreachable');

export function mount(main, route) {
  const range = resolveRange(route.params, '1h');
  const view = route.params.get('view') === 'recent' ? 'recent' : 'range';
  const ctl = new AbortController();
  document.title = 'Service map · Tracehouse';
  const picker = timePicker(range, (rp) => navigate('/map', { ...rp, view: view === 'recent' ? 'recent' : '' }), { id: 'map-range' });
  const viewBtn = (v, label) => h('button', { type: 'button', class: 'seg' + (v === view ? ' on' : ''), 'aria-pressed': String(v === view), id: `map-view-${v}`,
    onclick: () => navigate('/map', { ...rangeParams(range), view: v === 'recent' ? 'recent' : '' }) }, label);
  const viewSel = h('span', { class: 'segmented', role: 'group', 'aria-label': 'Numbers shown' }, viewBtn('range', 'Whole range'), viewBtn('recent', 'Last 5 min'));
  const summary = h('span', { class: 'sub', id: 'map-summary' });
  const coverage = h('div', { class: 'coverage-note', id: 'map-coverage' });
  const wrap = h('div', { class: 'map-wrap', id: 'service-map' });
  const legend = h('div', { class: 'map-legend' });
  main.appendChild(h('div', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', null, 'Service map'), picker, viewSel, summary,
      h('span', { class: 'grow' }),
      h('span', { class: 'faint' }, 'Click a service for its dashboard, an arrow for its traces')),
    coverage, wrap, legend));
  wrap.appendChild(h('div', { class: 'loading' }, h('span', { class: 'spinner' }), 'Loading the service map…'));

  api.serviceMap(range.start, range.end, { signal: ctl.signal }).then((m) => {
    clear(wrap);
    const nodes = m.nodes || [];
    const edges = m.edges || [];
    if (!nodes.length && !edges.length) {
      wrap.appendChild(h('div', { class: 'empty' }, h('strong', null, 'No services in this window'), 'Widen the time range, or send traces to the collector.'));
      return;
    }
    const win = view === 'recent' ? m.recent : m;
    const cov = win.coverage || {};
    coverage.textContent = cov.seconds
      ? `${view === 'recent' ? `Last ${m.recentMinutes} minutes` : range.label}: rates are per second over the ${fmtSpan(cov.seconds)} the data covers (${fmtTime(Date.parse(cov.start), { millis: false })} – ${fmtTime(Date.parse(cov.end), { millis: false })}).`
      : 'No spans in this window.';
    const bad = nodes.filter((n) => failing(n.health));
    const dests = m.destinations || [];
    summary.textContent = `${nodes.length} services · ${edges.length} connections${dests.length ? ` · ${dests.length} broker destination${dests.length === 1 ? '' : 's'}` : ''}${bad.length ? ` · ${bad.length} failing` : ''}`;
    draw(wrap, m, view, range);
    legend.replaceChildren(...legendText(m));
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

// placeSinks moves each broker destination that nothing consumes in the
// traces (a dead-letter subject, say) and that one service publishes to
// from its own column into that service's column, right under it, its
// publish arrow pointing down: a column of its own would widen the map by
// a node and a gap for a node with one arrow. It marks those arrows sink.
export function placeSinks(layers, pos, items, links) {
  const sinks = [];
  for (const [id, it] of items) {
    if (it.kind !== 'destination' || links.some((l) => l.parent === id)) continue;
    const into = links.filter((l) => l.child === id);
    const producers = new Set(into.map((l) => l.parent));
    if (producers.size !== 1) continue;
    const [producer] = producers;
    if (items.get(producer).kind !== 'service' || pos.get(id).layer !== pos.get(producer).layer + 1) continue;
    sinks.push({ id, producer, into });
  }
  sinks.sort((a, b) => items.get(a.id).name.localeCompare(items.get(b.id).name));
  for (const { id, producer, into } of sinks) {
    const from = layers[pos.get(id).layer];
    from.splice(from.indexOf(id), 1);
    const to = layers[pos.get(producer).layer];
    // Under the producer and any sink already placed under it.
    let at = to.indexOf(producer) + 1;
    while (at < to.length && sinks.some((x) => x.id === to[at] && x.producer === producer)) at++;
    to.splice(at, 0, id);
    for (const l of into) l.sink = true;
  }
  // An emptied column goes; then every position again.
  for (let i = layers.length - 1; i >= 0; i--) if (!layers[i].length && layers.length > 1) layers.splice(i, 1);
  layers.forEach((l, li) => l.forEach((n, i) => pos.set(n, { layer: li, order: i })));
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

// edgeNumbers are what an edge's label says in a view: the callers' side
// when the caller reports its calls (it sees failures the callee never
// does), else the callee's.
export function edgeNumbers(e, view) {
  const w = view === 'recent' ? e.recent : e;
  const c = w.caller || {};
  const attempted = (c.calls || 0) + (c.shortCircuits || 0);
  if (attempted > 0) {
    return { rate: c.rate, failureRate: c.failureRate, failed: (c.errors || 0) + (c.shortCircuits || 0), shortCircuits: c.shortCircuits || 0,
      p95Ns: c.p95Ns || w.p95Ns, calls: attempted, reached: w.calls };
  }
  return { rate: w.rate, failureRate: w.errorRate, failed: w.errors, shortCircuits: 0, p95Ns: w.p95Ns, calls: w.calls, reached: w.calls };
}

function nodeNumbers(n, view) {
  if (view === 'recent') return { served: n.recent.served, callers: n.recent.callers };
  return { served: n, callers: n.callers };
}

// destId is a destination's node id: it cannot clash with a service name
// (a service name has no NUL).
export const destId = (system, name) => `\u0000${system}\u0000${name}`;

// mapGraph turns the API's map into the nodes and arrows drawn: services,
// broker destinations, calls, publishes and deliveries.
export function mapGraph(m) {
  const items = new Map();
  for (const n of m.nodes || []) items.set(n.service, { id: n.service, kind: 'service', name: n.service, n });
  for (const d of m.destinations || []) items.set(destId(d.system, d.name), { id: destId(d.system, d.name), kind: 'destination', name: d.name, d });
  const links = [];
  for (const e of m.edges || []) links.push({ parent: e.parent, child: e.child, kind: 'call', e });
  for (const e of m.publishes || []) {
    const id = destId(e.system, e.destination);
    if (items.has(e.service) && items.has(id)) links.push({ parent: e.service, child: id, kind: 'publish', e });
  }
  for (const e of m.deliveries || []) {
    const id = destId(e.system, e.destination);
    if (items.has(e.consumer) && items.has(id)) links.push({ parent: id, child: e.consumer, kind: 'delivery', e });
  }
  return { items, links };
}

// brokerNumbers are what a publish or delivery arrow says in a view.
export function brokerNumbers(l, view) {
  const w = view === 'recent' ? l.e.recent : l.e;
  const out = { rate: w.rate, failureRate: w.errorRate, failed: w.errors, calls: w.calls, p95Ns: w.p95Ns };
  if (l.kind === 'delivery') {
    out.redeliveries = w.redeliveries || 0;
    out.queue = w.queueDelay || {};
  }
  return out;
}

// edgeTexts are an arrow's label lines and its full description.
function edgeTexts(l, items, view) {
  const num = l.kind === 'call' ? edgeNumbers(l.e, view) : brokerNumbers(l, view);
  const parentName = items.get(l.parent).name;
  const childName = items.get(l.child).name;
  if (l.kind === 'call') {
    const failedText = num.failed
      ? `${fmtPct(num.failureRate)} failed${num.shortCircuits ? ` (${num.shortCircuits} short-circuited)` : ''}`
      : '';
    return { rateText: `${fmtRate(num.rate)} · p95 ${fmtDurationNs(num.p95Ns)}`, failedText,
      label: `${l.parent} → ${l.child}: ${fmtRate(num.rate)}${failedText ? ', ' + failedText : ''}, p95 ${fmtDurationNs(num.p95Ns)}` +
        (num.reached !== num.calls ? `; ${num.reached} reached ${l.child}` : '') };
  }
  if (l.kind === 'publish') {
    const failedText = num.failed ? `${fmtPct(num.failureRate)} of publishes failed` : '';
    return { rateText: `${fmtRate(num.rate)} published`, failedText,
      label: `${parentName} publishes to ${childName}: ${fmtRate(num.rate)} (${num.calls} messages)${failedText ? ', ' + failedText : ''}, p95 ${fmtDurationNs(num.p95Ns)}` };
  }
  // Two short lines (a long one would widen the column): the deliveries
  // and how many failed, then how long messages waited.
  const q = num.queue;
  const rateParts = [{ text: `${fmtRate(num.rate)} delivered`, cls: '' }];
  if (num.failed) rateParts.push({ text: ` · ${fmtPct(num.failureRate)} failed`, cls: 'err' });
  const parts = [{ text: `queued p50 ${fmtDurationNs(q.p50Ns)} · p99 ${fmtDurationNs(q.p99Ns)}`, cls: 'note' }];
  return { rateText: rateParts.map((x) => x.text).join(''), rateParts, failedText: parts.map((x) => x.text).join(''), parts,
    label: `${parentName} delivered to ${childName}: ${fmtRate(num.rate)} (${num.calls} deliveries, redeliveries included${num.redeliveries ? `: ${num.redeliveries}` : ''})` +
      `${num.failed ? `, ${fmtPct(num.failureRate)} failed` : ''}; queued p50 ${fmtDurationNs(q.p50Ns)}, p99 ${fmtDurationNs(q.p99Ns)} (delivery start − publish); processing p95 ${fmtDurationNs(num.p95Ns)}` };
}

function draw(wrap, m, view, range) {
  const { items, links } = mapGraph(m);
  const numbers = (l) => (l.kind === 'call' ? edgeNumbers(l.e, view) : brokerNumbers(l, view));
  const texts = new Map(links.map((l) => [l, edgeTexts(l, items, view)]));
  const names = [...items.keys()].sort((a, b) => items.get(a).name.localeCompare(items.get(b).name) || a.localeCompare(b));
  const { layers, pos } = layout(names, links);
  placeSinks(layers, pos, items, links);
  // Each gap between two columns is wide enough for the longest label of
  // the arrows leaving the left one to sit on its arrow's straight run (a
  // map as narrow as its labels allow needs less shrinking to fit).
  const gaps = layers.map(() => GAP_X);
  for (const l of links) {
    if (l.sink || pos.get(l.child).layer < pos.get(l.parent).layer) continue;
    const t = texts.get(l);
    const li = pos.get(l.parent).layer;
    gaps[li] = Math.max(gaps[li], Math.max(labelWidth(t.rateText), labelWidth(t.failedText)) + 100);
  }
  const colX = [PAD];
  for (let i = 1; i < layers.length; i++) colX.push(colX[i - 1] + NODE_W + gaps[i - 1]);
  // Ports: each edge leaves its caller and enters its callee at its own
  // height, ordered by the other end's position so that lines do not cross
  // near the boxes.
  const outOf = new Map(names.map((n) => [n, []]));
  const into = new Map(names.map((n) => [n, []]));
  for (const e of links) {
    if (e.parent === e.child || pos.get(e.child).layer <= pos.get(e.parent).layer) continue;
    outOf.get(e.parent).push(e);
    into.get(e.child).push(e);
  }
  const rowOf = (n) => pos.get(n).order;
  const key = (e) => `${e.parent}\u0001${e.child}`;
  const maxPorts = Math.max(1, ...names.map((n) => Math.max(outOf.get(n).length, into.get(n).length)));
  const nodeH = Math.max(NODE_H, PORT_GAP * (maxPorts + 1));
  const maxRows = Math.max(...layers.map((l) => l.length));
  const width = PAD + colX[layers.length - 1] + NODE_W;
  const height = PAD * 2 + maxRows * nodeH + (maxRows - 1) * GAP_Y + 40;
  const xy = new Map();
  layers.forEach((l, li) => {
    const colH = l.length * nodeH + (l.length - 1) * GAP_Y;
    const y0 = PAD + (height - 40 - PAD * 2 - colH) / 2;
    l.forEach((n, i) => xy.set(n, { x: colX[li], y: y0 + i * (nodeH + GAP_Y) }));
  });
  const port = new Map();
  for (const n of names) {
    const outs = outOf.get(n).sort((a, b) => rowOf(a.child) - rowOf(b.child) || a.child.localeCompare(b.child));
    outs.forEach((e, i) => port.set(`o${key(e)}`, xy.get(n).y + (nodeH * (i + 1)) / (outs.length + 1)));
    const ins = into.get(n).sort((a, b) => rowOf(a.parent) - rowOf(b.parent) || a.parent.localeCompare(b.parent));
    ins.forEach((e, i) => port.set(`i${key(e)}`, xy.get(n).y + (nodeH * (i + 1)) / (ins.length + 1)));
  }
  const availW = wrap.clientWidth - 4;
  const availH = wrap.clientHeight - 4;
  const scale = availW > 0 && width > availW ? Math.max(MIN_SCALE, availW / width) : 1;
  const viewW = Math.max(width, availW / scale);
  const viewH = Math.max(height, availH / scale);
  const svg = s('svg', { width: Math.floor(viewW * scale), height: Math.floor(viewH * scale), viewBox: `0 0 ${viewW} ${viewH}`, role: 'group', 'aria-label': 'Service map',
    dataset: { scale: scale.toFixed(3) } });
  svg.appendChild(s('defs', null,
    s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'var(--border-strong)' })),
    s('marker', { id: 'arrow-bad', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'var(--error)' })),
    s('marker', { id: 'arrow-queue', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: 'var(--queue)' }))));
  const offsetX = Math.max(0, (viewW - width) / 2);
  const offsetY = Math.max(0, (viewH - height) / 3);
  const g = s('g', { transform: `translate(${offsetX},${offsetY})` });
  svg.appendChild(g);

  // Edges first, under the nodes.
  const maxRate = Math.max(1e-9, ...links.map((l) => numbers(l).rate || 0));
  for (const l of links) {
    const e = l.e;
    const a = xy.get(l.parent);
    const b = xy.get(l.child);
    const num = numbers(l);
    const shownBad = view === 'recent' ? e.failingNow : e.failing;
    const bad = e.failing || e.failingNow;
    let d;
    let lx;
    let ly;
    let anchor = 'start';
    const { rateText, rateParts, failedText, label, parts } = texts.get(l);
    const parentName = items.get(l.parent).name;
    const childName = items.get(l.child).name;
    if (l.sink) {
      // Down from the producer to the destination under it.
      const x = a.x + NODE_W / 2;
      d = `M${x},${a.y + nodeH} V${b.y - 2}`;
      lx = x + 8;
      ly = (a.y + nodeH + b.y) / 2 - (failedText ? 2 : -4);
    } else if (l.parent === l.child) {
      d = `M${a.x + NODE_W - 30},${a.y} C${a.x + NODE_W - 30},${a.y - 40} ${a.x + NODE_W + 30},${a.y - 40} ${a.x + NODE_W},${a.y + 14}`;
      lx = a.x + NODE_W + 8;
      ly = a.y - 30;
    } else if (pos.get(l.child).layer > pos.get(l.parent).layer) {
      const x1 = a.x + NODE_W;
      const y1 = port.get(`o${key(l)}`);
      const x2 = b.x - 2;
      const y2 = port.get(`i${key(l)}`);
      const longest = Math.max(labelWidth(rateText), labelWidth(failedText));
      const xs = Math.min(x2 - 60, x1 + Math.max(LABEL_RUN, longest + 20));
      const mx = (xs + x2) / 2;
      d = `M${x1},${y1} H${xs} C${mx},${y1} ${mx},${y2} ${x2},${y2}`;
      lx = x1 + 8;
      ly = y1 - 18;
    } else {
      // Calls back to an earlier layer (or within one) arc below the
      // boxes, their label under the arc's lowest point.
      const x1 = a.x + NODE_W / 2;
      const y1 = a.y + nodeH;
      const x2 = b.x + NODE_W / 2;
      const y2 = b.y + nodeH + 2;
      const dip = Math.max(y1, y2) + 40;
      d = `M${x1},${y1} C${x1},${dip} ${x2},${dip} ${x2},${y2}`;
      lx = (x1 + x2) / 2;
      ly = dip - 2;
      anchor = 'middle';
    }
    const broker = l.kind !== 'call';
    const dataset = { parent: parentName, child: childName, kind: l.kind };
    if (broker) dataset.destination = l.kind === 'publish' ? childName : parentName;
    const edge = s('g', { class: 'map-edge' + (broker ? ' broker' : '') + (bad ? ' bad' : '') + (bad && !shownBad ? ' earlier' : ''), tabindex: '0', role: 'link', 'aria-label': `${label}. Open traces`, dataset },
      s('path', { class: 'hit', d }),
      s('path', { class: 'line', d, 'marker-end': bad ? 'url(#arrow-bad)' : broker ? 'url(#arrow-queue)' : 'url(#arrow)', 'stroke-width': 1.2 + 2.5 * Math.sqrt((num.rate || 0) / maxRate) }),
      s('text', { class: 'rate', x: lx, y: ly, 'text-anchor': anchor }, rateParts ? rateParts.map((x) => s('tspan', { class: x.cls || null }, x.text)) : rateText),
      parts ? s('text', { class: 'second', x: lx, y: ly + 12, 'text-anchor': anchor }, parts.map((x) => s('tspan', { class: x.cls }, x.text)))
        : failedText ? s('text', { class: 'err', x: lx, y: ly + 12, 'text-anchor': anchor }, failedText) : null,
      s('title', null, label));
    const open = () => {
      if (l.kind === 'call') navigate('/search', { service: l.child, ...rangeParams(range) });
      else {
        const service = l.kind === 'publish' ? l.parent : l.child;
        navigate('/search', { service, tags: `messaging.destination.name=${quoteTag(e.destination)}`, ...rangeParams(range) });
      }
    };
    asLink(edge, open);
    g.appendChild(edge);
  }

  for (const id of names) {
    const it = items.get(id);
    if (it.kind === 'destination') {
      g.appendChild(destinationNode(it.d, xy.get(id), nodeH, m, view, range));
      continue;
    }
    const name = id;
    const n = it.n;
    const { x, y } = xy.get(name);
    const hl = n.health || { state: 'ok' };
    const isBad = failing(hl);
    const { served, callers } = nodeNumbers(n, view);
    const attempted = (callers.calls || 0) + (callers.shortCircuits || 0);
    const callersBad = attempted > 0 && callers.failureRate >= 0.05;
    const lines = [];
    if (served.calls) {
      lines.push(s('text', { class: 'stat', x: 16, y: 42 }, `${fmtRate(served.rate)} · `,
        s('tspan', { class: served.errorRate >= 0.05 ? 'stat bad' : 'stat' }, `${fmtPct(served.errorRate)} failed`)));
      lines.push(s('text', { class: 'stat', x: 16, y: 59 }, `p50 ${fmtDurationNs(served.p50Ns)} · p95 ${fmtDurationNs(served.p95Ns)}`));
    } else {
      lines.push(s('text', { class: 'stat', x: 16, y: 42 }, attempted ? 'served no requests' : 'no requests served (caller only)'));
    }
    if (callersBad) {
      lines.push(s('text', { class: 'stat bad callers', x: 16, y: 76 },
        `callers: ${fmtPct(callers.failureRate)} of calls failed`));
    }
    const stateText = hl.state === 'unreachable' ? 'unreachable' : hl.state === 'failing' ? 'failing' : hl.state;
    const node = s('g', { class: 'map-node' + (isBad ? ' bad' : '') + (hl.rootCause ? ' root-cause' : '') + (isBad && !hl.now ? ' earlier' : ''),
      transform: `translate(${x},${y})`, tabindex: '0', role: 'link', dataset: { service: name, health: hl.state, rootCause: String(!!hl.rootCause) },
      'aria-label': `${name}: ${stateText}${hl.rootCause ? ', failure starts here' : ''}${hl.reason ? ` (${hl.reason})` : ''}. ${served.calls ? `${fmtRate(served.rate)}, ${fmtPct(served.errorRate)} of requests failed` : 'no requests served'}. Open dashboard` },
    hl.rootCause ? s('text', { class: 'root-label', x: 0, y: -8 }, hl.now ? '⚠ failure starts here' : '⚠ failure started here (earlier)') : null,
    s('rect', { class: 'box' + (isBad ? ' bad' : ''), width: NODE_W, height: nodeH, rx: 8 }),
    s('rect', { x: 0, y: 0, width: 5, height: nodeH, rx: 2, fill: serviceColor(name) }),
    s('text', { class: 'name', x: 16, y: 22 }, name, isBad ? s('tspan', { class: 'state', dx: 8 }, stateText + (hl.now ? '' : ' earlier')) : null),
    lines,
    s('title', null, `${name}${hl.reason ? ': ' + hl.reason : ''}`));
    const open = () => navigate(`/service/${encodeURIComponent(name)}`, rangeParams(range));
    asLink(node, open);
    g.appendChild(node);
  }
  wrap.appendChild(svg);
}

// quoteTag writes a value for the search page's key=value box.
function quoteTag(v) {
  return /[\s"]/.test(v) ? `"${String(v).replace(/"/g, '\\"')}"` : v;
}

// destinationNode draws a broker destination: what its producers
// published, what was delivered to its consumers (redeliveries included)
// and how long messages waited.
function destinationNode(dst, { x, y }, nodeH, m, view, range) {
  const pubs = (m.publishes || []).filter((p) => p.system === dst.system && p.destination === dst.name);
  const dels = (m.deliveries || []).filter((p) => p.system === dst.system && p.destination === dst.name);
  const w = (e) => (view === 'recent' ? e.recent : e);
  const published = pubs.reduce((a, p) => a + (w(p).rate || 0), 0);
  const delivered = dels.reduce((a, p) => a + (w(p).rate || 0), 0);
  const redelivered = dels.reduce((a, p) => a + (w(p).redeliveries || 0), 0);
  const worstP99 = Math.max(0, ...dels.map((p) => (w(p).queueDelay || {}).p99Ns || 0));
  const lines = [
    s('text', { class: 'stat', x: 16, y: 42 }, !dels.length ? `${fmtRate(published)} in` : pubs.length ? `${fmtRate(published)} in · ${fmtRate(delivered)} out` : `${fmtRate(delivered)} delivered`),
    s('text', { class: 'stat', x: 16, y: 59 }, dels.length ? `queued p99 ${fmtDurationNs(worstP99)}` : 'no consumer in the traces'),
  ];
  if (redelivered) lines.push(s('text', { class: 'stat', x: 16, y: 76 }, `${redelivered} redeliver${redelivered === 1 ? 'y' : 'ies'}`));
  const node = s('g', { class: 'map-node map-dest', transform: `translate(${x},${y})`, tabindex: '0', role: 'link',
    dataset: { destination: dst.name, system: dst.system },
    'aria-label': `broker destination ${dst.name}${dst.system ? ` (${dst.system})` : ''}: ${dst.published} messages published, ${dst.delivered} deliveries (redeliveries included). Open its traces` },
  s('rect', { class: 'box dest', width: NODE_W, height: nodeH, rx: nodeH / 2 > 30 ? 30 : nodeH / 2 }),
  s('text', { class: 'name', x: 16, y: 22 }, dst.name, s('tspan', { class: 'system', dx: 8 }, dst.system || 'broker')),
  lines,
  s('title', null, `${dst.name}: a ${dst.system || 'broker'} destination. ${dst.published} published, ${dst.delivered} delivered (every delivery counts: redeliveries included).`));
  const producer = pubs[0] ? pubs[0].service : dels[0] ? dels[0].consumer : '';
  asLink(node, () => navigate('/search', { service: producer, tags: `messaging.destination.name=${quoteTag(dst.name)}`, ...rangeParams(range) }));
  return node;
}

function legendText(m) {
  return [
    'Node: requests it served per second · share that failed · latency. Arrow: calls per second as the caller saw them (retries and circuit-breaker short-circuits included). ',
    h('span', { class: 'err-text' }, 'Red'), ': 5% or more failed, in the requests it served or in its callers\u2019 calls to it; ',
    h('b', null, '⚠'), ' marks where a failure starts (failing, and nothing it calls is). Dashed: failed earlier in the range, not in the last ',
    String(m.recentMinutes || 5), ' min.',
    (m.destinations || []).length ? h('span', { id: 'map-legend-broker' }, ' ', h('b', { class: 'queue-text' }, 'Rounded nodes'),
      ' are broker destinations: the arrow in counts messages published, the arrow out counts deliveries to consumers \u2014 every delivery, so ',
      h('b', null, 'redeliveries are counted'), ' (a message delivered three times counts three) \u2014 with how long messages waited (queued: p50/p99 of delivery start \u2212 publish).') : ''];
}
