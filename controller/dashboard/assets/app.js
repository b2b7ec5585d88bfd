// The Phoenix Operator dashboard. Pages are views of JSON boards under /api/v1/boards/<name>,
// kept live with Server-Sent Events (/api/v1/boards/<name>/events). Everything is rendered
// with textContent (never innerHTML), so nothing an object carries can run as script here.
// Buttons (later) send POSTs with the X-Phoenix-CSRF header copied from the phx_csrf cookie.
"use strict";

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)phx_csrf=([0-9a-f]+)/);
  return m ? m[1] : "";
}

// For the pages to come (approvals): every write goes through here.
async function post(path, body) {
  const r = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-Phoenix-CSRF": csrfToken() },
    body: JSON.stringify(body),
  });
  return r;
}
window.phxPost = post;

function showError(text) {
  const e = $("error");
  e.textContent = text;
  e.hidden = !text;
}

function setLive(on, text) {
  const l = $("live");
  l.className = "live " + (on ? "on" : "off");
  l.textContent = text;
}

function ms(v) {
  if (v === undefined || v === null) return "-";
  return v < 1000 ? v + " ms" : (v / 1000).toFixed(1) + " s";
}

function ago(iso) {
  if (!iso) return "-";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  return Math.floor(s / 3600) + "h ago";
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function renderPhoenix(b) {
  const page = $("page-phoenix");
  page.dataset.failovers = String(b.failoversTotal);
  page.dataset.inProgress = String(b.failoversInProgress);
  $("t-services").textContent = b.services;
  $("t-instances").textContent = b.readyInstances + " / " + b.totalInstances;
  $("t-capacity").textContent = b.capacityPercent + "%";
  $("t-failovers").textContent = b.failoversTotal;
  $("t-today").textContent = b.failoversToday === undefined ? "-" : b.failoversToday;
  $("t-reaction").textContent = b.meanReactionMs === undefined ? "-" : ms(b.meanReactionMs);
  const last = b.lastFailover;
  $("t-last").textContent = last
    ? last.service + ", " + ago(last.time) + (last.reactionMs !== undefined ? ", reacted in " + ms(last.reactionMs) : "")
    : "none seen";

  const prog = b.inProgress || [];
  $("progress").hidden = prog.length === 0;
  const pl = $("progress-list");
  pl.replaceChildren();
  for (const p of prog) {
    const li = document.createElement("li");
    li.textContent = p.service + ": primary " + p.failedPod + " failed; serving now: " + (p.primary || "(none yet)");
    pl.appendChild(li);
  }
  if (prog.length > 0) page.dataset.sawProgress = "true";

  const rows = $("rows");
  rows.replaceChildren();
  for (const it of b.items || []) {
    const tr = document.createElement("tr");
    tr.dataset.service = it.service;
    if (it.failoverInProgress) tr.className = "failing";
    cell(tr, it.service);
    cell(tr, it.phase, "phase-" + it.phase);
    cell(tr, it.primary || "-");
    cell(tr, it.readyInstances + " / " + it.totalInstances);
    cell(tr, it.capacityPercent + "%");
    cell(tr, it.failovers);
    cell(tr, ago(it.lastFailoverTime));
    cell(tr, ms(it.lastFailoverReactionMs));
    rows.appendChild(tr);
  }
  $("updated").textContent = "Updated " + new Date().toLocaleTimeString() + " (" + b.scope + " view)";
}

// Why a stream or fetch was refused, in words.
async function explain(path) {
  try {
    const r = await fetch(path, { credentials: "same-origin" });
    if (r.ok) return "";
    const j = await r.json().catch(() => ({}));
    return r.status + " " + (j.error || r.statusText);
  } catch (e) {
    return "cannot reach the operator: " + e;
  }
}

function watch(board, render) {
  const path = "/api/v1/boards/" + board;
  const es = new EventSource(path + "/events");
  es.addEventListener("open", () => { setLive(true, "live"); showError(""); });
  es.addEventListener("board", (ev) => render(JSON.parse(ev.data)));
  es.addEventListener("denied", () => { es.close(); explain(path).then(showError); setLive(false, "refused"); });
  es.addEventListener("error", () => {
    setLive(false, "reconnecting");
    if (es.readyState === EventSource.CLOSED) {
      explain(path).then((why) => { showError(why); setLive(false, "refused"); });
    }
  });
}

async function main() {
  const who = await fetch("/api/v1/whoami", { credentials: "same-origin" });
  if (!who.ok) {
    showError(who.status + " " + ((await who.json().catch(() => ({}))).error || who.statusText));
    setLive(false, "refused");
    return;
  }
  $("user").textContent = (await who.json()).user;
  watch("phoenix", renderPhoenix);
}

main();
