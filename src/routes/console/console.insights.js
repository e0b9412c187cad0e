// The insights view: the delivery-performance figures of
// GET /api/v1/insights, with charts drawn as inline SVG (no chart library).

import { api, handleRefusal } from './console.api.js';
import { $, el, show, when } from './console.dom.js';

const DAY_MS = 86400000;

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
export const insights = {
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
