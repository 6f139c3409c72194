// Tesla's web UI: a hash-routed page over the REST API (tesla/routes.py). No build step, no outside URL.
// Every view fetches JSON, renders tables with el() and charts with the small SVG helpers below.

const TOKEN_KEY = "tesla.token";
const view = document.getElementById("view");

// -- the API: relative URLs (the page may sit behind a prefix), a Bearer token once the server asks for one
class AuthNeeded extends Error {}

async function request(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const resp = await fetch(path.replace(/^\//, ""), { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (resp.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    throw new AuthNeeded("this server needs an API token");
  }
  if (!resp.ok) {
    const body = await resp.json().catch(() => null);
    throw new Error(body?.error?.message || `${resp.status} on ${path}`);
  }
  return resp;
}

const api = async (path) => (await request(path)).json();
const apiText = async (path) => (await request(path)).text(); // a route whose answer is a page (a report's HTML)

document.getElementById("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
  ev.target.hidden = true;
  route();
});

// -- DOM helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined).map((c) => (c instanceof Node ? c : String(c))));
  return node;
}

const fmt = (v) => (typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : v ?? "");
const link = (href, text) => el("a", { href }, text);
const clip = (text, n) => (text.length > n ? el("span", { title: text }, `${text.slice(0, n)}…`) : text);

function table(columns, rows) {
  const head = el("tr", {}, columns.map(([label]) => el("th", {}, label)));
  const body = rows.map((r) => el("tr", {}, columns.map(([, get]) => {
    const v = get(r);
    return el("td", { class: typeof v === "number" ? "num" : null }, v instanceof Node ? v : fmt(v));
  })));
  return rows.length ? el("table", {}, el("thead", {}, head), el("tbody", {}, body)) : el("p", { class: "muted" }, "None yet.");
}

// -- charts: SVG, drawn here (a few lines beat a vendored library for lines and bars)
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function scale(values, lo, hi) {
  let min = Math.min(...values), max = Math.max(...values);
  if (min === max) { min -= 1; max += 1; }
  return (v) => lo + ((v - min) / (max - min)) * (hi - lo);
}

// series: [{name, points: [[x, y], ...]}]; a dot per point, so a series of one point shows too
function lineChart(series, { title = "", xLabel = "", yLabel = "", width = 640, height = 240 } = {}) {
  const pad = { l: 56, r: 12, t: 22, b: 34 };
  const all = series.flatMap((s) => s.points);
  const chart = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.append(svg("text", { x: pad.l, y: 14 }, title));
  if (!all.length) { chart.append(svg("text", { x: width / 2 - 30, y: height / 2 }, "no data")); return chart; }
  const x = scale(all.map((p) => p[0]), pad.l, width - pad.r);
  const y = scale(all.map((p) => p[1]), height - pad.b, pad.t);
  const ys = all.map((p) => p[1]), xs = all.map((p) => p[0]);
  chart.append(
    svg("line", { class: "axis", x1: pad.l, y1: height - pad.b, x2: width - pad.r, y2: height - pad.b }),
    svg("line", { class: "axis", x1: pad.l, y1: pad.t, x2: pad.l, y2: height - pad.b }),
    svg("text", { x: 4, y: pad.t + 8 }, fmt(Math.max(...ys))),
    svg("text", { x: 4, y: height - pad.b }, fmt(Math.min(...ys))),
    svg("text", { x: pad.l, y: height - 18 }, fmt(Math.min(...xs))),
    svg("text", { x: width - pad.r - 40, y: height - 18 }, fmt(Math.max(...xs))),
    svg("text", { x: width / 2 - 40, y: height - 4 }, xLabel),
    svg("text", { x: pad.l + 4, y: pad.t + 10 }, yLabel),
  );
  series.forEach((s, i) => {
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    chart.append(svg("path", { class: `line s${i}`, d }, svg("title", {}, s.name)));
    for (const p of s.points) {
      chart.append(svg("circle", { class: `point s${i}`, cx: x(p[0]), cy: y(p[1]), r: 3 }, svg("title", {}, `${s.name} at ${fmt(p[0])}: ${fmt(p[1])}`)));
    }
  });
  series.forEach((s, i) => chart.append(svg("text", { x: width - pad.r - 150, y: pad.t + 12 + 13 * i, class: `legend s${i}` }, `— ${s.name}`)));
  return chart;
}

