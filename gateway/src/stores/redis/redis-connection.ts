import { Redis } from 'ioredis';

export interface RedisConnectionOptions {
  url: string;
  /** Put before every key by the client itself (ioredis keyPrefix), scripts' KEYS included. */
  keyPrefix: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  /** Told once when the server goes away and once when it is back (not on every failed reconnect). */
  onStateChange?: (up: boolean, err?: Error) => void;
}

/**
 * One ioredis client shared by the stores that name the same server, closed when the last of them
 * lets go. Commands fail fast while the server is away (no offline queue, one retry), so a store
 * call rejects within the command timeout and the caller's failure mode decides; the client keeps
 * reconnecting in the background and the stores work again as soon as the server is back.
 */
/** How often a connection checks that the server still answers. */
const PROBE_MS = 1_000;

export class RedisConnection {
  readonly client: Redis;
  private users = 0;
  private closing = false;
  private answering = true;
  private probe: NodeJS.Timeout | undefined;

  private constructor(client: Redis) {
    this.client = client;
  }

  /** Connects, or rejects after connectTimeoutMs: a shared store must be reachable before vigil serves. */
  static async open(opts: RedisConnectionOptions): Promise<RedisConnection> {
    const client = new Redis(opts.url, {
      keyPrefix: opts.keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      // Commands issued in the same tick (many requests at once) go out in one write.
      enableAutoPipelining: true,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs,
      connectTimeout: opts.connectTimeoutMs,
      // Reconnect forever, backing off to 1 s: the server coming back must bring the stores back.
      retryStrategy: (times) => Math.min(50 * times, 1_000),
    });
    // Without a listener ioredis reports every failed reconnect as an unhandled 'error' event.
    let lastError: Error | undefined;
    client.on('error', (err: Error) => (lastError = err));
    // Up: connected and answering. Reported only on a change after the first connection, and never
    // for a deliberate close (vigil stopping).
    let up: boolean | undefined;
    let self: RedisConnection | undefined;
    const report = (now: boolean, err?: Error) => {
      if (self?.closing) return;
      if (up !== undefined && up !== now) opts.onStateChange?.(now, err);
      up = now;
      if (self) self.answering = now;
    };
    client.on('ready', () => report(true));
    client.on('close', () => {
      if (up !== undefined) report(false, lastError);
    });
    const timer = setTimeout(() => client.disconnect(), opts.connectTimeoutMs);
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw new Error(`redis at ${redact(opts.url)} is not reachable: ${(err as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
    self = new RedisConnection(client);
    up = true;
    // A server that is hung (stopped, swapping) keeps its connection open and answers nothing: the
    // socket says "ready" all along. A PING every second within the command timeout tells.
    self.probe = setInterval(() => {
      if (client.status !== 'ready') return;
      client.ping().then(
        () => report(true),
        (err: Error) => report(false, err),
      );
    }, PROBE_MS);
    self.probe.unref();
    return self;
  }

  /** Connected and answering commands now: false while it reconnects, and while it is hung (PING times out). */
  get ready(): boolean {
    return this.client.status === 'ready' && this.answering;
  }

  /** Counts one more store on this connection. */
  use(): this {
    this.users++;
    return this;
  }

  /** One store lets go; the last one closes the client. */
  async release(): Promise<void> {
    if (--this.users > 0) return;
    this.closing = true;
    clearInterval(this.probe);
    await this.client.quit().catch(() => this.client.disconnect());
  }

  /**
   * A Lua script as a function: EVALSHA, loading it on first use (ioredis defineCommand). Written
   * as scripts because each store operation must be atomic across replicas in one round trip.
   */
  /** A Lua script as a command; `keys` null: the call passes the number of keys first. */
  script(name: string, keys: number | null, lua: string): (...args: (string | number | Buffer)[]) => Promise<unknown> {
    if (!(name in this.client)) this.client.defineCommand(name, { numberOfKeys: keys ?? undefined, lua });
    const command = (this.client as unknown as Record<string, (...a: (string | number | Buffer)[]) => Promise<unknown>>)[name];
    return (...args) => command.apply(this.client, args);
  }
}

/** A URL as it may be logged: without its password. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
