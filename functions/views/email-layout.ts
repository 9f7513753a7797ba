import escapeHtml from 'escape-html';
import type { Fact } from './wording.ts';

/**
 * The one layout of every email: its content rendered once as plain text and once as HTML, so both always say the
 * same. Every value is escaped in the HTML.
 */

/** An email ready for the mailer. */
export interface EmailMessage {
  to: string;
  /** Copied: e.g. the escalation address on an approval's reminder. */
  cc?: string[];
  subject: string;
  text: string;
  html: string;
}

/** The content of one email, rendered once as text and once as HTML so both always say the same. */
export interface EmailContent {
  to: string;
  cc?: string[];
  subject: string;
  heading: string;
  paragraphs: string[];
  /** The facts table; a fact with a null value (unknown) is left out. */
  facts: Fact[];
  /** Empty lists are left out. */
  lists?: { title: string; items: string[] }[];
  /** The one link of the email, if any. */
  action?: { label: string; url: string };
  footer?: string;
}

/** Renders an email's content as its text and HTML bodies (every value escaped in the HTML). */
export function render(content: EmailContent): EmailMessage {
  const facts = content.facts.filter((fact): fact is [string, string] => fact[1] !== null);
  const lists = (content.lists ?? []).filter((list) => list.items.length > 0);
  return {
    to: content.to,
    ...(content.cc && content.cc.length > 0 ? { cc: content.cc } : {}),
    // A CRM-supplied name must not break the Subject header onto a second line, nor reverse or hide parts of it in
    // the inbox (U+202E RIGHT-TO-LEFT OVERRIDE, U+200F, zero-width characters, NUL): controls and format characters go.
    subject: content.subject
      .replace(/\s+/g, ' ')
      .replace(/[\p{Cc}\p{Cf}]/gu, '')
      .trim(),
    text: renderText(content, facts, lists),
    html: renderHtml(content, facts, lists),
  };
}

function renderText(
  content: EmailContent,
  facts: [string, string][],
  lists: { title: string; items: string[] }[],
): string {
  const blocks = [
    content.heading,
    ...content.paragraphs,
    facts.map(([label, value]) => `${label}: ${value}`).join('\n'),
    ...lists.map((list) => [`${list.title}:`, ...list.items.map((item) => `- ${item}`)].join('\n')),
    content.action ? `${content.action.label}: ${content.action.url}` : '',
    content.footer ?? '',
  ];
  return `${blocks.filter((block) => block !== '').join('\n\n')}\n`;
}

const FONT = 'font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif';

function renderHtml(
  content: EmailContent,
  facts: [string, string][],
  lists: { title: string; items: string[] }[],
): string {
  const paragraph = (text: string) => `<p style="margin:0 0 12px;line-height:1.5">${escapeHtml(text)}</p>`;
  const rows = facts.map(
    ([label, value]) =>
      `<tr><td style="padding:4px 12px 4px 0;color:#555;vertical-align:top;white-space:nowrap">${escapeHtml(label)}</td>` +
      `<td style="padding:4px 0;vertical-align:top">${escapeHtml(value)}</td></tr>`,
  );
  const sections = lists.map(
    (list) =>
      `<h2 style="font-size:16px;margin:20px 0 8px">${escapeHtml(list.title)}</h2>` +
      `<ul style="margin:0;padding-left:20px;line-height:1.5">${list.items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`,
  );
  const action = content.action
    ? `<p style="margin:24px 0"><a href="${escapeHtml(content.action.url)}" style="display:inline-block;padding:12px 20px;` +
      `background:#1f5fd6;color:#ffffff;border-radius:6px;text-decoration:none;font-weight:600">` +
      `${escapeHtml(content.action.label)}</a></p>`
    : '';
  const footer = content.footer
    ? `<p style="margin:16px 0 0;color:#555;font-size:13px;line-height:1.5">${escapeHtml(content.footer)}</p>`
    : '';
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(content.subject)}</title></head>`,
    `<body style="margin:0;padding:16px;background:#f3f4f6;color:#111;${FONT}">`,
    '<div style="max-width:560px;margin:0 auto;background:#ffffff;border-radius:8px;padding:20px">',
    `<h1 style="font-size:20px;margin:0 0 16px">${escapeHtml(content.heading)}</h1>`,
    ...content.paragraphs.map(paragraph),
    rows.length > 0
      ? `<table role="presentation" style="border-collapse:collapse;margin:8px 0">${rows.join('')}</table>`
      : '',
    ...sections,
    action,
    footer,
    '</div></body></html>',
  ].join('\n');
}
