import escapeHtml from 'escape-html';
import { htmlDocument } from './page.ts';

/**
 * The frame of the board's pages: the header with the page links and, when there is more than one pipeline, a link
 * to each other pipeline; the style every board page shares. Laid out for a phone first: nothing is wider than the
 * screen, and every control is a link or a native form field.
 */

/** A pipeline as the pages name and link it. */
export interface PipelineRef {
  id: string;
  name: string;
}

/** Where a page sits: the pipeline it shows, every pipeline (for the switcher) and which page it is. */
export interface PagePlace {
  pipeline: PipelineRef;
  pipelines: PipelineRef[];
  page: 'board' | 'deal' | 'insights';
}

/** The query string naming a pipeline, with extra parameters. */
export function pipelineQuery(pipeline: string, extra: Record<string, string> = {}): string {
  return `?${new URLSearchParams({ pipeline, ...extra })}`;
}

/** One column of a table: its heading and the cell text of a row. */
export interface TableColumn<Row> {
  heading: string;
  cell: (row: Row) => string;
}

/**
 * A table whose rows stack into labelled lines on a phone (each cell carries its heading), so no column is ever cut
 * off; on a wide screen it is an ordinary table. Columns are data, so a page adds one by adding an entry.
 */
export function stackingTable<Row>(label: string, columns: TableColumn<Row>[], rows: Row[]): string {
  const head = columns.map((column) => `<th scope="col">${escapeHtml(column.heading)}</th>`).join('');
  const body = rows
    .map(
      (row) =>
        `<tr>${columns
          .map((column) => {
            const text = column.cell(row);
            return `<td data-label="${escapeHtml(column.heading)}"${text === '' ? ' class="blank"' : ''}>${escapeHtml(text)}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('');
  return (
    `<div class="table" role="region" aria-label="${escapeHtml(label)}" tabindex="0"><table class="stacking">` +
    `<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`
  );
}

const STYLE = `
body{margin:0;background:#f3f4f6;color:#111;font:15px/1.45 -apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif}
header{background:#1f2937;color:#fff;padding:10px 16px;display:flex;flex-wrap:wrap;gap:4px 16px;align-items:center}
header a{color:#fff}
header .brand{font-weight:700;margin-right:8px}
header a[aria-current]{font-weight:700;text-decoration:none;border-bottom:2px solid #93c5fd}
header .pipelines{margin-left:auto;color:#d1d5db}
main{padding:16px;max-width:1600px;margin:0 auto}
h1{font-size:22px;margin:0 0 12px;overflow-wrap:anywhere}
h3{font-size:15px;margin:14px 0 6px}
a{color:#1d4ed8}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,[tabindex]:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
.summary,.hint{color:#444}
.filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:center;margin:0 0 14px}
.filters input[type=search],.filters input[type=date],.filters select{font:inherit;padding:8px;border:1px solid #9ca3af;border-radius:6px;min-width:0;max-width:100%;background:#fff}
.filters button{font:inherit;font-weight:600;padding:8px 16px;border:0;border-radius:6px;background:#1d4ed8;color:#fff;cursor:pointer}
.check{display:flex;gap:6px;align-items:center}
.board{display:grid;gap:12px;grid-template-columns:1fr}
@media (min-width:900px){.board{grid-auto-flow:column;grid-auto-columns:minmax(200px,1fr);grid-template-columns:none;overflow-x:auto;padding-bottom:8px}}
.column{background:#e5e7eb;border-radius:8px;padding:10px;min-width:0}
.column.closed{background:#eef2f7}
.column h2{margin:0 0 4px;font-size:16px}
.totals{margin:0 0 8px;color:#333;font-size:14px;overflow-wrap:anywhere}
.cards{list-style:none;margin:0;padding:0;display:grid;gap:8px}
.card{background:#fff;border-radius:6px;padding:8px 10px;border-left:4px solid #9ca3af;overflow-wrap:anywhere}
.card a{font-weight:600}
.card p{margin:4px 0 0;font-size:13px;color:#333}
.card.is-stale{border-left-color:#c62828;background:#fff5f5}
.stale,.flag{color:#fff;background:#c62828;border-radius:4px;padding:0 6px;font-size:12px;display:inline-block}
.flag.rejected{background:#7c2d12}
.missing{color:#92400e}
.pending{color:#1e40af}
.empty,.more{color:#555;font-size:13px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:6px 12px;margin:12px 0;background:#fff;padding:12px;border-radius:8px}
.crm-link{margin:0 0 12px}
.checklist{list-style:none;padding:0;display:grid;gap:6px}
.checklist li{background:#fff;border-radius:6px;padding:8px 10px}
.mark{display:inline-block;min-width:44px;text-align:center;border-radius:4px;font-size:12px;font-weight:700;color:#fff;padding:0 6px}
.met .mark{background:#1e7d32}
.unmet .mark{background:#b45309}
.value{color:#444;font-size:13px;overflow-wrap:anywhere}
.badge{font-size:12px;background:#fde68a;border-radius:10px;padding:1px 8px;font-weight:600}
.table{overflow-x:auto}
table{border-collapse:collapse;background:#fff;min-width:100%}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top;font-size:14px;overflow-wrap:anywhere}
@media (max-width:700px){
table.stacking thead{display:none}
table.stacking,table.stacking tbody,table.stacking tr,table.stacking td{display:block;width:100%}
table.stacking tr{border-bottom:2px solid #d1d5db;padding:4px 0}
table.stacking td{display:grid;grid-template-columns:7.5em 1fr;gap:8px;border:0;padding:3px 8px}
table.stacking td::before{content:attr(data-label);color:#555}
table.stacking td.blank{display:none}
}
.timeline{list-style:none;padding:0;display:grid;gap:6px}
.timeline li{background:#fff;border-radius:6px;padding:8px 10px;border-left:4px solid #9ca3af;overflow-wrap:anywhere}
.timeline li.refused{border-left-color:#c62828}
.timeline li.refused .reasons{color:#8a1c14}
.timeline li.waiting{border-left-color:#1d4ed8}
.reasons{margin:4px 0 0;padding-left:18px;color:#333}
.tiles{display:flex;flex-wrap:wrap;gap:12px}
.tile{background:#fff;border-radius:8px;padding:12px 16px;min-width:160px;flex:1 1 160px}
.tile p{margin:0}
.tile-label{color:#444}
.tile-value{font-size:28px;font-weight:700}
.chart{margin:0;background:#fff;border-radius:8px;padding:12px;max-width:760px}
.chart svg{display:block;width:100%}
.chart .label,.chart .note{font-size:13px;fill:#111}
.chart .note{fill:#333}
.chart .bar{fill:#1d4ed8}
.chart .bar2{fill:#93c5fd}
figcaption{color:#555;font-size:13px;margin-top:4px}
`;

/** A board page: the header (page links, pipeline switcher), the title and `body`. */
export function boardLayout(title: string, place: PagePlace | null, body: string[]): string {
  const header = ['<header><span class="brand">Stageflow</span>'];
  if (place !== null) {
    const q = pipelineQuery(place.pipeline.id);
    const link = (href: string, label: string, page: PagePlace['page']) =>
      `<a href="${escapeHtml(href + q)}"${page === place.page ? ' aria-current="page"' : ''}>${label}</a>`;
    header.push(
      `<nav aria-label="Board pages">${link('/board', 'Board', 'board')} · ${link('/board/insights', 'Insights', 'insights')}</nav>`,
    );
    if (place.pipelines.length > 1) {
      const target = place.page === 'insights' ? '/board/insights' : '/board';
      const links = place.pipelines.map((other) =>
        other.id === place.pipeline.id
          ? `<a href="${escapeHtml(target + pipelineQuery(other.id))}" aria-current="page">${escapeHtml(other.name)}</a>`
          : `<a href="${escapeHtml(target + pipelineQuery(other.id))}">${escapeHtml(other.name)}</a>`,
      );
      header.push(`<nav class="pipelines" aria-label="Pipelines">Pipeline: ${links.join(' · ')}</nav>`);
    }
  }
  header.push('</header>');
  return htmlDocument(title, STYLE, [
    ...header,
    '<main>',
    `<h1>${escapeHtml(title)}</h1>`,
    ...body.filter((part) => part !== ''),
    '</main>',
  ]);
}
