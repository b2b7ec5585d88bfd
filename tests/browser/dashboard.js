// Drives the operator's web dashboard in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): the Phoenix board renders, updates live (Server-Sent Events) while a
// failover happens, without a reload; a user without RBAC sees the 403 explained. Screenshots
// go to ART. Run by tests/e2e/50_dashboard.sh:
//   node dashboard.js board URL SERVICE TRIGGER_CMD   (URL: the kubectl phoenix dashboard proxy)
//   node dashboard.js forbidden URL
//   node dashboard.js approve URL KIND/NS/NAME REASON [SPEC_CARD_KEY]   (tests/e2e/50_dashboard_approvals.sh)
//   node dashboard.js refused URL KIND/NS/NAME REASON
//   node dashboard.js approvals-live URL TRIGGER_CMD KIND/NS/NAME   (the card appears, no reload)
//   node dashboard.js pipeline URL
//   node dashboard.js build URL NS/NAME TRIGGER_CMD WANT_TEXT [WANT_LIVE_LOG_TEXT]
// Prints one JSON line of what it measured; exits nonzero with the reason on failure.
"use strict";
const { chromium } = require("playwright-core");
const { execSync } = require("child_process");
const path = require("path");

const ART = process.env.ART || ".";
const SCALE = Number(process.env.PHX_E2E_WAIT_SCALE || 3);
const T = (ms) => ms * SCALE;

async function withPage(fn) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    return await fn(page, errors);
  } finally {
    await browser.close();
  }
}

async function board(url, service, trigger) {
  return withPage(async (page, errors) => {
    await page.goto(url, { waitUntil: "load", timeout: T(10000) });
    const row = `tr[data-service="${service}"]`;
    await page.waitForSelector(row, { timeout: T(10000) });
    await page.waitForSelector("#live.on", { timeout: T(10000) });
    const before = Number(await page.getAttribute("#page-phoenix", "data-failovers"));
    const primaryBefore = await page.textContent(`${row} td:nth-child(3)`);
    await page.screenshot({ path: path.join(ART, "phoenix-board.png"), fullPage: true });
    // A marker that a reload would lose: the update must arrive over the open stream.
    await page.evaluate(() => { window.__phxMarker = 42; });
    const t0 = Date.now();
    execSync(trigger, { stdio: "inherit", shell: "/bin/bash" });
    await page.waitForFunction((n) => Number(document.getElementById("page-phoenix").dataset.failovers) > n,
      before, { timeout: T(15000), polling: 50 });
    const seenMs = Date.now() - t0;
    // The failover in progress, naming the primary that failed.
    await page.waitForFunction((p) => !document.getElementById("progress").hidden &&
      document.getElementById("progress-list").textContent.includes(p),
    primaryBefore, { timeout: T(5000), polling: 50 });
    await page.screenshot({ path: path.join(ART, "phoenix-board-failover.png"), fullPage: true });
    await page.waitForFunction((args) => {
      const td = document.querySelector(`tr[data-service="${args.s}"] td:nth-child(3)`);
      return td && td.textContent !== args.p && td.textContent !== "-";
    }, { s: service, p: primaryBefore }, { timeout: T(15000), polling: 100 });
    const marker = await page.evaluate(() => window.__phxMarker);
    if (marker !== 42) throw new Error("the page reloaded during the failover");
    const after = Number(await page.getAttribute("#page-phoenix", "data-failovers"));
    const last = await page.textContent("#t-last");
    if (!last.includes(service)) throw new Error(`"last failover" does not name ${service}: ${last}`);
    await page.waitForFunction(() => document.getElementById("progress").hidden, null, { timeout: T(30000) });
    await page.screenshot({ path: path.join(ART, "phoenix-board-after.png"), fullPage: true });
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    return { before, after, seenMs, primaryBefore,
             primaryAfter: await page.textContent(`${row} td:nth-child(3)`) };
  });
}

