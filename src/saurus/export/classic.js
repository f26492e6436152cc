// ClassicRNN's step (models/classic.py), the "Dinosaur Island" network. Column vectors,
// x_t one-hot (a zero vector at the start: START reads no character):
//   a_t = tanh(Wax x_t + Waa a_{t-1} + b)      logits_t = Wya a_t + by
// Wax x_t is column x_t of Wax. No categories.
"use strict";

class ClassicSampler extends Sampler {
  start() {
    return new Float64Array(this.spec.hidden);
  }

  step(a, id) {
    const H = this.spec.hidden, V = this.V, p = this.p;
    const pre = this.matvec(p.Waa, a, p.b);
    if (id !== START) for (let j = 0; j < H; j++) pre[j] += p.Wax.data[j * V + id];
    const next = pre.map(Math.tanh);
    return [this.matvec(p.Wya, next, p.by), next];
  }
}
