import { statfsSync } from 'node:fs'

/** The bytes this process may still write on the disk that holds `dir` (tests inject their own). */
export type FreeSpaceReader = (dir: string) => number

/** statfs: the blocks available to an unprivileged process (`bavail`, not `bfree`, which counts root's reserve). */
export const readFreeBytes: FreeSpaceReader = (dir) => {
  const s = statfsSync(dir)
  return s.bavail * s.bsize
}

/**
 * Below this much free space the data directory's disk counts as full, and /readyz says not ready.
 * SQLite writes every change to its WAL first, which grows to about 4 MiB before a checkpoint
 * (1,000 pages of 4 KiB: sqlite.org/wal.html), and the host stores a report every minute; a write
 * that finds no room fails with SQLITE_FULL. 64 MiB leaves the operator time to act before that.
 */
export const MIN_FREE_BYTES = 64 * 1024 * 1024

const MIB = 1024 * 1024

/** Why the data directory's disk cannot take the host's writes, or null when it can. */
export function diskProblem(dir: string, readFree: FreeSpaceReader): string | null {
  let free: number
  try {
    free = readFree(dir)
  } catch (e) {
    return `the free space of the data directory ${dir} cannot be read: ${(e as Error).message}`
  }
  if (free >= MIN_FREE_BYTES) return null
  return `the disk of the data directory ${dir} is ${free <= 0 ? 'full' : 'nearly full'}: ${(free / MIB).toFixed(1)} MiB free, below ${MIN_FREE_BYTES / MIB} MiB`
}
