// Alvares admin console: plain JavaScript over the admin API.
//
// Everything shown comes from the API and is network data (event payloads
// are whatever a pipeline sent), so it only ever reaches the page through
// textContent and DOM properties, never as markup.
'use strict';

const TOKEN_KEY = 'alvares.adminToken';
const ACTORS_EVERY_MS = 3000;
const LISTS_EVERY_MS = 5000;
const INSIGHTS_EVERY_MS = 60000;
const PAGE_SIZE = 50;
const MOST_PER_PAGE = 500;
const VIEWS = ['actors', 'events', 'dead-letters', 'operator', 'insights'];
const DAY_MS = 86400000;

const $ = (id) => document.getElementById(id);

/** An element with properties (`text`, `className`, `dataset`, attributes) and children. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

function when(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function fromNow(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (Number.isNaN(ms)) return '';
  const seconds = Math.round(Math.abs(ms) / 1000);
  const span = seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  return ms >= 0 ? `in ${span}` : `${span} ago`;
}

function number(value) {
  return value === undefined || value === null ? '–' : String(value);
}

/* ---------- the admin API ---------- */

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/**
 * Calls the admin API (paths relative to the console, so a path prefix in
 * front of the service works) and answers its JSON, or throws an ApiError
 * carrying the API's own error message.
 */
async function api(method, path, body, bearer = token()) {
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

/** A refused token while signed in: back to the sign-in form, saying why. */
function handleRefusal(error) {
  if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
    signOut(`Signed out: ${error.message}`);
    return true;
  }
  return false;
}

/* ---------- sign-in and navigation ---------- */

let current = null; // the visible view
let timer = null; // its refresh
let generation = 0; // bumped on every view change, so stale refreshes stop

function notice(text, failed = false) {
  const node = $('notice');
  show(node, text);
  node.classList.toggle('failed', failed);
}

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  actors.cards.clear();
  actors.subscribers = [];
  events.items = [];
  events.open.clear();
  deadLetters.items = [];
  $('actors').replaceChildren();
  $('events').replaceChildren();
  $('dead-letters').replaceChildren();
  $('silences').replaceChildren();
  $('config').replaceChildren();
  notice(reason || 'Signed out.', Boolean(reason));
  route();
}

