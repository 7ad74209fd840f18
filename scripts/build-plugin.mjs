// Bundles index.ts and everything it imports into dist/plugin.js: one self-contained CommonJS file,
// as plugin-server loaded plugins (no node_modules, no `require` of anything at run time).
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'

export async function buildPlugin(outfile = 'dist/plugin.js') {
  await build({
    entryPoints: [fileURLToPath(new URL('../index.ts', import.meta.url))],
    outfile,
    bundle: true,
    format: 'cjs',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  return outfile
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPlugin(process.argv[2])
