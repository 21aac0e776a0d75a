// batchyard dashboard: the secret (this tab only), confirmed actions over the JSON API,
// countdowns, and the rates chart. Pages refresh themselves through htmx (hx-trigger).
(function () {
  "use strict";
  var KEY = "batchyard-secret";
  var body = document.body;
  var needsSecret = body.dataset.secretRequired === "true";

  function secret() { return sessionStorage.getItem(KEY) || ""; }

  function authHeaders(headers) {
    if (secret()) headers["Authorization"] = "Bearer " + secret();
    return headers;
  }

  function flash(text, bad) {
    var box = document.getElementById("flash");
    box.textContent = text;
    box.className = bad ? "bad" : "good";
  }

  // -- the secret ---------------------------------------------------------------------------
  function applySecretState() {
    var locked = needsSecret && !secret();
    document.querySelectorAll("button.action").forEach(function (button) {
      button.disabled = locked;
      if (locked) {
        button.title = "disabled: enter the server's secret above";
        button.setAttribute("aria-describedby", "actions-why");
      } else {
        button.removeAttribute("title");
        button.removeAttribute("aria-describedby");
      }
    });
    var why = document.getElementById("actions-why");
    if (why) why.hidden = !locked || !document.querySelector("button.action");
    var state = document.getElementById("secret-state");
    if (state) state.textContent = secret() ? "secret entered (this tab only)" : "actions disabled until the secret is entered";
    var forget = document.getElementById("secret-forget");
    if (forget) forget.hidden = !secret();
  }

  var form = document.getElementById("secret-form");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var input = document.getElementById("secret-input");
      if (input.value) sessionStorage.setItem(KEY, input.value);
      input.value = "";
      applySecretState();
    });
    document.getElementById("secret-forget").addEventListener("click", function () {
      sessionStorage.removeItem(KEY);
      applySecretState();
    });
  }

  // -- actions ------------------------------------------------------------------------------
  async function act(button) {
    if (!window.confirm(button.dataset.confirm)) return;
    var headers = authHeaders({ "Accept": "application/json" });
    var options = { method: button.dataset.method || "POST", headers: headers };
    if (button.dataset.body) {
      headers["Content-Type"] = "application/json";
      options.body = button.dataset.body;
    }
    button.disabled = true;
    try {
      var answer = await fetch(button.dataset.action, options);
      if (answer.ok) {
        flash(button.textContent.trim() + ": done");
      } else {
        var detail = answer.statusText;
        try { detail = (await answer.json()).detail || detail; } catch (e) { /* not JSON */ }
        flash(button.textContent.trim() + " refused (" + answer.status + "): " + detail, true);
      }
    } catch (error) {
      flash(button.textContent.trim() + " failed: the server did not answer", true);
    } finally {
      button.disabled = false;
      var live = document.getElementById("live");
      if (live && window.htmx) window.htmx.trigger(live, "refresh");
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.action");
    if (button && !button.disabled) act(button);
  });

  // htmx's polls carry the secret too (needed where reads are not public)
  document.addEventListener("htmx:configRequest", function (event) {
    authHeaders(event.detail.headers);
  });
  document.addEventListener("htmx:afterSettle", function () {
    applySecretState();
    tick();
  });

  // -- countdowns ---------------------------------------------------------------------------
  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var left = Math.round((Date.parse(el.dataset.countdown) - now) / 1000);
      el.textContent = left >= 0 ? "in " + left + " s" : "expired " + -left + " s ago";
      el.classList.toggle("expired", left < 0);
    });
  }
  setInterval(tick, 1000);

  // -- the rates chart ----------------------------------------------------------------------
  function startChart(box) {
    var plot = null;
    function size() { return { width: Math.max(box.clientWidth, 200), height: 180 }; }
    function draw(data) {
      var series = [data.at, data.claimed, data.finished];
      if (plot) { plot.setData(series); return; }
      var options = Object.assign(size(), {
        series: [
          {},
          { label: "claimed/s", stroke: "#2563eb", width: 2 },
          { label: "finished/s", stroke: "#16a34a", width: 2 },
        ],
        axes: [{}, { size: 50 }],
        scales: { y: { range: function (u, min, max) { return [0, Math.max(max, 1)]; } } },
      });
      plot = new window.uPlot(options, series, box);
    }
    async function load() {
      try {
        var answer = await fetch("/ui/rates", { headers: authHeaders({}) });
        if (answer.ok) draw(await answer.json());
      } catch (error) { /* the next round tries again */ }
    }
    load();
    setInterval(load, 2000);
    window.addEventListener("resize", function () { if (plot) plot.setSize(size()); });
  }

  applySecretState();
  tick();
  var chart = document.getElementById("rates");
  if (chart && window.uPlot) startChart(chart);
})();