// bars: [{label, value, bad}]
function barChart(bars, { title = "", width = 640, barHeight = 18 } = {}) {
  const labelW = 190, height = 26 + bars.length * (barHeight + 4);
  const chart = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title });
  chart.append(svg("text", { x: 4, y: 14 }, title));
  const max = Math.max(...bars.map((b) => Math.abs(b.value)), 1e-12);
  bars.forEach((b, i) => {
    const top = 22 + i * (barHeight + 4), w = ((width - labelW - 70) * Math.abs(b.value)) / max;
    chart.append(
      svg("text", { x: 4, y: top + barHeight - 5 }, b.label),
      svg("rect", { class: b.bad ? "bar bad" : "bar", x: labelW, y: top, width: Math.max(w, 1), height: barHeight }),
      svg("text", { x: labelW + w + 4, y: top + barHeight - 5 }, fmt(b.value)),
    );
  });
  return chart;
}

function sparkline(histogram, width = 120, height = 28) {
  const spark = svg("svg", { class: "spark", width, height });
  const max = Math.max(...histogram.map((h) => h[1]), 1), w = width / Math.max(histogram.length, 1);
  histogram.forEach(([label, n], i) => {
    const h = (height * n) / max;
    spark.append(svg("rect", { x: i * w, y: height - h, width: Math.max(w - 1, 1), height: h }, svg("title", {}, `${label}: ${n}`)));
  });
  return spark;
}

// the plan's steps as a layered graph: a step's layer is one past its deepest input's
function planGraph(steps) {
  const depth = {};
  const deps = (s) => Object.values(s.inputs || {}).map((i) => i.step).filter(Boolean);
  const layer = (id) => depth[id] ?? (depth[id] = 1 + Math.max(-1, ...deps(steps.find((s) => s.id === id)).map(layer)));
  steps.forEach((s) => layer(s.id));
  const rows = {}, pos = {};
  const boxW = 130, boxH = 34, gapX = 50, gapY = 16;
  for (const s of steps) {
    const l = depth[s.id], r = (rows[l] = (rows[l] ?? -1) + 1);
    pos[s.id] = { x: 10 + l * (boxW + gapX), y: 10 + r * (boxH + gapY) };
  }
  const width = 20 + (Math.max(...Object.values(depth)) + 1) * (boxW + gapX);
  const height = 20 + (Math.max(...Object.values(rows)) + 1) * (boxH + gapY);
  const graph = svg("svg", { class: "graph chart", width, height, role: "img", "aria-label": "plan graph" });
  for (const s of steps) {
    for (const d of new Set(deps(s))) {
      const a = pos[d], b = pos[s.id];
      graph.append(svg("path", { d: `M${a.x + boxW},${a.y + boxH / 2} C${a.x + boxW + gapX / 2},${a.y + boxH / 2} ${b.x - gapX / 2},${b.y + boxH / 2} ${b.x},${b.y + boxH / 2}` }));
    }
  }
  for (const s of steps) {
    const p = pos[s.id];
    graph.append(svg("g", { class: "step" }, svg("rect", { x: p.x, y: p.y, width: boxW, height: boxH, rx: 4 }),
      svg("text", { x: p.x + 8, y: p.y + 21 }, `${s.id} (${s.kind})`)));
  }
  return graph;
}

// -- views
async function runsView() {
  const runs = await api("training/runs?limit=50");
  return [el("h1", {}, "Runs"), table([
    ["run", (r) => link(`#/runs/${r.id}`, r.id)], ["plan", (r) => r.plan_name], ["status", (r) => r.status],
    ["backend", (r) => r.backend], ["dataset", (r) => r.meta?.dataset], ["started", (r) => r.started_at],
    ["ended", (r) => r.ended_at], ["by", (r) => r.created_by],
  ], runs)];
}

function searchProgress(trials) {
  const t0 = 0;
  let elapsed = t0;
  const loss = [], best = [];
  for (const t of trials) {
    elapsed += t.wall_s || 0;
    loss.push([elapsed, t.loss]);
    best.push([elapsed, t.best_loss]);
  }
  return lineChart([{ name: "trial loss", points: loss }, { name: "best so far", points: best }],
    { title: "Search progress", xLabel: "seconds of search", yLabel: "loss" });
}

