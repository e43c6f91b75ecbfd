// A job's page, live: the web app relays the job's SSE stream (?handler=Stream) and this draws what arrives,
// without a reload: charts, progress, status, timeline, events, checkpoints and the samples of each evaluation; and an
// evaluation started from the page is followed until it ends.
(() => {
  const { el, time, statusLabel } = Assistant;
  const initial = JSON.parse(document.getElementById("job-data").textContent);
  const base = `/jobs/${encodeURIComponent(initial.id)}`;
  const finished = status => ["succeeded", "failed", "cancelled"].includes(status);

  const charts = {
    loss: new Assistant.LineChart(document.getElementById("chart-loss"), [
      { key: "train_loss", label: "train loss", color: "#3451b2" },
      { key: "valid_loss", label: "validation loss", color: "#c2410c", dash: "6 4" },
    ]),
    lr: new Assistant.LineChart(document.getElementById("chart-lr"), [{ key: "learning_rate", label: "learning rate", color: "#7c3aed" }]),
    throughput: new Assistant.LineChart(document.getElementById("chart-throughput"), [{ key: "tokens_per_second", label: "tokens/s", color: "#047857" }]),
    memory: new Assistant.LineChart(document.getElementById("chart-memory"), [{ key: "memory_mb", label: "memory MB", color: "#b45309" }]),
  };
  const chartOf = { train_loss: charts.loss, valid_loss: charts.loss, learning_rate: charts.lr, tokens_per_second: charts.throughput, memory_mb: charts.memory };

  function setSeries(series, merge) {
    for (const [key, s] of Object.entries(series)) {
      const chart = chartOf[key];
      if (!chart) continue;
      if (merge) s.steps.forEach((step, i) => chart.add(key, step, s.values[i]));
      else chart.set(key, s.steps, s.values);
    }
    Object.values(charts).forEach(c => c.schedule());
  }
  setSeries(initial.series, false);

  const seenEvents = new Set(initial.events);
  let status = initial.status;

  function showStatus(job) {
    status = job.status;
    const badge = document.getElementById("job-status");
    badge.textContent = statusLabel(job.status);
    badge.className = `badge status-${job.status} big`;
    if (job.total_steps !== undefined) showProgress(job.step, job.total_steps, job.status === "succeeded");
    if (job.attempts !== undefined) document.getElementById("job-attempts").textContent = `${job.attempts} of ${job.max_attempts}`;
    if (job.trained_tokens !== undefined) document.getElementById("job-tokens").textContent = job.trained_tokens.toLocaleString("en-US");
    const error = document.getElementById("job-error");
    if (job.error !== undefined) {
      error.hidden = !job.error;
      error.textContent = job.error ? `${job.error.code}: ${job.error.message}` : "";
    }
    if (job.result_model) {
      const m = job.result_model;
      document.getElementById("job-result").replaceChildren(el("a", { href: `/models/${encodeURIComponent(m.name)}`, text: `${m.name}@${m.version}` }));
      document.getElementById("register-result").replaceChildren("Registered: ", el("a", { href: `/models/${encodeURIComponent(m.name)}`, text: `${m.name}@${m.version}` }));
    }
    document.getElementById("cancel-form").hidden = finished(job.status) || job.cancel_requested === true;
    document.getElementById("deploy-form").hidden = job.status !== "succeeded";
    const pending = document.getElementById("evaluate-pending"); // the evaluate form needs the dataset choices the server lists
    if (pending && job.status === "succeeded" && !pending.dataset.offered) {
      const reload = el("button", { type: "button", class: "link", id: "evaluate-reload", text: "Reload the page" });
      reload.addEventListener("click", () => location.reload());
      pending.replaceChildren("The job has succeeded. ", reload, " to score its model on a dataset version.");
      pending.dataset.offered = "true";
    }
  }

  function showProgress(step, total, done) {
    document.getElementById("job-progress").value = done ? 1 : total > 0 ? Math.min(1, step / total) : 0;
    document.getElementById("job-step").textContent = total > 0 ? `step ${step} of ${total}` : "not started";
  }

  function addEvent(e) {
    if (seenEvents.has(e.id)) return;
    seenEvents.add(e.id);
    document.querySelector("#events tbody").prepend(el("tr", { class: `level-${e.level}`, "data-event": e.id },
      el("td", {}, el("time", { datetime: e.created_at, text: time(e.created_at) })),
      el("td", { text: e.level }), el("td", { text: e.type }), el("td", { text: e.message })));
    if (e.type === "status") {
      document.getElementById("timeline").append(el("li", { class: `level-${e.level}`, "data-event": e.id },
        el("time", { datetime: e.created_at, text: time(e.created_at) }), ` ${e.message}`));
    }
    if (e.type === "eval" && e.data && Number.isFinite(e.data.valid_loss)) charts.loss.add("valid_loss", e.data.step, e.data.valid_loss);
    if (e.type === "checkpoint") refreshCheckpoints();
    if ((e.type === "eval" || e.type === "test") && Array.isArray(e.data?.samples) && e.data.samples.length > 0) addSamples(e);
  }

  /** An evaluation's samples, newest first, as _Samples.cshtml draws them. */
  function addSamples(e) {
    if (document.querySelector(`#sample-sets [data-event="${e.id}"]`)) return;
    const step = Number.isFinite(e.data.step) ? e.data.step : null;
    const part = (title, cls, text) => el("div", { class: "sample-part" }, el("h4", { text: title }), el("p", { class: cls, text: text ?? "" }));
    document.getElementById("sample-sets").prepend(el("article", { class: "sample-set", "data-event": e.id, "data-step": step, "aria-labelledby": `samples-${e.id}` },
      el("h3", { id: `samples-${e.id}` }, `${e.type === "test" ? "Test" : "Evaluation"}${step === null ? "" : ` at step ${step}`} `,
        el("span", { class: "muted small", text: e.message })),
      e.data.samples.map(s => el("div", { class: "sample" },
        part("Prompt", "sample-prompt", s.prompt), part("Reference answer", "sample-reference", s.reference), part("Generated answer", "sample-generated", s.generated)))));
    document.getElementById("samples-empty").hidden = true;
  }

  // An evaluation runs on a worker after the job ended: poll it until it is done, then show its metrics.
  const evaluation = document.getElementById("evaluation");
  if (evaluation && !finished(evaluation.dataset.status)) followEvaluation(evaluation);

  async function followEvaluation(box) {
    const url = `${base}?handler=Evaluation&evaluation=${encodeURIComponent(box.dataset.id)}`;
    for (;;) {
      await new Promise(resolve => setTimeout(resolve, 2000));
      let e;
      try { e = await Assistant.getJson(url); } catch (error) { document.getElementById("evaluation-status").textContent = `unknown: ${error.message}`; return; }
      box.dataset.status = e.status;
      const badge = document.getElementById("evaluation-status");
      badge.textContent = statusLabel(e.status);
      badge.className = `badge status-${e.status}`;
      if (!finished(e.status)) continue;
      const error = document.getElementById("evaluation-error");
      error.hidden = !e.error;
      error.textContent = e.error ?? "";
      const metrics = Object.entries(e.metrics ?? {}).filter(([, v]) => typeof v === "number");
      document.getElementById("evaluation-metrics").replaceChildren(...metrics.map(([name, value]) =>
        el("div", {}, el("dt", { text: name }), el("dd", { text: Assistant.number(value) }))));
      return;
    }
  }

  async function refreshCheckpoints() {
    try {
      const response = await fetch(`${base}?handler=Checkpoints`, { headers: { Accept: "text/html" } });
      if (response.ok) document.getElementById("checkpoints").innerHTML = await response.text();
    } catch { /* shown again at the next checkpoint or reload */ }
  }

  // Points published before the stream opened are in the API's records: merge them (once now, once after the
  // workers' next metrics flush).
  async function catchUp() {
    for (const wait of [0, 2500]) {
      await new Promise(resolve => setTimeout(resolve, wait));
      try { setSeries(await Assistant.getJson(`${base}?handler=Metrics`), true); } catch { /* live points still come */ }
    }
  }

  const liveState = document.getElementById("live-state");
  if (finished(status)) {
    liveState.textContent = "";
    return;
  }

  const source = new EventSource(`${base}?handler=Stream`);
  source.addEventListener("open", () => { liveState.textContent = "live"; catchUp(); });
  source.addEventListener("status", message => {
    const data = JSON.parse(message.data);
    // The API's own status events carry the whole job; relayed worker notices carry {status, details}.
    const job = data.object === "fine_tuning.job" ? data : data.data;
    if (!job?.status) return;
    showStatus(job);
    if (finished(job.status)) {
      source.close();
      liveState.textContent = "";
      refreshCheckpoints();
      catchUp();
    }
  });
  source.addEventListener("metrics", message => {
    const update = JSON.parse(message.data).data;
    for (const [key, value] of Object.entries(update.metrics ?? {})) {
      if (chartOf[key] && key !== "valid_loss") chartOf[key].add(key, update.step, value);
    }
    if (!finished(status)) showProgress(update.step, update.total_steps, false);
    if (update.trained_tokens !== undefined) document.getElementById("job-tokens").textContent = update.trained_tokens.toLocaleString("en-US");
  });
  source.addEventListener("event", message => addEvent(JSON.parse(message.data).data));
  source.addEventListener("error", async () => {
    if (source.readyState === EventSource.CLOSED) {
      // Refused for good (signed out, job deleted): say so; a 401 reloads into the sign-in page.
      liveState.textContent = "live updates stopped";
      try { await Assistant.getJson(`${base}?handler=Metrics`); } catch (error) { liveState.textContent = `live updates stopped: ${error.message}`; }
    } else {
      liveState.textContent = "reconnecting…";
    }
  });
})();
