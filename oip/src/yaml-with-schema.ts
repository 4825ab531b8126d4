import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';

/** A config file that failed to load: every problem, each with where and why. */
export class ConfigFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigFileError';
  }
}

/**
 * Parses YAML text and validates it with a zod schema. Each problem is reported as
 * `file:line:col <path>: <reason>`, the line taken from the YAML node at that path (or the
 * nearest existing parent, for a missing key), so a user can go straight to it.
 */
export function parseYamlWithSchema<S extends z.ZodType>(text: string, file: string, schema: S): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigFileError(
      file,
      doc.errors.map((e) => {
        const at = lineCounter.linePos(e.pos[0]);
        return `${file}:${at.line}:${at.col} ${e.message.split('\n')[0]}`;
      }),
    );
  }
  const result = schema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  throw new ConfigFileError(
    file,
    result.error.issues.map((issue) => {
      const path = issue.path.map(String);
      const at = locate(doc, path, lineCounter);
      const where = path.length > 0 ? path.join('.') : '(top level)';
      return `${file}:${at.line}:${at.col} ${where}: ${issue.message}`;
    }),
  );
}

export async function loadYamlWithSchema<S extends z.ZodType>(file: string, schema: S): Promise<z.output<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, [`${file}: cannot read: ${(err as Error).message}`]);
  }
  return parseYamlWithSchema(text, file, schema);
}

function locate(doc: ReturnType<typeof parseDocument>, path: string[], lc: LineCounter) {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
    if (node && node.range) return lc.linePos(node.range[0]);
  }
  return { line: 1, col: 1 };
}
