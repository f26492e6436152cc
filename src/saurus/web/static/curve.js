// The learning curve: validation and training loss against seconds, as inline SVG.
// No library: a few ticks, two series, a legend. drawCurve(svg, points, until) redraws all.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const BOX = { width: 480, height: 260, left: 50, right: 14, top: 28, bottom: 38 };

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

// About `count` round ticks from at or below `lo` to at or above `hi` (steps of 1, 2 or 5
// times a power of ten).
function niceTicks(lo, hi, count) {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / Math.max(count, 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power;
  const ticks = [];
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  for (let i = first; i <= last; i += 1) ticks.push(Number((i * step).toFixed(10)));
  return { ticks, step };
}

function tickLabel(value, step) {
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return value.toFixed(Math.min(digits, 4));
}

// points: [{seconds, train_loss, val_loss, best}]; until: the seconds the x axis reaches at
// least (the run's expected length), so that the curve grows into its frame.
function drawCurve(svg, points, until = 0) {
  svg.replaceChildren();
  const { width, height, left, right, top, bottom } = BOX;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const series = [
    { key: "val_loss", label: "validation", cls: "val" },
    { key: "train_loss", label: "training", cls: "train" },
  ];
  const values = [];
  for (const p of points) {
    for (const s of series) if (Number.isFinite(p[s.key])) values.push(p[s.key]);
  }
  const lastSecond = points.reduce((m, p) => Math.max(m, p.seconds || 0), 0);
  const xTicks = niceTicks(0, Math.max(lastSecond, until, 1), 5);
  const xMax = xTicks.ticks[xTicks.ticks.length - 1];
  let yLo = values.length ? Math.min(...values) : 0;
  let yHi = values.length ? Math.max(...values) : 1;
  const pad = Math.max((yHi - yLo) * 0.08, 0.02);
  const yTicks = niceTicks(Math.max(0, yLo - pad), yHi + pad, 4);
  yLo = yTicks.ticks[0];
  yHi = yTicks.ticks[yTicks.ticks.length - 1];
  const x = (s) => left + (plotW * s) / xMax;
  const y = (v) => top + plotH - (plotH * (v - yLo)) / (yHi - yLo);

  const axes = svgElement("g", { class: "axes" });
  for (const t of yTicks.ticks) {
    axes.append(svgElement("line", { x1: left, x2: width - right, y1: y(t), y2: y(t), class: "grid" }));
    axes.append(svgElement("text", { x: left - 6, y: y(t) + 4, "text-anchor": "end" }, tickLabel(t, yTicks.step)));
  }
  for (const t of xTicks.ticks) {
    axes.append(svgElement("line", { x1: x(t), x2: x(t), y1: top + plotH, y2: top + plotH + 5, class: "tick" }));
    axes.append(svgElement("text", { x: x(t), y: top + plotH + 18, "text-anchor": "middle" }, tickLabel(t, xTicks.step)));
  }
  axes.append(svgElement("line", { x1: left, x2: width - right, y1: top + plotH, y2: top + plotH, class: "axis" }));
  axes.append(svgElement("line", { x1: left, x2: left, y1: top, y2: top + plotH, class: "axis" }));
  axes.append(svgElement("text", { x: left + plotW / 2, y: height - 4, "text-anchor": "middle", class: "label" }, "seconds"));
  axes.append(svgElement("text", {
    x: 12, y: top + plotH / 2, "text-anchor": "middle", class: "label", transform: `rotate(-90 12 ${top + plotH / 2})`,
  }, "loss (nats / char)"));
  svg.append(axes);

  // The weights kept: the lowest validation loss (the last point the server marked best).
  const vals = points.filter((p) => Number.isFinite(p.val_loss));
  const marked = vals.filter((p) => p.best);
  const kept = marked.length ? marked[marked.length - 1]
    : vals.reduce((b, p) => (b === null || p.val_loss < b.val_loss ? p : b), null);
  let drawn = 0;
  for (const s of series) {
    const mine = points.filter((p) => Number.isFinite(p[s.key]));
    const group = svgElement("g", { class: `series ${s.cls}` });
    if (mine.length > 1) {
      const path = mine.map((p) => `${x(p.seconds).toFixed(1)},${y(p[s.key]).toFixed(1)}`).join(" ");
      group.append(svgElement("polyline", { points: path }));
    }
    for (const p of mine) {
      const best = s.cls === "val" && p === kept;
      const dot = svgElement("circle", { cx: x(p.seconds).toFixed(1), cy: y(p[s.key]).toFixed(1), r: best ? 4.5 : 3 });
      if (best) dot.classList.add("best");
      const said = `${s.label} ${p[s.key].toFixed(4)} at ${p.seconds.toFixed(1)} s (step ${p.step})`;
      dot.append(svgElement("title", {}, best ? `${said}: the best, kept` : said));
      group.append(dot);
      drawn += 1;
    }
    svg.append(group);
  }

  const legend = svgElement("g", { class: "legend", transform: `translate(${width - right - 196} 6)` });
  series.forEach((s, i) => {
    const g = svgElement("g", { class: `series ${s.cls}`, transform: `translate(${i * 100} 0)` });
    g.append(svgElement("line", { x1: 0, x2: 22, y1: 8, y2: 8 }));
    g.append(svgElement("circle", { cx: 11, cy: 8, r: 3 }));
    g.append(svgElement("text", { x: 28, y: 12, class: "legend-label" }, s.label));
    legend.append(g);
  });
  svg.append(legend);
  if (!points.length) {
    svg.append(svgElement("text", {
      x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle", class: "empty",
    }, "no points yet"));
  }
  svg.dataset.points = String(points.length);
  svg.dataset.dots = String(drawn);
}
