// The staff timeline: clicking a free stretch of a table's row opens "New booking" for that table,
// at the slot under the pointer. The "New booking" button does the same without JavaScript.
(function () {
  "use strict";
  function minutes(text) {
    const [h, m] = text.split(":").map(Number);
    return h * 60 + m;
  }
  function hhmm(total) {
    const h = Math.floor(total / 60) % 24, m = total % 60;
    return String(h).padStart(2, "0") + ":" + String(m).padStart(2, "0");
  }
  function init() {
    const timeline = document.querySelector(".rx-tl[data-new-url]");
    if (!timeline) return;
    const from = minutes(timeline.dataset.from);
    let to = minutes(timeline.dataset.to);
    if (to <= from) to += 24 * 60; // the window ends at midnight
    const step = Number(timeline.dataset.step) || 15;
    timeline.querySelectorAll(".rx-tl-row[data-table] .rx-tl-track").forEach(function (track) {
      track.classList.add("rx-free-cells");
      track.title = "Click a free time to book this table";
      track.addEventListener("click", function (event) {
        if (event.target !== track) return; // a booking's bar opens its panel instead
        const box = track.getBoundingClientRect();
        const at = from + ((event.clientX - box.left) / box.width) * (to - from);
        const slot = Math.floor(at / step) * step;
        const query = new URLSearchParams({
          date: timeline.dataset.date,
          time: hhmm(slot),
          table: track.closest(".rx-tl-row").dataset.table,
        });
        window.location.assign(timeline.dataset.newUrl + "?" + query.toString());
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
