// Keeps the status table live: polls the page's JSON handler and redraws the rows.
(() => {
  async function refresh() {
    try {
      Assistant.renderServices(await Assistant.getJson("/status?handler=Status"));
    } catch { /* the next poll tries again */ }
  }
  setInterval(refresh, 5000);
})();
