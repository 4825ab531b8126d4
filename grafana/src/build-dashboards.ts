import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { README, buildDashboards, dashboardFiles, readmeWithPanelTables } from './dashboards.js';

/**
 * Writes grafana/dashboards/*.json and the panel tables of grafana/README.md from grafana/src.
 * `--check` writes nothing and exits 1 if any of them differs from what the code produces.
 */
async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const dashboards = buildDashboards();
  const files = dashboardFiles(dashboards);
  files.push({ path: README, content: readmeWithPanelTables(await readFile(README, 'utf8'), dashboards) });
  const stale: string[] = [];
  for (const f of files) {
    const current = await readFile(f.path, 'utf8').catch(() => undefined);
    if (current === f.content) continue;
    stale.push(relative(process.cwd(), f.path));
    if (!check) {
      await mkdir(dirname(f.path), { recursive: true });
      await writeFile(f.path, f.content);
    }
  }
  if (check && stale.length) {
    console.error(`out of date (run npm run dashboards): ${stale.join(', ')}`);
    process.exitCode = 1;
  } else {
    console.log(stale.length ? `wrote ${stale.join(', ')}` : 'dashboards and README are up to date');
  }
}

await main();
