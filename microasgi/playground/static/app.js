// The ASGI playground: live traces over Server-Sent Events, a step-through of each trace
// explained with the protocol guard's transition tables, requests tried in process, and the
// race. Plain JavaScript, no dependencies; every text from a trace goes in as textContent,
// never as HTML.
"use strict";

const base = document.body.dataset.base;
const continuedBy = {
  "http.response.body": "more_body",
  "http.response.trailers": "more_trailers",
  "websocket.http.response.body": "more_body",
};
let protocols = null; // {http: {initial, transitions, allows}, ...}, from the server
let current = null; // {trace, index}: the trace shown and the event highlighted (-1: scope)
const seen = new Set();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// Tabs -------------------------------------------------------------------------------------
const detail = document.getElementById("detail-template").content.firstElementChild.cloneNode(true);

function showView(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.classList.toggle("active", tab.dataset.view === name);
  }
  for (const view of document.querySelectorAll(".view")) {
    view.classList.toggle("hidden", view.id !== "view-" + name);
  }
  const slot = document.querySelector("#view-" + name + " .detail-slot");
  if (slot) slot.append(detail);
}
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => showView(tab.dataset.view));
}
showView("live");

// The protocol: which state each event leaves the connection in --------------------------
function eventKey(event) {
  const flag = continuedBy[event.type];
  if (flag && event.fields[flag] !== "True") return event.type + ", final";
  if (event.type === "http.response.start" && event.fields.trailers === "True") {
    return event.type + ", trailers";
  }
  return event.type;
}

// The state after each event of the trace (receives leave it as it was).
function statesOf(trace) {
  const protocol = protocols && protocols[trace.type];
  if (!protocol) return trace.events.map(() => null);
  let state = protocol.initial;
  return trace.events.map((event) => {
    if (event.direction === "send" && !event.error) {
      const next = (protocol.transitions[state] || {})[eventKey(event)];
      if (next) state = next;
    }
    return state;
  });
}

// The list of live traces ------------------------------------------------------------------
function summary(trace) {
  const scope = trace.scope;
  const start = trace.events.find((event) => event.type.endsWith("response.start"));
  const accept = trace.events.find((event) => event.type === "websocket.accept");
  let outcome = "";
  if (start) outcome = start.fields.status || "";
  else if (accept) outcome = "accepted";
  if (trace.error) outcome = "raised";
  const method = scope.method ? scope.method.replace(/^'|'$/g, "") : "";
  const path = scope.path ? scope.path.replace(/^'|'$/g, "") : "";
  const millis = trace.duration === null ? "" : (trace.duration * 1000).toFixed(1) + " ms";
  return [trace.type, method, path, outcome, millis];
}

function addTrace(trace) {
  const key = trace.number + "@" + trace.started_at;
  if (seen.has(key)) return;
  seen.add(key);
  const list = document.getElementById("traces");
  const empty = list.querySelector(".empty");
  if (empty) empty.remove();
  const [kind, method, path, outcome, millis] = summary(trace);
  const item = el("li", { class: "trace", "data-type": trace.type, "data-path": path },
    el("span", { class: "kind" }, kind), " ", method, " ", path, " ", el("b", {}, String(outcome)),
    " ", el("small", {}, millis));
  item.addEventListener("click", () => {
    for (const other of list.querySelectorAll("li.selected")) other.classList.remove("selected");
    item.classList.add("selected");
    showTrace(trace);
  });
  list.prepend(item); // newest first
  while (list.children.length > 50) list.lastElementChild.remove();
}

// One trace: the scope as a dictionary, the events as a timeline, the stepper ----------------
function formatScope(trace) {
  const lines = Object.entries(trace.scope).map(([key, value]) => "    '" + key + "': " + value + ",");
  return "{\n    'type': '" + trace.type + "',\n" + lines.join("\n") + "\n}";
}

function showTrace(trace) {
  current = { trace, index: -1, states: statesOf(trace) };
  detail.replaceChildren();
  const title = summary(trace).filter(Boolean).join(" ");
  detail.append(el("h2", {}, "Connection " + trace.number + ": " + title));
  detail.append(el("h3", {}, "scope"), el("pre", { class: "scope", id: "scope" }, formatScope(trace)));
  const timeline = el("ol", { class: "timeline", id: "timeline" });
  trace.events.forEach((event, index) => {
    const fields = Object.entries(event.fields).map(([key, value]) => key + "=" + value).join(" ");
    const arrow = event.direction === "receive" ? "\u2190 receive" : "\u2192 send";
    const item = el("li", { class: event.direction, "data-index": String(index) },
      el("span", {}, "+" + (event.time * 1000).toFixed(3) + " ms"),
      el("span", { class: "dir-" + event.direction }, arrow),
      el("span", {}, el("b", {}, event.type), " ", el("span", { class: "fields" }, fields),
        event.error ? el("span", { class: "error" }, " refused: " + event.error) : ""));
    item.addEventListener("click", () => step(index - current.index));
    timeline.append(item);
  });
  if (trace.error) timeline.append(el("li", { class: "raised" }, "", "", el("span", { class: "error" }, "raised " + trace.error)));
  const previous = el("button", { type: "button", id: "prev" }, "\u25c0 previous");
  const next = el("button", { type: "button", id: "next" }, "next \u25b6");
  previous.addEventListener("click", () => step(-1));
  next.addEventListener("click", () => step(1));
  detail.append(el("h3", {}, "events"),
    el("div", { class: "stepper" }, previous, next, el("span", { id: "position" }), el("small", { class: "hint" }, "or the arrow keys")),
    el("div", { class: "explain", id: "explain" }), timeline);
  step(0);
}

