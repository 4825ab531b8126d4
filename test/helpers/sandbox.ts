import { execFileSync, spawn } from 'node:child_process';
import { bwrapPath, probeBwrap } from '../../serving/src/supervisor/sandbox/bwrap.js';
import { openCgroups } from '../../serving/src/supervisor/sandbox/cgroups.js';
import { executable } from './local-daemon.js';

/** Why sandbox tests skip here (no bubblewrap, or no user namespaces), or false when they run. */
export const sandboxSkip: string | false = (() => {
  const bwrap = bwrapPath();
  if (!bwrap) return 'bubblewrap is not installed (Debian package bubblewrap)';
  return probeBwrap(bwrap) ?? false;
})();

/** Why cgroup limit tests skip here, or false when they run. */
export const cgroupSkip: string | false = (() => {
  const host = openCgroups(process.pid + 1_000_000);
  if ('problem' in host) return `no writable cgroups: ${host.problem}`;
  host.close();
  return false;
})();

/** A network namespace of the test's own, with an address reachable from this host; null when it cannot be made (not root, no iproute2). */
export interface TestNetns {
  name: string;
  /** An address inside the namespace, routed from the host. */
  address: string;
  /** Runs a command inside the namespace. */
  exec(args: string[]): { kill(): void };
  remove(): void;
}

const IP = '/usr/sbin/ip';

export function netnsSkip(): string | false {
  if (process.getuid?.() !== 0) return 'making a network namespace needs root';
  if (!executable(IP)) return 'iproute2 is not installed (Debian package iproute2)';
  return false;
}

/** Makes `vigil-t<id>` with a veth pair: 10.231.<n>.1 on the host, 10.231.<n>.2 inside. */
export function makeNetns(id: number): TestNetns {
  const name = `vigil-t${id}`;
  const n = id % 250;
  const host = `vh${id}`.slice(0, 15);
  const inner = `vn${id}`.slice(0, 15);
  const ip = (...args: string[]) => execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  ip('netns', 'add', name);
  try {
    ip('link', 'add', host, 'type', 'veth', 'peer', 'name', inner, 'netns', name);
    ip('addr', 'add', `10.231.${n}.1/30`, 'dev', host);
    ip('link', 'set', host, 'up');
    ip('-n', name, 'addr', 'add', `10.231.${n}.2/30`, 'dev', inner);
    ip('-n', name, 'link', 'set', inner, 'up');
    ip('-n', name, 'link', 'set', 'lo', 'up');
  } catch (err) {
    ip('netns', 'del', name);
    throw err;
  }
  return {
    name,
    address: `10.231.${n}.2`,
    exec(args) {
      const child = spawn(IP, ['netns', 'exec', name, ...args], { stdio: 'ignore' });
      return { kill: () => child.kill('SIGKILL') };
    },
    remove() {
      try {
        ip('link', 'del', host);
      } catch {
        // gone with the namespace
      }
      ip('netns', 'del', name);
    },
  };
}
