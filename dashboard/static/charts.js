// Draw every chart on the page from its JSON island (<script type="application/json" id="X-data">).
// A static file, not an inline script, so the Content-Security-Policy can forbid inline scripts.
(function () {
  "use strict";
  // Bidi controls in a test name would reorder the chart's labels; show them as <U+202E> (as pages do).
  var BIDI = /[\u202a-\u202e\u2066-\u2069]/g;
  function visible(key, value) {
    if (typeof value !== "string") return value;
    return value.replace(BIDI, function (c) {
      return "<U+" + c.charCodeAt(0).toString(16).toUpperCase() + ">";
    });
  }
  function draw() {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var island = document.getElementById(el.dataset.chart + "-data");
      if (!island) return;
      var fig = JSON.parse(island.textContent, visible);
      Plotly.newPlot(el, fig.data, fig.layout, {responsive: true, displaylogo: false});
      el.classList.add("chart-ready");
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
