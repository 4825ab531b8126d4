/** Who is calling, once the authenticate stage has proved it. */
export interface Principal {
  /** Stable identity: `user:<sub>` for a JWT (prefixed by issuer when several are configured), `key:<id>` for an API key, `anonymous`. */
  id: string;
  method: 'jwt' | 'api_key' | 'anonymous';
  roles: string[];
  /** JWT issuer, when method is 'jwt'. */
  issuer?: string;
  /** The API key's owner (policy `api_keys[].owner`), when method is 'api_key'. */
  owner?: string;
}

export const ANONYMOUS: Principal = Object.freeze({ id: 'anonymous', method: 'anonymous', roles: [] as string[] }) as Principal;
