export function buildPlugin(outfile?: string): Promise<string>
