// What the page scripts share: building elements, fetching the pages' JSON handlers, formatting like the server.
window.Assistant = (() => {
  /** An element with attributes (class, text, data-*, anything else) and children. */
  function el(tag, attributes = {}, ...children) {
    const svg = ["svg", "polyline", "line", "text", "g", "rect", "title"].includes(tag);
    const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.setAttribute("class", value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** GETs a page handler's JSON; a 401 means the session ended, so the page reloads into the sign-in page. */
  async function getJson(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (response.status === 401) {
      location.reload();
      throw new Error("The session ended.");
    }
    if (!response.ok) throw new Error(await problemText(response));
    return response.json();
  }

  /** A failed response as { text, param }: the problem's detail (RFC 7807) or OpenAI's error message, and the field it names. */
  async function problem(response) {
    try {
      const body = await response.json();
      return { text: body.detail || body.error?.message || body.title || `HTTP ${response.status}`, param: body.param ?? body.error?.param ?? null };
    } catch {
      return { text: `HTTP ${response.status} ${response.statusText}`, param: null };
    }
  }

  /** The readable sentence of a failed response. */
  const problemText = async response => (await problem(response)).text;

  function number(value) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "–";
    const abs = Math.abs(value);
    if (Number.isInteger(value) && abs < 1e15) return value.toLocaleString("en-US");
    if (value !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(2);
    if (abs >= 100) return Math.round(value).toLocaleString("en-US");
    return String(Math.round(value * 10000) / 10000);
  }

  const time = iso => iso ? `${iso.substring(0, 10)} ${iso.substring(11, 19)} UTC` : "–";
  const statusLabel = status => status.replaceAll("_", " ");
  const antiforgery = () => document.querySelector('input[name="__RequestVerificationToken"]')?.value ?? "";

  /** Redraws the service status table (status page and dashboard). */
  function renderServices(status) {
    const body = document.getElementById("services");
    const checkedAt = document.getElementById("checked-at");
    if (!body) return;
    body.replaceChildren(...status.services.map(s => el("tr", { "data-service": s.name },
      el("th", { scope: "row", text: s.name }),
      el("td", { "data-label": "Role", text: s.role }),
      el("td", { "data-label": "State" }, el("span", { class: `pill ${pill(s)}`, text: pill(s) })),
      el("td", { "data-label": "Detail", text: s.detail }),
      el("td", { "data-label": "Latency", text: s.latencyMs == null ? "" : `${Math.round(s.latencyMs * 10) / 10} ms` }))));
    if (checkedAt) {
      checkedAt.dateTime = status.checkedAt;
      checkedAt.textContent = `${new Date(status.checkedAt).toISOString().substring(11, 19)} UTC`;
    }
  }

  /** Shows or hides a section's parts: the error line, the empty note and the table. */
  function showSection(name, section) {
    const error = document.getElementById(`${name}-error`);
    const empty = document.getElementById(`${name}-empty`);
    if (error) { error.hidden = !section.error; error.textContent = section.error ?? ""; }
    if (empty) empty.hidden = section.items.length > 0 || !!section.error;
  }

  return { el, getJson, problem, problemText, number, time, statusLabel, antiforgery, renderServices, showSection };
})();

// up, down, or locked when the gateway wants a key (scope) this session does not have.
function pill(service) {
  return service.needsKey || service.needs_key ? "locked" : service.up ? "up" : "down";
}
