/** Entry point of the workflow bundle: every workflow the worker hosts. */
export { processChunks } from './chunks';
export { processFile } from './process-file';
