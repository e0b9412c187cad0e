// The events view: recent events with every subscriber's part in them,
// filtered, a page at a time.

import { MOST_PER_PAGE, PAGE_SIZE, api, handleRefusal } from './console.api.js';
import { $, el, fromNow, number, show, when } from './console.dom.js';

export const events = {
  items: [],
  cursor: null,
  open: new Set(),

  /** Forgets what was shown (at sign-out). */
  reset() {
    events.items = [];
    events.open.clear();
    $('events').replaceChildren();
  },

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
    if (!$('view-events').hidden && !$('events-live').checked && events.items.length) return;
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
