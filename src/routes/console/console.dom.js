// DOM helpers. Everything shown comes from the API and is network data
// (event payloads are whatever a pipeline sent), so it only ever reaches
// the page through textContent and DOM properties, never as markup.

export const $ = (id) => document.getElementById(id);

/** An element with properties (`text`, `className`, `dataset`, attributes) and children. */
export function el(tag, props = {}, ...children) {
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

export function show(node, text) {
  node.textContent = text || '';
  node.hidden = !text;
}

export function when(iso) {
  if (!iso) return '–';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function fromNow(iso) {
  const ms = new Date(iso).getTime() - Date.now();
  if (Number.isNaN(ms)) return '';
  const seconds = Math.round(Math.abs(ms) / 1000);
  const span = seconds < 90 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  return ms >= 0 ? `in ${span}` : `${span} ago`;
}

export function number(value) {
  return value === undefined || value === null ? '–' : String(value);
}
