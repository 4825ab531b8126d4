// Each stage's verdicts, on contexts built by hand (issue 12, item 1): what it passes, what it
// refuses with which code, rule and mode, and what the runner makes of a verdict.
import assert from 'node:assert/strict';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import pino from 'pino';
import { compilePolicy } from '../../policies/src/compile-policy.js';
import type { Principal } from '../../gateway/src/auth/principal.js';
import { createContext, type RequestContext } from '../../gateway/src/context.js';
import { VigilError } from '../../gateway/src/errors.js';
import { GlobalBounds } from '../../gateway/src/limits/global-bounds.js';
import { MemoryConcurrencyStore } from '../../gateway/src/stores/memory-concurrency-store.js';
import { MemoryRateLimitStore } from '../../gateway/src/stores/memory-rate-limit-store.js';
import { RateLimits } from '../../gateway/src/limits/rate-limits.js';
import type { ServedVersion } from '../../gateway/src/model-registry.js';
import { createPipeline, type StageLists } from '../../gateway/src/pipeline.js';
import { activePolicyOf } from '../../gateway/src/policy-adapter.js';
import type { Responder } from '../../gateway/src/respond.js';
import { Quarantine } from '../../gateway/src/screening/quarantine.js';
import { refuse, type Refusal, type Stage, type Verdict } from '../../gateway/src/stage.js';
import { createAdmitStage } from '../../gateway/src/stages/admit.js';
import { createAuditHealthStage } from '../../gateway/src/stages/audit-health.js';
import { createAuthorizeStage } from '../../gateway/src/stages/authorize.js';
import { createDrainStage } from '../../gateway/src/stages/drain.js';
import { framingStage } from '../../gateway/src/stages/framing.js';
import { createOverloadStage } from '../../gateway/src/stages/overload.js';
import { poolError } from '../../gateway/src/stages/proxy.js';
import { createQuarantineStage } from '../../gateway/src/stages/quarantine.js';
import { queueStage } from '../../gateway/src/stages/queue.js';
import { selectVersion } from '../../gateway/src/stages/select-version.js';

const silent = pino({ level: 'silent' });

function ctxOf<T extends Partial<RequestContext>>(url = '/v2/models/mnist/infer', extra: T = {} as T): RequestContext & T {
  const req = new IncomingMessage(new Socket());
  req.url = url;
  req.method = 'POST';
  const ctx = createContext(req, new ServerResponse(req), '10.0.0.1');
  return Object.assign(ctx, extra);
}
const alice: Principal = { id: 'user:alice', method: 'jwt', roles: ['analyst'] };
const anonymous: Principal = { id: 'anonymous', method: 'anonymous', roles: [] };

/** The one refusal of a verdict (asserting there is exactly one). */
function only(verdict: Verdict): Refusal {
  const all = verdict === undefined ? [] : Array.isArray(verdict) ? verdict : [verdict as Refusal];
  assert.equal(all.length, 1, `refusals: ${JSON.stringify(all.map((r) => r.rule))}`);
  return all[0];
}

function policy(yaml: object) {
  const active = activePolicyOf(compilePolicy(yaml as never));
  return { current: () => active };
}

