import escapeHtml from 'escape-html';
import type { Fact } from './wording.ts';

/**
 * The shell every Stageflow page is built in: plain HTML that works on a phone, loads nothing and runs no script.
 * Every value from a deal or a config is escaped.
 */

/** An HTTP answer carrying one page; structurally an API Gateway result. */
export interface HtmlResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * The pages load nothing and may only post back to this origin; a review link's token must not leak through a
 * referrer, a frame or a cache.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

/** A page as an HTTP answer with the security headers every page carries. */
export function htmlResponse(statusCode: number, page: string, headers: Record<string, string> = {}): HtmlResponse {
  return { statusCode, headers: { ...PAGE_HEADERS, ...headers }, body: page };
}

/** What one kind of page answers when a request fails: a person in a browser gets a page, never JSON or a stack trace. */
export interface ErrorPages {
  /** The page for something that does not exist (404). */
  notFound: (error: Error) => string;
  /** A refusal or a failure: a title and a sentence that says what to do. */
  problem: (title: string, message: string) => string;
  /** What to do after a failure that is not the person's own. */
  failureAdvice: string;
  /** The log message of such a failure. */
  failureLog: string;
}

/** The style rules every page starts with; each page kind adds its own after them. */
export const BASE_STYLE = `
*{box-sizing:border-box}
h2{font-size:17px;margin:20px 0 8px}
dt{color:#555}
dd{margin:0;overflow-wrap:anywhere}
.problem{background:#fdecea;border:1px solid #d93025;color:#8a1c14;padding:10px 12px;border-radius:6px}
`;

/**
 * A whole page: the title (escaped), the base style and `style` inline (the only style the CSP allows), no referrer
 * (review links carry tokens), a phone-width viewport, then `body` inside `<body>`.
 */
export function htmlDocument(title: string, style: string, body: string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    `<title>${escapeHtml(title)} · Stageflow</title>`,
    `<style>${BASE_STYLE}${style}</style>`,
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
  ].join('\n');
}

/** A facts table as a definition list; facts with no value are left out, and no facts make no list. */
export function factList(facts: Fact[]): string {
  const shown = facts.filter((fact): fact is [string, string] => fact[1] !== null);
  if (shown.length === 0) return '';
  return `<dl>${shown.map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`).join('')}</dl>`;
}

/** A titled bullet list; an empty list is left out. */
export function bulletList(title: string, items: string[], heading: 'h2' | 'h3' = 'h2'): string {
  if (items.length === 0) return '';
  return (
    `<${heading}>${escapeHtml(title)}</${heading}>` +
    `<ul>${items.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`
  );
}
