// DOM helpers shared by the pages. Text always goes in as textContent,
// never as HTML: tags, users and app names are the callers' strings.

/** h builds an element: h('td', {class: 'num'}, 'text', child, …). */
export function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) {
    const v = attrs[k];
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

/** card wraps content with an optional title. */
export const card = (title, ...children) => h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);

/** empty is the empty state of a chart or table. */
export const empty = (title, hint) => h('div', { class: 'empty' }, h('strong', {}, title), hint || '');

/** errorBox shows a failed call in place of the content. */
export const errorBox = (err) => h('div', { class: 'empty bad', role: 'alert' }, h('strong', {}, 'Could not load'), String(err && err.message ? err.message : err));

/** table renders columns [{label, num, cell(row) → string|Node, cls}] over rows. */
export function table(cols, rows, { foot, id } = {}) {
  const head = h('tr', {}, cols.map((c) => h('th', { class: c.num ? 'num' : null }, c.label)));
  const body = rows.map((r) => h('tr', {}, cols.map((c) => {
    const v = c.cell(r);
    const td = v instanceof Node && v.tagName === 'TD' ? v : h('td', { class: c.num ? 'num' : null }, v);
    return td;
  })));
  const t = h('table', { id }, h('thead', {}, head), h('tbody', {}, body));
  if (foot) t.append(h('tfoot', {}, foot));
  return h('div', { class: 'table-wrap' }, t);
}

/** field wraps a labelled control for a toolbar. */
export const field = (label, control, cls) => h('div', { class: 'field ' + (cls || '') }, h('label', { for: control.id }, label), control);

/** select builds a <select> of [value, label] options. */
export function select(id, options, value) {
  const s = h('select', { id });
  for (const [v, l] of options) s.append(h('option', { value: v, selected: v === value }, l));
  return s;
}

/** pill renders a small status badge. */
export const pill = (text, cls) => h('span', { class: 'pill ' + (cls || '') }, text);

/** Time ranges offered by the pages, with the granularity each uses. */
export const ranges = [
  ['1h', 'Last hour', 3600e3, 'minute'],
  ['6h', 'Last 6 hours', 6 * 3600e3, 'minute'],
  ['24h', 'Last 24 hours', 24 * 3600e3, 'hour'],
  ['7d', 'Last 7 days', 7 * 24 * 3600e3, 'hour'],
  ['30d', 'Last 30 days', 30 * 24 * 3600e3, 'day'],
];

const stepMs = { minute: 60e3, hour: 3600e3, day: 86400e3 };

/**
 * window returns {from, to, gran, buckets} for a range id: from aligned
 * down to the granularity, every bucket start in [from, to].
 */
export function timeWindow(id) {
  const r = ranges.find((x) => x[0] === id) || ranges[0];
  const to = Date.now();
  const step = stepMs[r[3]];
  const from = Math.floor((to - r[2]) / step) * step + step;
  const buckets = [];
  for (let t = from; t <= to; t += step) buckets.push(t);
  return { from, to, gran: r[3], buckets, label: r[1] };
}

/** query builds the analytics request for a window. */
export function windowQuery(w, extra) {
  return Object.assign({
    from: new Date(w.from).toISOString().replace(/\.\d+Z$/, 'Z'),
    to: new Date(w.to + 1000).toISOString().replace(/\.\d+Z$/, 'Z'),
    granularity: w.gran,
  }, extra);
}

/** Dimensions of the analytics API, with labels. */
export const dimensions = [
  ['tag', 'Tag'], ['app', 'App'], ['user', 'User'], ['key', 'API key'], ['model', 'Model'],
  ['provider', 'Provider'], ['api_path', 'API path'], ['region', 'Region'], ['node', 'Node'], ['account', 'Account'],
];

/** dimLabel names a dimension value, "(none)" for the empty one. */
export const dimValue = (v) => (v === '' ? '(none)' : v);
