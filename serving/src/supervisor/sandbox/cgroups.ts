import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { processAlive } from '../../process-alive.js';

/** What model.yaml's `pool.resources` asks of every worker of a pool. */
export interface ResourceLimits {
  memoryMb?: number;
  /** CPU time as a number of cores (0.5: half of one). */
  cpus?: number;
  /** Processes and threads (ONNX Runtime's and Node's own threads count). */
  pids?: number;
}

/** One worker's cgroup: where its first process joins it, and its OOM kills. */
export interface WorkerCgroup {
  /** Files the worker's first process writes its pid to (one per v1 controller, one for v2). */
  procsFiles: string[];
  /** OOM kills inside this cgroup so far. */
  oomKills(): number;
  /** Removes it (once its processes are gone); errors are ignored. */
  remove(): void;
}

export interface CgroupHost {
  version: 1 | 2;
  /** Creates `name` with the limits; throws if the kernel refuses. */
  create(name: string, limits: ResourceLimits): WorkerCgroup;
  /** Removes vigil's own parent cgroup(s). */
  close(): void;
}

const ROOT = '/sys/fs/cgroup';
const CPU_PERIOD_US = 100_000;
const V1_CONTROLLERS = ['memory', 'pids', 'cpu'] as const;

/**
 * Finds where this process may make cgroups for its workers: a `vigil-<pid>` child of its own
 * cgroup, under cgroup v2 (memory, pids and cpu delegated) or else v1 (one hierarchy per
 * controller). Returns why not, when neither works (not root and nothing delegated, a read-only
 * /sys/fs/cgroup, a v2 cgroup with processes in it, …): vigil then runs without limits and says so.
 * Written against the kernel's files rather than through a library: there is no maintained Node
 * package for it, and the few writes needed are the documented interface.
 */
export function openCgroups(pid = process.pid): CgroupHost | { problem: string } {
  let own: Map<string, string>;
  try {
    own = ownCgroups();
  } catch (err) {
    return { problem: `cannot read /proc/self/cgroup: ${(err as Error).message}` };
  }
  const v2 = safely(() => tryV2(own, pid));
  if (!('problem' in v2)) return v2;
  const v1 = safely(() => tryV1(own, pid));
  if (!('problem' in v1)) return v1;
  return { problem: `cgroup v2: ${v2.problem}; cgroup v1: ${v1.problem}` };
}

function ownCgroups(): Map<string, string> {
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === '') own.set('', m[2]);
    for (const c of m[1].split(',')) own.set(c, m[2]);
  }
  return own;
}