describe('stage verdicts', () => {
  test('overload: passes under the bound, refuses past it with bound:inflight; probes are never refused', () => {
    const bounds = new GlobalBounds({ maxInflight: 1, maxBufferedBodyBytes: 1000 });
    const stage = createOverloadStage(bounds);
    assert.equal(stage.run(ctxOf()), undefined);
    const r = only(stage.run(ctxOf()) as Verdict);
    assert.equal(r.error.code, 'OVERLOADED');
    assert.equal(r.rule, 'bound:inflight');
    assert.equal(r.mode, 'enforce');
    assert.equal(stage.run(ctxOf('/v2/health/live')), undefined);
  });

  test('drain, framing and audit-health refuse with their codes under stage:<name>', () => {
    assert.equal(createDrainStage(() => false).run(ctxOf()), undefined);
    assert.deepEqual(pick(only(createDrainStage(() => true).run(ctxOf()) as Verdict)), ['SHUTTING_DOWN', 'stage:drain']);
    const many = ctxOf();
    many.req.rawHeaders = Array.from({ length: 202 }, (_, i) => `h${i}`);
    assert.deepEqual(pick(only(framingStage.run(many) as Verdict)), ['HEADERS_TOO_LARGE', 'stage:framing']);
    assert.deepEqual(pick(only(createAuditHealthStage({ healthy: false }).run(ctxOf()) as Verdict)), ['AUDIT_UNAVAILABLE', 'stage:audit-health']);
    assert.equal(createAuditHealthStage({ healthy: false }).run(ctxOf('/v2/health/live')), undefined, 'liveness never depends on the audit disk');
  });

  test('quarantine: a quarantined caller is refused with its reason and Retry-After', async () => {
    const q = new Quarantine();
    await q.add('user:alice', 60, 'profile:z2_mean');
    const r = only(await createQuarantineStage(q).run(ctxOf('/v2', { principal: alice })));
    assert.deepEqual(pick(r), ['PRINCIPAL_QUARANTINED', 'quarantine:profile:z2_mean']);
    assert.ok(Number(r.error.headers['retry-after']) > 0);
    assert.equal(await createQuarantineStage(q).run(ctxOf('/v2', { principal: { ...alice, id: 'user:bob' } })), undefined);
  });

  test('select-version: the version asked for, else the highest being served, else none', () => {
    const v = (version: string, status: 'serving' | 'refused') => ({ model: 'm', version, status }) as ServedVersion;
    assert.equal(selectVersion({ action: 'model.infer', model: 'm', version: '1' }, [v('2', 'serving'), v('1', 'serving')]), '1');
    assert.equal(selectVersion({ action: 'model.infer', model: 'm', version: undefined }, [v('3', 'refused'), v('2', 'serving'), v('1', 'serving')]), '2');
    assert.equal(selectVersion({ action: 'model.infer', model: 'm', version: undefined }, [v('1', 'refused')]), undefined);
    assert.equal(selectVersion({ action: 'model.infer', model: 'm', version: undefined }, []), undefined);
  });

  test('authorize: judges the selected version; a denial carries its rule and mode; anonymous callers are told to authenticate', () => {
    const rules = {
      version: 1,
      roles: { analyst: 'analysts' },
      grants: [{ id: 'v1-only', roles: ['analyst'], actions: ['infer'], models: ['mnist'], versions: ['1'] }],
    };
    const stage = createAuthorizeStage(policy(rules));
    const route = { action: 'model.infer' as const, model: 'mnist', version: undefined };
    assert.equal(stage.run(Object.assign(ctxOf(), { route, principal: alice, version: '1' })), undefined);
    const denied = only(stage.run(Object.assign(ctxOf(), { route, principal: alice, version: '2' })) as Verdict);
    assert.deepEqual([...pick(denied), denied.mode], ['FORBIDDEN', 'default-deny', 'enforce']);
    const anon = only(stage.run(Object.assign(ctxOf(), { route, principal: anonymous, version: '1' })) as Verdict);
    assert.equal(anon.error.code, 'AUTHENTICATION_REQUIRED');
    const shadow = createAuthorizeStage(policy({ ...rules, mode: 'shadow' }));
    assert.equal(only(shadow.run(Object.assign(ctxOf(), { route, principal: alice, version: '2' })) as Verdict).mode, 'shadow');
  });

  test('admit: a failing slot store follows on_store_failure, never a 500', async () => {
    const rules = (mode: string, onFailure: string) => ({ version: 1, roles: { analyst: 'a' }, grants: [], limits: { mode, on_store_failure: onFailure, roles: { analyst: { requests_per_minute: 100, concurrency: 1 } } } });
    const failing = { acquire: async () => { throw new Error('store down'); } } as unknown as RateLimits;
    const closed = only(await createAdmitStage(policy(rules('enforce', 'fail_closed')), failing, silent).run(ctxOf('/v2', { principal: alice })));
    assert.deepEqual([...pick(closed), closed.mode], ['LIMITER_UNAVAILABLE', 'limit:store', 'enforce']);
    const open = only(await createAdmitStage(policy(rules('enforce', 'fail_open')), failing, silent).run(ctxOf('/v2', { principal: alice })));
    assert.deepEqual([open.rule, open.mode], ['limit:store-failed', 'shadow']);
  });

  test('admit: a caller past its concurrency is refused before any quota is charged; in shadow mode only recorded', async () => {
    const rules = (mode: string) => ({ version: 1, mode: 'enforce', roles: { analyst: 'a' }, grants: [], limits: { mode, roles: { analyst: { requests_per_minute: 100, concurrency: 1 } } } });
    const limits = new RateLimits(new MemoryRateLimitStore(), new MemoryConcurrencyStore());
    const stage = createAdmitStage(policy(rules('enforce')), limits, silent);
    const first = ctxOf('/v2', { principal: alice });
    assert.equal(await stage.run(first), undefined);
    const busy = only(await stage.run(ctxOf('/v2', { principal: alice })));
    assert.deepEqual([...pick(busy), busy.mode], ['CONCURRENCY_LIMITED', 'limit:concurrency', 'enforce']);
    const shadow = createAdmitStage(policy(rules('shadow')), limits, silent);
    const recorded = only(await shadow.run(ctxOf('/v2', { principal: alice })));
    assert.equal(recorded.mode, 'shadow');
  });

  test('queue: a full pool queue refuses with bound:pool_queue', () => {
    const target = (inflight: number) => ({ model: 'm', version: '1', backend: { load: () => ({ inflight, capacity: 4 }) } }) as never;
    assert.equal(queueStage.run(Object.assign(ctxOf(), { route: { action: 'model.infer', model: 'm', version: undefined }, target: target(3) }) as never), undefined);
    assert.deepEqual(pick(only(queueStage.run(Object.assign(ctxOf(), { route: { action: 'model.infer', model: 'm', version: undefined }, target: target(4) }) as never) as Verdict)), ['OVERLOADED', 'bound:pool_queue']);
  });

  test("proxy: a pool's error answer becomes a catalogue error with a bounded message", () => {
    const e = poolError(400, Buffer.from(JSON.stringify({ error: 'shape', code: 'SHAPE_MISMATCH' })));
    assert.deepEqual([e.code, e.status, e.message], ['SHAPE_MISMATCH', 400, 'shape']);
    assert.equal(poolError(500, Buffer.from(JSON.stringify({ error: 'boom', code: 'INFERENCE_FAILED' }))).code, 'INFERENCE_FAILED');
    assert.equal(poolError(400, Buffer.from(JSON.stringify({ error: 'x'.repeat(5000), code: 'SHAPE_MISMATCH' }))).message.length, 512);
    // A pool cannot speak for the gateway: codes it never sends, or a status that does not match, are POOL_ERROR.
    for (const [status, code] of [[500, 'SOMETHING_ELSE'], [500, 'AUDIT_UNAVAILABLE'], [400, 'AUTHENTICATION_REQUIRED'], [404, 'ROUTE_NOT_FOUND'], [500, 'SHAPE_MISMATCH']] as const) {
      const e = poolError(status, Buffer.from(JSON.stringify({ error: 'log in again at http://evil', code })));
      assert.deepEqual([e.code, e.status], ['POOL_ERROR', 502], `${status} ${code}`);
      assert.doesNotMatch(e.message, /evil/);
    }
    assert.equal(poolError(502, Buffer.from('<html>')).code, 'POOL_ERROR');
  });
});

