// Overview: requests, error rate, tokens and cost over a time range, with
// latency and time-to-first-token percentiles per bucket.

import { analytics } from '../api.js';
import { h, card, empty, select, field, ranges, timeWindow, windowQuery } from '../dom.js';
import { timeChart, palette } from '../chart.js';
import * as fmt from '../fmt.js';

const metrics = ['requests', 'errors', 'prompt_tokens', 'completion_tokens', 'cost',
  'latency_p50', 'latency_p95', 'ttft_p50', 'ttft_p95'];

let rangeId = '1h';

export async function render(main) {
  const rangeSel = select('ov-range', ranges.map((r) => [r[0], r[1]]), rangeId);
  const body = h('div', { class: 'grid' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Overview'), h('div', { class: 'spacer' }), field('Time range', rangeSel)), body);
  // A range change, the refresh timer and the first load can overlap:
  // only the latest query may draw.
  let seq = 0;
  const load = async () => {
    const mine = ++seq;
    const w = timeWindow(rangeId);
    const res = await analytics(windowQuery(w, { metrics }));
    if (mine === seq) draw(body, w, res.data);
  };
  rangeSel.addEventListener('change', () => { rangeId = rangeSel.value; load().catch(() => {}); });
  await load();
  const timer = setInterval(() => load().catch(() => {}), 30000);
  return () => clearInterval(timer);
}

function draw(body, w, data) {
  const at = new Map(data.rows.map((r) => [Date.parse(r.bucket), r.stats]));
  const col = (f) => w.buckets.map((b) => (at.has(b) ? f(at.get(b)) : 0));
  const colOrNull = (f) => w.buckets.map((b) => {
    const s = at.get(b);
    return s && s.requests ? f(s) : null;
  });
  let req = 0, errs = 0, pt = 0, ct = 0, cost = 0;
  for (const r of data.rows) {
    req += r.stats.requests; errs += r.stats.errors;
    pt += r.stats.prompt_tokens; ct += r.stats.completion_tokens; cost += fmt.nano(r.stats.cost);
  }
  const kpi = (label, value, id) => h('div', { class: 'kpi' }, h('div', { class: 'v', id }, value), h('div', { class: 'l' }, label));
  const kpis = h('div', { class: 'kpis' },
    kpi('Requests', fmt.int(req), 'kpi-requests'),
    kpi('Error rate', req ? fmt.pct(errs / req) : '–', 'kpi-errors'),
    kpi('Prompt tokens', fmt.compact(pt), 'kpi-prompt'),
    kpi('Completion tokens', fmt.compact(ct), 'kpi-completion'),
    kpi('Cost', fmt.usd(cost), 'kpi-cost'),
    kpi('Cost / 1k requests', req ? fmt.usd(Math.round(cost * 1000 / req)) : '–', 'kpi-cpr'));
  const missing = data.missing_nodes && data.missing_nodes.length
    ? h('p', { class: 'note warn' }, 'Nodes that did not answer: ' + data.missing_nodes.join(', ') + ' — their share is missing.') : null;
  if (!data.rows.length) {
    body.replaceChildren(kpis, card('', empty('No traffic in this range',
      'Send a request through the API listener and it shows up here within seconds.')));
    return;
  }
  const charts = {
    requests: h('div', {}), cost: h('div', {}), tokens: h('div', {}), latency: h('div', {}), ttft: h('div', {}), errors: h('div', {}),
  };
  body.replaceChildren(...[kpis, missing].filter(Boolean),
    h('div', { class: 'grid two' },
      card('Requests', charts.requests), card('Cost', charts.cost),
      card('Latency (p50 / p95)', charts.latency), card('Time to first token (p50 / p95)', charts.ttft),
      card('Tokens', charts.tokens), card('Error rate', charts.errors)));
  const base = { buckets: w.buckets, gran: w.gran, height: 190 };
  timeChart(charts.requests, { ...base, series: [
    { name: 'succeeded', color: palette[0], values: col((s) => s.requests - s.errors) },
    { name: 'failed', color: '#c62828', values: col((s) => s.errors) }], fmt: fmt.compact });
  timeChart(charts.cost, { ...base, series: [{ name: 'cost', color: palette[2], values: col((s) => fmt.nano(s.cost)) }], fmt: fmt.usd });
  timeChart(charts.tokens, { ...base, series: [
    { name: 'prompt', color: palette[3], values: col((s) => s.prompt_tokens) },
    { name: 'completion', color: palette[1], values: col((s) => s.completion_tokens) }], fmt: fmt.compact });
  timeChart(charts.latency, { ...base, kind: 'line', series: [
    { name: 'p50', color: palette[0], values: colOrNull((s) => s.latency_p50) },
    { name: 'p95', color: palette[1], values: colOrNull((s) => s.latency_p95) }], fmt: fmt.ms });
  timeChart(charts.ttft, { ...base, kind: 'line', series: [
    { name: 'p50', color: palette[5], values: colOrNull((s) => s.ttft_p50) },
    { name: 'p95', color: palette[4], values: colOrNull((s) => s.ttft_p95) }], fmt: fmt.ms });
  timeChart(charts.errors, { ...base, kind: 'line', series: [
    { name: 'error rate', color: '#c62828', values: colOrNull((s) => s.errors / s.requests) }], fmt: fmt.pct, legend: true });
}
