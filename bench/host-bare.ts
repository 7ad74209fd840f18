/**
 * The benchmark's baseline: a server of the same framework (Hono on @hono/node-server) that reads
 * the intake body and answers 200 without any work. Prints its URL on stderr like `serve` does.
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const app = new Hono()
app.post('/ingest/:project', async (c) => {
  await c.req.text()
  return c.json({ ok: true })
})
serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
  process.stderr.write(`bare: serving on http://127.0.0.1:${info.port}\n`)
})
process.on('SIGTERM', () => process.exit(0))
