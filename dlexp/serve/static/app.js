// dlexp serve and the interactive report: the runs table, a run, a sweep, drawn with plotly.js.
//
// Data comes from the server's /api/… routes, or, in a report, from the JSON embedded in the page
// (#dlexp-data, keyed by the same paths), so both draw the same views. Every name and value goes
// into the page as text (textContent), never as markup; labels handed to plotly, which reads a
// little HTML in them, are entity-escaped first (plotText).
"use strict";
(function () {
  const EMBEDDED_NODE = document.getElementById("dlexp-data");
  const EMBEDDED = EMBEDDED_NODE ? JSON.parse(EMBEDDED_NODE.textContent) : null;
  const POLL_MS = 1000; // a finished epoch is on screen within a second of the live file's line
  const TRAIN = "#1f77b4", VAL = "#ff7f0e"; // train blue, validation orange, as in every figure
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const LABEL_COLOURS = {underfitting: "#2a6fbd", good_fit: "#2ca02c", overfitting: "#d62728",
    overconfident: "#ff7f0e", not_converged: "#c9b600", diverged: "#6b0000", "not diagnosed": "#9a9a9a"};
  const PLOT_CONFIG = {responsive: true, displaylogo: false};

  // ---------------------------------------------------------------------------------------------
  // Data and text

  async function get(path) {
    if (EMBEDDED) {
      if (path in EMBEDDED.api) return EMBEDDED.api[path];
      throw new Error("not part of this report");
    }
    const r = await fetch(path, {cache: "no-store"});
    if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
    return r.json();
  }

  // Control characters and bidirectional overrides are shown as \uXXXX, never obeyed: a name
  // holding U+202E cannot reverse the text around it (the terminal's printable() does the same).
  const INVISIBLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g;
  function shown(value) {
    return String(value ?? "").replace(INVISIBLE, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  }
  // plotly reads tags in its labels (<b>, <a href>) and decodes &lt; &gt; &amp; &#39; but shows
  // &quot; as typed: escaping the tag characters is what keeps a label text
  const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;"};
  function plotText(value) {
    return shown(value).replace(/[&<>']/g, (c) => ENTITIES[c]);
  }

  // el("td", {className: "l", title: x}, "text", child…): attributes as properties, strings as text nodes
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (k === "dataset") Object.assign(node.dataset, v);
      else node[k] = v;
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(shown(c)));
    }
    return node;
  }

  function num(v, std) {
    if (v === null || v === undefined || typeof v !== "number") return v === true ? "yes" : v === false ? "no" : "";
    if (!Number.isFinite(v)) return "n/a";
    let text = Number.isInteger(v) ? String(v) : (Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 && v !== 0)
      ? v.toExponential(2) : String(Number(v.toPrecision(4)));
    if (typeof std === "number" && std > 0 && Number.isFinite(std)) return withSpread(v, std, text);
    return text;
  }

  // A mean and its spread as `dlexp table` shows them (analysis/tables.py, _with_spread): the
  // spread to two significant digits when its first is 1 or 2, else one; the mean to the same
  // decimal place, at most four significant digits; no spread below the mean's fourth digit.
  // Written without spaces ("0.371±0.004"): a table column holds it whole.
  function withSpread(v, std, text) {
    const p4 = (x) => Number(x).toPrecision(4);
    if (p4(v - std) === p4(v) && p4(v) === p4(v + std)) return text;
    let places = (Number(std.toExponential(1)[0]) <= 2 ? 1 : 0) - Math.floor(Math.log10(std));
    if (places > 6 || Math.abs(v) >= 1e6) return `${text}±${Number(std.toPrecision(2))}`;
    places = Math.max(0, places);
    let mean = v.toFixed(places);
    if (mean.replace(/[-.]/g, "").replace(/^0+/, "").length > 4) mean = String(Number(v.toPrecision(4)));
    return `${mean}±${std.toFixed(places)}`;
  }

  function badge(text) {
    return el("span", {className: "badge " + String(text || "").replace(/[^a-z_]/g, "")}, String(text || "").replace(/_/g, " "));
  }

  function runHref(rid) { return "#/run/" + encodeURIComponent(rid); }
  function sweepHref(name) { return "#/sweep/" + encodeURIComponent(name); }

  // ---------------------------------------------------------------------------------------------
  // The runs table

  const state = {index: null, sort: {key: null, dir: 1}, filter: {name: "", status: "", diagnosis: "", where: ""},
    group: false, selected: [], runs: {}};

  const COLUMNS = [ // key, header, <col> class, cell
    ["name", "run", "run l", (r) => [el("a", {href: runHref(r.run_id)}, r.name || r.run_id), " ", el("small", {}, r.run_id.slice(0, 8))]],
    ["point", "sweep · point", "point l", (r) => pointText(r)],
    ["status", "status", "status l", (r) => badge(r.status)],
    ["epochs_run", "epochs", "epochs", (r) => r.best_epoch ? `${num(r.epochs_run)} (${num(r.best_epoch)})` : num(r.epochs_run)],
    ["train_loss", "train loss", "num", (r) => num(r.train_loss, r.train_loss_std)],
    ["val_loss", "val loss", "num", (r) => num(r.val_loss, r.val_loss_std)],
    ["val_metric", "val acc/r²", "num", (r) => num(r["val_" + r.metric], r[`val_${r.metric}_std`])],
    ["gap", "gap", "num", (r) => num(r.gap, r.gap_std)],
    ["n_params", "params", "num", (r) => num(r.n_params)],
    ["wall_time", "time (s)", "num", (r) => num(r.wall_time)],
    ["diagnosis", "diagnosis", "diag l", (r) => r.diagnosis ? badge(r.diagnosis) : ""],
  ];

  function pointText(r) {
    return (r.sweeps || []).map((s) => `${s.sweep}: ` + Object.entries(s.point).map(([k, v]) => `${k.split(".").pop()}=${v}`).join(", ")).join("; ");
  }

  function sortValue(r, key) {
    if (key === "val_metric") return r["val_" + r.metric];
    if (key === "point") return pointText(r);
    return r[key];
  }

  function matchesWhere(r, where) {
    // "l2=0.001" or "regularization.l2=0.001": the key's last parts, the value as the table shows it
    const [key, value] = where.split("=").map((s) => s.trim());
    return (r.sweeps || []).some((s) => Object.entries(s.point).some(([k, v]) =>
      (k === key || k.endsWith("." + key)) && (value === undefined || v === value)));
  }

  function visibleRows() {
    const f = state.filter;
    let rows = state.index.runs.filter((r) =>
      (!f.name || (r.name + " " + r.run_id).toLowerCase().includes(f.name.toLowerCase())) &&
      (!f.status || r.status === f.status) &&
      (!f.diagnosis || (r.diagnosis || "not diagnosed") === f.diagnosis) &&
      (!f.where || matchesWhere(r, f.where)));
    const {key, dir} = state.sort;
    if (key) {
      rows = rows.slice().sort((a, b) => {
        const x = sortValue(a, key), y = sortValue(b, key);
        if (x === y) return 0;
        if (x === null || x === undefined || x === "") return 1; // blanks last either way
        if (y === null || y === undefined || y === "") return -1;
        return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * dir;
      });
    }
    return rows;
  }

  function choices(values) {
    return [...new Set(values)].sort();
  }

  function renderTablePage(root) {
    const idx = state.index;
    const sweeps = el("div", {className: "sweeps"}, "sweeps: ", idx.sweeps.length ? idx.sweeps.map((s) =>
      el("a", {href: sweepHref(s.name), className: "sweep-link"}, s.name, " ", el("small", {}, `${s.done}/${s.runs}${s.training ? ` · ${s.training} training` : ""}`))) : "none");
    const select = (id, label, values) => el("label", {}, label + " ",
      el("select", {id, onchange: (e) => { state.filter[id.slice(7)] = e.target.value; renderRows(); }},
        el("option", {value: ""}, "any"), values.map((v) => el("option", {value: v, selected: state.filter[id.slice(7)] === v}, v))));
    const text = (id, label, placeholder) => el("label", {}, label + " ",
      el("input", {type: "text", id, placeholder, value: state.filter[id.slice(7)],
        oninput: (e) => { state.filter[id.slice(7)] = e.target.value; renderRows(); }}));
    const bar = el("div", {className: "bar"},
      text("filter-name", "name", "part of a name or id"),
      select("filter-status", "status", choices(idx.runs.map((r) => r.status))),
      select("filter-diagnosis", "diagnosis", choices(idx.runs.map((r) => r.diagnosis || "not diagnosed"))),
      text("filter-where", "swept", "key=value"),
      el("label", {}, el("input", {type: "checkbox", id: "group-sweep", checked: state.group,
        onchange: (e) => { state.group = e.target.checked; renderRows(); }}), " group by sweep"),
      el("span", {id: "count", className: "meta"}));
    const head = el("tr", {}, el("th", {title: "select to overlay the curves"}, ""),
      COLUMNS.map(([key, title, cls]) => el("th", {className: cls.includes(" l") ? "l" : "", dataset: {key},
        onclick: () => { state.sort = {key, dir: state.sort.key === key ? -state.sort.dir : 1}; renderRows(); }}, title)));
    const table = el("table", {id: "runs"},
      el("colgroup", {}, el("col", {className: "sel"}), COLUMNS.map(([, , cls]) => el("col", {className: cls.split(" ")[0]}))),
      el("thead", {}, head), el("tbody", {}));
    root.replaceChildren(
      el("h1", {}, "Runs"), sweeps, bar, table,
      el("h2", {}, "Curves of the selected runs"),
      el("p", {className: "caption", id: "curves-caption"}, "Select runs in the table to overlay their curves."),
      el("div", {className: "plots"}, el("div", {className: "plot", id: "curves-loss"}), el("div", {className: "plot", id: "curves-metric"})));
    renderRows();
    drawSelected();
  }

  function renderRows() {
    const tbody = document.querySelector("#runs tbody");
    if (!tbody) return;
    const rows = visibleRows();
    document.querySelectorAll("#runs th").forEach((th) => {
      th.classList.toggle("sorted-asc", th.dataset.key === state.sort.key && state.sort.dir > 0);
      th.classList.toggle("sorted-desc", th.dataset.key === state.sort.key && state.sort.dir < 0);
    });
    const line = (r) => el("tr", {className: state.selected.includes(r.run_id) ? "selected" : "", dataset: {run: r.run_id}},
      el("td", {}, el("input", {type: "checkbox", className: "select", checked: state.selected.includes(r.run_id),
        onchange: (e) => toggle(r.run_id, e.target.checked)})),
      COLUMNS.map(([key, , cls, cell]) => {
        const content = cell(r);
        return el("td", {className: cls.includes(" l") ? "l" : "", title: typeof content === "string" ? shown(content) : ""}, content);
      }));
    let body;
    if (state.group) {
      const groups = new Map();
      for (const r of rows) {
        const g = (r.sweeps && r.sweeps.length) ? r.sweeps[0].sweep : "";
        if (!groups.has(g)) groups.set(g, []);
        groups.get(g).push(r);
      }
      body = [...groups.entries()].sort(([a], [b]) => (a === "") - (b === "") || a.localeCompare(b)).flatMap(([g, rs]) =>
        [el("tr", {className: "group"}, el("td", {colSpan: COLUMNS.length + 1}, g ? `sweep ${g}` : "runs of no sweep", " ",
          el("small", {}, `${rs.length}`))), ...rs.map(line)]);
    } else body = rows.map(line);
    tbody.replaceChildren(...body);
    const count = document.getElementById("count");
    if (count) count.textContent = `${rows.length} of ${state.index.runs.length} runs`;
  }

  function toggle(rid, on) {
    state.selected = on ? [...state.selected.filter((r) => r !== rid), rid] : state.selected.filter((r) => r !== rid);
    renderRows();
    drawSelected();
  }

  async function loadRun(rid, force) {
    if (force || !state.runs[rid]) state.runs[rid] = await get("/api/run/" + encodeURIComponent(rid));
    return state.runs[rid];
  }

  async function drawSelected() {
    const loss = document.getElementById("curves-loss"), metric = document.getElementById("curves-metric");
    if (!loss || !window.Plotly) return;
    const runs = [];
    for (const rid of state.selected) {
      try { runs.push(await loadRun(rid)); } catch (e) { /* a run gone since it was listed: left out */ }
    }
    if (!runs.length) {
      Plotly.purge(loss); Plotly.purge(metric);
      document.getElementById("curves-caption").textContent = "Select runs in the table to overlay their curves.";
      return;
    }
    const m = runs[0].metric;
    Plotly.react(loss, compareTraces(runs, "loss"), curveLayout("loss per epoch", "loss", true), PLOT_CONFIG);
    Plotly.react(metric, compareTraces(runs, m), curveLayout(`${m} per epoch`, m, false), PLOT_CONFIG);
    document.getElementById("curves-caption").textContent = shown(`${runs.length} runs overlaid, one colour each: ` +
      "train dashed, validation solid, ±1 std shaded for repeats and CV folds, a star at each run's best epoch " +
      "and a cross where early stopping ended it. Click a legend entry to hide a series, drag to zoom, double-click to reset.");
  }

  // ---------------------------------------------------------------------------------------------
  // Curves

  function band(x, y, std, colour, group) {
    // ±std as a filled band: the upper edge, then the lower edge filled up to it
    if (!std || !std.some((s) => s > 0)) return [];
    const up = y.map((v, i) => v === null ? null : v + (std[i] || 0)), lo = y.map((v, i) => v === null ? null : v - (std[i] || 0));
    return [{x, y: up, mode: "lines", line: {width: 0}, legendgroup: group, showlegend: false, hoverinfo: "skip"},
      {x, y: lo, mode: "lines", line: {width: 0}, fill: "tonexty", fillcolor: colour + "2e", legendgroup: group,
        showlegend: false, hoverinfo: "skip"}];
  }

  function seriesTraces(series, what, colours, name, group, dashTrain) {
    const out = [];
    series.forEach((s, si) => {
      const c = s.columns, x = c.epoch || [];
      const suffix = s.label ? ` [${s.label}]` : "";
      for (const [split, colour, dash] of [["train", colours.train, dashTrain], ["val", colours.val, "solid"]]) {
        const y = c[`${split}_${what}`];
        if (!y) continue;
        out.push(...band(x, y, c[`${split}_${what}_std`], colour, group + split));
        out.push({x, y, name: plotText(`${name}${suffix} · ${split}`), mode: "lines", legendgroup: group + split,
          line: {color: colour, dash, width: 2}, hovertemplate: `%{y:.4g} at epoch %{x}<extra>${plotText(name + suffix + " · " + split)}</extra>`});
      }
    });
    return out;
  }

  function point(series, what, epoch) {
    const c = series.columns, i = (c.epoch || []).indexOf(epoch), y = c[`val_${what}`];
    return i >= 0 && y ? y[i] : null;
  }

  function compareTraces(runs, what) {
    const traces = [];
    runs.forEach((p, i) => {
      const colour = PALETTE[i % PALETTE.length], name = p.name || p.run_id;
      traces.push(...seriesTraces(p.series, what, {train: colour, val: colour}, name, p.run_id, "dash"));
      const s = p.summary, first = p.series[0];
      if (!first) return;
      if (s.best_epoch) traces.push({x: [s.best_epoch], y: [point(first, what, s.best_epoch)], mode: "markers",
        marker: {symbol: "star", size: 13, color: colour, line: {color: "#000", width: 1}}, legendgroup: p.run_id + "val",
        showlegend: false, name: plotText(`${name} · best epoch`), hovertemplate: `best epoch %{x}<extra>${plotText(name)}</extra>`});
      if (s.stopped_early && s.stopped_epoch) traces.push({x: [s.stopped_epoch], y: [point(first, what, s.stopped_epoch)],
        mode: "markers", marker: {symbol: "x-thin", size: 12, color: "#000", line: {width: 2, color: "#000"}},
        legendgroup: p.run_id + "val", showlegend: false, name: plotText(`${name} · early stop`),
        hovertemplate: `early stop at epoch %{x}<extra>${plotText(name)}</extra>`});
    });
    return traces;
  }

  function curveLayout(title, ytitle, logy) {
    // the legend under the axis title, not on it
    return {title: {text: plotText(title), font: {size: 14}, x: 0.01, xanchor: "left"}, margin: {l: 55, r: 10, t: 36, b: 40},
      xaxis: {title: {text: "epoch", standoff: 4}, zeroline: false},
      yaxis: {title: {text: plotText(ytitle)}, type: logy ? "log" : "linear"},
      legend: {orientation: "h", y: -0.3, yanchor: "top"}, hovermode: "closest", shapes: []};
  }

  function runCurves(p, what) {
    const traces = seriesTraces(p.series, what, {train: TRAIN, val: VAL}, what, "run", "dash");
    const layout = curveLayout(`${what} per epoch`, what, what === "loss");
    const s = p.summary;
    const vline = (x, colour, dash) => ({type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1,
      line: {color: colour, dash, width: 1.5}});
    if (s.best_epoch) layout.shapes.push(vline(s.best_epoch, "#2ca02c", "dot"));
    if (s.stopped_early && s.stopped_epoch) layout.shapes.push(vline(s.stopped_epoch, "#d62728", "solid"));
    return [traces, layout];
  }

  // ---------------------------------------------------------------------------------------------
  // A run

  function kv(entries) {
    return el("dl", {className: "kv"}, entries.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function summaryEntries(s) {
    return Object.entries(s).filter(([k, v]) => v === null || typeof v !== "object").filter(([k]) => !k.endsWith("_std"))
      .map(([k, v]) => [k, typeof v === "number" ? num(v, s[k + "_std"]) : String(v ?? "")]);
  }

  function evidenceText(v) {
    if (v === null || v === undefined) return "";
    if (Array.isArray(v)) return v.map(evidenceText).join("; ");
    if (typeof v === "object") return Object.entries(v).map(([k, x]) => `${k}: ${evidenceText(x)}`).join("; ");
    return typeof v === "number" ? num(v) : String(v);
  }

  function diagnosisView(d) {
    if (!d) return el("p", {className: "meta"}, "not diagnosed yet: dlexp diagnose RUN records it here");
    const remedies = Array.isArray(d.remedies) ? d.remedies : [];
    return el("div", {id: "diagnosis"}, badge(d.label), " ", d.reason || "",
      d.evidence && typeof d.evidence === "object" ? [el("h3", {}, "evidence"),
        kv(Object.entries(d.evidence).filter(([, v]) => v !== null).map(([k, v]) => [k, evidenceText(v)]))] : null,
      remedies.length ? [el("h3", {}, "remedies"), el("ol", {}, remedies.map((r) => el("li", {},
        typeof r === "object" ? [[r.key, r.action].filter(Boolean).join(": "), r.why ? el("div", {}, el("small", {}, evidenceText(r.why))) : null] : String(r))))] : null);
  }

  async function figureView(p, kind) {
    const fig = el("figure", {className: "static-figure"}, el("figcaption", {}, `dlexp plot --kind ${kind}`));
    if (EMBEDDED) {
      const data = ((EMBEDDED.figures || {})[p.run_id] || {})[kind];
      if (!data) return null;
      fig.prepend(el("img", {alt: `${kind} figure`, src: data}));
      return fig;
    }
    try {
      const r = await fetch(`/figure/${encodeURIComponent(p.run_id)}/${kind}.png`);
      if (!r.ok) {
        if (kind === "curves") fig.prepend(el("p", {className: "note"}, `not drawn: ${await r.text()}`));
        else return null; // a model figure that does not fit this run (boundary of 10-D data, …)
      } else fig.prepend(el("img", {alt: `${kind} figure`, src: URL.createObjectURL(await r.blob())}));
    } catch (e) { return null; }
    return fig;
  }

  async function renderRunPage(root, rid) {
    const p = await loadRun(rid, true);
    const s = p.summary;
    const figures = el("div", {id: "figures"});
    root.replaceChildren(
      el("h1", {}, p.name || p.run_id),
      el("p", {className: "meta"}, badge(p.status), ` run ${p.run_id} · ${s.kind || "single"}`),
      el("div", {className: "plots"}, el("div", {className: "plot", id: "run-loss"}), el("div", {className: "plot", id: "run-metric"})),
      el("p", {className: "caption", id: "run-caption"}, p.caption),
      el("div", {className: "cols"},
        el("section", {}, el("h2", {}, "Summary"), kv(summaryEntries(s))),
        el("section", {}, el("h2", {}, "Diagnosis"), diagnosisView(p.diagnosis))),
      el("h2", {}, "Config"), el("pre", {id: "config"}, p.config),
      el("h2", {}, "Figures"), figures);
    drawRun(p);
    for (const kind of p.figures) {
      const fig = await figureView(p, kind);
      if (fig) figures.append(fig);
    }
    if (!figures.children.length) figures.append(el("p", {className: "meta"}, EMBEDDED
      ? "the static figures of this run are in its own report (dlexp report RUN)" : "no figure fits this run yet"));
  }

  function drawRun(p) {
    if (!window.Plotly) return;
    for (const [id, what] of [["run-loss", "loss"], ["run-metric", p.metric]]) {
      const [traces, layout] = runCurves(p, what);
      Plotly.react(document.getElementById(id), traces, layout, PLOT_CONFIG);
    }
    document.getElementById("run-caption").textContent = shown(p.caption);
  }

  // ---------------------------------------------------------------------------------------------
  // A sweep

  function shading(c, xs) {
    // one rectangle per point, from half-way to its neighbours (geometric half-way on a log
    // axis, whose shapes take data values), in its diagnosis colour
    // several lines (other keys swept too) share each x: no one label to shade it with, as the verdict says
    if (new Set(c.group).size > 1) return [];
    const log = c.log && !c.even;
    const mid = (a, b) => log ? Math.sqrt(a * b) : (a + b) / 2;
    const mirror = (x, m) => log ? x * x / m : 2 * x - m; // the edge as far on the other side
    return xs.map((x, i) => {
      const left = i ? mid(xs[i - 1], x) : (xs.length > 1 ? mirror(x, mid(x, xs[1])) : x - 0.5);
      const right = i < xs.length - 1 ? mid(x, xs[i + 1]) : (xs.length > 1 ? mirror(x, left) : x + 0.5);
      return {type: "rect", xref: "x", yref: "paper", layer: "below", y0: 0, y1: 1, x0: left, x1: right,
        fillcolor: LABEL_COLOURS[c.label[i] || "not diagnosed"], opacity: 0.16, line: {width: 0}};
    });
  }

  // Positions on the x axis: the values, or evenly spaced when a zero sits among log-spaced ones
  // (λ = 0, 1e-4, …, 0.1), with the values as tick labels
  function positions(c) {
    return c.even ? c.x.map((_, i) => i) : c.x;
  }

  function curveTraces(c, what) {
    const traces = [], xs = positions(c);
    const groups = [...new Set(c.group)];
    for (const [split, colour, dash] of [["train", TRAIN, "dash"], ["val", VAL, "solid"]]) {
      const y = c[`${split}_${what}`];
      if (!y) continue;
      const std = c[`${split}_${what}_std`];
      groups.forEach((g, gi) => {
        // one line per value of the other swept keys, told apart by their marker
        const at = c.group.map((x, i) => x === g ? i : -1).filter((i) => i >= 0);
        const pick = (a) => at.map((i) => a[i]);
        traces.push({x: pick(xs), y: pick(y), name: plotText(g ? `${split} · ${g}` : split), mode: "lines+markers",
          line: {color: colour, dash, width: 2}, marker: {symbol: ["circle", "square", "diamond", "triangle-up", "x", "cross"][gi % 6], size: 7},
          error_y: std && std.some((s) => s > 0) ? {type: "data", array: pick(std).map((s) => s || 0), visible: true, color: colour} : undefined,
          text: at.map((i) => plotText(`${c.shown[i]}${g ? " · " + g : ""} · ${(c.label[i] || "not diagnosed").replace(/_/g, " ")}`)),
          hovertemplate: `${split} %{y:.4g}<br>%{text}<extra></extra>`});
      });
    }
    // the labels as legend entries, so that the shading can be read
    for (const lab of [...new Set(c.label.map((l) => l || "not diagnosed"))]) {
      traces.push({x: [null], y: [null], mode: "markers", name: plotText(lab.replace(/_/g, " ")), hoverinfo: "skip",
        marker: {symbol: "square", size: 12, color: LABEL_COLOURS[lab], opacity: 0.5}});
    }
    return traces;
  }

  function parallelTrace(par) {
    const labels = par.labels, n = labels.length;
    // a stepped colour scale: one flat colour per label index
    const scale = labels.flatMap((lab, i) => [[i / n, LABEL_COLOURS[lab] || "#999"], [(i + 1) / n, LABEL_COLOURS[lab] || "#999"]]);
    return {type: "parcoords", line: {color: par.label.map((l) => labels.indexOf(l)), colorscale: scale, cmin: -0.5, cmax: n - 0.5,
      showscale: false},
      dimensions: par.dimensions.map((d) => ({label: plotText(d.label), values: d.values,
        ...(d.tickvals ? {tickvals: d.tickvals, ticktext: d.ticktext.map(plotText)} : {})}))};
  }

  async function renderSweepPage(root, name) {
    const p = await get("/api/sweep/" + encodeURIComponent(name));
    const done = p.points.filter((x) => x.status === "completed" || x.status === "diverged").length;
    const legend = el("p", {className: "meta"}, "colours: ", p.parallel ? p.parallel.labels.map((lab) =>
      el("span", {className: "badge", style: `background:${LABEL_COLOURS[lab]};color:#fff`}, lab.replace(/_/g, " "))) : "");
    const table = el("table", {id: "points"}, el("thead", {}, el("tr", {},
      ["point", "status", "val loss", `val ${p.metric}`, "gap", "diagnosis"].map((h, i) => el("th", {className: i ? "" : "l"}, h)))),
      el("tbody", {}, p.points.map((pt) => el("tr", {}, el("td", {className: "l"}, el("a", {href: runHref(pt.run_id)},
        Object.entries(pt.point).map(([k, v]) => `${k}=${v}`).join(", ") || pt.run_id)),
        el("td", {}, badge(pt.status)), el("td", {}, num(pt.val_loss, pt.val_loss_std)),
        el("td", {}, num(pt[`val_${p.metric}`], pt[`val_${p.metric}_std`])), el("td", {}, num(pt.gap, pt.gap_std)),
        el("td", {}, pt.diagnosis ? badge(pt.diagnosis) : "")))));
    root.replaceChildren(
      el("h1", {}, `sweep ${p.name}`),
      el("p", {className: "meta"}, `${done} of ${p.points.length} points done · swept: ${p.swept.join(", ") || "nothing"}`),
      el("h2", {}, p.curve ? (p.curve.kind === "learning" ? "Learning curve" : "Validation curve") : "Validation curve"),
      p.curve ? el("div", {className: "plots"}, el("div", {className: "plot", id: "sweep-curve"}), el("div", {className: "plot", id: "sweep-curve-metric"}))
        : el("p", {className: "meta"}, "no numeric swept key to draw a curve against: see the parallel coordinates"),
      p.curve ? el("p", {className: "caption"}, p.captions.curve) : null,
      el("h2", {}, "Parallel coordinates"), legend,
      el("div", {className: "plot wide", id: "sweep-parallel"}),
      el("p", {className: "caption"}, p.captions.parallel || "no finished run yet"),
      el("h2", {}, "Points"), table);
    if (!window.Plotly) return;
    if (p.curve) {
      for (const [id, what] of [["sweep-curve", "loss"], ["sweep-curve-metric", p.metric]]) {
        Plotly.react(document.getElementById(id), curveTraces(p.curve, what), {
          title: {text: plotText(`final ${what} vs ${p.curve.key}`), font: {size: 14}, x: 0.01, xanchor: "left"},
          margin: {l: 55, r: 10, t: 36, b: 44}, shapes: shading(p.curve, positions(p.curve)), hovermode: "closest",
          xaxis: {title: {text: plotText(p.curve.axis)}, type: p.curve.log && !p.curve.even ? "log" : "linear", zeroline: false,
            ...(p.curve.even ? {tickvals: positions(p.curve), ticktext: p.curve.shown.map(plotText)} : {})},
          yaxis: {title: {text: plotText(what)}}, legend: {orientation: "h", y: -0.22}}, PLOT_CONFIG);
      }
    }
    if (p.parallel) {
      Plotly.react(document.getElementById("sweep-parallel"), [parallelTrace(p.parallel)],
        {margin: {l: 70, r: 70, t: 50, b: 20}}, PLOT_CONFIG);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Routing and the live refresh

  function route() {
    const [, page, arg] = (location.hash || "#/").slice(1).split("/");
    return {page: page || "", arg: arg === undefined ? "" : decodeURIComponent(arg)};
  }

  async function render() {
    const root = document.getElementById("app");
    const {page, arg} = route();
    window.scrollTo(0, 0); // a new view starts at its top, not where the last one was scrolled to
    document.getElementById("where").textContent = EMBEDDED ? shown(`report · ${EMBEDDED.title}`) : shown(state.index ? state.index.results : "");
    try {
      if (page === "run") await renderRunPage(root, arg);
      else if (page === "sweep") await renderSweepPage(root, arg);
      else {
        state.index = await get("/api/index");
        renderTablePage(root);
      }
    } catch (e) {
      root.replaceChildren(el("p", {className: "note"}, `cannot show this page: ${e.message}`));
    }
  }

  async function poll() {
    const {page, arg} = route();
    try {
      if (page === "") {
        const before = new Map(state.index ? state.index.runs.map((r) => [r.run_id, `${r.status}/${r.epochs_run}`]) : []);
        state.index = await get("/api/index");
        renderRows();
        const changed = state.selected.filter((rid) => {
          const r = state.index.runs.find((x) => x.run_id === rid);
          return r && before.get(rid) !== `${r.status}/${r.epochs_run}`;
        });
        for (const rid of changed) await loadRun(rid, true);
        if (changed.length) drawSelected();
      } else if (page === "run") {
        const old = state.runs[arg];
        if (old && (old.status === "training")) {
          const p = await loadRun(arg, true);
          if (p.status !== old.status) render(); // published (or killed): the whole page changes
          else drawRun(p);
        }
      }
    } catch (e) { /* the server stopped or a run went away: the next poll tries again */ }
    document.getElementById("live").textContent = "live · " + new Date().toLocaleTimeString();
  }

  window.addEventListener("hashchange", render);
  if (EMBEDDED && !location.hash) history.replaceState(null, "", EMBEDDED.start); // a report opens at its target
  render();
  if (!EMBEDDED) setInterval(poll, POLL_MS);
})();
