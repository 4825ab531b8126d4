import type { Datatype } from '../../oip/src/datatypes.js';
import type { ServingVersion } from './model-registry.js';

/** Triton's config names a datatype TYPE_…, and BYTES TYPE_STRING. */
const typeOf = (d: Datatype) => (d === 'BYTES' ? 'TYPE_STRING' : `TYPE_${d}`);

/**
 * Triton's model configuration extension (`GET /v2/models/{m}[/versions/{v}]/config`): what
 * serves the version, in the shape Triton's clients and tools read (dims without the batch
 * dimension when the model batches, as Triton's config.pbtxt has them). Serving settings only:
 * detector thresholds and calibration never leave the gateway, since they tell an attacker how
 * far it may go.
 */
export function modelConfigView(target: ServingVersion, versions: readonly string[]): object {
  const { config, signature } = target;
  const batched = signature.maxBatchSize > 0;
  const dims = (shape: number[]) => (batched ? shape.slice(1) : shape);
  const remote = config.backend.kind !== 'local';
  return {
    name: target.model,
    platform: config.platform,
    backend: remote ? 'oip-http' : 'onnxruntime',
    version_policy: { specific: { versions: [...versions] } },
    max_batch_size: signature.maxBatchSize,
    input: config.inputs.map((t) => ({
      name: t.name,
      data_type: typeOf(t.datatype),
      format: 'FORMAT_NONE',
      dims: dims(t.shape),
      // vigil's own: the values the model was trained on, as model.yaml declares them.
      ...(t.range ? { parameters: { range: t.range } } : {}),
    })),
    output: config.outputs.map((t) => ({ name: t.name, data_type: typeOf(t.datatype), dims: dims(t.shape), label_filename: '' })),
    ...(config.dynamic_batching ? { dynamic_batching: { max_queue_delay_microseconds: config.dynamic_batching.max_queue_delay_microseconds } } : {}),
    instance_group: remote ? [] : [{ name: target.model, kind: 'KIND_CPU', count: config.pool.workers }],
  };
}
