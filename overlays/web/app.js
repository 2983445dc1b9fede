"use strict";
// Polls /stats four times a second and draws the numbers; the video is the <img> MJPEG stream.
(function () {
  const token = new URLSearchParams(window.location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const STAGES = ["end_to_end", "queue_wait", "detector", "perception", "render", "write"];
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  let loads = 0;
  let polls = 0;

  video.addEventListener("load", () => {
    loads += 1;
    video.dataset.loads = String(loads);
  });
  video.addEventListener("error", () => {
    // The server restarted or the network blinked: reopen the stream a second later.
    window.setTimeout(() => {
      video.src = "stream.mjpg" + query + (query ? "&" : "?") + "retry=" + Date.now();
    }, 1000);
  });

  function fixed(value, digits) {
    return value === null || value === undefined ? "-" : Number(value).toFixed(digits);
  }

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  function renderLatency(latency) {
    const body = $("latency").tBodies[0];
    STAGES.forEach((stage, i) => {
      const row = body.rows[i] || body.insertRow();
      if (row.cells.length === 0) {
        row.id = "latency-" + stage.replace(/_/g, "-");
        ["stage", "last", "p50", "p95"].forEach(() => row.insertCell());
        row.cells[0].textContent = stage.replace(/_/g, " ");
      }
      const summary = latency[stage] || {};
      row.cells[1].textContent = fixed(summary.last, 1);
      row.cells[2].textContent = fixed(summary.p50, 1);
      row.cells[3].textContent = fixed(summary.p95, 1);
    });
  }

  function renderFacts(stats) {
    setText("frame-index", stats.frame_index === null ? "-" : String(stats.frame_index));
    setText("pts", fixed(stats.pts_s, 2));
    setText("fps", fixed(stats.fps, 1));
    const ball = stats.ball || {};
    const status = $("ball-status");
    setText("ball-status", ball.status || "-");
    status.className = "status " + (ball.status || "");
    setText("ball-xy", ball.status && ball.status !== "lost" ? "(" + fixed(ball.x, 0) + ", " + fixed(ball.y, 0) + ")" : "");
    setText("precision", stats.precision || "-");
    setText("mode", stats.mode || "-");
    const progress = stats.progress || {};
    const total = progress.total;
    setText("progress", total ? progress.done + " / " + total : String(progress.done || 0));
    $("progress-bar").value = total ? progress.done / total : 0;
    setText("drops", String(stats.drops.total));
    const causes = Object.entries(stats.drops.by_cause).map(([cause, n]) => cause + " " + n);
    setText("drops-by-cause", causes.join(", "));
    setText("decision", stats.decision || "-");
  }

  function renderEvents(events) {
    const list = $("events");
    const text = events.map((e) => "t=" + fixed(e.t_s, 1) + "s " + e.kind).join("\n");
    if (list.dataset.text === text) return;
    list.dataset.text = text;
    list.replaceChildren(...events.slice().reverse().map((e) => {
      const item = document.createElement("li");
      item.textContent = "t=" + fixed(e.t_s, 1) + " s  " + e.kind + (e.text ? ": " + e.text : "");
      return item;
    }));
  }

  function niceCeiling(value) {
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    const steps = [1, 2, 5, 10];
    return power * steps.find((s) => s * power >= value);
  }

  function drawLine(ctx, points, index, color, toX, toY) {
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let isDrawing = false;
    points.forEach((point) => {
      const value = point[index];
      if (value === null || value === undefined) {
        isDrawing = false;
        return;
      }
      if (isDrawing) ctx.lineTo(toX(point[0]), toY(value));
      else ctx.moveTo(toX(point[0]), toY(value));
      isDrawing = true;
    });
    ctx.stroke();
  }

  function drawChart(chart) {
    const canvas = $("chart");
    const ctx = canvas.getContext("2d");
    const width = canvas.width;
    const height = canvas.height;
    const left = 40;
    const bottom = height - 18;
    ctx.clearRect(0, 0, width, height);
    const points = chart.points;
    const top = niceCeiling(Math.max(1, ...points.map((p) => Math.max(p[1] || 0, p[2] || 0))));
    // The window grows with the run up to the last minute, so a young run is not a sliver.
    const oldest = points.length ? points[0][0] : chart.now_s;
    const span = Math.min(chart.window_s, Math.max(10, Math.ceil(chart.now_s - oldest)));
    const start = chart.now_s - span;
    const toX = (t) => left + ((t - start) / span) * (width - left - 14);
    const toY = (ms) => bottom - (ms / top) * (bottom - 6);
    ctx.fillStyle = "#8b95a3";
    ctx.strokeStyle = "#2a313b";
    ctx.font = "11px system-ui, sans-serif";
    ctx.textAlign = "right";
    [0, 0.5, 1].forEach((f) => {
      const y = toY(top * f);
      ctx.beginPath();
      ctx.moveTo(left, y);
      ctx.lineTo(width, y);
      ctx.stroke();
      ctx.fillText(String(Math.round(top * f)), left - 4, y + 4);
    });
    ctx.textAlign = "center";
    [1, 0.75, 0.5, 0.25, 0].forEach((f) => {
      const seconds = Math.round(span * f);
      ctx.fillText(seconds ? "-" + seconds + "s" : "now", toX(chart.now_s - seconds), height - 4);
    });
    drawLine(ctx, points, 1, "#ffb020", toX, toY);
    drawLine(ctx, points, 2, "#3fa7ff", toX, toY);
    canvas.dataset.points = String(points.length);
  }

  async function poll() {
    try {
      const response = await fetch("stats" + query, { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const stats = await response.json();
      renderFacts(stats);
      renderLatency(stats.latency_ms);
      renderEvents(stats.events);
      drawChart(stats.chart);
      polls += 1;
      document.body.dataset.polls = String(polls);
      setText("connection", "live");
      $("connection").className = "badge live";
    } catch (error) {
      setText("connection", "disconnected");
      $("connection").className = "badge down";
    }
    window.setTimeout(poll, 250);
  }

  poll();
})();
