/**
 * Text from events and definitions (flag keys only events mention, variant values, experiment
 * names) goes into Markdown that renderers turn into HTML: it must stay text. Raw HTML becomes
 * entities, line breaks become spaces (a newline would end a list item or a table row).
 */
export function mdText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/[\r\n\u2028\u2029]+/g, ' ')
}

/** Inline code that no backtick in the text can close early (CommonMark: a longer fence, padded). */
export function mdCode(s: string): string {
  const text = s.replace(/[\r\n\u2028\u2029]+/g, ' ')
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const fence = '`'.repeat(longest + 1)
  return longest > 0 || text.startsWith(' ') || text.endsWith(' ') ? `${fence} ${text} ${fence}` : `${fence}${text}${fence}`
}

/** A table cell: text, with the pipe that would start a new cell escaped. */
export function mdCell(s: string): string {
  return mdText(s).replace(/\|/g, '\\|')
}
