import type { ExtractionState } from './extraction-store.js';

/**
 * An extraction state as bytes for a shared store: the vectors as one raw float32 buffer (4 bytes
 * a feature; JSON or base64 would be 2-5 times larger and slower to parse), everything else as
 * JSON with each class's member count.
 */
export interface EncodedState {
  meta: string;
  vectors: Buffer;
}

const MAX_META_CHARS = 4 * 1024 * 1024;

export function encodeState(state: ExtractionState): EncodedState {
  const parts: Buffer[] = [];
  const classes: Record<number, { n: number; features: number; memberDists: number[]; memberSeq: number[]; threshold: number }> = {};
  for (const [c, g] of Object.entries(state.classes)) {
    classes[Number(c)] = { n: g.members.length, features: g.members[0]?.length ?? 0, memberDists: g.memberDists, memberSeq: g.memberSeq, threshold: g.threshold };
    for (const m of g.members) parts.push(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
  }
  return { meta: JSON.stringify({ ...state, classes }), vectors: Buffer.concat(parts) };
}

/**
 * The state back from its bytes. What a shared store holds may have been written by anyone who can
 * reach the server: the sizes are checked against `maxVectors` and against the bytes there are
 * before anything is allocated, and a state that does not add up throws (the store then starts
 * the caller afresh rather than trust it).
 */
export function decodeState(meta: string, vectors: Buffer, maxVectors: number): ExtractionState {
  // A real state's description is a few hundred KB at most (5,000 distances and the windows).
  if (meta.length > MAX_META_CHARS) throw new Error(`extraction state: a description of ${meta.length} characters`);
  const parsed = JSON.parse(meta) as Omit<ExtractionState, 'classes'> & { classes: Record<number, { n: number; features: number; memberDists: number[]; memberSeq: number[]; threshold: number }> };
  if (typeof parsed !== 'object' || parsed === null || typeof parsed.classes !== 'object' || parsed.classes === null) throw new Error('extraction state: no classes');
  const arrays = [parsed.dists, parsed.distClasses, parsed.times, parsed.nearDup, parsed.lowConf, parsed.outOfProfile];
  if (!arrays.every(Array.isArray) || !Number.isInteger(parsed.queries) || !Number.isInteger(parsed.sinceTest)) throw new Error('extraction state: not the shape of one');
  let total = 0;
  let floatsWanted = 0;
  for (const g of Object.values(parsed.classes)) {
    const ok = Number.isInteger(g?.n) && g.n >= 0 && Number.isInteger(g.features) && g.features >= 1 && g.features <= 1 << 20;
    if (!ok || !Array.isArray(g.memberDists) || !Array.isArray(g.memberSeq) || g.memberDists.length !== g.n || g.memberSeq.length !== g.n) throw new Error('extraction state: a class does not describe its members');
    total += g.n;
    floatsWanted += g.n * g.features;
  }
  if (total > maxVectors) throw new Error(`extraction state: ${total} vectors, more than the ${maxVectors} kept`);
  if (floatsWanted * 4 !== vectors.byteLength) throw new Error('extraction state: the vectors do not match their description');
  // Copied out so each vector is 4-byte aligned and owns its memory.
  const floats = new Float32Array(vectors.byteLength / 4);
  new Uint8Array(floats.buffer).set(vectors);
  let at = 0;
  const classes: ExtractionState['classes'] = {};
  for (const [c, g] of Object.entries(parsed.classes)) {
    const members: Float32Array[] = [];
    for (let i = 0; i < g.n; i++, at += g.features) members.push(floats.slice(at, at + g.features));
    classes[Number(c)] = { members, memberDists: g.memberDists, memberSeq: g.memberSeq, threshold: g.threshold };
  }
  if (at !== floats.length) throw new Error('extraction state: the vectors do not match their description');
  return { ...parsed, classes };
}
