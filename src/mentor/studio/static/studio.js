// Mentor Studio: failed actions show the server's error text; the chat page streams from /v1/chat/completions.
"use strict";

function showError(text) {
  const flash = document.getElementById("flash");
  if (!flash) return;
  flash.className = "";
  flash.textContent = text;
  flash.scrollIntoView({block: "nearest"});
}

function errorText(body, status) {
  // OpenAI-style error objects ({"error": {"message": ...}}) from the API and the studio routes alike
  try {
    const parsed = JSON.parse(body);
    if (parsed && parsed.error && parsed.error.message) return parsed.error.message;
  } catch (e) { /* not JSON: show the text */ }
  return (body || "").trim() || ("HTTP " + status);
}

document.addEventListener("htmx:responseError", (e) => {
  showError(errorText(e.detail.xhr.responseText, e.detail.xhr.status));
});
document.addEventListener("htmx:sendError", () => showError("The server could not be reached."));
document.addEventListener("htmx:beforeRequest", () => {
  const flash = document.getElementById("flash");
  if (flash) flash.textContent = "";
});

// -- chat -----------------------------------------------------------------------------------------------
const chat = {histories: {}};

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

function column(model, index) {
  const id = "col-" + index;
  let box = document.getElementById(id);
  if (!box || box.dataset.model !== model) {
    if (box) box.remove();
    box = el("section", "column");
    box.id = id;
    box.dataset.model = model;
    box.setAttribute("aria-label", model);
    box.appendChild(el("h2", "", model));
    box.appendChild(el("div", "log"));
    document.getElementById("columns").appendChild(box);
    chat.histories[id] = [];
  }
  return box;
}

function labels() {
  return JSON.parse(document.getElementById("columns").dataset.labels);
}

function showMeta(target, meta, citations) {
  const L = labels();
  const parts = [];
  if (meta) {
    if (meta.route) parts.push(L.route + ": " + meta.route + (meta.routed_by ? " (" + meta.routed_by + ")" : ""));
    if (meta.tool_calls && meta.tool_calls.length) parts.push(L.tools + ": " + JSON.stringify(meta.tool_calls));
    if (meta.guard && meta.guard.length) parts.push(L.guard + ": " + JSON.stringify(meta.guard));
    if (meta.citations && meta.citations.length) citations = meta.citations;
  }
  if (parts.length) target.appendChild(el("div", "meta", parts.join(" · ")));
  if (citations && citations.length) {
    const list = el("ol", "meta citations");
    list.setAttribute("aria-label", L.citations);
    for (const c of citations) {
      const item = el("li");
      const details = el("details");
      const where = [c.source ? c.source.split("/").pop() : "", c.location || "", c.heading || ""].filter(Boolean).join(" · ");
      details.appendChild(el("summary", "", "[" + (c.n || "") + "] " + where + (c.cited ? " ✓" : "")));
      details.appendChild(el("div", "", c.text || ""));
      item.appendChild(details);
      list.appendChild(item);
    }
    target.appendChild(list);
  }
}

function feedbackControls(target, responseId) {
  const L = labels();
  const box = el("form", "feedback");
  const up = el("button", "secondary", "👍");
  up.type = "button";
  up.setAttribute("aria-label", L.up);
  const down = el("button", "secondary", "👎");
  down.type = "button";
  down.setAttribute("aria-label", L.down);
  const label = el("label", "", L.correction);
  const correction = el("textarea");
  correction.rows = 2;
  correction.name = "correction";
  label.appendChild(correction);
  const status = el("span", "meta");
  status.setAttribute("role", "status");
  async function send(rating) {
    const body = {id: responseId, rating: rating};
    if (correction.value.trim()) body.correction = correction.value;
    const r = await fetch("/v1/feedback", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Mentor-Studio": "1"}, body: JSON.stringify(body)});
    const text = await r.text();
    if (!r.ok) { showError(errorText(text, r.status)); return; }
    status.textContent = L.thanks;
  }
  up.addEventListener("click", () => send(1));
  down.addEventListener("click", () => send(-1));
  box.append(up, down, label, status);
  target.appendChild(box);
}

async function ask(box, model, settings, message) {
  const log = box.querySelector(".log");
  const history = chat.histories[box.id];
  log.appendChild(el("div", "turn user", message));
  const answer = el("div", "turn assistant");
  answer.setAttribute("aria-live", "polite");
  log.appendChild(answer);
  const messages = [];
  if (settings.system) messages.push({role: "system", content: settings.system});
  messages.push(...history, {role: "user", content: message});
  const started = performance.now();
  const r = await fetch("/v1/chat/completions", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-Mentor-Studio": "1"},
    body: JSON.stringify({model: model, messages: messages, stream: true, temperature: settings.temperature,
                          top_p: settings.top_p, max_tokens: settings.max_tokens})});
  if (!r.ok) {
    const text = errorText(await r.text(), r.status);
    answer.classList.add("error");
    answer.textContent = text;
    showError(model + ": " + text);
    return;
  }
  const reader = r.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "", text = "", meta = null, citations = null, responseId = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = event.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("");
      if (!data || data === "[DONE]") continue;
      const chunk = JSON.parse(data);
      if (chunk.error) { showError(model + ": " + chunk.error.message); continue; }
      responseId = chunk.id || responseId;
      if (chunk.mentor) meta = chunk.mentor;
      if (chunk.citations) citations = chunk.citations;
      const delta = chunk.choices && chunk.choices[0] && chunk.choices[0].delta;
      if (delta && delta.content) {
        if (!text) answer.dataset.firstTokenMs = String(Math.round(performance.now() - started));
        text += delta.content;
        answer.textContent = text;
      }
    }
  }
  answer.dataset.done = "1";
  history.push({role: "user", content: message}, {role: "assistant", content: text});
  showMeta(log, meta, citations);
  if (model.startsWith("app:") && responseId) feedbackControls(log, responseId);
}

function setupChat() {
  const form = document.getElementById("chat-form");
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const models = data.getAll("model").filter(Boolean);
    const message = (data.get("message") || "").trim();
    if (!message || !models.length) return;
    const settings = {system: (data.get("system") || "").trim(), temperature: Number(data.get("temperature")),
                      top_p: Number(data.get("top_p")), max_tokens: Number(data.get("max_tokens"))};
    document.getElementById("flash").textContent = "";
    const wanted = new Set(models.map((m, i) => "col-" + i));
    for (const old of document.querySelectorAll(".column")) if (!wanted.has(old.id)) old.remove();
    models.forEach((model, i) => ask(column(model, i), model, settings, message).catch((err) => showError(model + ": " + err)));
    form.querySelector("#message").value = "";
  });
  document.getElementById("clear").addEventListener("click", () => {
    document.getElementById("columns").textContent = "";
    chat.histories = {};
  });
}

document.addEventListener("DOMContentLoaded", setupChat);
