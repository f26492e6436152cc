"""How each next character is chosen from a model's logits, for many prefixes at once.

    p = softmax(logits / T)      (T < 1: safer, T > 1: wilder)
    top-k: keep the k likeliest characters; top-p: keep the fewest likeliest characters
    whose probabilities sum to at least p; greedy: always the likeliest (argmax).

The functions here work feature-major: logits (V, k), one column per prefix ("node"),
and draw for rows that each point at a node, so rows that share a prefix share its
cumulative sums. A draw is an inverse CDF: with the running sums S_v = p_0 + ... + p_v of
the node's (unnormalised) probabilities and u ~ U[0, 1), the character is the first v
with S_v > u * S_{V-1}, that is the number of v with S_v <= u * S_{V-1}; a character of
probability 0 (masked, or cut by top-k / top-p) is never drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from saurus.errors import ModelFileError, OptionError


def is_whole(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def is_finite(value: object) -> bool:
    """A real number that is neither NaN nor infinite, nor too large to be a float."""
    try:
        return is_real(value) and math.isfinite(float(value))
    except OverflowError:
        return False


def check_temperature(temperature: float) -> None:
    if not (is_finite(temperature) and temperature > 0):
        hint = "; for the likeliest character every time, use --greedy" if temperature == 0 else ""
        raise OptionError(f"the temperature must be a positive number, got {temperature}{hint}")


@dataclass(frozen=True)
class Decoding:
    """How each next character is chosen from the model's logits."""

    temperature: float = 1.0
    top_k: int = 0  # 0: no limit
    top_p: float = 1.0
    greedy: bool = False

    @classmethod
    def from_options(
        cls,
        temperature: float | None = None,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        *,
        flags: dict[str, str] | None = None,
    ) -> Decoding:
        """The decoding the options of any front end ask for: THE place where temperature 0
        means greedy (as in Hugging Face's and OpenAI's APIs). None means the default (T 1,
        no top-k, top-p 1). With `flags` (each option's name as the front end's users
        know it, e.g. {"temperature": "--temperature", "greedy": "--greedy"}), an option
        that greedy decoding would ignore is refused, naming both; without, it is ignored."""
        if temperature is not None and not (is_real(temperature) and temperature >= 0):
            raise OptionError(f"temperature must be 0 (greedy) or more, got {temperature}")
        by_zero = temperature == 0
        if flags is not None and (greedy or by_zero):
            why = flags.get("greedy", "greedy") if greedy else f"{flags.get('temperature', 'temperature')} 0"
            given = {"temperature": None if by_zero else temperature, "top_k": top_k, "top_p": top_p}
            for name, value in given.items():
                if value is not None:
                    flag = flags.get(name, name)
                    raise OptionError(
                        f"{why} always takes the likeliest character, so {flag} has no effect; drop one"
                    )
        how = cls(
            1.0 if temperature is None or by_zero else float(temperature),
            top_k or 0,
            1.0 if top_p is None else top_p,
            greedy or by_zero,
        )
        how.check()
        return how

    def check(self) -> None:
        check_temperature(self.temperature)
        if not is_whole(self.top_k) or self.top_k < 0:
            raise OptionError(f"--top-k must be a whole number, 0 or more, got {self.top_k}")
        if not is_finite(self.top_p) or not 0 < self.top_p <= 1:
            raise OptionError(f"--top-p must be in (0, 1], got {self.top_p}")


def decoding_kwargs(how: Decoding) -> dict[str, object]:
    """`how` as the keyword arguments of the sampling functions (generate_lines, ...)."""
    return {"temperature": how.temperature, "top_k": how.top_k, "top_p": how.top_p, "greedy": how.greedy}


def scaled(logits: np.ndarray, temperature: float, axis: int = 1) -> np.ndarray:
    """(logits - max) / T along `axis`: shifted first, as logits / T alone overflows for tiny
    T. A T beyond float32's range (it would round to 0 or inf there, giving NaN) is divided
    in float64, where a step that overflows becomes -inf: a zero probability, as it should."""
    shifted = logits - logits.max(axis=axis, keepdims=True)
    if 1e-30 <= temperature <= 1e30:
        if temperature != 1.0:
            shifted /= temperature
        return shifted
    with np.errstate(over="ignore"):
        return shifted.astype(np.float64) / temperature


