// The inspector's page: vanilla JS, relative URLs (the handler may be
// mounted under any prefix), server-sent events for the header and a
// refresh of the open tab at most once a second.
"use strict";
const $ = (s) => document.querySelector(s);
const colours = { sprite: "#8ecae6", texture: "#ffb703", image: "#b5e48c", scene: "#cdb4db", mesh: "#f4a261",
  material: "#e9c46a", buffer: "#90be6d", staging: "#adb5bd", other: "#e76f51", free: "#fff" };
const rowLimit = 2000;
let total = 0, matched = 0;
let tab = "assets", sortKey = "id", sortDesc = false, rows = [], selected = null, lastRefresh = 0, busy = false;

function bytes(n) {
  if (n < 1024) return n + " B";
  const u = ["KiB", "MiB", "GiB"]; let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i];
}
function esc(s) { return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c])); }
async function get(path) {
  const r = await fetch(path, { cache: "no-store" });
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r;
}
const json = async (p) => (await get(p)).json();

function showState(s) {
  $("#frame").textContent = s.frame;
  $("#completed").textContent = s.completed;
  $("#nassets").textContent = s.assets + (s.unused ? " (" + s.unused + " unused)" : "");
  $("#live").textContent = bytes(s.live_bytes);
  $("#pending").textContent = bytes(s.pending_bytes) + " (" + s.pending + ")";
  $("#scene").textContent = s.scene || "–";
  scheduleRefresh();
}

// At most one refresh a second, and always one after the last change: a
// change inside the second is refreshed when the second is over, not
// dropped (the table would keep a released asset's rows until the next
// event, which may never come).
let trailing = null;
function scheduleRefresh() {
  const wait = 1000 - (Date.now() - lastRefresh);
  if (wait <= 0 && !busy) { refresh(); return; }
  if (!trailing) trailing = setTimeout(() => { trailing = null; scheduleRefresh(); }, Math.max(wait, 100));
}

function connect() {
  if (!window.EventSource) return poll();
  const es = new EventSource("api/events");
  es.addEventListener("state", (e) => { $("#link").textContent = "live"; $("#link").className = "onl"; showState(JSON.parse(e.data)); });
  es.onerror = () => { $("#link").textContent = "reconnecting"; $("#link").className = "off"; };
}
async function poll() {
  try { showState(await json("api/state")); $("#link").textContent = "polling"; } catch (e) { $("#link").textContent = "offline"; }
  setTimeout(poll, 1000);
}

async function refresh(force) {
  if (busy || (!force && !$("#live-updates").checked)) return;
  busy = true; lastRefresh = Date.now();
  try { await views[tab](); } catch (e) { console.warn(e); } finally { busy = false; }
}

