import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VigilError } from '../../gateway/src/errors.js';
import { parseRoute } from '../../gateway/src/stages/route.js';

function codeOf(method: string, path: string): string {
  try {
    parseRoute(method, path);
    return 'OK';
  } catch (err) {
    assert.ok(err instanceof VigilError);
    return err.code;
  }
}

describe('route stage', () => {
  test('parses every OIP endpoint into an action on a model version', () => {
    assert.deepEqual(parseRoute('GET', '/v2'), { action: 'server.metadata' });
    assert.deepEqual(parseRoute('GET', '/v2/health/live'), { action: 'health.live' });
    assert.deepEqual(parseRoute('HEAD', '/v2/health/ready'), { action: 'health.ready' });
    assert.deepEqual(parseRoute('GET', '/v2/models/mnist'), { action: 'model.metadata', model: 'mnist', version: undefined });
    assert.deepEqual(parseRoute('GET', '/v2/models/mnist/versions/1'), { action: 'model.metadata', model: 'mnist', version: '1' });
    assert.deepEqual(parseRoute('GET', '/v2/models/mnist/ready'), { action: 'model.ready', model: 'mnist', version: undefined });
    assert.deepEqual(parseRoute('GET', '/v2/models/mnist/versions/2/ready'), { action: 'model.ready', model: 'mnist', version: '2' });
    assert.deepEqual(parseRoute('POST', '/v2/models/mnist/infer'), { action: 'model.infer', model: 'mnist', version: undefined });
    assert.deepEqual(parseRoute('POST', '/v2/models/my-model.v2_a/versions/3/infer'), { action: 'model.infer', model: 'my-model.v2_a', version: '3' });
  });

  const rejected: [string, string, string][] = [
    ['dot segment', '/v2/models/../models/mnist/infer', 'INVALID_PATH'],
    ['single dot segment', '/v2/models/./mnist/infer', 'INVALID_PATH'],
    ['trailing dot-dot', '/v2/models/mnist/versions/..', 'INVALID_PATH'],
    ['encoded dot', '/v2/models/%2e%2e/mnist/infer', 'INVALID_PATH'],
    ['encoded slash', '/v2/models/mnist%2Fversions%2F1/infer', 'INVALID_PATH'],
    ['lower-case encoded slash', '/v2/models/mnist%2fx/infer', 'INVALID_PATH'],
    ['backslash', '/v2/models/mnist\\..\\admin/infer', 'INVALID_PATH'],
    ['encoded backslash', '/v2/models/mnist%5c/infer', 'INVALID_PATH'],
    ['duplicate slash', '/v2//models/mnist/infer', 'INVALID_PATH'],
    ['leading duplicate slash', '//v2/models/mnist/infer', 'INVALID_PATH'],
    ['trailing slash', '/v2/models/mnist/infer/', 'INVALID_PATH'],
    ['absolute-form target', 'http://127.0.0.1:8080/v2/models/mnist/infer', 'INVALID_PATH'],
    ['asterisk-form target', '*', 'INVALID_PATH'],
    ['query string', '/v2/models/mnist/infer?verbose=1', 'INVALID_PATH'],
    ['a token in the query string', '/v2/models/mnist/infer?access_token=eyJ.x.y', 'CREDENTIALS_IN_QUERY'],
    ['an API key in the query string', '/v2/models/mnist/infer?a=1&api_key=vk.x.y', 'CREDENTIALS_IN_QUERY'],
    ['matrix parameter', '/v2/models/mnist;v=1/infer', 'INVALID_PATH'],
    ['NUL byte', '/v2/models/mnist\u0000/infer', 'INVALID_PATH'],
    ['non-ASCII', '/v2/models/mnïst/infer', 'INVALID_PATH'],
    ['name starting with a dot', '/v2/models/.hidden/infer', 'INVALID_PATH'],
    ['unknown endpoint', '/v2/models/mnist/explain', 'ROUTE_NOT_FOUND'],
    ['not v2', '/v1/models/mnist:predict', 'INVALID_PATH'],
    ['not v2, clean path', '/v1/models/mnist', 'ROUTE_NOT_FOUND'],
    ['root', '/', 'INVALID_PATH'],
    ['versions without a version', '/v2/models/mnist/versions', 'ROUTE_NOT_FOUND'],
  ];
  for (const [what, path, code] of rejected) {
    test(`rejects ${what}: ${JSON.stringify(path)} → ${code}`, () => {
      assert.equal(codeOf('POST', path), code);
    });
  }

  test('wrong method is 405 with the allowed methods', () => {
    try {
      parseRoute('GET', '/v2/models/mnist/infer');
      assert.fail('expected a rejection');
    } catch (err) {
      assert.ok(err instanceof VigilError);
      assert.equal(err.code, 'METHOD_NOT_ALLOWED');
      assert.equal(err.status, 405);
      assert.equal(err.headers.allow, 'POST');
    }
    assert.equal(codeOf('POST', '/v2/health/live'), 'METHOD_NOT_ALLOWED');
    assert.equal(codeOf('DELETE', '/v2/models/mnist'), 'METHOD_NOT_ALLOWED');
  });
});
