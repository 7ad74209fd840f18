import { createReadStream, statSync } from 'node:fs'
import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { ExitError } from './errors.js'

export interface NdjsonLine {
  readonly lineNo: number
  readonly value: unknown
}

export interface NdjsonProgress {
  /** bytes of the file read so far, and its size (compressed bytes for .gz) */
  (read: number, size: number): void
}

// A few broken lines in millions are reported and skipped; a file that is mostly not JSON lines
// is the wrong file, and the audit stops instead of reporting on nothing.
const MAX_BAD_SHARE = 0.01
const MIN_LINES_FOR_SHARE = 100
const SHOW_BAD = 10
// One event is a few kilobytes (posthog-js puts every loaded flag on each; a 1,000-flag app makes
// about 2 KB); an exception with its stack trace a few hundred. Past 8 million characters a line is
// not an event, and holding it would cost memory and time for nothing.
export const MAX_LINE_CHARS = 8_000_000

async function firstBytes(file: string): Promise<Buffer> {
  const probe = createReadStream(file, { start: 0, end: 3 })
  const chunks: Buffer[] = []
  for await (const c of probe) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

/**
 * Reads NDJSON (gzip by extension or by magic bytes) one line at a time; memory stays flat.
 * Iterating the stream itself (not readline) makes a read or gunzip error end the loop with that
 * error, and keeps nothing per line.
 */
export async function* readNdjson(
  file: string,
  onProgress?: NdjsonProgress,
  onBadLine?: (lineNo: number, reason: string) => void,
  opts: { maxLineChars?: number; onEmpty?: () => void } = {},
): AsyncGenerator<NdjsonLine> {
  const maxLine = opts.maxLineChars ?? MAX_LINE_CHARS
  let size: number
  try {
    size = statSync(file).size
  } catch (e) {
    throw new ExitError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 2)
  }
  const head = await firstBytes(file)
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    throw new ExitError(`${file}: the file is UTF-16 (its byte order mark is ${head[0]!.toString(16).toUpperCase()} ${head[1]!.toString(16).toUpperCase()}); save it as UTF-8, one JSON event per line`, 2)
  }
  const raw = createReadStream(file)
  const gzip = file.endsWith('.gz') || (head[0] === 0x1f && head[1] === 0x8b)
  const source: Readable = gzip ? raw.pipe(createGunzip()) : raw
  if (gzip) raw.on('error', (e) => source.destroy(e))
  source.setEncoding('utf8')

  let lineNo = 0
  let bad = 0
  let good = 0
  let events = 0
  let content = 0
  let nuls = 0
  const parse = (text: string): NdjsonLine | null => {
    lineNo++
    const trimmed = text.trim()
    if (trimmed === '') return null
    content++
    try {
      const value = JSON.parse(trimmed) as unknown
      good++
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) events++
      return { lineNo, value }
    } catch (e) {
      bad++
      if (bad <= SHOW_BAD) onBadLine?.(lineNo, `not JSON (${(e as Error).message})`)
      if (good === 0 && bad >= SHOW_BAD) throw new ExitError(`${file}: the first ${bad} lines are not JSON; expected one event per line (NDJSON)`, 2)
      if (lineNo >= MIN_LINES_FOR_SHARE && bad / lineNo > MAX_BAD_SHARE) {
        throw new ExitError(`${file}: ${bad} of the first ${lineNo} lines are not JSON (line ${lineNo} is the last); expected one event per line`, 2)
      }
      return null
    }
  }
  // The unfinished line is kept as pieces and joined once, so a long line costs linear time; one
  // past maxLine is dropped as it arrives (memory stays flat) and skipped with its line number.
  let pending: string[] = []
  let pendingChars = 0
  let skipping = false
  let first = true
  const tooLong = () => {
    lineNo++
    content++
    onBadLine?.(lineNo, `longer than ${maxLine.toLocaleString('en-US')} characters; skipped`)
  }
  try {
    for await (const chunk of source) {
      let text = chunk as string
      if (first) {
        first = false
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // a UTF-8 byte order mark
      }
      if (nuls === 0 && text.includes('\u0000')) nuls++
      let start = 0
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        if (skipping) {
          skipping = false
          tooLong()
        } else {
          const piece = text.slice(start, nl)
          const line = parse(pending.length ? pending.join('') + piece : piece)
          pending = []
          pendingChars = 0
          if (line) yield line
        }
        start = nl + 1
      }
      if (!skipping && start < text.length) {
        pending.push(text.slice(start))
        pendingChars += text.length - start
        if (pendingChars > maxLine) {
          skipping = true
          pending = []
          pendingChars = 0
        }
      }
      onProgress?.(raw.bytesRead, size)
    }
  } catch (e) {
    if (e instanceof ExitError) throw e
    throw new ExitError(`${file}: ${gzip ? 'not a readable gzip file' : 'read failed'} (${(e as Error).message})`, 2)
  }
  if (skipping) tooLong()
  else {
    const last = parse(pending.join(''))
    if (last) yield last
  }
  onProgress?.(size, size)
  if (bad > SHOW_BAD) onBadLine?.(lineNo, `${bad - SHOW_BAD} more lines were not JSON`)
  // An empty file is a warning; a file with lines but no event at all is the wrong file.
  if (content === 0) opts.onEmpty?.()
  else if (events === 0) {
    const why = nuls > 0 ? 'it holds NUL characters, as UTF-16 text does: save it as UTF-8' : good > 0 ? 'its lines are JSON, but none is an event object' : 'no line is JSON: it is not NDJSON'
    throw new ExitError(`${file}: no event in ${content.toLocaleString('en-US')} lines; ${why}`, 2)
  }
}
