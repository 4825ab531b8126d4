import { readFileSync } from 'node:fs';

/** What Linux's /proc tells of another process: its CPU time so far and its resident memory. */
export interface ProcStats {
  userSeconds: number;
  systemSeconds: number;
  rssBytes: number;
}

/** USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on every Linux architecture Node runs on. */
const TICKS_PER_SECOND = 100;

/**
 * Reads /proc/<pid>/stat and /proc/<pid>/status. Null when there is no such process (it exited
 * between the caller learning its pid and this read) or no /proc (not Linux): callers skip it.
 */
export function procStats(pid: number): ProcStats | null {
  try {
    // Fields after the command name, which is in parentheses and may itself hold spaces or ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return {
      userSeconds: Number(fields[11]) / TICKS_PER_SECOND, // utime (field 14 of stat)
      systemSeconds: Number(fields[12]) / TICKS_PER_SECOND, // stime (field 15)
      rssBytes: rss ? Number(rss[1]) * 1024 : 0, // a zombie has no VmRSS line
    };
  } catch {
    return null;
  }
}
