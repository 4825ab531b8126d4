import type { RequestContext } from './context.js';
import type { VigilError } from './errors.js';

/** Enforce refuses; shadow only records what would have been refused (the audit's shadow_denials). */
export type Mode = 'enforce' | 'shadow';

/** A stage's "no": the error the client gets, the rule that said it (audited), and its mode. */
export interface Refusal {
  readonly error: VigilError;
  readonly rule: string;
  readonly mode: Mode;
}

/** What a stage decides: pass (nothing), or one or more refusals (detectors can return several). */
export type Verdict = Refusal | readonly Refusal[] | undefined | void;

/**
 * One step of the request pipeline. It reads and adds to the context, and may answer the request
 * itself (setting `answered`). It says no by returning a refusal with its rule and mode: the
 * runner applies enforce and shadow modes, records who refused, names the stage's span and labels
 * the rejection metric by `name`, which is also its file's name under stages/. A VigilError thrown
 * while it runs (a parser, a validation, the registry) is a refusal at this stage with no rule of
 * its own (the audit record keeps the policy's).
 */
export interface Stage<C extends RequestContext = RequestContext> {
  readonly name: string;
  run(ctx: C): Verdict | Promise<Verdict>;
}

export function refuse(error: VigilError, rule: string, mode: Mode = 'enforce'): Refusal {
  return { error, rule, mode };
}
