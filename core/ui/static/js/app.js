// Entry point: sign-in, navigation between pages (#/page), and the page
// lifecycle (each page may return a stop function for its timers).

import { session, login, logout, restore, isAdmin } from './api.js';
import { errorBox } from './dom.js';
import * as overview from './pages/overview.js';
import * as usage from './pages/usage.js';
import * as providers from './pages/providers.js';
import * as keys from './pages/keys.js';
import * as generations from './pages/generations.js';
import * as cluster from './pages/cluster.js';

const pages = { overview, usage, providers, keys, generations, cluster };
const adminOnly = new Set(['providers', 'cluster']);

const $ = (id) => document.getElementById(id);
let stop = null;
let seq = 0;

function showLogin(msg) {
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = msg || '';
  $('login-key').focus();
}

function showApp() {
  $('login').hidden = true;
  $('app').hidden = false;
  $('who').textContent = isAdmin() ? 'admin' : 'management key ' + (session.account.name || '') + ' · ' + session.account.id;
  for (const a of document.querySelectorAll('#nav a[data-admin]')) a.hidden = !isAdmin();
  route();
}

/** route renders the page named by the location hash. */
async function route() {
  if (!session.key) return;
  let [name, arg] = location.hash.replace(/^#\/?/, '').split('/');
  if (!pages[name] || (adminOnly.has(name) && !isAdmin())) name = 'overview';
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === name);
  if (stop) stop();
  stop = null;
  const main = $('main');
  main.replaceChildren();
  main.dataset.page = name;
  main.dataset.ready = '';
  document.title = 'Tollgate · ' + document.querySelector(`#nav a[data-page="${name}"]`).textContent;
  const my = ++seq;
  try {
    const s = await pages[name].render(main, arg ? decodeURIComponent(arg) : '');
    if (my !== seq) { if (s) s(); return; }
    stop = s || null;
  } catch (e) {
    if (my === seq) main.append(errorBox(e));
  }
  if (my === seq) main.dataset.ready = '1';
}

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const btn = ev.target.querySelector('button');
  btn.disabled = true;
  try {
    await login($('login-key').value.trim());
    $('login-key').value = '';
    showApp();
  } catch (e) {
    showLogin(e.status === 401 ? 'That key is not valid here.' : e.message);
  } finally {
    btn.disabled = false;
  }
});

$('logout').addEventListener('click', () => {
  if (stop) stop();
  stop = null;
  logout();
  $('main').replaceChildren();
  showLogin();
});

window.addEventListener('hashchange', route);

restore().then((ok) => (ok ? showApp() : showLogin()));
