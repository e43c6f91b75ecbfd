// Runs compared: each run's loss curves overlaid on shared steps, one colour and dash pattern per run. While a run is
// still going (a sweep just created) the curves refresh from the page's Data handler until every run has finished.
(() => {
  const { el, statusLabel } = Assistant;
  const data = JSON.parse(document.getElementById("compare-data").textContent);
  const series = data.runs.map(r => ({ key: r.id, label: r.label, color: r.color, dash: r.dash }));
  const charts = new Map(data.curves.map(c => [c.key, new Assistant.LineChart(document.getElementById(`compare-${c.key}`), series)]));
  const finished = status => ["succeeded", "failed", "cancelled"].includes(status);

  function draw(curves) {
    for (const [key, chart] of charts) {
      const curve = curves[key];
      for (const run of data.runs) chart.set(run.id, curve?.steps ?? [], curve?.series?.[run.id] ?? []);
      chart.schedule();
    }
  }
  draw(Object.fromEntries(data.curves.map(c => [c.key, c])));

  if (data.runs.every(r => finished(r.status))) return;
  const live = document.getElementById("compare-live");
  const ids = data.runs.map(r => r.id).join(",");
  live.textContent = "live";
  const timer = setInterval(async () => {
    try {
      const update = await Assistant.getJson(`/compare?handler=Data&ids=${encodeURIComponent(ids)}`);
      draw(update.metrics);
      for (const [id, status] of Object.entries(update.statuses)) {
        const cell = document.querySelector(`[data-status-of="${CSS.escape(id)}"]`);
        if (cell) cell.replaceChildren(el("span", { class: `badge status-${status}`, text: statusLabel(status) }));
      }
      if (Object.values(update.statuses).every(finished)) {
        clearInterval(timer);
        live.textContent = "all runs finished: reload for their final metrics";
      }
    } catch (error) {
      live.textContent = `updates stopped: ${error.message}`;
      clearInterval(timer);
    }
  }, 5000);
})();
