// Keeps the status table live: polls the page's JSON handler and redraws the rows.
(() => {
  const body = document.getElementById("services");
  const checkedAt = document.getElementById("checked-at");
  const cell = (tag, text) => { const el = document.createElement(tag); el.textContent = text; return el; };

  async function refresh() {
    try {
      const response = await fetch("?handler=Status", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const status = await response.json();
      body.replaceChildren(...status.services.map(s => {
        const row = document.createElement("tr");
        row.dataset.service = s.name;
        const head = cell("th", s.name); head.scope = "row";
        const state = s.needsKey ? "locked" : s.up ? "up" : "down";
        const pill = cell("span", state); pill.className = `pill ${state}`;
        const stateCell = document.createElement("td"); stateCell.append(pill);
        row.append(head, cell("td", s.role), stateCell, cell("td", s.detail),
          cell("td", s.latencyMs == null ? "" : `${Math.round(s.latencyMs * 10) / 10} ms`));
        return row;
      }));
      const at = new Date(status.checkedAt);
      checkedAt.dateTime = status.checkedAt;
      checkedAt.textContent = `${at.toISOString().substring(11, 19)} UTC`;
    } catch { /* the next poll tries again */ }
  }
  setInterval(refresh, 5000);
})();
