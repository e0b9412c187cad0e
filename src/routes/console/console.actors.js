// The actors view: a card per actor, kept in the API's order, with its
// counters, restarts, last error, circuit and rate limit; a subscriber's
// card holds its on/off switch.

import { api, handleRefusal, subscriberIds } from './console.api.js';
import { $, el, number, show, when } from './console.dom.js';
import { deadLetters } from './console.dead-letters.js';

export const actors = {
  cards: new Map(),

  /** Forgets what was shown (at sign-out). */
  reset() {
    actors.cards.clear();
    $('actors').replaceChildren();
  },

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
    deadLetters.offerSubscribers(subscriberIds(answer));
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
