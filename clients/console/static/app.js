// The propolis console: hash-routed views over /api, refreshed when the read model moves.
"use strict";

const view = document.getElementById("view");
const live = document.getElementById("live");
let current = null; // {render: async () => void} of the view on screen
let lastPositions = "";
let replay = null; // {instanceKey, steps, index} while replaying an instance

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function time(ms) { return ms ? new Date(ms).toLocaleString() : ""; }
function badge(state) { return `<span class="badge ${esc(state)}">${esc(state)}</span>`; }

class SignInNeeded extends Error {}
async function api(path, options = {}) {
  const response = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = await response.json();
  if (response.status === 401 && path !== "/api/login") throw new SignInNeeded(body.error);
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// -- signing in (only when the broker runs with auth on) ------------------------------------------
const userLabel = document.getElementById("user");
const logoutButton = document.getElementById("logout");
function showUser(session) {
  const signedIn = Boolean(session && session.user);
  userLabel.hidden = logoutButton.hidden = !signedIn;
  if (signedIn) userLabel.textContent = `${session.user} (tenants: ${session.tenants.join(", ")})`;
}
function loginView(message) {
  showUser(null);
  view.dataset.key = "";
  view.innerHTML = `<form id="login" class="login"><h2>Sign in</h2>
    <p>Use a client id and secret from the broker's auth configuration.</p>
    <label>Client id <input name="clientId" autocomplete="username" required></label>
    <label>Client secret <input name="clientSecret" type="password" autocomplete="current-password" required></label>
    <button type="submit">Sign in</button><p class="notice" id="login-error">${esc(message || "")}</p></form>`;
  document.getElementById("login").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      showUser(await post("/api/login", { clientId: form.get("clientId"), clientSecret: form.get("clientSecret") }));
      lastPositions = "";
      await refresh(true);
    } catch (error) {
      document.getElementById("login-error").textContent = error.message;
    }
  });
}
logoutButton.addEventListener("click", async () => { await post("/api/logout"); loginView(); });
async function post(path, body) { return api(path, { method: "POST", body: JSON.stringify(body || {}) }); }

// -- diagrams -------------------------------------------------------------------------------
const viewers = new Map(); // container id -> {viewer, xml}
async function diagram(containerId, xml) {
  let entry = viewers.get(containerId);
  const container = document.getElementById(containerId);
  if (!entry || entry.container !== container) {
    entry = { viewer: new BpmnJS({ container }), xml: null, container };
    viewers.set(containerId, entry);
  }
  if (entry.xml !== xml) {
    await entry.viewer.importXML(xml);
    entry.viewer.get("canvas").zoom("fit-viewport");
    entry.xml = xml;
  }
  return entry.viewer;
}
function clearMarks(viewer) {
  const overlays = viewer.get("overlays");
  overlays.remove({ type: "counts" });
  const canvas = viewer.get("canvas");
  viewer.get("elementRegistry").forEach((element) => {
    for (const marker of ["token-here", "incident-here", "flow-taken", "replay-step"]) canvas.removeMarker(element.id, marker);
  });
}
function countsOverlay(viewer, elementId, counts) {
  if (!viewer.get("elementRegistry").get(elementId)) return;
  const parts = ["active", "incident", "completed", "canceled"]
    .filter((k) => counts[k] > 0)
    .map((k) => `<span class="${k}" data-kind="${k}" title="${k}">${counts[k]}</span>`).join("");
  if (!parts) return;
  viewer.get("overlays").add(elementId, "counts", {
    position: { bottom: 8, right: 8 },
    html: `<div class="overlay" data-element="${esc(elementId)}">${parts}</div>`,
  });
}

