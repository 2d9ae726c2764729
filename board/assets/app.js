// fcn board: polls the JSON API (ETags keep idle polls cheap) and draws with uPlot.
"use strict";
(() => {
  const POLL_MS = 1000;        // selected runs' metrics: a new line shows within ~1 s
  const LIST_MS = 2000;        // the runs list
  const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];
  const CHARTS = [
    { id: "loss", key: "loss", x: "train_step" },
    { id: "lr", key: "lr", x: "train_step" },
    { id: "miou", key: "miou", x: "eval_step" },
    { id: "pixel_acc", key: "pixel_acc", x: "eval_step" },
  ];

  const state = {
    runs: [], selected: new Set(), focus: null, data: {}, etags: {}, charts: {},
    evalSteps: [], evalIndex: -1, followLatest: true, evalCache: {}, study: null,
  };
  window.fcnBoard = state; // for tests and the curious

  const $ = (s) => document.querySelector(s);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
    return e;
  }

  // getJSON returns the parsed body, or null when unchanged since the last call with key.
  async function getJSON(url, key) {
    const headers = {};
    if (key && state.etags[key]) headers["If-None-Match"] = state.etags[key];
    const r = await fetch(url, { headers, cache: "no-cache" });
    if (r.status === 304) return null;
    if (!r.ok) throw new Error(url + ": " + r.status);
    if (key) state.etags[key] = r.headers.get("ETag");
    return r.json();
  }

  const fmt = (x, d = 4) => (x == null ? "–" : Number(x).toFixed(d));
  function eta(s) {
    if (s == null) return "–";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  // ---- runs list
  async function pollList() {
    try {
      const j = await getJSON("/api/runs", "runs");
      if (j) {
        state.runs = j.runs;
        const names = new Set(j.runs.map((r) => r.name));
        for (const n of [...state.selected]) if (!names.has(n)) state.selected.delete(n);
        if (state.selected.size === 0) {
          // Start with curves showing: every run when there are a few (learned beside
          // frozen), else the running ones, else the last few.
          const runs = j.runs.filter((r) => r.kind === "run");
          const running = runs.filter((r) => r.state === "running");
          const pick = runs.length <= 6 ? runs : running.length ? running.slice(0, 6) : runs.slice(-4);
          for (const r of pick) state.selected.add(r.name);
        }
        if (!state.focus) {
          // #run=NAME in the address focuses that run (links to a run work).
          const want = decodeURIComponent((location.hash.match(/^#run=(.*)$/) || [])[1] || "");
          const first = j.runs.find((r) => r.name === want) || j.runs.find((r) => state.selected.has(r.name)) || j.runs[0];
          if (first) setFocus(first.name);
        }
        renderList();
      }
    } catch (e) { /* the server restarts or the folder is gone: try again */ }
    setTimeout(pollList, LIST_MS);
  }

  function renderList() {
    const filter = $("#filter").value.trim();
    const tbody = $("#runs tbody");
    tbody.replaceChildren();
    for (const r of state.runs) {
      if (filter && !r.name.includes(filter)) continue;
      const box = el("input", { type: "checkbox" });
      box.checked = state.selected.has(r.name);
      box.disabled = r.kind !== "run";
      box.addEventListener("change", () => {
        if (box.checked) state.selected.add(r.name); else state.selected.delete(r.name);
        drawCharts();
      });
      const tr = el("tr", { class: state.focus === r.name ? "focus" : "", "data-run": r.name },
        el("td", {}, box),
        el("td", {}, el("span", { class: "name", onclick: () => setFocus(r.name) }, r.name)),
        el("td", {}, r.experiment || ""),
        el("td", {}, el("span", { class: "state state-" + r.state, title: r.error || "" }, r.state)),
        el("td", {}, r.kind === "run" ? (r.total ? r.step + " / " + r.total : r.step) : ""),
        el("td", {}, r.state === "running" ? eta(r.eta_seconds) : ""),
        el("td", {}, fmt(r.miou)));
      tbody.append(tr);
    }
  }
  $("#filter").addEventListener("input", renderList);

  // ---- curves
  async function pollRuns() {
    let changed = false;
    for (const name of new Set([...state.selected, state.focus].filter(Boolean))) {
      const run = state.runs.find((r) => r.name === name);
      if (run && run.kind !== "run") continue;
      try {
        const j = await getJSON("/api/run?run=" + encodeURIComponent(name), "run:" + name);
        if (j) { state.data[name] = j; changed = true; }
      } catch (e) { /* deleted while watched */ }
    }
    if (changed) {
      drawCharts();
      renderFocus();
    }
    setTimeout(pollRuns, POLL_MS);
  }

  function drawCharts() {
    const names = [...state.selected].filter((n) => state.data[n]).sort();
    for (const c of CHARTS) {
      const tables = [];
      const series = [{}];
      names.forEach((n, i) => {
        const m = state.data[n].metrics;
        const xs = m[c.x] || [], ys = m[c.key] || [];
        if (!xs.length) return;
        tables.push([xs, ys]);
        series.push({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: c.x === "eval_step" } });
      });
      const data = tables.length ? uPlot.join(tables) : [[]];
      const holder = $("#chart-" + c.id);
      const key = series.map((s) => s.label).join("|");
      let ch = state.charts[c.id];
      if (!ch || ch.key !== key) {
        if (ch) ch.plot.destroy();
        const width = Math.max(300, holder.clientWidth - 10);
        const plot = new uPlot({
          width, height: 220, series,
          scales: { x: { time: false }, y: c.id === "lr" ? { distr: 1 } : {} },
          axes: [{ label: "step" }, {}],
          legend: { live: false },
        }, data, holder);
        ch = state.charts[c.id] = { plot, key };
      } else {
        ch.plot.setData(data);
      }
      // Points drawn per chart: what the browser test watches grow.
      let pts = 0;
      for (let s = 1; s < data.length; s++) for (const v of data[s]) if (v != null) pts++;
      holder.dataset.points = pts;
    }
  }

  // ---- the focused run: evaluations, overlays, config; or a study report
  function setFocus(name) {
    state.focus = name;
    history.replaceState(null, "", "#run=" + encodeURIComponent(name));
    state.evalIndex = -1;
    state.followLatest = true;
    state.evalSteps = [];
    $("#detail-title").textContent = name;
    const run = state.runs.find((r) => r.name === name);
    const study = run && run.kind === "study";
    $("#run-detail").hidden = study;
    $("#study-detail").hidden = !study;
    if (study) loadStudy(name);
    renderList();
    renderFocus();
  }

  function renderFocus() {
    const d = state.data[state.focus];
    if (!d) return;
    $("#config").textContent = d.config || "(no config.yaml)";
    const steps = d.evals || [];
    const slider = $("#eval-slider");
    if (steps.join() !== state.evalSteps.join()) {
      state.evalSteps = steps;
      slider.max = Math.max(0, steps.length - 1);
      if (state.followLatest || state.evalIndex < 0) state.evalIndex = steps.length - 1;
      slider.value = state.evalIndex;
      loadEval(true);
    }
    const i = d.info;
    $("#eval-head").textContent = `${i.state}, step ${i.step}${i.total ? " of " + i.total : ""}` +
      (i.state === "running" ? `, ETA ${eta(i.eta_seconds)}, ${fmt(i.images_per_second, 1)} img/s` : "") +
      (i.error ? " — " + i.error : "");
  }

  $("#eval-slider").addEventListener("input", (e) => {
    state.evalIndex = Number(e.target.value);
    state.followLatest = state.evalIndex === state.evalSteps.length - 1;
    loadEval(false);
  });

  async function getEval(run, step) {
    const k = run + "@" + step;
    if (!state.evalCache[k]) state.evalCache[k] = await getJSON(`/api/eval?run=${encodeURIComponent(run)}&step=${step}`);
    return state.evalCache[k];
  }

  async function loadEval(latestToo) {
    const run = state.focus, steps = state.evalSteps;
    if (!steps.length) {
      $("#iou-table").replaceChildren(el("tr", {}, el("td", {}, "no evaluation yet")));
      $("#confusion").replaceChildren();
      $("#overlays").replaceChildren();
      $("#overlay-step").textContent = "";
      return;
    }
    try {
      const shown = await getEval(run, steps[state.evalIndex]);
      renderOverlays(shown);
      if (latestToo || state.followLatest) renderConfusion(await getEval(run, steps[steps.length - 1]));
    } catch (e) { /* removed meanwhile */ }
  }

  function renderOverlays(ev) {
    $("#overlay-step").textContent = `step ${ev.step} (${state.evalIndex + 1} of ${state.evalSteps.length}; drag to scrub)`;
    $("#overlays").replaceChildren(...(ev.overlays || []).map((o) =>
      el("figure", {}, el("img", { src: o.url, alt: o.id, class: "overlay" }), el("figcaption", {}, o.id))));
  }

  function renderConfusion(ev) {
    const c = ev.confusion;
    if (!c) return;
    const classes = c.classes || c.iou.map((_, i) => "class " + i);
    const iou = el("table", { id: "iou-table" },
      el("tr", {}, el("th", {}, "class"), el("th", {}, "IoU"), el("th", {}, "accuracy"), el("th", {}, "pixels")));
    c.matrix.forEach((row, t) => {
      const n = row.reduce((a, b) => a + b, 0);
      iou.append(el("tr", { class: "class-row" }, el("td", {}, classes[t]), el("td", {}, fmt(c.iou[t])),
        el("td", {}, n ? fmt(row[t] / n) : "–"), el("td", {}, n)));
    });
    iou.append(el("tr", {}, el("td", {}, "mean IoU (step " + c.step + ")"), el("td", {}, fmt(c.miou)), el("td", {}, fmt(c.mean_acc)), el("td", {}, "")));
    $("#iou-table").replaceWith(iou);
    const conf = el("table", { id: "confusion" },
      el("tr", {}, el("th", {}, "true \\ predicted"), ...classes.map((n) => el("th", {}, n))));
    c.matrix.forEach((row, t) => {
      const n = row.reduce((a, b) => a + b, 0) || 1;
      conf.append(el("tr", {}, el("th", {}, classes[t]), ...row.map((v, p) => {
        const f = v / n;
        const td = el("td", { title: v + " pixels" }, fmt(f, 2));
        td.style.background = (p === t ? "rgba(44,160,44," : "rgba(214,39,40,") + (0.1 + 0.8 * f).toFixed(2) + ")";
        return td;
      })));
    });
    $("#confusion").replaceWith(conf);
  }

  async function loadStudy(dir) {
    try {
      const s = await getJSON("/api/study?dir=" + encodeURIComponent(dir));
      $("#report").textContent = s.report;
      const t = $("#study-table");
      t.replaceChildren(...(s.csv || []).map((row, i) => el("tr", {}, ...row.map((v) => el(i ? "td" : "th", {}, v)))));
      $("#study-images").replaceChildren(...(s.images || []).map((u) => el("img", { src: u, alt: u })));
    } catch (e) { /* gone */ }
  }

  setInterval(() => { $("#clock").textContent = new Date().toLocaleTimeString(); }, 1000);
  pollList();
  pollRuns();
})();
