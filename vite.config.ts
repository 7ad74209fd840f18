import preact from '@preact/preset-vite'
import { defineConfig } from 'vite'

// The site the host serves at `/`: the Preact views of frontend/, built into dist/site.
export default defineConfig({
  root: 'site',
  base: './',
  plugins: [preact()],
  build: { outDir: '../dist/site', emptyOutDir: true, sourcemap: false, target: 'es2020' },
  logLevel: 'warn',
})
