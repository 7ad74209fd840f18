import { useEffect, useRef, useState } from 'preact/hooks'
import { ApiError, api, type ConfigField, type Project, type SettingsView } from './api.js'
import { Markdown, MarkdownInline } from './Markdown.js'

/** `required_if` / `visible_if` as plugin.json writes them: every [field, value?] must hold. */
function holds(conditions: ConfigField['visible_if'], values: Record<string, string>): boolean {
  return (conditions ?? []).every(([field, value]) => (value === undefined ? Boolean(values[field]) : values[field] === value))
}

/**
 * The project's settings, generated from plugin.json's config schema: types, choices, defaults,
 * required_if / visible_if, hints and markdown. The host validates with the plugin's own settings
 * code; each problem shows beside its field. Secrets come back masked and are never sent back
 * unless changed.
 */
export function Settings({ project, onProject }: { project: Project; onProject: (p: Project) => void }) {
  const [view, setView] = useState<SettingsView | null>(null)
  const [values, setValues] = useState<Record<string, string>>({})
  const [problems, setProblems] = useState<Record<string, string>>({})
  const [status, setStatus] = useState<string>('')
  // Bumped by each refused save: the effect below then moves the focus to the first problem.
  const [refusals, setRefusals] = useState(0)
  const statusRef = useRef<HTMLSpanElement>(null)
  useEffect(() => {
    void api.settings(project.id).then((v) => {
      setView(v)
      setValues(v.settings)
      setProblems(Object.fromEntries(v.problems.map((p) => [p.key, p.message])))
    })
  }, [project.id])
  useEffect(() => {
    if (!refusals) return
    const first = [...document.querySelectorAll<HTMLElement>('form.settings [aria-invalid="true"]')][0]
    ;(first ?? statusRef.current)?.focus()
  }, [refusals])
  if (!view) return <p class="muted">Loading settings…</p>

  const fields = [...view.schema].sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
  const current = (f: ConfigField) => values[f.key!] ?? ''
  const submit = async (e: Event) => {
    e.preventDefault()
    const changed: Record<string, string> = {}
    for (const f of fields) if (f.key && (values[f.key] ?? '') !== (view.settings[f.key] ?? '')) changed[f.key] = values[f.key] ?? ''
    setStatus('Saving…')
    try {
      const saved = await api.saveSettings(project.id, changed)
      setView({ ...view, ...saved })
      setValues(saved.settings)
      setProblems({})
      setStatus('Saved. The plugin restarted with these settings.')
    } catch (err) {
      if (err instanceof ApiError && err.problems.length) {
        setProblems(Object.fromEntries(err.problems.map((p) => [p.key, p.message])))
        setStatus(`Not saved: ${err.problems.length} ${err.problems.length === 1 ? 'setting needs' : 'settings need'} a change.`)
      } else setStatus(`Not saved: ${(err as Error).message}`)
      setRefusals((n) => n + 1)
    }
  }
  const toggle = async () => onProject(await api.setEnabled(project.id, !project.enabled))

  return (
    <section aria-labelledby="settings-title">
      <div class="toolbar">
        <h2 id="settings-title">Settings of {project.name}</h2>
        <button type="button" onClick={toggle} aria-pressed={project.enabled}>
          {project.enabled ? 'Disable the plugin for this project' : 'Enable the plugin for this project'}
        </button>
        <span class="muted">{project.enabled ? 'Enabled' : 'Disabled'}</span>
      </div>
      <form onSubmit={submit} noValidate class="settings">
        {fields.map((f, i) => {
          if (!f.key)
            return f.markdown ? (
              <div key={`md-${i}`} class="muted settings-intro">
                <Markdown text={f.markdown} />
              </div>
            ) : null
          if (!holds(f.visible_if, values)) return null
          const id = `setting-${f.key}`
          const problem = problems[f.key]
          const required = f.required || (f.required_if ? holds(f.required_if, values) : false)
          const described = [`${id}-origin`, f.hint ? `${id}-hint` : '', problem ? `${id}-error` : ''].filter(Boolean).join(' ')
          // A value of its own, or the plugin's default (an empty field means the default applies).
          const own = current(f) !== ''
          const common = {
            id,
            name: f.key,
            'aria-invalid': problem ? true : undefined,
            'aria-describedby': described,
            required,
          }
          const set = (v: string) => setValues({ ...values, [f.key!]: v })
          return (
            <div key={f.key} class={`field${problem ? ' has-error' : ''}`} data-field={f.key}>
              <div class="field-head">
                <label for={id}>
                  {f.name ?? f.key}
                  {required && <span aria-hidden="true"> *</span>}
                </label>
                <span id={`${id}-origin`} class={`origin origin-${own ? 'set' : 'default'}`} data-origin={own ? 'set' : 'default'}>
                  {own ? 'Set for this project' : f.default ? 'Default' : 'Not set'}
                </span>
                {own && !f.secret && f.default !== undefined && (
                  <span class="muted small">
                    {current(f) === f.default ? '(same as the default)' : f.default ? `default: ${f.default}` : 'no default'}
                  </span>
                )}
                {own && !f.secret && (
                  <button type="button" class="link-button small" onClick={() => set('')}>
                    Use the default
                  </button>
                )}
              </div>
              {f.type === 'choice' ? (
                <select {...common} value={current(f) || f.default || ''} onChange={(e) => set((e.target as HTMLSelectElement).value)}>
                  {(f.choices ?? []).map((c) => (
                    <option key={c} value={c}>
                      {c}
                    </option>
                  ))}
                </select>
              ) : f.type === 'json' ? (
                <textarea {...common} rows={3} placeholder={f.default} value={current(f)} onInput={(e) => set((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
              ) : (
                <input
                  {...common}
                  type={f.secret ? 'password' : 'text'}
                  autocomplete={f.secret ? 'off' : undefined}
                  placeholder={f.default}
                  value={current(f)}
                  onInput={(e) => set((e.target as HTMLInputElement).value)}
                />
              )}
              {f.hint && (
                <p id={`${id}-hint`} class="hint">
                  <MarkdownInline text={f.hint} />
                </p>
              )}
              {problem && (
                <p id={`${id}-error`} class="field-error" role="alert">
                  {problem}
                </p>
              )}
            </div>
          )
        })}
        <div class="toolbar">
          <button type="submit" class="primary">
            Save settings
          </button>
          <span role="status" class="muted" tabIndex={-1} ref={statusRef}>
            {status}
          </span>
        </div>
      </form>
    </section>
  )
}
