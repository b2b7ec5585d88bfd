// The Phoenix Operator dashboard. Pages are views of JSON boards under /api/v1/boards/<name>,
// kept live with Server-Sent Events (/api/v1/boards/<name>/events). Everything is rendered
// with textContent (never innerHTML), so nothing an object carries can run as script here.
// Buttons send POSTs with the X-Phoenix-CSRF header copied from the phx_csrf cookie.
"use strict";

const $ = (id) => document.getElementById(id);

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)phx_csrf=([0-9a-f]+)/);
  return m ? m[1] : "";
}

// Every write goes through here.
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

function span(s) {
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  return Math.floor(s / 3600) + "h";
}

function ago(iso) {
  if (!iso) return "-";
  return span(Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000))) + " ago";
}

// A deadline: "in 59m", or "3m ago" once past.
function due(iso) {
  if (!iso) return "-";
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s >= 0 ? "in " + span(s) : span(-s) + " ago";
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

let current = null; // the open EventSource of the page shown

function watch(board, render) {
  watchPath("/api/v1/boards/" + board, render);
}

function watchPath(path, render) {
  if (current) current.close();
  const es = new EventSource(path + "/events");
  current = es;
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

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function link(text, href) {
  const a = el("a", text);
  a.href = href;
  return a;
}

function pct(v) { return v === undefined ? "-" : v + "%"; }

function dur(a, b) {
  if (!a) return "-";
  const end = b ? Date.parse(b) : Date.now();
  return ms(Math.max(0, end - Date.parse(a)));
}

// ---- the pipeline summary and the queue

function renderPipeline(b) {
  const i = b.intents || {}, bu = b.builds || {};
  $("p-today").textContent = i.today;
  $("p-completed").textContent = i.completed;
  $("p-failed").textContent = i.failed;
  $("p-rate").textContent = pct(i.successRate);
  $("p-duration").textContent = ms(i.avgDurationMs);
  $("p-active").textContent = i.active;
  $("b-total").textContent = bu.total;
  $("b-queued").textContent = bu.queued;
  $("b-running").textContent = bu.running;
  $("b-completed").textContent = bu.completed;
  $("b-failed").textContent = bu.failed;
  $("b-rate").textContent = pct(bu.successRate);
  $("b-duration").textContent = ms(bu.avgBuildMs);
  const rows = $("active-rows");
  rows.replaceChildren();
  for (const a of b.active || []) {
    const tr = el("tr");
    tr.dataset.intent = a.namespace + "/" + a.name;
    cell(tr, a.namespace + "/" + a.name);
    cell(tr, a.service || "-");
    cell(tr, a.priority || "-");
    cell(tr, a.phase, "phase-" + a.phase);
    const td = el("td");
    if (a.build) td.appendChild(link(a.build, "#/build/" + a.namespace + "/" + a.build));
    else td.textContent = "-";
    tr.appendChild(td);
    cell(tr, ago(a.since));
    rows.appendChild(tr);
  }
  const q = $("queue-rows");
  q.replaceChildren();
  for (const e of b.queue || []) {
    const tr = el("tr");
    tr.dataset.intent = e.namespace + "/" + e.name;
    cell(tr, e.position);
    cell(tr, e.namespace + "/" + e.name);
    cell(tr, e.priority || "-");
    cell(tr, ago(e.enqueuedAt));
    cell(tr, due(e.slaDeadline) + (e.slaBreached ? " (breached)" : ""), e.slaBreached ? "res-Fail" : "");
    if (e.slaDeadline) tr.lastChild.title = e.slaDeadline;
    q.appendChild(tr);
  }
  $("page-pipeline").dataset.ready = "true";
  $("p-updated").textContent = "Updated " + new Date().toLocaleTimeString() + " (" + b.scope + " view" + (b.synced ? "" : b.buildsListed ? ", still loading" : ", Builds not listed: is the Build CRD installed?") + ")";
}

// ---- a SPEC (Markdown) as DOM nodes: headings, lists, code blocks, paragraphs, `code` and
// **bold**; every piece of text goes through textContent, so no HTML in it is ever parsed.

function inline(parent, text) {
  const re = /(`[^`]+`|\*\*[^*]+\*\*)/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    const t = m[0];
    parent.appendChild(t[0] === "`" ? el("code", t.slice(1, -1)) : el("strong", t.slice(2, -2)));
    last = m.index + t.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

function renderMarkdown(text) {
  const root = el("div", null, "spec");
  let list = null, para = null, code = null;
  for (const line of text.split("\n")) {
    if (code) {
      if (line.startsWith("```")) { root.appendChild(code); code = null; } else code.textContent += line + "\n";
      continue;
    }
    if (line.startsWith("```")) { list = para = null; code = el("pre"); continue; }
    const h = line.match(/^(#{1,4})\s+(.*)$/);
    const li = line.match(/^\s*(?:[-*]|\d+\.)\s+(.*)$/);
    if (h) {
      list = para = null;
      const e = el("h" + Math.min(5, h[1].length + 2));
      inline(e, h[2]);
      root.appendChild(e);
    } else if (li) {
      para = null;
      if (!list) { list = el("ul"); root.appendChild(list); }
      const e = el("li");
      inline(e, li[1]);
      list.appendChild(e);
    } else if (!line.trim()) {
      list = para = null;
    } else {
      list = null;
      if (!para) { para = el("p"); root.appendChild(para); } else para.appendChild(document.createTextNode(" "));
      inline(para, line);
    }
  }
  if (code) root.appendChild(code);
  return root;
}

// ---- approvals

async function decide(it, decision, card) {
  const reason = card.querySelector("input").value.trim();
  const res = card.querySelector(".result");
  if (!reason) { res.className = "result bad"; res.textContent = "A reason is required: it is recorded with the decision."; return; }
  for (const b of card.querySelectorAll("button")) b.disabled = true;
  const r = await post("/api/v1/approvals", { kind: it.kind, namespace: it.namespace, name: it.name,
    gate: it.gate, decision, reason });
  const j = await r.json().catch(() => ({}));
  res.dataset.status = String(r.status);
  if (r.ok) {
    res.className = "result ok";
    res.textContent = (decision === "Approve" ? "Approved" : "Denied") + " as " + j.approver + " (approval/" + j.approval + ")";
  } else {
    res.className = "result bad";
    res.textContent = r.status + " " + (j.error || r.statusText);
    for (const b of card.querySelectorAll("button")) b.disabled = false;
  }
}

function approvalCard(it) {
  const card = el("div", null, "card");
  card.dataset.key = it.kind + "/" + it.namespace + "/" + it.name;
  const title = el("h3");
  if (it.kind === "Build") title.appendChild(link("Build " + it.namespace + "/" + it.name, "#/build/" + it.namespace + "/" + it.name));
  else title.textContent = "Intent " + it.namespace + "/" + it.name;
  card.appendChild(title);
  card.appendChild(el("div", "gate " + it.gate + " \u00b7 generation " + it.generation + " \u00b7 " +
    (it.service ? "service " + it.service + " \u00b7 " : "") + (it.priority ? "priority " + it.priority + " \u00b7 " : "") +
    "waiting since " + ago(it.created), "meta"));
  if (it.purpose) card.appendChild(el("p", it.purpose));
  if (it.message) card.appendChild(el("p", it.message, "foot"));
  const g = it.governance;
  if (g) {
    card.appendChild(el("div", "Governance score " + (g.score !== undefined ? Number(g.score).toFixed(2) : "-") +
      " \u00b7 risk " + (g.riskLevel || "-") + " \u00b7 " + (g.decision || "") + " (" + (g.mode || "") + " mode)", "meta score"));
    const t = el("table", null, "gov");
    for (const r of g.results || []) {
      const tr = el("tr");
      cell(tr, r.rule);
      cell(tr, r.result, "res-" + r.result);
      cell(tr, r.severity || "");
      cell(tr, r.message || "");
      t.appendChild(tr);
    }
    card.appendChild(t);
  }
  if (it.specReview) card.appendChild(el("div", "SPEC score " + it.specReview.score + " after " + it.specReview.passes + " passes", "meta"));
  if (it.spec !== undefined) {
    card.appendChild(renderMarkdown(it.spec));
    if (it.specTruncated) card.appendChild(el("div", "(SPEC cut at 64 KiB)", "foot"));
  }
  if (it.image) card.appendChild(el("div", "image " + it.image + (it.previousImage ? " (replaces " + it.previousImage + ")" : ""), "meta"));
  if (!it.mayDecide) card.appendChild(el("div", "You may not create approvals in namespace " + it.namespace + ": a decision will be refused.", "hint"));
  const row = el("div", null, "decide");
  const input = el("input");
  input.placeholder = "Reason (recorded with the decision)";
  input.maxLength = 1024;
  const ok = el("button", "Approve", "approve");
  const no = el("button", "Deny", "deny");
  ok.addEventListener("click", () => decide(it, "Approve", card));
  no.addEventListener("click", () => decide(it, "Deny", card));
  row.append(input, ok, no);
  card.appendChild(row);
  card.appendChild(el("div", "", "result"));
  return card;
}

// What waits, live (the same stream as the boards): a card whose item did not change stays as
// it is, and so does one being decided (a reason typed, or a result shown) until it is gone
// from the list and decided.
function renderApprovals(j) {
  const box = $("approvals");
  const keep = new Map();
  for (const c of box.children) keep.set(c.dataset.key, c);
  const busy = (c) => c.querySelector(".result").textContent || c.querySelector("input").value;
  let i = 0;
  for (const it of j.items || []) {
    const key = it.kind + "/" + it.namespace + "/" + it.name;
    const json = JSON.stringify(it);
    const old = keep.get(key);
    const card = old && (old.dataset.json === json || busy(old)) ? old : approvalCard(it);
    card.dataset.json = json;
    // Nodes move only when the order changed (moving one would take the focus from its input).
    if (old && card !== old) old.remove();
    if (box.children[i] !== card) box.insertBefore(card, box.children[i] || null);
    keep.delete(key);
    i++;
  }
  // Gone from the list: kept while it shows its decision's result, else removed.
  for (const c of keep.values()) if (!c.querySelector(".result").textContent) c.remove();
  $("a-empty").hidden = box.children.length > 0;
  $("page-approvals").dataset.ready = "true";
}

// ---- a Build's detail, live

// The followed log (pods/log?follow of a step's container, relayed by the operator over SSE).
let logES = null, logKey = "";

function followLog(b, step) {
  const key = b.namespace + "/" + b.name + "/" + step;
  if (key === logKey) return;
  if (logES) logES.close();
  logKey = key;
  const pre = $("bd-live");
  pre.textContent = "";
  $("bd-live-step").textContent = step;
  $("bd-live-state").textContent = "following";
  const es = new EventSource("/api/v1/builds/" + encodeURIComponent(b.namespace) + "/" +
    encodeURIComponent(b.name) + "/log?step=" + encodeURIComponent(step));
  logES = es;
  es.addEventListener("log", (ev) => {
    pre.appendChild(document.createTextNode(JSON.parse(ev.data).text));
    pre.scrollTop = pre.scrollHeight;
  });
  es.addEventListener("end", (ev) => {
    const e = JSON.parse(ev.data);
    es.close();
    $("bd-live-state").textContent = e.error ? "ended: " + e.error : e.truncated ? "ended (cut at 1 MiB)" : "ended";
    $("page-build").dataset.logEnded = "true";
  });
  es.addEventListener("error", () => {
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      explain("/api/v1/builds/" + b.namespace + "/" + b.name + "/log?step=" + step)
        .then((why) => { $("bd-live-state").textContent = why || "ended"; });
    }
  });
}

function stopLog() {
  if (logES) logES.close();
  logES = null;
  logKey = "";
}

function renderBuild(b) {
  $("bd-title").textContent = "Build " + b.namespace + "/" + b.name + (b.service ? " \u2192 " + b.service : "");
  $("bd-phase").textContent = b.phase;
  $("bd-phase").className = "value phase-" + b.phase;
  $("bd-step").textContent = b.step || "-";
  $("bd-attempt").textContent = b.attempt === undefined ? "-" : b.attempt;
  $("bd-duration").textContent = dur(b.startTime, b.completionTime);
  $("bd-image").textContent = b.image || "-";
  const rows = $("step-rows"), logs = $("bd-logs");
  rows.replaceChildren();
  logs.replaceChildren();
  for (const s of b.steps || []) {
    const tr = el("tr");
    tr.dataset.step = s.name;
    cell(tr, s.name);
    cell(tr, s.phase || "-", "phase-" + s.phase);
    cell(tr, ago(s.startTime));
    cell(tr, dur(s.startTime, s.completionTime));
    cell(tr, s.exitCode === undefined ? "-" : s.exitCode);
    cell(tr, s.reason || "");
    rows.appendChild(tr);
    if (s.logTail || s.message) {
      logs.appendChild(el("div", s.name, "label"));
      logs.appendChild(el("pre", s.logTail || s.message, "log"));
    }
  }
  if (!logs.children.length) logs.appendChild(el("p", "No log yet.", "foot"));
  // Follow the step running now (or the last one that has a Job).
  const withJob = (b.steps || []).filter((s) => s.job);
  const cur = withJob.find((s) => s.name === b.step) || withJob[withJob.length - 1];
  if (cur) followLog(b, cur.name);
  $("page-build").dataset.ready = "true";
}

// ---- pages

function show(name) {
  for (const p of document.querySelectorAll(".page")) p.hidden = p.id !== "page-" + name;
  for (const a of document.querySelectorAll("#nav a")) a.className = a.dataset.page === name ? "active" : "";
}

function route() {
  const h = location.hash.replace(/^#\/?/, "").split("/");
  stopLog();
  showError("");
  if (h[0] === "pipeline") {
    show("pipeline");
    watchPath("/api/v1/pipeline", renderPipeline);
  } else if (h[0] === "approvals") {
    show("approvals");
    watchPath("/api/v1/approvals", renderApprovals);
  } else if (h[0] === "build" && h.length === 3) {
    show("build");
    watchPath("/api/v1/builds/" + encodeURIComponent(h[1]) + "/" + encodeURIComponent(h[2]), renderBuild);
  } else {
    show("phoenix");
    watch("phoenix", renderPhoenix);
  }
}

async function main() {
  const who = await fetch("/api/v1/whoami", { credentials: "same-origin" });
  if (!who.ok) {
    showError(who.status + " " + ((await who.json().catch(() => ({}))).error || who.statusText));
    setLive(false, "refused");
    return;
  }
  $("user").textContent = (await who.json()).user;
  window.addEventListener("hashchange", route);
  route();
}

main();
