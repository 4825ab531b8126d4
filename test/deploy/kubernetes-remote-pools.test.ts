// The remote-pools overlay checked without a cluster: pools as their own Deployments running
// `vigil pool serve` behind mutual TLS, the gateway's model repository naming them, and a network
// that lets only the gateway reach a pool and a pool reach nothing.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { parse } from 'yaml';
import { modelConfigSchema } from '../../serving/src/model-config.js';
import { POOL_CLIENT_TLS, REMOTE_POOLS } from '../../tools/kubernetes/build-manifests.js';
import { build, matches, modelOf, type Doc } from '../helpers/kustomize.js';

async function overlay(): Promise<Doc[]> {
  return (await build(REMOTE_POOLS)).map((d) => d.doc);
}

const flag = (args: string[], name: string) => args[args.indexOf(name) + 1];

test('every object the overlay makes is valid against its schema, the patched gateway included', async () => {
  const docs = await overlay();
  for (const doc of docs) {
    const Model = modelOf(doc.apiVersion, doc.kind);
    assert.ok(Model, `no schema for ${doc.apiVersion} ${doc.kind}`);
    assert.doesNotThrow(() => new Model(doc).validate(), `${doc.kind} ${doc.metadata.name}`);
  }
  assert.equal(new Set(docs.map((d) => `${d.kind}/${d.metadata.name}`)).size, docs.length, 'no object twice');
});

test('each pool Deployment serves its model with mutual TLS on the port its Service targets, and is probed on a plain health port', async () => {
  const docs = await overlay();
  const pools = docs.filter((d) => d.kind === 'Deployment' && d.metadata.labels?.['app.kubernetes.io/component'] === 'pool');
  assert.deepEqual(pools.map((p) => p.metadata.name).sort(), ['vigil-pool-digits', 'vigil-pool-mnist']);
  for (const pool of pools) {
    const spec = pool.spec.template.spec;
    const c = spec.containers[0];
    const args: string[] = [...c.command, ...c.args];
    assert.deepEqual(c.command.slice(1, 4), ['bin/vigil.js', 'pool', 'serve']);
    const model = flag(args, '--model');
    assert.equal(pool.metadata.name, `vigil-pool-${model}`);
    const port = (name: string) => c.ports.find((p: any) => p.name === name)?.containerPort;
    assert.equal(Number(flag(args, '--listen').split(':')[1]), port('oip'));
    assert.equal(Number(flag(args, '--health-listen').split(':')[1]), port('health'));
    assert.deepEqual([c.readinessProbe.httpGet.port, c.readinessProbe.httpGet.path], ['health', '/v2/health/ready']);
    assert.deepEqual([c.livenessProbe.httpGet.port, c.livenessProbe.httpGet.path], ['health', '/v2/health/live']);
    assert.ok(!args.includes('--plaintext'));
    // The TLS files are in the mounted Secret.
    const mount = c.volumeMounts.find((m: any) => flag(args, '--tls-cert').startsWith(`${m.mountPath}/`));
    assert.ok(mount, 'the certificate is on a mounted volume');
    const secret = spec.volumes.find((v: any) => v.name === mount.name).secret.secretName;
    for (const f of ['--tls-cert', '--tls-key', '--client-ca']) assert.ok(flag(args, f).startsWith(`${mount.mountPath}/`), `${f} from Secret ${secret}`);
    const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === pool.metadata.name);
    assert.ok(svc && matches(svc.spec.selector, pool.spec.template.metadata.labels), `Service ${pool.metadata.name} selects the pool`);
    assert.ok(!docs.some((d) => d.kind === 'Service' && d !== svc && matches(d.spec.selector, pool.spec.template.metadata.labels)), 'and only that Service');
    assert.deepEqual(svc.spec.ports.map((p: any) => p.targetPort), ['oip'], 'the Service exposes the model port, never the health port');
    // Restricted Pod Security, as every pod in the namespace.
    assert.equal(spec.securityContext.runAsNonRoot, true);
    assert.equal(spec.automountServiceAccountToken, false);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  }
});

