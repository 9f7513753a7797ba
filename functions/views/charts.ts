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
 * A horizontal bar chart as inline SVG: one row per bar with its label and its figure in words, so it reads at a
 * glance and to a screen reader (the SVG is an image with a title; the figures are also in its text).
 */
export function barChart(id: string, title: string, bars: Bar[]): string {
  const rowHeight = 34;
  const labelWidth = 150;
  const barWidth = 300;
  const noteWidth = 240;
  const width = labelWidth + barWidth + noteWidth;
  const max = Math.max(1, ...bars.flatMap((bar) => [bar.value, bar.second ?? 0]));
  const scale = (value: number) => Math.max(value > 0 ? 2 : 0, Math.round((value / max) * barWidth));
  const rows = bars.map((bar, index) => {
    const y = index * rowHeight;
    const label = bar.label.length > 22 ? `${bar.label.slice(0, 21)}…` : bar.label;
    return [
      `<text x="0" y="${y + 21}" class="label">${escapeHtml(label)}</text>`,
      bar.second !== undefined
        ? `<rect x="${labelWidth}" y="${y + 6}" width="${scale(bar.second)}" height="20" rx="3" class="bar2"/>`
        : '',
      `<rect x="${labelWidth}" y="${y + 6}" width="${scale(bar.value)}" height="20" rx="3" class="bar"/>`,
      `<text x="${labelWidth + barWidth + 8}" y="${y + 21}" class="note">${escapeHtml(bar.note)}</text>`,
    ].join('');
  });
  const height = Math.max(rowHeight, bars.length * rowHeight);
  return (
    `<figure class="chart"><svg id="chart-${id}" role="img" aria-labelledby="chart-${id}-title" ` +
    `viewBox="0 0 ${width} ${height}" width="100%" preserveAspectRatio="xMinYMin meet">` +
    `<title id="chart-${id}-title">${escapeHtml(title)}: ${escapeHtml(bars.map((b) => `${b.label} ${b.note}`).join('; '))}</title>` +
    `${rows.join('')}</svg><figcaption>${escapeHtml(title)}</figcaption></figure>`
  );
}
