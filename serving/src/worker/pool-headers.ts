// Headers a pool adds to its answers for the gateway alone: the gateway turns them into metrics
// and findings and never forwards them. Their own module, so the gateway imports no pool code.

/** Milliseconds from this request's batch being chosen to its run's end (formation and ONNX Runtime). */
export const COMPUTE_HEADER = 'x-vigil-compute-ms';
/** Milliseconds the request waited in the pool's queue. */
export const QUEUE_HEADER = 'x-vigil-queue-ms';
/** Items in the run that served the request (the dynamic batcher merges requests). */
export const BATCH_HEADER = 'x-vigil-batch-items';
