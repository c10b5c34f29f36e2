/**
 * Worker thread of the parallel CSV jobs ({@link parallelBlocks}): runs its job (csv-transform or
 * csv-validate) on the blocks of whole records the main thread cut from the input, each on a scanner of its
 * own, and sends each block's output and counts back, the output in the block's own memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { blockError, type BlockRequest, type BlockResult, type BlockWorkerData } from './csv-blocks';
import { transformBlock } from './csv-transform';
import { blockValidator } from './csv-record-validator';

const settings = workerData as BlockWorkerData;
const port = parentPort!;
const run =
  settings.job === 'csv-transform'
    ? (block: Buffer, request: BlockRequest) => transformBlock(block, request, settings)
    : blockValidator(settings);

port.on('message', (request: BlockRequest) => {
  let result: BlockResult;
  try {
    const { block } = request;
    const view = Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    result = { seq: request.seq, ...run(view, request) };
  } catch (err) {
    result = { seq: request.seq, error: blockError(err) };
  }
  port.postMessage(result, 'output' in result ? [result.output.buffer as ArrayBuffer] : []);
});
