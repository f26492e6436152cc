// saurus's names sampler in JavaScript: what every family shares (the weights, the category
// blend, drawing a name, the training-name hashes). Each family's step is a port of its
// NumPy model, in its own file: recurrent.js (CharModel), classic.js (ClassicRNN),
// transformer.js (TransformerModel). Computed in float64 from the float32 weights.
"use strict";

const START = -1; // what a name's first step reads (each family maps it as its model does)

function fromBase64(text, Kind) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Kind(bytes.buffer);
}

class Sampler {
  constructor(spec) {
    this.spec = spec;
    this.V = spec.chars.length;
    this.eos = spec.eos;
    this.p = {};
    for (const [name, { shape, data }] of Object.entries(spec.params)) {
      this.p[name] = { shape, data: fromBase64(data, Float32Array) };
    }
    this.seen = fromBase64(spec.seen, BigUint64Array); // sorted ascending
    this.code = new Map(spec.chars.map((c, i) => [c, i]));
    this.categories = spec.categories || [];
    this.counts = spec.category_counts || [];
    this.setBlend(this.categories.length ? this.allBlend() : null);
  }

  // "all": every category weighted by its training names, w_k = n_k / sum_j n_j.
  allBlend() {
    const total = this.counts.reduce((a, b) => a + b, 0);
    return this.counts.map((n) => (total > 0 ? n / total : 1 / this.counts.length));
  }

  // Use the category blend w (K weights >= 0 summing to 1; null without categories).
  // Each family folds it into its inputs (blended()).
  setBlend(w) {
    this.blend = w;
    this.blendChanged();
  }

  blendChanged() {}

  // sum_k w_k W[k] for a weight W (K x m): the blend of its rows, a Float64Array(m).
  blended(name) {
    const W = this.p[name], m = W.shape[1], out = new Float64Array(m);
    this.blend.forEach((wk, k) => {
      for (let j = 0; j < m; j++) out[j] += wk * W.data[k * m + j];
    });
    return out;
  }

  // The weights a text names: one label ("Irish"), "all", or a blend "Irish=0.7, Italian=0.3"
  // normalised to sum 1. An Error with a message for the page when the text is not one.
  parseBlend(text) {
    const K = this.categories.length;
    if (!K) throw new Error("this model has no categories");
    const index = new Map(this.categories.map((c, k) => [c, k]));
    const known = () => `the categories are: ${this.categories.join(", ")}`;
    if (index.has(text.trim())) return this.categories.map((c, k) => (k === index.get(text.trim()) ? 1 : 0));
    if (text.trim() === "all") return this.allBlend();
    const w = new Array(K).fill(0);
    for (const part of text.split(",").map((s) => s.trim()).filter((s) => s)) {
      const at = part.lastIndexOf("=");
      const label = (at < 0 ? part : part.slice(0, at)).trim();
      const weight = at < 0 ? 1 : Number(part.slice(at + 1));
      if (!index.has(label)) throw new Error(`unknown category ${JSON.stringify(label)}; ${known()}`);
      if (!Number.isFinite(weight) || weight < 0) {
        throw new Error(`the weight of ${label} must be a number >= 0, got ${JSON.stringify(part.slice(at + 1))}`);
      }
      w[index.get(label)] += weight;
    }
    const total = w.reduce((a, b) => a + b, 0);
    if (!(total > 0)) throw new Error(`a blend needs a weight above 0, as in "${this.categories[0]}=1"; ${known()}`);
    return w.map((v) => v / total);
  }

