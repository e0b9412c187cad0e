// The operator view: the configuration in force (routes, webhooks), its
// reload, and silences (create, list, end early).

import { api, handleRefusal } from './console.api.js';
import { $, el, show, when } from './console.dom.js';

/** `field = a, b` for each matcher, joined with "and". */
function matchers(map) {
  return Object.entries(map || {}).map(([field, patterns]) => `${field} = ${patterns.join(', ')}`).join(' and ') || 'everything';
}

export const operator = {
  /** Forgets what was shown (at sign-out). */
  reset() {
    $('silences').replaceChildren();
    $('config').replaceChildren();
  },

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
          hook.type !== 'webhook' ? `a ${hook.type} destination` : hook.signedWith ? `signed with ${hook.signedWith}` : 'unsigned',
          hook.routed ? ' · only events a route names' : '',
          hook.rateLimit ? ` · ${hook.rateLimit}` : ''))));
    $('config').replaceChildren(
      el('h3', { text: `Routes (${routes.length})` }),
      ...(routes.length ? routes : [el('p', { className: 'empty', text: 'No routes.' })]),
      el('h3', { text: `Webhooks and destinations (${webhooks.length})` }),
      ...(webhooks.length ? webhooks : [el('p', { className: 'empty', text: 'No webhooks or destinations.' })]));
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