function tryV2(own: Map<string, string>, pid: number): CgroupHost | { problem: string } {
  const mount = existsSync(join(ROOT, 'cgroup.controllers')) ? ROOT : existsSync(join(ROOT, 'unified', 'cgroup.controllers')) ? join(ROOT, 'unified') : null;
  if (!mount || !own.has('')) return { problem: 'not mounted' };
  const mine = join(mount, own.get('')!);
  const available = readFileSync(join(mine, 'cgroup.controllers'), 'utf8').trim().split(/\s+/);
  const missing = ['memory', 'pids', 'cpu'].filter((c) => !available.includes(c));
  if (missing.length) return { problem: `controllers ${missing.join(', ')} not delegated here` };
  const parent = join(mine, `vigil-${pid}`);
  try {
    mkdirSync(parent, { recursive: true });
    sweepStale(parent);
    // Children may only get limits the parent delegates to them.
    writeFileSync(join(parent, 'cgroup.subtree_control'), '+memory +pids +cpu');
  } catch (err) {
    return { problem: `cannot make ${parent}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  return {
    version: 2,
    create(name, limits) {
      const dir = join(parent, name);
      mkdirSync(dir, { recursive: true });
      if (limits.memoryMb) {
        writeFileSync(join(dir, 'memory.max'), String(limits.memoryMb * 1024 * 1024));
        if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
      }
      if (limits.pids) writeFileSync(join(dir, 'pids.max'), String(limits.pids));
      if (limits.cpus) writeFileSync(join(dir, 'cpu.max'), `${Math.round(limits.cpus * CPU_PERIOD_US)} ${CPU_PERIOD_US}`);
      return {
        procsFiles: [join(dir, 'cgroup.procs')],
        oomKills: () => counter(join(dir, 'memory.events'), 'oom_kill'),
        remove: () => quietly(() => rmdirSync(dir)),
      };
    },
    close: () => removeTreeSoon(parent),
  };
}

function tryV1(own: Map<string, string>, pid: number): CgroupHost | { problem: string } {
  const parents = new Map<string, string>();
  for (const c of V1_CONTROLLERS) {
    const base = join(ROOT, c);
    if (!existsSync(join(base, 'cgroup.procs')) || !own.has(c)) return { problem: `controller ${c} not mounted` };
    const parent = join(base, own.get(c)!, `vigil-${pid}`);
    try {
      mkdirSync(parent, { recursive: true });
      sweepStale(parent);
    } catch (err) {
      return { problem: `cannot make ${parent}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    parents.set(c, parent);
  }
  return {
    version: 1,
    create(name, limits) {
      const dirs = new Map([...parents].map(([c, p]) => [c, join(p, name)]));
      for (const dir of dirs.values()) mkdirSync(dir, { recursive: true });
      const memory = dirs.get('memory')!;
      if (limits.memoryMb) {
        const bytes = String(limits.memoryMb * 1024 * 1024);
        writeFileSync(join(memory, 'memory.limit_in_bytes'), bytes);
        // With swap accounting, the same bound on memory + swap: no escaping the limit into swap.
        if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(memory, 'memory.memsw.limit_in_bytes'), bytes);
      }
      if (limits.pids) writeFileSync(join(dirs.get('pids')!, 'pids.max'), String(limits.pids));
      if (limits.cpus) {
        const cpu = dirs.get('cpu')!;
        writeFileSync(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
        writeFileSync(join(cpu, 'cpu.cfs_quota_us'), String(Math.round(limits.cpus * CPU_PERIOD_US)));
      }
      return {
        procsFiles: [...dirs.values()].map((d) => join(d, 'cgroup.procs')),
        oomKills: () => counter(join(memory, 'memory.oom_control'), 'oom_kill'),
        remove: () => {
          for (const dir of dirs.values()) quietly(() => rmdirSync(dir));
        },
      };
    },
    close: () => {
      for (const p of parents.values()) removeTreeSoon(p);
    },
  };
}

/** A `key value` line of a cgroup file; 0 when absent (an old kernel without the counter). */
function counter(file: string, key: string): number {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

function safely(fn: () => CgroupHost | { problem: string }): CgroupHost | { problem: string } {
  try {
    return fn();
  } catch (err) {
    return { problem: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/**
 * Removes what earlier vigils left beside `parent` (vigil-<pid> of a process that is gone: killed
 * before it could clean up), so restarts do not pile up cgroups.
 */
function sweepStale(parent: string): void {
  const dir = dirname(parent);
  quietly(() => {
    for (const e of readdirSync(dir)) {
      const m = /^vigil-(\d+)$/.exec(e);
      if (m && join(dir, e) !== parent && !processAlive(Number(m[1]))) removeTree(join(dir, e));
    }
  });
}

/** removeTree, retried for up to 2 s while the last processes are reaped (a cgroup with processes cannot be removed). */
function removeTreeSoon(dir: string): void {
  const deadline = Date.now() + 2_000;
  for (;;) {
    removeTree(dir);
    if (!existsSync(dir) || Date.now() > deadline) return;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50); // shutdown only: a short synchronous wait
  }
}

/** A cgroup and its child cgroups (rmdir, depth first; a cgroup's files are not removable). */
function removeTree(dir: string): void {
  quietly(() => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name));
  });
  quietly(() => rmdirSync(dir));
}

function quietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // still busy, or gone already
  }
}
