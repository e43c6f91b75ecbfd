// Labelling a dataset version: accept, reject, edit answers and add examples as pending edits kept in this tab
// (sessionStorage, so paging and searching keep them), listed with a count and undoable; "Commit as new version"
// posts them with a message. A refusal is shown and the edits stay pending.
(() => {
  const { el } = Assistant;
  const data = JSON.parse(document.getElementById("dataset-version-data").textContent);
  const key = `assistant.dataset-edits.${data.name}@${data.version}`;
  const list = document.getElementById("pending-list");
  const count = document.getElementById("pending-count");
  const empty = document.getElementById("pending-empty");
  const commitForm = document.getElementById("commit-form");
  const commitButton = document.getElementById("commit-button");
  const commitError = document.getElementById("commit-error");
  const message = document.getElementById("commit-message");

  /** Pending edits: { op, index?, line?, answer?, example?, preview? } in the order they were made. */
  let pending = load();

  function load() {
    try { return JSON.parse(sessionStorage.getItem(key) ?? "[]"); } catch { return []; }
  }

  function save() {
    if (pending.length) sessionStorage.setItem(key, JSON.stringify(pending));
    else sessionStorage.removeItem(key);
    render();
  }

  const short = text => text.length > 80 ? `${text.substring(0, 77)}…` : text;
  const verbs = { accept: "Accept", reject: "Reject", edit: "Edit answer of", add: "Add" };

  function describe(edit) {
    if (edit.op === "add") return `Add a new example: “${short(edit.preview ?? "")}”`;
    const what = `${verbs[edit.op]} example ${edit.index} (line ${edit.line})`;
    return edit.op === "edit" ? `${what}: “${short(edit.answer)}”` : what;
  }

  function render() {
    count.textContent = String(pending.length);
    count.setAttribute("aria-label", `${pending.length} pending edit${pending.length === 1 ? "" : "s"}`);
    empty.hidden = pending.length > 0;
    commitButton.disabled = pending.length === 0;
    list.replaceChildren(...pending.map((edit, i) => el("li", { "data-op": edit.op, "data-index": edit.index },
      el("span", { class: "pending-text", text: describe(edit) }),
      el("button", { type: "button", class: "link", "data-undo": i, text: "Undo", "aria-label": `Undo: ${describe(edit)}` }))));
    // Each example on this page shows what is pending for it.
    document.querySelectorAll("li.example").forEach(item => {
      const edit = pending.find(e => e.op !== "add" && e.index === Number(item.dataset.index));
      const badge = item.querySelector(".pending-badge");
      item.dataset.pending = edit?.op ?? "";
      badge.hidden = !edit;
      badge.textContent = edit ? `pending: ${edit.op === "edit" ? "edited" : edit.op === "accept" ? "accepted" : "rejected"}` : "";
    });
  }

  /** One edit per example: a new one replaces the old (the API refuses two edits of one example in a commit). */
  function put(edit) {
    pending = pending.filter(e => e.op === "add" || e.index !== edit.index);
    pending.push(edit);
    commitError.hidden = true;
    save();
  }

  list.addEventListener("click", event => {
    const undo = event.target.closest("[data-undo]");
    if (!undo) return;
    pending.splice(Number(undo.dataset.undo), 1);
    save();
    (list.querySelector("[data-undo]") ?? message).focus();
  });

  document.getElementById("examples")?.addEventListener("click", event => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const item = button.closest("li.example");
    const index = Number(item.dataset.index), line = Number(item.dataset.line);
    const panel = item.querySelector(".edit-answer");
    const editButton = item.querySelector('[data-action="edit"]');
    const closePanel = () => { panel.hidden = true; editButton.setAttribute("aria-expanded", "false"); editButton.focus(); };
    switch (button.dataset.action) {
      case "accept":
      case "reject":
        put({ op: button.dataset.action, index, line });
        break;
      case "edit": {
        const textarea = panel.querySelector("textarea");
        const existing = pending.find(e => e.op === "edit" && e.index === index);
        textarea.value = existing?.answer ?? item.dataset.answer ?? "";
        panel.hidden = false;
        button.setAttribute("aria-expanded", "true");
        textarea.focus();
        break;
      }
      case "keep-edit": {
        const answer = panel.querySelector("textarea").value;
        const error = panel.querySelector(".field-error");
        if (!answer.trim()) {
          error.textContent = "An answer cannot be empty; reject the example instead.";
          error.hidden = false;
          return;
        }
        error.hidden = true;
        put({ op: "edit", index, line, answer });
        closePanel();
        break;
      }
      case "cancel-edit":
        closePanel();
        break;
    }
  });

  const addForm = document.getElementById("add-form");
  addForm.addEventListener("submit", event => {
    event.preventDefault();
    const value = id => document.getElementById(id)?.value.trim() ?? "";
    const prompt = value("add-prompt"), answer = value("add-answer"), system = value("add-system"), text = value("add-text");
    let example;
    switch (addForm.dataset.format) {
      case "text": example = { text }; break;
      case "context_response": example = { context: prompt, response: answer }; break;
      case "prompt_completion": example = { prompt, completion: answer }; break;
      case "alpaca": example = { instruction: prompt, input: "", output: answer }; break;
      default: example = { messages: [...(system ? [{ role: "system", content: system }] : []), { role: "user", content: prompt }, { role: "assistant", content: answer }] };
    }
    pending.push({ op: "add", example, preview: text || `${prompt} → ${answer}` });
    commitError.hidden = true;
    save();
    addForm.reset();
  });

  commitForm.addEventListener("submit", async event => {
    event.preventDefault();
    if (pending.length === 0) return;
    commitButton.disabled = true;
    commitError.hidden = true;
    try {
      const response = await fetch(commitForm.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json", RequestVerificationToken: Assistant.antiforgery() },
        body: JSON.stringify({
          message: message.value,
          edits: pending.map(e => e.op === "add" ? { op: "add", example: e.example } : e.op === "edit" ? { op: "edit", index: e.index, answer: e.answer } : { op: e.op, index: e.index }),
        }),
      });
      if (response.status === 401) { location.reload(); return; }
      if (!response.ok) throw new Error(await refusal(response));
      const created = await response.json();
      pending = [];
      sessionStorage.removeItem(key);
      location.assign(created.url);
    } catch (error) {
      commitError.textContent = `Not committed: ${error.message} Your pending edits are kept.`;
      commitError.hidden = false;
      commitButton.disabled = pending.length === 0;
    }
  });

  /** The API's refusal, naming the edit at fault (edits[2].index) as the pending list shows it. */
  async function refusal(response) {
    const { text, param } = await Assistant.problem(response);
    const at = /^edits\[(\d+)\]/.exec(param ?? "");
    if (at && pending[Number(at[1])]) return `${text} (${describe(pending[Number(at[1])])})`;
    return param === "message" ? text : text + (param ? ` (${param})` : "");
  }

  render();
})();