async function runView(id) {
  const rep = await api(`training/runs/${encodeURIComponent(id)}`);
  const run = rep.run, plan = run.plan_json ? JSON.parse(run.plan_json) : null;
  const out = [el("h1", {}, `Run ${run.id}`),
    el("p", {}, `${run.plan_name} · ${run.status} · ${run.backend} · ${run.started_at ?? ""} → ${run.ended_at ?? ""}`),
    run.error ? el("p", { class: "error" }, run.error) : null,
    el("p", { class: "muted" }, "Report file on the server: ", el("code", {}, rep.path))];
  out.push(el("h2", {}, "Leaderboard"), table([
    ["rank", (e) => e.rank], ["estimator", (e) => e.estimator], [`best loss${rep.rank_metric ? ` (${rep.rank_metric})` : ""}`, (e) => e.best_loss],
    ["trials", (e) => e.trials], ["best trial", (e) => e.best_trial], ["config", (e) => clip(JSON.stringify(e.config), 120)],
  ], rep.estimators || []));
  if (rep.trials?.length) out.push(el("h2", {}, "Search progress"), searchProgress(rep.trials));
  out.push(el("h2", {}, "Steps"), table([
    ["step", (s) => s.step_id], ["kind", (s) => s.kind], ["status", (s) => s.status], ["seconds", (s) => s.seconds],
    ["result", (s) => clip(JSON.stringify(s.result ?? {}), 160)],
  ], rep.steps || []));
  if (plan?.steps) out.push(el("h2", {}, "Plan graph"), planGraph(plan.steps));
  if (rep.trials?.length) out.push(el("h2", {}, "Trials"), table([
    ["#", (t) => t.n], ["estimator", (t) => t.estimator], ["loss", (t) => t.loss], ["best", (t) => t.best_loss],
    ["seconds", (t) => t.wall_s],
  ], rep.trials));
  return out;
}

// a version's recorded evaluations (tesla evaluate, and its training run's on the held-out split), newest first
function evaluationsTable(evaluations) {
  const numbers = (e) => Object.entries(e.metrics || {}).filter(([, v]) => typeof v === "number").slice(0, 4)
    .map(([k, v]) => `${k} ${fmt(v)}`).join(", ");
  const gates = (e) => (e.gates?.length ? e.gates.map((g) => `${g.metric} ${g.rule}: ${g.passed ? "pass" : "FAIL"}`).join("; ") : "");
  return table([
    ["when", (e) => e.created_at], ["source", (e) => (e.run_id ? el("span", {}, "training run ", link(`#/runs/${e.run_id}`, e.run_id)) : "tesla evaluate")],
    ["data", (e) => e.data], ["metrics", (e) => numbers(e)], ["gates", (e) => gates(e)],
    ["report", (e) => (e.report ? e.report.slice(0, 12) : "")],
  ], evaluations);
}

// the newest report of a version, fetched when its <details> first opens and shown in a sandboxed frame (no
// script, its own origin); "open alone" is the route itself, or the fetched page when a token is needed
function reportPanel(m, evaluation, open) {
  const path = `evaluation/${encodeURIComponent(m.name)}@${m.version}/reports/${evaluation.report}`;
  const panel = el("details", { class: "report", open: open ? "" : null },
    el("summary", {}, `Evaluation report (${evaluation.source === "training" ? "training run" : "tesla evaluate"} on ${evaluation.data}, ${evaluation.created_at ?? ""})`));
  const load = async () => {
    panel.removeEventListener("toggle", load);
    try {
      const html = await apiText(path);
      const alone = sessionStorage.getItem(TOKEN_KEY) ? URL.createObjectURL(new Blob([html], { type: "text/html" })) : path;
      panel.append(el("p", {}, el("a", { href: alone, target: "_blank", rel: "noopener", class: "report-link" }, "Open the report alone")),
        el("iframe", { class: "report", sandbox: "", srcdoc: html, title: `Evaluation report of ${m.name}@${m.version}` }));
    } catch (err) {
      panel.append(el("p", { class: "error" }, err.message));
    }
  };
  if (open) load(); else panel.addEventListener("toggle", load);
  return panel;
}

