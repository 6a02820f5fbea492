/* qorch dashboard: the node registry, jobs live from /api/v1/events, a submit form, and
   one job's fragment timeline, fidelity and counts. Plain JS, no build step, no
   dependencies; the API it reads is described in docs/api.md. */
"use strict";
(function () {
  const TERMINAL = new Set(["COMPLETED", "FAILED"]);
  const KEY_STORE = "qorch.api_key";
  const MAX_JOBS = 200; // rows kept in the table (the newest)
  const KIND_COLOURS = {
    local: "#4c78a8", entangle: "#f58518", disentangle: "#54a24b",
    teleport: "#b279a2", running: "#9aa5b1",
  };
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  const jobs = new Map(); // job_id -> view + {total, done: Set, snapDone, frags: Map}
  let apiKey = new URLSearchParams(location.search).get("api_key") ||
    sessionStorage.getItem(KEY_STORE) || "";
  let selected = null;    // the job shown in #job-detail
  let result = null;      // its result, once COMPLETED
  let resultLoading = null;
  let socket = null, socketOpen = false, backoff = 500;
  let totalJobs = null;   // from the listing, plus jobs seen queued since

  // ---- small helpers ------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
    return node;
  }
  function svgEl(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const fmt = (x, digits = 4) => (typeof x === "number" ? x.toFixed(digits) : "—");
  const clock = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");
  const errorText = (e) => (e && typeof e === "object" ? `${e.kind || "error"}: ${e.message || ""}` : String(e || ""));

  // ---- HTTP -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, body) {
      super(body && body.message ? body.message : `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (apiKey) headers["X-API-Key"] = apiKey;
    const reply = await fetch(path, Object.assign({}, options, { headers }));
    let body = null;
    try { body = await reply.json(); } catch (_) { body = null; }
    if (reply.status === 401 || reply.status === 403) showAuth(reply.status, body, path);
    else if (reply.ok) clearAuth(path);
    if (!reply.ok) throw new ApiError(reply.status, body);
    return body;
  }

  let authPath = null;
  function showAuth(status, body, path) {
    const why = (body && body.message) || (status === 401 ? "an API key is required" : "forbidden");
    const hint = status === 401
      ? "Open this page as /?api_key=<key>, or enter a key above."
      : "This key lacks the role needed (read to watch, submit to submit).";
    const banner = $("auth-error");
    banner.textContent = `${status} ${status === 401 ? "unauthorized" : "forbidden"} (${path.split("?")[0]}): ${why}. ${hint}`;
    banner.hidden = false;
    authPath = path.split("?")[0];
  }
  function clearAuth(path) {
    if (authPath === null || (path && path.split("?")[0] !== authPath)) return;
    $("auth-error").hidden = true;
    authPath = null;
  }

  // ---- nodes ----------------------------------------------------------------------------
  async function loadNodes() {
    try {
      const { nodes } = await api("/api/v1/nodes");
      renderNodes(nodes || []);
      $("nodes-updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    } catch (e) {
      $("nodes-updated").textContent = `not updated: ${e.message}`;
    }
  }

  function renderNodes(nodes) {
    const rows = nodes.map((n) => {
      const up = n.availability === "available";
      const reasons = (n.degraded_reasons || []).join("; ");
      return el("tr", { "data-node": n.node, class: (up ? "" : "unavailable ") + (n.degraded ? "degraded" : "") },
        el("td", { class: "mono" }, n.node),
        el("td", {}, n.service_type || ""),
        el("td", {}, Array.isArray(n.qubits) ? n.qubits.join("–") : ""),
        el("td", { class: "num" }, fmt(n.fidelity)),
        el("td", {}, el("span", { class: up ? "pill ok" : "pill bad" }, n.availability)),
        el("td", { class: "num" }, typeof n.age_s === "number" ? `${n.age_s.toFixed(1)} s` : ""),
        el("td", { title: reasons }, n.degraded ? el("span", { class: "pill warn" }, "degraded") : "no",
          reasons ? el("small", {}, ` ${reasons}`) : ""));
    });
    if (!rows.length) rows.push(el("tr", { class: "empty" }, el("td", { colspan: 7 }, "no nodes known yet")));
    $("nodes").tBodies[0].replaceChildren(...rows);
  }

  // ---- jobs -----------------------------------------------------------------------------
  function upsert(view) {
    let j = jobs.get(view.job_id);
    if (!j) {
      j = { job_id: view.job_id, state: null, total: null, done: new Set(), snapDone: 0, frags: new Map() };
      jobs.set(view.job_id, j);
    }
    // a listing read before an event must not take the job back to an older state
    if (view.state && (!j.updated_at || !view.updated_at || view.updated_at >= j.updated_at)) {
      j.state = view.state;
      if (view.updated_at) j.updated_at = view.updated_at;
    }
    if (view.created_at) j.created_at = view.created_at;
    if (view.error) j.error = view.error;
    return j;
  }

  function prune() {
    if (jobs.size <= MAX_JOBS) return;
    const order = [...jobs.values()].sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
    for (const j of order.slice(0, jobs.size - MAX_JOBS)) if (j.job_id !== selected) jobs.delete(j.job_id);
  }
  const sortKey = (j) => j.created_at || j.updated_at || "";

  async function loadJobs() {
    try {
      let page = await api("/api/v1/jobs?limit=50");
      if (page.total > 50) page = await api(`/api/v1/jobs?limit=50&offset=${page.total - 50}`);
      page.jobs.forEach(upsert);
      totalJobs = page.total;
      prune();
      dirty();
    } catch (e) {
      $("jobs-count").textContent = `not loaded: ${e.message}`;
    }
  }

  function progress(j) {
    if (j.total === null || j.total === undefined) return "";
    return `${Math.min(j.total, Math.max(j.snapDone, j.done.size))}/${j.total}`;
  }

  function renderJobs() {
    const rows = [...jobs.values()].sort((a, b) => sortKey(b).localeCompare(sortKey(a))).map((j) =>
      el("tr", { "data-job-id": j.job_id, class: j.job_id === selected ? "selected" : null },
        el("td", { class: "mono" }, j.job_id),
        el("td", { class: `state st-${j.state || "UNKNOWN"}` }, j.state || "?"),
        el("td", { class: "num" }, progress(j)),
        el("td", {}, clock(j.created_at)),
        el("td", { class: "err", title: j.error ? errorText(j.error) : null }, j.error ? errorText(j.error) : "")));
    $("jobs").tBodies[0].replaceChildren(...rows);
    const total = Math.max(totalJobs || 0, jobs.size);
    $("jobs-count").textContent = `${jobs.size} shown` + (total > jobs.size ? ` of ${total}` : "");
  }

  // rendering is batched: a burst of events redraws once
  let renderPending = false;
  function dirty() {
    if (renderPending) return;
    renderPending = true;
    setTimeout(() => { renderPending = false; renderJobs(); renderDetail(); }, 50);
  }

  // ---- live events ----------------------------------------------------------------------
  function wsUrl(path) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    return `${proto}//${location.host}${path}` + (apiKey ? `?api_key=${encodeURIComponent(apiKey)}` : "");
  }

  function setConnection(open, text) {
    socketOpen = open;
    const badge = $("connection");
    badge.textContent = text;
    badge.className = `conn ${open ? "conn-up" : "conn-down"}`;
  }

  function connect() {
    const ws = new WebSocket(wsUrl("/api/v1/events"));
    socket = ws;
    ws.onopen = () => { backoff = 500; setConnection(true, "live"); };
    // one message carries one or more events, one JSON object per line
    ws.onmessage = (m) => {
      for (const line of String(m.data).split("\n")) if (line.trim()) handle(JSON.parse(line));
    };
    ws.onclose = () => {
      if (socket !== ws) return; // replaced on purpose (a new key)
      const wait = backoff * (0.75 + Math.random() * 0.5);
      setConnection(false, `reconnecting in ${(wait / 1000).toFixed(1)} s`);
      backoff = Math.min(backoff * 2, 15000);
      setTimeout(() => { if (socket === ws) connect(); }, wait);
    };
  }

  function reconnect() {
    const old = socket;
    socket = null;
    if (old) old.close();
    backoff = 500;
    setConnection(false, "connecting");
    connect();
  }

  function handle(ev) {
    if (ev.type === "snapshot") {
      (ev.jobs || []).forEach(upsert);
      prune();
    } else if (ev.type === "job_state") {
      if (ev.old === null && !jobs.has(ev.job_id) && totalJobs !== null) totalJobs++;
      const j = upsert({ job_id: ev.job_id, state: ev.new, updated_at: ev.at,
        created_at: ev.old === null ? ev.at : undefined });
      const detail = ev.detail || {};
      if (detail.error) j.error = detail.error;
      if (ev.job_id === selected && ev.new === "COMPLETED") loadResult(ev.job_id);
      prune();
    } else if (ev.type === "plan") {
      const j = upsert({ job_id: ev.job_id });
      Object.assign(j, { total: ev.fragments, run: ev.run, done: new Set(), snapDone: 0, frags: new Map() });
    } else if (ev.type === "fragment_state") {
      track(upsert({ job_id: ev.job_id }), ev);
    } else if (ev.type === "lagged") {
      loadJobs(); // k events were dropped: the states we show may be stale
      if (selected) select(selected);
    }
    dirty();
  }

  // a fragment's live record, for progress and the running timeline
  function track(j, ev) {
    const t = Date.parse(ev.at) / 1000;
    const detail = ev.detail || {};
    let f = j.frags.get(ev.fragment_id);
    if (!f) {
      f = { fragment_id: ev.fragment_id, kind: "running", started_at: t, ended_at: null, attempts: 0 };
      j.frags.set(ev.fragment_id, f);
    }
    f.nodes = String(ev.node || "?").split(",");
    f.status = ev.state;
    if (detail.kind) f.kind = detail.kind;
    if (ev.state === "RUNNING") f.attempts = (detail.attempt || 0) + 1;
    if (ev.state === "COMPLETED" || ev.state === "FAILED") f.ended_at = t;
    if (ev.state === "COMPLETED") j.done.add(ev.fragment_id);
  }

  // ---- the selected job -----------------------------------------------------------------
  async function select(id) {
    if (selected !== id) { result = null; resultLoading = null; }
    selected = id;
    dirty();
    try { upsert(await api(`/api/v1/jobs/${encodeURIComponent(id)}`)); } catch (_) { /* shown */ }
    if (selected !== id) return;
    const j = jobs.get(id);
    if (j && j.state === "COMPLETED") loadResult(id);
    else if (j && !TERMINAL.has(j.state) && j.total === null) peekProgress(id);
    dirty();
  }

  async function loadResult(id) {
    if (resultLoading === id || (result && result.job_id === id)) return;
    resultLoading = id;
    for (let attempt = 0; attempt < 6 && selected === id; attempt++) {
      try {
        const r = await api(`/api/v1/jobs/${encodeURIComponent(id)}/result`);
        if (selected === id) { result = r; dirty(); }
        break;
      } catch (e) {
        if (e.status !== 409) break;
        await sleep(250 * (attempt + 1)); // the state may be written just before the result
      }
    }
    if (resultLoading === id) resultLoading = null;
  }

  // a job chosen while it runs: its own stream's snapshot says how far it got. The socket
  // is left for the coordinator to close when the job ends: a client that closes a websocket
  // while the server sends to it can crash hypercorn 0.18's trio worker (its send_eof on
  // close races the send: trio.BusyResourceError ends the whole server)
  function peekProgress(id) {
    const ws = new WebSocket(wsUrl(`/api/v1/jobs/${encodeURIComponent(id)}/events`));
    ws.onmessage = (m) => {
      ws.onmessage = null; // the events that follow come on /api/v1/events as well
      const first = JSON.parse(String(m.data).split("\n")[0]);
      const j = jobs.get(id);
      if (first.type === "snapshot" && first.fragments && j) {
        if (j.total === null) j.total = first.fragments.total;
        j.snapDone = first.fragments.done || 0;
        dirty();
      }
    };
  }

  function renderDetail() {
    const panel = $("job-detail");
    const j = selected ? jobs.get(selected) : null;
    panel.dataset.jobId = selected || "";
    panel.dataset.state = j && j.state ? j.state : "";
    $("detail-id").textContent = selected || "— select a row";
    const badge = $("detail-state");
    badge.textContent = j && j.state ? j.state : "";
    badge.className = `state st-${j && j.state ? j.state : "NONE"}`;

    const prog = $("detail-progress");
    prog.replaceChildren();
    if (j && j.total !== null && j.total !== undefined) {
      const done = Math.min(j.total, Math.max(j.snapDone, j.done.size));
      prog.append(el("span", {}, `fragments ${done}/${j.total}` + (j.run ? ` (run ${j.run}, after fallback)` : "")),
        el("div", { class: "meter" }, el("i", { style: `width:${j.total ? (100 * done) / j.total : 0}%` })));
    }
    const err = $("detail-error");
    err.hidden = !(j && j.error);
    err.textContent = j && j.error ? errorText(j.error) : "";

    const r = result && result.job_id === selected ? result : null;
    renderFidelity(r);
    renderFigures(r);
    const frags = r ? r.fragments || [] : j ? [...j.frags.values()] : [];
    drawGantt($("gantt"), frags, !r);
    $("histogram-note").textContent = r ? "" : j && !TERMINAL.has(j.state) ? "(when completed)" : "";
    drawHistogram($("histogram"), r ? r.counts || {} : {}, r ? r.shots : 0);
  }

  function renderFidelity(r) {
    const box = $("fidelity");
    box.replaceChildren();
    if (!r) return;
    const row = (label, value, cls) => el("div", { class: "fid" }, el("span", {}, label),
      el("div", { class: "meter" }, el("i", { class: cls, style: `width:${Math.max(0, Math.min(1, value || 0)) * 100}%` })),
      el("b", { class: "num" }, fmt(value)));
    box.append(row("estimated", r.estimated_fidelity, "est"));
    if (typeof r.achieved_fidelity === "number") {
      box.append(row("achieved", r.achieved_fidelity, "ach"));
      const delta = r.achieved_fidelity - r.estimated_fidelity;
      box.append(el("small", {}, `achieved − estimated: ${delta >= 0 ? "+" : ""}${delta.toFixed(4)}`));
    } else {
      box.append(el("small", {}, `achieved: not simulated${r.reason ? ` (${r.reason})` : ""}`));
    }
  }

  function renderFigures(r) {
    const box = $("detail-figures");
    box.replaceChildren();
    if (!r) return;
    const fallbacks = Array.isArray(r.fallbacks) ? r.fallbacks.length : r.fallbacks;
    const figures = [["shots", r.shots], ["wall", `${fmt(r.wall_ms, 1)} ms`], ["compile", `${fmt(r.compile_ms, 1)} ms`],
      ["ebits", r.ebits], ["retries", r.retries], ["fallbacks", fallbacks], ["fragments", (r.fragments || []).length]];
    for (const [k, v] of figures) box.append(el("span", { class: "figure" }, el("small", {}, k), ` ${v ?? "—"}`));
  }

  // ---- charts ---------------------------------------------------------------------------
  function chartWidth(svg) {
    return Math.max(320, Math.floor(svg.getBoundingClientRect().width) || 800);
  }
  function message(svg, text) {
    svg.replaceChildren(svgEl("text", { x: 8, y: 20, class: "note" }, text));
    svg.setAttribute("height", 30);
  }

  // one lane per node, bars from started_at to ended_at (now while running), by kind;
  // bars that overlap in a lane go on sub-rows
  function drawGantt(svg, fragments, live) {
    const now = Date.now() / 1000;
    const items = fragments.filter((f) => typeof f.started_at === "number")
      .map((f) => ({ f, start: f.started_at, end: typeof f.ended_at === "number" ? f.ended_at : now }));
    if (!items.length) return message(svg, selected ? "no fragment has run yet" : "");
    const t0 = Math.min(...items.map((i) => i.start));
    const span = Math.max(1e-6, Math.max(...items.map((i) => i.end)) - t0);
    const nodes = [...new Set(items.flatMap((i) => i.f.nodes || []))].sort();
    const W = chartWidth(svg), L = 90, R = 12, ROW = 14, GAP = 8;
    const x = (t) => L + ((t - t0) / span) * (W - L - R);
    const out = [];
    let y = 4;
    nodes.forEach((node, n) => {
      const mine = items.filter((i) => (i.f.nodes || []).includes(node)).sort((a, b) => a.start - b.start);
      const ends = []; // the end of the last bar on each sub-row
      const placed = mine.map((i) => {
        let row = ends.findIndex((e) => e <= i.start);
        if (row < 0) { row = ends.length; ends.push(0); }
        ends[row] = i.end;
        return [i, row];
      });
      const h = Math.max(1, ends.length) * ROW;
      out.push(svgEl("rect", { x: 0, y: y - 2, width: W, height: h + 4, class: n % 2 ? "lane odd" : "lane" }),
        svgEl("text", { x: 6, y: y + Math.min(h, ROW) / 2 + 4, class: "label" }, node));
      for (const [i, row] of placed) {
        const f = i.f, kind = f.kind || "local";
        const bar = svgEl("rect", {
          x: x(i.start), y: y + row * ROW + 1, width: Math.max(2, x(i.end) - x(i.start)), height: ROW - 2,
          fill: KIND_COLOURS[kind] || "#e45756",
          class: `bar${/fail/i.test(f.status || "") ? " failed" : ""}${f.ended_at == null ? " live" : ""}`,
        });
        const ms = ((i.end - i.start) * 1000).toFixed(2);
        bar.append(svgEl("title", {}, `${f.fragment_id} ${kind} on ${(f.nodes || []).join(", ")}: ` +
          `${ms} ms, ${f.attempts || 1} attempt(s), ${f.status || ""}`));
        out.push(bar);
      }
      y += h + GAP;
    });
    for (let k = 0; k <= 4; k++) { // time axis, ms from the first start
      const t = t0 + (span * k) / 4;
      out.push(svgEl("line", { x1: x(t), x2: x(t), y1: 0, y2: y, class: "grid" }),
        svgEl("text", { x: x(t), y: y + 12, class: "tick", "text-anchor": k === 4 ? "end" : k ? "middle" : "start" },
          `${((t - t0) * 1000).toFixed(1)} ms`));
    }
    const kinds = [...new Set(items.map((i) => i.f.kind || "local"))];
    let lx = L;
    for (const kind of kinds) {
      out.push(svgEl("rect", { x: lx, y: y + 20, width: 10, height: 10, fill: KIND_COLOURS[kind] || "#e45756" }),
        svgEl("text", { x: lx + 14, y: y + 29, class: "tick" }, kind));
      lx += 24 + kind.length * 7;
    }
    if (live) out.push(svgEl("text", { x: W - R, y: y + 29, class: "tick", "text-anchor": "end" }, "live"));
    svg.replaceChildren(...out);
    svg.setAttribute("height", y + 36);
    svg.setAttribute("viewBox", `0 0 ${W} ${y + 36}`);
  }

  // the 32 most frequent outcomes, one bar each
  function drawHistogram(svg, counts, shots) {
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (!entries.length) return message(svg, "");
    const top = entries.slice(0, 32);
    const total = shots || entries.reduce((s, [, c]) => s + c, 0);
    const W = chartWidth(svg), H = 240, L = 48, R = 8, T = 10;
    const B = 14 + 6.5 * Math.max(...top.map(([k]) => k.length)); // room for rotated labels
    const max = top[0][1], step = (W - L - R) / top.length;
    const y = (c) => T + (H - T - B) * (1 - c / max);
    const out = [];
    for (const c of [0, max / 2, max]) {
      out.push(svgEl("line", { x1: L, x2: W - R, y1: y(c), y2: y(c), class: "grid" }),
        svgEl("text", { x: L - 4, y: y(c) + 4, class: "tick", "text-anchor": "end" }, Math.round(c)));
    }
    top.forEach(([bits, c], i) => {
      const cx = L + step * (i + 0.5);
      const bar = svgEl("rect", { x: cx - step * 0.4, y: y(c), width: step * 0.8, height: y(0) - y(c), class: "bar" });
      bar.append(svgEl("title", {}, `${bits}: ${c} (${((100 * c) / total).toFixed(1)} %)`));
      out.push(bar, svgEl("text", { x: cx, y: y(0) + 8, class: "tick mono",
        transform: `rotate(-60 ${cx} ${y(0) + 8})`, "text-anchor": "end" }, bits));
    });
    svg.replaceChildren(...out);
    svg.setAttribute("height", H);
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    $("histogram-note").textContent = `top ${top.length} of ${entries.length} outcomes, ${total} shots`;
  }

  // ---- submit ---------------------------------------------------------------------------
  async function submit(event) {
    event.preventDefault();
    const box = $("submit-error"), button = $("submit");
    box.hidden = true;
    box.replaceChildren();
    const body = { qasm: $("qasm").value };
    const shots = $("shots").value.trim();
    if (shots) body.shots = Number(shots);
    button.disabled = true;
    try {
      const reply = await api("/api/v1/circuits/submit", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (!jobs.has(reply.job_id)) upsert({ job_id: reply.job_id, state: "QUEUED", created_at: new Date().toISOString() });
      select(reply.job_id);
    } catch (e) {
      const b = e.body || {};
      box.append(el("div", {}, e.status ? `${e.status} ${b.kind || "error"}: ${b.message || e.message}`
        : `could not reach the coordinator: ${e.message}`));
      for (const f of b.errors || []) box.append(el("div", { class: "field" }, `${f.field || "body"}: ${f.message}`));
      box.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  // ---- start ----------------------------------------------------------------------------
  function tick() {
    loadNodes();
    if (!socketOpen) { // no live events: poll instead
      loadJobs();
      const j = selected && jobs.get(selected);
      if (j && !TERMINAL.has(j.state)) select(selected);
    } else {
      const j = selected && jobs.get(selected);
      if (j && j.frags.size && !TERMINAL.has(j.state)) dirty(); // running bars grow
    }
  }

  function start() {
    const keyInput = $("api-key");
    keyInput.value = apiKey;
    keyInput.addEventListener("change", () => {
      apiKey = keyInput.value.trim();
      if (apiKey) sessionStorage.setItem(KEY_STORE, apiKey); else sessionStorage.removeItem(KEY_STORE);
      const url = new URL(location.href); // a reload (which needs the key for /) keeps it
      if (apiKey) url.searchParams.set("api_key", apiKey); else url.searchParams.delete("api_key");
      history.replaceState(null, "", url);
      $("auth-error").hidden = true;
      authPath = null;
      reconnect();
      loadNodes();
      loadJobs();
      if (selected) select(selected);
    });
    $("submit-form").addEventListener("submit", submit);
    $("jobs").tBodies[0].addEventListener("click", (e) => {
      const row = e.target.closest("tr[data-job-id]");
      if (row) select(row.dataset.jobId);
    });
    let resizing = null;
    window.addEventListener("resize", () => { clearTimeout(resizing); resizing = setTimeout(renderDetail, 150); });
    loadNodes();
    loadJobs();
    connect();
    setInterval(tick, 2000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