async function signIn(event) {
  event.preventDefault();
  const input = $('token');
  const candidate = input.value.trim();
  const button = $('sign-in');
  show($('sign-in-error'), '');
  button.disabled = true;
  try {
    const answer = await api('GET', 'actors', undefined, candidate);
    sessionStorage.setItem(TOKEN_KEY, candidate);
    input.value = '';
    notice('');
    actors.render(answer);
    if (!VIEWS.includes(location.hash.slice(1))) location.hash = '#actors';
    route();
  } catch (error) {
    show($('sign-in-error'), `Sign-in refused: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

function route() {
  generation += 1;
  clearTimeout(timer);
  const signedIn = Boolean(token());
  const wanted = location.hash.slice(1);
  const view = !signedIn ? 'sign-in' : VIEWS.includes(wanted) ? wanted : 'actors';
  current = view;
  for (const section of document.querySelectorAll('.view')) {
    section.hidden = section.id !== `view-${view}`;
  }
  $('tabs').hidden = !signedIn;
  $('who').hidden = !signedIn;
  for (const link of document.querySelectorAll('#tabs a')) {
    if (link.dataset.view === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!signedIn) {
    $('token').focus();
    return;
  }
  const refresh = {
    actors: actors.refresh,
    events: events.refresh,
    'dead-letters': deadLetters.refresh,
    operator: operator.refresh,
    insights: insights.refresh,
  }[view];
  const every = view === 'actors' ? ACTORS_EVERY_MS : view === 'insights' ? INSIGHTS_EVERY_MS : LISTS_EVERY_MS;
  const mine = generation;
  const tick = async () => {
    await refresh();
    if (mine === generation) timer = setTimeout(tick, every);
  };
  tick();
}

/* ---------- actors ---------- */

const actors = {
  cards: new Map(),
  subscribers: [],

  async refresh() {
    try {
      actors.render(await api('GET', 'actors'));
      show($('actors-error'), '');
    } catch (error) {
      if (!handleRefusal(error)) show($('actors-error'), `Could not refresh: ${error.message}`);
    }
  },

  render(answer) {
    $('replica').textContent = answer.replica ? `replica ${String(answer.replica).slice(-12)}` : '';
    $('actors-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    const grid = $('actors');
    const seen = new Set();
    for (const actor of answer.actors || []) {
      seen.add(actor.id);
      let card = actors.cards.get(actor.id);
      if (!card) {
        card = actors.card(actor);
        actors.cards.set(actor.id, card);
      }
      grid.append(card.root); // keeps the API's order
      actors.update(card, actor);
    }
    for (const [id, card] of actors.cards) {
      if (!seen.has(id)) {
        card.root.remove();
        actors.cards.delete(id);
      }
    }
    actors.subscribers = (answer.actors || []).filter((a) => a.role === 'subscriber').map((a) => a.id);
    deadLetters.offerSubscribers(actors.subscribers);
    actors.overview(answer.actors || []);
  },

  /** One line: how many actors are in each state, and the journal's totals. */
  overview(list) {
    const states = new Map();
    for (const actor of list) states.set(actor.state, (states.get(actor.state) || 0) + 1);
    const sum = (key) => list.reduce((total, actor) => total + (Number(actor[key]) || 0), 0);
    $('actors-overview').replaceChildren(
      el('span', { className: 'badge', text: `${list.length} actors` }),
      ...Array.from(states, ([state, count]) => el('span', { className: `badge state-${state}`, text: `${count} ${state}` })),
      el('span', { className: 'badge', text: `backlog ${sum('backlog')}` }),
      el('span', { className: `badge${sum('deadLettered') ? ' state-failed' : ''}`, text: `dead letters ${sum('deadLettered')}` }));
  },

  card(actor) {
    const parts = {};
    parts.state = el('span', { className: 'badge actor-state' });
    const head = el('div', { className: 'actor-head' },
      el('h3', { text: actor.id }),
      el('span', { className: 'muted actor-role', text: actor.role }),
      parts.state);
    if (actor.role === 'subscriber') {
      parts.switch = el('input', {
        type: 'checkbox',
        role: 'switch',
        className: 'actor-switch',
        'aria-label': `${actor.id} enabled`,
      });
      parts.switchLabel = el('span', { text: '' });
      parts.switch.addEventListener('change', () => actors.toggle(actor.id, parts));
      head.append(el('label', { className: 'switch' }, parts.switchLabel, parts.switch));
    }
    parts.stats = {};
    const stat = (key, label) => {
      parts.stats[key] = el('b', { text: '–' });
      return el('div', { className: 'stat', dataset: { stat: key } }, parts.stats[key], el('span', { text: label }));
    };
    parts.deadLink = el('a', {
      className: 'stat',
      href: '#dead-letters',
      title: `${actor.id}'s dead letters`,
      dataset: { stat: 'deadLettered' },
    });
    parts.deadLink.addEventListener('click', () => deadLetters.choose(actor.id));
    // Backlog and dead letters are the journal's, kept for subscribers only.
    const stats = actor.role === 'subscriber'
      ? el('div', { className: 'stats' },
        stat('queued', 'queued'), stat('inFlight', 'in flight'), stat('backlog', 'backlog'),
        stat('delivered', 'delivered'), stat('skipped', 'skipped'), stat('failed', 'failed'),
        stat('deadLettered', 'dead'), stat('retried', 'retried'))
      : el('div', { className: 'stats three' },
        stat('queued', 'queued'), stat('inFlight', 'in flight'), stat('delivered', 'delivered'),
        stat('skipped', 'skipped'), stat('failed', 'failed'), stat('retried', 'retried'));
    parts.facts = el('dl', { className: 'facts' });
    parts.action = el('div', { className: 'actor-action', role: 'status', 'aria-live': 'polite' });
    const root = el('article', { className: 'card actor', dataset: { actor: actor.id } },
      head, stats, parts.facts, parts.action);
    return { root, parts, pending: false };
  },

  update(card, actor) {
    const { parts } = card;
    parts.state.textContent = actor.state;
    parts.state.className = `badge actor-state state-${actor.state}`;
    card.root.dataset.state = actor.state;
    if (parts.switch && !card.pending) {
      const on = actor.state !== 'disabled';
      parts.switch.checked = on;
      parts.switchLabel.textContent = on ? 'on' : 'off';
    }
    for (const [key, node] of Object.entries(parts.stats)) node.textContent = number(actor[key]);
    // Dead letters to look at: the count becomes a link to them.
    const dead = parts.stats.deadLettered && parts.stats.deadLettered.parentNode;
    const linked = dead === parts.deadLink;
    if (dead && actor.deadLettered > 0 && !linked) {
      parts.deadLink.replaceChildren(...dead.childNodes);
      dead.replaceWith(parts.deadLink);
    } else if (dead && !(actor.deadLettered > 0) && linked) {
      dead.replaceWith(el('div', { className: 'stat', dataset: { stat: 'deadLettered' } }, ...dead.childNodes));
    }

    const facts = [];
    const fact = (term, ...value) => facts.push(el('dt', { text: term }), el('dd', {}, ...value));
    fact('restarts', `${number(actor.restarts)}${actor.lastRestartCause ? ` — last: ${actor.lastRestartCause}` : ''}`);
    if (actor.lastError) {
      fact('last error', el('span', { className: 'error-text', text: actor.lastError.message }),
        el('span', { className: 'muted', text: ` (${when(actor.lastError.at)})` }));
    } else {
      fact('last error', el('span', { className: 'muted', text: 'none' }));
    }
    if (actor.circuit) {
      const c = actor.circuit;
      let text = `${c.state}, ${c.failures} failure${c.failures === 1 ? '' : 's'} in a row`;
      if (c.openUntilMs) text += `, open until ${new Date(c.openUntilMs).toLocaleTimeString()}`;
      fact('circuit', el('span', { className: `state-${c.state}`, text }));
    }
    if (actor.rateLimit) {
      const r = actor.rateLimit;
      const tokens = Object.entries(r.tokens || {})
        .map(([dest, n]) => `${dest}: ${Number(n).toFixed(1)}`).join(', ');
      const paused = Object.entries(r.pausedMs || {})
        .filter(([, ms]) => ms > 0)
        .map(([dest, ms]) => `${dest} paused ${Math.ceil(ms / 1000)} s`).join(', ');
      fact('rate limit', [r.setting, tokens && `tokens ${tokens}`, paused].filter(Boolean).join(' · '));
    }
    if (actor.dropped || actor.deferred) {
      fact('dropped / deferred', `${number(actor.dropped)} / ${number(actor.deferred)}`);
    }
    parts.facts.replaceChildren(...facts);
  },

  async toggle(id, parts) {
    const card = actors.cards.get(id);
    const enabled = parts.switch.checked;
    const word = enabled ? 'on' : 'off';
    card.pending = true;
    parts.switch.disabled = true;
    parts.action.className = 'actor-action';
    parts.action.textContent = `switching ${word}…`;
    try {
      const actor = await api('PUT', `subscribers/${encodeURIComponent(id)}`, { enabled });
      card.pending = false;
      actors.update(card, actor);
      parts.action.className = 'actor-action ok';
      parts.action.textContent = `Switched ${word} at ${new Date().toLocaleTimeString()}: now ${actor.state}, from the next event.`;
    } catch (error) {
      card.pending = false;
      parts.switch.checked = !enabled;
      parts.switchLabel.textContent = enabled ? 'off' : 'on';
      parts.action.className = 'actor-action failed';
      parts.action.textContent = `Could not switch ${word}: ${error.message}`;
      handleRefusal(error);
    } finally {
      parts.switch.disabled = false;
    }
  },
};

