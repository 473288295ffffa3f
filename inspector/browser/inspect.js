// Drives Debian's chromium through the inspector's page for
// inspector/browser_test.go, which decides what to do and checks what it
// sees: it writes one JSON command a line on stdin, and this script answers
// each with one JSON line on stdout, {"ok":true,...} or {"ok":false,"error":...}.
// Every answer carries the page's errors so far (uncaught exceptions,
// console errors, failed requests): the test fails on any.
//
//	node inspect.js OUTDIR     screenshots go to OUTDIR
//
// Commands:
//
//	{"op":"open","url":U}                load U; wait until the header is
//	                                     live and its frame number moves
//	{"op":"table"}                       the assets table's rows, as shown
//	{"op":"detail","id":N}               click row N; the detail's Why and graph
//	{"op":"click","selector":S}          click S
//	{"op":"text","selector":S,"match":R} wait until S's text matches the
//	                                     regular expression R; its text
//	{"op":"fetch","path":P}              GET P relative to the page, as its JSON
//	{"op":"screenshot","name":F}         the page to OUTDIR/F
//	{"op":"close"}                       close the browser and exit
"use strict";
const fs = require("fs");
const os = require("os");
const path = require("path");
const readline = require("readline");
const { chromium } = require("playwright-core");

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const timeout = 10000;
const out = process.argv[2] || fs.mkdtempSync(path.join(os.tmpdir(), "inspect-shots-"));

// Without the background-networking flags chromium tries Google's hosts at
// every start, and a closed network refuses each (go.md).
const args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let browser, ctx, page;
const problems = [];

const ops = {
  async open({ url }) {
    page = await ctx.newPage();
    page.setDefaultTimeout(timeout);
    page.on("pageerror", (e) => problems.push("uncaught: " + e.message));
    page.on("console", (m) => {
      // Every console error counts (the page links an empty icon, so
      // chromium asks for no /favicon.ico).
      if (m.type() === "error") problems.push("console: " + m.text());
    });
    page.on("requestfailed", (r) => {
      // An open event stream is cut when the page closes; that is not the page's fault.
      if (!r.url().endsWith("/api/events")) problems.push("request failed: " + r.url() + " " + (r.failure() || {}).errorText);
    });
    page.on("response", (r) => { if (r.status() >= 400) problems.push("HTTP " + r.status() + ": " + r.url()); });
    await page.goto(url);
    await page.waitForFunction(() => document.querySelector("#link").textContent === "live");
    const frame = async () => Number(await page.textContent("#frame"));
    const first = await frame();
    await page.waitForFunction((f) => Number(document.querySelector("#frame").textContent) > f, first);
    return { first, then: await frame() };
  },

  async table() {
    await page.waitForSelector("#assets-table tbody tr");
    return page.evaluate(() => ({
      count: document.querySelector("#count").textContent,
      header: document.querySelector("#nassets").textContent,
      rows: [...document.querySelectorAll("#assets-table tbody tr")].map((tr) => {
        const td = [...tr.cells].map((c) => c.textContent);
        return { id: Number(tr.dataset.id), kind: td[1], name: td[2], state: td[3], count: Number(td[4]),
          holders: td[5], locked: td[6] !== "", residency: td[7], bytes: td[8] };
      }),
    }));
  },

  async detail({ id }) {
    await page.click(`#assets-table tbody tr[data-id="${id}"]`);
    await page.waitForFunction((id) => {
      const h = document.querySelector("#detail h3");
      return h && h.textContent.includes("#" + id) && document.querySelector("#detail svg");
    }, id);
    return page.evaluate(() => {
      const d = document.querySelector("#detail"), svg = d.querySelector("svg");
      return { title: d.querySelector("h3").textContent, why: d.querySelector("pre").textContent,
        svg: { nodes: svg.querySelectorAll("g, rect, ellipse").length, text: svg.textContent },
        selected: [...document.querySelectorAll("#assets-table tbody tr.sel")].map((tr) => Number(tr.dataset.id)) };
    });
  },

  async click({ selector }) { await page.click(selector); return {}; },

  async text({ selector, match }) {
    const re = new RegExp(match || "\\S");
    await page.waitForFunction(([s, src]) => {
      const el = document.querySelector(s);
      return el && new RegExp(src).test(el.textContent);
    }, [selector, re.source]);
    return { text: await page.textContent(selector) };
  },

  async fetch({ path: p }) {
    return { json: await page.evaluate(async (p) => {
      const r = await fetch(p, { cache: "no-store" });
      if (!r.ok) throw new Error(p + ": " + r.status + " " + (await r.text()));
      return r.json();
    }, p) };
  },

  async screenshot({ name }) {
    const file = path.join(out, name);
    await page.screenshot({ path: file, fullPage: true });
    return { file };
  },

  async close() {
    await browser.close();
    return {};
  },
};

async function main() {
  // launch gives chromium a new empty --user-data-dir, and removes it at close.
  browser = await chromium.launch({ executablePath, headless: true, args });
  ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const reply = (v) => process.stdout.write(JSON.stringify({ ...v, problems: problems.splice(0) }) + "\n");
  reply({ ok: true, version: browser.version(), out });
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    let cmd;
    try {
      cmd = JSON.parse(line);
      const op = ops[cmd.op];
      if (!op) throw new Error("no op " + JSON.stringify(cmd.op));
      reply({ ok: true, ...(await op(cmd)) });
    } catch (e) {
      reply({ ok: false, error: String(e && e.stack || e) });
    }
    if (cmd && cmd.op === "close") break;
  }
  if (browser.isConnected()) await browser.close(); // stdin closed first: the test gave up
}

main().catch((e) => { process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack || e) }) + "\n"); process.exit(1); });
