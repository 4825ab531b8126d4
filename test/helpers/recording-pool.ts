import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ChildProcessLauncher } from '../../serving/src/supervisor/child-process-launcher.js';
import type { LaunchedProcess, Launcher, LaunchSpec } from '../../serving/src/supervisor/launcher.js';

/** The launcher seam in use: same specs, but a pool that records what it receives instead of ONNX Runtime. */
export class RecordingPoolLauncher implements Launcher {
  private readonly inner = new ChildProcessLauncher();
  launch(spec: LaunchSpec): LaunchedProcess {
    return this.inner.launch({ ...spec, args: [fileURLToPath(new URL('../fixtures/recording-pool.js', import.meta.url))] });
  }
}

/** How many requests the recording pool of model/version has received, asked on its own socket. */
export function receivedBy(runtimeDir: string, model: string, version = '1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(runtimeDir, `${model}.${version}.0`, 'pool.sock'), path: '/received', agent: false }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve((JSON.parse(text) as { received: number }).received));
    });
    req.on('error', reject);
    req.end();
  });
}
