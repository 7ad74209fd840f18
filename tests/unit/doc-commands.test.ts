/**
 * Every `experiment-coverage` command shown in the README and in docs/ is one the CLI takes: its
 * subcommand exists and each option it passes is that subcommand's (with a value among the
 * option's choices, where it has choices). The commands are read from the ```sh blocks, with
 * continued lines joined and comments dropped, and from code quoted in the text. The README's two first commands are run by CI itself.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command } from 'commander'
import { describe, expect, it } from 'vitest'
import { buildProgram } from '../../src/cli/main.js'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FILES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)]

interface Shown {
  readonly file: string
  readonly line: number
  readonly words: string[]
}

/** The CLI's invocations in a Markdown file's shell blocks. */
function commandsIn(file: string): Shown[] {
  const out: Shown[] = []
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
  let inShell = false
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i] as string
    if (/^```(sh|bash|shell)\s*$/.test(text.trim())) inShell = true
    else if (text.trim() === '```') inShell = false
    else if (!inShell) {
      // Commands quoted in the text: `npx experiment-coverage demo --format markdown`.
      for (const m of text.matchAll(/`(?:npx )?experiment-coverage ([^`]+)`/g)) out.push({ file, line: i + 1, words: (m[1] as string).trim().split(/\s+/) })
    } else {
      let command = text
      const at = i + 1
      while (command.trimEnd().endsWith('\\') && i + 1 < lines.length) command = `${command.trimEnd().slice(0, -1)} ${lines[++i]}`
      for (const part of command.replace(/\s#.*$/, '').split(/&&|;|\|/)) {
        const words = part.trim().split(/\s+/)
        const start = words.findIndex((w) => w === 'experiment-coverage' || w.endsWith('/experiment-coverage'))
        if (start >= 0) out.push({ file, line: at, words: words.slice(start + 1) })
      }
    }
  }
  return out
}

/** The subcommand a list of words names (commands may nest: `hog compile`), and the rest. */
function resolve(program: Command, words: readonly string[]): { command: Command; rest: string[] } {
  let command = program
  let k = 0
  while (k < words.length) {
    const sub = command.commands.find((c) => c.name() === words[k])
    if (!sub) break
    command = sub
    k++
  }
  return { command, rest: words.slice(k) }
}

// A placeholder (`experiment-coverage <command>`) names no command.
const shown = FILES.flatMap(commandsIn).filter((s) => !(s.words[0] ?? '').startsWith('<'))

describe('the commands the README and docs/ show', () => {
  it('are found (the docs do show the CLI)', () => {
    expect(shown.length).toBeGreaterThan(10)
    expect(new Set(shown.map((s) => s.file)).has('README.md')).toBe(true)
  })

  it.each(shown.map((s) => [`${s.file}:${s.line} experiment-coverage ${s.words.join(' ')}`, s] as const))('%s', (_, s) => {
    const program = buildProgram()
    const { command, rest } = resolve(program, s.words)
    expect(command, 'a subcommand the CLI has').not.toBe(program)
    expect(command.commands.length, `"${command.name()}" needs one of its own subcommands`).toBe(0)
    for (let i = 0; i < rest.length; i++) {
      const word = rest[i] as string
      if (!word.startsWith('--')) continue
      const [name, inline] = word.split('=', 2) as [string, string | undefined]
      if (name === '--help') continue
      const option = command.options.find((o) => o.long === name)
      expect(option, `${name} is an option of "${command.name()}"`).toBeDefined()
      const value = inline ?? (option!.required || option!.optional ? rest[i + 1] : undefined)
      if (option!.argChoices && value !== undefined && !value.startsWith('$')) expect(option!.argChoices).toContain(value)
    }
  })
})