// -- views ------------------------------------------------------------------------------------
async function processesView() {
  const { items } = await api("/api/processes");
  view.innerHTML = `<h1>Processes</h1>
    <table id="processes"><tr><th>Process</th><th>Version</th><th>Tenant</th><th>Active</th><th>Incidents</th><th>Completed</th><th>Canceled</th><th>Deployed</th></tr>
    ${items.map((p) => `<tr data-process="${esc(p.bpmn_process_id)}" data-version="${p.version}">
      <td><a href="#/process/${p.key}">${esc(p.bpmn_process_id)}</a></td><td>${p.version}</td><td>${esc(p.tenant_id)}</td>
      <td class="num active">${p.active}</td><td class="num incident">${p.incident}</td><td class="num completed">${p.completed}</td>
      <td class="num canceled">${p.canceled}</td><td>${time(p.deployed_ms)}</td></tr>`).join("")}
    </table>${items.length ? "" : `<p class="muted">Nothing deployed yet: <code>propolis deploy FILE.bpmn</code></p>`}`;
}

async function processView(key) {
  const process = await api(`/api/processes/${key}`);
  if (!document.getElementById("process-canvas") || view.dataset.key !== String(key)) {
    view.dataset.key = String(key);
    view.innerHTML = `<h1>${esc(process.bpmn_process_id)} <span class="muted">version ${process.version}</span></h1>
      <p id="process-counts"></p><div id="process-canvas" class="canvas"></div>
      <p><a href="#/instances?definition=${key}">Instances of this version</a></p>`;
  }
  document.getElementById("process-counts").innerHTML =
    `${badge("ACTIVE")} ${process.active} ${badge("INCIDENT")} ${process.incident} ${badge("COMPLETED")} ${process.completed} ${badge("CANCELED")} ${process.canceled}`;
  const viewer = await diagram("process-canvas", process.bpmn_xml);
  clearMarks(viewer);
  for (const [elementId, counts] of Object.entries(process.elements)) {
    countsOverlay(viewer, elementId, counts);
    if (counts.incident > 0) viewer.get("canvas").addMarker(elementId, "incident-here");
  }
}

function filtersFrom(hash) {
  return new URLSearchParams(hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : "");
}
async function instancesView(hash) {
  const params = filtersFrom(hash);
  const page = await api(`/api/instances?${params}`);
  const field = (name, label, type = "text") =>
    `<label>${label}<input name="${name}" type="${type}" value="${esc(params.get(name) || "")}"></label>`;
  view.innerHTML = `<h1>Instances</h1>
    <form class="filters" id="filters">
      ${field("process", "Process id")}${field("version", "Version", "number")}
      <label>State<select name="state">${["", "ACTIVE", "INCIDENT", "COMPLETED", "CANCELED"].map((s) =>
        `<option ${params.get("state") === s ? "selected" : ""}>${s}</option>`).join("")}</select></label>
      <label>Incident<select name="incident">${["", "true", "false"].map((s) =>
        `<option ${params.get("incident") === s ? "selected" : ""}>${s}</option>`).join("")}</select></label>
      ${field("tenant", "Tenant")}${field("variable", "Variable")}${field("value", "equals (JSON)")}
      ${field("startFrom", "Started after (ms)", "number")}${field("endTo", "Ended before (ms)", "number")}
      <button>Filter</button></form>
    <table id="instances"><tr><th>Key</th><th>Process</th><th>Version</th><th>State</th><th>Tenant</th><th>Started</th><th>Ended</th></tr>
    ${page.items.map((i) => `<tr data-key="${i.key}"><td><a href="#/instance/${i.key}">${i.key}</a></td><td>${esc(i.bpmn_process_id)}</td>
      <td>${i.version}</td><td>${badge(i.state)}</td><td>${esc(i.tenant_id)}</td><td>${time(i.start_ms)}</td><td>${time(i.end_ms)}</td></tr>`).join("")}
    </table>
    ${page.nextCursor ? `<p><a id="next-page" href="#/instances?${new URLSearchParams({ ...Object.fromEntries(params), cursor: page.nextCursor })}">Next page</a></p>` : ""}`;
  document.getElementById("filters").onsubmit = (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    for (const [k, v] of new FormData(event.target)) if (v) chosen.set(k, v);
    location.hash = `#/instances?${chosen}`;
  };
}

