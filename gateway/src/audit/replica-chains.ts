/**
 * A directory holding several replicas' audit chains: with `server.replica_id` set, each replica
 * writes its own chain (own writer lock, checkpoints and seq) in audit.dir/<replica_id>/. The
 * readers (`vigil audit verify`, `vigil audit query`) take either one chain's directory or the
 * directory above several.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKPOINT_FILE, listLogFiles } from './chain.js';

export interface ChainDir {
  /** The replica's name (its directory's), or null for a single chain. */
  replica: string | null;
  dir: string;
}

/** The chains in `dir`: itself when it holds a log (or nothing at all), else each subdirectory that holds one, by name. */
export async function chainDirs(dir: string): Promise<ChainDir[]> {
  if (await holdsChain(dir)) return [{ replica: null, dir }];
  const chains: ChainDir[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory() && (await holdsChain(join(dir, entry.name)))) chains.push({ replica: entry.name, dir: join(dir, entry.name) });
  }
  chains.sort((a, b) => (a.replica! < b.replica! ? -1 : a.replica! > b.replica! ? 1 : 0));
  return chains.length > 0 ? chains : [{ replica: null, dir }];
}

async function holdsChain(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.includes(CHECKPOINT_FILE) || (await listLogFiles(dir).catch(() => [])).length > 0;
}

/**
 * Several chains as one stream: each keeps its own (chain) order, and between them the earliest
 * head goes next (ISO 8601 UTC times compare as strings). A record's time is its request's
 * arrival, so within a chain times are nearly, not strictly, ordered; so is the merge. Pulls one
 * record ahead per stream, so memory stays flat.
 */
export async function* mergeByTime<T extends { time: string }>(streams: AsyncGenerator<T>[]): AsyncGenerator<T> {
  const heads = await Promise.all(streams.map((s) => s.next()));
  try {
    for (;;) {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (!h.done && (best < 0 || h.value.time < (heads[best].value as T).time)) best = i;
      }
      if (best < 0) return;
      yield heads[best].value as T;
      heads[best] = await streams[best].next();
    }
  } finally {
    // The caller stopped early (a limit): let the other files go.
    await Promise.all(streams.map((s) => s.return(undefined)));
  }
}
