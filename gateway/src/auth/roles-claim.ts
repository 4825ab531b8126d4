/**
 * Reads roles from a claim given as a dotted path (`roles`, `scope`, `realm_access.roles`):
 * an array of strings, or one space-separated string (OAuth `scope`). Undefined if the claim is
 * present with another type, [] if absent.
 */
export function rolesFromClaims(payload: Record<string, unknown>, path: string): string[] | undefined {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
    value = (value as Record<string, unknown>)[part];
  }
  if (value === undefined) return [];
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value) && value.every((r) => typeof r === 'string')) return value as string[];
  return undefined;
}