async function modelsView(name) {
  const enc = name ? encodeURIComponent(name) : "";
  const [versions, evaluations] = await Promise.all([
    api(name ? `training/model-versions?name=${enc}` : "training/model-versions"),
    name ? api(`evaluation/${enc}/evaluations`) : [],
  ]);
  const out = [el("h1", {}, name ? `Model ${name}` : "Models"), table([
    ["model", (m) => link(`#/models/${encodeURIComponent(m.name)}`, `${m.name}@${m.version}`)], ["task", (m) => m.task],
    ["framework", (m) => m.framework], ["stage", (m) => m.stage], ["aliases", (m) => (m.aliases || []).join(", ")],
    ["dataset", (m) => (m.dataset ? link(`#/datasets/${encodeURIComponent(m.dataset)}`, `${m.dataset}@${m.dataset_version}`) : "")],
    ["run", (m) => (m.run_id ? link(`#/runs/${m.run_id}`, m.run_id) : "")], ["created", (m) => m.created_at],
  ], versions)];
  if (!name) return out;
  const newest = Math.max(...versions.map((m) => m.version));
  for (const m of versions) {
    const metrics = Object.entries(m.metrics || {}).filter(([, v]) => typeof v === "number");
    const own = evaluations.filter((e) => e.version === m.version), report = own.find((e) => e.report);
    out.push(el("div", { class: "card" }, el("h2", {}, `${m.name}@${m.version}`),
      el("p", {}, "Lineage: dataset ", m.dataset ? link(`#/datasets/${encodeURIComponent(m.dataset)}`, `${m.dataset}@${m.dataset_version}`) : "—",
        " → run ", m.run_id ? link(`#/runs/${m.run_id}`, m.run_id) : "—", ` → bundle ${(m.bundle_sha || "").slice(0, 12)}`,
        el("span", { class: "muted" }, ` (plan ${(m.plan_fingerprint || "").slice(0, 12)})`)),
      barChart(metrics.map(([label, value]) => ({ label, value })), { title: "Validation metrics" }),
      m.config?.best_estimator ? el("p", {}, `Best estimator: ${m.config.best_estimator}`) : null,
      el("h3", {}, "Evaluations"), evaluationsTable(own),
      report ? reportPanel(m, report, m.version === newest) : null));
  }
  return out;
}

async function datasetsView() {
  const sets = await api("data/datasets");
  return [el("h1", {}, "Datasets"), table([
    ["dataset", (d) => link(`#/datasets/${encodeURIComponent(d.name)}`, d.name)], ["current", (d) => d.version],
    ["rows", (d) => d.rows], ["columns", (d) => Object.keys(d.schema || {}).length], ["format", (d) => d.format],
    ["source", (d) => d.source], ["created", (d) => d.created_at],
  ], sets)];
}

async function datasetView(name, version) {
  const enc = encodeURIComponent(name);
  const [log, profile] = await Promise.all([api(`data/${enc}/log`), api(`data/${enc}/profile${version ? `?version=${version}` : ""}`)]);
  const out = [el("h1", {}, `Dataset ${name}`), el("h2", {}, "Versions"), table([
    ["version", (v) => link(`#/datasets/${enc}/${v.version}`, `${v.name}@${v.version}`)], ["rows", (v) => v.rows],
    ["sha256", (v) => v.sha256.slice(0, 12)], ["message", (v) => v.message], ["source", (v) => v.source],
    ["created", (v) => v.created_at], ["by", (v) => v.created_by],
  ], log)];
  out.push(el("h2", {}, `Profile of ${profile.name}`), el("p", {}, `${profile.rows} rows`));
  if (profile.warnings?.length) {
    out.push(el("ul", {}, profile.warnings.map((w) => el("li", { class: "bad" }, typeof w === "string" ? w : w.message ?? JSON.stringify(w)))));
  }
  out.push(table([
    ["column", (c) => c.name], ["kind", (c) => c.kind], ["missing", (c) => c.missing], ["distinct", (c) => c.distinct],
    ["mean", (c) => c.stats?.mean], ["min", (c) => c.stats?.min], ["max", (c) => c.stats?.max],
    ["distribution", (c) => (c.histogram?.length ? sparkline(c.histogram) : (c.top || []).map((t) => t.join?.(": ") ?? t).join(", "))],
    ["target association", (c) => c.target_association],
  ], profile.columns || []));
  return out;
}

