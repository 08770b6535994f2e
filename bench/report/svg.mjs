// Small SVG charts for the bench reports, with no dependencies: box plots of latency
// distributions and lines of cost against input size. Values are nanoseconds; axes are
// logarithmic because the rows span orders of magnitude (a native call against a cold load).

const FONT = 'font-family="system-ui, sans-serif" font-size="12"';
// One color per backend name, the same in every chart, so rows can be followed across them.
const COLORS = {
  native: '#555555',
  trusted: '#8c6d31',
  quickjs: '#1f77b4',
  'isolated-vm': '#d62728',
  starlark: '#2ca02c',
};
const SPARE = ['#9467bd', '#17becf', '#e377c2', '#7f7f7f', '#bcbd22'];

/** @param {string} label */
export function colorFor(label) {
  const key = Object.keys(COLORS).find((k) => label === k || label.startsWith(`${k} `));
  if (key !== undefined) return COLORS[/** @type {keyof typeof COLORS} */ (key)];
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return SPARE[h % SPARE.length];
}

/** @param {string} text */
export function escapeXml(text) {
  return text.replace(
    /[<>&"']/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] ?? c,
  );
}

/** @param {number} ns */
export function formatNs(ns) {
  if (ns < 1000) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${+(ns / 1000).toPrecision(3)} µs`;
  if (ns < 1e9) return `${+(ns / 1e6).toPrecision(3)} ms`;
  return `${+(ns / 1e9).toPrecision(3)} s`;
}

/**
 * A log10 scale over [lo, hi] (padded to whole decades) onto [a, b], and its decade ticks.
 * @param {number} lo @param {number} hi @param {number} a @param {number} b
 */
function logScale(lo, hi, a, b) {
  const d0 = Math.floor(Math.log10(Math.max(lo, 1e-3)));
  const d1 = Math.max(d0 + 1, Math.ceil(Math.log10(Math.max(hi, 1e-3))));
  /** @param {number} v */
  const at = (v) => a + ((Math.log10(Math.max(v, 1e-3)) - d0) / (d1 - d0)) * (b - a);
  const ticks = [];
  for (let d = d0; d <= d1; d++) ticks.push(10 ** d);
  return { at, ticks };
}

/** @param {number} n */
const r1 = (n) => Math.round(n * 10) / 10;

/**
 * Horizontal box plots, one row per series: whiskers from min to p99, the box from p25 to p75,
 * a bar at the median, a dot at the max.
 * @param {{ title: string, subtitle?: string, rows: { label: string, color?: string, stats: { min: number, p25: number, p50: number, p75: number, p99: number, max: number } }[] }} chart
 */
export function boxPlot(chart) {
  const labelWidth = Math.max(120, ...chart.rows.map((r) => r.label.length * 7 + 16));
  const width = labelWidth + 560;
  const rowHeight = 26;
  const top = chart.subtitle === undefined ? 40 : 56;
  const plotBottom = top + chart.rows.length * rowHeight + 8;
  const height = plotBottom + 44;
  const lo = Math.min(...chart.rows.map((r) => r.stats.min));
  const hi = Math.max(...chart.rows.map((r) => r.stats.max));
  const x = logScale(lo, hi, labelWidth, width - 20);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle !== undefined) {
    parts.push(`<text x="10" y="40" fill="#555">${escapeXml(chart.subtitle)}</text>`);
  }
  parts.push('<g class="axis">');
  for (const t of x.ticks) {
    const px = r1(x.at(t));
    parts.push(
      `<line x1="${px}" y1="${top - 4}" x2="${px}" y2="${plotBottom}" stroke="#ddd"/>`,
      `<text x="${px}" y="${plotBottom + 16}" text-anchor="middle" fill="#333">${escapeXml(formatNs(t))}</text>`,
    );
  }
  parts.push(
    `<text x="${r1((labelWidth + width - 20) / 2)}" y="${plotBottom + 34}" text-anchor="middle" fill="#333">latency per call (log scale); whiskers min–p99, box p25–p75, bar p50, dot max</text>`,
    '</g>',
  );
  chart.rows.forEach((row, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    const color = row.color ?? colorFor(row.label);
    const s = row.stats;
    const at = (/** @type {number} */ v) => r1(x.at(v));
    const [min, p25, p50, p75, p99, max] = [
      at(s.min),
      at(s.p25),
      at(s.p50),
      at(s.p75),
      at(s.p99),
      at(s.max),
    ];
    parts.push(
      `<g class="box" data-label="${escapeXml(row.label)}" data-p50="${s.p50}">`,
      `<text x="${labelWidth - 8}" y="${cy + 4}" text-anchor="end">${escapeXml(row.label)}</text>`,
      `<line x1="${min}" y1="${cy}" x2="${p99}" y2="${cy}" stroke="${color}"/>`,
      `<line x1="${min}" y1="${cy - 5}" x2="${min}" y2="${cy + 5}" stroke="${color}"/>`,
      `<line x1="${p99}" y1="${cy - 5}" x2="${p99}" y2="${cy + 5}" stroke="${color}"/>`,
      `<rect x="${p25}" y="${cy - 8}" width="${r1(Math.max(1, p75 - p25))}" height="16" fill="${color}" fill-opacity="0.3" stroke="${color}"/>`,
      `<line x1="${p50}" y1="${cy - 9}" x2="${p50}" y2="${cy + 9}" stroke="${color}" stroke-width="2.5"/>`,
      `<circle cx="${max}" cy="${cy}" r="2.5" fill="${color}"/>`,
      `<text x="${r1(Math.min(width - 70, p75 + 6))}" y="${cy - 10}" font-size="10" fill="#333">${escapeXml(formatNs(s.p50))}</text>`,
      '</g>',
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

/**
 * Lines of a cost (ns, log scale) against an x value (log scale), one per series, with a legend.
 * @param {{ title: string, subtitle?: string, xLabel: string, xTicks: { value: number, label: string }[], series: { label: string, color?: string, points: { x: number, y: number }[] }[] }} chart
 */
export function lineChart(chart) {
  const width = 720;
  const height = 400;
  const left = 80;
  const right = width - 170;
  const top = chart.subtitle === undefined ? 40 : 56;
  const bottom = height - 50;
  const ys = chart.series.flatMap((s) => s.points.map((p) => p.y));
  const xs = chart.xTicks.map((t) => t.value);
  const y = logScale(Math.min(...ys), Math.max(...ys), bottom, top);
  const xMin = Math.log10(Math.min(...xs));
  const xMax = Math.log10(Math.max(...xs));
  /** @param {number} v */
  const xAt = (v) =>
    xMax === xMin
      ? (left + right) / 2
      : left + ((Math.log10(v) - xMin) / (xMax - xMin)) * (right - left);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<title>${escapeXml(chart.title)}</title>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${escapeXml(chart.title)}</text>`,
  ];
  if (chart.subtitle !== undefined) {
    parts.push(`<text x="10" y="40" fill="#555">${escapeXml(chart.subtitle)}</text>`);
  }
  parts.push('<g class="axis">');
  for (const t of y.ticks) {
    const py = r1(y.at(t));
    parts.push(
      `<line x1="${left}" y1="${py}" x2="${right}" y2="${py}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${py + 4}" text-anchor="end" fill="#333">${escapeXml(formatNs(t))}</text>`,
    );
  }
  for (const t of chart.xTicks) {
    const px = r1(xAt(t.value));
    parts.push(
      `<line x1="${px}" y1="${top}" x2="${px}" y2="${bottom}" stroke="#eee"/>`,
      `<text x="${px}" y="${bottom + 16}" text-anchor="middle" fill="#333">${escapeXml(t.label)}</text>`,
    );
  }
  parts.push(
    `<text x="${r1((left + right) / 2)}" y="${bottom + 36}" text-anchor="middle" fill="#333">${escapeXml(chart.xLabel)}</text>`,
    '</g>',
  );
  chart.series.forEach((series, i) => {
    const color = series.color ?? colorFor(series.label);
    const pts = series.points.map((p) => `${r1(xAt(p.x))},${r1(y.at(p.y))}`);
    parts.push(
      `<g class="series" data-label="${escapeXml(series.label)}">`,
      `<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2"/>`,
      ...series.points.map(
        (p) => `<circle cx="${r1(xAt(p.x))}" cy="${r1(y.at(p.y))}" r="3" fill="${color}"/>`,
      ),
      `<line x1="${right + 16}" y1="${top + 8 + i * 20}" x2="${right + 36}" y2="${top + 8 + i * 20}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${right + 42}" y="${top + 12 + i * 20}">${escapeXml(series.label)}</text>`,
      '</g>',
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
