// Generations: one request looked up by id (X-Generation-Id, or the "id"
// of a completion): cost, tokens, the providers tried and where the time
// went.

import { generation } from '../api.js';
import { h, card, empty, table, pill } from '../dom.js';
import { palette } from '../chart.js';
import * as fmt from '../fmt.js';

export async function render(main, arg) {
  const input = h('input', { id: 'gen-id', type: 'text', placeholder: 'gen-…', value: arg || '', spellcheck: 'false' });
  const form = h('form', { class: 'card toolbar', id: 'gen-form' },
    h('div', { class: 'field grow' }, h('label', { for: 'gen-id' }, 'Generation id'), input),
    h('button', { type: 'submit', class: 'primary' }, 'Look up'));
  const out = h('div', { class: 'grid', id: 'gen-out' });
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Generations')), form, out);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const id = input.value.trim();
    if (id) location.hash = '#/generations/' + encodeURIComponent(id);
  });
  if (!arg) {
    out.append(card('', empty('Look a request up by its id',
      'Every response carries X-Generation-Id; streamed chunks carry it as "id".')));
    return;
  }
  try {
    const g = (await generation(arg)).data;
    show(out, g);
  } catch (e) {
    out.append(card('', h('div', { class: 'empty bad', role: 'alert' }, e.status === 404 ? 'No generation with that id.' : e.message)));
  }
}

function show(out, g) {
  const ok = g.status >= 200 && g.status < 300;
  const facts = h('dl', { class: 'facts' });
  const add = (k, v) => { if (v !== undefined && v !== null && v !== '') facts.append(h('dt', {}, k), h('dd', {}, v)); };
  add('Status', pill(String(g.status) + (g.finish_reason ? ' · ' + g.finish_reason : ''), ok ? 'ok' : 'bad'));
  add('Model', g.model);
  add('Provider', g.provider_name + (g.upstream_model ? ' (' + g.upstream_model + ')' : ''));
  add('Cost', h('span', { id: 'gen-cost', dataset: { nano: String(fmt.nano(g.total_cost)) } }, fmt.usd(fmt.nano(g.total_cost))));
  add('Tokens', `${fmt.int(g.tokens_prompt)} prompt · ${fmt.int(g.tokens_completion)} completion` +
    (g.native_tokens_reasoning ? ` · ${fmt.int(g.native_tokens_reasoning)} reasoning` : '') +
    (g.native_tokens_cached ? ` · ${fmt.int(g.native_tokens_cached)} cached` : ''));
  add('Created', g.created_at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC'));
  add('API path', g.api_path);
  add('Streamed', g.streamed ? 'yes' + (g.cancelled ? ' (cancelled by the client)' : '') : 'no');
  add('Tags', g.tags.length ? h('span', {}, g.tags.map((t) => [pill(t), ' '])) : '');
  add('App', g.app);
  add('User', g.user);
  add('Session', g.session_id);
  add('Node', g.node + (g.region ? ' · ' + g.region : ''));
  add('Key', h('span', { class: 'mono' }, g.key_hash));

  // Latency breakdown: failed attempts, then waiting for the first token,
  // then generating.
  const failed = g.attempts.filter((a) => !(a.status >= 200 && a.status < 300)).reduce((s, a) => s + a.latency, 0);
  const ttft = g.time_to_first_token || 0;
  const total = g.latency || 0;
  const gen = g.generation_time || 0;
  const wait = Math.max(0, (ttft ? ttft : total - gen) - failed);
  const parts = [
    ['Failed attempts', failed, '#c62828'],
    ['Until first token', wait, palette[0]],
    ['Generating', gen, palette[2]],
  ].filter((p) => p[1] > 0);
  const bar = h('div', { class: 'breakdown', id: 'gen-breakdown' });
  for (const [name, v, color] of parts) {
    const d = h('div', { title: `${name}: ${fmt.ms(v)}` });
    d.style.width = (100 * v / Math.max(total, parts.reduce((s, p) => s + p[1], 0))).toFixed(2) + '%';
    d.style.background = color;
    bar.append(d);
  }
  const legend = h('div', { class: 'legend chart' }, parts.map(([name, v, color]) => {
    const sw = h('i', { class: 'swatch' });
    sw.style.background = color;
    return h('span', {}, sw, `${name} ${fmt.ms(v)}`);
  }));
  const timing = h('dl', { class: 'facts' },
    h('dt', {}, 'Total latency'), h('dd', {}, fmt.ms(total)),
    h('dt', {}, 'Time to first token'), h('dd', {}, ttft ? fmt.ms(ttft) : '–'),
    h('dt', {}, 'Generation time'), h('dd', {}, fmt.ms(gen)),
    h('dt', {}, 'Throughput'), h('dd', {}, gen > 0 ? (g.tokens_completion / (gen / 1000)).toFixed(0) + ' tok/s' : '–'));
  const attempts = g.attempts.length ? table([
    { label: '#', cell: (a) => String(g.attempts.indexOf(a) + 1) },
    { label: 'Provider', cell: (a) => a.provider },
    { label: 'Model', cell: (a) => a.model },
    { label: 'Status', cell: (a) => pill(String(a.status), a.status >= 200 && a.status < 300 ? 'ok' : 'bad') },
    { label: 'Latency', num: true, cell: (a) => fmt.ms(a.latency) },
    { label: 'Error', cell: (a) => a.error || '' },
  ], g.attempts, { id: 'gen-attempts' }) : empty('No provider was tried');
  out.append(h('div', { class: 'grid two' }, card(g.id, facts), card('Latency', bar, legend, timing)), card('Attempts', attempts));
}
