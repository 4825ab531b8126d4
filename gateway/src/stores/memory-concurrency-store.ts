import type { ConcurrencyStore, SlotLease } from './concurrency-store.js';

/** Slots in this process: the lease ids held per key (a key with none is dropped). */
export class MemoryConcurrencyStore implements ConcurrencyStore {
  readonly kind = 'memory';
  private readonly leases = new Map<string, Set<string>>();
  private seq = 0;

  async acquire(key: string, max: number): Promise<SlotLease | undefined> {
    let held = this.leases.get(key);
    if ((held?.size ?? 0) >= max) return undefined;
    if (!held) this.leases.set(key, (held = new Set()));
    const lease = { key, id: String(++this.seq) };
    held.add(lease.id);
    return lease;
  }

  async release(lease: SlotLease): Promise<void> {
    const held = this.leases.get(lease.key);
    if (!held?.delete(lease.id)) return;
    if (held.size === 0) this.leases.delete(lease.key);
  }

  async held(key: string): Promise<number> {
    return this.leases.get(key)?.size ?? 0;
  }

  async close(): Promise<void> {}
}