test("the gateway's model repository names each pool's Service, with the client certificate it mounts, and fits the pools' batch size", async () => {
  const docs = await overlay();
  const gateway = docs.find((d) => d.kind === 'Deployment' && d.metadata.name === 'vigil-gateway')!.spec.template.spec;
  const c = gateway.containers[0];
  const repository = c.env.find((e: any) => e.name === 'VIGIL_MODEL_REPOSITORY')?.value;
  const modelsVolume = gateway.volumes.find((v: any) => v.configMap?.name === 'vigil-remote-models');
  assert.equal(c.volumeMounts.find((m: any) => m.name === modelsVolume.name).mountPath, repository);
  const cm = docs.find((d) => d.kind === 'ConfigMap' && d.metadata.name === 'vigil-remote-models')!;
  for (const item of modelsVolume.configMap.items) assert.ok(cm.data![item.key] !== undefined, `ConfigMap key ${item.key}`);
  const tlsMount = c.volumeMounts.find((m: any) => m.mountPath === POOL_CLIENT_TLS);
  assert.ok(gateway.volumes.find((v: any) => v.name === tlsMount.name).secret.secretName, 'the client certificate comes from a Secret');

  const models = modelsVolume.configMap.items.filter((i: any) => i.path.endsWith('/model.yaml'));
  assert.deepEqual(models.map((i: any) => i.path).sort(), ['digits/1/model.yaml', 'mnist/1/model.yaml']);
  for (const item of models) {
    const model = item.path.split('/')[0];
    const cfg = modelConfigSchema.parse(parse(cm.data![item.key]));
    assert.equal(cfg.backend.kind, 'oip-http');
    if (cfg.backend.kind !== 'oip-http') continue;
    const url = new URL(cfg.backend.url);
    const svc = docs.find((d) => d.kind === 'Service' && d.metadata.name === url.hostname);
    assert.ok(svc, `the URL names the Service ${url.hostname}`);
    assert.equal(Number(url.port), svc.spec.ports[0].port);
    assert.ok(matches(svc.spec.selector, { 'vigil.dev/model': model, 'app.kubernetes.io/component': 'pool', 'app.kubernetes.io/name': 'vigil' }), `${url.hostname} serves ${model}`);
    for (const f of [cfg.backend.tls?.ca, cfg.backend.tls?.cert, cfg.backend.tls?.key]) assert.ok(f?.startsWith(`${POOL_CLIENT_TLS}/`), `${f} in the mounted Secret`);
    if (cfg.profile) assert.ok(modelsVolume.configMap.items.some((i: any) => i.path === `${model}/1/${cfg.profile}`), 'its profile is mounted beside it');
    // The pool runs the rows and their squeezed copies in one batch of its own max_batch_size.
    const pool = modelConfigSchema.parse(parse(await readFile(`models/${model}/1/model.yaml`, 'utf8')));
    const copies = cfg.detectors.squeeze?.enabled ? cfg.detectors.squeeze.squeezers.length : 0;
    assert.ok(cfg.max_batch_size * (1 + copies) <= pool.max_batch_size, `${model}: ${cfg.max_batch_size} rows × ${1 + copies} fit the pool's ${pool.max_batch_size}`);
  }
});

test('only the gateway reaches a pool, on its model port; a pool reaches nothing', async () => {
  const docs = await overlay();
  const policies = docs.filter((d) => d.kind === 'NetworkPolicy');
  const poolLabels = { 'app.kubernetes.io/name': 'vigil', 'app.kubernetes.io/component': 'pool', 'vigil.dev/model': 'mnist' };
  const onPools = policies.filter((p) => matches(p.spec.podSelector.matchLabels ?? {}, poolLabels));
  const ingress = onPools.flatMap((p) => p.spec.ingress ?? []);
  assert.ok(ingress.length > 0);
  for (const rule of ingress) {
    assert.ok(rule.from?.length > 0, 'no rule lets everyone in');
    for (const from of rule.from) assert.equal(from.podSelector?.matchLabels?.['app.kubernetes.io/component'], 'gateway');
    assert.deepEqual(rule.ports.map((p: any) => p.port), ['oip']);
  }
  assert.ok(onPools.some((p) => p.spec.policyTypes.includes('Egress')), 'egress is governed');
  assert.deepEqual(onPools.flatMap((p) => p.spec.egress ?? []), [], 'and nothing is allowed out');
  const gatewayLabels = { 'app.kubernetes.io/name': 'vigil', 'app.kubernetes.io/component': 'gateway' };
  const out = policies.filter((p) => matches(p.spec.podSelector.matchLabels ?? {}, gatewayLabels)).flatMap((p) => p.spec.egress ?? []);
  assert.ok(out.some((r: any) => r.to?.some((t: any) => matches(t.podSelector?.matchLabels ?? {}, poolLabels)) && r.ports.some((p: any) => p.port === 8443)), 'the gateway may reach the pools');
});
