/** Two small SVG charts, drawn by hand so the suite needs no plotting dependency. */

const WIDTH = 820;
const font = (size = 12): string => `font-family="system-ui, sans-serif" font-size="${size}"`;
const FONT = font();
const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

export interface LineSeries {
  readonly label: string;
  readonly points: ReadonlyArray<{ readonly x: number; readonly y: number }>;
}

/**
 * A line chart of y against integer x, one line per series, with a legend; `ideal`, if given,
 * is drawn as a dashed reference line y = ideal(x).
 */
export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly LineSeries[], ideal?: (x: number) => number): string {
  const height = 360;
  const left = 70;
  const right = 300;
  const top = 40;
  const bottom = 50;
  const plotW = WIDTH - left - right;
  const plotH = height - top - bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs, xMin + 1);
  const yMax = niceMax(Math.max(...series.flatMap((s) => s.points.map((p) => p.y)), ...(ideal === undefined ? [] : [ideal(xMax)])));
  const px = (x: number): number => left + ((x - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number): number => top + plotH - (y / yMax) * plotH;
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="22" ${font(14)} font-weight="600">${escape(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const y = (yMax / 5) * i;
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${py(y)}" y2="${py(y)}" stroke="#e5e7eb"/>`);
    const tick = yMax >= 100 ? Math.round(y).toLocaleString('en') : String(Number(y.toFixed(2)));
    parts.push(`<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end" ${FONT}>${tick}</text>`);
  }
  for (let x = xMin; x <= xMax; x++) {
    parts.push(`<text x="${px(x)}" y="${top + plotH + 18}" text-anchor="middle" ${FONT}>${x}</text>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 8}" text-anchor="middle" ${FONT}>${escape(xLabel)}</text>`);
  parts.push(
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle" ${FONT}>${escape(yLabel)}</text>`,
  );
  if (ideal !== undefined) {
    parts.push(
      `<path d="M${px(xMin)},${py(ideal(xMin))} L${px(xMax)},${py(ideal(xMax))}" fill="none" stroke="#9ca3af" stroke-dasharray="5 4"/>`,
      `<text x="${px(xMax) - 4}" y="${py(ideal(xMax)) - 6}" text-anchor="end" ${font(11)} fill="#6b7280">linear</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const path = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const p of s.points) parts.push(`<circle cx="${px(p.x)}" cy="${py(p.y)}" r="3.5" fill="${color}"/>`);
    const ly = top + 10 + i * 20;
    parts.push(`<rect x="${left + plotW + 16}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text x="${left + plotW + 34}" y="${ly + 1}" ${FONT}>${escape(s.label)}</text>`);
  });
  return svg(height, parts);
}

export interface BarGroup {
  readonly label: string;
  /** One value per bar name, same order as `bars`. */
  readonly values: readonly number[];
}

/** Grouped horizontal bars on a logarithmic axis (latencies spanning orders of magnitude). */
export function logBarChart(title: string, unit: string, bars: readonly string[], groups: readonly BarGroup[]): string {
  // Room for the longest label (about 6.5 px a character at 12 px).
  const left = Math.max(160, Math.ceil(Math.max(...groups.map((g) => g.label.length)) * 6.5) + 16);
  const right = 40;
  const top = 60;
  const barH = 12;
  const groupH = bars.length * (barH + 3) + 14;
  const height = top + groups.length * groupH + 40;
  const plotW = WIDTH - left - right;
  const values = groups.flatMap((g) => g.values).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.min(...values)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const px = (v: number): number => left + (Math.log10(Math.max(v, lo) / lo) / Math.log10(hi / lo)) * plotW;
  const parts: string[] = [];
  parts.push(`<text x="12" y="22" ${font(14)} font-weight="600">${escape(title)}</text>`);
  bars.forEach((name, i) => {
    const x = left + i * 150;
    parts.push(`<rect x="${x}" y="32" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    parts.push(`<text x="${x + 18}" y="42" ${FONT}>${escape(name)}</text>`);
  });
  for (let v = lo; v <= hi; v *= 10) {
    parts.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${top - 6}" y2="${height - 34}" stroke="#e5e7eb"/>`);
    parts.push(`<text x="${px(v)}" y="${height - 20}" text-anchor="middle" ${FONT}>${v >= 1 ? v : v.toFixed(2)} ${escape(unit)}</text>`);
  }
  groups.forEach((group, g) => {
    const y0 = top + g * groupH;
    parts.push(`<text x="${left - 8}" y="${y0 + groupH / 2 - 2}" text-anchor="end" ${FONT}>${escape(group.label)}</text>`);
    group.values.forEach((value, b) => {
      const y = y0 + b * (barH + 3);
      parts.push(
        `<rect x="${left}" y="${y}" width="${Math.max(1, px(value) - left).toFixed(1)}" height="${barH}" fill="${COLORS[b % COLORS.length]}"/>`,
      );
      parts.push(`<text x="${px(value) + 4}" y="${y + barH - 2}" ${font(10)}>${value.toFixed(value < 10 ? 2 : 0)}</text>`);
    });
  });
  return svg(height, parts);
}

function svg(height: number, parts: readonly string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}
