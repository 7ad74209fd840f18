import { createReadStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
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

/** Reads NDJSON (gzip by extension or by magic bytes) one line at a time; memory stays flat. */
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
  const magic = await new Promise<Buffer>((resolve, reject) => {
    const probe = createReadStream(file, { start: 0, end: 1 })
    const chunks: Buffer[] = []
    probe.on('data', (c) => chunks.push(c as Buffer))
    probe.on('end', () => resolve(Buffer.concat(chunks)))
    probe.on('error', reject)
  })
  const gzip = file.endsWith('.gz') || (magic[0] === 0x1f && magic[1] === 0x8b)
  const source = gzip ? raw.pipe(createGunzip()) : raw
  const failure = new Promise<never>((_, reject) => {
    const fail = (e: Error) => reject(new ExitError(`${file}: ${gzip ? 'not a readable gzip file' : 'read failed'} (${e.message})`, 2))
    raw.on('error', fail)
    if (gzip) source.on('error', fail)
  })
  failure.catch(() => {})
  const lines = createInterface({ input: source, crlfDelay: Infinity })
  let lineNo = 0
  let bad = 0
  let good = 0
  const iterator = lines[Symbol.asyncIterator]()
  for (;;) {
    const next = await Promise.race([iterator.next(), failure])
    if (next.done) break
    lineNo++
    const text = next.value.trim()
    if (text === '') continue
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (e) {
      bad++
      if (bad <= SHOW_BAD) onBadLine?.(lineNo, `not JSON (${(e as Error).message})`)
      if (good === 0 && bad >= SHOW_BAD) throw new ExitError(`${file}: the first ${bad} lines are not JSON; expected one event per line (NDJSON)`, 2)
      if (lineNo >= MIN_LINES_FOR_SHARE && bad / lineNo > MAX_BAD_SHARE) {
        throw new ExitError(`${file}: ${bad} of the first ${lineNo} lines are not JSON (line ${lineNo} is the last); expected one event per line`, 2)
      }
      continue
    }
    good++
    if (lineNo % 4096 === 0) onProgress?.(raw.bytesRead, size)
    yield { lineNo, value }
  }
  onProgress?.(size, size)
  if (bad > SHOW_BAD) onBadLine?.(lineNo, `${bad - SHOW_BAD} more lines were not JSON`)
}
