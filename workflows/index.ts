/** Entry point of the workflow bundle: every workflow the worker hosts. */
export { dailyReport } from './daily-report';
export { processChunks } from './process-chunks';
export { processFile } from './process-file';
export { scheduledDailyReport } from './scheduled-report';
export { reprocess } from './reprocess';
