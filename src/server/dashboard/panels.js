// The panels of the cardbot dashboard: each admin API answer made into charts, figures
// and tables, and the page emptied again; charts.js draws, dashboard.js fetches.
"use strict";

(function () {
  const {
    COLORS, metricName, formatNumber, formatDuration, formatTime, percent, rowLabel, setText,
    draw, emptyNote, failPanel, clearPanels, metricColor, series, wanted, simpleTable,
  } = window.cardbotCharts;
  const STAFF_LIMIT = 10;
  /** The channel chart shows this many channels and sums the rest as one bar. */
  const CHANNEL_CHART_LIMIT = 12;
  /** The row key of events without a value (no staff member, no channel tag). */
  const NO_VALUE = "(none)";
  const FIGURES = ["received", "redeemed", "rate", "redeem-time", "pending", "dead"];
  const RULE_FACTS = ["revision", "loaded", "last-reload", "reloads", "errors"];
  /** The notes that panels rewrite, with the text the page starts with. */
  const NOTES = {};
  for (const note of document.querySelectorAll("p.note[id]")) {
    NOTES[note.id] = note.textContent;
  }

  function renderChannel(stats) {
    const metrics = wanted(stats, ["received", "viewed", "entered", "redeemed"]);
    const pick = (row, metric) => row.counts[metric];
    const charted = chartedChannels(stats.rows, metrics);
    draw("channel", {
      type: "bar",
      data: { labels: charted.map(rowLabel), datasets: series(metrics, charted, pick) },
      options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
    }, {
      caption: "Channel comparison",
      table: { labels: stats.rows.map(rowLabel), datasets: series(metrics, stats.rows, pick) },
    });

    const totals = stats.totals;
    setText("figure-received", formatNumber(totals.received));
    setText("figure-redeemed", formatNumber(totals.redeemed));
    setText("figure-rate", percent(totals.funnel_redeemed, totals.received));
    setText("figure-redeem-time", formatDuration(totals.redeem_secs_avg));
    renderFunnel(totals);
  }

  /**
   * The channels the chart shows: the first CHANNEL_CHART_LIMIT (rows come most
   * received first) and the rest summed as one row, so that bars stay readable. The
   * table under the chart keeps every channel.
   */
  function chartedChannels(rows, metrics) {
    if (rows.length <= CHANNEL_CHART_LIMIT) {
      return rows;
    }
    const rest = rows.slice(CHANNEL_CHART_LIMIT);
    const counts = {};
    for (const metric of metrics) {
      counts[metric] = rest.reduce((sum, row) => sum + row.counts[metric], 0);
    }
    const others = { key: `others (${rest.length} channels)`, counts };
    return rows.slice(0, CHANNEL_CHART_LIMIT).concat([others]);
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

  /** Redemptions by staff member. Those without one (through the API, for instance)
   * are no staff member's, so they are counted in the note, not ranked. */
  function renderStaff(stats) {
    const unattributed = stats.rows.find((row) => row.key === NO_VALUE);
    const rows = stats.rows.filter((row) => row.key !== NO_VALUE).slice(0, STAFF_LIMIT);
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
    const without = unattributed ? unattributed.counts.redeemed : 0;
    setText("staff-note", `Redemptions by staff member, most first (top ${STAFF_LIMIT}). `
      + `${formatNumber(without)} ${without === 1 ? "redemption" : "redemptions"} had no `
      + "staff member (such as those through the API) and are not ranked.");
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
    setText("rules-error", "");

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
      : emptyNote("No dead letters."));
    setText("dead-letters-error", "");
  }

  function clearRules() {
    RULE_FACTS.forEach((fact) => setText("rules-" + fact, "–"));
    const reloadError = document.getElementById("rules-reload-error");
    reloadError.hidden = true;
    reloadError.textContent = "";
    document.getElementById("rules-table").replaceChildren();
    setText("rules-error", "");
  }

  function failRules(message) {
    clearRules();
    setText("rules-error", message);
  }

  function clearDeadLetters() {
    document.getElementById("dead-letters").replaceChildren();
    setText("dead-letters-error", "");
  }

  function failDeadLetters(message) {
    clearDeadLetters();
    setText("dead-letters-error", message);
  }

  function clearFigures() {
    FIGURES.forEach((figure) => setText("figure-" + figure, "–"));
  }

  /** Takes every number off the page: nothing shown outlives the token it came with. */
  function clearPage() {
    clearPanels();
    clearFigures();
    clearRules();
    clearDeadLetters();
    for (const [id, text] of Object.entries(NOTES)) {
      setText(id, text);
    }
    setText("status", "");
  }

  window.cardbotPanels = Object.freeze({
    renderChannel, renderSource, renderStaff, renderDay, renderRuleMessages, renderRules,
    renderOutbox, renderDeadLetters, failPanel, failRules, failDeadLetters, clearFigures,
    clearPage,
  });
})();
