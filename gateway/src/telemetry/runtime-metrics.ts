import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Meter } from '@opentelemetry/api';
import type { ModelRegistry } from '../model-registry.js';
import { procStats } from './proc-stats.js';

/**
 * The processes behind the numbers, read at scrape time: the gateway's CPU, memory, V8 heap and
 * event loop, and each pool worker's CPU and memory. The gateway is one event loop: when its
 * utilization nears 1, requests queue in the gateway whatever the pools do. Names follow the
 * OpenTelemetry process, V8 and Node.js runtime semantic conventions. Written over Node's own
 * monitors (perf_hooks, process, v8) rather than @opentelemetry/instrumentation-runtime-node,
 * which reads the same monitors but brings the module-patching instrumentation framework with it.
 * Returns a function that stops the event-loop delay monitor.
 */
export function observeRuntime(meter: Meter, registry: ModelRegistry): () => void {
  // Samples the loop's lateness every 10 ms; read and reset at each scrape.
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let lastLoop = performance.eventLoopUtilization();

  const cpu = meter.createObservableCounter('process.cpu.time', { unit: 's', description: 'CPU time of the gateway process, by mode (user, system)' });
  const memory = meter.createObservableGauge('process.memory.usage', { unit: 'By', description: 'Resident memory (RSS) of the gateway process' });
  const heap = meter.createObservableGauge('v8js.memory.heap.used', { unit: 'By', description: "Bytes used in each space of the gateway's V8 heap" });
  const utilization = meter.createObservableGauge('nodejs.eventloop.utilization', {
    unit: '1',
    description: "Share of the time since the last scrape the gateway's event loop was busy; near 1, requests queue in the gateway",
  });
  const delayP99 = meter.createObservableGauge('nodejs.eventloop.delay.p99', { unit: 's', description: "p99 of how late the gateway's event loop ran its timers since the last scrape" });
  const workerCpu = meter.createObservableCounter('vigil.pool.worker.cpu.time', { unit: 's', description: 'CPU time of each pool worker process, by mode (user, system); a restarted worker starts again from 0' });
  const workerMemory = meter.createObservableGauge('vigil.pool.worker.memory.usage', { unit: 'By', description: 'Resident memory (RSS) of each pool worker process' });

  meter.addBatchObservableCallback(
    (result) => {
      const usage = process.cpuUsage();
      result.observe(cpu, usage.user / 1e6, { 'cpu.mode': 'user' });
      result.observe(cpu, usage.system / 1e6, { 'cpu.mode': 'system' });
      result.observe(memory, process.memoryUsage.rss());
      for (const space of getHeapSpaceStatistics()) result.observe(heap, space.space_used_size, { 'v8js.heap.space.name': space.space_name });
      const loop = performance.eventLoopUtilization();
      result.observe(utilization, performance.eventLoopUtilization(loop, lastLoop).utilization);
      lastLoop = loop;
      // No sample since the last scrape (two scrapes within 10 ms): no p99 rather than a made-up 0.
      if (delay.count > 0) result.observe(delayP99, delay.percentile(99) / 1e9);
      delay.reset();

      for (const v of registry.all()) {
        if (v.status !== 'serving' || !v.pool) continue;
        for (const w of v.pool.workers) {
          // Only a live worker's pid is its own: once it exited, the number may be another process's.
          const live = w.state === 'up' || w.state === 'starting';
          const stats = live && w.pid !== undefined ? procStats(w.pid) : null;
          if (!stats) continue;
          const labels = { model: v.model, version: v.version, worker: String(w.index) };
          result.observe(workerCpu, stats.userSeconds, { ...labels, 'cpu.mode': 'user' });
          result.observe(workerCpu, stats.systemSeconds, { ...labels, 'cpu.mode': 'system' });
          result.observe(workerMemory, stats.rssBytes, labels);
        }
      }
    },
    [cpu, memory, heap, utilization, delayP99, workerCpu, workerMemory],
  );
  return () => delay.disable();
}
