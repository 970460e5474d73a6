/**
 * The dashboard: one self-contained page (no build step, no external assets) served by the admin
 * handler. It holds no data: it asks for the admin token, keeps it in the tab's sessionStorage,
 * and calls the admin API with it. Data is put into the page with textContent and SVG DOM calls,
 * never as HTML.
 */
import { PUBLIC_STATUSES } from "../engine/status.js";

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2330; --muted: #667085; --bg: #fff; --panel: #f5f6f8;
  --line: #d8dce3; --accent: #2f6fed; --ok: #1a8a4a; --bad: #c9372c; --warn: #b7791f; --wait: #7a5af8; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e8ee; --muted: #98a2b3; --bg: #11151c;
  --panel: #1a2029; --line: #2b3340; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 12px; align-items: center; flex-wrap: wrap; padding: 10px 16px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 16px; margin: 0 8px 0 0; }
main { display: grid; grid-template-columns: minmax(280px, 420px) 1fr; min-height: calc(100vh - 56px); }
@media (max-width: 760px) { main { grid-template-columns: 1fr; } }
section { padding: 12px 16px; min-width: 0; }
#list { border-right: 1px solid var(--line); }
select, input, button, textarea { font: inherit; color: inherit; }
select, input, textarea { background: var(--bg); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
button { border: 1px solid var(--line); background: var(--panel); border-radius: 6px; padding: 6px 12px; cursor: pointer; min-height: 36px; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:disabled { opacity: .5; cursor: default; }
table { width: 100%; border-collapse: collapse; }
td, th { text-align: left; padding: 8px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 500; font-size: 12px; }
tr.instance { cursor: pointer; }
tr.instance:hover, tr.instance.selected { background: var(--panel); }
.id { font-family: ui-monospace, monospace; word-break: break-all; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; color: #fff; background: var(--muted); }
.badge.complete { background: var(--ok); } .badge.errored { background: var(--bad); }
.badge.running, .badge.queued { background: var(--accent); } .badge.waiting { background: var(--wait); }
.badge.paused, .badge.waitingForPause { background: var(--warn); } .badge.terminated { background: #555; }
.actions { display: flex; gap: 8px; flex-wrap: wrap; margin: 12px 0; }
pre { background: var(--panel); padding: 10px; border-radius: 6px; overflow: auto; max-height: 260px; margin: 6px 0 12px; }
.filters { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: 8px; }
#timeline { width: 100%; overflow-x: auto; }
#timeline svg text { font-size: 11px; fill: var(--fg); }
.legend { display: flex; gap: 12px; flex-wrap: wrap; font-size: 12px; color: var(--muted); margin: 4px 0 8px; }
.legend i { display: inline-block; width: 12px; height: 10px; border-radius: 2px; margin-right: 4px; vertical-align: middle; }
#login { max-width: 420px; margin: 12vh auto; padding: 24px; border: 1px solid var(--line); border-radius: 10px; }
#login input { width: 100%; margin: 8px 0 12px; }
.error { color: var(--bad); }
`;

// The page's script. Plain ES2020, no dependencies.
const SCRIPT = `
const BASE = document.body.dataset.base;
const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value; else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value); else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
};
const SVG = "http://www.w3.org/2000/svg";
const svg = (tag, attrs = {}) => { const node = document.createElementNS(SVG, tag); for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v); return node; };
// \`shown\` is the instance the panel displays ({ workflow, id }): the actions act on it and nothing
// else. \`opening\` is the id a click asked for, until its data arrives; \`loads\` numbers the clicks'
// loads and \`refreshes\` the quiet ones, so that an answer overtaken by a later load is dropped.
const state = { workflow: null, shown: null, opening: null, loads: 0, refreshes: 0, cursor: null, timer: null };
const ACTIONS = ["#pause", "#resume", "#terminate", "#restart", "#send-event"];

async function api(path, options = {}) {
  const response = await fetch(BASE + "/api" + path, {
    ...options,
    headers: { authorization: "Bearer " + sessionStorage.getItem("workflows-token"), "content-type": "application/json" },
  });
  if (response.status === 401) { sessionStorage.removeItem("workflows-token"); showLogin("That token was not accepted."); throw new Error("unauthorized"); }
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.name + ": " + body.error.message : response.statusText);
  return body;
}