/* ---------- events ---------- */

const events = {
  items: [],
  cursor: null,
  open: new Set(),

  query(extra = {}) {
    const form = new FormData($('events-filter'));
    const params = new URLSearchParams();
    for (const key of ['kind', 'application', 'cluster']) {
      const value = String(form.get(key) || '').trim();
      if (value) params.set(key, value);
    }
    for (const [key, value] of Object.entries(extra)) params.set(key, String(value));
    return `events?${params}`;
  },

  /** The first page again, as long as what is shown (so "older" pages stay). */
  async refresh() {
    if (current === 'events' && !$('events-live').checked && events.items.length) return;
    const limit = Math.min(Math.max(PAGE_SIZE, events.items.length), MOST_PER_PAGE);
    await events.load({ limit }, false);
  },

  async load(params, append) {
    try {
      const answer = await api('GET', events.query(params));
      events.items = append ? events.items.concat(answer.events) : answer.events;
      events.cursor = answer.nextCursor;
      events.render();
      show($('events-error'), '');
      $('events-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!handleRefusal(error)) show($('events-error'), `Could not load events: ${error.message}`);
    }
  },

  render() {
    const list = $('events');
    if (!events.items.length) {
      list.replaceChildren(el('p', { className: 'empty', text: 'No events match.' }));
    } else {
      list.replaceChildren(...events.items.map(events.item));
    }
    $('events-more').hidden = !events.cursor;
  },

  summary(item) {
    const body = item.event && typeof item.event === 'object' ? item.event : {};
    const parts = [];
    if (body.applicationName) parts.push(String(body.applicationName));
    if (body.cluster) parts.push(`@ ${body.cluster}`);
    if (body.version) parts.push(String(body.version));
    if (!parts.length && body.message) parts.push(String(body.message).slice(0, 120));
    return parts.join(' ') || item.id;
  },

  item(item) {
    const deliveries = item.deliveries || [];
    const chips = deliveries
      .filter((d) => !(d.state === 'skipped' && d.outcome === 'not configured'))
      .map((d) => el('span', { className: `badge state-${d.state}`, text: `${d.subscriber}: ${d.state}` }));
    const rows = deliveries.map((d) => el('tr', { dataset: { subscriber: d.subscriber, state: d.state } },
      el('td', { 'data-label': 'subscriber', text: d.subscriber }),
      el('td', { 'data-label': 'state', className: `delivery-state state-${d.state}`, text: d.state }),
      el('td', { 'data-label': 'attempts', text: number(d.attempts) }),
      el('td', { 'data-label': 'detail', className: 'delivery-detail', text: events.detail(d) }),
      el('td', { 'data-label': 'updated', text: when(d.updatedAt) })));
    const table = el('table', { className: 'stack deliveries' },
      el('thead', {}, el('tr', {}, ...['subscriber', 'state', 'attempts', 'detail', 'updated'].map((h) => el('th', { text: h })))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 5, className: 'muted', text: 'no subscriber took it' }))));
    const payload = el('pre', { className: 'payload', text: JSON.stringify(item.event, null, 2) });
    const details = el('details', { className: 'card event', dataset: { eventId: item.id, kind: item.kind } },
      el('summary', {},
        el('span', { className: 'muted', text: when(item.receivedAt) }),
        el('span', { className: 'badge', text: item.kind }),
        el('span', { className: 'what', text: events.summary(item) }),
        el('span', { className: 'chips' }, chips)),
      el('div', { className: 'event-body' },
        table,
        el('p', { className: 'muted mono', text: `event ${item.id}` }),
        payload));
    details.open = events.open.has(item.id);
    details.addEventListener('toggle', () => {
      if (details.open) events.open.add(item.id);
      else events.open.delete(item.id);
    });
    return details;
  },

  /** Why a delivery is where it is, in words. */
  detail(d) {
    switch (d.state) {
      case 'delivered':
        return d.outcome || 'delivered';
      case 'skipped':
        return `skipped: ${d.outcome || 'no reason given'}`;
      case 'failed':
        return `failed: ${d.lastError || d.outcome || 'no error recorded'} (dead letter)`;
      case 'pending':
      case 'retrying': {
        const next = d.nextAttemptAt ? `next attempt ${when(d.nextAttemptAt)} (${fromNow(d.nextAttemptAt)})` : 'waiting';
        return d.lastError ? `${next}; last error: ${d.lastError}` : next;
      }
      case 'in_flight':
        return 'being sent now';
      default:
        return d.outcome || d.lastError || '';
    }
  },
};

