import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { queryAudit } from '../../gateway/src/audit/query.js';
import type { StoredAuditRecord } from '../../gateway/src/audit/audit-log.js';
import { rawRequest, startTestVigil, type TestVigil } from '../helpers/vigil-harness.js';
import { waitFor } from '../helpers/wait-for.js';
import { executable, freePort, SETPRIV } from '../helpers/local-daemon.js';

/**
 * Issue #4, end to end: a burst of bad tokens from one address makes vigil's anomaly detector fire
 * `auth_failures_by_source`, which reaches a REAL Alertmanager (API v2), the audit log and the
 * metric; once the burst stops it resolves everywhere. Skipped (never passed) when Alertmanager
 * is not installed (Debian package prometheus-alertmanager).
 */

const BINARY = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';



interface RunningAlertmanager {
  url: string;
  logTail(): string;
  stop(): Promise<void>;
}

/** A private Alertmanager: one receiver with no integrations, no clustering, storage in a temp dir. */
async function startAlertmanager(): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-alertmanager-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const configFile = join(dir, 'alertmanager.yml');
  await writeFile(configFile, 'route:\n  receiver: nowhere\n  group_wait: 1s\n  group_interval: 1s\nreceivers:\n  - name: nowhere\n');
  const args = [`--config.file=${configFile}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=', '--log.level=info'];
  const logFile = join(dir, 'alertmanager.log');
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    // setpriv --pdeathsig: the kernel kills Alertmanager if this test process dies in any way.
    const [command, argv] = executable(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'KILL', '--', BINARY, ...args]] : [BINARY, args];
    child = spawn(command, argv, { cwd: dir, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let exited = false;
  const exit = new Promise<void>((r) => child.once('exit', () => ((exited = true), r())));
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '(no log)';
    }
  };
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exit;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Alertmanager /-/ready',
      async () => {
        if (exited) throw new Error(`alertmanager exited:\n${logTail()}`);
        return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok;
      },
      20_000,
      50,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, logTail, stop };
}

interface GettableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  status: { state: 'active' | 'suppressed' | 'unprocessed' };
}

async function amAlerts(url: string): Promise<GettableAlert[]> {
  const res = await fetch(`${url}/api/v2/alerts?filter=${encodeURIComponent('alertname="VigilAuthFailuresBySource"')}`);
  assert.equal(res.status, 200);
  return (await res.json()) as GettableAlert[];
}

async function auditAlerts(vigil: TestVigil): Promise<StoredAuditRecord[]> {
  const out: StoredAuditRecord[] = [];
  for await (const rec of queryAudit(vigil.config.audit.dir, { type: 'alert' })) out.push(rec);
  return out;
}

async function alertsMetric(vigil: TestVigil): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${vigil.adminPort}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('vigil_alerts_total{') || !line.includes('rule="auth_failures_by_source"')) continue;
    const state = /state="(\w+)"/.exec(line)?.[1];
    assert.match(line, /severity="warning"/);
    if (state) out[state] = Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return out;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('auth_failures_by_source fires into a real Alertmanager, the audit log and the metric, then resolves', { timeout: 60_000 }, async (t) => {
  if (!executable(BINARY)) {
    t.skip(`${BINARY} is not installed (Debian package prometheus-alertmanager)`);
    return;
  }
  const started = Date.now();
  let am: RunningAlertmanager | undefined;
  let vigil: TestVigil | undefined;
  try {
    am = await startAlertmanager();
    vigil = await startTestVigil({
      // Keep the burst under the throttle: every request is a plain 401, never slowed or blocked.
      auth: { failures: { slow_after: 100_000, block_after: 100_000, address_block_after: 100_000 } },
      alerts: {
        tick_ms: 200,
        alertmanager_url: am.url,
        resend_ms: 500,
        rules: { auth_failures_by_source: { warmup_ticks: 3, min_count: 5, resolve_ticks: 2 } },
      },
    });
    const v = vigil;
    assert.deepEqual(await alertsMetric(v), { firing: 0 }, 'seeded at 0');

    await delay(1_000); // five quiet intervals: past the warm-up
    assert.deepEqual(await amAlerts(am.url), []);
    assert.deepEqual(await auditAlerts(v), []);

    // The burst: bad tokens from 127.0.0.1 until Alertmanager shows the alert.
    let bursting = true;
    let sent = 0;
    const burst = (async () => {
      while (bursting) {
        const answers = await Promise.all(Array.from({ length: 5 }, () => rawRequest(v.port, 'GET', '/v2/models/digits', { headers: { authorization: 'Bearer x.y.z' } })));
        for (const a of answers) {
          assert.equal(a.status, 401);
          assert.equal(a.json?.code, 'TOKEN_MALFORMED');
        }
        sent += answers.length;
        await delay(10);
      }
    })();
    let firing: GettableAlert[];
    try {
      firing = await waitFor('VigilAuthFailuresBySource active in Alertmanager', async () => {
        const alerts = (await amAlerts(am!.url)).filter((a) => a.status.state === 'active');
        return alerts.length ? alerts : undefined;
      }, 15_000, 100);
      // Still bursting: the alert is deduplicated, not fired again.
      await delay(600);
    } finally {
      bursting = false;
      await burst;
    }
    t.diagnostic(`burst: ${sent} requests; fired after ${Date.now() - started} ms from start`);
    assert.equal(firing.length, 1);
    assert.deepEqual(firing[0].labels, { alertname: 'VigilAuthFailuresBySource', severity: 'warning', source: '127.0.0.1' });
    assert.ok(Number(firing[0].annotations.value) >= 5, JSON.stringify(firing[0].annotations));
    assert.equal(firing[0].annotations.baseline, '0');
    assert.match(firing[0].annotations.summary, /auth_failures_by_source/);

    // Burst over: two calm intervals later it resolves (endsAt now: gone from the active alerts).
    await waitFor('VigilAuthFailuresBySource resolved in Alertmanager', async () => {
      const alerts = await amAlerts(am!.url);
      return alerts.every((a) => a.status.state !== 'active' || Date.parse(a.endsAt) <= Date.now());
    }, 15_000, 100);
    t.diagnostic(`resolved after ${Date.now() - started} ms from start`);

    const records = await waitFor('firing and resolved audit records', async () => {
      const recs = await auditAlerts(v);
      return recs.length >= 2 ? recs : undefined;
    });
    assert.deepEqual(
      records.map((r) => r.type === 'alert' && [r.state, r.rule, r.severity, r.labels]),
      [
        ['firing', 'auth_failures_by_source', 'warning', { source: '127.0.0.1' }],
        ['resolved', 'auth_failures_by_source', 'warning', { source: '127.0.0.1' }],
      ],
    );
    const [f, r] = records as Extract<StoredAuditRecord, { type: 'alert' }>[];
    assert.ok(f.value >= 5 && f.baseline === 0, JSON.stringify(f));
    assert.ok(Date.parse(r.time) > Date.parse(f.time));
    assert.deepEqual(await alertsMetric(v), { firing: 1, resolved: 1 });
  } catch (err) {
    if (am) t.diagnostic(`alertmanager log:\n${am.logTail()}`);
    throw err;
  } finally {
    await vigil?.stop();
    await am?.stop();
  }
});
