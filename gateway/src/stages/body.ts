import type { IncomingMessage } from 'node:http';
import contentType from 'content-type';
import { HEADER_LENGTH, headerLengthOf } from '../../../oip/src/binary-data.js';
import { answerFormOf } from '../../../oip/src/answer-form.js';
import { MAX_JSON_DEPTH, scanJson } from '../../../oip/src/json-depth.js';
import type { ModelSignature } from '../../../oip/src/signature.js';
import { validateInferenceRequest } from '../../../oip/src/validate-request.js';
import type { TargetContext } from '../context.js';
import { VigilError } from '../errors.js';
import type { GlobalBounds } from '../limits/global-bounds.js';
import { ENVELOPE_COMMAS, modelBodyBound, modelMaxElements } from '../limits/model-body-bound.js';
import type { ParseTurns } from '../limits/parse-turns.js';
import type { Stage } from '../stage.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * body stage (inference): reads the body within the size bound (server.max_body_bytes, or less
 * when the model's signature bounds what it can accept), parses it as JSON, or as a JSON header
 * and binary tensor data (Inference-Header-Content-Length), and validates it against the model's
 * signature; large bodies are parsed in turns (ParseTurns). The raw bytes are kept: they, and
 * nothing re-serialised, are what the proxy forwards, so the pool receives exactly what was
 * validated, binary data included (neither side parses it as JSON numbers).
 */
export function createBodyStage(serverMaxBytes: number, bounds: GlobalBounds, turns: ParseTurns): Stage<TargetContext> {
  const boundOf = new WeakMap<ModelSignature, { bytes: number; commas: number }>();
  return { name: 'body', run: readBody };
  async function readBody(ctx: TargetContext): Promise<void> {
    const { req, target } = ctx;
    checkMediaType(req, req.headers[HEADER_LENGTH] !== undefined);
    let bound = boundOf.get(target.signature);
    if (bound === undefined) {
      const elements = modelMaxElements(target.signature);
      bound = { bytes: Math.min(serverMaxBytes, modelBodyBound(target.signature) ?? Infinity), commas: elements === undefined ? Infinity : elements + ENVELOPE_COMMAS };
      boundOf.set(target.signature, bound);
    }
    const maxBytes = bound.bytes;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBytes) {
      throw tooLarge(maxBytes, serverMaxBytes);
    }
    // The body's bytes count against the global bound from before the first byte is read (its
    // declared length) until the request is over; a chunked body reserves as it arrives.
    let reserved = 0;
    const reserve = (bytes: number) => {
      bounds.reserve(bytes, reserved + bytes >= turns.largeBytes);
      reserved += bytes;
    };
    ctx.onClose(() => bounds.release(reserved));
    if (declared !== undefined) reserve(Number(declared));
    // A client that sent `Expect: 100-continue` sends its body only now, once every check so far
    // has passed: an oversized or refused upload is answered without ever being sent.
    if (/^100-continue$/i.test(req.headers.expect ?? '')) ctx.res.writeContinue();
    const raw = await readBounded(req, maxBytes, serverMaxBytes, declared === undefined ? reserve : undefined);
    if (raw.length === 0) throw new VigilError('INVALID_JSON', 'the body is empty; an inference request is a JSON object');
    const headerLength = headerLengthOf(req.headers[HEADER_LENGTH], raw.length);
    if (typeof headerLength === 'object') throw new VigilError('INVALID_BINARY_DATA', headerLength.error);
    const { signature } = target;
    const maxCommas = bound.commas;
    ctx.body = await turns.run(raw.length, () => {
      // A caller gone while its body waited for a turn costs no parse.
      if (req.socket.destroyed) throw new VigilError('BODY_INCOMPLETE', 'the client closed the connection before its body was parsed');
      return parseAndValidate(raw, signature, maxCommas, headerLength);
    });
    // A body naming another model than the path is a client confused about where it sends it: refused, not rerouted or ignored.
    const named = ctx.body.request?.model_name;
    if (named !== undefined && named !== target.model) {
      throw new VigilError('INVALID_INFERENCE_REQUEST', `the body names model ${JSON.stringify(named.slice(0, 64))}, but the path is model '${target.model}'`);
    }
  }
}

