/** `space_separated`: OAuth scopes (RFC 6749 §3.3 `scope`, Azure AD `scp`); the default by claim name is in the config schema. */
export type RolesClaimFormat = 'array' | 'space_separated';

/**
 * Reads roles from a claim given as a dotted path (`roles`, `scope`, `realm_access.roles`):
 * an array of strings; with `space_separated`, also one string of space-separated names.
 * A string is never split otherwise: `"roles": "analyst admin"` is one malformed value, not two
 * roles. Undefined if the claim is present with another type, [] if absent.
 */
export function rolesFromClaims(payload: Record<string, unknown>, path: string, format: RolesClaimFormat): string[] | undefined {
  let value: unknown = payload;
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
    value = (value as Record<string, unknown>)[part];
  }
  if (value === undefined) return [];
  if (typeof value === 'string') return format === 'space_separated' ? value.split(' ').filter(Boolean) : undefined;
  if (Array.isArray(value) && value.every((r) => typeof r === 'string')) return value as string[];
  return undefined;
}
