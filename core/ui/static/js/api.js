// The dashboard's only data path: the admin and analytics JSON APIs of the
// admin listener, called with the key the operator signed in with.

const STORE = 'tollgate.dashboard.key';

/** Who is signed in: mode is "admin" or "management" (one account). */
export const session = { key: '', mode: '', account: null };

/** APIError carries the HTTP status and the OpenAI-shape error message. */
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * call sends one request and returns the decoded JSON body (or the text,
 * when accept is text/csv). Non-2xx answers throw APIError.
 */
export async function call(method, path, { body, headers, accept } = {}) {
  const h = { Authorization: 'Bearer ' + session.key };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  if (accept) h.Accept = accept;
  Object.assign(h, headers || {});
  const resp = await fetch(path, {
    method, headers: h, cache: 'no-store', credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  if (resp.ok && accept === 'text/csv') return text;
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!resp.ok) {
    const msg = json && json.error && json.error.message ? json.error.message : `HTTP ${resp.status}`;
    throw new APIError(resp.status, msg);
  }
  return json;
}

/** isAdmin reports whether the admin key is signed in. */
export const isAdmin = () => session.mode === 'admin';

/**
 * login checks key: a management key describes itself on GET /api/v1/key,
 * the admin key lists accounts; any other key is refused. Keys that look
 * like Tollgate keys are tried as management keys first, so neither kind
 * of sign-in meets a 401 on its way.
 */
export async function login(key) {
  session.key = key;
  session.mode = '';
  session.account = null;
  try {
    if (key.startsWith('sk-tg-')) {
      try {
        const k = await call('GET', '/api/v1/key');
        if (!k.data.is_management_key) {
          throw new APIError(403, 'This is an inference key. Sign in with the admin key or a management key.');
        }
        session.mode = 'management';
        session.account = { id: k.data.account_id, name: k.data.name || k.data.label };
      } catch (e) {
        if (!(e instanceof APIError) || e.status !== 401) throw e;
      }
    }
    if (!session.mode) {
      await call('GET', '/admin/v1/accounts');
      session.mode = 'admin';
    }
  } catch (e) {
    session.key = '';
    throw e;
  }
  sessionStorage.setItem(STORE, key);
}

/** restore signs in again with the key kept for this browser tab. */
export async function restore() {
  const key = sessionStorage.getItem(STORE);
  if (!key) return false;
  try {
    await login(key);
    return true;
  } catch {
    logout();
    return false;
  }
}

export function logout() {
  sessionStorage.removeItem(STORE);
  session.key = '';
  session.mode = '';
  session.account = null;
}

/** analytics runs POST …/analytics/query (admin or own account). */
export function analytics(query, accept) {
  const path = isAdmin() ? '/admin/v1/analytics/query' : '/api/v1/analytics/query';
  return call('POST', path, { body: query, accept });
}

/** generation looks one generation up by id. */
export function generation(id) {
  const q = '?id=' + encodeURIComponent(id);
  return call('GET', (isAdmin() ? '/admin/v1/generation' : '/api/v1/generation') + q);
}
