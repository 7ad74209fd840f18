/** Emits the legacy PostHog scene (dist/frontend.tsx by default); resolves to the file written. */
export function buildLegacyScene(outfile?: string): Promise<string>