const views = {
  async assets() {
    // The server filters, sorts and sends the first rowLimit rows: a cache
    // of 100,000 assets is 38 MB of JSON in full.
    const p = new URLSearchParams({ q: $("#filter").value, kind: $("#kind").value, sort: sortKey, desc: sortDesc ? "1" : "", limit: rowLimit });
    const res = await json("api/assets?" + p);
    rows = res.assets; total = res.total; matched = res.matched;
    const kinds = [...new Set(rows.map((r) => r.kind))].sort(), sel = $("#kind");
    if (sel.options.length - 1 !== kinds.length) {
      const v = sel.value;
      sel.innerHTML = '<option value="">every kind</option>' + kinds.map((k) => `<option>${esc(k)}</option>`).join("");
      sel.value = v;
    }
    drawTable();
    if (selected !== null && rows.some((r) => r.id === selected)) await detail(selected, false); // a released one is not asked for again
  },
  async graph() {
    const id = $("#graph-id").value;
    if (!id) { $("#graph-svg").innerHTML = '<p class="hint">Pick an asset in the table, or type its id.</p>'; return; }
    try { $("#graph-svg").innerHTML = await (await get(`graph/${id}.svg?depth=${$("#graph-depth").value}`)).text(); }
    catch (e) { $("#graph-svg").textContent = e.message; }
  },
  async memory() {
    const m = await json("api/memory");
    let h = '<table><tr><th>heap</th><th>flags</th><th>size</th><th>budget</th><th>blocks</th><th>allocations</th><th>allocated</th></tr>';
    for (const x of m.heaps) h += `<tr><td>${x.index}</td><td>${esc(x.flags)}</td><td class=num>${bytes(x.size)}</td><td class=num>${bytes(x.budget)}</td><td class=num>${x.stats.block_count} (${bytes(x.stats.block_bytes)})</td><td class=num>${x.stats.allocation_count}</td><td class=num>${bytes(x.stats.allocation_bytes)}</td></tr>`;
    h += '</table><table><tr><th>type</th><th>heap</th><th>flags</th><th>blocks</th><th>allocations</th><th>allocated</th></tr>';
    for (const t of m.types) if (t.stats.block_count) h += `<tr><td>${t.index}</td><td>${t.heap}</td><td>${esc(t.flags)}</td><td class=num>${t.stats.block_count}</td><td class=num>${t.stats.allocation_count}</td><td class=num>${bytes(t.stats.allocation_bytes)}</td></tr>`;
    h += `</table><p>${m.device_allocations} VkDeviceMemory objects, ${m.allocate_calls} vkAllocateMemory calls</p>`;
    $("#memory-heaps").innerHTML = h;
    let b = "";
    m.blocks.forEach((blk, i) => {
      b += `<div class=block>type ${blk.memory_type}${blk.pool ? ", pool " + esc(blk.pool) : ""}${blk.dedicated ? ", dedicated" : ""}, block ${blk.id}: ${bytes(blk.used)} of ${bytes(blk.size)}<div class=blockmap>`;
      blk.ranges.forEach((r, j) => {
        const w = Math.max(100 * r.size / blk.size, 0.05);
        b += `<div style="width:${w}%;background:${colours[r.class] || "#ccc"}" data-b="${i}" data-r="${j}"></div>`;
      });
      b += "</div></div>";
    });
    $("#memory-blocks").innerHTML = b;
    $("#memory-blocks").blocks = m.blocks;
  },
  async retire() {
    const r = await json("api/retire");
    const max = Math.max(1, ...r.latency_frames);
    let h = `<table class=kv><tr><td>frame</td><td>${r.frame}</td></tr><tr><td>serials issued / submitted / completed</td><td>${r.issued} / ${r.submitted} / ${r.completed}</td></tr>` +
      `<tr><td>pending objects</td><td>${r.pending}</td></tr><tr><td>bytes waiting for the GPU</td><td>${bytes(r.pending_bytes)}</td></tr>` +
      `<tr><td>retired</td><td>${r.retired}</td></tr><tr><td>max latency</td><td>${r.max_latency_frames} frames, ${(r.max_latency_ns / 1e6).toFixed(2)} ms</td></tr>` +
      `<tr><td>timeline semaphores</td><td>${r.timeline}</td></tr></table><h4>retirement latency (frames from Defer to destruction)</h4><div class=hist>`;
    r.latency_frames.forEach((n, i) => { h += `<div style="height:${100 * n / max}%" title="${n} objects"><span>${i}${i === r.latency_frames.length - 1 ? "+" : ""}</span></div>`; });
    h += "</div><h4 style='margin-top:24px'>pending by serial</h4><table><tr><th>serial</th><th>objects</th><th>bytes</th><th>names</th></tr>";
    for (const s of r.by_serial) h += `<tr><td>${s.serial}</td><td class=num>${s.objects}</td><td class=num>${bytes(s.bytes)}</td><td>${esc((s.names || []).join(", "))}</td></tr>`;
    $("#retire-body").innerHTML = h + "</table>";
  },
  async chart() {
    const c = (await json("api/chart")).samples, cv = $("#chart-canvas"), g = cv.getContext("2d");
    g.clearRect(0, 0, cv.width, cv.height);
    if (c.length < 2) { g.fillText("sampling…", 20, 20); return; }
    const f0 = c[0].frame, f1 = c[c.length - 1].frame, top = Math.max(1, ...c.map((s) => s.live + s.pending));
    const X = (f) => 50 + (cv.width - 60) * (f - f0) / Math.max(1, f1 - f0), Y = (v) => cv.height - 20 - (cv.height - 30) * v / top;
    g.strokeStyle = "#999"; g.setLineDash([4, 4]);
    for (const s of c) if (s.switch) { g.beginPath(); g.moveTo(X(s.frame), 10); g.lineTo(X(s.frame), cv.height - 20); g.stroke(); g.fillText(s.scene, X(s.frame) + 2, 12); }
    g.setLineDash([]);
    for (const [key, col] of [["live", "#1d70b8"], ["pending", "#f08c00"]]) {
      g.strokeStyle = col; g.beginPath();
      c.forEach((s, i) => (i ? g.lineTo : g.moveTo).call(g, X(s.frame), Y(s[key])));
      g.stroke();
    }
    g.fillStyle = "#000"; g.fillText(bytes(top), 2, 14); g.fillText("frame " + f0, 50, cv.height - 4); g.fillText("frame " + f1, cv.width - 80, cv.height - 4);
  },
  async leaks() {
    const l = await json("api/leaks");
    let h = `<p>${l.live_allocations} live allocations; frame ${l.frame}</p><h4>unused assets (count 0)</h4><table><tr><th>asset</th><th>since serial</th><th>bytes</th></tr>`;
    for (const u of l.unused) h += `<tr><td>${esc(u.kind)} #${u.id} ${esc(u.name)}</td><td>${u.since}</td><td class=num>${bytes(u.bytes)}</td></tr>`;
    h += "</table><h4>allocations no cached asset owns (renderer, staging, retiring — or leaked)</h4><table><tr><th>name</th><th>size</th><th>type</th><th>pool</th></tr>";
    for (const a of l.unowned) h += `<tr><td>${esc(a.name)}</td><td class=num>${bytes(a.size)}</td><td>${a.memory_type}</td><td>${esc(a.pool || "")}</td></tr>`;
    h += "</table><h4>close report: what would be reported alive at shutdown</h4><pre>" + esc(l.report.join("\n")) + "</pre>";
    $("#leaks-body").innerHTML = h;
  },
  async snapshots() {
    const list = await json("api/snapshots");
    let h = "<table><tr><th>snapshot</th><th>time</th><th>frames</th><th>assets</th><th>asset bytes</th><th>allocated</th><th>waiting for the GPU</th><th></th></tr>";
    for (const s of list) h += `<tr data-snap="${s.id}"><td>#${s.id}</td><td>${esc(new Date(s.time).toLocaleTimeString())}</td><td class=num>${s.frames}</td><td class=num>${s.assets}</td><td class=num>${bytes(s.asset_bytes)}</td><td class=num>${bytes(s.allocation_bytes)}</td><td class=num>${bytes(s.pending_bytes)}</td><td><a href="api/snapshots/${s.id}" download>JSON</a></td></tr>`;
    $("#snap-list").innerHTML = h + "</table>";
    if (list.length < 2) { $("#diff-body").innerHTML = "<p>Take two snapshots to see what changed between them.</p>"; return; }
    const [a, b] = list.slice(-2);
    const d = await json(`api/diff?before=${a.id}&after=${b.id}`);
    const part = (title, id, rows, total, serial) => {
      let t = `<h4 id="${id}">${title}: ${rows.length}, ${bytes(total)}</h4><table><tr><th>asset</th><th>count</th><th>bytes</th>${serial ? "<th>waits for serial</th>" : ""}</tr>`;
      for (const e of rows) t += `<tr data-id="${e.id}"><td>${esc(e.kind)} #${e.id} ${esc(e.name)}</td><td class=num>${e.count}</td><td class=num>${bytes(e.bytes)}</td>${serial ? `<td class=num>${e.serial || "–"}</td>` : ""}</tr>`;
      return t + "</table>";
    };
    $("#diff-body").innerHTML = `<h3>#${a.id} → #${b.id}</h3><p>allocated ${bytes(d.allocation_bytes_before)} → ${bytes(d.allocation_bytes_after)}; waiting for the GPU ${bytes(d.pending_bytes_before)} → ${bytes(d.pending_bytes_after)}</p>` +
      part("still waiting for the GPU", "diff-waiting", d.still_waiting, d.still_waiting_bytes, true) +
      part("freed from the cache", "diff-freed", d.freed, d.freed_bytes) +
      part("added", "diff-added", d.added, d.added_bytes) +
      part("survived", "diff-survived", d.survived, d.survived_bytes);
  },
};

