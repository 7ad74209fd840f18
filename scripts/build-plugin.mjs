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
    // The parser's browser build has its WebAssembly inlined and needs no Node module: the only
    // one that can run inside plugin-server's VM, where there is no require and no file system.
    // @posthog/hogvm is CommonJS (`import hogvm from`); its ESM `module` build has no default export.
    alias: {
      '@posthog/hogql-parser': fileURLToPath(new URL('../node_modules/@posthog/hogql-parser/dist/hogql_parser_wasm_browser.js', import.meta.url)),
      '@posthog/hogvm': fileURLToPath(new URL('../node_modules/@posthog/hogvm/dist/index.js', import.meta.url)),
      // ky needs TextEncoder and setTimeout at load, which the VM lacks (see src/posthog/ky-vm.ts).
      ky: fileURLToPath(new URL('../src/posthog/ky-vm.ts', import.meta.url)),
    },
    target: 'es2020',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  return outfile
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildPlugin(process.argv[2])
