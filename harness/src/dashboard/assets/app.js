// The live dashboard: reads the run from /events (server-sent events: a `hello`
// with the run's points so far, then a `tick` a second) and draws it. No library,
// nothing loaded from anywhere but this page's own address.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const W = 900, H = 220, LEFT = 56, RIGHT = 12, TOP = 10, BOTTOM = 26;
  const COLORS = ["#2f6fdf", "#1b9e4b", "#d1495b", "#7a4fc9", "#e08a00", "#0f9fa8", "#8c564b", "#5a5f6b"];
  const $ = (id) => document.getElementById(id);
  let run = null, series = [], tick = null, finished = [];

  function setText(id, value) { const el = $(id); if (el.textContent !== String(value)) el.textContent = value; }
  function num(v, digits) {
    if (v === null || v === undefined) return "–";
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 0 : digits });
  }
  function el(name, attrs, text) {
    const e = document.createElementNS(SVG, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // The fault windows of the current run, in run seconds: ended ones and active ones
  // (drawn up to now).
  function windows() {
    if (!tick) return [];
    const now = tick.elapsed_s;
    const done = tick.faults_done.map((f) => ({ f, from: f.start_s, to: f.end_s, active: false }));
    const active = tick.faults_active.map((f) => ({ f, from: f.start_s, to: Math.max(now, f.start_s), active: true }));
    return done.concat(active);
  }

  // lines: [{name, color, values: [[t, v|null], ...]}]
  function draw(svgId, legendId, lines) {
    const svg = $(svgId);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const tMax = Math.max(tick ? tick.load_total_s : 1, ...series.map((p) => p.t), 1);
    let vMax = 0;
    for (const l of lines) for (const [, v] of l.values) if (v !== null && v > vMax) vMax = v;
    // Four grid steps of a round size (1, 2, 2.5 or 5 × 10^n).
    vMax = niceMax((vMax * 1.05) / 4) * 4;
    const x = (t) => LEFT + (W - LEFT - RIGHT) * (t / tMax);
    const y = (v) => H - BOTTOM - (H - TOP - BOTTOM) * (v / vMax);
    for (const w of windows()) {
      const r = el("rect", {
        class: "fault-window" + (w.active ? " active" : ""),
        x: x(w.from).toFixed(1), y: TOP, width: Math.max(2, x(w.to) - x(w.from)).toFixed(1), height: H - TOP - BOTTOM,
        "data-fault": w.f.id,
      });
      r.appendChild(el("title", {}, `${w.f.id}: ${w.f.kind} on ${w.f.target}` + (w.active ? " (active)" : "")));
      svg.appendChild(r);
    }
    for (let i = 0; i <= 4; i++) {
      const v = (vMax * i) / 4;
      svg.appendChild(el("line", { class: i ? "grid" : "axis", x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v) }));
      svg.appendChild(el("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end" }, num(v, vMax < 10 ? 1 : 0)));
    }
    const step = niceMax(tMax / 6);
    for (let t = 0; t <= tMax + 1e-9; t += step) {
      svg.appendChild(el("text", { x: x(t), y: H - 8, "text-anchor": "middle" }, num(t) + " s"));
    }
    svg.appendChild(el("line", { class: "axis", x1: LEFT, x2: LEFT, y1: TOP, y2: H - BOTTOM }));
    const legend = $(legendId);
    legend.textContent = "";
    lines.forEach((l) => {
      let d = "", pen = false;
      for (const [t, v] of l.values) {
        if (v === null || v === undefined) { pen = false; continue; }
        d += (pen ? "L" : "M") + x(t).toFixed(1) + " " + y(v).toFixed(1) + " ";
        pen = true;
      }
      if (d) svg.appendChild(el("path", { class: "series", d, stroke: l.color, "data-series": l.name }));
      const swatch = document.createElement("span");
      swatch.className = "swatch";
      swatch.style.background = l.color;
      legend.appendChild(swatch);
      legend.appendChild(document.createTextNode(l.name));
    });
    if (windows().length) {
      const swatch = document.createElement("span");
      swatch.className = "swatch fault-window-swatch";
      swatch.style.background = "rgba(230, 100, 20, 0.3)";
      legend.appendChild(swatch);
      legend.appendChild(document.createTextNode("fault active"));
    }
  }

  function rows(tableId, cells, empty) {
    const body = $(tableId).tBodies[0];
    body.textContent = "";
    if (!cells.length) {
      const tr = body.insertRow();
      const td = tr.insertCell();
      td.colSpan = $(tableId).tHead.rows[0].cells.length;
      td.className = "empty";
      td.textContent = empty;
      return;
    }
    for (const row of cells) {
      const tr = body.insertRow();
      if (row.active) tr.className = "active";
      for (const c of row.cells) {
        const td = tr.insertCell();
        if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      }
    }
  }

  function link(href, label) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = label;
    return a;
  }

  function render() {
    if (!tick) return;
    setText("experiment", tick.experiment || "harness");
    const where = [];
    if (tick.combination) where.push(`combination ${tick.combination[0]} of ${tick.combination[1]}`);
    if (tick.trial) where.push(`trial ${tick.trial[0]} of ${tick.trial[1]}`);
    setText("position", where.join(" · "));
    setText("phase", tick.phase);
    setText("clock", tick.phase === "drain" ? `${num(tick.elapsed_s, 1)} s (drain up to ${num(tick.drain_total_s)} s)` : `${num(tick.elapsed_s, 1)} / ${num(tick.load_total_s)} s`);
    document.title = `harness · ${tick.experiment} · ${tick.phase}`;
    const last = series.length ? series[series.length - 1] : null;
    setText("offered", last ? num(last.offered) : "–");
    setText("acked", last ? num(last.acked) : "–");
    setText("completed", last ? num(last.completed) : "–");
    setText("p50", tick.e2e_second ? num(tick.e2e_second.p50_ms, 1) : "–");
    setText("p99", tick.e2e_second ? num(tick.e2e_second.p99_ms, 1) : "–");
    setText("lag", num(tick.lag));
    setText("totals", `${num(tick.sent)} · ${num(tick.acked)} · ${num(tick.completed)} · ${num(tick.observed)}`);
    const found = Object.entries(tick.anomalies);
    setText("judged", `${num(tick.judged)} orders judged; ` + (found.length ? found.map(([k, n]) => `${n} ${k}`).join(", ") : "no anomaly"));
    $("judged-card").classList.toggle("bad", found.length > 0);

    draw("chart-rates", "legend-rates", [
      { name: "offered", color: COLORS[0], values: series.map((p) => [p.t, p.offered]) },
      { name: "acknowledged", color: COLORS[1], values: series.map((p) => [p.t, p.acked]) },
      { name: "completed", color: COLORS[2], values: series.map((p) => [p.t, p.completed]) },
    ]);
    draw("chart-latency", "legend-latency", [
      { name: "p50", color: COLORS[0], values: series.map((p) => [p.t, p.p50_ms]) },
      { name: "p99", color: COLORS[2], values: series.map((p) => [p.t, p.p99_ms]) },
    ]);
    const groups = [...new Set(series.flatMap((p) => Object.keys(p.lags)))].sort();
    draw("chart-lag", "legend-lag", groups.map((g, i) => ({
      name: g, color: COLORS[i % COLORS.length], values: series.map((p) => [p.t, g in p.lags ? p.lags[g] : null]),
    })));

    const faults = tick.faults_active.map((f) => ({ active: true, cells: [f.id, f.kind, f.target, num(f.start_s, 1), "active"] }))
      .concat(tick.faults_done.map((f) => ({ cells: [f.id, f.kind, f.target, num(f.start_s, 1), num(f.end_s, 1)] })));
    rows("faults", faults, "none yet");
    rows("anomalies", found.map(([k, n]) => ({ cells: [k, num(n)] })), "none proven so far");
    rows("services", tick.services.map((s) => ({
      active: s.breaker === "open",
      cells: [`${s.service}#${s.instance}`, num(s.retries), num(s.dead_letters), num(s.redelivered), s.breaker || "–"],
    })), "no samples yet");
    rows("runs", finished.map((f) => ({
      cells: [String(f.run), f.experiment, f.verdict || "–", link(f.report, "report.html")],
    })), "none yet");

    const ended = $("finished-now");
    ended.hidden = !tick.report;
    if (tick.report) {
      $("report-link").href = tick.report;
      const v = $("verdict");
      v.textContent = tick.verdict || "";
      v.className = tick.verdict ? "verdict-" + tick.verdict : "";
      setText("results-dir", tick.results || "");
    }
  }

  const events = new EventSource("/events");
  events.addEventListener("hello", (e) => {
    const hello = JSON.parse(e.data);
    series = hello.series;
    finished = hello.finished;
    tick = hello.tick;
    run = tick.run;
    render();
  });
  events.addEventListener("tick", (e) => {
    const t = JSON.parse(e.data);
    if (t.run !== run) { series = []; run = t.run; }
    if (t.point) series.push(t.point);
    if (t.report && !finished.some((f) => f.run === t.run)) {
      finished.push({ run: t.run, experiment: t.experiment, verdict: t.verdict, report: t.report, dir: t.results });
    }
    tick = t;
    render();
  });
  events.onopen = () => { setText("connection", "live"); $("connection").classList.remove("down"); };
  events.onerror = () => {
    // The harness ended (or cannot be reached): what was drawn stays.
    setText("connection", "disconnected: the harness has ended or cannot be reached" + (tick && tick.results ? `; results in ${tick.results}` : ""));
    $("connection").classList.add("down");
    if (events.readyState === EventSource.CLOSED) return;
  };
})();
