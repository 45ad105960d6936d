// DOM helpers. Text always goes in as text nodes (never innerHTML), so whatever a customer
// writes — tags, scripts, entities — is shown exactly as written and never runs.

import { getLang, t } from "./i18n.js";

/**
 * h("button", {class: "x", onclick: fn, dataset: {id: 1}}, "text", child, [more]) → element.
 * Strings and numbers become text nodes; null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "value") el.value = value;
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Replace an element's children, with the same rules as h() (arrays, null and false). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function parseTime(value) {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** "3시간 12분" / "3h 12m": the two largest units of a duration. */
export function formatDuration(ms) {
  let seconds = Math.max(0, Math.floor(Math.abs(ms) / 1000));
  const parts = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]]) {
    const n = Math.floor(seconds / size);
    seconds -= n * size;
    if (n > 0 || (unit === "s" && parts.length === 0)) parts.push(t(`time.${unit}`, { n }));
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

export function formatTime(value) {
  const ms = parseTime(value);
  if (ms === null) return "";
  const locale = getLang() === "ko" ? "ko-KR" : "en-GB";
  const date = new Date(ms);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return new Intl.DateTimeFormat(locale, {
    ...(sameDay ? {} : { month: "short", day: "numeric" }),
    hour: "2-digit",
    minute: "2-digit",
  }).format(date);
}
