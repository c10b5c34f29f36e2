/** Entry point of the workflow bundle: every workflow the worker hosts. */
export { processChunks } from './process-chunks';
export { processFile } from './process-file';
export { reprocess } from './reprocess';
