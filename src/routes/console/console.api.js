// The admin API client: the token kept for the session, and calls that
// answer JSON or throw the API's own error message.

const TOKEN_KEY = 'alvares.adminToken';
export const PAGE_SIZE = 50;
/** The most a listing answers per page (`limit`). */
export const MOST_PER_PAGE = 500;

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function keepToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/**
 * Calls the admin API (paths relative to the console, so a path prefix in
 * front of the service works) and answers its JSON, or throws an ApiError
 * carrying the API's own error message.
 */
export async function api(method, path, body, bearer = token()) {
  const headers = { Authorization: `Bearer ${bearer}`, Accept: 'application/json' };
  const init = { method, headers, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, `the service did not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const detail = data && data.message
      ? `${data.error || 'error'}: ${data.message}${data.field ? ` (${data.field})` : ''}${data.line ? ` (line ${data.line})` : ''}`
      : (text || response.statusText).slice(0, 200);
    throw new ApiError(response.status, `HTTP ${response.status} ${detail}`);
  }
  return data;
}

/** The subscribers' ids in an `/admin/actors` answer. */
export function subscriberIds(answer) {
  return (answer.actors || []).filter((a) => a.role === 'subscriber').map((a) => a.id);
}

let onRefused = () => {};

/** What to do when the API refuses the token (the console signs out). */
export function whenRefused(callback) {
  onRefused = callback;
}

/** A refused token while signed in: back to the sign-in form, saying why. */
export function handleRefusal(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    onRefused(`Signed out: ${error.message}`);
    return true;
  }
  return false;
}
