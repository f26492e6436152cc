"""The LSTM's own fast stepper for generation and search (see generation/steppers.py for
what a stepper is): a recurrent LSTM (any depth), float32.

With i, f, o's columns of the weights halved, one tanh serves all four gates,
sigmoid(x) = (1 + tanh(x/2)) / 2:

    [t_i, t_f, t_o, g] = tanh((2h) W_h' + T[x])      T[x] = (E[x] + b)', a row per id
    c' = ((1 + t_f) c + (1 + t_i) g) / 2          (2h)' = (1 + t_o) tanh(c')

where h is kept doubled (2h), and W_h, the next layer's W_x and the head take half
weights to match (a layer k > 0 reads [2h, 2h_below, 1] against [W_h'; W_x'; b']).
States are node-major (one row of H per node), so gathering the parents' rows copies
whole rows; the logits are feature-major (V, k), as sampling wants them. Nodes are
computed CHUNK at a time, so the gates stay in cache, and the chunks of a step run on as
many threads as BLAS may use (NumPy and BLAS release the GIL), each with one BLAS thread:
the same numbers whatever the thread count.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from saurus.generation.steppers import STATE_BUDGET
from saurus.protocol import START

CHUNK = 512  # nodes computed at once: a (CHUNK x 4H) block of gates stays in cache


@dataclass
class LSTMNodes:
    h: list[np.ndarray]  # per layer, (k, H): twice the hidden state
    c: list[np.ndarray]  # per layer, (k, H)
    logits: np.ndarray  # (V, k)
    buffer: np.ndarray | None = field(default=None, repr=False)  # what h, c and logits view, if one

    def __len__(self) -> int:
        return self.logits.shape[1]

    def take(self, idx: np.ndarray) -> LSTMNodes:
        return LSTMNodes([h[idx] for h in self.h], [c[idx] for c in self.c], self.logits[:, idx])

    @staticmethod
    def concat(parts: Sequence[LSTMNodes]) -> LSTMNodes:
        layers = range(len(parts[0].h))
        return LSTMNodes(
            [np.concatenate([p.h[k] for p in parts]) for k in layers],
            [np.concatenate([p.c[k] for p in parts]) for k in layers],
            np.concatenate([p.logits for p in parts], axis=1),
        )

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (*self.h, *self.c, self.logits))


class FusedLSTM:
    """A recurrent LSTM's step for nodes, in float32, with one matmul and one tanh for all
    gates of a layer (see the module docstring); layer 0 adds its input's row of T."""

    branching = True

    def __init__(self, model: Any) -> None:
        p, H, V = model.params, model.hidden, model.vocab.size
        f32 = np.float32
        half = np.ones(4 * H)
        half[: 3 * H] = 0.5  # i, f, o go through tanh(x / 2)
        self.H, self.V, self.layers = H, V, model.layers
        table = (p["embed"].astype(np.float64) + p["l0.b"]) * half
        start = np.zeros((1, 4 * H))  # id V: START in a vocabulary without EOS reads zeros
        self.T = np.vstack([table, start]).astype(f32)  # (V + 1, 4H)
        self.W = [(p["l0.Wh"] * half * 0.5).astype(f32)]  # (K, 4H): K = H, then 2H + 1
        for k in range(1, model.layers):
            stacked = np.vstack([p[f"l{k}.Wh"] * 0.5, p[f"l{k}.Wx"] * 0.5, p[f"l{k}.b"][None, :]])
            self.W.append((stacked * half).astype(f32))
        self.Wy = np.ascontiguousarray(p["head.W"].T * 0.5, dtype=f32)  # (V, H)
        self.by = p["head.b"].astype(f32)[:, None]
        eos = model.vocab.eos_id
        self.start_id = V if eos is None else eos
        node_bytes = 4 * (2 * H * model.layers + V)
        self.batch_cap = max(256, STATE_BUDGET // node_bytes)
        from threadpoolctl import ThreadpoolController

        self.blas = ThreadpoolController()
        self.workers = max([c.num_threads for c in self.blas.lib_controllers if c.user_api == "blas"] or [1])
        self.pool: ThreadPoolExecutor | None = None
        self.local = threading.local()  # each thread's scratch (see scratch())
        self.scratch_floats = max(w.shape[0] for w in self.W) + 8 * H + V  # per node
        self.spare: np.ndarray | None = None  # the buffer of nodes given back by recycle()

    def root(self, prefix_ids: np.ndarray, batch: int = 1) -> LSTMNodes:
        zero = np.zeros((1, self.H), dtype=np.float32)
        nodes = LSTMNodes([zero] * self.layers, [zero] * self.layers, np.zeros((self.V, 1), np.float32))
        one = np.zeros(1, dtype=np.int64)
        for i in [self.start_id, *np.asarray(prefix_ids).tolist()]:
            nodes = self.children(nodes, one, np.array([i]))
        return nodes

    def children(self, nodes: LSTMNodes, parent: np.ndarray, ids: np.ndarray) -> LSTMNodes:
        k = len(parent)
        ids = np.where(ids == START, self.start_id, ids)
        out = self.fresh(k)
        starts = range(0, k, CHUNK)
        if self.workers == 1:
            for s in starts:
                self.block(nodes, parent[s : s + CHUNK], ids[s : s + CHUNK], out, s)
            return out
        # several threads: chunks side by side, each with one BLAS thread (a BLAS of two
        # threads, even for one chunk here, would keep its second thread spinning)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="saurus-lstm")
        with self.blas.limit(limits=1, user_api="blas"):
            if k <= CHUNK:
                self.block(nodes, parent, ids, out, 0)
                return out
            jobs = [
                self.pool.submit(self.block, nodes, parent[s : s + CHUNK], ids[s : s + CHUNK], out, s)
                for s in starts
            ]
            for job in jobs:
                job.result()
        return out

    def side_by_side(self, job: Callable[[FusedLSTM], None]) -> None:
        """Run job(stepper) on each of the stepper's threads at once, each given a copy of the
        stepper (the same weights) that computes on its own thread, all under one BLAS
        thread; return when every one is done (re-raising the first error)."""
        if self.workers == 1:
            job(self)
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="saurus-lstm")
        with self.blas.limit(limits=1, user_api="blas"):
            runs = [self.pool.submit(job, self.alone()) for _ in range(self.workers)]
            for run in runs:
                run.result()

    def alone(self) -> FusedLSTM:
        """A copy that shares the weights and computes on the calling thread only."""
        one = copy.copy(self)
        one.workers, one.spare = 1, None
        return one

    def fresh(self, k: int) -> LSTMNodes:
        """Room for k nodes, in the recycled buffer when it is big enough (fresh arrays of
        megabytes are zeroed by the kernel, page by page, at first touch)."""
        H, L, V = self.H, self.layers, self.V
        size = (2 * L * H + V) * k
        flat, self.spare = self.spare, None
        if flat is None or len(flat) < size:
            flat = np.empty(size, np.float32)
        per = H * k
        h = [flat[i * per : (i + 1) * per].reshape(k, H) for i in range(L)]
        c = [flat[(L + i) * per : (L + i + 1) * per].reshape(k, H) for i in range(L)]
        return LSTMNodes(h, c, flat[2 * L * per : size].reshape(V, k), flat)

    def recycle(self, nodes: LSTMNodes) -> None:
        """`nodes` will not be read again: their memory may hold a later step's nodes."""
        flat = nodes.buffer
        if flat is not None and (self.spare is None or len(flat) > len(self.spare)):
            self.spare = flat
        nodes.buffer = None

    def scratch(self, layer: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """This thread's input (m, K), gate (m, 4H), table row (m, 4H) and logit (V, m)
        arrays for `m` <= CHUNK nodes of `layer`, carved from one buffer reused from chunk to
        chunk (fresh multi-megabyte arrays cost page faults, which threads wait on in turn)."""
        views = getattr(self.local, "views", None)
        if views is None or len(self.local.buffer) < self.scratch_floats * m:
            self.local.buffer = np.empty(self.scratch_floats * max(m, CHUNK), np.float32)
            views = self.local.views = {}
        if (layer, m) not in views:
            sizes = [self.W[layer].shape[0] * m, 4 * self.H * m, 4 * self.H * m, self.V * m]
            ends = np.cumsum([0, *sizes]).tolist()
            x, a, e, y = (self.local.buffer[ends[i] : ends[i + 1]] for i in range(4))
            views[layer, m] = x.reshape(m, -1), a.reshape(m, -1), e.reshape(m, -1), y.reshape(self.V, m)
        return views[layer, m]  # type: ignore[no-any-return]

    def block(self, nodes: LSTMNodes, parent: np.ndarray, ids: np.ndarray, out: LSTMNodes, s: int) -> None:
        """Nodes s .. s + m of `out`, children of `parent` reading `ids` (takes with
        mode="clip": NumPy buffers `out` under the default mode, at twice the cost)."""
        H, m = self.H, len(parent)
        for k in range(self.layers):
            x, a, e, y = self.scratch(k, m)
            np.take(nodes.h[k], parent, axis=0, out=x[:, :H], mode="clip")
            if k > 0:
                x[:, H : 2 * H] = out.h[k - 1][s : s + m]
                x[:, 2 * H] = 1.0
            np.matmul(x, self.W[k], out=a)
            if k == 0:
                np.take(self.T, ids, axis=0, out=e, mode="clip")
                a += e
            np.tanh(a, out=a)
            a[:, : 3 * H] += 1.0  # 1 + t = 2 sigmoid for i, f, o
            i2, f2, o2, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
            c = out.c[k][s : s + m]
            np.take(nodes.c[k], parent, axis=0, out=c, mode="clip")
            c *= f2
            i2 *= g
            c += i2
            c *= 0.5
            np.tanh(c, out=g)
            np.multiply(o2, g, out=out.h[k][s : s + m])
        np.matmul(self.Wy, out.h[-1][s : s + m].T, out=y)  # a contiguous out: BLAS writes it
        y += self.by
        out.logits[:, s : s + m] = y
