// Live progress of a run: server-sent events from /runs/ID/events (WatchMatchRun through the
// console); the page reloads when the run is over to show its result.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("live");
  if (!box) return;
  var source = new EventSource(box.dataset.events);
  source.addEventListener("progress", function (e) {
    var d = JSON.parse(e.data);
    box.querySelector("[data-state]").textContent = d.state;
    box.querySelector("[data-objective]").textContent = d.objective;
    box.querySelector("[data-bound]").textContent = d.bound;
    box.querySelector("[data-elapsed]").textContent = d.elapsed;
    var n = box.querySelector("[data-events]");
    n.textContent = String(Number(n.textContent) + 1);
  });
  source.addEventListener("done", function () {
    source.close();
    window.location.reload();
  });
  source.onerror = function () { source.close(); setTimeout(function () { window.location.reload(); }, 1000); };
});
