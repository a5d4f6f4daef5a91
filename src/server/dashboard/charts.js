// Drawing for the cardbot dashboard: Chart.js charts with a data table each, and a
// record of what each chart drew (data-rendered), read back from its elements.
"use strict";

(function () {
  const COLORS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
    "#db2777", "#65a30d", "#ea580c", "#475569"];
  const METRIC_NAMES = {
    received: "Received", received_gift: "Received as gift", viewed: "Viewed",
    entered: "Entered chat", redeemed: "Redeemed", deleted: "Deleted", gifted: "Gifted",
    funnel_engaged: "Viewed, entered or redeemed", funnel_redeemed: "Redeemed",
    sent: "Sent", held: "Held", suppressed: "Suppressed", failed: "Failed",
  };
  const METRIC_COLORS = {
    received: "#2563eb", viewed: "#0891b2", entered: "#f59e0b", redeemed: "#16a34a",
    funnel_engaged: "#0891b2", funnel_redeemed: "#16a34a",
    sent: "#16a34a", held: "#f59e0b", suppressed: "#64748b", failed: "#dc2626",
  };
  /** A chart's table of more rows than this is folded under a summary line. */
  const FOLD_ROWS = 12;
  const charts = {};

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

  /** A table of `shown` (labels, and datasets of a label and data each): one row per
   * label, one column per series. */
  function chartTable(shown, caption) {
    const table = document.createElement("table");
    table.createCaption().textContent = caption;
    const head = table.createTHead().insertRow();
    const corner = document.createElement("th");
    corner.scope = "col";
    head.appendChild(corner);
    for (const dataset of shown.datasets) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = dataset.label;
      head.appendChild(th);
    }
    const body = table.createTBody();
    shown.labels.forEach((label, index) => {
      const row = body.insertRow();
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = label;
      row.appendChild(th);
      for (const dataset of shown.datasets) {
        row.insertCell().textContent = formatNumber(dataset.data[index]);
      }
    });
    return table;
  }

  /**
   * Draws a chart in panel `name`, with a table of `options.table` (the chart's own
   * data unless given), then records what the chart drew.
   */
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

    const shown = options.table || chart.data;
    const data = section.querySelector(".chart-data");
    data.replaceChildren(shown.labels.length === 0 ? emptyNote() : tableOf(shown, options));
    section.querySelector("p.error").textContent = "";

    section.dataset.rendered = JSON.stringify({
      labels: chart.data.labels,
      datasets: readBack(chart),
    });
  }

  /**
   * What `chart` drew, read back from its elements rather than from its config: per
   * dataset whether it is visible, how many elements it has, and the value each one
   * stands for by its geometry. A hidden dataset or a bar of the wrong height shows
   * here, where the config would still hold the right numbers.
   */
  function readBack(chart) {
    return chart.data.datasets.map((dataset, index) => {
      const meta = chart.getDatasetMeta(index);
      const values = chart.config.type === "doughnut"
        ? meta.data.map((arc) => arc.circumference / (2 * Math.PI))
        : meta.data.map((element) => valueOf(meta.vScale, element));
      return {
        label: dataset.label,
        visible: chart.isDatasetVisible(index),
        elements: meta.data.length,
        values,
      };
    });
  }

  /**
   * The value a bar or a point stands for on `scale`, the value axis (x for a
   * horizontal bar). A bar spans from its base (zero, or the bar stacked below it) to
   * its end; a point stands at its value.
   */
  function valueOf(scale, element) {
    const end = scale.getValueForPixel(scale.isHorizontal() ? element.x : element.y);
    if (typeof element.base !== "number") {
      return end;
    }
    return end - scale.getValueForPixel(element.base);
  }

  /** The table of `shown`; a long one is folded under a summary line. */
  function tableOf(shown, options) {
    const table = chartTable(shown, options.caption);
    if (shown.labels.length <= FOLD_ROWS) {
      return table;
    }
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = `${options.caption}: the numbers (${shown.labels.length} rows)`;
    details.append(summary, table);
    return details;
  }

  function emptyNote(text) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = text || "No data in this range.";
    return note;
  }

  /** Takes chart `name` and its table off the page. */
  function clearPanel(name) {
    const section = panel(name);
    if (charts[name]) {
      charts[name].destroy();
      delete charts[name];
    }
    section.querySelector("p.error").textContent = "";
    section.querySelector(".chart-data").replaceChildren();
    delete section.dataset.rendered;
  }

  /** Takes every chart and table off the page, as after signing out. */
  function clearPanels() {
    for (const section of document.querySelectorAll("[data-chart]")) {
      clearPanel(section.dataset.chart);
    }
  }

  function failPanel(name, message) {
    clearPanel(name);
    panel(name).querySelector("p.error").textContent = message;
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

  window.cardbotCharts = Object.freeze({
    COLORS, metricName, formatNumber, formatDuration, formatTime, percent, rowLabel, setText,
    draw, emptyNote, failPanel, clearPanels, metricColor, series, wanted, simpleTable,
  });
})();