async function forbidden(url) {
  return withPage(async (page) => {
    const resp = await page.goto(url, { waitUntil: "load", timeout: T(10000) });
    await page.waitForSelector("#error:not([hidden])", { timeout: T(10000) });
    const text = await page.textContent("#error");
    await page.screenshot({ path: path.join(ART, "phoenix-board-forbidden.png"), fullPage: true });
    if (!text.startsWith("403")) throw new Error(`want a 403 explained, got: ${text}`);
    const rows = await page.$$("#rows tr");
    if (rows.length) throw new Error(`a user without RBAC sees ${rows.length} rows`);
    return { page: resp.status(), error: text };
  });
}

// The Approvals page: the card of KEY (Kind/ns/name) shows its governance results (and the
// SPEC rendered, text only); a decision is typed and clicked; returns the HTTP status the page
// got and what it shows. shot: the screenshot names (before, after).
async function decideIn(page, url, key, decision, reason, shots) {
  await page.goto(url + "#/approvals", { waitUntil: "load", timeout: T(10000) });
  const card = `.card[data-key="${key}"]`;
  await page.waitForSelector(card, { timeout: T(10000) });
  if (shots[0]) await page.screenshot({ path: path.join(ART, shots[0]), fullPage: true });
  await page.fill(`${card} input`, reason);
  await page.click(`${card} button.${decision === "Approve" ? "approve" : "deny"}`);
  await page.waitForSelector(`${card} .result[data-status]`, { timeout: T(10000) });
  const status = Number(await page.getAttribute(`${card} .result`, "data-status"));
  const text = await page.textContent(`${card} .result`);
  await page.screenshot({ path: path.join(ART, shots[1]), fullPage: true });
  return { status, text };
}

async function approve(url, key, reason, specKey) {
  return withPage(async (page, errors) => {
    page.on("dialog", (d) => { errors.push("a dialog opened: " + d.message()); d.dismiss(); });
    let spec = null;
    if (specKey) {
      // The SPEC of another card, rendered as text: its markup never becomes elements.
      await page.goto(url + "#/approvals", { waitUntil: "load", timeout: T(10000) });
      const sc = `.card[data-key="${specKey}"] .spec`;
      await page.waitForSelector(sc, { timeout: T(10000) });
      spec = {
        headings: await page.$$eval(`${sc} h3, ${sc} h4, ${sc} h5`, (hs) => hs.map((h) => h.textContent)),
        items: await page.$$eval(`${sc} li`, (l) => l.length),
        scripts: await page.$$eval(`${sc} script, ${sc} img`, (l) => l.length),
        text: await page.textContent(sc),
      };
      await page.screenshot({ path: path.join(ART, "approvals-spec.png"), fullPage: true });
    }
    const r = await decideIn(page, url, key, "Approve", reason, ["approvals.png", "approvals-approved.png"]);
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    return { ...r, spec };
  });
}

async function refused(url, key, reason) {
  return withPage(async (page) => decideIn(page, url, key, "Approve", reason, [null, "approvals-refused.png"]));
}

// The Approvals page is live: TRIGGER makes KEY wait for approval, and its card appears on the
// open page over the stream: no reload, no polling fetch.
async function approvalsLive(url, trigger, key) {
  return withPage(async (page, errors) => {
    const fetches = [];
    page.on("request", (r) => { if (/\/api\/v1\/approvals(\?|$)/.test(r.url())) fetches.push(r.url()); });
    await page.goto(url + "#/approvals", { waitUntil: "load", timeout: T(10000) });
    await page.waitForSelector("#page-approvals[data-ready]", { timeout: T(10000) });
    await page.waitForSelector("#live.on", { timeout: T(10000) });
    const card = `.card[data-key="${key}"]`;
    if (await page.$(card)) throw new Error(`${key} is on the page before the trigger`);
    const cards = await page.$$eval("#approvals .card", (l) => l.length);
    await page.evaluate(() => { window.__phxMarker = 9; });
    const t0 = Date.now();
    execSync(trigger, { stdio: "inherit", shell: "/bin/bash" });
    await page.waitForSelector(card, { timeout: T(15000) });
    const seenMs = Date.now() - t0;
    if (await page.evaluate(() => window.__phxMarker) !== 9) throw new Error("the page reloaded");
    await page.screenshot({ path: path.join(ART, "approvals-live.png"), fullPage: true });
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    return { cards, after: await page.$$eval("#approvals .card", (l) => l.length), seenMs,
             fetches: fetches.length };
  });
}

