import escapeHtml from 'escape-html';

/** One bar of a chart: its label, its length, and its figure in words. */
export interface Bar {
  label: string;
  value: number;
  /** A second, lighter bar drawn behind the first (e.g. the 90th percentile behind the median). */
  second?: number;
  note: string;
}

/**
 * A horizontal bar chart as inline SVG: one row per bar, its label above the bar and its figure in words below it, so
 * it reads at a glance and to a screen reader (the SVG is an image with a title; the figures are also in its text).
 * The SVG has no viewBox: it is as wide as its box and its text keeps its size in CSS pixels, so a phone shows the
 * same 13 px text as a desktop; bar lengths are percentages of the width.
 */
export function barChart(id: string, title: string, bars: Bar[]): string {
  const rowHeight = 62;
  const max = Math.max(1, ...bars.flatMap((bar) => [bar.value, bar.second ?? 0]));
  const share = (value: number) => (value <= 0 ? 0 : Math.max(0.5, Math.round((value / max) * 1000) / 10));
  const rows = bars.map((bar, index) => {
    const y = index * rowHeight;
    const label = bar.label.length > 28 ? `${bar.label.slice(0, 27)}…` : bar.label;
    return [
      `<text x="0" y="${y + 15}" class="label">${escapeHtml(label)}</text>`,
      bar.second !== undefined
        ? `<rect x="0" y="${y + 20}" width="${share(bar.second)}%" height="16" rx="3" class="bar2"/>`
        : '',
      `<rect x="0" y="${y + 20}" width="${share(bar.value)}%" height="16" rx="3" class="bar"/>`,
      `<text x="0" y="${y + 51}" class="note">${escapeHtml(bar.note)}</text>`,
    ].join('');
  });
  const height = Math.max(rowHeight, bars.length * rowHeight);
  return (
    `<figure class="chart"><svg id="chart-${id}" role="img" aria-labelledby="chart-${id}-title" ` +
    `width="100%" height="${height}">` +
    `<title id="chart-${id}-title">${escapeHtml(title)}: ${escapeHtml(bars.map((b) => `${b.label} ${b.note}`).join('; '))}</title>` +
    `${rows.join('')}</svg><figcaption>${escapeHtml(title)}</figcaption></figure>`
  );
}
