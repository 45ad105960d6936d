// Small hand-drawn SVG charts for the reports page: stacked bars over time, a line over
// time and horizontal bars. No library, no CDN; labels go in as text nodes.

const SVG = "http://www.w3.org/2000/svg";
export const PALETTE = [
  "#2f5bea", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16",
  "#64748b", "#f97316",
];

function s(tag, attrs = {}, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

function niceMax(value) {
  if (value <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= value) return m * exp;
  return 10 * exp;
}

function frame(width, height, max, format) {
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const pad = { left: 64, right: 8, top: 8, bottom: 26 };
  const plotH = height - pad.top - pad.bottom;
  for (let i = 0; i <= 4; i++) {
    const y = pad.top + plotH - (plotH * i) / 4;
    svg.append(s("line", { x1: pad.left, x2: width - pad.right, y1: y, y2: y, class: "grid" }));
    svg.append(s("text", { x: pad.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format((max * i) / 4)));
  }
  return { svg, pad, plotH, plotW: width - pad.left - pad.right };
}

function xLabels(svg, labels, x, y, every) {
  labels.forEach((text, i) => {
    if (i % every === 0) svg.append(s("text", { x: x(i), y, class: "axis", "text-anchor": "middle" }, text));
  });
}

/** series: [{label, values: {key: n}}]; keys in stacking order; colour per key. */
export function stackedBars(series, keys, { colors, width = 640, height = 220, format = String } = {}) {
  const totals = series.map((b) => keys.reduce((sum, k) => sum + (b.values[k] || 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const { svg, pad, plotH, plotW } = frame(width, height, max, (v) => format(Math.round(v)));
  const step = plotW / Math.max(series.length, 1);
  const barW = Math.max(step * 0.7, 1);
  series.forEach((bucket, i) => {
    let y = pad.top + plotH;
    for (const key of keys) {
      const n = bucket.values[key] || 0;
      if (!n) continue;
      const h = (plotH * n) / max;
      y -= h;
      const rect = s("rect", { x: pad.left + i * step + (step - barW) / 2, y, width: barW, height: h, fill: colors[key] });
      rect.append(s("title", {}, `${bucket.label} · ${key}: ${n}`));
      svg.append(rect);
    }
  });
  const every = Math.ceil(series.length / 8);
  xLabels(svg, series.map((b) => b.label), (i) => pad.left + i * step + step / 2, height - 8, every);
  return svg;
}

/** points: [{label, value|null}]: a line with dots; gaps where there is no value. */
export function lineChart(points, { width = 640, height = 200, format = String, color = PALETTE[0], max, least = 0 } = {}) {
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const top = max ?? niceMax(Math.max(least, ...values));
  const { svg, pad, plotH, plotW } = frame(width, height, top, format);
  const step = plotW / Math.max(points.length, 1);
  const x = (i) => pad.left + i * step + step / 2;
  const y = (v) => pad.top + plotH - (plotH * v) / top;
  let path = "";
  points.forEach((p, i) => {
    if (p.value === null || p.value === undefined) {
      path += " ";
      return;
    }
    path += `${path.endsWith(" ") || !path ? "M" : "L"}${x(i).toFixed(1)},${y(p.value).toFixed(1)} `;
    const dot = s("circle", { cx: x(i), cy: y(p.value), r: 3, fill: color });
    dot.append(s("title", {}, `${p.label}: ${format(p.value)}`));
    svg.append(dot);
  });
  svg.prepend(s("path", { d: path.trim() || "M0,0", fill: "none", stroke: color, "stroke-width": 2 }));
  xLabels(svg, points.map((p) => p.label), x, height - 8, Math.ceil(points.length / 8));
  return svg;
}

/** rows: [{label, value}] as horizontal bars, largest first. */
export function horizontalBars(rows, { width = 420, color = PALETTE[0], format = String } = {}) {
  const rowH = 26;
  const height = Math.max(rows.length, 1) * rowH + 4;
  const svg = s("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img" });
  const max = Math.max(1, ...rows.map((r) => r.value));
  const labelW = 110;
  rows.forEach((row, i) => {
    const y = i * rowH + 4;
    svg.append(s("text", { x: labelW - 8, y: y + 15, class: "axis", "text-anchor": "end" }, row.label));
    const w = ((width - labelW - 50) * row.value) / max;
    svg.append(s("rect", { x: labelW, y, width: Math.max(w, 1), height: rowH - 8, fill: color, rx: 3 }));
    svg.append(s("text", { x: labelW + w + 6, y: y + 15, class: "value" }, format(row.value)));
  });
  return svg;
}
