// The cardbot dashboard: the token kept in this tab, the admin API, and the panels fed
// from its answers; charts.js draws.
"use strict";

(function () {
  const {
    COLORS, metricName, formatNumber, formatDuration, formatTime, percent, rowLabel, setText,
    draw, emptyNote, failPanel, metricColor, series, wanted, simpleTable,
  } = window.cardbotCharts;
  const TOKEN_KEY = "cardbot.admin_token";
  const STAFF_LIMIT = 10;
  const DEAD_LETTER_LIMIT = 10;

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
