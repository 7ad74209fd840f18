// Bundles index.ts and everything it imports into dist/plugin.js: one self-contained CommonJS file,
// as plugin-server loaded plugins (no node_modules, no `require` of anything at run time).
import { build } from 'esbuild'

await build({
  entryPoints: ['index.ts'],
  outfile: 'dist/plugin.js',
  bundle: true,
  format: 'cjs',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  target: 'es2020',
  legalComments: 'none',
  minify: true,
  logLevel: 'warning',
})
