// Training charts as inline SVG: sparklines for the dashboard, line charts (several series over steps) for a job or
// several runs compared, with a legend that tells series apart by dash pattern as well as colour.
(() => {
  const { el, number } = Assistant;

  /** Draws values as a sparkline into an svg holding one polyline (the server draws the first one the same way). */
  Assistant.sparkline = (svg, values) => {
    const width = svg.viewBox.baseVal.width, height = svg.viewBox.baseVal.height;
    const finite = values.filter(Number.isFinite);
    const min = Math.min(...finite), max = Math.max(...finite);
    const span = max - min > 0 ? max - min : 1;
    const points = finite.map((v, i) => {
      const x = finite.length === 1 ? width / 2 : i * (width - 2) / (finite.length - 1) + 1;
      const y = height - 2 - (v - min) / span * (height - 4);
      return `${x.toFixed(1)},${y.toFixed(1)}`;
    });
    let line = svg.querySelector("polyline");
    if (!line) svg.append(line = el("polyline"));
    line.setAttribute("points", points.join(" "));
    svg.dataset.points = String(finite.length);
  };

  /**
   * A chart of one or more series against the training step. Series: [{ key, label, color, dash }]. Points arrive
   * whole (set) or one at a time (add); render redraws.
   */
  class LineChart {
    constructor(svg, series) {
      this.svg = svg;
      this.series = series;
      this.data = new Map(series.map(s => [s.key, new Map()]));
      this.width = svg.viewBox.baseVal.width;
      this.height = svg.viewBox.baseVal.height;
      this.pending = false;
    }

    set(key, steps, values) {
      const points = this.data.get(key);
      if (!points) return;
      points.clear();
      steps.forEach((step, i) => { if (Number.isFinite(values[i])) points.set(step, values[i]); });
      this.schedule();
    }

    add(key, step, value) {
      const points = this.data.get(key);
      if (!points || !Number.isFinite(value) || !Number.isFinite(step)) return;
      points.set(step, value);
      this.schedule();
    }

    // Many points can arrive in one burst: draw once per frame.
    schedule() {
      if (this.pending) return;
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.render(); });
    }

    render() {
      const margin = { left: 56, right: 12, top: 10, bottom: 26 };
      const w = this.width - margin.left - margin.right, h = this.height - margin.top - margin.bottom;
      const all = [...this.data.values()].flatMap(points => [...points.entries()]);
      const children = [];
      let total = 0;
      if (all.length === 0) {
        children.push(el("text", { x: this.width / 2, y: this.height / 2, "text-anchor": "middle", class: "chart-empty", text: "No data yet" }));
      } else {
        const steps = all.map(p => p[0]), values = all.map(p => p[1]);
        let [x0, x1] = [Math.min(...steps), Math.max(...steps)];
        let [y0, y1] = [Math.min(...values), Math.max(...values)];
        if (x0 === x1) { x0 -= 1; x1 += 1; }
        if (y0 === y1) { const pad = Math.abs(y0) * 0.05 || 1; y0 -= pad; y1 += pad; }
        const x = step => margin.left + (step - x0) / (x1 - x0) * w;
        const y = value => margin.top + h - (value - y0) / (y1 - y0) * h;

        for (let i = 0; i <= 3; i++) {
          const value = y0 + (y1 - y0) * i / 3, py = y(value);
          children.push(el("line", { x1: margin.left, x2: margin.left + w, y1: py, y2: py, class: "grid-line" }));
          children.push(el("text", { x: margin.left - 6, y: py + 4, "text-anchor": "end", class: "tick", text: number(value) }));
        }
        // Step labels along the x axis: both ends, and whole steps between them when there is room.
        const ticks = stepTicks(x0, x1);
        ticks.forEach((step, i) => {
          const anchor = i === 0 ? "start" : i === ticks.length - 1 ? "end" : "middle";
          children.push(el("line", { x1: x(step), x2: x(step), y1: margin.top + h, y2: margin.top + h + 4, class: "grid-line" }));
          children.push(el("text", { x: x(step), y: this.height - 6, "text-anchor": anchor, class: "tick", text: i === 0 ? `step ${Math.round(step)}` : String(Math.round(step)) }));
        });

        for (const s of this.series) {
          const points = [...this.data.get(s.key).entries()].sort((a, b) => a[0] - b[0]);
          if (points.length === 0) continue;
          total += points.length;
          const attributes = {
            points: points.map(([step, value]) => `${x(step).toFixed(1)},${y(value).toFixed(1)}`).join(" "),
            stroke: s.color, "stroke-dasharray": s.dash, fill: "none", class: "series", "data-series": s.key, "data-count": points.length,
          };
          children.push(el("polyline", attributes));
          if (points.length === 1) {
            const [[step, value]] = points;
            children.push(el("line", { x1: x(step) - 3, x2: x(step) + 3, y1: y(value), y2: y(value), stroke: s.color, class: "series" }));
          }
        }
      }
      this.svg.replaceChildren(el("title", { text: this.describe() }), ...children);
      this.svg.dataset.points = String(total);
      this.svg.setAttribute("aria-label", this.describe());
    }

    /** What a screen reader hears: each series' latest value. */
    describe() {
      return this.series.map(s => {
        const points = [...this.data.get(s.key).entries()].sort((a, b) => a[0] - b[0]);
        if (points.length === 0) return `${s.label}: no data yet`;
        const [step, value] = points[points.length - 1];
        return `${s.label}: ${number(value)} at step ${step} (${points.length} point${points.length === 1 ? "" : "s"})`;
      }).join("; ");
    }
  }

  /** Step labels from x0 to x1: both ends, and round steps (a stride of 1, 2 or 5 times a power of ten) between them. */
  function stepTicks(x0, x1) {
    const span = x1 - x0;
    if (span < 2) return [x0, x1];
    const rough = span / 5, power = 10 ** Math.floor(Math.log10(rough));
    const stride = Math.max(1, [1, 2, 5, 10].map(m => m * power).find(s => s >= rough));
    const ticks = [x0];
    for (let step = Math.ceil((x0 + stride / 2) / stride) * stride; step <= x1 - stride / 2; step += stride) ticks.push(step);
    ticks.push(x1);
    return ticks;
  }

  /** A legend for a chart's series: each a short line drawn with the series' colour and dash pattern, then its label. */
  Assistant.legend = (container, series) => {
    container.replaceChildren(...series.map(s => el("li", { "data-series": s.key },
      el("svg", { class: "legend-line", viewBox: "0 0 36 10", width: 36, height: 10, "aria-hidden": "true" },
        el("line", { x1: 1, x2: 35, y1: 5, y2: 5, stroke: s.color, "stroke-dasharray": s.dash, "stroke-width": 3 })),
      el("span", { text: s.label }))));
  };

  Assistant.LineChart = LineChart;
})();
