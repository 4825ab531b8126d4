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

export function encodeState(state: ExtractionState): EncodedState {
  const parts: Buffer[] = [];
  const classes: Record<number, { n: number; features: number; memberDists: number[]; memberSeq: number[]; threshold: number }> = {};
  for (const [c, g] of Object.entries(state.classes)) {
    classes[Number(c)] = { n: g.members.length, features: g.members[0]?.length ?? 0, memberDists: g.memberDists, memberSeq: g.memberSeq, threshold: g.threshold };
    for (const m of g.members) parts.push(Buffer.from(m.buffer, m.byteOffset, m.byteLength));
  }
  return { meta: JSON.stringify({ ...state, classes }), vectors: Buffer.concat(parts) };
}

export function decodeState(meta: string, vectors: Buffer): ExtractionState {
  const parsed = JSON.parse(meta) as Omit<ExtractionState, 'classes'> & { classes: Record<number, { n: number; features: number; memberDists: number[]; memberSeq: number[]; threshold: number }> };
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
