// scomm's pages: charts (uPlot, shipped here), a what-if's progress. No page needs this file
// to be read; it draws what the server already put in the page.
"use strict";

const COLORS = ["#2166ac", "#d95f02", "#1b9e77", "#7570b3", "#e7298a"];
const REAL_COLOR = "#111111";

function monthSeconds(months) {
  return months.map((m) => Date.UTC(+m.slice(0, 4), +m.slice(5, 7) - 1, 1) / 1000);
}

function formatter(unit) {
  if (unit === "usd") return (v) => (v == null ? "" : "$" + Math.round(v).toLocaleString("en-US"));
  return (v) => (v == null ? "" : Math.round(v).toLocaleString("en-US"));
}

function drawChart(el) {
  const spec = JSON.parse(document.getElementById(el.dataset.chart).textContent);
  const fmt = formatter(spec.unit);
  const data = [monthSeconds(spec.months)];
  const series = [{}];
  const bands = [];
  const unlisted = []; // legend rows of the interval's lower edge: the upper one names the band
  spec.lines.forEach((line, i) => {
    const color = COLORS[i % COLORS.length];
    const at = data.length;
    data.push(line.mean);
    series.push({ label: line.label + " (mean)", stroke: color, width: 2, value: (u, v) => fmt(v) });
    if (spec.bands !== false) {
      data.push(line.p5, line.p95);
      series.push(
        { label: "5th percentile", stroke: color + "55", width: 0.5, value: (u, v) => fmt(v) },
        { label: "90% interval (to 95th)", stroke: color + "55", width: 0.5, value: (u, v) => fmt(v) }
      );
      bands.push({ series: [at + 2, at + 1], fill: color + "33" });
      unlisted.push(at + 1);
    }
  });
  if (spec.real) {
    data.push(spec.real.values);
    series.push({ label: spec.real.label, stroke: REAL_COLOR, width: 2, dash: [6, 4], value: (u, v) => fmt(v), spanGaps: false });
  }
  const opts = {
    width: Math.max(320, Math.min(el.clientWidth || 900, 1100)),
    height: 300,
    series,
    bands,
    scales: { x: { time: true } },
    axes: [{}, { values: (u, vals) => vals.map(fmt), size: 70 }],
  };
  el.textContent = "";
  const plot = new uPlot(opts, data, el);
  const rows = plot.root.querySelectorAll(".u-legend .u-series");
  unlisted.forEach((i) => rows[i] && (rows[i].style.display = "none"));
}

function pollJob(section) {
  const bar = document.getElementById("job-progress");
  const percent = document.getElementById("job-percent");
  const tick = () => {
    fetch(section.dataset.job, { headers: { Accept: "application/json" } })
      .then((r) => r.json())
      .then((job) => {
        if (bar) bar.value = job.progress;
        if (percent) percent.textContent = Math.round(job.progress * 100) + "%";
        if (job.status === "done" || job.status === "failed") {
          window.location.reload();
        } else {
          setTimeout(tick, 500);
        }
      })
      .catch(() => setTimeout(tick, 2000));
  };
  tick();
}

document.addEventListener("DOMContentLoaded", () => {
  if (window.uPlot) document.querySelectorAll("[data-chart]").forEach(drawChart);
  const job = document.getElementById("job");
  if (job && (job.dataset.status === "queued" || job.dataset.status === "running")) pollJob(job);
  const picker = document.querySelector("input[type=date][name=on]");
  if (picker) picker.addEventListener("change", () => picker.form.submit());
});
