export { CHECKS, runChecks } from './registry.js'
export * from './types.js'
