/** `meta.storage` in memory: the plugin-server contract (JSON values, `undefined` deletes). */
export class MemoryStorage {
  private readonly map = new Map<string, string>()
  async get(key: string, defaultValue: unknown): Promise<unknown> {
    const v = this.map.get(key)
    return v === undefined ? defaultValue : JSON.parse(v)
  }
  async set(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.map.delete(key)
    else this.map.set(key, JSON.stringify(value))
  }
  async del(key: string): Promise<void> {
    this.map.delete(key)
  }
}
