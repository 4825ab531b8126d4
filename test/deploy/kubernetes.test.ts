// deploy/kubernetes/ checked without a cluster: every manifest against the Kubernetes (and
// Prometheus Operator) schemas, the overlay's patches against the base, and the cross-references
// a typo would break only at deploy time: selectors, named ports, probes, config and policy.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';
import { configSchema } from '../../gateway/src/config/schema.js';
import { EXPORTED_SERIES } from '../../gateway/src/telemetry/metrics.js';
import { parsePolicyText } from '../../policies/src/compile-policy.js';
import { BASE, generatedManifests } from '../../tools/kubernetes/build-manifests.js';
import { applyOp, build, matches, modelOf, type Doc } from '../helpers/kustomize.js';

async function base(): Promise<{ file: string; doc: Doc }[]> {
  return build(BASE);
}

const pods = (docs: Doc[]) => docs.filter((d) => d.kind === 'Deployment');

test('every manifest is valid against its Kubernetes or Prometheus Operator schema', async () => {
  const docs = await base();
  assert.ok(docs.length >= 14, `${docs.length} objects`);
  for (const { file, doc } of docs) {
    const Model = modelOf(doc.apiVersion, doc.kind);
    assert.ok(Model, `${file}: no schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`);
  }
  // The check can fail: a port given as text where a number belongs is refused.
  const gateway = docs.find((d) => d.doc.kind === 'Deployment')!.doc;
  const broken = structuredClone(gateway);
  broken.spec.template.spec.containers[0].ports[0].containerPort = 'eighty';
  assert.throws(() => new (modelOf('apps/v1', 'Deployment')!)(broken).validate(), /containerPort/);
});

test('the generated manifests are what the rules and dashboards make (npm run k8s)', async () => {
  for (const f of await generatedManifests()) assert.equal(await readFile(f.path, 'utf8'), f.content, `${f.path} is out of date: run npm run k8s`);
});