  // x (a row vector of length n) times W (n x m), plus b: a new Float64Array(to - from),
  // columns from .. to-1. b is {data} (a weight) or a Float64Array, or null.
  affine(x, W, b, from = 0, to = W.shape[1]) {
    const m = W.shape[1], out = new Float64Array(to - from), w = W.data;
    if (b) {
      const bd = b.data || b;
      for (let j = from; j < to; j++) out[j - from] = bd[j];
    }
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      const row = i * m;
      for (let j = from; j < to; j++) out[j - from] += xi * w[row + j];
    }
    return out;
  }

  // W (m x n) times the column vector x (length n), plus b: a new Float64Array(m).
  matvec(W, x, b) {
    const n = x.length, m = W.data.length / n, out = new Float64Array(m), w = W.data;
    for (let j = 0; j < m; j++) {
      let s = b ? b.data[j] : 0;
      const row = j * n;
      for (let i = 0; i < n; i++) s += w[row + i] * x[i];
      out[j] = s;
    }
    return out;
  }

  // The state after `prefix`, from the start, and the logits that follow it.
  after(prefix) {
    let state = this.start();
    let logits;
    [logits, state] = this.step(state, START);
    for (const ch of prefix) [logits, state] = this.step(state, this.code.get(ch));
    return [logits, state];
  }

  // The probabilities after `prefix` (from the start), for tests: softmax of the logits.
  probabilities(prefix) {
    return softmax(Array.from(this.after(prefix)[0]), 1);
  }

  // The 64-bit chain hash of a name (generation/novelty.py), and whether it is a training name.
  isSeen(name) {
    const M = (1n << 64n) - 1n;
    let h = 0x9E3779B97F4A7C15n;
    for (const ch of name) {
      let z = h ^ (BigInt(ch.codePointAt(0)) + 1n);
      z ^= z >> 30n; z = (z * 0xBF58476D1CE4E5B9n) & M;
      z ^= z >> 27n; z = (z * 0x94D049BB133111EBn) & M;
      z ^= z >> 31n;
      h = z;
    }
    let lo = 0, hi = this.seen.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seen[mid] < h) lo = mid + 1; else hi = mid;
    }
    return lo < this.seen.length && this.seen[lo] === h;
  }

  // One name: `prefix`, then characters drawn until the end token or maxLen characters.
  draw(random, { temperature = 1, topK = 0, topP = 1, prefix = "", maxLen = 50 }) {
    let [logits, state] = this.after(prefix);
    let name = prefix;
    while ([...name].length < maxLen) {
      const l = Array.from(logits);
      if (name.length === 0) l[this.eos] = -Infinity; // no empty name
      const id = choose(l, temperature, topK, topP, random);
      if (id === this.eos) return name;
      name += this.spec.chars[id];
      [logits, state] = this.step(state, id);
    }
    return name;
  }
}

// The sampler of the model's family.
function makeSampler(spec) {
  const kinds = { recurrent: RecurrentSampler, classic: ClassicSampler, transformer: TransformerSampler };
  return new kinds[spec.family](spec);
}

function sigmoid(x) {
  return 1 / (1 + Math.exp(-x));
}

function softmax(logits, temperature) {
  const top = Math.max(...logits);
  const e = logits.map((v) => (v === -Infinity ? 0 : Math.exp((v - top) / temperature)));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

// Temperature, then top-k, then top-p, as generation/decoding.py orders them.
function choose(logits, temperature, topK, topP, random) {
  let p = softmax(logits, temperature);
  if (topK > 0 && topK < p.length) {
    const cut = [...p].sort((a, b) => b - a)[topK - 1];
    p = p.map((v) => (v >= cut ? v : 0));
  }
  if (topP < 1) {
    const order = p.map((v, i) => i).sort((a, b) => p[b] - p[a]);
    const total = p.reduce((a, b) => a + b, 0);
    let acc = 0;
    const keep = new Set();
    for (const i of order) {
      keep.add(i);
      acc += p[i] / total;
      if (acc >= topP) break;
    }
    p = p.map((v, i) => (keep.has(i) ? v : 0));
  }
  const total = p.reduce((a, b) => a + b, 0);
  let u = random() * total;
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u <= 0 && p[i] > 0) return i;
  }
  return p.findLastIndex((v) => v > 0);
}

// A seeded generator (mulberry32): the same seed, the same names.
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
