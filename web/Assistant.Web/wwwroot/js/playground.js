// The playground: posts the conversation to the page's Chat handler, which relays /v1/chat/completions with
// stream: true; the answer is read from the SSE body chunk by chunk and shown as it grows. A model that is not served
// now is loaded on demand before its first token: the status line says so until the answer starts.
(() => {
  const form = document.getElementById("chat-form");
  if (!form || form.hidden) return;
  const { el } = Assistant;
  const conversation = document.getElementById("conversation");
  const input = document.getElementById("chat-input");
  const errorLine = document.getElementById("chat-error");
  const send = document.getElementById("chat-send");
  const stop = document.getElementById("chat-stop");
  const statusLine = document.getElementById("chat-status");
  const picker = document.getElementById("chat-model");
  let messages = [];
  let running = null;

  const bubble = (role, text) => {
    const body = el("div", { class: "bubble-text", text });
    conversation.append(el("div", { class: `bubble ${role}` }, el("span", { class: "visually-hidden", text: role === "user" ? "You: " : "Assistant: " }), body));
    conversation.scrollTop = conversation.scrollHeight;
    return body;
  };
  const showError = text => { errorLine.hidden = !text; errorLine.textContent = text ?? ""; };
  const showStatus = text => { statusLine.textContent = text ?? ""; };
  // The API's own sentence, introduced by what the status means to someone chatting.
  const refusal = async response => {
    const text = await Assistant.problemText(response);
    const what = { 400: "Not sent", 404: "Unknown model", 429: "Too busy", 502: "Gateway error", 503: "Unavailable", 504: "No answer in time" }[response.status];
    return what ? `${what}: ${text}` : text;
  };
  const numberOf = id => { const v = document.getElementById(id).value; return v === "" ? null : Number(v); };

  async function ask(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || running) return;
    showError(null);
    messages.push({ role: "user", content: text });
    const question = bubble("user", text).parentElement;
    input.value = "";
    const answer = bubble("assistant", "");
    answer.parentElement.setAttribute("aria-busy", "true");
    const system = document.getElementById("chat-system").value.trim();
    const model = picker.value;
    // Served now when the version behind the choice is one inference listed (the page marks it); otherwise it loads on demand first.
    const served = picker.selectedOptions[0]?.dataset.served === "true";
    showStatus(served ? `Waiting for ${model}…` : `Loading ${model}…`);
    const body = {
      model,
      messages: system ? [{ role: "system", content: system }, ...messages] : messages,
      temperature: numberOf("chat-temperature"), top_p: numberOf("chat-top-p"), max_tokens: numberOf("chat-max-tokens"),
    };
    running = new AbortController();
    send.disabled = true;
    stop.disabled = false;
    let reply = "";
    try {
      const response = await fetch("/playground?handler=Chat", {
        method: "POST", signal: running.signal, body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", Accept: "text/event-stream", RequestVerificationToken: Assistant.antiforgery() },
      });
      if (response.status === 401) { location.reload(); return; }
      if (!response.ok) throw new Error(await refusal(response));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = block.split("\n").filter(line => line.startsWith("data:")).map(line => line.slice(5).trimStart()).join("\n");
          if (!data || data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message ?? "The model stopped with an error.");
          const piece = chunk.choices?.[0]?.delta?.content ?? "";
          if (piece) showStatus(null);
          reply += piece;
          answer.textContent = reply;
          conversation.scrollTop = conversation.scrollHeight;
        }
      }
      messages.push({ role: "assistant", content: reply });
    } catch (error) {
      if (error.name === "AbortError") {
        if (reply) messages.push({ role: "assistant", content: reply });
        answer.textContent = reply + " [stopped]";
      } else {
        showError(error.message);
        if (!reply) {
          // Nothing came back: the question goes back into the box, to send again.
          answer.parentElement.remove();
          question.remove();
          messages.pop();
          input.value = text;
        }
      }
    } finally {
      showStatus(null);
      answer.parentElement?.setAttribute("aria-busy", "false");
      running = null;
      send.disabled = false;
      stop.disabled = true;
      input.focus();
    }
  }

  form.addEventListener("submit", ask);
  stop.addEventListener("click", () => running?.abort());
  document.getElementById("chat-clear").addEventListener("click", () => { messages = []; conversation.replaceChildren(); showError(null); input.focus(); });
  // Enter sends, Shift+Enter starts a new line.
  input.addEventListener("keydown", e => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
})();
