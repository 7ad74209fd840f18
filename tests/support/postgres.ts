import { randomUUID } from 'node:crypto'
import pg from 'pg'

/** The PostgreSQL the tests use, from DATABASE_URL; null (with the reason printed once) when it is unset. */
export const DATABASE_URL = process.env.DATABASE_URL ?? null
let told = false
export function postgresOrSkipReason(suite: string): string | null {
  if (DATABASE_URL) return null
  const reason = `DATABASE_URL is not set: skipping "${suite}" (CI sets it; locally point it at a database of its own, e.g. postgres://coverage:coverage@127.0.0.1:5432/coverage_test)`
  if (!told) console.warn(reason)
  told = true
  return reason
}

/** A fresh schema in the test database, so parallel tests never share tables; dropped by `drop`. */
export async function freshSchema(): Promise<{ url: string; drop: () => Promise<void> }> {
  const schema = `t_${randomUUID().replace(/-/g, '').slice(0, 16)}`
  const admin = new pg.Client({ connectionString: DATABASE_URL as string })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  const u = new URL(DATABASE_URL as string)
  u.searchParams.set('options', `-c search_path=${schema}`)
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: DATABASE_URL as string })
      await c.connect()
      await c.query(`DROP SCHEMA ${schema} CASCADE`)
      await c.end()
    },
  }
}
