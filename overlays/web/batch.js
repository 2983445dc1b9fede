"use strict";
// Polls /progress twice a second and shows the batch's numbers (see stream/batch/status.py).
(function () {
  const token = new URLSearchParams(window.location.search).get("token");
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const $ = (id) => document.getElementById(id);
  let polls = 0;

  function setText(id, text) {
    const node = $(id);
    if (node.textContent !== text) node.textContent = text;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const two = (n) => String(n).padStart(2, "0");
    return (h ? h + ":" + two(m) : String(m)) + ":" + two(s % 60);
  }

  function ofTotal(done, total) {
    return total === null || total === undefined ? String(done) : done + " / " + total;
  }

  function renderFacts(numbers) {
    const recordings = numbers.recordings;
    setText("recordings", (recordings.done + recordings.failed) + " / " + recordings.total);
    setText("recordings-failed", recordings.failed ? recordings.failed + " failed" : "");
    const frames = numbers.frames;
    setText("frames", ofTotal(frames.done, frames.total));
    $("frames-bar").value = frames.total ? Math.min(frames.done / frames.total, 1) : 0;
    setText("fps", numbers.frames_per_s === null ? "-" : Number(numbers.frames_per_s).toFixed(1));
    setText("elapsed", duration(numbers.elapsed_s));
    setText("eta", duration(numbers.eta_s));
  }

  function renderWorkers(workers) {
    const body = $("workers").tBodies[0];
    while (body.rows.length > workers.length) body.deleteRow(-1);
    workers.forEach((worker, i) => {
      const row = body.rows[i] || body.insertRow();
      if (row.cells.length === 0) {
        [0, 1, 2, 3].forEach(() => row.insertCell());
        row.cells[3].appendChild(document.createElement("progress"));
      }
      row.cells[0].textContent = String(worker.worker);
      row.cells[1].textContent = worker.label;
      row.cells[2].textContent = ofTotal(worker.frames_done, worker.frames_expected);
      const bar = row.cells[3].firstChild;
      bar.value = worker.frames_expected ? Math.min(worker.frames_done / worker.frames_expected, 1) : 0;
    });
  }

  async function poll() {
    try {
      const response = await fetch("progress" + query, { cache: "no-store" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const numbers = await response.json();
      renderFacts(numbers);
      renderWorkers(numbers.workers);
      polls += 1;
      document.body.dataset.polls = String(polls);
      setText("connection", "live");
      $("connection").className = "badge live";
    } catch (error) {
      // The batch ended (its server with it) or the network blinked.
      setText("connection", "disconnected");
      $("connection").className = "badge down";
    }
    window.setTimeout(poll, 500);
  }

  poll();
})();
