// Dataset upload with a real progress bar: XMLHttpRequest reports the bytes sent, the web app streams them on to the
// API, and the answer is the new version (go there) or the API's errors by line and field (shown; nothing stored).
(() => {
  const { el } = Assistant;
  const form = document.getElementById("upload-form");
  const button = document.getElementById("upload-button");
  const row = document.getElementById("upload-progress-row");
  const bar = document.getElementById("upload-progress");
  const percent = document.getElementById("upload-percent");
  const state = document.getElementById("upload-state");
  const errors = document.getElementById("upload-errors");
  const detail = document.getElementById("upload-error-detail");
  const lines = document.getElementById("upload-error-lines");

  function progress(fraction) {
    const value = Math.round(Math.min(1, Math.max(0, fraction)) * 100);
    bar.value = value;
    bar.setAttribute("aria-valuenow", String(value));
    bar.setAttribute("aria-valuetext", `${value}% sent`);
    percent.textContent = `${value}%`;
  }

  function clearErrors() {
    errors.hidden = true;
    lines.replaceChildren();
    form.querySelectorAll("[data-error-for]").forEach(p => { p.hidden = true; p.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(input => input.removeAttribute("aria-invalid"));
  }

  /** A field error next to the control the API named, if the form has it; true when shown there. */
  function fieldError(param, message) {
    const target = form.querySelector(`[data-error-for="${CSS.escape(param ?? "")}"]`);
    if (!target) return false;
    target.textContent = message;
    target.hidden = false;
    const input = form.querySelector(`[data-param="${CSS.escape(param)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") ?? ""} ${target.id || (target.id = `${input.id}-error`)}`.trim());
    }
    return true;
  }

  function showProblem(problem) {
    detail.textContent = problem.lines?.length
      ? `${problem.title ?? "The file is not valid"}: ${problem.detail ?? ""}`
      : problem.detail ?? problem.title ?? "The upload was refused.";
    for (const line of problem.lines ?? []) {
      const where = line.line > 0 ? `line ${line.line}` : "file";
      lines.append(el("li", { "data-line": line.line },
        el("strong", { text: `${where}: ` }), line.message,
        line.param ? el("span", { class: "muted", text: ` (field ${line.param})` }) : null));
    }
    if ((problem.totalErrors ?? problem.total_errors ?? 0) > (problem.lines?.length ?? 0)) {
      lines.append(el("li", { class: "muted", text: `… and ${(problem.totalErrors ?? problem.total_errors) - problem.lines.length} more` }));
    }
    // Field problems (name, format…) go next to their field; a field the form lacks is listed.
    let placed = 0, fields = 0;
    for (const [param, messages] of Object.entries(problem.fields ?? {})) {
      fields++;
      if (fieldError(param, messages.join(" "))) placed++;
      else lines.append(el("li", {}, el("strong", { text: `${param}: ` }), messages.join(" ")));
    }
    if (!problem.fields && problem.param && !problem.lines?.length && fieldError(problem.param, problem.detail)) placed = fields = 1;
    if (fields > 0 && placed === fields) detail.textContent = "Nothing was stored: see the fields marked below.";
    errors.hidden = false;
    errors.focus?.();
  }

  form.addEventListener("submit", event => {
    event.preventDefault();
    clearErrors();
    const file = form.querySelector("#upload-file").files[0];
    const name = form.querySelector("#upload-name").value.trim();
    if (!file) { fieldError("file", "Choose a file to upload."); return; }
    if (!name) { fieldError("name", "Give the dataset a name."); return; }

    // Text fields first, the file last: the API has every field when the file's bytes arrive.
    const body = new FormData();
    body.append("name", name);
    const format = form.querySelector("#upload-format").value;
    if (format && format !== "auto") body.append("format", format);
    const description = form.querySelector("#upload-description").value.trim();
    if (description) body.append("description", description);
    body.append("tokenizer", form.querySelector("#upload-tokenizer").value);
    for (const [id, field] of [["#upload-max-length", "max_length"], ["#upload-chunk-chars", "chunk_chars"], ["#upload-overlap-chars", "overlap_chars"]]) {
      const value = form.querySelector(id).value.trim();
      if (value) body.append(field, value);
    }
    for (const [id, field] of [["#upload-reject-over", "reject_over_max_length"], ["#upload-reject-duplicates", "reject_duplicates"]]) {
      if (form.querySelector(id).checked) body.append(field, "true");
    }
    body.append("file", file, file.name);

    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("RequestVerificationToken", Assistant.antiforgery());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", e => { if (e.lengthComputable) progress(e.loaded / e.total); });
    xhr.upload.addEventListener("load", () => { progress(1); state.textContent = "Sent; checking every line…"; });
    xhr.addEventListener("load", () => {
      const answer = xhr.response ?? {};
      if (xhr.status === 401) { location.reload(); return; }
      if (xhr.status >= 200 && xhr.status < 300 && answer.url) {
        state.textContent = answer.deduplicated ? "Identical to an existing version: opening it." : "Stored: opening the new version.";
        location.assign(answer.deduplicated ? `${answer.url}?deduplicated=1` : answer.url);
        return;
      }
      state.textContent = "Nothing was stored.";
      button.disabled = false;
      showProblem(answer.detail || answer.title ? answer : { detail: `The upload failed (HTTP ${xhr.status}).` });
    });
    xhr.addEventListener("error", () => {
      state.textContent = "Nothing was stored.";
      button.disabled = false;
      showProblem({ detail: "The upload could not reach the server; check the connection and try again." });
    });

    row.hidden = false;
    progress(0);
    state.textContent = "Uploading…";
    button.disabled = true;
    xhr.send(body);
  });
})();
