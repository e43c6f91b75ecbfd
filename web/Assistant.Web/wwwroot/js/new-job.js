// LoRA's rank matters only for LoRA: the field shows only then (the server ignores it otherwise).
(() => {
  const lora = document.getElementById("lora-fields");
  const methods = document.querySelectorAll('input[name="Form.Method"]');
  const sync = () => { lora.hidden = document.querySelector('input[name="Form.Method"]:checked')?.value !== "lora"; };
  methods.forEach(radio => radio.addEventListener("change", sync));
  sync();
})();
