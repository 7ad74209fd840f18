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

async function startsWithGzipMagic(file: string): Promise<boolean> {
  const probe = createReadStream(file, { start: 0, end: 1 })
  const chunks: Buffer[] = []
  for await (const c of probe) chunks.push(c as Buffer)
  const magic = Buffer.concat(chunks)
  return magic[0] === 0x1f && magic[1] === 0x8b
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
): AsyncGenerator<NdjsonLine> {
  let size: number
  try {
    size = statSync(file).size
  } catch (e) {
    throw new ExitError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, 2)
  }
  const raw = createReadStream(file)
  const gzip = file.endsWith('.gz') || (await startsWithGzipMagic(file))
  const source: Readable = gzip ? raw.pipe(createGunzip()) : raw
  if (gzip) raw.on('error', (e) => source.destroy(e))
  source.setEncoding('utf8')

  let lineNo = 0
  let bad = 0
  let good = 0
  let carry = ''
  const parse = (text: string): NdjsonLine | null => {
    lineNo++
    const trimmed = text.trim()
    if (trimmed === '') return null
    try {
      const value = JSON.parse(trimmed) as unknown
      good++
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
  try {
    for await (const chunk of source) {
      const parts = (carry + (chunk as string)).split('\n')
      carry = parts.pop() ?? ''
      for (const part of parts) {
        const line = parse(part)
        if (line) yield line
      }
      onProgress?.(raw.bytesRead, size)
    }
  } catch (e) {
    if (e instanceof ExitError) throw e
    throw new ExitError(`${file}: ${gzip ? 'not a readable gzip file' : 'read failed'} (${(e as Error).message})`, 2)
  }
  const last = parse(carry)
  if (last) yield last
  onProgress?.(size, size)
  if (bad > SHOW_BAD) onBadLine?.(lineNo, `${bad - SHOW_BAD} more lines were not JSON`)
}
