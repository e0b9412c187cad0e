// The dead letters view: failed deliveries, newest first, and their replay
// (one, or a subscriber's).

import { MOST_PER_PAGE, PAGE_SIZE, api, handleRefusal, subscriberIds } from './console.api.js';
import { $, el, show, when } from './console.dom.js';

export const deadLetters = {
  items: [],
  cursor: null,
  /** The subscribers' ids, as the actors view last offered them. */
  subscribers: [],

  /** Forgets what was shown (at sign-out). */
  reset() {
    deadLetters.items = [];
    deadLetters.subscribers = [];
    $('dead-letters').replaceChildren();
  },

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
    deadLetters.subscribers = ids;
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
    if (!deadLetters.subscribers.length) await deadLetters.loadSubscribers();
    const limit = Math.min(Math.max(PAGE_SIZE, deadLetters.items.length), MOST_PER_PAGE);
    await deadLetters.load({ limit }, false);
  },

  /** The subscribers to choose from, when no actors view has offered them yet. */
  async loadSubscribers() {
    try {
      const answer = await api('GET', 'actors');
      deadLetters.offerSubscribers(subscriberIds(answer));
    } catch (error) {
      if (!handleRefusal(error)) show($('dead-letters-error'), `Could not load the subscribers: ${error.message}`);
    }
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
