// Small SVG charts: time series lines, a scatter plot and a bar histogram.
// Each takes a container element and redraws into it on resize.
import { s, h, clear, niceTicks, timeTicks, fmtTick, fmtTime } from './util.js';

const M = { top: 10, right: 12, bottom: 22, left: 48 };

function observeWidth(container, draw) {
  let last = 0;
  const ro = new ResizeObserver(() => {
    const w = container.clientWidth;
    if (w && w !== last) {
      last = w;
      draw(w);
    }
  });
  ro.observe(container);
  return () => ro.disconnect();
}

function scale(d0, d1, r0, r1) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  const f = (v) => r0 + (v - d0) * k;
  f.invert = (px) => (k === 0 ? d0 : d0 + (px - r0) / k);
  return f;
}

function axes(g, x, y, width, height, xDomain, yTicks, fmtY) {
  const ax = s('g', { class: 'axis' });
  for (const t of yTicks) {
    const py = y(t);
    ax.appendChild(s('line', { class: 'gridline', x1: M.left, x2: width - M.right, y1: py, y2: py }));
    ax.appendChild(s('text', { x: M.left - 6, y: py + 3, 'text-anchor': 'end' }, fmtY(t)));
  }
  const { ticks, step } = timeTicks(xDomain[0], xDomain[1], Math.max(2, Math.floor((width - M.left - M.right) / 90)));
  for (const t of ticks) {
    const px = x(t);
    ax.appendChild(s('line', { x1: px, x2: px, y1: height - M.bottom, y2: height - M.bottom + 4 }));
    ax.appendChild(s('text', { x: px, y: height - 6, 'text-anchor': 'middle' }, fmtTick(t, step)));
  }
  ax.appendChild(s('line', { x1: M.left, x2: width - M.right, y1: height - M.bottom, y2: height - M.bottom }));
  g.appendChild(ax);
}

// brushX makes an x-range selectable by dragging over svg: brush is the
// rect that shows the selection, x the scale, and onBrush(from, to) gets the
// domain range when the drag spans more than minPx pixels. With track =
// [left, right] the rect follows the pointer only inside those pixels.
function brushX(svg, brush, x, onBrush, { minPx, track } = {}) {
  let from = null;
  svg.style.cursor = 'crosshair';
  svg.addEventListener('mousedown', (ev) => {
    from = ev.clientX - svg.getBoundingClientRect().left;
    brush.classList.remove('hidden');
    brush.setAttribute('x', from);
    brush.setAttribute('width', 0);
  });
  svg.addEventListener('mousemove', (ev) => {
    if (from === null) return;
    const px = ev.clientX - svg.getBoundingClientRect().left;
    if (track && (px < track[0] || px > track[1])) return;
    brush.setAttribute('x', Math.min(from, px));
    brush.setAttribute('width', Math.abs(px - from));
  });
  svg.addEventListener('mouseup', (ev) => {
    if (from === null) return;
    const px = ev.clientX - svg.getBoundingClientRect().left;
    const a = Math.min(from, px);
    const b = Math.max(from, px);
    from = null;
    brush.classList.add('hidden');
    if (b - a > minPx) onBrush(x.invert(a), x.invert(b));
  });
}

