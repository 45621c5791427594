// Small DOM helpers shared by the console's modules. Operator text always goes in via textContent.

export const SVG_NS = "http://www.w3.org/2000/svg";

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  for (const child of children) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  for (const child of children) if (child) node.append(child);
  return node;
}

function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
}

export function debounce(fn, ms) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// One line, at most `width` characters, cut at a word with an ellipsis.
export function shorten(text, width) {
  const flat = String(text || "").split(/\s+/).filter(Boolean).join(" ");
  if (flat.length <= width) return flat;
  let cut = flat.slice(0, Math.max(width - 1, 1));
  const space = cut.lastIndexOf(" ");
  if (space > width / 2) cut = cut.slice(0, space);
  return cut.replace(/[ ,.;:]+$/, "") + "…";
}

export function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