async function instanceView(key) {
  const instance = await api(`/api/instances/${key}`);
  const process = await api(`/api/processes/${instance.process_definition_key}`);
  const fresh = view.dataset.key !== `i${key}` || !document.getElementById("instance-canvas");
  if (fresh) {
    view.dataset.key = `i${key}`;
    view.innerHTML = `<h1>Instance ${key} <span id="instance-state"></span></h1>
      <p class="muted">${esc(instance.bpmn_process_id)} version ${instance.version}, tenant ${esc(instance.tenant_id)}</p>
      <p><button id="cancel" class="danger">Cancel instance</button>
         <button id="replay" class="secondary">Replay history</button>
         <button id="replay-next" class="secondary" hidden>Next step</button> <span id="replay-status" class="muted"></span></p>
      <div id="action-error" class="error"></div>
      <div id="instance-canvas" class="canvas"></div>
      <div class="row"><div><h2>Incidents</h2><div id="incidents"></div><h2>Variables</h2><div id="variables"></div></div>
      <div><h2>Timeline</h2><div id="timeline"></div></div></div>`;
    document.getElementById("cancel").onclick = () => act(() => post(`/api/instances/${key}/cancel`));
    document.getElementById("replay").onclick = () => startReplay(key);
    document.getElementById("replay-next").onclick = () => stepReplay();
    replay = null;
  }
  document.getElementById("instance-state").innerHTML = badge(instance.state);
  document.getElementById("cancel").disabled = !["ACTIVE", "INCIDENT"].includes(instance.state);
  const viewer = await diagram("instance-canvas", process.bpmn_xml);
  if (!replay) {
    clearMarks(viewer);
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    for (const flowId of instance.taken_flows) if (registry.get(flowId)) canvas.addMarker(flowId, "flow-taken");
    for (const element of instance.elements) {
      if (element.state === "ACTIVE" && registry.get(element.element_id)) canvas.addMarker(element.element_id, "token-here");
    }
    for (const incident of instance.incidents) {
      if (incident.state === "OPEN" && registry.get(incident.element_id)) canvas.addMarker(incident.element_id, "incident-here");
    }
  }
  const open = instance.incidents.filter((i) => i.state === "OPEN");
  document.getElementById("incidents").innerHTML = open.length ? `<table id="incident-table"><tr><th>Element</th><th>Type</th><th>Message</th><th>Job</th><th></th></tr>
    ${open.map((i) => `<tr data-incident="${i.key}"><td>${esc(i.element_id)}</td><td>${esc(i.error_type)}</td><td class="error">${esc(i.error_message)}</td>
      <td class="mono">${i.job_key > 0 ? i.job_key : ""}</td>
      <td>${i.job_key > 0 ? `<input class="retries" type="number" min="1" value="3" style="width:4em" title="new retries">` : ""}
      <button class="resolve" data-key="${i.key}" data-job="${i.job_key}">Retry</button></td></tr>`).join("")}</table>`
    : `<p class="muted">No open incidents</p>`;
  for (const button of document.querySelectorAll("button.resolve")) {
    button.onclick = () => {
      const input = button.parentElement.querySelector("input.retries");
      act(() => post(`/api/incidents/${button.dataset.key}/resolve`, {
        jobKey: Number(button.dataset.job), retries: input ? Number(input.value) : undefined,
      }));
    };
  }
  const editing = document.activeElement && document.activeElement.closest && document.activeElement.closest("#variables");
  if (!editing) {
    document.getElementById("variables").innerHTML = `<table id="variable-table"><tr><th>Scope</th><th>Name</th><th>Value (JSON)</th><th></th></tr>
      ${instance.variables.map((v) => `<tr data-name="${esc(v.name)}"><td class="mono">${v.scope_key === instance.key ? "process" : v.scope_key}</td><td>${esc(v.name)}</td>
        <td><textarea rows="1" cols="28" class="mono">${esc(JSON.stringify(v.value))}</textarea></td>
        <td><button class="save-variable secondary" data-scope="${v.scope_key}" data-name="${esc(v.name)}">Save</button></td></tr>`).join("")}</table>`;
    for (const button of document.querySelectorAll("button.save-variable")) {
      button.onclick = () => {
        let value;
        try { value = JSON.parse(button.closest("tr").querySelector("textarea").value); } catch (error) {
          document.getElementById("action-error").textContent = `Not JSON: ${error.message}`; return;
        }
        act(() => post(`/api/instances/${key}/variables`, { scopeKey: Number(button.dataset.scope), variables: { [button.dataset.name]: value } }));
      };
    }
  }
  const { items } = await api(`/api/instances/${key}/timeline`);
  document.getElementById("timeline").innerHTML = `<table id="timeline-table"><tr><th>Time</th><th>Record</th><th>Element</th></tr>
    ${items.map((t) => `<tr><td>${time(t.timestamp_ms)}</td><td>${esc(t.value_type)} ${esc(t.intent)}</td><td>${esc(t.element_id)}</td></tr>`).join("")}</table>`;
}

