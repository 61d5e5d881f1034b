// The staff "New booking" form: the date and time apply only to a phone booking.
(function () {
  "use strict";
  function init() {
    const form = document.getElementById("rx-new");
    if (!form) return;
    const sync = function () {
      const kind = form.querySelector('input[name="kind"]:checked');
      form.classList.toggle("is-walk-in", Boolean(kind && kind.value === "walk_in"));
    };
    form.addEventListener("change", sync);
    sync();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
