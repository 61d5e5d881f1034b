/* ReserveX widget embed: put this tag where the booking widget should appear.
 *
 *   <script src="https://BOOKINGS.EXAMPLE/static/bookings/widget/embed.js"
 *           data-restaurant="white-horse-waterbeach" async></script>
 *
 * It inserts an iframe of /widget/<restaurant>/ from the same origin as this script, and grows the
 * frame to fit its content (the widget posts its height; only messages from that frame count).
 * Optional: data-accent="1f5f4a" (brand colour), data-title (the frame's accessible name).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.dataset.restaurant) return;
  var origin = new URL(script.src, location.href).origin;
  var params = new URLSearchParams();
  if (/^[0-9a-fA-F]{6}$/.test(script.dataset.accent || "")) params.set("accent", script.dataset.accent);
  var frame = document.createElement("iframe");
  frame.src = origin + "/widget/" + encodeURIComponent(script.dataset.restaurant) + "/" +
    (params.toString() ? "?" + params : "");
  frame.title = script.dataset.title || "Book a table";
  frame.loading = "lazy";
  frame.style.cssText = "display:block;width:100%;max-width:36rem;height:640px;border:0;margin:0 auto;";
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || event.source !== frame.contentWindow) return;
    var data = event.data || {};
    if (data.type === "reservex:height" && typeof data.height === "number") {
      frame.style.height = Math.max(320, Math.min(Math.ceil(data.height), 4000)) + "px";
    }
  });
  script.parentNode.insertBefore(frame, script.nextSibling);
})();
