// Providers: this node's live routing statistics per endpoint (EWMA TTFT
// and throughput, decayed error rate, 30-minute uptime, circuit state,
// cooldowns), refreshed every 5 s, and the last hour per provider and
// region from the cluster-wide analytics.

import { call, analytics } from '../api.js';
import { h, card, empty, table, pill, timeWindow, windowQuery, dimValue } from '../dom.js';
import * as fmt from '../fmt.js';

const circuits = ['closed', 'open', 'half-open'];

export async function render(main) {
  const live = h('div', {});
  const regional = h('div', {});
  const cl = await call('GET', '/admin/v1/cluster');
  main.append(
    h('div', { class: 'toolbar' }, h('h1', {}, 'Providers'), h('div', { class: 'spacer' }),
      h('span', { class: 'muted' }, `live on node ${cl.node}` + (cl.region ? ` · region ${cl.region}` : ''))),
    card('Live endpoint health', live),
    card('Last hour by provider and region', regional));
  const load = async () => {
    const [prov, res] = await Promise.all([
      call('GET', '/admin/v1/providers'),
      analytics(windowQuery(timeWindow('1h'), { granularity: 'hour', group_by: ['provider', 'region'],
        metrics: ['requests', 'errors', 'completion_tokens', 'cost', 'latency_avg', 'ttft_avg'] })),
    ]);
    drawLive(live, prov.data || []);
    drawRegional(regional, res.data);
  };
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}

function drawLive(host, eps) {
  if (!eps.length) {
    host.replaceChildren(empty('No endpoints', 'The catalog has no models with endpoints yet.'));
    return;
  }
  eps.sort((a, b) => (a.provider + a.model < b.provider + b.model ? -1 : 1));
  const state = (s) => {
    const c = circuits[s.Circuit] || 'invalid';
    const cd = fmt.until(s.CooldownUntil);
    const out = fmt.until(s.OutageUntil);
    const parts = [pill(c, c === 'closed' ? (s.Healthy ? 'ok' : 'warn') : 'bad')];
    if (cd) parts.push(' ', pill('cooldown ' + cd, 'warn'));
    if (out) parts.push(' ', pill('outage ' + out, 'bad'));
    return h('span', {}, parts);
  };
  const ns = (v) => fmt.ms(v / 1e6);
  host.replaceChildren(table([
    { label: 'Provider', cell: (e) => h('strong', {}, e.provider) },
    { label: 'Model', cell: (e) => e.model },
    { label: 'Circuit', cell: (e) => state(e.stats) },
    { label: 'TTFT (EWMA)', num: true, cell: (e) => ns(e.stats.TTFT) },
    { label: 'Latency (EWMA)', num: true, cell: (e) => ns(e.stats.Latency) },
    { label: 'Throughput', num: true, cell: (e) => (e.stats.Throughput ? e.stats.Throughput.toFixed(0) + ' tok/s' : '–') },
    { label: 'Error rate', num: true, cell: (e) => fmt.pct(e.stats.ErrorRate) },
    { label: 'Uptime 30 m', num: true, cell: (e) => {
      const w = e.stats.Last30m;
      const cls = w.Uptime >= 99 ? 'ok' : w.Uptime >= 90 ? 'warn' : 'bad';
      return h('td', { class: 'num ' + cls }, w.Requests ? w.Uptime.toFixed(1) + '%' : '–');
    } },
    { label: 'Req 30 m', num: true, cell: (e) => fmt.int(e.stats.Last30m.Requests) },
    { label: 'p99 30 m', num: true, cell: (e) => ns(e.stats.Last30m.Latency.P99) },
    { label: 'In flight', num: true, cell: (e) => String(e.stats.InFlight) },
    { label: 'Fails', num: true, cell: (e) => String(e.stats.ConsecutiveFailures) },
    { label: 'Conns', num: true, cell: (e) => String(e.upstream_connections) },
  ], eps, { id: 'providers-table' }), h('p', { class: 'note' }, 'EWMAs are of successful attempts; the error rate decays with its half-life. Refreshed every 5 s.'));
}

function drawRegional(host, data) {
  const agg = new Map();
  for (const r of data.rows) {
    const k = r.group.provider + '\u0000' + r.group.region;
    let a = agg.get(k);
    if (!a) {
      a = { provider: r.group.provider, region: r.group.region, requests: 0, errors: 0, tokens: 0, cost: 0, lat: 0, ttft: 0 };
      agg.set(k, a);
    }
    a.requests += r.stats.requests; a.errors += r.stats.errors; a.tokens += r.stats.completion_tokens;
    a.cost += fmt.nano(r.stats.cost);
    a.lat += r.stats.latency_avg * r.stats.requests; a.ttft += r.stats.ttft_avg * r.stats.requests;
  }
  const rows = [...agg.values()].sort((a, b) => b.requests - a.requests);
  if (!rows.length) {
    host.replaceChildren(empty('No requests in the last hour'));
    return;
  }
  host.replaceChildren(table([
    { label: 'Provider', cell: (r) => dimValue(r.provider) },
    { label: 'Region', cell: (r) => dimValue(r.region) },
    { label: 'Requests', num: true, cell: (r) => fmt.int(r.requests) },
    { label: 'Error rate', num: true, cell: (r) => fmt.pct(r.errors / r.requests) },
    { label: 'Avg latency', num: true, cell: (r) => fmt.ms(r.lat / r.requests) },
    { label: 'Avg TTFT', num: true, cell: (r) => fmt.ms(r.ttft / r.requests) },
    { label: 'Completion tokens', num: true, cell: (r) => fmt.int(r.tokens) },
    { label: 'Cost', num: true, cell: (r) => fmt.usd(r.cost) },
  ], rows, { id: 'providers-regions' }));
}
