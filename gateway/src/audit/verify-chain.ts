/**
 * Each record's place in the chain, followed across files: 'chain-break' (a prev that is not
 * the hash before), 'inserted', 'reordered', 'duplicate', 'genesis', and the seqs missing
 * between records ('deleted', once retention has accounted for what it removed).
 */
import { at, type Find, type Loc } from './verify-report.js';

/** Seqs missing from..to, seen between two records (or before the first). */
export interface Gap {
  from: number;
  to: number;
  after: (Loc & { seq: number }) | null;
  before: Loc & { seq: number };
  /** The gap starts right after the records retention removed, through this seq. */
  afterRetention?: number;
}

interface Placed {
  seq: number;
  hash: string;
  loc: Loc;
}

/** How many of the latest records are remembered, to tell a duplicate or a reordered record from an inserted one. */
const RECENT = 4096;

export class ChainWalk {
  /** The record the chain has reached. */
  head: Placed | null = null;
  /** The first record of the log, as found. */
  first: { seq: number; prev: string | null; loc: Loc } | null = null;
  readonly gaps: Gap[] = [];
  /** The hash seen at each checkpointed seq, to hold against the checkpoint. */
  readonly observed = new Map<number, { hash: string; loc: Loc }>();
  private readonly recent = new Map<number, { hash: string; loc: Loc }>();
  /** A second record with a seq already seen: inserted, unless the chain continues from it. */
  private fork: { seq: number; hash: string; loc: Loc; other: Loc } | null = null;
  /** The line before was malformed: a break or gap of one right after it is that line's. */
  private afterMalformed = false;

  constructor(
    private readonly checkpointed: ReadonlySet<number>,
    private readonly find: Find,
  ) {}

  /** A line that is not a record: the chain breaks here, and is followed on after it. */
  malformed(): void {
    this.afterMalformed = true;
  }

  /** Places record `s` (hash, prev) found at `loc`. */
  place(s: number, hash: string, prev: string | null, loc: Loc): void {
    const { find, recent, gaps } = this;
    const h = this.head;
    const fork = this.fork;
    if (fork && !(h && s === h.seq + 1 && prev === fork.hash)) {
      find('inserted', fork.loc, fork.seq, `${at(fork.loc)} seq ${fork.seq}: a second record with seq ${fork.seq} (the first is at ${at(fork.other)}) that the chain does not continue from: it was inserted`);
      this.fork = null;
    }
    if (!h) {
      this.first = { seq: s, prev, loc };
      if (s !== 1) gaps.push({ from: 1, to: s - 1, after: null, before: { ...loc, seq: s } });
      else if (prev !== null) find('genesis', loc, s, `${at(loc)} seq 1: the first record has a prev (${prev.slice(0, 24)}…): the records before it were removed, or it is forged`);
      this.accept(s, hash, loc);
    } else if (s === h.seq + 1) {
      if (prev === h.hash) {
        // the chain continues
      } else if (this.fork && this.fork.seq === h.seq && prev === this.fork.hash) {
        const fk = this.fork;
        find('inserted', h.loc, h.seq, `${at(h.loc)} seq ${h.seq}: not part of the chain: the next record (${at(loc)}) continues from the other seq ${h.seq} at ${at(fk.loc)}: it was inserted`);
        if (this.checkpointed.has(fk.seq)) this.observed.set(fk.seq, { hash: fk.hash, loc: fk.loc });
        recent.set(fk.seq, { hash: fk.hash, loc: fk.loc });
        this.fork = null;
      } else if (!this.afterMalformed) {
        find('chain-break', loc, s, `${at(loc)} seq ${s}: its prev is not the hash of seq ${h.seq} (${at(h.loc)}): seq ${h.seq} was altered and re-hashed, or replaced`);
      }
      this.accept(s, hash, loc);
    } else if (s > h.seq + 1) {
      if (!(this.afterMalformed && s === h.seq + 2)) gaps.push({ from: h.seq + 1, to: s - 1, after: { ...h.loc, seq: h.seq }, before: { ...loc, seq: s } });
      this.accept(s, hash, loc);
    } else {
      this.behindHead(s, hash, prev, loc, h);
    }
  }

  /** After the last record: a second record of a seq the chain never continued from. */
  end(): void {
    const fk = this.fork;
    if (fk) this.find('inserted', fk.loc, fk.seq, `${at(fk.loc)} seq ${fk.seq}: a second record with seq ${fk.seq} (the first is at ${at(fk.other)}): one of them was inserted`);
  }

  /** s <= the head's seq: fills a gap (moved or inserted), repeats a record, or forks the chain. */
  private behindHead(s: number, hash: string, prev: string | null, loc: Loc, h: Placed): void {
    const { find, recent, gaps } = this;
    const gi = gaps.findIndex((g) => g.from <= s && s <= g.to);
    const known = recent.get(s);
    if (gi >= 0) {
      const g = gaps[gi];
      const parts: Gap[] = [];
      if (g.from < s) parts.push({ ...g, to: s - 1 });
      if (s < g.to) parts.push({ ...g, from: s + 1 });
      gaps.splice(gi, 1, ...parts);
      const before = recent.get(s - 1);
      if (before && prev !== before.hash) find('inserted', loc, s, `${at(loc)} seq ${s}: fills a gap in the chain but its prev is not the hash of seq ${s - 1} (${at(before.loc)}): it was inserted`);
      else find('reordered', loc, s, `${at(loc)} seq ${s}: comes after seq ${h.seq} (${at(h.loc)}): records were moved out of order`);
      if (this.checkpointed.has(s)) this.observed.set(s, { hash, loc });
      if (before) recent.set(s, { hash, loc });
    } else if (known && known.hash === hash) {
      find('duplicate', loc, s, `${at(loc)} seq ${s}: repeats the record at ${at(known.loc)}`);
    } else if (known) {
      this.fork = { seq: s, hash, loc, other: known.loc };
    } else {
      find('reordered', loc, s, `${at(loc)} seq ${s}: comes after seq ${h.seq} (${at(h.loc)}): out of order`);
    }
  }

  private accept(seq: number, hash: string, loc: Loc): void {
    this.head = { seq, hash, loc };
    this.recent.set(seq, { hash, loc });
    if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value as number);
    if (this.checkpointed.has(seq)) this.observed.set(seq, { hash, loc });
    this.afterMalformed = false;
  }
}

/** Every gap left (after retention's documented prefix is taken out) is a 'deleted' finding. */
export function findDeleted(gaps: readonly Gap[], find: Find): void {
  for (const g of gaps) {
    const what = g.from === g.to ? `record seq ${g.from} is` : `records seq ${g.from}..${g.to} (${g.to - g.from + 1}) are`;
    const where = g.after
      ? `between ${at(g.after)} (seq ${g.after.seq}) and ${at(g.before)} (seq ${g.before.seq})`
      : g.afterRetention !== undefined
        ? `between those removed by retention (through seq ${g.afterRetention}) and ${at(g.before)} (seq ${g.before.seq}), and no retention record accounts for them`
        : `before ${at(g.before)}, where the log starts at seq ${g.before.seq}`;
    find('deleted', g.before, g.from, `${what} missing ${where}: deleted${g.after || g.afterRetention !== undefined ? '' : ' (or archived elsewhere)'}`);
  }
}