// a deployment's request / latency / error series: the monitoring checks recorded for its model and profile
function trafficCharts(checks) {
  const ordered = [...checks].reverse().map((c, i) => ({ i: i + 1, s: c.summary || {} }));
  const series = (get) => ordered.filter((c) => typeof get(c.s) === "number").map((c) => [c.i, get(c.s)]);
  const lat = ordered[0]?.s.latency_ms || {};
  return [
    lineChart([{ name: "requests", points: series((s) => s.requests) }], { title: "Requests per check", xLabel: "check", width: 420, height: 200 }),
    lineChart(Object.keys(lat).slice(0, 3).map((k) => ({ name: `${k} ms`, points: series((s) => s.latency_ms?.[k]) })),
      { title: "Latency per check", xLabel: "check", width: 420, height: 200 }),
    lineChart([{ name: "error rate", points: series((s) => s.error_rate) }], { title: "Error rate per check", xLabel: "check", width: 420, height: 200 }),
  ];
}

// -- live traffic: the deployments' own /metrics (totals since each server started), read by the server every
// few seconds while the view is open; rates come from two readings, so the charts start at the second one
const LIVE_EVERY_MS = 3000, LIVE_KEEP = 200;
let livePoll = null, liveView = 0; // liveView changes with every route(): a reading for an old view is dropped

// the q quantile of a histogram's cumulative [upper bound, count] buckets holding `count` observations
function quantile(q, buckets, count) {
  if (count <= 0 || !buckets.length) return null;
  let low = 0, below = 0;
  for (const [bound, n] of buckets) {
    if (n >= q * count) return n === below ? bound : low + ((bound - low) * (q * count - below)) / (n - below);
    [low, below] = [bound, n];
  }
  return buckets[buckets.length - 1][0];
}

function liveSeries(samples) {
  const rate = [], mean = [], p90 = [], errors = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1], b = samples[i], dt = b.read_at - a.read_at, t = b.read_at - samples[0].read_at;
    const served = b.requests - a.requests, timed = b.latency_count - a.latency_count;
    if (dt <= 0) continue;
    rate.push([t, served / dt]);
    if (served > 0) errors.push([t, (b.errors - a.errors) / served]);
    if (timed > 0) {
      mean.push([t, ((b.latency_sum_s - a.latency_sum_s) / timed) * 1000]);
      const q = quantile(0.9, b.latency_buckets.map(([le, n], j) => [le, n - (a.latency_buckets[j]?.[1] ?? 0)]), timed);
      if (q !== null) p90.push([t, q * 1000]);
    }
  }
  return { rate, mean, p90, errors };
}

function liveCharts(samples) {
  const s = liveSeries(samples), last = samples[samples.length - 1];
  const size = { xLabel: "seconds", width: 420, height: 200 };
  const since = last.latency_ms?.p90 !== undefined ? `, p90 ${fmt(last.latency_ms.p90)} ms` : "";
  return [
    el("p", { class: "muted" }, `Since its server started: ${last.requests} requests, ${last.errors} errors, ${last.rows} rows${since}. `,
      samples.length < 2 ? "The charts start at the next reading." : `${samples.length} readings, every ${LIVE_EVERY_MS / 1000} s.`),
    lineChart([{ name: "requests/s", points: s.rate }], { title: "Live requests/s", ...size }),
    lineChart([{ name: "mean ms", points: s.mean }, { name: "p90 ms", points: s.p90 }], { title: "Live latency (ms)", ...size }),
    lineChart([{ name: "error rate", points: s.errors }], { title: "Live error rate", ...size }),
  ];
}

function recordLive(history, readings) {
  for (const r of readings) {
    const samples = (history[r.id] ??= []);
    const prev = samples[samples.length - 1];
    if (!r.available) continue;
    if (prev && r.requests < prev.requests) samples.length = 0; // its server restarted: counts start again
    samples.push(r);
    if (samples.length > LIVE_KEEP) samples.shift();
  }
}

function drawLive(boxes, history, readings) {
  for (const r of readings) {
    const box = boxes[r.id];
    if (!box) continue;
    box.replaceChildren(...(r.available ? liveCharts(history[r.id]) : [el("p", { class: "muted" }, `No live metrics: ${r.reason}`)]));
  }
}

function pollLive(view, boxes, history) {
  livePoll = setTimeout(async () => {
    try {
      const readings = await api("deployments/live");
      if (view !== liveView) return;
      recordLive(history, readings);
      drawLive(boxes, history, readings);
    } catch (err) {
      if (view !== liveView) return;
      for (const box of Object.values(boxes)) box.replaceChildren(el("p", { class: "error" }, `Live metrics: ${err.message}`));
    }
    pollLive(view, boxes, history);
  }, LIVE_EVERY_MS);
}