function showLogin(message) {
  $("#app").hidden = true; $("#login").hidden = false;
  $("#login-error").textContent = message || "";
}

async function start() {
  if (!sessionStorage.getItem("workflows-token")) return showLogin();
  try {
    const { workflows } = await api("/workflows");
    $("#login").hidden = true; $("#app").hidden = false;
    const select = $("#workflow"); select.replaceChildren();
    for (const w of workflows) select.append(el("option", { value: w.binding }, w.name + " (" + w.binding + ")"));
    state.workflow = workflows[0] && workflows[0].binding;
    await loadList();
    state.timer = setInterval(refresh, 2000);
  } catch (error) { if (error.message !== "unauthorized") showLogin(error.message); }
}

async function refresh() {
  if (document.hidden) return;
  // With more pages loaded, the list stays as it is (a refresh would drop them); the open instance still updates.
  if (!state.extraPages) await loadList(true).catch(() => {});
  // Skipped while a click opens an instance: that load decides what the panel shows.
  if (state.shown) await loadInstance(state.shown.id, true);
}

function filters(params) {
  const status = $("#status").value; if (status) params.set("status", status);
  for (const [input, name] of [["#created-after", "createdAfter"], ["#created-before", "createdBefore"]]) {
    const value = $(input).value; if (value) params.set(name, new Date(value).toISOString());
  }
  return params;
}

async function loadList(keep) {
  if (!state.workflow) return;
  state.extraPages = false;
  const params = filters(new URLSearchParams());
  params.set("limit", "50");
  const page = await api("/workflows/" + encodeURIComponent(state.workflow) + "/instances?" + params);
  const rows = page.instances.map((i) => el("tr", { class: "instance" + (state.shown && i.id === state.shown.id ? " selected" : ""), dataset: { id: i.id }, onclick: () => loadInstance(i.id).catch(() => {}) },
    el("td", { class: "id" }, i.id),
    el("td", {}, el("span", { class: "badge " + i.status }, i.status + (i.queuePosition ? " #" + i.queuePosition : ""))),
    el("td", { class: "muted" }, new Date(i.createdAt).toLocaleString())));
  $("#instances").replaceChildren(...rows);
  $("#empty").hidden = rows.length > 0;
  $("#more").hidden = !page.cursor;
  state.cursor = page.cursor;
  await loadSchedules().catch(() => {});
}

async function loadSchedules() {
  if (!state.workflow) return;
  const base = "/workflows/" + encodeURIComponent(state.workflow) + "/schedules";
  const { schedules } = await api(base);
  const toggle = (s) => api(base + "/" + (s.paused ? "resume" : "pause"), { method: "POST", body: JSON.stringify({ cron: s.cron }) }).then(loadSchedules, () => {});
  const rows = schedules.map((s) => el("tr", {},
    el("td", { class: "id" }, s.cron),
    el("td", {}, el("span", { class: "badge " + (s.paused ? "paused" : "running") }, s.paused ? "paused" : "running")),
    el("td", { class: "muted" }, s.nextRunAt ? new Date(s.nextRunAt).toLocaleString() : "-"),
    el("td", { class: "muted" }, s.lastRunAt ? new Date(s.lastRunAt).toLocaleString() : "-"),
    el("td", {}, el("button", { type: "button", onclick: () => toggle(s) }, s.paused ? "Resume" : "Pause"))));
  $("#schedule-rows").replaceChildren(...rows);
  $("#schedules").hidden = rows.length === 0;
}

