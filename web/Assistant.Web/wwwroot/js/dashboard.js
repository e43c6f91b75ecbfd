// Keeps the dashboard live: polls the page's JSON handler and redraws jobs, workers, aliases, alerts and services.
(() => {
  const { el, number, time, statusLabel, showSection } = Assistant;
  const refreshed = document.getElementById("refreshed");

  function sparkline(values, lastLoss) {
    const svg = el("svg", {
      class: "sparkline", width: 120, height: 28, viewBox: "0 0 120 28", role: "img",
      "aria-label": lastLoss == null ? "no train loss yet" : `train loss, latest ${number(lastLoss)}`,
    });
    Assistant.sparkline(svg, values);
    return svg;
  }

  function fill(name, tableId, section, row) {
    showSection(name, section);
    const table = document.getElementById(tableId);
    if (!table) return;
    table.hidden = section.items.length === 0;
    table.querySelector("tbody").replaceChildren(...section.items.map(row));
  }

  function render(view) {
    fill("jobs", "active-jobs", view.jobs, job => el("tr", { "data-job": job.id },
      el("th", { scope: "row" }, el("a", { href: `/jobs/${job.id}`, text: job.id }), el("div", { class: "muted small", text: job.title })),
      el("td", {}, el("span", { class: `badge status-${job.status}`, text: statusLabel(job.status) })),
      el("td", {},
        el("progress", { max: 1, value: job.progress ?? 0, "aria-label": `Progress of ${job.id}` }), " ",
        el("span", { class: "small", text: job.totalSteps > 0 ? `step ${job.step} of ${job.totalSteps}` : "not started" })),
      el("td", { class: "spark-cell" }, sparkline(job.loss, job.lastLoss), " ", el("span", { class: "small", text: number(job.lastLoss) }))));

    fill("workers", "workers", view.workers, w => el("tr", { "data-worker": w.id },
      el("th", { scope: "row" }, w.hostname, el("div", { class: "muted small", text: w.id })),
      el("td", { "data-label": "State" }, el("span", { class: `badge worker-${w.state}`, text: w.state }),
        w.currentJobId ? el("div", { class: "small" }, el("a", { href: `/jobs/${w.currentJobId}`, text: w.currentJobId })) : null),
      el("td", { "data-label": "CPU", text: `${Math.round(w.cpuPercent * 10) / 10}%` }),
      el("td", { "data-label": "Memory" }, el("meter", { min: 0, max: 1, value: w.memoryFraction, "aria-label": "Host memory used" }), el("div", { class: "small", text: w.memory })),
      el("td", { "data-label": "GPU", class: "small", text: w.gpu })));

    fill("aliases", "aliases", view.aliases, a => el("tr", {},
      el("th", { scope: "row" }, el("a", { href: `/models/${encodeURIComponent(a.model)}`, text: a.model })),
      el("td", { text: a.alias }),
      el("td", {}, `v${a.version}`, a.serving ? el("div", { class: "muted small", text: a.serving }) : null)));

    showSection("alerts", view.alerts);
    document.getElementById("alerts").replaceChildren(...view.alerts.items.map(a => el("li", { class: `alert severity-${a.severity}` },
      el("strong", { text: a.severity }), ` ${a.message} `,
      el("span", { class: "muted small" }, `· ${a.subject} · `, el("time", { datetime: a.createdAt, text: time(a.createdAt) }),
        a.jobId ? [" · ", el("a", { href: `/jobs/${a.jobId}`, text: a.jobId })] : null))));

    Assistant.renderServices(view.status);
    refreshed.textContent = `Updated ${new Date().toISOString().substring(11, 19)} UTC.`;
  }

  async function refresh() {
    try {
      render(await Assistant.getJson("/?handler=Live"));
    } catch (error) {
      refreshed.textContent = `Could not refresh: ${error.message}. Trying again.`;
    }
  }
  setInterval(refresh, 4000);
})();