function drawTable() {
  const q = $("#filter").value.toLowerCase(), kind = $("#kind").value;
  const shown = rows.filter((r) => (!kind || r.kind === kind) &&
    (!q || [r.kind, r.name, r.key, r.state, r.residency].join(" ").toLowerCase().includes(q)));
  shown.sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const c = typeof x === "string" ? x.localeCompare(y) : (x > y) - (x < y);
    return sortDesc ? -c : c;
  });
  $("#count").textContent = shown.length + " of " + total + (matched > rows.length ? ` (the first ${rows.length} of ${matched} that match)` : "");
  $("#assets-table tbody").innerHTML = shown.map((r) => `<tr data-id="${r.id}"${r.id === selected ? ' class="sel"' : ""}>` +
    `<td class=num>${r.id}</td><td>${esc(r.kind)}</td><td title="${esc(r.key || "")}">${esc(r.name)}</td><td>${r.state}</td>` +
    `<td class=num title="${r.held} from dependents, ${r.dynamic} dynamic">${r.count}</td>` +
    `<td>${r.holders.map((h) => "#" + h.id).join(" ")}</td><td>${r.locked ? "🔒" : ""}</td><td>${esc(r.residency)}</td>` +
    `<td class=num>${r.bytes ? bytes(r.bytes) : ""}</td><td class=num>${r.last_use}</td></tr>`).join("");
  document.querySelectorAll("th[data-sort]").forEach((th) => { th.className = th.dataset.sort === sortKey ? (sortDesc ? "desc" : "asc") : ""; });
}