async function act(action) {
  const error = document.getElementById("action-error");
  error.textContent = "";
  try { await action(); await refresh(true); } catch (e) { error.textContent = e.message; }
}

// Replay: walk the instance's records on the diagram, one element step at a time.
async function startReplay(key) {
  const { items } = await api(`/api/instances/${key}/timeline`);
  const steps = items.filter((t) => t.element_id && t.value_type === "PROCESS_INSTANCE");
  replay = { key, steps, index: 0 };
  document.getElementById("replay-next").hidden = false;
  stepReplay();
}
function stepReplay() {
  const entry = viewers.get("instance-canvas");
  if (!replay || !entry) return;
  const viewer = entry.viewer;
  const canvas = viewer.get("canvas");
  const registry = viewer.get("elementRegistry");
  if (replay.index === 0) clearMarks(viewer);
  registry.forEach((e) => canvas.removeMarker(e.id, "replay-step"));
  const step = replay.steps[replay.index];
  if (!step) {
    document.getElementById("replay-status").textContent = "replay finished";
    document.getElementById("replay-next").hidden = true;
    replay = null;
    return;
  }
  if (registry.get(step.element_id)) {
    const marker = step.intent === "SEQUENCE_FLOW_TAKEN" ? "flow-taken" : "replay-step";
    canvas.addMarker(step.element_id, marker);
    if (step.intent === "ELEMENT_ACTIVATED") canvas.addMarker(step.element_id, "token-here");
    if (["ELEMENT_COMPLETED", "ELEMENT_TERMINATED"].includes(step.intent)) canvas.removeMarker(step.element_id, "token-here");
  }
  replay.index += 1;
  document.getElementById("replay-status").textContent = `step ${replay.index} of ${replay.steps.length}: ${step.element_id} ${step.intent}`;
}

// -- routing and live updates -------------------------------------------------------------------
function route() {
  const hash = location.hash || "#/";
  let match;
  if ((match = hash.match(/^#\/process\/(-?\d+)/))) return () => processView(match[1]);
  if ((match = hash.match(/^#\/instance\/(-?\d+)/))) return () => instanceView(match[1]);
  if (hash.startsWith("#/instances")) return () => instancesView(hash);
  return () => processesView();
}
async function refresh(force = false) {
  try {
    const { positions } = await api("/api/changes");
    live.classList.remove("stale");
    const now = JSON.stringify(positions);
    if (!force && now === lastPositions) return;
    lastPositions = now;
    await current();
  } catch (error) {
    if (error instanceof SignInNeeded) {
      if (!document.getElementById("login")) loginView();
      return;
    }
    live.classList.add("stale");
    if (force || !view.innerHTML) view.innerHTML = `<p class="notice">${esc(error.message)}</p>`;
  }
}
window.addEventListener("hashchange", () => { current = route(); view.dataset.key = ""; refresh(true); });
current = route();
api("/api/session").then(showUser).catch(() => {});
refresh(true);
setInterval(() => { if (!replay) refresh(); }, 1000);
