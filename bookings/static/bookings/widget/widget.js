/* ReserveX booking widget: plain JavaScript, no build step, public API only.
 *
 * Steps: search (date, guests, preferred time) -> times -> details (with a hold and its countdown)
 * -> pending (polls, honouring Retry-After) -> done (reference, time, tables; refresh / poll).
 * Every error answer is the envelope {"error": CODE, "message": text}; the message is shown as is,
 * with plainer words for the few codes a guest should not have to decode.
 */
(function () {
  "use strict";

  var root = document.getElementById("rxw");
  if (!root) return;
  var SLUG = root.dataset.restaurant;
  var API = root.dataset.api || "/api/v1/";
  var LOCALE = document.documentElement.lang || "en-GB";
  var POLL_LIMIT = 90; // pending polls (about three minutes at the server's Retry-After of 2 s)
  var REFRESH_EVERY_MS = 60000; // a confirmed booking is re-read while the page is visible
  var RETRY_LIMIT = 4; // automatic retries of one booking request with the same Idempotency-Key
  var HOLD_SECONDS = Number(root.dataset.holdSeconds) || 300;

  var $ = function (id) { return document.getElementById(id); };
  var els = {
    error: $("rxw-error"), status: $("rxw-status"),
    searchForm: $("search-form"), date: $("rxw-date"), party: $("rxw-party"), wish: $("rxw-wish"),
    find: $("rxw-find"), timesSummary: $("times-summary"), wishResult: $("wish-result"),
    timesList: $("times-list"), heldSummary: $("held-summary"), countdown: $("rxw-countdown"),
    countdownTime: $("rxw-countdown-time"), detailsForm: $("details-form"), book: $("rxw-book"),
    pendingRef: $("pending-ref"),
  };
  var steps = ["search", "times", "details", "pending", "done"];

  var state = {
    day: null, // {date, party, slots}
    dayCache: {}, // "date|party" -> promise of slots
    hold: null, // the hold answer from the API
    clockOffset: 0, // server time minus this device's time, from the Date header
    attempt: null, // {key, body}: one Idempotency-Key per booking attempt, reused on retry
    booking: null, // the last booking answer
    timers: { countdown: null, poll: null, refresh: null },
  };

  // --- API -------------------------------------------------------------------------------------

  function ApiError(code, message, status, body, retryAfter) {
    this.code = code; this.message = message; this.status = status;
    this.body = body || {}; this.retryAfter = retryAfter;
  }

  function retryAfterOf(response) {
    var value = parseInt(response.headers.get("Retry-After") || "", 10);
    return isNaN(value) ? null : Math.max(1, Math.min(value, 60));
  }

  function plainWords(code, body, status, retryAfter) {
    if (code === "RATE_LIMITED") {
      return "Lots of people are booking right now. Please wait " + (retryAfter || 10) +
        " seconds and try again.";
    }
    if (code === "VALIDATION_ERROR") return "Please check the highlighted details.";
    if (code === "NETWORK") {
      return "We could not reach the restaurant's booking system. Check your connection and try again.";
    }
    if (body && body.message) return body.message;
    if (status >= 500) return "Something went wrong on our side. Please try again in a moment.";
    return "Something went wrong. Please try again.";
  }

  function api(method, path, options) {
    options = options || {};
    var headers = { Accept: "application/json" };
    if (options.body) headers["Content-Type"] = "application/json";
    Object.keys(options.headers || {}).forEach(function (k) { headers[k] = options.headers[k]; });
    return fetch(API + path, {
      method: method, headers: headers, cache: "no-store", credentials: "omit",
      body: options.body ? JSON.stringify(options.body) : undefined,
    }).catch(function () {
      throw new ApiError("NETWORK", plainWords("NETWORK"), 0);
    }).then(function (response) {
      // The Date header has whole seconds: take the middle of that second as the server's now.
      var serverDate = Date.parse(response.headers.get("Date") || "");
      if (!isNaN(serverDate)) state.clockOffset = serverDate + 500 - Date.now();
      var retryAfter = retryAfterOf(response);
      var parse = response.status === 204 ? Promise.resolve(null) : response.json().catch(function () { return null; });
      return parse.then(function (body) {
        if (!response.ok) {
          var code = (body && body.error) || "HTTP_" + response.status;
          throw new ApiError(code, plainWords(code, body, response.status, retryAfter), response.status, body, retryAfter);
        }
        return { status: response.status, body: body, retryAfter: retryAfter };
      });
    });
  }

  function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  // --- screen helpers --------------------------------------------------------------------------

  function show(step, focus) {
    steps.forEach(function (name) { $("step-" + name).hidden = name !== step; });
    root.dataset.step = step;
    if (focus !== false) {
      var heading = $("step-" + step).querySelector("h2");
      if (heading) heading.focus();
    }
    reportHeight();
  }

  function announce(text) { els.status.textContent = text; }

  function showError(error) {
    var message = error instanceof ApiError ? error.message : String(error && error.message || error);
    els.error.textContent = message;
    els.error.hidden = false;
    reportHeight();
  }

  function clearError() {
    els.error.hidden = true;
    els.error.textContent = "";
    Array.prototype.forEach.call(root.querySelectorAll("[aria-invalid]"), function (el) {
      el.removeAttribute("aria-invalid");
    });
    Array.prototype.forEach.call(root.querySelectorAll(".rxw-field-error"), function (el) { el.textContent = ""; });
  }

  function busy(button, on, label) {
    if (!button) return;
    if (on) { button.dataset.label = button.textContent; button.textContent = label; }
    else if (button.dataset.label) { button.textContent = button.dataset.label; }
    button.disabled = on;
    button.setAttribute("aria-busy", on ? "true" : "false");
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function longDate(iso) {
    // Dates from the API are the restaurant's local dates: format them without shifting zones.
    return new Intl.DateTimeFormat(LOCALE, { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" })
      .format(new Date(iso + "T00:00:00Z"));
  }

  function guests(n) { return n + (Number(n) === 1 ? " guest" : " guests"); }

  function reportHeight() {
    // Lets the embedding page size the iframe (see embed.js); only a number leaves the frame.
    if (window.parent === window) return;
    window.parent.postMessage({ type: "reservex:height", height: document.documentElement.scrollHeight }, "*");
  }

  // --- step 1: search ----------------------------------------------------------------------------

  function loadDay(date, party) {
    var key = date + "|" + party;
    if (!state.dayCache[key]) {
      state.dayCache[key] = api("GET", "restaurants/" + encodeURIComponent(SLUG) + "/availability?" +
        new URLSearchParams({ date: date, party_size: party })).then(function (r) {
        r.body.slots.message = r.body.message; // why the day has no time (past, closed, party too large…)
        r.body.slots.reason = r.body.reason; // "full": the waitlist is offered
        return r.body.slots;
      });
      state.dayCache[key].catch(function () { delete state.dayCache[key]; });
    }
    return state.dayCache[key];
  }

  function fillWishes() {
    var date = els.date.value, party = els.party.value;
    loadDay(date, party).then(function (slots) {
      // An answer for an earlier choice of date or guests arrives late: ignore it.
      if (els.date.value !== date || els.party.value !== party) return;
      var chosen = els.wish.value; // read now: the guest may have picked while this loaded
      while (els.wish.options.length > 1) els.wish.remove(1);
      slots.forEach(function (slot) {
        if (slot.reason === "past") return;
        var option = el("option", { value: slot.time }, slot.time + (slot.available ? "" : " (full)"));
        els.wish.appendChild(option);
      });
      els.wish.value = Array.prototype.some.call(els.wish.options, function (o) { return o.value === chosen; }) ? chosen : "";
    }).catch(function () { /* the search itself reports errors */ });
  }

  function onSearch(event) {
    event.preventDefault();
    clearError();
    var date = els.date.value, party = els.party.value, wish = els.wish.value;
    if (!date) {
      els.date.setAttribute("aria-invalid", "true");
      showError("Please choose a date.");
      els.date.focus();
      return;
    }
    busy(els.find, true, "Looking…");
    announce("Looking for tables…");
    var day = loadDay(date, party);
    var atWish = wish
      ? api("GET", "restaurants/" + encodeURIComponent(SLUG) + "/availability?" +
          new URLSearchParams({ date: date, party_size: party, time: wish })).then(function (r) { return r.body; })
      : Promise.resolve(null);
    Promise.all([day, atWish]).then(function (answers) {
      state.day = { date: date, party: Number(party), slots: answers[0] };
      renderTimes(answers[1], null);
      show("times");
    }).catch(showError).then(function () { busy(els.find, false); });
  }

  // --- step 2: times -----------------------------------------------------------------------------

  function timeButton(time, primary) {
    var li = el("li");
    var button = el("button", { type: "button", class: primary ? "rxw-time rxw-time-wish" : "rxw-time", "data-time": time }, time);
    button.addEventListener("click", function () { takeTime(time, button); });
    li.appendChild(button);
    return li;
  }

  function renderTimes(wishAnswer, refusal) {
    var day = state.day;
    var free = day.slots.filter(function (s) { return s.available; });
    els.timesSummary.textContent = guests(day.party) + " · " + longDate(day.date);
    els.wishResult.textContent = "";
    els.timesList.textContent = "";

    var nearest = null, lead = null;
    if (refusal) {
      lead = refusal.message;
      nearest = (refusal.body.alternatives || []).slice().sort();
    } else if (wishAnswer) {
      if (wishAnswer.available) {
        lead = wishAnswer.time + " is available.";
        nearest = [wishAnswer.time];
      } else {
        lead = "Sorry, " + wishAnswer.time + " is fully booked for " + guests(day.party) + ".";
        // The API lists the nearest first; a guest scans them more easily in time order.
        nearest = (wishAnswer.alternatives || []).slice().sort();
        if (!nearest.length) lead += " There is no other time that day.";
      }
    }
    if (lead) {
      var box = el("div", { class: "rxw-wish" + (nearest && nearest.length && wishAnswer && wishAnswer.available ? " is-ok" : "") });
      box.appendChild(el("p", {}, lead));
      if (nearest && nearest.length) {
        if (!(wishAnswer && wishAnswer.available)) box.appendChild(el("p", { class: "rxw-help" }, "The nearest free times:"));
        var list = el("ul", { class: "rxw-times", "aria-label": "Suggested times" });
        nearest.forEach(function (t) { list.appendChild(timeButton(t, true)); });
        box.appendChild(list);
      }
      els.wishResult.appendChild(box);
    }

    if (!free.length) {
      els.timesList.appendChild(el("p", { class: "rxw-empty" }, day.slots.message ||
        "There is no table for " + guests(day.party) + " on " + longDate(day.date) + ". Please try another date."));
      var waitlist = waitlistForm(day);
      if (waitlist) els.timesList.appendChild(waitlist);
      announce("No free times that day.");
      reportHeight();
      return;
    }
    // Lunch and evening times in two groups (times are "HH:MM", so they compare as text).
    var groups = [
      free.filter(function (s) { return s.time < "16:00"; }).map(function (s) { return s.time; }),
      free.filter(function (s) { return s.time >= "16:00"; }).map(function (s) { return s.time; }),
    ];
    groups.forEach(function (times, index) {
      if (!times.length) return;
      var title = index === 0 ? "Lunch" : "Evening";
      var heading = el("h3", { class: "rxw-group" }, title);
      var list = el("ul", { class: "rxw-times", "aria-label": title + " times" });
      times.forEach(function (t) { list.appendChild(timeButton(t, false)); });
      els.timesList.appendChild(heading);
      els.timesList.appendChild(list);
    });
    announce(free.length + " times available on " + longDate(day.date) + ".");
    reportHeight();
  }

  // --- the waitlist: when no time fits, wait for one to free up ------------------------------------

  function waitlistForm(day) {
    // Only for a day that is open but full: its times still to come, all taken.
    var times = day.slots.filter(function (s) { return s.reason !== "past"; }).map(function (s) { return s.time; });
    if (!times.length || day.slots.reason !== "full") return null;
    var form = el("form", { class: "rxw-waitlist", id: "waitlist-form", novalidate: "" });
    form.appendChild(el("h3", { class: "rxw-group" }, "Join the waitlist"));
    form.appendChild(el("p", { class: "rxw-help" },
      "If a table frees up between these times, we hold it for you and send you an offer to accept."));
    function field(id, label, control) {
      var wrap = el("div", { class: "rxw-field" });
      wrap.appendChild(el("label", { for: id }, label));
      control.id = id;
      wrap.appendChild(control);
      return wrap;
    }
    function timeSelect(name, chosen) {
      var select = el("select", { name: name });
      times.forEach(function (t) { select.appendChild(el("option", { value: t }, t)); });
      select.value = chosen;
      return select;
    }
    var row = el("div", { class: "rxw-row" });
    row.appendChild(field("rxw-wait-from", "From", timeSelect("earliest_time", times[0])));
    row.appendChild(field("rxw-wait-until", "Until", timeSelect("latest_time", times[times.length - 1])));
    form.appendChild(row);
    form.appendChild(field("rxw-wait-name", "Name", el("input", { type: "text", name: "guest_name", autocomplete: "name", maxlength: "200", required: "" })));
    form.appendChild(field("rxw-wait-email", "Email", el("input", { type: "email", name: "guest_email", autocomplete: "email", maxlength: "254" })));
    form.appendChild(field("rxw-wait-phone", "Phone", el("input", { type: "tel", name: "guest_phone", autocomplete: "tel", maxlength: "32" })));
    form.appendChild(el("p", { class: "rxw-help" }, "An email or a phone number, for the offer."));
    form.appendChild(el("button", { type: "submit", class: "rxw-primary", id: "rxw-wait" }, "Join the waitlist"));
    form.addEventListener("submit", onJoin);
    return form;
  }

  function onJoin(event) {
    event.preventDefault();
    clearError();
    var form = event.target, button = $("rxw-wait");
    var value = function (name) { return form.elements[name].value.trim(); };
    var body = {
      date: state.day.date, party_size: state.day.party, source: "widget",
      earliest_time: value("earliest_time"), latest_time: value("latest_time"),
      guest_name: value("guest_name"), guest_email: value("guest_email"), guest_phone: value("guest_phone"),
    };
    // One key per form shown: pressing the button twice joins once.
    state.waitKey = state.waitKey || newKey();
    busy(button, true, "Joining…");
    api("POST", "restaurants/" + encodeURIComponent(SLUG) + "/waitlist", {
      body: body, headers: { "Idempotency-Key": state.waitKey },
    }).then(function (r) {
      state.waitKey = null;
      var done = el("div", { class: "rxw-wish is-ok", id: "waitlist-done" });
      done.appendChild(el("p", {}, "You are on the waitlist, number " + r.body.position + " in line for " +
        longDate(r.body.date) + " between " + r.body.earliest_time + " and " + r.body.latest_time + "."));
      done.appendChild(el("p", {}, "If a table frees up we will hold it for you and send you an offer."));
      var link = el("a", { href: API.replace(/api\/v1\/$/, "") + "waitlist/" + encodeURIComponent(r.body.token) + "/" },
        "Your place on the waitlist");
      done.appendChild(link);
      form.replaceWith(done);
      announce("You are on the waitlist.");
      reportHeight();
    }).catch(function (error) {
      busy(button, false);
      showError(error.code === "VALIDATION_ERROR" && error.body.fields
        ? new ApiError(error.code, Object.keys(error.body.fields).map(function (k) {
            return [].concat(error.body.fields[k]).join(" ");
          }).join(" "), error.status, error.body)
        : error);
    });
  }

  function takeTime(time, button) {
    clearError();
    busy(button, true, "Holding…");
    announce("Holding a table at " + time + "…");
    api("POST", "restaurants/" + encodeURIComponent(SLUG) + "/holds", {
      body: { date: state.day.date, time: time, party_size: state.day.party },
    }).then(function (r) {
      state.hold = r.body;
      state.hold.time = time;
      state.attempt = null; // a new hold is a new booking attempt
      els.heldSummary.textContent = guests(state.day.party) + " · " + longDate(state.day.date) + " · " + time;
      startCountdown();
      show("details");
      announce("Table held at " + time + ". Please enter your details.");
    }).catch(function (error) {
      busy(button, false);
      if (error.code === "CAPACITY_EXCEEDED" || error.code === "SLOT_UNAVAILABLE" || error.code === "HOLD_CONFLICT") {
        // Someone else took it: show why, the nearest times, and today's fresh list.
        delete state.dayCache[state.day.date + "|" + state.day.party];
        loadDay(state.day.date, state.day.party).then(function (slots) {
          state.day.slots = slots;
          renderTimes(null, error);
          $("times-title").focus();
        }).catch(showError);
        showError(error);
      } else {
        showError(error);
      }
    });
  }

  // --- step 3: details, under a hold --------------------------------------------------------------

  function remainingMs() {
    var left = Date.parse(state.hold.expires_at) - (Date.now() + state.clockOffset);
    return Math.min(left, HOLD_SECONDS * 1000); // a skewed clock must not promise more than the hold
  }

  function startCountdown() {
    stopCountdown();
    var warned = false;
    function tick() {
      var left = Math.max(0, Math.round(remainingMs() / 1000));
      els.countdownTime.textContent = Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2);
      els.countdown.classList.toggle("is-low", left <= 60);
      if (left <= 60 && !warned) { warned = true; announce("One minute left to finish your booking."); }
      if (left <= 0) {
        stopCountdown();
        state.hold = null;
        backToTimes("Your held table was released because the time ran out. Please choose a time again.");
      }
    }
    tick();
    state.timers.countdown = setInterval(tick, 1000);
  }

  function stopCountdown() {
    clearInterval(state.timers.countdown);
    state.timers.countdown = null;
  }

  function releaseHold() {
    var hold = state.hold;
    state.hold = null;
    stopCountdown();
    if (hold) api("DELETE", "holds/" + encodeURIComponent(hold.id)).catch(function () { /* it expires anyway */ });
  }

  function backToTimes(message) {
    releaseHold();
    delete state.dayCache[state.day.date + "|" + state.day.party];
    loadDay(state.day.date, state.day.party).then(function (slots) {
      state.day.slots = slots;
      renderTimes(null, null);
      show("times");
      if (message) showError(message);
    }).catch(showError);
  }

  function fieldErrors(fields) {
    var map = { guest_name: "rxw-name", guest_email: "rxw-email", guest_phone: "rxw-phone", notes: "rxw-notes" };
    var first = null, other = [];
    Object.keys(fields || {}).forEach(function (name) {
      var text = [].concat(fields[name]).join(" ");
      if (name === "guest_phone") text = "Please enter a phone number using digits, spaces and + ( ) - only.";
      var input = map[name] && $(map[name]);
      if (input) {
        input.setAttribute("aria-invalid", "true");
        $(map[name] + "-error").textContent = text;
        first = first || input;
      } else {
        other.push(text);
      }
    });
    return { first: first, other: other };
  }

  function onBook(event) {
    event.preventDefault();
    clearError();
    var form = els.detailsForm;
    var body = {
      restaurant: SLUG,
      date: state.day.date,
      time: state.hold.time,
      party_size: state.day.party,
      guest_name: form.guest_name.value.trim(),
      guest_email: form.guest_email.value.trim(),
      guest_phone: form.guest_phone.value.trim(),
      notes: form.notes.value.trim(),
      hold_id: state.hold.id,
      source: "widget",
    };
    if (!body.guest_name) {
      fieldErrors({ guest_name: "Please tell us your name." }).first.focus();
      showError("Please check the highlighted details.");
      return;
    }
    var text = JSON.stringify(body);
    // One key per booking attempt: the same details are retried with the same key (safe: the
    // server answers a repeat with the first answer); changed details are a new attempt.
    if (!state.attempt || state.attempt.body !== text) state.attempt = { key: newKey(), body: text };
    busy(els.book, true, "Booking…");
    announce("Booking your table…");
    sendBooking(body, state.attempt.key, 0).then(function (r) {
      stopCountdown();
      state.hold = null;
      state.attempt = null;
      remember(r.body.reference);
      // Held for the restaurant's staff (its no-show rule): the table is kept; no point polling fast.
      if (r.status === 202 && !r.body.awaiting_staff) waitForTable(r.body, r.retryAfter);
      else showBooking(r.body);
    }).catch(function (error) {
      if (error.code === "VALIDATION_ERROR") {
        var found = fieldErrors(error.body.fields);
        showError(found.other.length ? found.other.join(" ") : error.message);
        if (found.first) found.first.focus();
      } else if (error.code === "HOLD_EXPIRED" || error.code === "HOLD_NOT_FOUND" || error.code === "HOLD_MISMATCH" ||
                 error.code === "CAPACITY_EXCEEDED" || error.code === "SLOT_UNAVAILABLE") {
        state.hold = null;
        stopCountdown();
        backToTimes(error.message);
      } else {
        showError(error);
        els.error.focus();
      }
    }).then(function () { busy(els.book, false); });
  }

  function sendBooking(body, key, tries) {
    return api("POST", "bookings", { body: body, headers: { "Idempotency-Key": key } }).catch(function (error) {
      var transient = error.code === "NETWORK" || error.code === "IDEMPOTENCY_IN_PROGRESS" ||
        error.code === "BUSY_RETRY" || error.code === "RATE_LIMITED" || error.status >= 500;
      if (!transient || tries >= RETRY_LIMIT) throw error;
      var wait = (error.retryAfter || Math.min(8, 1 + tries * 2)) * 1000;
      announce("Still working on it — trying again in " + Math.round(wait / 1000) + " seconds…");
      return sleep(wait).then(function () { return sendBooking(body, key, tries + 1); });
    });
  }

  // --- step 4 and 5: pending, confirmed ------------------------------------------------------------

  function waitForTable(booking, retryAfter) {
    state.booking = booking;
    els.pendingRef.textContent = booking.reference;
    $("pending-code").textContent = groupedCode(booking.code);
    show("pending");
    announce("Booking received. Choosing your table…");
    var polls = 0;
    function poll(delaySeconds) {
      state.timers.poll = setTimeout(function () {
        polls += 1;
        api("GET", "bookings/" + encodeURIComponent(booking.reference)).then(function (r) {
          if (r.body.status === "pending" && !r.body.awaiting_staff && polls < POLL_LIMIT) return poll(r.retryAfter || 2);
          showBooking(r.body);
        }).catch(function (error) {
          if (polls < POLL_LIMIT && (error.code === "NETWORK" || error.status >= 500 || error.code === "RATE_LIMITED")) {
            return poll(error.retryAfter || 5);
          }
          showError(error);
        });
      }, (delaySeconds || 2) * 1000);
    }
    poll(retryAfter || 2);
  }

  // The short code, grouped three and four as it is read aloud ("K7M-4QPX").
  function groupedCode(code) {
    return code && code.length === 7 ? code.slice(0, 3) + "-" + code.slice(3) : (code || "");
  }

  // What the table line says when the booking has no table now: only a live booking waits for one.
  var NO_TABLE_WORDS = {
    pending: "To be assigned",
    confirmed: "To be assigned",
    cancelled: "Cancelled",
    rejected: "None",
    no_show: "Released",
    completed: "—",
    seated: "—",
  };

  var STATUS_WORDS = {
    pending: "Being confirmed",
    confirmed: "Confirmed",
    seated: "Seated — enjoy your meal",
    completed: "Completed — thank you for coming",
    cancelled: "Cancelled",
    rejected: "Not confirmed",
    no_show: "Marked as not arrived",
  };

  function showBooking(booking, quiet) {
    clearTimeout(state.timers.poll);
    var changed = state.booking && state.booking.reference === booking.reference &&
      (state.booking.tables.join() !== booking.tables.join() || state.booking.time !== booking.time);
    state.booking = booking;
    var title = {
      confirmed: "Your table is booked", pending: "Your booking is being confirmed",
      seated: "Your table is booked", completed: "Thank you for coming",
      cancelled: "Your booking is cancelled", rejected: "We could not confirm your table",
      no_show: "Your booking",
    }[booking.status] || "Your booking";
    if (booking.awaiting_staff) title = "Your table is held — the restaurant will confirm";
    $("done-title").textContent = title;
    var lead = "";
    if (booking.status === "confirmed") lead = "We look forward to seeing you.";
    if (booking.status === "pending") lead = "We are still choosing your table. Refresh in a moment to see it.";
    if (booking.awaiting_staff) {
      lead = "Your table is set aside for you, and the restaurant confirms this booking itself. " +
        "You will hear from them; this page shows their answer.";
    }
    if (booking.status === "rejected") {
      lead = "Sorry — no table could be found for your party after all. Please choose another time.";
    }
    if (booking.status === "cancelled") lead = "This booking is cancelled and its table has been released.";
    $("done-lead").textContent = lead;
    $("done-ref").textContent = booking.reference;
    $("done-code").textContent = groupedCode(booking.code);
    $("done-date").textContent = longDate(booking.date);
    $("done-time").textContent = booking.time;
    $("done-party").textContent = guests(booking.party_size);
    $("done-tables-label").textContent = booking.tables.length > 1 ? "Tables" : "Table";
    $("done-tables").textContent = booking.tables.length ? booking.tables.join(" + ") :
      (NO_TABLE_WORDS[booking.status] || "—");
    $("done-status").textContent = booking.awaiting_staff ? "Awaiting the restaurant's confirmation" :
      (STATUS_WORDS[booking.status] || booking.status);
    $("done-checked").textContent = "Last checked at " +
      new Intl.DateTimeFormat(LOCALE, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date()) + ".";
    $("done-cancel").hidden = !(booking.status === "confirmed" || booking.status === "pending");
    $("cancel-confirm").hidden = true;
    var wasOpen = root.dataset.step === "done";
    show("done", !(quiet && wasOpen));
    if (changed) {
      announce("Your booking was updated: " + booking.time + ", " +
        (booking.tables.length ? (booking.tables.length > 1 ? "tables " : "table ") + booking.tables.join(" and ") : "no table yet") + ".");
    } else if (!quiet) {
      announce(title + ". Booking code " + (booking.code || "").split("").join(" ") + ".");
    }
    scheduleRefresh();
    return changed;
  }

  function refresh(quiet) {
    if (!state.booking) return Promise.resolve();
    if (!quiet) announce("Checking your booking…");
    return api("GET", "bookings/" + encodeURIComponent(state.booking.reference)).then(function (r) {
      var changed = showBooking(r.body, true);
      if (!quiet && !changed) announce("Booking checked: " + (STATUS_WORDS[r.body.status] || r.body.status) + ".");
    }).catch(function (error) { if (!quiet) showError(error); });
  }

  function scheduleRefresh() {
    clearTimeout(state.timers.refresh);
    var live = state.booking && ["pending", "confirmed", "seated"].indexOf(state.booking.status) !== -1;
    if (!live) return;
    state.timers.refresh = setTimeout(function () {
      if (document.visibilityState === "visible") refresh(true); else scheduleRefresh();
    }, state.booking.status === "pending" && !state.booking.awaiting_staff ? 5000 : REFRESH_EVERY_MS);
  }

  function cancelBooking(button) {
    clearError();
    busy(button, true, "Cancelling…");
    api("POST", "bookings/" + encodeURIComponent(state.booking.reference) + "/cancel").then(function (r) {
      showBooking(r.body);
    }).catch(showError).then(function () { busy(button, false); });
  }

  // Keep the reference for a reload of the frame (storage may be blocked in a third-party frame).
  function remember(reference) {
    try { sessionStorage.setItem("reservex:" + SLUG, reference); } catch (e) { /* fine */ }
  }

  function recalled() {
    var fromUrl = new URLSearchParams(location.search).get("booking");
    if (fromUrl) return fromUrl;
    try { return sessionStorage.getItem("reservex:" + SLUG); } catch (e) { return null; }
  }

  function startOver() {
    clearTimeout(state.timers.refresh);
    state.booking = null;
    try { sessionStorage.removeItem("reservex:" + SLUG); } catch (e) { /* fine */ }
    els.detailsForm.reset();
    state.dayCache = {};
    fillWishes();
    show("search");
  }

  // --- wiring ------------------------------------------------------------------------------------

  els.searchForm.addEventListener("submit", onSearch);
  els.detailsForm.addEventListener("submit", onBook);
  els.date.addEventListener("change", fillWishes);
  els.party.addEventListener("change", fillWishes);
  root.addEventListener("click", function (event) {
    var target = event.target.closest("[data-action]");
    if (!target) return;
    var action = target.dataset.action;
    clearError();
    if (action === "back-to-search") show("search");
    else if (action === "release") backToTimes(null);
    else if (action === "refresh") refresh(false);
    else if (action === "new") startOver();
    else if (action === "ask-cancel") { $("cancel-confirm").hidden = false; $("cancel-confirm").querySelector("button").focus(); reportHeight(); }
    else if (action === "keep") { $("cancel-confirm").hidden = true; target.closest(".rxw-cancel").querySelector("button").focus(); }
    else if (action === "cancel") cancelBooking(target);
  });
  document.addEventListener("keydown", function (event) {
    // Escape from the details step gives the held table back, like "Choose another time".
    if (event.key === "Escape" && root.dataset.step === "details") backToTimes(null);
  });
  window.addEventListener("pagehide", function () {
    // Leaving with a hold: give the table back now rather than when it expires.
    if (state.hold) {
      fetch(API + "holds/" + encodeURIComponent(state.hold.id), { method: "DELETE", keepalive: true, credentials: "omit" })
        .catch(function () { /* it expires anyway */ });
    }
  });
  if (window.ResizeObserver) new ResizeObserver(reportHeight).observe(document.body);

  var accent = new URLSearchParams(location.search).get("accent");
  if (accent && /^[0-9a-fA-F]{6}$/.test(accent)) document.documentElement.style.setProperty("--rxw-accent", "#" + accent);

  show("search", false);
  var reference = recalled();
  if (reference) {
    api("GET", "bookings/" + encodeURIComponent(reference)).then(function (r) {
      if (r.body.restaurant === SLUG) { state.booking = r.body; showBooking(r.body, true); }
      else { fillWishes(); }
    }).catch(function () { fillWishes(); });
  } else {
    fillWishes();
  }
  root.dataset.ready = "true";
})();
