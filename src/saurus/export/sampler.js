// saurus's names sampler in JavaScript: the NumPy model's step (models/recurrent.py and
// models/cells.py), line for line, for LSTM, GRU (both conventions) and RNN names models.
// Row vectors: a gate pre-activation is x W + b. Computed in float64 from float32 weights.
"use strict";

function fromBase64(text, Kind) {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Kind(bytes.buffer);
}

class Sampler {
  constructor(spec) {
    this.spec = spec;
    this.H = spec.hidden;
    this.V = spec.chars.length;
    this.eos = spec.eos;
    this.p = {};
    for (const [name, { shape, data }] of Object.entries(spec.params)) {
      this.p[name] = { shape, data: fromBase64(data, Float32Array) };
    }
    this.seen = fromBase64(spec.seen, BigUint64Array); // sorted ascending
    this.code = new Map(spec.chars.map((c, i) => [c, i]));
  }

  // x (a row vector of length n) times W (n x m), plus b: a new Float64Array(m).
  affine(x, W, b, from = 0, to = W.shape[1]) {
    const m = W.shape[1], out = new Float64Array(to - from), w = W.data;
    if (b) for (let j = from; j < to; j++) out[j - from] = b.data[j];
    for (let i = 0; i < x.length; i++) {
      const xi = x[i];
      if (xi === 0) continue;
      const row = i * m;
      for (let j = from; j < to; j++) out[j - from] += xi * w[row + j];
    }
    return out;
  }

  start() {
    const zeros = () => new Float64Array(this.H);
    const cell = this.spec.cell;
    const state = [];
    for (let k = 0; k < this.spec.layers; k++) state.push(cell === "lstm" ? { h: zeros(), c: zeros() } : { h: zeros() });
    return state;
  }

  // One step: the logits after reading `id` (the end token reads as the start), and the new state.
  step(state, id) {
    const H = this.H, p = this.p, cell = this.spec.cell;
    const G = p["l0.b"].shape[0];
    let xw = new Float64Array(G);
    const embed = p.embed.data;
    for (let j = 0; j < G; j++) xw[j] = embed[id * G + j] + p["l0.b"].data[j];
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

  // The probabilities after `prefix` (from the start), for tests: softmax of the logits.
  probabilities(prefix) {
    let state = this.start();
    let logits;
    [logits, state] = this.step(state, this.eos);
    for (const ch of prefix) [logits, state] = this.step(state, this.code.get(ch));
    return softmax(Array.from(logits), 1);
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
    let state = this.start();
    let logits;
    [logits, state] = this.step(state, this.eos);
    for (const ch of prefix) [logits, state] = this.step(state, this.code.get(ch));
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
