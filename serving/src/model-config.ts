import { z } from 'zod';
import { detectorConfigSchema } from '../../detectors/src/detector-config.js';
import { backendConfigSchema } from './remote/remote-config.js';
import { DATATYPES } from '../../oip/src/datatypes.js';
import { NAME_PATTERN } from '../../oip/src/names.js';
import type { ModelSignature } from '../../oip/src/signature.js';

/** Version directories are integers, as in Triton's model repository. */
export const VERSION_PATTERN = /^[0-9]{1,9}$/;

const tensorSpec = z
  .object({
    name: z.string().regex(NAME_PATTERN, 'must be a simple name (letters, digits, _ . -)'),
    datatype: z.enum(DATATYPES),
    shape: z.array(z.number().int().min(-1)).min(1),
    /** The valid value range of every element; screening uses it, validation does not. */
    range: z.tuple([z.number(), z.number()]).optional(),
  })
  .strict();

/** `models/<name>/<version>/model.yaml`: one model version, its signature and how to serve it. */
export const modelConfigSchema = z
  .object({
    platform: z.literal('onnx_onnxv1'),
    /** The pinned sha256 of model.onnx; required for a local pool (a remote server owns its artifact). */
    digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 lowercase hex digits>').optional(),
    /** Who runs the model: vigil's own pool (default) or a remote OIP server. */
    backend: backendConfigSchema.default({ kind: 'local' }),
    max_batch_size: z.number().int().min(0).max(65536).default(0),
    inputs: z.array(tensorSpec).min(1),
    outputs: z.array(tensorSpec).min(1),
    labels: z.array(z.string()).optional(),
    pool: z
      .object({
        workers: z.number().int().min(1).max(64).default(1),
        intra_op_threads: z.number().int().min(1).max(64).default(1),
        /**
         * Limits of each worker process of the pool (cgroups; in `pools.isolation: sandbox`).
         * Past memory_mb the kernel kills the worker (reported as OOM); past pids it cannot fork or
         * start threads; cpus caps its CPU time in cores. Absent: no limit.
         */
        resources: z
          .object({
            memory_mb: z.number().int().min(64).max(1_048_576).optional(),
            cpus: z.number().min(0.05).max(256).optional(),
            pids: z.number().int().min(16).max(65_536).optional(),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Merge concurrent requests into one ONNX Runtime run, as Triton's dynamic batcher does, up to
     * max_batch_size items. Absent: each request runs alone.
     */
    dynamic_batching: z
      .object({
        /** How long a batch that is not full may wait for more requests; 0: run as soon as the model is free. */
        max_queue_delay_microseconds: z.number().int().min(0).max(1_000_000).default(0),
      })
      .strict()
      .optional(),
    /**
     * Answer identical requests (the same inputs, outputs and parameters; `id` aside) from a
     * bounded cache of this version's answers instead of its pool. Off unless present. The
     * detectors still judge every request, hit or not.
     */
    response_cache: z
      .object({
        max_entries: z.number().int().min(1).max(1_000_000).default(1024),
        /** Answers larger than this (with the pool's report) are not kept; the cache holds at most max_entries × this. */
        max_entry_bytes: z.number().int().min(256).max(4 * 1024 * 1024).default(64 * 1024),
        /** How long an answer is kept (a remote model server's model may change under the same version); absent: until evicted. */
        ttl_ms: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    profile: z.string().optional(),
    heldout: z.string().optional(),
    training: z.record(z.string(), z.unknown()).optional(),
    /** Input screening for this model: which detectors run, their knobs and calibrated thresholds. */
    detectors: detectorConfigSchema.prefault({}),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.backend.kind === 'local' && !cfg.digest) ctx.addIssue({ code: 'custom', path: ['digest'], message: 'a model served by a local pool needs the sha256 digest of its model.onnx' });
    const numeric = cfg.detectors.profile?.enabled || cfg.detectors.squeeze?.enabled || cfg.detectors.extraction?.enabled;
    if (numeric) {
      const [input] = cfg.inputs;
      if (cfg.inputs.length !== 1 || input.datatype !== 'FP32' || input.shape.length !== 2 || input.shape[0] !== -1 || input.shape[1] < 1) {
        ctx.addIssue({ code: 'custom', path: ['detectors'], message: 'the profile, squeeze and extraction detectors need one FP32 input of shape [-1, features]' });
      } else if (!input.range) {
        ctx.addIssue({ code: 'custom', path: ['inputs', 0, 'range'], message: 'the profile and squeeze detectors need the input\'s value range' });
      }
      if (!cfg.profile && cfg.detectors.profile?.enabled) ctx.addIssue({ code: 'custom', path: ['profile'], message: 'the profile detector needs the training profile file' });
      // The pool reports per-row scores in one response header: keep it well under Node's 16 KB.
      // 0 (no batching) would leave the batch unbounded.
      if (cfg.max_batch_size < 1 || cfg.max_batch_size > 256) ctx.addIssue({ code: 'custom', path: ['max_batch_size'], message: 'screened models need a max_batch_size from 1 to 256' });
      const squeeze = cfg.detectors.squeeze;
      const image = squeeze?.image;
      if (squeeze?.enabled && image && image[0] * image[1] !== input.shape[1]) {
        ctx.addIssue({ code: 'custom', path: ['detectors', 'squeeze', 'image'], message: `an image of ${image[0]}x${image[1]} does not hold the input's ${input.shape[1]} features` });
      }
      if (squeeze?.enabled || cfg.detectors.extraction?.enabled) {
        const name = squeeze?.probabilities ?? 'probabilities';
        const out = cfg.outputs.find((o) => o.name === name);
        if (!out || out.datatype !== 'FP32' || out.shape.length !== 2 || out.shape[0] !== -1) {
          ctx.addIssue({ code: 'custom', path: ['detectors'], message: `the squeeze and extraction detectors need the class probabilities as an FP32 output '${name}' of shape [-1, classes]` });
        }
      }
    }
    if (cfg.max_batch_size === 0) {
      if (cfg.dynamic_batching) ctx.addIssue({ code: 'custom', path: ['dynamic_batching'], message: 'dynamic batching needs max_batch_size ≥ 1 (the first dimension must be the batch)' });
      return;
    }
    for (const key of ['inputs', 'outputs'] as const) {
      cfg[key].forEach((t, i) => {
        if (t.shape[0] !== -1) {
          ctx.addIssue({ code: 'custom', path: [key, i, 'shape'], message: 'with max_batch_size > 0 the first dimension is the batch and must be -1' });
        }
      });
    }
  });

export type ModelConfig = z.output<typeof modelConfigSchema>;

export function signatureOf(cfg: ModelConfig): ModelSignature {
  return {
    inputs: cfg.inputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    outputs: cfg.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    maxBatchSize: cfg.max_batch_size,
  };
}
