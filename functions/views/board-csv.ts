import { stringify } from 'csv-stringify/sync';
import type { BoardColumn } from './board-pages.ts';

/** The header row of the board's CSV export. */
export const CSV_HEADER = [
  'Deal',
  'Deal id',
  'Owner',
  'Owner email',
  'Stage',
  'Amount',
  'Currency',
  'Days in stage',
  'Open exit criteria',
] as const;

/**
 * The board's deals as CSV, one row per card in column order, for a spreadsheet: the amount as a plain number with
 * its currency code beside it (text the CRM sent as it came), the open exit criteria by their descriptions. A cell
 * that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return first) is prefixed with `'`.
 */
export function boardCsv(columns: BoardColumn[]): string {
  const rows = columns.flatMap((column) =>
    column.cards.map((card) => [
      card.name,
      card.dealId,
      card.owner ?? '',
      card.ownerEmail ?? '',
      column.stage.name,
      card.summable.kind === 'summed' ? card.summable.value : (card.amount ?? ''),
      card.summable.kind === 'summed' ? (card.summable.currency ?? '') : '',
      card.daysInStage,
      card.openCriteria.join('; '),
    ]),
  );
  return stringify([[...CSV_HEADER], ...rows], { escape_formulas: true, record_delimiter: 'windows', bom: true });
}
