// Walks OIP tensor `data`, flat or nested row-major (or decoded binary data, flat), against a shape, visiting every element
// in order. Shared by the gateway (validate only) and the pool (validate and fill a typed array),
// so both sides agree element for element on what the tensor is.

export type DataProblem =
  | { kind: 'count'; message: string }
  | { kind: 'element'; index: number; value: unknown };

/**
 * Visits every element of `data` in row-major order. `visit` returns false to stop (the element
 * is bad). Nested data must follow the shape exactly at every level; flat data must hold exactly
 * product(shape) elements.
 */
export function walkTensorData(
  data: unknown,
  shape: readonly number[],
  visit: (value: unknown, index: number) => boolean,
): DataProblem | null {
  // Binary tensor data arrives decoded as a typed array: flat, row-major, already counted.
  const typed = ArrayBuffer.isView(data);
  if (!Array.isArray(data) && !typed) return { kind: 'count', message: '`data` must be an array' };
  const values = data as ArrayLike<unknown>;
  let expected = 1;
  for (const d of shape) expected *= d;
  const nested = !typed && values.length > 0 && Array.isArray(values[0]);
  if (!nested) {
    if (values.length !== expected) {
      return { kind: 'count', message: `shape [${shape.join(',')}] holds ${expected} elements, data has ${values.length}` };
    }
    for (let i = 0; i < values.length; i++) {
      if (!visit(values[i], i)) return { kind: 'element', index: i, value: values[i] };
    }
    return null;
  }
  const state = { index: 0 };
  return walkNested(data as unknown[], shape, 0, state, visit);
}

function walkNested(
  data: unknown[],
  shape: readonly number[],
  depth: number,
  state: { index: number },
  visit: (value: unknown, index: number) => boolean,
): DataProblem | null {
  if (depth >= shape.length || data.length !== shape[depth]) {
    return { kind: 'count', message: `nested data does not match shape [${shape.join(',')}] at depth ${depth}` };
  }
  const leaf = depth === shape.length - 1;
  for (let i = 0; i < data.length; i++) {
    const item = data[i];
    if (leaf) {
      if (Array.isArray(item)) {
        return { kind: 'count', message: `nested data is deeper than shape [${shape.join(',')}]` };
      }
      if (!visit(item, state.index)) return { kind: 'element', index: state.index, value: item };
      state.index++;
    } else {
      if (!Array.isArray(item)) {
        return { kind: 'count', message: `nested data does not match shape [${shape.join(',')}] at depth ${depth + 1}` };
      }
      const problem = walkNested(item, shape, depth + 1, state, visit);
      if (problem) return problem;
    }
  }
  return null;
}
