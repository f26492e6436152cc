// TransformerModel's step (models/transformer.py) with a key-value cache: each step reads
// one token and attends to the keys and values cached for the earlier ones, so a step
// costs O(t D + D^2) at position t, not a forward over the whole prefix. Row vectors:
//   x_t = tok_emb[id_t] + pos_emb[t] + sum_k w_k cat_emb[k]
//         (START reads the end token; no pos_emb with rotary positions; cat_emb: categories)
//   per block: x += proj(attn(ln1(x))),  x += W2 gelu(ln2(x) W1 + b1) + b2
//     [q | k | v] = h attn.W + attn.b; per head (d = D / heads columns each):
//     attn = softmax_s(q . k_s / sqrt(d)) v_s over the positions s <= t
//     rotary: rot(u)_j = u_j cos(t w_j) + (j < d/2 ? -u_{j+d/2} : u_{j-d/2}) sin(t w_j),
//             w_j = 10000^(-2 (j mod d/2) / d)
//     gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
//   logits = ln_f(x) head.W + head.b   (tok_emb^T when tied)
//   LayerNorm: (x - mean) / sqrt(var + 1e-5) g + b, biased variance.
// A full cache (t = context) keeps its last context / 2 tokens, recomputed from position
// 0, as the model's step() does.
"use strict";

class TransformerSampler extends Sampler {
  constructor(spec) {
    super(spec);
    const d = spec.d_model / spec.heads;
    this.d = d;
    this.freq = Float64Array.from({ length: d }, (_, j) => Math.pow(10000, (-2 * (j % (d / 2))) / d));
    this.cache = null;
  }

  blendChanged() {
    this.shift = this.blend ? this.blended("cat_emb") : null;
  }

  // A fresh state. Its cache is the sampler's own, reused from name to name: a state
  // is stepped on only, never branched (drawing a name goes straight on).
  start() {
    const { layers, context, d_model: D } = this.spec;
    if (!this.cache) {
      const table = () => Array.from({ length: layers }, () => new Float64Array(context * D));
      this.cache = { keys: table(), values: table(), tokens: new Int32Array(context) };
    }
    return { cache: this.cache, length: 0 };
  }

  step(state, id) {
    if (id === START) id = this.eos;
    const context = this.spec.context;
    if (state.length === context) {
      const keep = context >> 1, kept = state.cache.tokens.slice(context - keep, context);
      state.length = 0;
      for (const t of kept) this.read(state, t);
    }
    return [this.read(state, id), state];
  }

  // Read token `id` at position state.length (writing its keys and values): the logits.
  read(state, id) {
    const { d_model: D, heads, layers, tied } = this.spec, p = this.p, d = this.d, t = state.length;
    const { keys, values, tokens } = state.cache;
    tokens[t] = id;
    const x = new Float64Array(D);
    for (let j = 0; j < D; j++) x[j] = p.tok_emb.data[id * D + j];
    if (p.pos_emb) for (let j = 0; j < D; j++) x[j] += p.pos_emb.data[t * D + j];
    if (this.shift) for (let j = 0; j < D; j++) x[j] += this.shift[j];
    const scale = 1 / Math.sqrt(d), rotary = this.spec.positions === "rotary";
    for (let i = 0; i < layers; i++) {
      const b = (name) => p[`b${i}.${name}`];
      const qkv = this.affine(layerNorm(x, b("ln1.g"), b("ln1.b")), b("attn.W"), b("attn.b"));
      if (rotary) for (let u = 0; u < 2 * heads; u++) this.rotate(qkv, u * d, t);
      keys[i].set(qkv.subarray(D, 2 * D), t * D);
      values[i].set(qkv.subarray(2 * D, 3 * D), t * D);
      const y = new Float64Array(D), scores = new Float64Array(t + 1);
      for (let h = 0; h < heads; h++) {
        const o = h * d;
        let top = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let j = 0; j < d; j++) dot += qkv[o + j] * keys[i][s * D + o + j];
          scores[s] = dot * scale;
          top = Math.max(top, scores[s]);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += scores[s] = Math.exp(scores[s] - top);
        for (let s = 0; s <= t; s++) {
          const w = scores[s] / sum;
          for (let j = 0; j < d; j++) y[o + j] += w * values[i][s * D + o + j];
        }
      }
      const attended = this.affine(y, b("proj.W"), b("proj.b"));
      for (let j = 0; j < D; j++) x[j] += attended[j];
      const hidden = this.affine(layerNorm(x, b("ln2.g"), b("ln2.b")), b("mlp.W1"), b("mlp.b1")).map(gelu);
      const out = this.affine(hidden, b("mlp.W2"), b("mlp.b2"));
      for (let j = 0; j < D; j++) x[j] += out[j];
    }
    state.length = t + 1;
    const top = layerNorm(x, p["ln_f.g"], p["ln_f.b"]);
    return tied ? this.matvec(p.tok_emb, top, p["head.b"]) : this.affine(top, p["head.W"], p["head.b"]);
  }

  // Rotate the d values of v from `at` (one head's query or key) to position t, in place.
  rotate(v, at, t) {
    const d = this.d, half = d / 2, u = v.slice(at, at + d);
    for (let j = 0; j < d; j++) {
      const other = j < half ? -u[j + half] : u[j - half];
      v[at + j] = u[j] * Math.cos(t * this.freq[j]) + other * Math.sin(t * this.freq[j]);
    }
  }
}

function layerNorm(x, g, b) {
  const n = x.length;
  let mean = 0;
  for (let j = 0; j < n; j++) mean += x[j];
  mean /= n;
  let variance = 0;
  for (let j = 0; j < n; j++) variance += (x[j] - mean) ** 2;
  const scale = 1 / Math.sqrt(variance / n + 1e-5), out = new Float64Array(n);
  for (let j = 0; j < n; j++) out[j] = (x[j] - mean) * scale * g.data[j] + b.data[j];
  return out;
}

function gelu(x) {
  return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
}
