import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const ms = z.number().int().min(1);

/**
 * vigil's configuration file, the single source of truth for its shape and defaults.
 * Relative paths are resolved against the directory of the file that names them.
 */
export const configSchema = z
  .object({
    server: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8080),
        /** Largest request body accepted, in bytes; larger ones get 413 before they are read. */
        max_body_bytes: z.number().int().min(1024).max(256 * 1024 * 1024).default(4 * 1024 * 1024),
        /** Time a pool has to answer one request before the client gets 504. */
        request_timeout_ms: ms.default(30_000),
        /** Time a client has to send its headers and body. */
        client_timeout_ms: ms.default(60_000),
        /** On SIGTERM/SIGINT: how long in-flight requests may take to finish. */
        drain_timeout_ms: ms.default(10_000),
      })
      .strict()
      .prefault({}),
    admin: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: port.default(8081),
      })
      .strict()
      .prefault({}),
    models: z
      .object({
        repository: z.string().default('models'),
        /** Private directory (mode 0700) for the pools' sockets; empty: a fresh one under the OS temp dir. */
        runtime_dir: z.string().default(''),
      })
      .strict()
      .prefault({}),
    pools: z
      .object({
        start_timeout_ms: ms.default(30_000),
        stop_grace_ms: ms.default(5_000),
        restart: z
          .object({
            initial_backoff_ms: ms.default(250),
            max_backoff_ms: ms.default(10_000),
            max_restarts: z.number().int().min(0).default(5),
            window_ms: ms.default(60_000),
          })
          .strict()
          .prefault({}),
        health: z
          .object({
            interval_ms: ms.default(1_000),
            timeout_ms: ms.default(2_000),
            failures_before_replace: z.number().int().min(1).default(3),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type VigilConfig = z.output<typeof configSchema>;