async function loadMore() {
  const params = filters(new URLSearchParams({ limit: "50", cursor: state.cursor }));
  state.extraPages = true;
  const page = await api("/workflows/" + encodeURIComponent(state.workflow) + "/instances?" + params);
  for (const i of page.instances) $("#instances").append(el("tr", { class: "instance" + (state.shown && i.id === state.shown.id ? " selected" : ""), dataset: { id: i.id }, onclick: () => loadInstance(i.id).catch(() => {}) },
    el("td", { class: "id" }, i.id), el("td", {}, el("span", { class: "badge " + i.status }, i.status + (i.queuePosition ? " #" + i.queuePosition : ""))), el("td", { class: "muted" }, new Date(i.createdAt).toLocaleString())));
  $("#more").hidden = !page.cursor; state.cursor = page.cursor;
}

function markSelected() {
  const id = state.shown && state.shown.id;
  for (const row of document.querySelectorAll("tr.instance")) row.classList.toggle("selected", row.dataset.id === id);
}

function hideDetail() {
  state.shown = null; state.history = null;
  $("#detail").hidden = true; $("#placeholder").hidden = false;
  markSelected();
}

// The instance and its steps for the timeline, a page of history at a time, up to HISTORY_PAGES
// pages. The timeline shows no step's output, so none is fetched (maxValueBytes=0).
const HISTORY_PAGES = 5, HISTORY_PAGE = 1000;
async function loadHistory(base) {
  const steps = [];
  let history, cursor;
  for (let page = 0; page < HISTORY_PAGES; page++) {
    const params = new URLSearchParams({ limit: String(HISTORY_PAGE), maxValueBytes: "0" });
    if (cursor) params.set("cursor", cursor);
    history = await api(base + "/history?" + params);
    steps.push(...history.steps);
    cursor = history.cursor;
    if (!cursor) break;
  }
  return { ...history, steps, more: !!cursor };
}

// Shows the instance once its data has arrived, and only then makes it the one the actions act on.
// A click that fails to load leaves no instance open (the panel says why), so an action never acts
// on an instance other than the one displayed. A quiet load (the refresh, after an action) only
// updates the displayed instance, and keeps it on screen if it fails.
async function loadInstance(id, quiet) {
  const workflow = state.workflow;
  let load, refresh;
  if (quiet) {
    if (state.opening || !state.shown || state.shown.id !== id || state.shown.workflow !== workflow) return;
    load = state.loads; refresh = ++state.refreshes;
  } else {
    load = ++state.loads; state.opening = id;
    // Until the new data arrives, the buttons act on nothing.
    if (!state.shown || state.shown.id !== id) for (const button of ACTIONS) $(button).disabled = true;
  }
  // Dropped if a click (or a switch of workflow) came since, or, for a refresh, a newer refresh.
  const overtaken = () => load !== state.loads || (quiet && (refresh !== state.refreshes || state.opening));
  const base = "/workflows/" + encodeURIComponent(workflow) + "/instances/" + encodeURIComponent(id);
  let history;
  try { history = await loadHistory(base); }
  catch (error) {
    if (overtaken() || quiet) return;
    state.opening = null;
    hideDetail();
    $("#load-error").hidden = false;
    $("#load-error").textContent = "Could not open " + id + ": " + error.message;
    return;
  }
  if (overtaken()) return;
  if (!quiet) state.opening = null;
  state.shown = { workflow, id: history.id };
  markSelected();
  $("#load-error").hidden = true;
  $("#detail").hidden = false; $("#placeholder").hidden = true;
  $("#detail-id").textContent = history.id;
  const badge = $("#detail-status"); badge.className = "badge " + history.status; badge.textContent = history.status + (history.queuePosition ? " #" + history.queuePosition + " in the queue" : "");
  $("#detail-times").textContent = "created " + new Date(history.createdAt).toLocaleString() + (history.endedAt ? " · ended " + new Date(history.endedAt).toLocaleString() : "");
  $("#params").textContent = JSON.stringify(history.params, null, 2);
  $("#result-label").textContent = history.error ? "Error" : "Output";
  $("#result").textContent = history.error ? history.error.name + ": " + history.error.message : history.output === undefined ? "(none yet)" : JSON.stringify(history.output, null, 2);
  $("#result").classList.toggle("error", !!history.error);
  const final = ["complete", "errored", "terminated"].includes(history.status);
  $("#pause").disabled = final || history.status === "paused";
  $("#resume").disabled = !["paused", "waitingForPause"].includes(history.status);
  $("#terminate").disabled = final;
  $("#restart").disabled = false;
  $("#send-event").disabled = final;
  drawTimeline(history);
  $("#more-steps").hidden = !history.more;
  $("#more-steps").textContent = "Showing the first " + history.steps.length + " steps; the CLI's history --cursor pages through the rest.";
  if (!quiet) $("#message").textContent = "";
}

