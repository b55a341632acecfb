// Usage & cost: any analytics dimension as the group, optional filter,
// a stacked chart of the top groups over time, the per-group table and a
// CSV export of the same query.

import { analytics } from '../api.js';
import { h, card, empty, select, field, table, ranges, timeWindow, windowQuery, dimensions, dimValue } from '../dom.js';
import { timeChart, palette, otherColor } from '../chart.js';
import * as fmt from '../fmt.js';

const metrics = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost'];
const chartMetrics = [['cost', 'Cost'], ['requests', 'Requests'], ['total_tokens', 'Tokens']];
const state = { group: 'model', metric: 'cost', range: '24h', filterDim: 'tag', filterVals: '' };
const topN = 8;

export async function render(main) {
  const groupSel = select('usage-group', dimensions, state.group);
  const metricSel = select('usage-metric', chartMetrics, state.metric);
  const rangeSel = select('usage-range', ranges.map((r) => [r[0], r[1]]), state.range);
  const filterDim = select('usage-filter-dim', dimensions, state.filterDim);
  const filterVals = h('input', { id: 'usage-filter', type: 'text', placeholder: 'values, comma-separated', value: state.filterVals });
  const csv = h('button', { type: 'button', id: 'usage-csv' }, 'Export CSV');
  const body = h('div', { class: 'grid' });
  main.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Usage & cost')),
    h('section', { class: 'card toolbar' },
      field('Group by', groupSel), field('Chart', metricSel), field('Time range', rangeSel),
      field('Filter', filterDim), field('Filter values', filterVals, 'grow'), csv),
    body);
  const query = () => {
    const w = timeWindow(state.range);
    const q = windowQuery(w, { group_by: [state.group], metrics });
    const vals = state.filterVals.split(',').map((s) => s.trim()).filter(Boolean);
    if (vals.length) q.filters = { [state.filterDim]: vals };
    return { w, q };
  };
  // Changes can overlap (two selects changed in a row): only the latest
  // query may draw, or a slower earlier answer would overwrite it.
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    const { w, q } = query();
    body.dataset.ready = '';
    try {
      const res = await analytics(q);
      if (mine !== seq) return;
      draw(body, w, res.data);
    } catch (e) {
      if (mine !== seq) return;
      body.replaceChildren(card('', h('div', { class: 'empty bad', role: 'alert' }, e.message)));
    }
    body.dataset.ready = '1';
  };
  const change = () => {
    Object.assign(state, { group: groupSel.value, metric: metricSel.value, range: rangeSel.value,
      filterDim: filterDim.value, filterVals: filterVals.value });
    load();
  };
  for (const s of [groupSel, metricSel, rangeSel, filterDim]) s.addEventListener('change', change);
  filterVals.addEventListener('change', change);
  csv.addEventListener('click', async () => {
    const { q } = query();
    q.metrics = metrics;
    const text = await analytics(q, 'text/csv');
    const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    const a = h('a', { href: url, download: `tollgate-usage-by-${state.group}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });
  await load();
}

function metricValue(stats, m) {
  return m === 'cost' ? fmt.nano(stats.cost) : stats[m];
}

function draw(body, w, data) {
  const dim = data.group_by[0];
  const totals = new Map();
  for (const r of data.rows) {
    const g = r.group[dim];
    let t = totals.get(g);
    if (!t) {
      t = { group: g, requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0 };
      totals.set(g, t);
    }
    for (const m of metrics) t[m] += metricValue(r.stats, m);
  }
  const rows = [...totals.values()].sort((a, b) => b.cost - a.cost || b.requests - a.requests || (a.group < b.group ? -1 : 1));
  if (!rows.length) {
    body.replaceChildren(card('', empty('No usage in this range',
      'Nothing matches the range and filter. Requests are attributed by model, provider, key, app (X-Title), user, tags (X-Tollgate-Tags or metadata.tags) and API path.')));
    return;
  }
  // Chart: the top groups by the chart metric, the rest as "other".
  const byMetric = [...rows].sort((a, b) => b[state.metric] - a[state.metric]);
  const top = byMetric.slice(0, topN).map((r) => r.group);
  const color = new Map(top.map((g, i) => [g, palette[i % palette.length]]));
  const series = top.map((g) => ({ name: dimValue(g), color: color.get(g), values: w.buckets.map(() => 0) }));
  const other = { name: 'other', color: otherColor, values: w.buckets.map(() => 0) };
  const idx = new Map(w.buckets.map((b, i) => [b, i]));
  for (const r of data.rows) {
    const i = idx.get(Date.parse(r.bucket));
    if (i === undefined) continue;
    const k = top.indexOf(r.group[dim]);
    (k >= 0 ? series[k] : other).values[i] += metricValue(r.stats, state.metric);
  }
  if (other.values.some((v) => v > 0)) series.push(other);
  const chart = h('div', { id: 'usage-chart' });
  const sum = { requests: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost: 0 };
  for (const r of rows) for (const m of metrics) sum[m] += r[m];
  const dimName = (dimensions.find((d) => d[0] === dim) || [dim, dim])[1];
  const label = (g) => {
    const text = dim === 'key' && g ? g.slice(0, 12) + '…' : dimValue(g);
    return h('td', { class: 'group', title: g, dataset: { group: g } },
      h('i', { class: 'swatch', dataset: { color: color.get(g) || otherColor } }), text);
  };
  const tbl = table([
    { label: dimName, cell: (r) => label(r.group) },
    { label: 'Requests', num: true, cell: (r) => fmt.int(r.requests) },
    { label: 'Errors', num: true, cell: (r) => (r.errors ? fmt.int(r.errors) : '0') },
    { label: 'Prompt tokens', num: true, cell: (r) => fmt.int(r.prompt_tokens) },
    { label: 'Completion tokens', num: true, cell: (r) => fmt.int(r.completion_tokens) },
    { label: 'Cost', num: true, cell: (r) => h('td', { class: 'num cost', dataset: { nano: String(r.cost) } }, fmt.usd(r.cost)) },
    { label: 'Share', num: true, cell: (r) => (sum.cost ? fmt.pct(r.cost / sum.cost) : '–') },
  ], rows, {
    id: 'usage-table',
    foot: data.per_tag ? null : h('tr', { class: 'total' }, h('td', {}, 'Total'), h('td', { class: 'num' }, fmt.int(sum.requests)),
      h('td', { class: 'num' }, fmt.int(sum.errors)), h('td', { class: 'num' }, fmt.int(sum.prompt_tokens)),
      h('td', { class: 'num' }, fmt.int(sum.completion_tokens)), h('td', { class: 'num', id: 'usage-total-cost' }, fmt.usd(sum.cost)), h('td', { class: 'num' }, '100%')),
  });
  // Swatch colours go through the CSSOM (the CSP forbids style attributes).
  for (const sw of tbl.querySelectorAll('.swatch')) sw.style.background = sw.dataset.color;
  const notes = [];
  if (data.per_tag) notes.push(h('p', { class: 'note' }, 'A request with several tags counts under each of them, so the tag rows add up to more than the total.'));
  if (data.missing_nodes && data.missing_nodes.length) notes.push(h('p', { class: 'note warn' }, 'Nodes that did not answer: ' + data.missing_nodes.join(', ')));
  const metricName = chartMetrics.find((m) => m[0] === state.metric)[1];
  body.replaceChildren(card(`${metricName} by ${dimName.toLowerCase()}`, chart), card(`${rows.length} ${rows.length === 1 ? 'group' : 'groups'} · ${w.label.toLowerCase()}`, tbl, ...notes));
  timeChart(chart, { buckets: w.buckets, gran: w.gran, series, height: 240, legend: true,
    fmt: state.metric === 'cost' ? fmt.usd : fmt.compact, label: `${metricName} by ${dimName}` });
}
