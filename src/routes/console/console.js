// Alvares admin console: plain JavaScript over the admin API, as ES
// modules served from the binary. This one signs in and out, shows one
// view at a time (by the location's hash) and wires the page's controls;
// each view is a module of its own.

import { MOST_PER_PAGE, PAGE_SIZE, api, forgetToken, keepToken, token, whenRefused } from './console.api.js';
import { $, show } from './console.dom.js';
import { actors } from './console.actors.js';
import { deadLetters } from './console.dead-letters.js';
import { events } from './console.events.js';
import { insights } from './console.insights.js';
import { operator } from './console.operator.js';

const ACTORS_EVERY_MS = 3000;
const LISTS_EVERY_MS = 5000;
const INSIGHTS_EVERY_MS = 60000;
const VIEWS = ['actors', 'events', 'dead-letters', 'operator', 'insights'];

let timer = null; // the visible view's refresh
let generation = 0; // bumped on every view change, so stale refreshes stop

function notice(text, failed = false) {
  const node = $('notice');
  show(node, text);
  node.classList.toggle('failed', failed);
}

function signOut(reason) {
  forgetToken();
  for (const view of [actors, events, deadLetters, operator]) view.reset();
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
    keepToken(candidate);
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

whenRefused(signOut);

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
