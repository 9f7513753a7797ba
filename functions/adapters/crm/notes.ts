import escapeHtml from 'escape-html';
import type { CrmCallResult, CrmNote, CrmStageValue } from './types.ts';

/**
 * A plain-text note as the HTML HubSpot and Pipedrive store notes in: escaped, line breaks kept, cut to `limit`
 * characters without splitting an entity or a tag.
 */
export function htmlNote(text: string, limit: number): string {
  const html = escapeHtml(text).replaceAll(/\r?\n/g, '<br>');
  if (html.length <= limit) return html;
  return `${html.slice(0, limit - 1).replace(/&[^;]*$|<[^>]*$/, '')}…`;
}

/** The last line of every note: the decision it tells of, by which a write in doubt finds it again. */
export function refLine(ref: string): string {
  return `(Stageflow decision ${ref})`;
}

/** Whether a note as the CRM stores it (text or HTML) tells of the decision `ref`. */
export function carriesRef(stored: string, ref: string): boolean {
  return stored.includes(escapeHtml(refLine(ref)));
}

/** The note as HubSpot and Pipedrive store it: escaped HTML cut to `limit`, its reference line kept whole at the end. */
export function htmlNoteWithRef(note: CrmNote, limit: number): string {
  const tail = `<br>${escapeHtml(refLine(note.ref))}`;
  return `${htmlNote(note.text, limit - tail.length)}${tail}`;
}

/** Plain text cut to `limit` characters. */
export function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/** The answer to a stage value meant for another CRM: a caller's mistake, reported, never sent. */
export function unsupportedField(crm: string, expected: string, value: CrmStageValue): CrmCallResult {
  return { ok: false, status: 0, attempts: 0, message: `${crm} stages are written as ${expected}, not ${value.field}` };
}
