// Keys & credits: accounts and balances, credit grants (each carrying an
// Idempotency-Key, so a retried grant is applied once), and the account's
// keys with their limits and usage. A management key sees its own account
// only, through the provisioning API; only the admin key grants credits.

import { call, analytics, isAdmin, session } from '../api.js';
import { h, card, empty, table, pill, field, select, timeWindow, windowQuery } from '../dom.js';
import * as fmt from '../fmt.js';

/** newIdempotencyKey returns a random grant key (works outside secure contexts). */
function newIdempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(12));
  return 'ui-grant-' + [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

export async function render(main, arg) {
  main.append(h('div', { class: 'toolbar' }, h('h1', {}, 'Keys & credits')));
  if (!isAdmin()) {
    await accountView(main, session.account.id);
    return;
  }
  const list = h('div', {});
  main.append(card('Accounts', list, createAccountForm()));
  const accts = (await call('GET', '/admin/v1/accounts')).data || [];
  if (!accts.length) {
    list.replaceChildren(empty('No accounts yet', 'Create one below, or seed accounts in the config.'));
    return;
  }
  const selected = accts.find((a) => a.id === arg || a.name === arg) || accts[0];
  list.replaceChildren(table([
    { label: 'Account', cell: (a) => h('a', { href: '#/keys/' + encodeURIComponent(a.id), class: a.id === selected.id ? 'active' : null }, a.name) },
    { label: 'ID', cell: (a) => h('span', { class: 'mono' }, a.id) },
    { label: 'Credits', num: true, cell: (a) => fmt.usd(fmt.nano(a.total_credits)) },
    { label: 'Usage', num: true, cell: (a) => fmt.usd(fmt.nano(a.total_usage)) },
    { label: 'Balance', num: true, cell: (a) => h('td', { class: 'num' + (fmt.nano(a.balance) < 0 ? ' bad' : '') }, fmt.usd(fmt.nano(a.balance))) },
    { label: 'Keys', num: true, cell: (a) => String(a.keys) },
  ], accts, { id: 'accounts-table' }));
  await accountView(main, selected.id, selected.name);
}

function createAccountForm() {
  const name = h('input', { id: 'new-account', type: 'text', placeholder: 'name', required: true });
  const msg = h('span', { class: 'error' });
  const form = h('form', { class: 'toolbar', id: 'account-form' }, field('New account', name), h('button', { type: 'submit' }, 'Create'), msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const r = await call('POST', '/admin/v1/accounts', { body: { name: name.value.trim() } });
      location.hash = '#/keys/' + encodeURIComponent(r.data.id);
    } catch (e) {
      msg.textContent = e.message;
    }
  });
  return h('div', { class: 'note' }, form);
}

/** paths of the account's API, by who is signed in. */
function paths(id) {
  const base = '/admin/v1/accounts/' + encodeURIComponent(id);
  return isAdmin()
    ? { credits: base + '/credits', keys: base + '/keys', key: (hash) => '/admin/v1/keys/' + hash }
    : { credits: '/api/v1/credits', keys: '/api/v1/keys', key: (hash) => '/api/v1/keys/' + hash };
}

async function accountView(main, id, name) {
  const p = paths(id);
  const summary = h('div', {});
  const keysHost = h('div', {});
  const grantsHost = h('div', {});
  const title = isAdmin() ? `Account ${name}` : `Account ${id}`;
  main.append(h('div', { class: 'grid two' }, card(title, summary, isAdmin() ? grantForm(p, () => refresh()) : null), card('Grants', grantsHost)),
    card('Keys', keysHost, createKeyForm(p, () => refresh())));

  const refresh = async () => {
    const [cr, keys, cost] = await Promise.all([
      call('GET', p.credits),
      call('GET', p.keys),
      analytics(windowQuery(timeWindow('24h'), { granularity: 'day', group_by: ['key'], metrics: ['requests', 'cost'], ...(isAdmin() ? { account: id } : {}) })),
    ]);
    const c = cr.data;
    const credits = fmt.nano(c.total_credits), used = fmt.nano(c.total_usage);
    const balance = c.balance !== undefined ? fmt.nano(c.balance) : credits - used;
    summary.replaceChildren(h('div', { class: 'kpis' },
      h('div', { class: 'kpi' }, h('div', { class: 'v', id: 'acct-balance', dataset: { nano: String(balance) } }, fmt.usd(balance)), h('div', { class: 'l' }, 'Balance')),
      h('div', { class: 'kpi' }, h('div', { class: 'v', id: 'acct-credits', dataset: { nano: String(credits) } }, fmt.usd(credits)), h('div', { class: 'l' }, 'Credits granted')),
      h('div', { class: 'kpi' }, h('div', { class: 'v', id: 'acct-usage' }, fmt.usd(used)), h('div', { class: 'l' }, 'Usage'))));
    const grants = c.grants || [];
    grantsHost.replaceChildren(!isAdmin() ? empty('Credits are granted by the operator') : grants.length ? table([
      { label: 'When', cell: (g) => g.created_at.replace('T', ' ').replace('Z', ' UTC') },
      { label: 'Amount', num: true, cell: (g) => fmt.usd(fmt.nano(g.amount)) },
      { label: 'Idempotency key', cell: (g) => h('span', { class: 'mono' }, g.idempotency_key) },
      { label: 'Node', cell: (g) => g.node },
    ], [...grants].reverse(), { id: 'grants-table' }) : empty('No grants yet'));
    const spent = new Map();
    for (const r of cost.data.rows) {
      const s = spent.get(r.group.key) || { requests: 0, cost: 0 };
      s.requests += r.stats.requests; s.cost += fmt.nano(r.stats.cost);
      spent.set(r.group.key, s);
    }
    drawKeys(keysHost, keys.data || [], spent, p, refresh);
  };
  await refresh();
}

