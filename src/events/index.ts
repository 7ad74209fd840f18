export { readEvent, type ReadOptions } from './read-event.js'
export { classifyLib } from './lib-class.js'
export * from './types.js'