function parseAndValidate(raw: Buffer, signature: ModelSignature, maxCommas: number, headerLength: number | undefined) {
  const json = headerLength === undefined ? raw : raw.subarray(0, headerLength);
  // Before JSON.parse, the costliest step: too deep overflows stacks, too many values is work
  // the model could never accept (a 2.4 MB body of short numbers holds ~600,000; mnist takes 50,176).
  const problem = scanJson(json, MAX_JSON_DEPTH, maxCommas);
  if (problem === 'depth') throw new VigilError('JSON_TOO_DEEP', `the JSON nests more than ${MAX_JSON_DEPTH} levels deep`);
  if (problem === 'values') throw new VigilError('ELEMENT_COUNT_MISMATCH', `the body holds more values than this model accepts (${maxCommas - ENVELOPE_COMMAS} elements at most)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8.decode(json));
  } catch (err) {
    const why = err instanceof TypeError ? 'it is not valid UTF-8' : (err as Error).message;
    const what = headerLength === undefined ? 'the body' : `the JSON header (the first ${headerLength} bytes, per ${HEADER_LENGTH})`;
    throw new VigilError('INVALID_JSON', `${what} is not valid JSON: ${why}`);
  }
  const checked = validateInferenceRequest(parsed, signature, headerLength === undefined ? undefined : raw.subarray(headerLength));
  if (!checked.ok) throw new VigilError(checked.code, checked.message);
  return { raw, headerLength, request: checked.request, batchSize: checked.batchSize, form: answerFormOf(checked.request, signature) };
}

function checkMediaType(req: IncomingMessage, binary: boolean): void {
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding !== 'identity') {
    throw new VigilError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding '${encoding}' is not accepted; send the body uncompressed`);
  }
  // A missing Content-Type is read as JSON, as Triton does; anything else must say JSON in UTF-8,
  // or, with a binary header, octet-stream (Triton's clients send none; others say either).
  const header = req.headers['content-type'];
  if (header === undefined || header === 'application/json') return;
  if (binary && header === 'application/octet-stream') return;
  let parsed: contentType.ParsedMediaType;
  try {
    parsed = contentType.parse(req);
  } catch {
    throw new VigilError('UNSUPPORTED_MEDIA_TYPE', 'the Content-Type header is malformed');
  }
  const charset = parsed.parameters.charset?.toLowerCase();
  if (binary && parsed.type === 'application/octet-stream') return;
  if (parsed.type !== 'application/json' || (charset !== undefined && charset !== 'utf-8')) {
    const hint = parsed.type === 'application/octet-stream' ? ` without an ${HEADER_LENGTH} header; binary tensor data needs it to say where the JSON ends` : '';
    throw new VigilError('UNSUPPORTED_MEDIA_TYPE', `Content-Type '${parsed.type}' is not accepted${hint}; send application/json, or binary tensor data with ${HEADER_LENGTH}`);
  }
}

function tooLarge(maxBytes: number, serverMaxBytes: number): VigilError {
  // The rest of an oversized body is never read: close the connection after answering.
  const why = maxBytes < serverMaxBytes ? ' (the most this model can accept: its largest batch of every input)' : '';
  return new VigilError('BODY_TOO_LARGE', `the body exceeds the limit of ${maxBytes} bytes${why}`, { connection: 'close' });
}

function readBounded(req: IncomingMessage, maxBytes: number, serverMaxBytes: number, reserve?: (bytes: number) => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // Earlier stages may await; a client gone by now has already fired 'aborted'/'close'.
    if (req.destroyed || req.readableAborted) {
      reject(new VigilError('BODY_INCOMPLETE', 'the client closed the connection before the body was complete'));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        cleanup();
        req.pause();
        reject(tooLarge(maxBytes, serverMaxBytes));
        return;
      }
      try {
        reserve?.(chunk.length);
      } catch (err) {
        cleanup();
        req.pause();
        reject(err);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    };
    const onAborted = () => {
      cleanup();
      reject(new VigilError('BODY_INCOMPLETE', 'the client closed the connection before the body was complete'));
    };
    function cleanup() {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAborted);
      req.off('error', onAborted);
      req.off('close', onAborted);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAborted);
    req.on('error', onAborted);
    // 'close' after 'end' is normal; cleanup() has removed this listener by then.
    req.on('close', onAborted);
  });
}