// lineChart: series = [{name, color, points: [[tMs, value, flags?], …]}].
// A null value is a gap. flags.partial marks a point whose step the data
// covers only in part: it is drawn hollow, joined by a dashed line, and
// the tooltip says so. noData = [[fromMs, toMs], …] shades stretches no
// data covers (which is not the same as no traffic).
export function lineChart(container, { series, height = 170, fmtY = String, domain, yMin = 0, label, onBrush, noData = [] }) {
  container.classList.add('chart');
  const tip = h('div', { class: 'chart-tip hidden' });
  const draw = (width) => {
    clear(container);
    const all = series.flatMap((sr) => sr.points);
    const xd = domain || [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    let ymax = Math.max(yMin, ...all.map((p) => p[1]).filter((v) => v !== null && v !== undefined && !Number.isNaN(v)));
    if (!(ymax > 0)) ymax = 1;
    const yTicks = niceTicks(0, ymax * 1.08, 4);
    const ytop = Math.max(ymax, yTicks[yTicks.length - 1]);
    const x = scale(xd[0], xd[1], M.left, width - M.right);
    const y = scale(0, ytop, height - M.bottom, M.top);
    const svg = s('svg', { width, height, role: 'img', 'aria-label': label || 'chart' });
    for (const [a, b] of noData) {
      const x0 = Math.max(M.left, x(a));
      const x1 = Math.min(width - M.right, x(b));
      if (x1 - x0 < 1) continue;
      svg.appendChild(s('rect', { class: 'nodata', x: x0, y: M.top, width: x1 - x0, height: height - M.top - M.bottom }));
      if (x1 - x0 > 56) svg.appendChild(s('text', { class: 'nodata-label', x: (x0 + x1) / 2, y: M.top + 14, 'text-anchor': 'middle' }, 'no data'));
    }
    axes(svg, x, y, width, height, xd, yTicks, fmtY);
    const has = (p) => p && p[1] !== null && p[1] !== undefined && !Number.isNaN(p[1]);
    const partial = (p) => !!(p && p[2] && p[2].partial);
    const at = (p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`;
    for (const sr of series) {
      let solid = '';
      let dashed = '';
      let penAt = null; // where the solid path's pen is
      sr.points.forEach((p, i) => {
        const prev = sr.points[i - 1];
        if (!has(p) || !has(prev)) return;
        if (partial(p) || partial(prev)) {
          dashed += `M${at(prev)}L${at(p)}`;
          return;
        }
        if (penAt !== prev) solid += `M${at(prev)}`;
        solid += `L${at(p)}`;
        penAt = p;
      });
      svg.appendChild(s('path', { class: 'series', d: solid, stroke: sr.color, 'stroke-dasharray': sr.dash || null }));
      if (dashed) svg.appendChild(s('path', { class: 'series partial', d: dashed, stroke: sr.color, 'stroke-dasharray': '3 3' }));
      sr.points.forEach((p, i) => {
        if (!has(p)) return;
        if (partial(p)) {
          svg.appendChild(s('circle', { class: 'partial-point', cx: x(p[0]), cy: y(p[1]), r: 3, stroke: sr.color }));
        } else if (!has(sr.points[i - 1]) && !has(sr.points[i + 1])) {
          // A point without a neighbour draws no line: mark it.
          svg.appendChild(s('circle', { cx: x(p[0]), cy: y(p[1]), r: 2.5, fill: sr.color }));
        }
      });
    }
    const hover = s('line', { class: 'hover-line hidden', y1: M.top, y2: height - M.bottom });
    svg.appendChild(hover);
    const brush = s('rect', { class: 'brush hidden', y: M.top, height: height - M.top - M.bottom });
    svg.appendChild(brush);
    svg.addEventListener('mousemove', (ev) => {
      const rect = svg.getBoundingClientRect();
      const px = ev.clientX - rect.left;
      if (px < M.left || px > width - M.right) {
        hover.classList.add('hidden');
        tip.classList.add('hidden');
        return;
      }
      const t = x.invert(px);
      let nearest = null;
      for (const p of series[0]?.points || []) if (!nearest || Math.abs(p[0] - t) < Math.abs(nearest[0] - t)) nearest = p;
      if (!nearest) return;
      const nx = x(nearest[0]);
      hover.setAttribute('x1', nx);
      hover.setAttribute('x2', nx);
      hover.classList.remove('hidden');
      clear(tip);
      tip.appendChild(h('div', { class: 'k' }, fmtTime(nearest[0], { millis: false })));
      for (const sr of series) {
        const p = sr.points.find((q) => q[0] === nearest[0]);
        tip.appendChild(h('div', null, h('span', { style: { color: sr.color } }, '● '), `${sr.name}: `, h('b', null, has(p) ? fmtY(p[1]) : '–')));
      }
      const f = nearest[2];
      if (f && f.partial) tip.appendChild(h('div', { class: 'k' }, `partial: ${Math.round(f.covered)} s of data in this step`));
      else if (f && !f.covered && !has(nearest)) tip.appendChild(h('div', { class: 'k' }, 'no data'));
      tip.classList.remove('hidden');
      const tx = nx + 12 + 170 > width ? nx - 180 : nx + 12;
      tip.style.left = `${tx}px`;
      tip.style.top = `${M.top}px`;
    });
    svg.addEventListener('mouseleave', () => {
      hover.classList.add('hidden');
      tip.classList.add('hidden');
    });
    if (onBrush) brushX(svg, brush, x, onBrush, { minPx: 6, track: [M.left, width - M.right] });
    container.appendChild(svg);
    container.appendChild(tip);
  };
  return observeWidth(container, draw);
}

// scatterPlot: points = [{t (ms), v (µs), error, hollow, id, label}], log
// y axis when the range is wide; hollow dots are traces that may be
// incomplete. onClick(point).
export function scatterPlot(container, { points, height = 180, fmtY = String, domain, onClick, label, selectedId }) {
  container.classList.add('chart');
  const tip = h('div', { class: 'chart-tip hidden' });
  const draw = (width) => {
    clear(container);
    const xd = domain;
    const vals = points.map((p) => p.v);
    const vmax = Math.max(1, ...vals);
    const vmin = Math.max(1, Math.min(...vals));
    const useLog = vmax / vmin > 200;
    let y;
    let yTicks;
    if (useLog) {
      const lo = Math.pow(10, Math.floor(Math.log10(vmin)));
      const hi = Math.pow(10, Math.ceil(Math.log10(vmax)));
      const ly = scale(Math.log10(lo), Math.log10(hi), height - M.bottom, M.top);
      y = (v) => ly(Math.log10(Math.max(lo, v)));
      yTicks = [];
      for (let d = lo; d <= hi; d *= 10) yTicks.push(d);
    } else {
      yTicks = niceTicks(0, vmax * 1.1, 4);
      y = scale(0, Math.max(vmax * 1.1, yTicks[yTicks.length - 1]), height - M.bottom, M.top);
    }
    const x = scale(xd[0], xd[1], M.left, width - M.right);
    const svg = s('svg', { width, height, role: 'img', 'aria-label': label || 'scatter plot' });
    const ax = s('g', { class: 'axis' });
    for (const t of yTicks) {
      ax.appendChild(s('line', { class: 'gridline', x1: M.left, x2: width - M.right, y1: y(t), y2: y(t) }));
      ax.appendChild(s('text', { x: M.left - 6, y: y(t) + 3, 'text-anchor': 'end' }, fmtY(t)));
    }
    const { ticks, step } = timeTicks(xd[0], xd[1], Math.max(2, Math.floor((width - M.left - M.right) / 90)));
    for (const t of ticks) ax.appendChild(s('text', { x: x(t), y: height - 6, 'text-anchor': 'middle' }, fmtTick(t, step)));
    ax.appendChild(s('line', { x1: M.left, x2: width - M.right, y1: height - M.bottom, y2: height - M.bottom }));
    svg.appendChild(ax);
    const maxSpans = Math.max(1, ...points.map((p) => p.size || 1));
    for (const p of points) {
      const r = 3.5 + 5 * Math.sqrt((p.size || 1) / maxSpans);
      const color = p.error ? 'var(--error)' : 'var(--accent)';
      const dot = s('circle', {
        class: 'dot' + (p.id === selectedId ? ' selected' : '') + (p.hollow ? ' hollow' : ''), cx: x(p.t), cy: y(p.v), r,
        fill: color, 'fill-opacity': p.hollow ? 0.15 : 0.7, style: { '--dot-color': color }, tabindex: -1,
        'data-trace-id': p.id, 'aria-label': p.label,
      });
      dot.addEventListener('click', () => onClick && onClick(p));
      dot.addEventListener('mouseenter', () => {
        clear(tip);
        tip.appendChild(h('div', null, h('b', null, p.label)));
        tip.appendChild(h('div', { class: 'k' }, `${fmtY(p.v)} · ${fmtTime(p.t)}`));
        tip.classList.remove('hidden');
        const px = x(p.t);
        tip.style.left = `${px + 250 > width ? px - 250 : px + 10}px`;
        tip.style.top = `${Math.max(0, y(p.v) - 40)}px`;
      });
      dot.addEventListener('mouseleave', () => tip.classList.add('hidden'));
      svg.appendChild(dot);
    }
    container.appendChild(svg);
    container.appendChild(tip);
  };
  return observeWidth(container, draw);
}

// histogram: buckets = [{t (ms), counts: {series: n}, partial}], stacked
// bars; colors = {series: css colour}. A partial bucket (cut by the range,
// or still filling) is drawn faded with a dashed outline.
// onBrush(startMs, endMs) selects a range.
export function histogram(container, { buckets, step, height = 90, colors, domain, onBrush, label }) {
  container.classList.add('chart');
  const tip = h('div', { class: 'chart-tip hidden' });
  const keys = Object.keys(colors);
  const draw = (width) => {
    clear(container);
    const totals = buckets.map((b) => Object.values(b.counts).reduce((a, c) => a + c, 0));
    const ymax = Math.max(1, ...totals);
    // Counts: whole-number ticks only.
    const yTicks = niceTicks(0, Math.max(2, ymax), 2).filter((v) => Number.isInteger(v));
    const ytop = Math.max(ymax, yTicks[yTicks.length - 1]);
    const x = scale(domain[0], domain[1], M.left, width - M.right);
    const y = scale(0, ytop, height - M.bottom, M.top);
    const svg = s('svg', { width, height, role: 'img', 'aria-label': label || 'histogram' });
    axes(svg, x, y, width, height, domain, yTicks, (v) => String(v));
    const bw = Math.max(1, x(domain[0] + step) - x(domain[0]) - 1);
    buckets.forEach((b, i) => {
      let acc = 0;
      const g = s('g', { class: 'bar' + (b.partial ? ' partial' : ''), dataset: { partial: String(!!b.partial) } });
      for (const k of keys) {
        const n = b.counts[k] || 0;
        if (!n) continue;
        g.appendChild(s('rect', { x: x(b.t), width: bw, y: y(acc + n), height: Math.max(0.5, y(acc) - y(acc + n)), fill: colors[k] }));
        acc += n;
      }
      if (b.partial && acc) g.appendChild(s('rect', { class: 'partial-outline', x: x(b.t), width: bw, y: y(acc), height: Math.max(0.5, y(0) - y(acc)) }));
      g.addEventListener('mouseenter', () => {
        clear(tip);
        tip.appendChild(h('div', { class: 'k' }, fmtTime(b.t, { millis: false })));
        tip.appendChild(h('div', null, h('b', null, String(totals[i])), ' records'));
        if (b.partial) tip.appendChild(h('div', { class: 'k' }, 'partial bucket: cut by the range, or records may still arrive'));
        for (const k of keys) if (b.counts[k]) tip.appendChild(h('div', null, h('span', { style: { color: colors[k] } }, '■ '), `${k}: ${b.counts[k]}`));
        tip.classList.remove('hidden');
        const px = x(b.t);
        tip.style.left = `${px + 160 > width ? px - 160 : px + bw + 6}px`;
        tip.style.top = '0px';
      });
      g.addEventListener('mouseleave', () => tip.classList.add('hidden'));
      svg.appendChild(g);
    });
    if (onBrush) {
      const brush = s('rect', { class: 'brush hidden', y: M.top, height: height - M.top - M.bottom });
      svg.appendChild(brush);
      brushX(svg, brush, x, onBrush, { minPx: 4 });
    }
    container.appendChild(svg);
    container.appendChild(tip);
  };
  return observeWidth(container, draw);
}

// sparkline: a tiny line without axes; null values are gaps (no data).
export function sparkline(values, { width = 120, height = 28, color = 'var(--accent)', max: fixedMax } = {}) {
  const svg = s('svg', { class: 'spark', width, height, viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none', 'aria-hidden': 'true' });
  const ok = (v) => v !== null && v !== undefined && !Number.isNaN(v);
  const max = fixedMax || Math.max(1e-9, ...values.filter(ok));
  const n = values.length;
  if (n < 2) return svg;
  const px = (i) => ((i / (n - 1)) * (width - 2) + 1).toFixed(1);
  const py = (v) => (height - 2 - (v / max) * (height - 4)).toFixed(1);
  let line = '';
  let area = '';
  let run = [];
  const flush = () => {
    if (run.length) {
      line += run.map(([i, v], k) => `${k ? 'L' : 'M'}${px(i)},${py(v)}`).join('');
      area += `M${px(run[0][0])},${height}` + run.map(([i, v]) => `L${px(i)},${py(v)}`).join('') + `L${px(run[run.length - 1][0])},${height}Z`;
    }
    run = [];
  };
  values.forEach((v, i) => {
    if (ok(v)) run.push([i, v]);
    else flush();
  });
  flush();
  svg.appendChild(s('path', { d: area, fill: color, 'fill-opacity': 0.12, stroke: 'none' }));
  svg.appendChild(s('path', { d: line, fill: 'none', stroke: color, 'stroke-width': 1.5, 'vector-effect': 'non-scaling-stroke' }));
  return svg;
}