function drawTimeline(history) {
  state.history = history;
  const rows = [];
  for (const step of history.steps) {
    const label = step.name + (step.index > 1 ? " #" + step.index : "");
    const bars = [];
    if (step.type === "do" || step.type === "rollback") {
      step.attempts.forEach((a, i) => {
        const next = step.attempts[i + 1];
        // The wait between a failed attempt and the next one: the retry delay.
        if (next && a.endedAt && next.startedAt) bars.push({ start: a.endedAt, end: next.startedAt, kind: "delay", title: "retry delay before attempt " + next.attempt });
        bars.push({ start: a.startedAt, end: a.endedAt, kind: a.outcome === "success" ? "ok" : a.outcome === "error" ? "bad" : "run", title: "attempt " + a.attempt + ": " + (a.error ? a.error.name + ": " + a.error.message : a.outcome) });
      });
      if (step.nextAttemptAt) bars.push({ start: step.attempts.length ? step.attempts[step.attempts.length - 1].endedAt : step.startedAt, end: step.nextAttemptAt, kind: "delay", title: "retry delay until " + new Date(step.nextAttemptAt).toLocaleString() });
    } else if (step.type === "sleep") {
      bars.push({ start: step.startedAt, end: step.endedAt || step.wakeAt, kind: "sleep", title: "sleep" + (step.wakeAt ? " until " + new Date(step.wakeAt).toLocaleString() : "") });
    } else {
      bars.push({ start: step.startedAt, end: step.endedAt || step.timeoutAt, kind: step.state === "errored" ? "bad" : "wait", title: "waitForEvent(" + step.eventType + "): " + step.state });
    }
    rows.push({ label, type: step.type, bars, state: step.state });
  }
  const now = Date.now();
  const t = (value) => (value ? new Date(value).getTime() : now);
  let min = t(history.createdAt), max = t(history.endedAt);
  for (const row of rows) for (const bar of row.bars) { min = Math.min(min, t(bar.start)); max = Math.max(max, Math.min(t(bar.end), Math.max(now, t(history.endedAt)))); }
  if (max <= min) max = min + 1;
  const width = Math.max(320, $("#timeline").clientWidth - 4), labelWidth = Math.min(180, width * 0.35), rowHeight = 24, top = 22;
  const scale = (value) => labelWidth + ((Math.min(t(value), max) - min) / (max - min)) * (width - labelWidth - 8);
  const chart = svg("svg", { width, height: top + rows.length * rowHeight + 8, role: "img", "aria-label": "step timeline" });
  chart.append(Object.assign(svg("text", { x: labelWidth, y: 14 }), { textContent: "0" }));
  const total = svg("text", { x: width - 8, y: 14, "text-anchor": "end" }); total.textContent = formatDuration(max - min); chart.append(total);
  const colors = { ok: "var(--ok)", bad: "var(--bad)", run: "var(--accent)", delay: "var(--warn)", sleep: "var(--muted)", wait: "var(--wait)" };
  rows.forEach((row, i) => {
    const y = top + i * rowHeight;
    const text = svg("text", { x: 0, y: y + 15 }); text.textContent = row.label + (row.type === "sleep" ? " (sleep)" : row.type === "waitForEvent" ? " (event)" : row.type === "rollback" ? " (rollback)" : ""); chart.append(text);
    chart.append(svg("line", { x1: labelWidth, x2: width - 8, y1: y + rowHeight - 2, y2: y + rowHeight - 2, stroke: "var(--line)" }));
    for (const bar of row.bars) {
      const x = scale(bar.start), w = Math.max(3, scale(bar.end) - x);
      const rect = svg("rect", { x, y: y + 4, width: w, height: rowHeight - 10, rx: 3, fill: colors[bar.kind], "data-kind": bar.kind, opacity: bar.kind === "delay" || bar.kind === "sleep" ? 0.55 : 1 });
      const title = svg("title"); title.textContent = bar.title; rect.append(title); chart.append(rect);
    }
  });
  $("#timeline").replaceChildren(chart);
  $("#no-steps").hidden = rows.length > 0;
}