/* ---------- dead letters ---------- */

const deadLetters = {
  items: [],
  cursor: null,

  /** Shows one subscriber's dead letters (from an actor's card). */
  choose(id) {
    const select = $('dead-letters-subscriber');
    if (!Array.from(select.options).some((o) => o.value === id)) select.append(el('option', { value: id, text: id }));
    select.value = id;
    $('replay-all').disabled = false;
    deadLetters.items = [];
    show($('dead-letters-result'), '');
  },

  offerSubscribers(ids) {
    const select = $('dead-letters-subscriber');
    const have = Array.from(select.options).map((o) => o.value).filter(Boolean);
    if (have.join() === ids.join()) return;
    const chosen = select.value;
    select.replaceChildren(el('option', { value: '', text: 'all' }),
      ...ids.map((id) => el('option', { value: id, text: id })));
    select.value = ids.includes(chosen) ? chosen : '';
    $('replay-all').disabled = !select.value;
  },

  query(extra = {}) {
    const params = new URLSearchParams();
    const subscriber = $('dead-letters-subscriber').value;
    if (subscriber) params.set('subscriber', subscriber);
    for (const [key, value] of Object.entries(extra)) params.set(key, String(value));
    return `dead-letters?${params}`;
  },

  async refresh() {
    if (!actors.subscribers.length) await actors.refresh();
    const limit = Math.min(Math.max(PAGE_SIZE, deadLetters.items.length), MOST_PER_PAGE);
    await deadLetters.load({ limit }, false);
  },

  async load(params, append) {
    try {
      const answer = await api('GET', deadLetters.query(params));
      deadLetters.items = append ? deadLetters.items.concat(answer.deadLetters) : answer.deadLetters;
      deadLetters.cursor = answer.nextCursor;
      deadLetters.render();
      show($('dead-letters-error'), '');
      $('dead-letters-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (error) {
      if (!handleRefusal(error)) show($('dead-letters-error'), `Could not load dead letters: ${error.message}`);
    }
  },

  render() {
    const list = $('dead-letters');
    if (!deadLetters.items.length) {
      list.replaceChildren(el('p', { className: 'empty', text: 'No dead letters.' }));
    } else {
      list.replaceChildren(...deadLetters.items.map(deadLetters.item));
    }
    $('dead-letters-more').hidden = !deadLetters.cursor;
  },

  item(letter) {
    const button = el('button', { type: 'button', className: 'replay', text: 'Replay' });
    button.addEventListener('click', () => deadLetters.replayOne(letter, button));
    return el('article', { className: 'card dead-letter', dataset: { deadLetterId: letter.id, subscriber: letter.subscriber } },
      el('div', {},
        el('div', {},
          el('strong', { text: letter.subscriber }), ' ',
          el('span', { className: 'badge', text: letter.kind || 'event' })),
        el('div', { className: 'error-text', text: letter.lastError || 'no error recorded' }),
        el('div', { className: 'meta' },
          `failed ${when(letter.failedAt)} after ${letter.attempts} attempt${letter.attempts === 1 ? '' : 's'} · event `,
          el('span', { className: 'mono', text: letter.eventId }))),
      button);
  },

  result(text) {
    show($('dead-letters-result'), text);
    show($('dead-letters-error'), '');
  },

  failure(what, error) {
    if (handleRefusal(error)) return;
    show($('dead-letters-result'), '');
    show($('dead-letters-error'), `${what}: ${error.message}`);
  },

  async replayOne(letter, button) {
    button.disabled = true;
    try {
      const answer = await api('POST', `dead-letters/${encodeURIComponent(letter.id)}/replay`);
      deadLetters.result(`Replayed ${answer.replayed} dead letter (${letter.subscriber}, event ${letter.eventId}): it is being sent again.`);
      await deadLetters.refresh();
    } catch (error) {
      button.disabled = false;
      deadLetters.failure(`Could not replay dead letter ${letter.id}`, error);
    }
  },

  async replayAll() {
    const subscriber = $('dead-letters-subscriber').value;
    if (!subscriber) return;
    const button = $('replay-all');
    button.disabled = true;
    try {
      const answer = await api('POST', `dead-letters/replay?${new URLSearchParams({ subscriber })}`);
      deadLetters.result(`Replayed ${answer.replayed} dead letter${answer.replayed === 1 ? '' : 's'} of ${subscriber}.`);
      await deadLetters.refresh();
    } catch (error) {
      deadLetters.failure(`Could not replay the dead letters of ${subscriber}`, error);
    } finally {
      button.disabled = !$('dead-letters-subscriber').value;
    }
  },
};

/* ---------- routes and silences ---------- */

/** `field = a, b` for each matcher, joined with "and". */
function matchers(map) {
  return Object.entries(map || {}).map(([field, patterns]) => `${field} = ${patterns.join(', ')}`).join(' and ') || 'everything';
}

const operator = {
  async refresh() {
    await Promise.all([operator.loadSilences(), operator.loadConfig()]);
    $('operator-updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  },

  async loadSilences() {
    try {
      const answer = await api('GET', 'silences');
      const list = $('silences');
      if (!answer.silences.length) list.replaceChildren(el('p', { className: 'empty', text: 'No silences.' }));
      else list.replaceChildren(...answer.silences.map(operator.silence));
      show($('silences-error'), '');
    } catch (error) {
      if (!handleRefusal(error)) show($('silences-error'), `Could not load silences: ${error.message}`);
    }
  },

  silence(silence) {
    const end = silence.state === 'ended'
      ? null
      : el('button', { type: 'button', className: 'secondary', text: 'End now' });
    if (end) end.addEventListener('click', () => operator.expire(silence, end));
    return el('article', { className: 'card silence', dataset: { silenceId: silence.id, state: silence.state } },
      el('div', {},
        el('div', {},
          el('strong', { className: 'mono', text: matchers(silence.matchers) }), ' ',
          el('span', { className: `badge state-silence-${silence.state}`, text: silence.state })),
        el('div', { text: silence.comment }),
        el('div', { className: 'meta' },
          `${when(silence.startsAt)} – ${when(silence.endsAt)} · by ${silence.createdBy}`,
          silence.expiredBy ? ` · ended early by ${silence.expiredBy}` : '',
          ` · ${silence.silenced} deliver${silence.silenced === 1 ? 'y' : 'ies'} silenced`)),
      end);
  },

  async create(event) {
    event.preventDefault();
    const form = event.target;
    const value = (name) => form.elements[name].value.trim();
    const button = $('silence-create');
    button.disabled = true;
    try {
      const made = await api('POST', 'silences', {
        matchers: { [value('field')]: value('pattern') },
        duration: value('duration'),
        comment: value('comment'),
        createdBy: value('createdBy'),
      });
      show($('silences-result'), `Silence ${made.id} is ${made.state} until ${when(made.endsAt)}.`);
      show($('silences-error'), '');
      form.elements.pattern.value = '';
      form.elements.comment.value = '';
      await operator.loadSilences();
    } catch (error) {
      if (!handleRefusal(error)) {
        show($('silences-result'), '');
        show($('silences-error'), `Could not create the silence: ${error.message}`);
      }
    } finally {
      button.disabled = false;
    }
  },

  async expire(silence, button) {
    button.disabled = true;
    try {
      await api('DELETE', `silences/${encodeURIComponent(silence.id)}`);
      show($('silences-result'), `Silence ${silence.id} ended.`);
      await operator.loadSilences();
    } catch (error) {
      button.disabled = false;
      if (!handleRefusal(error)) show($('silences-error'), `Could not end silence ${silence.id}: ${error.message}`);
    }
  },

  async loadConfig() {
    try {
      operator.renderConfig(await api('GET', 'config'));
      show($('config-error'), '');
    } catch (error) {
      if (!handleRefusal(error)) show($('config-error'), `Could not load the configuration: ${error.message}`);
    }
  },

  renderConfig(config) {
    $('config-file').textContent = config.file
      ? `From ${config.file}; replaced templates: ${config.templates.replaced.join(', ') || 'none'}.`
      : 'No operator file (ALVARES_CONFIG is not set): the built-in routes and templates are in force.';
    const routes = config.routes.map((route) => el('article', { className: 'card route', dataset: { route: route.name } },
      el('div', {},
        el('div', {}, el('strong', { text: route.name }), ' ', el('span', { className: 'badge', text: route.kinds.join(', ') || 'every kind' })),
        el('div', { className: 'mono', text: `when ${route.when}` }),
        el('div', { className: 'meta', text: [
          route.slackChannels.length ? `${route.only ? 'only to' : 'also to'} ${route.slackChannels.join(', ')}` : '',
          route.webhooks.length ? `webhooks ${route.webhooks.join(', ')}` : '',
          route.neverChannels.length ? `never to ${route.neverChannels.join(', ')}` : '',
          route.oncePer ? `once per ${route.oncePer.fields.join(' + ')} per ${route.oncePer.window}` : '',
        ].filter(Boolean).join(' · ') }))));
    const webhooks = config.webhooks.map((hook) => el('article', { className: 'card webhook', dataset: { webhook: hook.name } },
      el('div', {},
        el('div', {}, el('strong', { text: hook.subscriber }), ' ', el('span', { className: 'badge', text: hook.kinds.join(', ') })),
        el('div', { className: 'mono', text: `${hook.method} ${hook.url}` }),
        el('div', { className: 'meta' },
          hook.signedWith ? `signed with ${hook.signedWith}` : 'unsigned',
          hook.routed ? ' · only events a route names' : '',
          hook.rateLimit ? ` · ${hook.rateLimit}` : ''))));
    $('config').replaceChildren(
      el('h3', { text: `Routes (${routes.length})` }),
      ...(routes.length ? routes : [el('p', { className: 'empty', text: 'No routes.' })]),
      el('h3', { text: `Webhooks (${webhooks.length})` }),
      ...(webhooks.length ? webhooks : [el('p', { className: 'empty', text: 'No webhooks.' })]));
  },

  async reload() {
    const button = $('config-reload');
    button.disabled = true;
    try {
      await api('POST', 'reload');
      show($('silences-result'), 'The configuration file was read again and is in force.');
      show($('config-error'), '');
      await operator.loadConfig();
    } catch (error) {
      if (!handleRefusal(error)) show($('config-error'), `Reload refused, the old configuration stays: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  },
};

/* ---------- insights ---------- */

/**
 * An SVG element with attributes (`text` sets its text) and children, in
 * the namespace of the page's own chart elements (the HTML parser gives
 * them the SVG namespace).
 */
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS($('insights-per-day').namespaceURI, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === 'text') node.textContent = String(value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) if (child) node.append(child);
  return node;
}

function percent(rate) {
  return rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return '–';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

// The charts are drawn by this script as inline SVG (no chart library):
// the figures come from GET /api/v1/insights, which defines them.
const insights = {
  answer: null,

  query() {
    const params = new URLSearchParams();
    for (const name of ['team', 'application', 'cluster']) {
      const value = $(`insights-${name}`).value.trim();
      if (value) params.set(name, value);
    }
    const days = Number($('insights-days').value) || 90;
    params.set('since', new Date(Date.now() - days * DAY_MS).toISOString());
    params.set('bucket', 'day');
    return params;
  },

  async refresh() {
    try {
      // The figures are under /api/v1, beside the admin API.
      const answer = await api('GET', `../api/v1/insights?${insights.query()}`);
      insights.answer = answer;
      show($('insights-error'), '');
      insights.render(answer);
    } catch (error) {
      if (!handleRefusal(error)) show($('insights-error'), `Could not load the figures: ${error.message}`);
    }
  },

  render(answer) {
    $('insights-period').textContent = `${when(answer.since)} – ${when(answer.until)}`;
    const cfr = answer.changeFailureRate;
    const ttr = answer.timeToRestore;
    $('insights-summary').replaceChildren(
      el('span', { className: 'badge', dataset: { figure: 'deployments' }, text: `${cfr.deployments} deployments` }),
      el('span', { className: `badge${cfr.failed ? ' state-failed' : ''}`, dataset: { figure: 'failed' }, text: `${cfr.failed} failed` }),
      el('span', { className: 'badge', dataset: { figure: 'rate' }, text: `change-failure rate ${percent(cfr.rate)}` }),
      el('span', { className: 'badge', dataset: { figure: 'restore' }, text: `time to restore: median ${duration(ttr.medianSeconds)}, mean ${duration(ttr.meanSeconds)} (${ttr.restored} restored, ${ttr.unrestored} not yet)` }));
    insights.perDay(answer);
    insights.failureRates(cfr.teams);
    insights.stale(answer);
  },

  /** Stacked bars: one per day of the period, a colour per cluster. */
  perDay(answer) {
    const chart = $('insights-per-day');
    const start = Math.floor(new Date(answer.since).getTime() / DAY_MS) * DAY_MS;
    const end = new Date(answer.until).getTime();
    const days = Math.max(1, Math.ceil((end - start) / DAY_MS));
    const clusters = [...new Set(answer.deployments.map((row) => row.cluster))].sort();
    const counts = new Map(); // day index -> [count per cluster]
    for (const row of answer.deployments) {
      const day = Math.floor((new Date(row.bucket).getTime() - start) / DAY_MS);
      if (!counts.has(day)) counts.set(day, clusters.map(() => 0));
      counts.get(day)[clusters.indexOf(row.cluster)] += row.count;
    }
    chart.replaceChildren();
    chart.hidden = !clusters.length;
    $('insights-per-day-empty').hidden = Boolean(clusters.length);
    $('insights-per-day-legend').replaceChildren(...clusters.map((cluster, index) =>
      el('span', { className: 'legend-item' }, el('span', { className: `swatch series-${index % 6}` }), cluster)));
    if (!clusters.length) return;
    const most = Math.max(1, ...Array.from(counts.values(), (list) => list.reduce((a, b) => a + b, 0)));
    const [width, height, left, bottom, top] = [600, 220, 34, 22, 8];
    const plot = height - bottom - top;
    const step = (width - left) / days;
    chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plot - fraction * plot;
      chart.append(svg('line', { x1: left, x2: width, y1: y, y2: y, class: 'grid-line' }),
        // Whole counts only: the middle line of a chart up to 1 has no label.
        svg('text', { x: left - 4, y: y + 4, class: 'axis', 'text-anchor': 'end', text: Number.isInteger(fraction * most) ? fraction * most : '' }));
    }
    for (const [day, list] of counts) {
      let y = top + plot;
      list.forEach((count, index) => {
        if (!count) return;
        const h = (count / most) * plot;
        y -= h;
        chart.append(svg('rect', {
          x: left + day * step + step * 0.1, y, width: Math.max(1, step * 0.8), height: h,
          class: `series-${index % 6}`, 'data-cluster': clusters[index], 'data-count': count,
        }, svg('title', { text: `${new Date(start + day * DAY_MS).toISOString().slice(0, 10)} ${clusters[index]}: ${count}` })));
      });
    }
    chart.append(
      svg('text', { x: left, y: height - 6, class: 'axis', text: new Date(start).toISOString().slice(0, 10) }),
      svg('text', { x: width, y: height - 6, class: 'axis', 'text-anchor': 'end', text: new Date(end - 1).toISOString().slice(0, 10) }));
  },

  /** Horizontal bars: each team's change-failure rate, 0 to 100 %. */
  failureRates(teams) {
    const chart = $('insights-failure-rate');
    chart.replaceChildren();
    chart.hidden = !teams.length;
    $('insights-failure-rate-empty').hidden = Boolean(teams.length);
    if (!teams.length) return;
    const [width, row, label] = [600, 26, 170];
    chart.setAttribute('viewBox', `0 0 ${width} ${teams.length * row + 4}`);
    teams.forEach((team, index) => {
      const y = index * row + 2;
      const bar = (width - label - 110) * (team.rate || 0);
      chart.append(
        svg('text', { x: label - 6, y: y + 16, class: 'axis', 'text-anchor': 'end', text: team.team || '(no team)' }),
        svg('rect', { x: label, y: y + 3, width: width - label - 110, height: row - 8, class: 'track' }),
        svg('rect', { x: label, y: y + 3, width: Math.max(bar, 0), height: row - 8, class: 'failure-bar', 'data-team': team.team }),
        svg('text', { x: width - 104, y: y + 16, class: 'axis', text: `${percent(team.rate)} (${team.failed}/${team.deployments})` }));
    });
  },

  /** The applications whose last deployment is older than the chosen days. */
  stale(answer) {
    const days = Number($('insights-stale').value) || 30;
    $('insights-stale-title').textContent = `Applications not deployed for more than ${days} days`;
    const until = new Date(answer.until).getTime();
    const rows = answer.lastDeployments
      .map((last) => ({ ...last, age: (until - new Date(last.receivedAt).getTime()) / DAY_MS }))
      .filter((last) => last.age > days)
      .sort((a, b) => b.age - a.age);
    if (!rows.length) {
      $('insights-stale-list').replaceChildren(el('p', { className: 'muted', text: 'None: every application was deployed more recently.' }));
      return;
    }
    const cell = (label, text) => el('td', { dataset: { label }, text });
    $('insights-stale-list').replaceChildren(el('table', { className: 'stack stale' },
      el('thead', {}, el('tr', {}, ['Application', 'Cluster', 'Version', 'Team', 'Last deployed', 'Days ago']
        .map((name) => el('th', { text: name })))),
      el('tbody', {}, rows.map((last) => el('tr', { dataset: { application: last.application } },
        cell('Application', last.application), cell('Cluster', last.cluster), cell('Version', last.version || '–'),
        cell('Team', last.team || '–'), cell('Last deployed', when(last.receivedAt)),
        cell('Days ago', Math.floor(last.age)))))));
  },
};

/* ---------- wiring ---------- */

document.addEventListener('DOMContentLoaded', () => {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', route);

  $('events-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    events.items = [];
    events.load({ limit: PAGE_SIZE }, false);
  });
  $('events-refresh').addEventListener('click', () => events.load({ limit: Math.min(Math.max(PAGE_SIZE, events.items.length), MOST_PER_PAGE) }, false));
  $('events-more').addEventListener('click', () => events.load({ limit: PAGE_SIZE, cursor: events.cursor }, true));

  $('dead-letters-subscriber').addEventListener('change', () => {
    $('replay-all').disabled = !$('dead-letters-subscriber').value;
    deadLetters.items = [];
    show($('dead-letters-result'), '');
    deadLetters.load({ limit: PAGE_SIZE }, false);
  });
  $('dead-letters-refresh').addEventListener('click', () => deadLetters.refresh());
  $('dead-letters-more').addEventListener('click', () => deadLetters.load({ limit: PAGE_SIZE, cursor: deadLetters.cursor }, true));
  $('replay-all').addEventListener('click', () => deadLetters.replayAll());

  $('silence-form').addEventListener('submit', operator.create);
  $('config-reload').addEventListener('click', () => operator.reload());
  $('insights-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    insights.refresh();
  });
  $('insights-stale').addEventListener('change', () => {
    if (insights.answer) insights.stale(insights.answer);
  });

  route();
});
