// A small SVG chart module: time series as stacked bars or lines, with
// nice y ticks, time labels, a legend and native tooltips. Charts redraw
// at the new width when the window is resized.

import { bucketLabel } from './fmt.js';

const NS = 'http://www.w3.org/2000/svg';

/** palette gives series colours, distinguishable at a glance. */
export const palette = ['#1f4fd1', '#e8710a', '#188038', '#9334e6', '#d01884', '#12a4af', '#b06000', '#5f6368', '#c5221f', '#7cb342'];
export const otherColor = '#b8bec7';

function el(tag, attrs, text) {
  const e = document.createElementNS(NS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** niceTicks returns about n round tick values from 0 to at least max. */
function niceTicks(max, n) {
  if (!(max > 0)) return [0, 1];
  const raw = max / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(v);
  return ticks;
}

const charts = new Set();
let resizeTimer = 0;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const c of charts) {
      if (!c.host.isConnected) charts.delete(c);
      else c.draw();
    }
  }, 120);
});

/**
 * timeChart draws into host:
 *   buckets   bucket start times (ms), ascending
 *   series    [{name, color, values}] (values align with buckets)
 *   kind      "bar" (stacked) or "line"
 *   fmt       formats a y value
 *   gran      granularity, for the time labels
 *   height    in CSS pixels
 */
export function timeChart(host, opts) {
  const c = { host, opts, draw: () => draw(host, opts) };
  host.classList.add('chart');
  charts.add(c);
  c.draw();
  return c;
}

function draw(host, o) {
  host.replaceChildren();
  const width = Math.max(280, host.clientWidth || 600);
  const height = o.height || 200;
  const padL = 56, padR = 8, padT = 8, padB = 22;
  const w = width - padL - padR, h = height - padT - padB;
  const n = o.buckets.length;
  const stacked = o.kind !== 'line';
  let max = 0;
  for (let i = 0; i < n; i++) {
    if (stacked) {
      let s = 0;
      for (const se of o.series) s += se.values[i] || 0;
      max = Math.max(max, s);
    } else {
      for (const se of o.series) max = Math.max(max, se.values[i] || 0);
    }
  }
  const ticks = niceTicks(max, 4);
  const top = ticks[ticks.length - 1];
  const y = (v) => padT + h - (v / top) * h;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  if (o.label) svg.setAttribute('aria-label', o.label);
  const axis = el('g', { class: 'axis' });
  for (const t of ticks) {
    axis.append(el('line', { class: 'grid-line', x1: padL, x2: width - padR, y1: y(t), y2: y(t) }));
    axis.append(el('text', { x: padL - 6, y: y(t) + 4, 'text-anchor': 'end' }, t === 0 ? '0' : o.fmt(t)));
  }
  const span = n > 1 ? o.buckets[n - 1] - o.buckets[0] : 0;
  const slot = w / Math.max(n, 1);
  const labels = Math.max(2, Math.floor(w / 90));
  const every = Math.max(1, Math.ceil(n / labels));
  for (let i = 0; i < n; i += every) {
    const x = padL + slot * (i + 0.5);
    axis.append(el('text', { x, y: height - 6, 'text-anchor': 'middle' }, bucketLabel(o.buckets[i], o.gran, span)));
  }
  svg.append(axis);
  const plot = el('g', {});
  if (stacked) {
    const bw = Math.max(1, Math.min(48, slot * 0.78));
    for (let i = 0; i < n; i++) {
      let base = 0;
      const x = padL + slot * i + (slot - bw) / 2;
      for (const se of o.series) {
        const v = se.values[i] || 0;
        if (v <= 0) continue;
        const r = el('rect', { x, y: y(base + v), width: bw, height: Math.max(0.5, y(base) - y(base + v)), fill: se.color });
        r.append(el('title', {}, `${bucketLabel(o.buckets[i], o.gran, span)} · ${se.name}: ${o.fmt(v)}`));
        plot.append(r);
        base += v;
      }
    }
  } else {
    for (const se of o.series) {
      let d = '';
      for (let i = 0; i < n; i++) {
        const v = se.values[i];
        if (v === null || v === undefined) continue;
        d += (d ? 'L' : 'M') + (padL + slot * (i + 0.5)).toFixed(1) + ',' + y(v).toFixed(1);
      }
      if (!d) continue;
      plot.append(el('path', { d, fill: 'none', stroke: se.color, 'stroke-width': 2, 'stroke-linejoin': 'round' }));
      for (let i = 0; i < n; i++) {
        const v = se.values[i];
        if (v === null || v === undefined) continue;
        const dot = el('circle', { cx: padL + slot * (i + 0.5), cy: y(v), r: n > 90 ? 1.5 : 2.5, fill: se.color });
        dot.append(el('title', {}, `${bucketLabel(o.buckets[i], o.gran, span)} · ${se.name}: ${o.fmt(v)}`));
        plot.append(dot);
      }
    }
  }
  svg.append(plot);
  host.append(svg);
  if (o.series.length > 1 || o.legend) {
    const lg = document.createElement('div');
    lg.className = 'legend';
    for (const se of o.series) {
      const s = document.createElement('span');
      const sw = document.createElement('i');
      sw.className = 'swatch';
      sw.style.background = se.color;
      s.append(sw, se.name);
      lg.append(s);
    }
    host.append(lg);
  }
}
