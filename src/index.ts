export * from './errors.js';
export { VERSION } from './version.js';
