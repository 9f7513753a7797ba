import escapeHtml from 'escape-html';
import type { CrmCallResult, CrmStageValue } from './types.ts';

/**
 * A plain-text note as the HTML HubSpot and Pipedrive store notes in: escaped, line breaks kept, cut to `limit`
 * characters without splitting an entity or a tag.
 */
export function htmlNote(text: string, limit: number): string {
  const html = escapeHtml(text).replaceAll(/\r?\n/g, '<br>');
  if (html.length <= limit) return html;
  return `${html.slice(0, limit - 1).replace(/&[^;]*$|<[^>]*$/, '')}…`;
}

/** Plain text cut to `limit` characters. */
export function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** The answer to a stage value meant for another CRM: a caller's mistake, reported, never sent. */
export function unsupportedField(crm: string, expected: string, value: CrmStageValue): CrmCallResult {
  return { ok: false, status: 0, attempts: 0, message: `${crm} stages are written as ${expected}, not ${value.field}` };
}