function formatDuration(ms) {
  if (ms < 1000) return Math.round(ms) + " ms";
  if (ms < 120000) return (ms / 1000).toFixed(1) + " s";
  if (ms < 7200000) return Math.round(ms / 60000) + " min";
  return (ms / 3600000).toFixed(1) + " h";
}

// Acts on the instance the panel displays, whatever was clicked since.
async function act(action, body) {
  const shown = state.shown; if (!shown || (state.opening && state.opening !== shown.id)) return;
  try {
    const base = "/workflows/" + encodeURIComponent(shown.workflow) + "/instances/" + encodeURIComponent(shown.id);
    await api(base + "/" + action, { method: "POST", body: JSON.stringify(body || {}) });
    $("#message").textContent = action + ": done";
    await loadInstance(shown.id, true);
    await loadList(true);
  } catch (error) { $("#message").textContent = error.message; }
}

$("#login").addEventListener("submit", (event) => { event.preventDefault(); sessionStorage.setItem("workflows-token", $("#token").value.trim()); start(); });
$("#workflow").addEventListener("change", (event) => {
  state.workflow = event.target.value; state.loads++; state.opening = null; hideDetail(); $("#load-error").hidden = true; loadList();
});
for (const filter of ["#status", "#created-after", "#created-before"]) $(filter).addEventListener("change", () => loadList());
$("#more").addEventListener("click", loadMore);
$("#create-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("#create-id").value.trim();
  let params;
  try { params = $("#create-params").value.trim() ? JSON.parse($("#create-params").value) : undefined; }
  catch { $("#create-message").textContent = "the params must be JSON"; return; }
  // One create per click: without an id, a second request would create a second instance.
  $("#create").disabled = true;
  try {
    const created = await api("/workflows/" + encodeURIComponent(state.workflow) + "/instances", { method: "POST", body: JSON.stringify(id ? { id, params } : { params }) });
    $("#create-message").textContent = "created " + created.id;
    $("#create-id").value = "";
    await loadList(true); await loadInstance(created.id);
  } catch (error) { $("#create-message").textContent = error.message; }
  finally { $("#create").disabled = false; }
});
$("#pause").addEventListener("click", () => act("pause"));
$("#resume").addEventListener("click", () => act("resume"));
$("#terminate").addEventListener("click", () => act("terminate"));
$("#restart").addEventListener("click", () => act("restart"));
$("#event-form").addEventListener("submit", (event) => {
  event.preventDefault();
  let payload;
  try { payload = $("#event-payload").value.trim() ? JSON.parse($("#event-payload").value) : undefined; }
  catch { $("#message").textContent = "the payload must be JSON"; return; }
  act("events", { type: $("#event-type").value, payload });
});
window.addEventListener("resize", () => { if (state.history) drawTimeline(state.history); });
$("#logout").addEventListener("click", () => { sessionStorage.removeItem("workflows-token"); clearInterval(state.timer); showLogin(); });
start();
`;

let policy: Promise<string> | undefined;

/**
 * The page's Content-Security-Policy. Its one script runs because its SHA-256 is listed (computed
 * once, the script being the same for every page: the base path is read from the body's data), so
 * no other inline script, injected or not, would.
 */
export function dashboardPolicy(): Promise<string> {
	policy ??= crypto.subtle.digest("SHA-256", new TextEncoder().encode(SCRIPT)).then((digest) => {
		const hash = btoa(String.fromCharCode(...new Uint8Array(digest)));
		return `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
	});
	return policy;
}

