// Just enough of kustomize to check manifests without a cluster: a kustomization's resources
// (recursively, for an overlay's base) and its RFC 6902 patches, applied as kustomize applies them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as operator from '@kubernetes-models/prometheus-operator';
import * as k8s from 'kubernetes-models';
import { parse, parseAllDocuments } from 'yaml';

export type Doc = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; data?: Record<string, string> };

interface Kustomization {
  resources: string[];
  patches?: { target: { group?: string; version: string; kind: string; name: string }; patch: string }[];
}

/** Every object a kustomization directory makes, with the file each came from. */
export async function build(dir: string): Promise<{ file: string; doc: Doc }[]> {
  const k = parse(await readFile(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const out: { file: string; doc: Doc }[] = [];
  for (const resource of k.resources) {
    const path = join(dir, resource);
    if (!resource.endsWith('.yaml')) {
      out.push(...(await build(path)));
      continue;
    }
    for (const d of parseAllDocuments(await readFile(path, 'utf8'))) {
      assert.deepEqual(d.errors, [], `${path}: YAML`);
      out.push({ file: path, doc: d.toJS() as Doc });
    }
  }
  for (const { target, patch } of k.patches ?? []) {
    const apiVersion = target.group ? `${target.group}/${target.version}` : target.version;
    const found = out.find((o) => o.doc.kind === target.kind && o.doc.metadata.name === target.name && o.doc.apiVersion === apiVersion);
    assert.ok(found, `${dir}: patch target ${target.kind} ${target.name}`);
    for (const op of parse(patch) as { op: string; path: string; value?: unknown }[]) applyOp(found.doc, op, `${dir}: ${target.kind} ${target.name}`);
  }
  return out;
}

/** RFC 6902 add, replace and remove; replace and remove need the path to exist, `-` appends. */
export function applyOp(doc: unknown, op: { op: string; path: string; value?: unknown }, where: string): void {
  const keys = op.path.split('/').slice(1);
  const last = keys.pop()!;
  let at = doc as Record<string, unknown>;
  for (const k of keys) {
    assert.ok(at[k] !== undefined, `${where}: ${op.path} runs through a missing ${k}`);
    at = at[k] as Record<string, unknown>;
  }
  if (Array.isArray(at) && last === '-') {
    assert.equal(op.op, 'add', `${where}: ${op.op} ${op.path}`);
    at.push(op.value);
    return;
  }
  if (op.op !== 'add') assert.ok(last in at, `${where}: ${op.op} ${op.path}: no such field in the base`);
  if (op.op === 'remove') delete at[last];
  else at[last] = op.value;
}

/** The kubernetes-models class of an apiVersion and kind ("apps/v1" → k8s.apps.v1). */
export function modelOf(apiVersion: string, kind: string): (new (data: unknown) => { validate(): void }) | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const key = group.replace(/\.(\w)/g, (_, c: string) => c.toUpperCase()).replace(/^(\w)/, (c) => c.toLowerCase());
  const root = (group === 'monitoring.coreos.com' ? operator : k8s) as Record<string, any>;
  const ns = group === '' ? root[version] : root[key.replace(/K8sIo$/, 'K8sIo')]?.[version];
  return ns?.[kind];
}

export const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) => Object.entries(selector).every(([k, v]) => labels[k] === v);
