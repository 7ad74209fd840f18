import type { ComponentChildren } from 'preact'
import { type MdBlock, type MdInline, parseInline, parseMarkdown } from '../src/coverage/markdown.js'
import { safeHref } from './api.js'

/** How a code span shows: the readout turns one naming a flag into a link to its page. */
export type CodeRenderer = (text: string) => ComponentChildren

const plainCode: CodeRenderer = (text) => <code>{text}</code>

function Inline({ nodes, code }: { nodes: MdInline[]; code: CodeRenderer }) {
  return (
    <>
      {nodes.map((n) =>
        n.type === 'text' ? (
          n.text
        ) : n.type === 'code' ? (
          code(n.text)
        ) : n.type === 'strong' ? (
          <strong>
            <Inline nodes={n.children} code={code} />
          </strong>
        ) : (
          <a href={safeHref(n.href)} target="_blank" rel="noopener noreferrer">
            <Inline nodes={n.children} code={code} />
          </a>
        ),
      )}
    </>
  )
}

/** One line of Markdown (a setting's hint): its marks rendered, its text kept as text. */
export function MarkdownInline({ text, code = plainCode }: { text: string; code?: CodeRenderer }) {
  return <Inline nodes={parseInline(text)} code={code} />
}

function Block({ block, code, headingOffset }: { block: MdBlock; code: CodeRenderer; headingOffset: number }) {
  if (block.type === 'heading') {
    const H = `h${Math.min(6, block.level + headingOffset)}` as 'h3'
    return (
      <H>
        <Inline nodes={block.children} code={code} />
      </H>
    )
  }
  if (block.type === 'paragraph')
    return (
      <p>
        <Inline nodes={block.children} code={code} />
      </p>
    )
  const items = block.items.map((item, i) => (
    <li key={i}>
      <Inline nodes={item} code={code} />
    </li>
  ))
  return block.ordered ? <ol start={block.start}>{items}</ol> : <ul>{items}</ul>
}

/**
 * Markdown rendered as elements, never as HTML: the parser's tree holds text, and Preact makes
 * text nodes of it, so a flag key written as HTML shows as what it is.
 */
export function Markdown({ text, code = plainCode, headingOffset = 0 }: { text: string; code?: CodeRenderer; headingOffset?: number }) {
  return (
    <>
      {parseMarkdown(text).map((b, i) => (
        <Block key={i} block={b} code={code} headingOffset={headingOffset} />
      ))}
    </>
  )
}
