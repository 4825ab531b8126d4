/**
 * Whether a process with this pid exists (signal 0 checks without sending). EPERM means it exists
 * but belongs to someone else: alive. Used to tell a dead owner's leftovers (cgroups, lock files)
 * from a live one's.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
