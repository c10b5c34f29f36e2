/**
 * Worker thread of the parallel `csv-transform` ({@link transformBlocks}): transforms blocks of whole records
 * that the main thread cut from the input, each on its own scanner, and sends each block's output back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CsvSyntaxError } from '../csv/scanner';
import {
  transformBlock,
  type BlockRequest,
  type BlockResult,
  type TransformWorkerData,
} from './csv-transform';

const settings = workerData as TransformWorkerData;
const port = parentPort!;

port.on('message', (request: BlockRequest) => {
  let result: BlockResult;
  try {
    const { block } = request;
    const view = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    result = { seq: request.seq, ...transformBlock(view, request, settings) };
  } catch (err) {
    result =
      err instanceof CsvSyntaxError
        ? { seq: request.seq, error: { line: err.line, problem: err.problem } }
        : {
            seq: request.seq,
            error: { message: err instanceof Error ? (err.stack ?? err.message) : String(err) },
          };
  }
  port.postMessage(result, 'output' in result ? [result.output.buffer as ArrayBuffer] : []);
});
