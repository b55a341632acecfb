// Cluster: members with regions, states and ledger epochs, how recently
// each was heard from (how far behind its replicated state can be), the
// regions, and the gossip counters.

import { call } from '../api.js';
import { h, card, table, pill } from '../dom.js';
import * as fmt from '../fmt.js';

export async function render(main) {
  const body = h('div', { class: 'grid' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Cluster')), body);
  const load = async () => draw(body, await call('GET', '/admin/v1/cluster'));
  await load();
  const timer = setInterval(() => load().catch(() => {}), 5000);
  return () => clearInterval(timer);
}

const stateCls = { alive: 'ok', suspect: 'warn', dead: 'bad', left: '' };

function draw(body, c) {
  const kpi = (label, value, cls) => h('div', { class: 'kpi' }, h('div', { class: 'v ' + (cls || '') }, value), h('div', { class: 'l' }, label));
  const kpis = h('div', { class: 'kpis' },
    kpi('This node', c.node),
    kpi('Region', c.region || '–'),
    kpi('Ledger epoch', String(c.epoch)),
    kpi('Members alive', `${c.members_alive} / ${c.members_known}`, c.members_alive === c.members_known ? 'ok' : 'warn'),
    kpi('Quorum', c.majority ? 'majority' : 'minority', c.majority ? 'ok' : 'bad'),
    kpi('Ledger', c.partitioned ? 'partitioned' : 'normal', c.partitioned ? 'bad' : 'ok'));
  const members = table([
    { label: 'Member', cell: (m) => h('strong', {}, m.name + (m.local ? ' (this node)' : '')) },
    { label: 'Region', cell: (m) => m.region || '–' },
    { label: 'State', cell: (m) => pill(m.state + (m.bad_meta ? ' · bad metadata' : ''), m.bad_meta ? 'bad' : stateCls[m.state]) },
    { label: 'Epoch', num: true, cell: (m) => String(m.epoch) },
    { label: 'Last heard', num: true, cell: (m) => (m.local ? '–' : fmt.ago(m.last_seen_ago_seconds)) },
    { label: 'API', cell: (m) => h('span', { class: 'mono' }, m.api_addr || '–') },
    { label: 'Admin', cell: (m) => h('span', { class: 'mono' }, m.admin_addr || '–') },
    { label: 'Gossip', cell: (m) => h('span', { class: 'mono' }, m.addr || '–') },
    { label: 'Version', cell: (m) => m.version || '–' },
  ], c.members || [], { id: 'cluster-members' });
  const regions = table([
    { label: 'Region', cell: (r) => r.region || '–' },
    { label: 'Alive', num: true, cell: (r) => String(r.alive) },
    { label: 'Members', num: true, cell: (r) => String(r.members) },
  ], c.regions || []);
  const parts = [kpis, card('Members', members, h('p', { class: 'note' }, c.enabled
    ? 'Replication is by gossip: a member last heard from n seconds ago may lag by about that much; ledger state converges by anti-entropy.'
    : 'Clustering is off: this node runs alone (cluster.enabled: false).'))];
  const row = [card('Regions', regions)];
  if (c.stats) {
    const s = c.stats;
    const dropped = Object.entries(s.dropped || {}).reduce((a, [, v]) => a + v, 0);
    const g = h('dl', { class: 'facts' });
    for (const [k, v] of [['Broadcast queue', s.broadcast_queue], ['Messages sent', s.sent], ['Messages received', s.received],
      ['Coalesced', s.coalesced], ['Reliable (TCP) sends', s.reliable_sends], ['Push/pull merges', s.pushpull_merges],
      ['Repair bytes', s.repair_bytes], ['Duplicates', s.duplicates], ['Stale', s.stale], ['Dropped', dropped],
      ['Rejected (key / label)', `${s.rejected_key} / ${s.rejected_label}`]]) {
      g.append(h('dt', {}, k), h('dd', {}, typeof v === 'number' ? fmt.int(v) : v));
    }
    row.push(card('Replication', g));
  }
  parts.push(h('div', { class: 'grid two' }, row));
  body.replaceChildren(...parts);
}