/** The dashboard page for an admin handler mounted at `base`. */
export function dashboardHtml(base: string): string {
	const options = PUBLIC_STATUSES.map((s) => `<option value="${s}">${s}</option>`).join("");
	return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Workflows · do-workflows</title>
<style>${STYLE}</style>
</head>
<body data-base="${base}">
<form id="login" hidden>
  <h1>Workflows</h1>
  <p class="muted">Enter the admin token (the Worker's <code>WORKFLOWS_ADMIN_TOKEN</code> secret). It is kept in this tab only.</p>
  <label for="token">Admin token</label>
  <input id="token" type="password" autocomplete="current-password" required>
  <button class="primary" type="submit">Open dashboard</button>
  <p id="login-error" class="error" role="alert"></p>
</form>
<div id="app" hidden>
  <header>
    <h1>Workflows</h1>
    <select id="workflow" aria-label="workflow"></select>
    <span class="muted" style="flex:1"></span>
    <button id="logout" type="button">Sign out</button>
  </header>
  <main>
    <section id="list">
      <div id="schedules" hidden>
        <table><thead><tr><th>schedule</th><th>state</th><th>next run</th><th>last run</th><th></th></tr></thead><tbody id="schedule-rows"></tbody></table>
      </div>
      <div class="filters">
        <select id="status" aria-label="status filter"><option value="">all statuses</option>${options}</select>
        <label class="muted">after <input id="created-after" type="datetime-local" aria-label="created after"></label>
        <label class="muted">before <input id="created-before" type="datetime-local" aria-label="created before"></label>
      </div>
      <form id="create-form" class="actions">
        <input id="create-id" placeholder="new instance id (optional)" aria-label="new instance id" maxlength="100">
        <input id="create-params" placeholder='params (JSON), e.g. {"orderId":"42"}' aria-label="new instance params">
        <button id="create" class="primary">Create</button>
      </form>
      <div id="create-message" class="muted" role="status"></div>
      <table><thead><tr><th>instance</th><th>status</th><th>created</th></tr></thead><tbody id="instances"></tbody></table>
      <p id="empty" class="muted" hidden>No instances.</p>
      <button id="more" type="button" hidden>Load more</button>
    </section>
    <section>
      <p id="placeholder" class="muted">Select an instance to see its steps.</p>
      <p id="load-error" class="error" role="alert" hidden></p>
      <div id="detail" hidden>
        <h2 style="margin:0 0 4px;font-size:16px"><span id="detail-id" class="id"></span> <span id="detail-status" class="badge"></span></h2>
        <div id="detail-times" class="muted"></div>
        <div class="actions">
          <button id="pause" type="button">Pause</button>
          <button id="resume" type="button">Resume</button>
          <button id="terminate" type="button">Terminate</button>
          <button id="restart" type="button">Restart</button>
        </div>
        <form id="event-form" class="actions">
          <input id="event-type" placeholder="event type" required aria-label="event type">
          <input id="event-payload" placeholder='payload (JSON), e.g. {"approved":true}' aria-label="event payload">
          <button id="send-event" class="primary">Send event</button>
        </form>
        <div id="message" class="muted" role="status"></div>
        <h3 style="font-size:14px;margin:12px 0 0">Steps</h3>
        <div class="legend"><span><i style="background:var(--ok)"></i>attempt ok</span><span><i style="background:var(--bad)"></i>failed</span><span><i style="background:var(--accent)"></i>running</span><span><i style="background:var(--warn);opacity:.55"></i>retry delay</span><span><i style="background:var(--muted);opacity:.55"></i>sleep</span><span><i style="background:var(--wait)"></i>event wait</span></div>
        <div id="timeline"></div>
        <p id="no-steps" class="muted" hidden>No steps yet.</p>
        <p id="more-steps" class="muted" hidden></p>
        <h3 style="font-size:14px;margin:12px 0 0" id="result-label">Output</h3>
        <pre id="result"></pre>
        <h3 style="font-size:14px;margin:12px 0 0">Params</h3>
        <pre id="params"></pre>
      </div>
    </section>
  </main>
</div>
<script>${SCRIPT}</script>
</body>
</html>`;
}