function step(by) {
  if (!current) return;
  const last = current.trace.events.length - 1;
  current.index = Math.max(-1, Math.min(last, current.index + by));
  const index = current.index;
  for (const item of detail.querySelectorAll(".timeline li")) {
    item.classList.toggle("current", item.dataset.index === String(index));
  }
  document.getElementById("position").textContent =
    index < 0 ? "the scope" : "event " + (index + 1) + " of " + (last + 1);
  const explain = document.getElementById("explain");
  const protocol = protocols && protocols[current.trace.type];
  if (index < 0) {
    const allows = protocol ? protocol.allows[protocol.initial] : "";
    explain.replaceChildren(el("div", {}, "The server hands the app the scope: what the connection is."),
      el("div", { id: "allows" }, "Next: " + allows));
    return;
  }
  const event = current.trace.events[index];
  const state = current.states[index];
  const keys = Object.keys(event.fields);
  explain.replaceChildren(
    el("div", {}, el("span", { class: "direction " + event.direction, id: "direction" }, event.direction),
      " ", el("b", { id: "event-type" }, event.type),
      event.direction === "receive" ? " (from the server)" : " (to the server)"),
    el("div", { id: "keys" }, "keys: " + (keys.length ? keys.join(", ") : "none besides type")),
    el("div", { id: "allows" }, "Next: " + (protocol && state ? protocol.allows[state] : "(no table for this protocol)")));
}

document.addEventListener("keydown", (press) => {
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (typing || !current) return;
  if (press.key === "ArrowRight") { step(1); press.preventDefault(); }
  if (press.key === "ArrowLeft") { step(-1); press.preventDefault(); }
});

// Try a request ---------------------------------------------------------------------------
const examples = {
  http: { kind: "http", method: "GET", path: "/", headers: "accept: text/plain", body: "", messages: "" },
  stream: { kind: "http", method: "GET", path: "/stream", headers: "", body: "", messages: "" },
  sse: { kind: "http", method: "GET", path: "/events", headers: "accept: text/event-stream", body: "", messages: "" },
  websocket: { kind: "websocket", method: "GET", path: "/ws", headers: "", body: "", messages: "hello\nworld" },
  lifespan: { kind: "lifespan", method: "GET", path: "/", headers: "", body: "", messages: "" },
};
function fillExample(name) {
  for (const [field, value] of Object.entries(examples[name])) {
    document.getElementById(field).value = value;
  }
}
document.getElementById("example").addEventListener("change", (change) => fillExample(change.target.value));
fillExample("http");

async function postJSON(name, data) {
  const response = await fetch(base + "/" + name, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(data),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || "HTTP " + response.status);
  return answer;
}

document.getElementById("try-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const button = document.getElementById("run-try");
  const error = document.getElementById("try-error");
  error.textContent = "";
  button.disabled = true;
  const value = (id) => document.getElementById(id).value;
  try {
    const trace = await postJSON("try", {
      kind: value("kind"), method: value("method"), path: value("path"), headers: value("headers"),
      body: value("body"), messages: value("messages").split("\n").filter((line) => line !== ""),
    });
    showTrace(trace);
  } catch (failure) {
    error.textContent = String(failure.message || failure);
  } finally {
    button.disabled = false;
  }
});

// The race --------------------------------------------------------------------------------
function drawRace(result) {
  const box = document.getElementById("race-result");
  const scale = Math.max(...result.runs.map((run) => run.total)) || 1;
  const percent = (seconds) => (100 * seconds / scale).toFixed(2) + "%";
  box.replaceChildren(el("p", { class: "legend" }, result.count + " requests, each waiting " + result.delay + " s:",
    el("i", { style: "background: var(--wait)" }), "waiting for a worker",
    el("i", { style: "background: var(--work)" }), "in the handler (the I/O wait)"));
  result.runs.forEach((run, number) => {
    const section = el("div", { class: "run", id: "run-" + number },
      el("h3", {}, run.name + ": ", el("span", { class: "total", "data-total": String(run.total) }, run.total.toFixed(2) + " s"), " in all"));
    run.bars.forEach((bar, index) => {
      const track = el("div", { class: "track" },
        el("span", { class: "wait", style: "left:" + percent(bar.start) + ";width:" + percent(bar.begin - bar.start) }),
        el("span", { class: "work", style: "left:" + percent(bar.begin) + ";width:" + percent(bar.end - bar.begin),
          title: "began " + bar.begin.toFixed(2) + " s, finished " + bar.end.toFixed(2) + " s" }));
      section.append(el("div", { class: "lane" }, el("span", {}, "request " + (index + 1)), track));
    });
    box.append(section);
  });
}

document.getElementById("race-form").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const button = document.getElementById("run-race");
  const error = document.getElementById("race-error");
  error.textContent = "";
  button.disabled = true;
  button.textContent = "Running...";
  try {
    drawRace(await postJSON("race", {
      count: Number(document.getElementById("race-count").value),
      delay: Number(document.getElementById("race-delay").value),
    }));
  } catch (failure) {
    error.textContent = String(failure.message || failure);
  } finally {
    button.disabled = false;
    button.textContent = "Run the race";
  }
});

// Start: the tables, then the live stream --------------------------------------------------
async function start() {
  const status = document.getElementById("status");
  try {
    protocols = await (await fetch(base + "/protocol")).json();
  } catch (failure) {
    status.textContent = "could not load the protocol tables";
  }
  const source = new EventSource(base + "/events");
  source.addEventListener("open", () => { status.textContent = "live"; });
  source.addEventListener("error", () => { status.textContent = "reconnecting..."; });
  source.addEventListener("trace", (message) => addTrace(JSON.parse(message.data)));
}
start();
