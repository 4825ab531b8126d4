import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Document, parseDocument } from 'yaml';
import { TRAFFIC_FILE } from './model-repository.js';
import { trafficSchema, type TrafficPolicy } from './traffic-policy.js';

/**
 * Writes a new split (and drops the shadow when asked) into `models/<name>/traffic.yaml`, so a
 * promotion or rollback outlives a restart and the next load. The operator's comments and other
 * keys stay (yaml's Document keeps them); the result is checked against the schema before it is
 * written, and written whole (a temporary file renamed over the old one).
 */
export async function saveTrafficSplit(modelDir: string, split: Record<string, number>, dropShadow: boolean): Promise<TrafficPolicy> {
  const file = join(modelDir, TRAFFIC_FILE);
  let doc: Document;
  try {
    doc = parseDocument(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    doc = new Document({});
  }
  if (doc.errors.length > 0) throw new Error(`${file} is not valid YAML: ${doc.errors[0].message}`);
  doc.set('split', doc.createNode(split));
  if (dropShadow) doc.delete('shadow');
  const policy = trafficSchema.parse(doc.toJS());
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, doc.toString(), { mode: 0o644 });
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  return policy;
}
