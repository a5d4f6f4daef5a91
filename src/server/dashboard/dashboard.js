// The cardbot dashboard: the token kept in this tab, the filters, the admin API and
// the loading of every panel; panels.js fills them, charts.js draws.
"use strict";

(function () {
  const { setText } = window.cardbotCharts;
  const {
    renderChannel, renderSource, renderStaff, renderDay, renderRuleMessages, renderRules,
    renderOutbox, renderDeadLetters, failPanel, failRules, failDeadLetters, clearFigures,
    clearPage,
  } = window.cardbotPanels;
  const TOKEN_KEY = "cardbot.admin_token";
  const DEAD_LETTER_LIMIT = 10;
  /** The filters the form holds, and that a `#card=...&since=...` fragment may set. */
  const FILTERS = ["card", "since", "until"];

  /** Counts load() calls: an answer for an older one, or one from before signing out,
   * is dropped instead of drawn over what is newer. */
  let generation = 0;

  /** The admin API refused the token: the page asks for it again. */
  class Unauthorized extends Error {}

  // --- the token -----------------------------------------------------------------

  /**
   * Moves a `#token=` fragment into sessionStorage and off the address bar, and puts
   * any `card`, `since` and `until` in it into the form.
   */
  function takeFragment() {
    if (!location.hash) {
      return;
    }
    const params = fragmentParams(location.hash.slice(1));
    if (params.get("token")) {
      sessionStorage.setItem(TOKEN_KEY, params.get("token"));
    }
    for (const name of FILTERS) {
      if (params.has(name)) {
        filterInput(name).value = params.get(name);
      }
    }
    history.replaceState(null, "", location.pathname + location.search);
  }

  /**
   * The `name=value` pairs of a fragment. Values are percent-decoded and nothing else:
   * URLSearchParams would read a `+` as a space, and tokens hold `+`, `/` and `=`.
   */
  function fragmentParams(fragment) {
    const params = new Map();
    for (const part of fragment.split("&")) {
      const at = part.indexOf("=");
      if (at > 0) {
        params.set(part.slice(0, at), percentDecoded(part.slice(at + 1)));
      }
    }
    return params;
  }

  /** `text` percent-decoded; as it is when it holds a `%` that starts no escape. */
  function percentDecoded(text) {
    try {
      return decodeURIComponent(text);
    } catch (_) {
      return text;
    }
  }

  function showLogin(message) {
    generation += 1;
    sessionStorage.removeItem(TOKEN_KEY);
    clearPage();
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

  function filterInput(name) {
    return document.getElementById("filter-" + name);
  }

  function filterValue(name) {
    return filterInput(name).value.trim();
  }

  /** Why the form's filters cannot be asked for, or "" when they can. */
  function filterProblem() {
    const since = filterValue("since");
    const until = filterValue("until");
    if (since && until && since > until) {
      return `From ${since} is after To ${until}: pick a From on or before To.`;
    }
    return "";
  }

  /** The stats query of `by` with the form's filters. Message counters are kept per
   * rule, not per card, and the server refuses a card with by=rule, so that panel
   * is never filtered by card. */
  function statsQuery(by) {
    const query = new URLSearchParams({ by });
    const filters = by === "rule" ? FILTERS.filter((name) => name !== "card") : FILTERS;
    for (const name of filters) {
      const value = filterValue(name);
      if (value) {
        query.set(name, value);
      }
    }
    return "stats?" + query.toString();
  }

  // --- loading ---------------------------------------------------------------------

  /** Each request and what it feeds; a failed request marks only its own panels. */
  function jobs() {
    const charts = (...names) => (message) => {
      names.forEach((name) => failPanel(name, message));
    };
    return [
      { path: statsQuery("channel"), render: renderChannel, fail: charts("channel", "funnel") },
      { path: statsQuery("source"), render: renderSource, fail: charts("source") },
      { path: statsQuery("staff"), render: renderStaff, fail: charts("staff") },
      { path: statsQuery("day"), render: renderDay, fail: charts("day") },
      { path: statsQuery("rule"), render: renderRuleMessages, fail: charts("rule") },
      { path: "rules", render: renderRules, fail: failRules },
      { path: "outbox?limit=0", render: renderOutbox, fail: charts("outbox") },
      {
        path: `dead_letters?limit=${DEAD_LETTER_LIMIT}`,
        render: renderDeadLetters,
        fail: failDeadLetters,
      },
    ];
  }

  function showDashboard() {
    document.getElementById("login").hidden = true;
    document.getElementById("dashboard").hidden = false;
    document.getElementById("filter").hidden = false;
  }

  async function load() {
    generation += 1;
    const mine = generation;
    document.body.dataset.state = "loading";
    showDashboard();
    setText("status", "Loading…");
    clearFigures();

    const work = jobs();
    const answers = await Promise.allSettled(work.map((job) => getJson(job.path)));
    if (mine !== generation) {
      return;
    }
    const refused = answers.find(
      (answer) => answer.status === "rejected" && answer.reason instanceof Unauthorized,
    );
    if (refused) {
      showLogin(refused.reason.message);
      return;
    }

    const problems = new Set();
    answers.forEach((answer, index) => {
      const job = work[index];
      try {
        if (answer.status === "rejected") {
          throw answer.reason;
        }
        job.render(answer.value);
      } catch (error) {
        const message = `could not show ${job.path.split("?")[0]}: ${error.message}`;
        problems.add(message);
        job.fail(message);
      }
    });
    setText("status", problems.size
      ? `Some panels could not be shown: ${[...problems].join("; ")}`
      : `Updated ${new Date().toLocaleTimeString("en-GB")}.`);
    document.body.dataset.state = problems.size ? "error" : "ready";
  }

  /** Loads the form's filters, unless they contradict each other: then the form says
   * so and the API is not asked. Answers whether it loaded. */
  function loadFiltered() {
    const problem = filterProblem();
    setText("filter-error", problem);
    if (problem) {
      return false;
    }
    load();
    return true;
  }

  function start() {
    Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
    Chart.defaults.color = "#334155";
    takeFragment();

    document.getElementById("login-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, document.getElementById("login-token").value);
      document.getElementById("login-token").value = "";
      openDashboard();
    });
    document.getElementById("filter").addEventListener("submit", (event) => {
      event.preventDefault();
      loadFiltered();
    });
    document.getElementById("sign-out").addEventListener("click", () => {
      showLogin("Signed out.");
    });

    if (sessionStorage.getItem(TOKEN_KEY)) {
      openDashboard();
    } else {
      showLogin("");
    }
  }

  /** Shows the dashboard after signing in: loaded, or saying why the filters the
   * fragment gave cannot be. */
  function openDashboard() {
    if (!loadFiltered()) {
      showDashboard();
      setText("status", "Nothing is shown until the dates in the form are fixed.");
      document.body.dataset.state = "error";
    }
  }

  start();
})();