function grantForm(p, done) {
  const amount = h('input', { id: 'grant-amount', type: 'text', inputmode: 'decimal', placeholder: 'USD, e.g. 25 or 12.50', required: true });
  let idem = newIdempotencyKey();
  const idemOut = h('code', { id: 'grant-idem' }, idem);
  const msg = h('span', { id: 'grant-msg', class: 'error', role: 'status' });
  const btn = h('button', { type: 'submit', class: 'primary', id: 'grant-submit' }, 'Grant credits');
  const form = h('form', { id: 'grant-form', class: 'toolbar' }, field('Grant credits (USD)', amount, 'grow'), btn, msg);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const v = amount.value.trim().replace(/^\$/, '');
    if (!/^\d+(\.\d{1,9})?$/.test(v) || !(Number(v) > 0)) {
      msg.textContent = 'Enter a positive amount in USD.';
      return;
    }
    btn.disabled = true;
    msg.textContent = '';
    try {
      // The same key is resent until the grant succeeds: a retry after a
      // lost answer cannot grant twice.
      await call('POST', p.credits, { body: { amount: v }, headers: { 'Idempotency-Key': idem } });
      msg.className = 'ok';
      msg.textContent = `Granted ${fmt.usd(fmt.nano(v))}.`;
      amount.value = '';
      idem = newIdempotencyKey();
      idemOut.textContent = idem;
      await done();
    } catch (e) {
      msg.className = 'error';
      msg.textContent = e.message;
    } finally {
      btn.disabled = false;
    }
  });
  return h('div', {}, form, h('p', { class: 'note' }, 'Idempotency key for this grant: ', idemOut));
}

function drawKeys(host, keys, spent, p, refresh) {
  if (!keys.length) {
    host.replaceChildren(empty('No keys', 'Create one below.'));
    return;
  }
  const toggle = (k) => h('button', { type: 'button', class: 'link', dataset: { hash: k.hash }, onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      await call('PATCH', p.key(k.hash), { body: { disabled: !k.disabled } });
    } finally {
      await refresh();
    }
  } }, k.disabled ? 'Enable' : 'Disable');
  const limit = (k) => (k.limit === null ? 'none' : fmt.usd(fmt.nano(k.limit)) + (k.limit_reset ? ' / ' + k.limit_reset.replace('ly', '') : ''));
  host.replaceChildren(table([
    { label: 'Name', cell: (k) => h('strong', {}, k.name || k.label) },
    { label: 'Hash', cell: (k) => h('span', { class: 'mono', title: k.hash }, k.hash.slice(0, 12) + '…') },
    { label: 'Type', cell: (k) => (k.management ? pill('management') : 'inference') },
    { label: 'Status', cell: (k) => (k.disabled ? pill('disabled', 'bad') : pill('active', 'ok')) },
    { label: 'Limit', num: true, cell: (k) => limit(k) },
    { label: 'Remaining', num: true, cell: (k) => (k.limit_remaining === null ? '–' : fmt.usd(fmt.nano(k.limit_remaining))) },
    { label: 'Usage today', num: true, cell: (k) => fmt.usd(fmt.nano(k.usage_daily)) },
    { label: 'This month', num: true, cell: (k) => fmt.usd(fmt.nano(k.usage_monthly)) },
    { label: 'All time', num: true, cell: (k) => fmt.usd(fmt.nano(k.usage)) },
    { label: 'Requests 24 h', num: true, cell: (k) => fmt.int((spent.get(k.hash) || {}).requests || 0) },
    { label: '', cell: (k) => toggle(k) },
  ], keys, { id: 'keys-table' }));
}

function createKeyForm(p, done) {
  const name = h('input', { id: 'key-name', type: 'text', placeholder: 'name', required: true });
  const limit = h('input', { id: 'key-limit', type: 'text', inputmode: 'decimal', placeholder: 'none' });
  const reset = select('key-reset', [['', 'never'], ['daily', 'daily'], ['weekly', 'weekly'], ['monthly', 'monthly']], '');
  const mgmt = h('input', { id: 'key-mgmt', type: 'checkbox' });
  const out = h('div', { id: 'key-secret' });
  const form = h('form', { class: 'toolbar', id: 'key-form' },
    field('New key', name), field('Limit (USD)', limit), field('Limit resets', reset),
    isAdmin() ? h('div', { class: 'field' }, h('label', { for: 'key-mgmt' }, 'Management'), mgmt) : null,
    h('button', { type: 'submit' }, 'Create key'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim() };
    if (limit.value.trim()) body.limit = limit.value.trim().replace(/^\$/, '');
    if (reset.value) body.limit_reset = reset.value;
    if (isAdmin() && mgmt.checked) body.management = true;
    try {
      const r = await call('POST', p.keys, { body });
      name.value = ''; limit.value = '';
      await done();
      out.replaceChildren(h('p', { class: 'note' }, 'Copy the key now; it is not shown again:'), h('div', { class: 'secret mono' }, r.key));
    } catch (e) {
      out.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  });
  return h('div', { class: 'note' }, form, out);
}
