// Adam optimiser (Kingma & Ba) over a set of flat parameter arrays, updated in place.
// Converges reliably on the demo MLPs without per-data-set learning-rate tuning.

export interface AdamOptions {
  learningRate: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class Adam {
  private readonly m: Float64Array[];
  private readonly v: Float64Array[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  // beta^t kept as running products rather than Math.pow, so bias correction is a plain
  // multiply chain (bit-for-bit reproducible).
  private beta1Power = 1;
  private beta2Power = 1;
  learningRate: number;

  constructor(private readonly params: Float64Array[], options: AdamOptions) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  /** One update; `grads[k]` is the gradient of the loss w.r.t. `params[k]`. */
  step(grads: Float64Array[]): void {
    this.beta1Power *= this.beta1;
    this.beta2Power *= this.beta2;
    const stepSize = this.learningRate / (1 - this.beta1Power);
    const vCorrection = 1 / (1 - this.beta2Power);
    const { beta1, beta2, epsilon } = this;
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k];
      const g = grads[k];
      const m = this.m[k];
      const v = this.v[k];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        m[i] = beta1 * m[i] + (1 - beta1) * gi;
        v[i] = beta2 * v[i] + (1 - beta2) * gi * gi;
        p[i] -= (stepSize * m[i]) / (Math.sqrt(v[i] * vCorrection) + epsilon);
      }
    }
  }
}
