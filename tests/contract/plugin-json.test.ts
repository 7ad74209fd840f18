import { readFileSync } from 'node:fs'
import type { PluginConfigSchema } from '@posthog/plugin-scaffold'
import { describe, expect, it } from 'vitest'

const pluginJson = JSON.parse(readFileSync('plugin.json', 'utf8')) as {
  name: string
  description: string
  main: string
  config: PluginConfigSchema[]
}
const packageJson = JSON.parse(readFileSync('package.json', 'utf8')) as { main: string; scripts: Record<string, string> }

describe("plugin.json follows PostHog's plugin format", () => {
  it('names the bundled plugin that `npm run build` writes', () => {
    expect(pluginJson.main).toBe('dist/plugin.js')
    expect(packageJson.main).toBe(pluginJson.main)
    expect(packageJson.scripts.build).toContain('build-plugin')
    expect(pluginJson.name).toBeTruthy()
    expect(pluginJson.description).toBeTruthy()
  })

  it.each(pluginJson.config.filter((c) => c.key).map((c) => [c.key, c] as const))(
    '%s has a type PostHog knows, a name, a hint and a string default',
    (_key, field) => {
      expect(['string', 'json', 'attachment', 'choice']).toContain(field.type)
      expect(field.name).toBeTruthy()
      expect(field.hint).toBeTruthy()
      expect(typeof field.default).toBe('string')
      if (field.type === 'json') expect(() => JSON.parse(field.default as string)).not.toThrow()
    },
  )

  it('keeps the personal API key secret, and orders fields uniquely', () => {
    const key = pluginJson.config.find((c) => c.key === 'posthogPersonalApiKey')
    expect(key?.secret).toBe(true)
    const orders = pluginJson.config.filter((c) => c.key).map((c) => c.order)
    expect(new Set(orders).size).toBe(orders.length)
  })
})