async function detail(id, scroll) {
  selected = id;
  let d;
  try { d = await json(`api/assets/${id}`); } catch (e) { $("#detail").innerHTML = `<p>#${id}: no longer cached.</p>`; return; }
  const svg = await (await get(`graph/${id}.svg?depth=2`)).text();
  $("#detail").innerHTML = `<h3>${esc(d.kind)} #${d.id} ${esc(d.name)}</h3><pre>${esc(d.why)}</pre>` +
    `<p>depends on: ${d.deps.map((x) => `<a href="#" data-id="${x.id}">#${x.id} ${esc(x.name)}</a>`).join(", ") || "nothing"}</p>` +
    `<p>held by: ${d.holders.map((x) => `<a href="#" data-id="${x.id}">#${x.id} ${esc(x.name)}</a>`).join(", ") || "no asset"}</p>` + svg;
  $("#graph-id").value = id;
  if (scroll) drawTable();
}

function pick(e) {
  const el = e.target.closest("[data-id]");
  if (!el) return;
  e.preventDefault();
  const id = Number(el.dataset.id);
  if (tab === "graph") { $("#graph-id").value = id; refresh(true); } else detail(id, true);
}

document.querySelectorAll("nav button").forEach((b) => b.onclick = () => {
  document.querySelectorAll("nav button, .tab").forEach((x) => x.classList.remove("on"));
  b.classList.add("on"); tab = b.dataset.tab; $("#" + tab).classList.add("on"); refresh(true);
});
document.querySelectorAll("th[data-sort]").forEach((th) => th.onclick = () => {
  if (sortKey === th.dataset.sort) sortDesc = !sortDesc; else { sortKey = th.dataset.sort; sortDesc = false; }
  drawTable(); refresh(true); // the server sorts the whole table; the page has its first rows
});
$("#filter").oninput = () => { drawTable(); scheduleRefresh(); }; $("#kind").onchange = () => { drawTable(); refresh(true); };
$("#assets-table").onclick = pick; $("#detail").onclick = pick; $("#graph-svg").onclick = pick;
$("#graph-id").onchange = () => refresh(true); $("#graph-depth").onchange = () => refresh(true);
$("#snap-take").onclick = async () => { await json("api/snapshots/take"); refresh(true); };
$("#legend").innerHTML = Object.entries(colours).map(([k, c]) => `<span style="background:${c}">${k}</span>`).join("");
const tip = $("#tip");
$("#memory-blocks").onmousemove = (e) => {
  const el = e.target.closest("[data-r]"), blocks = $("#memory-blocks").blocks;
  if (!el || !blocks) { tip.style.display = "none"; return; }
  const r = blocks[el.dataset.b].ranges[el.dataset.r];
  tip.innerHTML = r.free ? `free: ${bytes(r.size)} at ${r.offset}` :
    `${esc(r.name || "(unnamed)")}: ${bytes(r.size)} at ${r.offset}, ${r.kind}<br>` +
    (r.asset ? `asset ${esc(r.asset.kind)} #${r.asset.id} ${esc(r.asset.name)}` : r.class);
  tip.style.display = "block"; tip.style.left = e.clientX + 12 + "px"; tip.style.top = e.clientY + 12 + "px";
};
$("#memory-blocks").onmouseleave = () => { tip.style.display = "none"; };
connect();
refresh(true);
