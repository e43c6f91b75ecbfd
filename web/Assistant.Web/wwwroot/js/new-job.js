// LoRA's rank matters only for LoRA: its fields show only then (the server ignores them otherwise). The sweep's
// fields show only when a sweep is chosen, and the button says what it creates.
(() => {
  const checked = name => document.querySelector(`input[name="${name}"]:checked`)?.value;
  const sync = () => {
    const lora = checked("Form.Method") === "lora", sweep = checked("Form.Create") === "sweep";
    document.getElementById("lora-fields").hidden = !lora;
    document.getElementById("sweep-lora-fields").hidden = !lora;
    document.getElementById("sweep-fields").hidden = !sweep;
    document.getElementById("create-button").textContent = sweep ? "Create sweep" : "Create job";
  };
  document.querySelectorAll('input[name="Form.Method"], input[name="Form.Create"]').forEach(radio => radio.addEventListener("change", sync));
  sync();
})();
