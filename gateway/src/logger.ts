import pino, { type Logger } from 'pino';

/** Structured JSON logs on stdout; LOG_LEVEL picks the level (silent in tests). */
export function createLogger(): Logger {
  return pino({ level: process.env.LOG_LEVEL ?? 'info', base: { component: 'gateway', pid: process.pid } });
}