describe('the runner', () => {
  function harness(inference: Stage[]) {
    const sent: { status: number; code?: string }[] = [];
    const responder: Responder = {
      async send(ctx, status, _h, _b, code) {
        ctx.answered = true;
        sent.push({ status, code });
      },
      sendBeforeRecord() {},
      async record() {},
    };
    const route: Stage = { name: 'route', run: (ctx) => void (ctx.route = { action: 'model.infer', model: 'm', version: undefined }) };
    const lists: StageLists = { front: [route], server: [], model: [], inference: inference as StageLists['inference'] };
    return { handle: createPipeline(lists, responder, silent, () => '10.0.0.1'), sent };
  }
  const answer: Stage = { name: 'answer', run: (ctx) => void (ctx.answered = true) };
  const req = () => {
    const r = new IncomingMessage(new Socket());
    r.url = '/v2/models/m/infer';
    r.method = 'POST';
    return r;
  };

  test('shadow refusals are recorded and the request goes on; the first enforced one ends it, with its rule and stage', async () => {
    const watch: Stage = { name: 'watch', run: () => refuse(new VigilError('FORBIDDEN', 'no'), 'deny:watch', 'shadow') };
    const both: Stage = { name: 'both', run: () => [refuse(new VigilError('RATE_LIMITED', 'a'), 'limit:a', 'shadow'), refuse(new VigilError('FORBIDDEN', 'b'), 'deny:b'), refuse(new VigilError('FORBIDDEN', 'c'), 'deny:c')] };
    let after = false;
    const later: Stage = { name: 'later', run: () => void (after = true) };
    const { handle, sent } = harness([watch, both, later, answer]);
    const r = req();
    const ctx = await handle(r, new ServerResponse(r));
    assert.deepEqual(ctx.shadowDenials, ['deny:watch', 'limit:a']);
    assert.deepEqual([ctx.refusedBy, ctx.refusedAt], ['deny:b', 'both']);
    assert.deepEqual(sent, [{ status: 403, code: 'FORBIDDEN' }]);
    assert.equal(after, false, 'no stage runs after an enforced refusal');
  });

  test('a VigilError thrown inside a stage is refused at that stage with no rule of its own; any other error is a 500 placed at the stage', async () => {
    const parse: Stage = { name: 'body', run: () => { throw new VigilError('INVALID_JSON', 'bad'); } };
    const { handle, sent } = harness([parse, answer]);
    const r = req();
    const ctx = await handle(r, new ServerResponse(r));
    assert.deepEqual([ctx.refusedBy, ctx.refusedAt, sent[0].code], [undefined, 'body', 'INVALID_JSON']);
    const bug: Stage = { name: 'screen', run: () => { throw new TypeError('oops'); } };
    const h2 = harness([bug, answer]);
    const r2 = req();
    const ctx2 = await h2.handle(r2, new ServerResponse(r2));
    assert.deepEqual([ctx2.refusedAt, h2.sent[0].status, h2.sent[0].code], ['screen', 500, 'INTERNAL_ERROR']);
  });
});

function pick(r: Refusal): [string, string] {
  return [r.error.code, r.rule];
}
