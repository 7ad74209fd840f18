import { Fragment } from 'preact'
import { hrefWith, navigate } from './url-state.js'

/**
 * A flag key that wraps only where a person would break it: after - _ . / : (a <wbr>), never in the
 * middle of a word. The key stays text: each piece is a text node, nothing is parsed as HTML.
 */
export function FlagKey({ value }: { value: string }) {
  const pieces = value.split(/(?<=[-_./:])/)
  return (
    <>
      {pieces.map((p, i) => (
        <Fragment key={i}>
          {p}
          {i < pieces.length - 1 && <wbr />}
        </Fragment>
      ))}
    </>
  )
}

/** A flag's key as a link to its page in this UI; a plain click stays in the page (the URL keeps the state). */
export function FlagLink({ flag, code = false }: { flag: string; code?: boolean }) {
  const change = { view: 'flag', flag }
  return (
    <a
      href={hrefWith(change)}
      class={code ? 'flag-link' : 'flag-key flag-link'}
      data-flag-link={flag}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return
        e.preventDefault()
        navigate(change, { push: true })
        scrollTo(0, 0)
      }}
    >
      {code ? (
        <code class="flag-key">
          <FlagKey value={flag} />
        </code>
      ) : (
        <FlagKey value={flag} />
      )}
    </a>
  )
}