async function pipeline(url) {
  return withPage(async (page, errors) => {
    await page.goto(url + "#/pipeline", { waitUntil: "load", timeout: T(10000) });
    await page.waitForSelector("#page-pipeline[data-ready]", { timeout: T(10000) });
    await page.waitForSelector("#live.on", { timeout: T(10000) });
    const queue = await page.$$eval("#queue-rows tr", (rows) => rows.map((r) => r.children[0].textContent + "=" + r.dataset.intent));
    const active = await page.$$eval("#active-rows tr", (rows) => rows.map((r) => r.dataset.intent + ":" + r.children[3].textContent));
    const tiles = {};
    for (const id of ["p-today", "p-completed", "p-failed", "p-rate", "b-total"]) tiles[id] = await page.textContent("#" + id);
    await page.screenshot({ path: path.join(ART, "pipeline.png"), fullPage: true });
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    return { queue, active, tiles };
  });
}

// A Build's detail: its steps and logs; TRIGGER changes its status and the page must follow
// without a reload (the new log text WANT appears).
async function build(url, key, trigger, want, wantLive) {
  return withPage(async (page, errors) => {
    page.on("dialog", (d) => { errors.push("a dialog opened: " + d.message()); d.dismiss(); });
    await page.goto(url + "#/build/" + key, { waitUntil: "load", timeout: T(10000) });
    await page.waitForSelector("#step-rows tr", { timeout: T(10000) });
    const before = await page.$$eval("#step-rows tr", (rows) => rows.map((r) => r.dataset.step + ":" + r.children[1].textContent));
    const log = await page.textContent("#bd-logs");
    if (wantLive) {
      await page.waitForFunction((w) => document.getElementById("bd-live").textContent.includes(w), wantLive, { timeout: T(15000), polling: 100 });
    }
    const live = await page.textContent("#bd-live");
    const injected = await page.$$eval("#bd-logs script, #bd-logs img, #bd-live img, #bd-live script", (l) => l.length);
    await page.evaluate(() => { window.__phxMarker = 7; });
    execSync(trigger, { stdio: "inherit", shell: "/bin/bash" });
    await page.waitForFunction((w) => document.getElementById("bd-logs").textContent.includes(w), want, { timeout: T(10000), polling: 100 });
    if (await page.evaluate(() => window.__phxMarker) !== 7) throw new Error("the page reloaded");
    const after = await page.$$eval("#step-rows tr", (rows) => rows.map((r) => r.dataset.step + ":" + r.children[1].textContent));
    await page.screenshot({ path: path.join(ART, "build-detail.png"), fullPage: true });
    if (errors.length) throw new Error("page errors: " + errors.join("; "));
    return { before, after, log, live, injected };
  });
}

(async () => {
  const [mode, url, ...rest] = process.argv.slice(2);
  let out;
  if (mode === "board") out = await board(url, rest[0], rest[1]);
  else if (mode === "forbidden") out = await forbidden(url);
  else if (mode === "approve") out = await approve(url, rest[0], rest[1], rest[2]);
  else if (mode === "refused") out = await refused(url, rest[0], rest[1]);
  else if (mode === "approvals-live") out = await approvalsLive(url, rest[0], rest[1]);
  else if (mode === "pipeline") out = await pipeline(url);
  else if (mode === "build") out = await build(url, rest[0], rest[1], rest[2], rest[3]);
  else throw new Error("usage: dashboard.js board|forbidden|approve|refused|approvals-live|pipeline|build URL ...");
  console.log(JSON.stringify(out));
})().catch((e) => { console.error("browser test failed:", e.message || e); process.exit(1); });
