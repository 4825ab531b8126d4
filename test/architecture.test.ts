// The layout's import directions (issue 12, item 5), read from the source files themselves: an
// import that runs against them, or a cycle between files, fails here with the line to change.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';

/** Top-level folder → the folders it may import from (besides itself). Down the README's Layout list. */
const ALLOWED: Record<string, string[]> = {
  oip: [],
  detectors: ['oip'],
  policies: ['oip', 'detectors'],
  serving: ['oip', 'detectors'],
  gateway: ['oip', 'policies', 'detectors', 'serving'],
  grafana: [],
  tools: ['oip', 'policies', 'detectors', 'serving', 'gateway', 'bench'],
};
/** Files allowed one more folder, and why. */
const EXCEPTIONS: Record<string, string[]> = {
  // `vigil detectors calibrate` runs the offline calibration from the CLI.
  'gateway/src/commands/detectors-calibrate.ts': ['tools'],
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sources(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"`;]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|\bimport\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

/** Every relative import of every source file: file → [imported file, line]. */
function importGraph(): Map<string, { target: string; line: number; typeOnly: boolean }[]> {
  const graph = new Map<string, { target: string; line: number; typeOnly: boolean }[]>();
  for (const folder of Object.keys(ALLOWED)) {
    for (const file of sources(folder)) {
      const text = readFileSync(file, 'utf8');
      const edges = [...text.matchAll(IMPORT)].map((m) => ({
        target: normalize(join(dirname(file), (m[1] ?? m[2]).replace(/\.js$/, '.ts'))),
        line: text.slice(0, m.index).split('\n').length + (m[0].startsWith('\n') ? 1 : 0),
        typeOnly: /^\s*(?:import|export)\s+type\b/.test(m[0].replace(/^\n/, '')),
      }));
      graph.set(file, edges);
    }
  }
  return graph;
}

const topOf = (path: string) => path.split('/')[0];

test('imports between top-level folders run only the allowed ways', () => {
  const wrong: string[] = [];
  for (const [file, edges] of importGraph()) {
    const from = topOf(file);
    const allowed = new Set([from, ...ALLOWED[from], ...(EXCEPTIONS[file] ?? [])]);
    for (const e of edges) {
      if (!allowed.has(topOf(e.target))) wrong.push(`${file}:${e.line} imports ${e.target} (${from} may import ${[...allowed].join(', ')})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('no cycle between source files, type-only imports included', () => {
  const graph = importGraph();
  // Tarjan's strongly connected components: any component of two or more files is a cycle.
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const { target: w } of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  assert.deepEqual(cycles, []);
});

test('the graph is read: every folder has files, and imports resolve to files that exist', () => {
  const graph = importGraph();
  for (const folder of Object.keys(ALLOWED)) assert.ok([...graph.keys()].some((f) => topOf(f) === folder), `no source files read in ${folder}/`);
  const missing = [...graph].flatMap(([file, edges]) => edges.filter((e) => !existsTs(e.target)).map((e) => `${file}:${e.line} → ${relative('.', e.target)}`));
  assert.deepEqual(missing, []);
  assert.ok([...graph.values()].reduce((n, e) => n + e.length, 0) > 300, 'imports were found');
});

function existsTs(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
