// CharModel's step (models/recurrent.py and models/cells.py), line for line: LSTM, GRU (both
// conventions) and RNN, any depth. Row vectors: a gate pre-activation is x W + b.
//   xw^1_t = embed[x_t] + l0.b + sum_k w_k cat[k]   (START reads the end token; cat: categories)
//   xw^{k+1}_t = h^k_t W_x^{k+1} + b^{k+1}           logits_t = h^L_t head.W + head.b
"use strict";

class RecurrentSampler extends Sampler {
  // l0.b with the category blend folded in: the first layer's bias for every input.
  blendChanged() {
    const b = this.p["l0.b"].data;
    this.bias0 = this.blend ? this.blended("cat") : new Float64Array(b.length);
    for (let j = 0; j < b.length; j++) this.bias0[j] += b[j];
  }

  start() {
    const H = this.spec.hidden, zeros = () => new Float64Array(H);
    const state = [];
    for (let k = 0; k < this.spec.layers; k++) state.push(this.spec.cell === "lstm" ? { h: zeros(), c: zeros() } : { h: zeros() });
    return state;
  }

  // One step: the logits after reading `id`, and the new state.
  step(state, id) {
    const H = this.spec.hidden, p = this.p, cell = this.spec.cell;
    if (id === START) id = this.eos;
    const G = this.bias0.length;
    let xw = new Float64Array(G);
    const embed = p.embed.data;
    for (let j = 0; j < G; j++) xw[j] = embed[id * G + j] + this.bias0[j];
    const next = [];
    let x = null;
    for (let k = 0; k < this.spec.layers; k++) {
      if (k > 0) xw = this.affine(x, p[`l${k}.Wx`], p[`l${k}.b`]);
      const Wh = p[`l${k}.Wh`];
      const s = state[k];
      let h;
      if (cell === "lstm") {
        const a = this.affine(s.h, Wh, null);
        const c = new Float64Array(H);
        h = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          const i = sigmoid(a[j] + xw[j]), f = sigmoid(a[H + j] + xw[H + j]);
          const o = sigmoid(a[2 * H + j] + xw[2 * H + j]), g = Math.tanh(a[3 * H + j] + xw[3 * H + j]);
          c[j] = f * s.c[j] + i * g;
          h[j] = o * Math.tanh(c[j]);
        }
        next.push({ h, c });
      } else if (cell === "gru" && this.spec.convention === "torch") {
        const rec = this.affine(s.h, Wh, null), bhn = p[`l${k}.bhn`].data;
        h = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          const z = sigmoid(rec[j] + xw[j]), r = sigmoid(rec[H + j] + xw[H + j]);
          const n = Math.tanh(r * (rec[2 * H + j] + bhn[j]) + xw[2 * H + j]);
          h[j] = s.h[j] + z * (n - s.h[j]);
        }
        next.push({ h });
      } else if (cell === "gru") {
        const zr = this.affine(s.h, Wh, null, 0, 2 * H);
        const z = new Float64Array(H), rh = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          z[j] = sigmoid(zr[j] + xw[j]);
          rh[j] = sigmoid(zr[H + j] + xw[H + j]) * s.h[j];
        }
        const g = this.affine(rh, Wh, null, 2 * H, 3 * H);
        h = new Float64Array(H);
        for (let j = 0; j < H; j++) h[j] = s.h[j] + z[j] * (Math.tanh(g[j] + xw[2 * H + j]) - s.h[j]);
        next.push({ h });
      } else {
        const a = this.affine(s.h, Wh, null);
        h = new Float64Array(H);
        for (let j = 0; j < H; j++) h[j] = Math.tanh(a[j] + xw[j]);
        next.push({ h });
      }
      x = h;
    }
    return [this.affine(x, p["head.W"], p["head.b"]), next];
  }
}
