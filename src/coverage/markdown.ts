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

/**
 * The small Markdown the readout and the plugin's hints are written in, parsed so the UI and the
 * HTML report render it (headings, paragraphs, lists, `code`, **bold**, [links](https://…)) instead
 * of showing its marks. The tree holds plain text only: each renderer escapes it or makes text
 * nodes of it, so nothing from data ever becomes HTML.
 */
export type MdInline = { type: 'text'; text: string } | { type: 'code'; text: string } | { type: 'strong'; children: MdInline[] } | { type: 'link'; href: string; children: MdInline[] }
export type MdBlock =
  | { type: 'heading'; level: number; children: MdInline[] }
  | { type: 'paragraph'; children: MdInline[] }
  | { type: 'list'; ordered: boolean; start: number; items: MdInline[][] }

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" }

/** Inline Markdown: code spans (any fence), **bold**, [text](http…) links, backslash escapes, the entities mdText writes. */
export function parseInline(s: string): MdInline[] {
  const out: MdInline[] = []
  const text = (t: string) => {
    const last = out[out.length - 1]
    if (last?.type === 'text') last.text += t
    else if (t) out.push({ type: 'text', text: t })
  }
  let i = 0
  while (i < s.length) {
    const ch = s[i]!
    if (ch === '`') {
      const fence = /^`+/.exec(s.slice(i))![0]
      const close = new RegExp(`(?<!\`)${fence}(?!\`)`, 'g')
      close.lastIndex = i + fence.length
      const m = close.exec(s)
      if (m) {
        let code = s.slice(i + fence.length, m.index)
        if (code.length > 2 && code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1)
        out.push({ type: 'code', text: code })
        i = m.index + fence.length
        continue
      }
      text(fence)
      i += fence.length
      continue
    }
    if (ch === '*' && s[i + 1] === '*') {
      const end = s.indexOf('**', i + 2)
      if (end > i + 2) {
        out.push({ type: 'strong', children: parseInline(s.slice(i + 2, end)) })
        i = end + 2
        continue
      }
    }
    if (ch === '[') {
      const m = /^\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/i.exec(s.slice(i))
      if (m) {
        out.push({ type: 'link', href: m[2]!, children: parseInline(m[1]!) })
        i += m[0].length
        continue
      }
    }
    if (ch === '\\' && i + 1 < s.length && /[!-/:-@[-`{-~]/.test(s[i + 1]!)) {
      text(s[i + 1]!)
      i += 2
      continue
    }
    if (ch === '&') {
      const m = /^&(amp|lt|gt|quot|apos|#39);/.exec(s.slice(i))
      if (m) {
        text(ENTITIES[m[1]!]!)
        i += m[0].length
        continue
      }
    }
    text(ch)
    i++
  }
  return out
}

/** Block Markdown: `#` headings, `-`/`*` and `1.` lists, paragraphs of consecutive lines. */
export function parseMarkdown(md: string): MdBlock[] {
  const blocks: MdBlock[] = []
  let para: string[] = []
  let list: { ordered: boolean; start: number; items: string[] } | null = null
  const flush = () => {
    if (para.length) blocks.push({ type: 'paragraph', children: parseInline(para.join(' ')) })
    if (list) blocks.push({ type: 'list', ordered: list.ordered, start: list.start, items: list.items.map(parseInline) })
    para = []
    list = null
  }
  for (const raw of md.split('\n')) {
    const line = raw.trimEnd()
    const heading = /^(#{1,6})\s+(.*)$/.exec(line)
    const bullet = /^[-*]\s+(.*)$/.exec(line)
    const numbered = /^(\d{1,9})[.)]\s+(.*)$/.exec(line)
    if (!line.trim()) flush()
    else if (heading) {
      flush()
      blocks.push({ type: 'heading', level: heading[1]!.length, children: parseInline(heading[2]!) })
    } else if (bullet || numbered) {
      const ordered = Boolean(numbered)
      if (para.length || (list && list.ordered !== ordered)) flush()
      list ??= { ordered, start: numbered ? Number(numbered[1]) : 1, items: [] }
      list.items.push(bullet ? bullet[1]! : numbered![2]!)
    } else if (list && /^\s+\S/.test(raw)) list.items[list.items.length - 1] += ` ${line.trim()}`
    else {
      if (list) flush()
      para.push(line.trim())
    }
  }
  flush()
  return blocks
}

const escHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

function inlineHtml(nodes: MdInline[]): string {
  return nodes
    .map((n) =>
      n.type === 'text' ? escHtml(n.text) : n.type === 'code' ? `<code>${escHtml(n.text)}</code>` : n.type === 'strong' ? `<b>${inlineHtml(n.children)}</b>` : `<a href="${escHtml(n.href)}" rel="noopener">${inlineHtml(n.children)}</a>`,
    )
    .join('')
}

/** Markdown as HTML for a self-contained page: every text escaped, lists as lists. */
export function markdownToHtml(md: string, opts: { headingOffset?: number } = {}): string {
  return parseMarkdown(md)
    .map((b) => {
      if (b.type === 'heading') {
        const h = Math.min(6, b.level + (opts.headingOffset ?? 0))
        return `<h${h}>${inlineHtml(b.children)}</h${h}>`
      }
      if (b.type === 'paragraph') return `<p>${inlineHtml(b.children)}</p>`
      const tag = b.ordered ? 'ol' : 'ul'
      const start = b.ordered && b.start !== 1 ? ` start="${b.start}"` : ''
      return `<${tag}${start}>\n${b.items.map((item) => `<li>${inlineHtml(item)}</li>`).join('\n')}\n</${tag}>`
    })
    .join('\n')
}