async function deploymentsView() {
  const view = liveView;
  const [records, health, checks, readings] = await Promise.all([api("deployments/records?active_only=false"), api("deployments/health"),
    api("monitoring/checks?limit=200"), api("deployments/live")]);
  const live = Object.fromEntries(health.map((h) => [h.id, h]));
  const out = [el("h1", {}, "Deployments"), table([
    ["id", (d) => d.id], ["model", (d) => link(`#/models/${encodeURIComponent(d.model)}`, `${d.model}@${d.version}`)],
    ["profile", (d) => d.profile], ["target", (d) => d.target], ["status", (d) => d.status], ["url", (d) => d.url],
    ["health", (d) => live[d.id]?.health?.status ?? ""], ["captured files", (d) => live[d.id]?.capture?.files ?? ""],
    ["created", (d) => d.created_at],
  ], records)];
  const boxes = {}, history = {};
  for (const r of readings) {
    out.push(el("h2", {}, `Live traffic of ${r.model} · ${r.profile}`), (boxes[r.id] = el("div", { class: "live", "data-deployment": r.id })));
  }
  recordLive(history, readings);
  drawLive(boxes, history, readings);
  if (readings.length && view === liveView) pollLive(view, boxes, history);
  const groups = {};
  for (const c of checks) (groups[`${c.model.split("@")[0]} · ${c.profile}`] ??= []).push(c);
  for (const [key, group] of Object.entries(groups)) {
    out.push(el("h2", {}, `Per-check history of ${key} (monitoring checks)`), el("div", {}, trafficCharts(group)));
  }
  return out;
}

function driftBars(summary) {
  return barChart((summary.features || []).map((f) => ({
    label: f.name, bad: f.drifted, value: f.psi ?? f.js ?? f.statistic ?? f.wasserstein ?? 0,
  })), { title: "Drift per feature (PSI, JS or test statistic; red: drifted)" });
}

async function monitoringView() {
  const checks = await api("monitoring/checks?limit=50");
  const out = [el("h1", {}, "Monitoring"), table([
    ["id", (c) => c.id], ["model", (c) => c.model], ["profile", (c) => c.profile],
    ["status", (c) => el("span", { class: c.status === "alert" ? "bad" : "ok" }, c.status)], ["rows", (c) => c.summary?.rows],
    ["alerts", (c) => (c.alerts || []).map((a) => a.message).join("; ")], ["report", (c) => c.report_path], ["at", (c) => c.created_at],
  ], checks)];
  for (const c of checks.slice(0, 5)) {
    if (c.summary?.features?.length) out.push(el("h2", {}, `Check ${c.id}: ${c.model} (${c.created_at})`), driftBars(c.summary));
  }
  return out;
}

const ROUTES = [
  [/^#\/runs\/([^/]+)$/, (m) => runView(m[1]), "runs"],
  [/^#\/runs$/, () => runsView(), "runs"],
  [/^#\/models\/([^/]+)$/, (m) => modelsView(decodeURIComponent(m[1])), "models"],
  [/^#\/models$/, () => modelsView(), "models"],
  [/^#\/datasets\/([^/]+)(?:\/(\d+))?$/, (m) => datasetView(decodeURIComponent(m[1]), m[2]), "datasets"],
  [/^#\/datasets$/, () => datasetsView(), "datasets"],
  [/^#\/deployments$/, () => deploymentsView(), "deployments"],
  [/^#\/monitoring$/, () => monitoringView(), "monitoring"],
];

async function route() {
  clearTimeout(livePoll);
  const mine = (liveView += 1); // a render that ends after a newer route() started is dropped, not shown over it
  const hash = location.hash || "#/runs";
  const [re, render, name] = ROUTES.find(([re]) => re.test(hash)) ?? ROUTES[1];
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  try {
    const content = await render(hash.match(re) ?? []);
    if (mine !== liveView) return;
    view.replaceChildren(...[content].flat().filter(Boolean));
    view.dataset.loaded = hash;
  } catch (err) {
    if (mine !== liveView) return;
    if (err instanceof AuthNeeded) document.getElementById("login").hidden = false;
    view.replaceChildren(el("p", { class: "error" }, err.message));
    view.dataset.loaded = hash;
  }
}

window.addEventListener("hashchange", route);
api("health").then((h) => { document.getElementById("project").textContent = `project ${h.project}`; }).catch(() => {});
route();