def probabilities(logits: np.ndarray, how: Decoding) -> np.ndarray:
    """Unnormalised probabilities (V, k) of each column of logits (V, k): exp((l - max) / T),
    zero outside the top-k and top-p sets. Every column needs a finite logit."""
    p = scaled(logits, how.temperature, axis=0)  # a new array: exp in place
    np.exp(p, out=p)
    if 0 < how.top_k < p.shape[0]:
        kth = -np.partition(-p, how.top_k - 1, axis=0)[how.top_k - 1 : how.top_k]
        p = np.where(p >= kth, p, 0.0)
    if how.top_p < 1.0:
        desc = -np.sort(-p, axis=0)
        csum = np.cumsum(desc, axis=0)
        # the smallest probability still needed to reach top_p of the mass
        needed = (csum - desc) < how.top_p * csum[-1:]
        needed[0] = True  # the likeliest is always kept, however small top_p is
        cutoff = np.where(needed, desc, np.inf).min(axis=0, keepdims=True)
        p = np.where(p >= cutoff, p, 0.0)
    return p


def cumulative(p: np.ndarray) -> np.ndarray:
    """Running sums down the columns of p (V, k), one vector add per row: for few rows and
    many columns, far faster than np.cumsum(axis=0)."""
    out = np.empty_like(p)
    out[0] = p[0]
    for v in range(1, len(p)):
        np.add(out[v - 1], p[v], out=out[v])
    return out


def pick(p: np.ndarray, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One draw per row from column nodes[row] of p (V, k), by inverse CDF: the count of v
    with S_v <= u * S_{V-1}, added up one character at a time (a small counter, no (V, rows)
    array). u * S_{V-1} is kept below S_{V-1}, so rounding can never reach a character of
    probability 0."""
    cdf = cumulative(p)
    n, k = len(nodes), p.shape[1]
    gathered = np.empty(n, dtype=cdf.dtype)

    def column(v: int) -> np.ndarray:
        """S_v of each row's node."""
        if k == 1:  # every row at one node
            return cdf[v, :1]
        if n == k and in_order:  # a node per row, in order
            return cdf[v]
        return np.take(cdf[v], nodes, out=gathered, mode="clip")

    in_order = n == k and bool(np.all(nodes == np.arange(n)))
    total = column(len(p) - 1).copy()
    u = rng.random(n, dtype=np.float32 if p.dtype == np.float32 else np.float64)
    u *= total
    np.minimum(u, np.nextafter(total, 0), out=u)
    ids = np.zeros(n, dtype=np.uint8 if len(p) < 256 else np.int64)
    below = np.empty(n, dtype=bool)
    for v in range(len(p) - 1):  # S_{V-1} > u always: the last character needs no test
        np.less_equal(column(v), u, out=below)
        ids += below
    return ids.astype(np.int64)


def check_numbers(logits: np.ndarray) -> None:
    """Logits that are NaN come from damaged or overflowing weights: say so, rather than
    draw nonsense (or loop forever redrawing names that can never come)."""
    if np.isnan(logits).any():
        raise ModelFileError("the model computes NaN from its weights (damaged, or too large to use)")


def choose(logits: np.ndarray, nodes: np.ndarray, how: Decoding, rng: np.random.Generator) -> np.ndarray:
    """The next id of each row: greedy takes its node's argmax, else a draw from p."""
    check_numbers(logits)
    if how.greedy:
        return logits.argmax(axis=0)[nodes]
    return pick(probabilities(logits, how), nodes, rng)


def draw(logits: np.ndarray, how: Decoding, rng: np.random.Generator) -> np.ndarray:
    """One sample per row of logits (B, V) from softmax(logits / T), restricted to the
    top-k / top-p characters, by inverse CDF with one float64 u per row (or the argmax,
    when greedy): the row-major form that text and music generation use."""
    check_numbers(logits)
    if how.greedy:
        return logits.argmax(axis=1)
    p = probabilities(logits.T, how).T
    cdf = np.cumsum(p, axis=1)
    u = rng.random(len(logits))[:, None] * cdf[:, -1:]
    return np.minimum((cdf <= u).sum(axis=1), logits.shape[1] - 1)
