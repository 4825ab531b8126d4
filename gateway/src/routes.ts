// What a request can ask for, as the route stage parses it: shared by the context, the stages and telemetry.

export type Route =
  | { action: 'health.live' | 'health.ready' | 'server.metadata' | 'repository.index' }
  | { action: 'model.metadata' | 'model.ready' | 'model.config' | 'model.stats' | 'model.infer'; model: string; version: string | undefined };

export type Action = Route['action'];
export type ModelRoute = Extract<Route, { model: string }>;

/** The policy's name for each route action (policies/src/actions.ts). */
export const POLICY_ACTION: Record<Action, string> = {
  'health.live': 'health',
  'health.ready': 'health',
  'server.metadata': 'health',
  'model.metadata': 'metadata',
  'model.ready': 'metadata',
  'model.config': 'metadata',
  'model.stats': 'metadata',
  // Asked like health; the answer lists only the models the caller may see the metadata of.
  'repository.index': 'health',
  'model.infer': 'infer',
};
