// Drives the operator's web dashboard in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): the Phoenix board renders, updates live (Server-Sent Events) while a
// failover happens, without a reload; a user without RBAC sees the 403 explained. Screenshots
// go to ART. Run by tests/e2e/50_dashboard.sh:
//   node dashboard.js board URL SERVICE TRIGGER_CMD   (URL: the kubectl phoenix dashboard proxy)
//   node dashboard.js forbidden URL
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

(async () => {
  const [mode, url, ...rest] = process.argv.slice(2);
  let out;
  if (mode === "board") out = await board(url, rest[0], rest[1]);
  else if (mode === "forbidden") out = await forbidden(url);
  else throw new Error("usage: dashboard.js board|forbidden URL ...");
  console.log(JSON.stringify(out));
})().catch((e) => { console.error("browser test failed:", e.message || e); process.exit(1); });
