/** Entry point of the workflow bundle: every workflow the worker hosts. */
export { processFile } from './process-file';
