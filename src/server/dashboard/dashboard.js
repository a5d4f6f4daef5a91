// The cardbot dashboard: fetches the admin API with the token kept in this tab, draws
// each chart, and records what each chart shows (data-rendered) for tests and tools.
"use strict";

(function () {
  const TOKEN_KEY = "cardbot.admin_token";
  const STAFF_LIMIT = 10;
  const DEAD_LETTER_LIMIT = 10;
  const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#ea580c", "#475569"];
  const METRIC_NAMES = {
    received: "Received", received_gift: "Received as gift", viewed: "Viewed",
    entered: "Entered chat", redeemed: "Redeemed", deleted: "Deleted", gifted: "Gifted",
    funnel_engaged: "Viewed or entered", funnel_redeemed: "Redeemed",
    sent: "Sent", held: "Held", suppressed: "Suppressed", failed: "Failed",
  };
  const METRIC_COLORS = {
    received: "#2563eb", viewed: "#0891b2", entered: "#f59e0b", redeemed: "#16a34a",
    funnel_engaged: "#0891b2", funnel_redeemed: "#16a34a",
    sent: "#16a34a", held: "#f59e0b", suppressed: "#64748b", failed: "#dc2626",
  };
  const charts = {};

  /** The admin API refused the token: the page asks for it again. */
  class Unauthorized extends Error {}

  // --- the token -----------------------------------------------------------------

  /** Moves a `#token=` fragment into sessionStorage and off the address bar. */
  function takeTokenFromFragment() {
    if (!location.hash) {
      return;
    }
    const token = new URLSearchParams(location.hash.slice(1)).get("token");
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
    }
    history.replaceState(null, "", location.pathname + location.search);
  }

  function showLogin(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    document.getElementById("dashboard").hidden = true;
    document.getElementById("filter").hidden = true;
    document.getElementById("login").hidden = false;
    document.getElementById("login-error").textContent = message || "";
    document.getElementById("login-token").focus();
    document.body.dataset.state = "login";
  }

  // --- the admin API ---------------------------------------------------------------

  /** GETs an admin path relative to this page, with the bearer token. */
  async function getJson(path) {
    const token = sessionStorage.getItem(TOKEN_KEY) || "";
    const response = await fetch(path, {
      headers: { Authorization: "Bearer " + token, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
    });
    let body;
    try {
      body = await response.json();
    } catch (_) {
      body = {};
    }
    const reason = body.error || `${path.split("?")[0]} answered HTTP ${response.status}`;
    if (response.status === 401) {
      throw new Unauthorized(reason);
    }
    if (!response.ok) {
      throw new Error(reason);
    }
    return body;
  }

  function statsQuery(by) {
    const query = new URLSearchParams({ by });
    for (const name of ["card", "since", "until"]) {
      const value = document.getElementById("filter-" + name).value.trim();
      if (value) {
        query.set(name, value);
      }
    }
    return "stats?" + query.toString();
  }

  // --- formatting ------------------------------------------------------------------

  function metricName(metric) {
    return METRIC_NAMES[metric] || metric;
  }

  function formatNumber(value) {
    return value === null || value === undefined ? "–" : Number(value).toLocaleString("en");
  }

  function formatDuration(secs) {
    if (secs === null || secs === undefined) {
      return "–";
    }
    if (secs < 90) {
      return `${Math.round(secs)} s`;
    }
    if (secs < 5400) {
      return `${Math.round(secs / 60)} min`;
    }
    if (secs < 172800) {
      return `${(secs / 3600).toFixed(1)} h`;
    }
    return `${(secs / 86400).toFixed(1)} days`;
  }

  function formatTime(unixSecs) {
    return unixSecs ? new Date(unixSecs * 1000).toLocaleString("sv-SE") : "–";
  }

  function percent(part, whole) {
    return whole > 0 ? `${Math.round((100 * part) / whole)}%` : "–";
  }

  function rowLabel(row) {
    return row.label ? `${row.label} (${row.key})` : row.key;
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text;
  }

  // --- charts ----------------------------------------------------------------------

  function panel(name) {
    return document.querySelector(`[data-chart="${name}"]`);
  }

  /** Whether the canvas has any pixel that is not fully transparent. */
  function hasDrawn(canvas) {
    if (!canvas.width || !canvas.height) {
      return false;
    }
    const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    for (let i = 3; i < pixels.data.length; i += 4) {
      if (pixels.data[i] !== 0) {
        return true;
      }
    }
    return false;
  }

  /** A table of exactly what `chart` shows: one row per label, one column per series. */
  function chartTable(chart, caption) {
    const table = document.createElement("table");
    table.createCaption().textContent = caption;
    const head = table.createTHead().insertRow();
    const corner = document.createElement("th");
    corner.scope = "col";
    head.appendChild(corner);
    for (const dataset of chart.data.datasets) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = dataset.label;
      head.appendChild(th);
    }
    const body = table.createTBody();
    chart.data.labels.forEach((label, index) => {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.appendChild(th);
      for (const dataset of chart.data.datasets) {
        row.insertCell().textContent = formatNumber(dataset.data[index]);
      }
    });
    return table;
  }

  /** Draws a chart in panel `name`, then records what it shows, read back from it. */
  function draw(name, config, options) {
    const section = panel(name);
    const canvas = section.querySelector("canvas");
    if (charts[name]) {
      charts[name].destroy();
    }
    config.options = Object.assign(
      { animation: false, responsive: true, maintainAspectRatio: false },
      config.options || {},
    );
    const chart = new Chart(canvas, config);
    charts[name] = chart;

    const empty = chart.data.labels.length === 0;
    const data = section.querySelector(".chart-data");
    data.replaceChildren(empty ? emptyNote() : tableOf(chart, options));
    section.querySelector("p.error").textContent = "";

    section.dataset.rendered = JSON.stringify({
      labels: chart.data.labels,
      datasets: chart.data.datasets.map((d) => ({ label: d.label, data: d.data })),
      drawn: hasDrawn(canvas),
    });
  }

  /** The chart's table; a long one is folded under a summary line. */
  function tableOf(chart, options) {
    const table = chartTable(chart, options.caption);
    if (!options.folded) {
      return table;
    }
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `${options.caption}: the numbers`;
    details.append(summary, table);
    return details;
  }

  function emptyNote() {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = "No data in this range.";
    return note;
  }

  function failPanel(name, message) {
    const section = panel(name);
    if (charts[name]) {
      charts[name].destroy();
      delete charts[name];
    }
    section.querySelector("p.error").textContent = message;
    section.querySelector(".chart-data").replaceChildren();
    delete section.dataset.rendered;
  }

  function metricColor(metric, index) {
    return METRIC_COLORS[metric] || COLORS[index % COLORS.length];
  }

  function series(metrics, rows, pick) {
    return metrics.map((metric, index) => ({
      label: metricName(metric),
      data: rows.map((row) => pick(row, metric)),
      backgroundColor: metricColor(metric, index),
      borderColor: metricColor(metric, index),
    }));
  }

  function wanted(stats, metrics) {
    return metrics.filter((metric) => stats.metrics.includes(metric));
  }

  // --- the panels ------------------------------------------------------------------

  function renderChannel(stats) {
    const metrics = wanted(stats, ["received", "viewed", "entered", "redeemed"]);
    draw("channel", {
      type: "bar",
      data: {
        labels: stats.rows.map(rowLabel),
        datasets: series(metrics, stats.rows, (row, metric) => row.counts[metric]),
      },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }, { caption: "Channel comparison" });

    const totals = stats.totals;
    setText("figure-received", formatNumber(totals.received));
    setText("figure-redeemed", formatNumber(totals.redeemed));
    setText("figure-rate", percent(totals.funnel_redeemed, totals.received));
    setText("figure-redeem-time", formatDuration(totals.redeem_secs_avg));
    renderFunnel(totals);
  }

  function renderFunnel(totals) {
    const stages = ["received", "funnel_engaged", "funnel_redeemed"];
    draw("funnel", {
      type: "bar",
      data: {
        labels: stages.map(metricName),
        datasets: [{
          label: "Receipts",
          data: stages.map((stage) => totals[stage] || 0),
          backgroundColor: stages.map(metricColor),
        }],
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    }, { caption: "Funnel" });
  }

  function renderSource(stats) {
    draw("source", {
      type: "doughnut",
      data: {
        labels: stats.rows.map(rowLabel),
        datasets: [{
          label: "Redeemed",
          data: stats.rows.map((row) => row.counts.redeemed),
          backgroundColor: stats.rows.map((_, index) => COLORS[index % COLORS.length]),
        }],
      },
      options: { plugins: { legend: { position: "right" } } },
    }, { caption: "Redemptions by source" });
  }

  function renderStaff(stats) {
    const rows = stats.rows.slice(0, STAFF_LIMIT);
    draw("staff", {
      type: "bar",
      data: {
        labels: rows.map(rowLabel),
        datasets: [{
          label: "Redeemed",
          data: rows.map((row) => row.counts.redeemed),
          backgroundColor: COLORS[1],
        }],
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    }, { caption: "Redemptions by staff member" });
  }

  function renderDay(stats) {
    const metrics = wanted(stats, ["received", "viewed", "entered", "redeemed"]);
    draw("day", {
      type: "line",
      data: {
        labels: stats.rows.map((row) => row.key),
        datasets: series(metrics, stats.rows, (row, metric) => row.counts[metric]),
      },
      options: {
        scales: {
          x: { ticks: { maxRotation: 0, callback: shortDay } },
          y: { beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    }, { caption: "Daily trend", folded: true });
    setText("day-note",
      `Per calendar day in ${stats.timezone}, ${stats.since} to ${stats.until}.`);
  }

  /** An axis tick of the daily trend: `11-04` for `2026-11-04`. */
  function shortDay(value) {
    return this.getLabelForValue(value).slice(5);
  }

  function renderRuleMessages(stats) {
    const metrics = wanted(stats, ["sent", "held", "suppressed", "failed"]);
    draw("rule", {
      type: "bar",
      data: {
        labels: stats.rows.map(rowLabel),
        datasets: series(metrics, stats.rows, (row, metric) => row.counts[metric]),
      },
      options: {
        scales: {
          x: { stacked: true },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
      },
    }, { caption: "Messages by rule" });
  }

  function renderRules(view) {
    const status = view.status;
    const errors = status.rules.reduce((sum, rule) => sum + rule.errors, 0);
    const last = status.last_reload;
    setText("rules-revision", status.revision);
    setText("rules-loaded", formatTime(status.loaded_at));
    setText("rules-last-reload",
      last ? `${formatTime(last.at)}, ${last.ok ? "ok" : "failed"}` : "none since start");
    setText("rules-reloads", `${status.reloads_ok} ok, ${status.reloads_failed} failed`);
    setText("rules-errors", formatNumber(errors));
    const reloadError = document.getElementById("rules-reload-error");
    reloadError.hidden = !(last && last.error);
    reloadError.textContent = last && last.error ? last.error : "";

    const table = simpleTable("Loaded rules",
      ["Rule", "Handlers", "Evaluations", "Errors"],
      status.rules.map((rule) => [rule.name, rule.handlers.join(", "), rule.evaluations,
        rule.errors]));
    document.getElementById("rules-table").replaceChildren(table);
  }

  function renderOutbox(outbox) {
    const states = ["ready", "held", "sending"];
    const byState = outbox.by_state || {};
    draw("outbox", {
      type: "bar",
      data: {
        labels: ["Ready", "Held for a window", "Outcome unknown", "Dead letters"],
        datasets: [{
          label: "Messages",
          data: states.map((state) => byState[state] || 0).concat([outbox.dead_letters]),
          backgroundColor: [COLORS[0], COLORS[2], COLORS[4], COLORS[3]],
        }],
      },
      options: {
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    }, { caption: "Outbox by state" });
    setText("figure-pending", formatNumber(outbox.pending));
    setText("figure-dead", formatNumber(outbox.dead_letters));
    const age = outbox.oldest_pending_age_secs;
    setText("outbox-note", age === null || age === undefined
      ? "Messages waiting to be sent, by state. Nothing is waiting."
      : `Messages waiting to be sent, by state. The oldest waits for ${formatDuration(age)}.`);
  }

  function renderDeadLetters(answer) {
    const rows = answer.dead_letters.map((letter) => [
      formatTime(Math.floor(letter.at_ms / 1000)), letter.entry.rule, letter.reason,
      letter.detail,
    ]);
    const target = document.getElementById("dead-letters");
    target.replaceChildren(rows.length
      ? simpleTable("Latest dead letters", ["When", "Rule", "Reason", "Detail"], rows)
      : emptyNote());
  }

  /** A table of text; number cells are formatted and aligned right. */
  function simpleTable(caption, headings, rows) {
    const table = document.createElement("table");
    table.className = "listing";
    table.createCaption().textContent = caption;
    const head = table.createTHead().insertRow();
    headings.forEach((heading, index) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = heading;
      th.className = rows.length && typeof rows[0][index] === "number" ? "num" : "";
      head.appendChild(th);
    });
    const body = table.createTBody();
    for (const cells of rows) {
      const row = body.insertRow();
      for (const cell of cells) {
        const td = row.insertCell();
        td.textContent = typeof cell === "number" ? formatNumber(cell) : cell;
        td.className = typeof cell === "number" ? "num" : "";
      }
    }
    return table;
  }

  // --- loading ---------------------------------------------------------------------

  /** Each request and the panels it feeds; a failed request marks only its panels. */
  function jobs() {
    return [
      { path: statsQuery("channel"), render: renderChannel, panels: ["channel", "funnel"] },
      { path: statsQuery("source"), render: renderSource, panels: ["source"] },
      { path: statsQuery("staff"), render: renderStaff, panels: ["staff"] },
      { path: statsQuery("day"), render: renderDay, panels: ["day"] },
      { path: statsQuery("rule"), render: renderRuleMessages, panels: ["rule"] },
      { path: "rules", render: renderRules, panels: [] },
      { path: "outbox?limit=0", render: renderOutbox, panels: ["outbox"] },
      {
        path: `dead_letters?limit=${DEAD_LETTER_LIMIT}`,
        render: renderDeadLetters,
        panels: [],
      },
    ];
  }

  async function load() {
    document.body.dataset.state = "loading";
    document.getElementById("login").hidden = true;
    document.getElementById("dashboard").hidden = false;
    document.getElementById("filter").hidden = false;
    setText("status", "Loading…");

    const work = jobs();
    const answers = await Promise.allSettled(work.map((job) => getJson(job.path)));
    const refused = answers.find(
      (answer) => answer.status === "rejected" && answer.reason instanceof Unauthorized,
    );
    if (refused) {
      showLogin(refused.reason.message);
      return;
    }

    const problems = [];
    answers.forEach((answer, index) => {
      const job = work[index];
      try {
        if (answer.status === "rejected") {
          throw answer.reason;
        }
        job.render(answer.value);
      } catch (error) {
        const message = `could not show ${job.path.split("?")[0]}: ${error.message}`;
        problems.push(message);
        job.panels.forEach((name) => failPanel(name, message));
      }
    });
    setText("status", problems.length
      ? `Some panels could not be shown: ${problems.join("; ")}`
      : `Updated ${new Date().toLocaleTimeString("en-GB")}.`);
    document.body.dataset.state = problems.length ? "error" : "ready";
  }

  function start() {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#334155";
    takeTokenFromFragment();

    document.getElementById("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, document.getElementById("login-token").value);
      document.getElementById("login-token").value = "";
      load();
    });
    document.getElementById("filter").addEventListener("submit", (event) => {
      event.preventDefault();
      load();
    });
    document.getElementById("sign-out").addEventListener("click", () => {
      showLogin("Signed out.");
    });

    if (sessionStorage.getItem(TOKEN_KEY)) {
      load();
    } else {
      showLogin("");
    }
  }

  start();
})();