test('selectors, named ports, probes and references line up', async () => {
  const docs = (await base()).map((d) => d.doc);
  const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
  const templates = pods(docs).map((d) => ({ name: d.metadata.name, labels: d.spec.template.metadata.labels as Record<string, string>, spec: d.spec.template.spec }));
  for (const d of pods(docs)) assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${d.metadata.name}: its selector matches its pods`);

  for (const svc of byKind('Service')) {
    const targets = templates.filter((t) => matches(svc.spec.selector, t.labels));
    assert.equal(targets.length, 1, `Service ${svc.metadata.name} selects one Deployment's pods`);
    const ports = targets[0].spec.containers.flatMap((c: any) => c.ports.map((p: any) => p.name));
    for (const p of svc.spec.ports) assert.ok(ports.includes(p.targetPort), `Service ${svc.metadata.name}: targetPort ${p.targetPort} is a named container port`);
  }

  const gateway = templates.find((t) => t.name === 'vigil-gateway')!;
  const container = gateway.spec.containers[0];
  const portNumber = (name: string) => container.ports.find((p: any) => p.name === name)?.containerPort;
  const config = configSchema.parse(parse(byKind('ConfigMap').find((c) => c.metadata.name === 'vigil-config')!.data!['vigil.yaml']));
  assert.equal(portNumber('inference'), config.server.port, 'the inference port is the configured one');
  assert.equal(portNumber('admin'), config.admin.port, 'the admin port is the configured one');
  assert.equal(container.readinessProbe.httpGet.path, '/readyz');
  assert.equal(container.livenessProbe.httpGet.path, '/livez');
  assert.equal(container.readinessProbe.httpGet.port, 'admin');
  assert.equal(config.server.host, '0.0.0.0', 'reachable from the Service');
  for (const store of [config.limits.store, config.screening.store, config.auth.failures.store]) {
    assert.equal(store.kind, 'redis', 'replicas share their state');
    const host = new URL(store.kind === 'redis' ? store.url : '').hostname;
    assert.ok(byKind('Service').some((s) => s.metadata.name === host), `the Redis URL names the Service ${host}`);
  }
  assert.ok(container.env.some((e: any) => e.name === 'VIGIL_REPLICA_ID' && e.valueFrom?.fieldRef?.fieldPath === 'metadata.name'), 'each pod its own audit chain');

  // Every ConfigMap a pod mounts exists, and the files vigil reads are where they are mounted.
  const mounts = new Map<string, string>(container.volumeMounts.map((m: any) => [m.name, m.mountPath]));
  for (const v of gateway.spec.volumes.filter((v: any) => v.configMap)) {
    const cm = byKind('ConfigMap').find((c) => c.metadata.name === v.configMap.name);
    assert.ok(cm, `ConfigMap ${v.configMap.name} exists`);
    for (const key of Object.keys(cm.data!)) {
      const path = `${mounts.get(v.name)}/${key}`;
      if (key === 'vigil.yaml') assert.equal(container.env.find((e: any) => e.name === 'VIGIL_CONFIG')?.value, path);
      if (key === 'vigil-policy.yaml') assert.equal(config.policy.file, path);
    }
  }
  parsePolicyText(byKind('ConfigMap').find((c) => c.metadata.name === 'vigil-policy')!.data!['vigil-policy.yaml'], 'vigil-policy.yaml');

  const hpa = byKind('HorizontalPodAutoscaler')[0];
  assert.ok(pods(docs).some((d) => d.metadata.name === hpa.spec.scaleTargetRef.name), 'the HPA scales the gateway');
  for (const m of hpa.spec.metrics.filter((x: any) => x.type === 'Pods')) assert.ok(EXPORTED_SERIES.includes(m.pods.metric.name), `the HPA's ${m.pods.metric.name} is a series vigil exports`);
  assert.ok(hpa.spec.metrics.some((x: any) => x.type === 'Resource'), 'CPU stands in while the adapter is missing');
  const pdb = byKind('PodDisruptionBudget')[0];
  assert.ok(matches(pdb.spec.selector.matchLabels, gateway.labels));
  assert.ok(pdb.spec.minAvailable < hpa.spec.minReplicas, 'a drain can always evict one gateway pod');

  const monitor = byKind('ServiceMonitor')[0];
  const scraped = byKind('Service').filter((s) => matches(monitor.spec.selector.matchLabels, s.metadata.labels));
  assert.deepEqual(scraped.map((s) => s.metadata.name), ['vigil-admin'], 'Prometheus scrapes the admin Service, not the inference one');
  assert.ok(scraped[0].spec.ports.some((p: any) => p.name === monitor.spec.endpoints[0].port));

  for (const np of byKind('NetworkPolicy')) {
    const selected = templates.filter((t) => matches(np.spec.podSelector.matchLabels ?? {}, t.labels));
    assert.ok(selected.length > 0, `NetworkPolicy ${np.metadata.name} selects pods`);
  }
  const redis = pods(docs).find((d) => d.metadata.name === 'vigil-redis')!.spec.template.spec.containers[0];
  const policy = redis.args[redis.args.indexOf('--maxmemory-policy') + 1];
  assert.equal(policy, 'noeviction', 'a full Redis must refuse writes, never evict a quarantine, block or spent quota');
  const redisPolicy = byKind('NetworkPolicy').find((n) => n.metadata.name === 'vigil-redis')!;
  const allowed = templates.filter((t) => redisPolicy.spec.ingress.some((r: any) => r.from.some((f: any) => matches(f.podSelector.matchLabels, t.labels))));
  assert.deepEqual(allowed.map((t) => t.name), ['vigil-gateway'], 'only the gateway reaches Redis');
});

test('every pod meets the restricted Pod Security Standard, and the namespace enforces it', async () => {
  const docs = (await base()).map((d) => d.doc);
  assert.equal(docs.find((d) => d.kind === 'Namespace')!.metadata.labels!['pod-security.kubernetes.io/enforce'], 'restricted');
  for (const d of pods(docs)) {
    const spec = d.spec.template.spec;
    assert.equal(spec.securityContext.runAsNonRoot, true, d.metadata.name);
    assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', d.metadata.name);
    assert.equal(spec.automountServiceAccountToken, false, `${d.metadata.name}: no API token it never uses`);
    for (const c of spec.containers) {
      assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
      assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], c.name);
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
      assert.ok(c.resources.requests && c.resources.limits.memory, `${c.name}: requests and a memory limit`);
    }
  }
});

test('the single-node overlay patches paths that exist in the base, and what it makes is valid', async () => {
  const overlay = parse(await readFile('deploy/kubernetes/overlays/single-node/kustomization.yaml', 'utf8')) as {
    resources: string[];
    patches: { target: { group: string; version: string; kind: string; name: string }; patch: string }[];
  };
  assert.deepEqual(overlay.resources, ['../../base']);
  const docs = (await base()).map((d) => d.doc);
  for (const { target, patch } of overlay.patches) {
    const doc = docs.find((d) => d.kind === target.kind && d.metadata.name === target.name && d.apiVersion === `${target.group}/${target.version}`);
    assert.ok(doc, `patch target ${target.kind} ${target.name}`);
    const patched = structuredClone(doc);
    for (const op of parse(patch) as { op: string; path: string; value?: unknown }[]) applyOp(patched, op, `${target.kind} ${target.name}`);
    new (modelOf(patched.apiVersion, patched.kind)!)(patched).validate();
  }
});
