// Small helpers for the console; every page works without them (plain forms, server-rendered).
(function () {
  "use strict";

  // Times arrive as instants; show them on the store's clock (data-zone, the zone its promises are
  // made in, or UTC) and name it, as the server did: staff read them as the store's time.
  var options = { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  function formatIn(zone) {
    if (zone) {
      try {
        var format = new Intl.DateTimeFormat(undefined, Object.assign({ timeZone: zone }, options));
        return { format: function (moment) { return format.format(moment) + " " + zone; } };
      } catch (error) { /* unknown zone: the server's words stay */ }
    }
    return null;
  }
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      if (element.dataset.local) { return; }
      var moment = new Date(element.getAttribute("datetime"));
      var clock = formatIn(element.dataset.zone);
      if (clock && !isNaN(moment.getTime())) {
        element.title = element.textContent;
        element.textContent = clock.format(moment);
        element.dataset.local = "1";
      }
    });
  }

  // Work still owed past its due time (data-due, the promise) is marked overdue as time passes, not
  // only when the list changes: the server marks what was overdue when it drew the page.
  function markOverdue(root) {
    var now = Date.now();
    root.querySelectorAll("[data-due]").forEach(function (element) {
      var due = Date.parse(element.dataset.due);
      if (!isNaN(due)) { element.classList.toggle("overdue", due <= now); }
    });
  }
  setInterval(function () { markOverdue(document); }, 30000);

  // A barcode scanner types into the focused field and presses Enter: keep the scan field focused
  // after each page, unless the person is busy in another field. Pages mark the field with
  // data-autofocus, not autofocus: htmx focuses an [autofocus] element when a page settles, whatever
  // the person already chose, and what they typed then went into the scan field.
  function focusScan(root) {
    var active = document.activeElement;
    if (active && active !== document.body && active.matches("input, select, textarea")) { return; }
    var field = root.querySelector("[data-autofocus]") || root.querySelector("[data-scan]");
    if (field) { field.focus(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    markOverdue(document);
    focusScan(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    localTimes(event.target);
    markOverdue(event.target);
    if (event.target === document.body) { focusScan(document); }
  });
  document.addEventListener("htmx:sseMessage", function (event) { localTimes(event.target); markOverdue(event.target); });

  // A live list re-renders whole on every change; it must never do so under a person's hand: while
  // they press on it (the click would land on a replaced element and be lost), while a field or
  // button in it has the focus, or while a request they started from it is on its way. The newest
  // list waits and lands as soon as they let go; older waiting lists are dropped, as the newest
  // holds everything.
  var waiting = new Map();
  var pressed = null;

  function busy(element) {
    var active = document.activeElement;
    if (pressed && element.contains(pressed)) { return true; }
    if (active && element.contains(active) && active.matches("input, select, textarea, button")) { return true; }
    return element.querySelector(".htmx-request") !== null || element.classList.contains("htmx-request");
  }

  function land(element) {
    var data = waiting.get(element);
    if (data === undefined) { return; }
    if (!document.body.contains(element)) { waiting.delete(element); return; }
    if (busy(element)) { return; }
    waiting.delete(element);
    htmx.swap(element, data, { swapStyle: "innerHTML", swapDelay: 0, settleDelay: 20 });
    localTimes(element);
  }

  // Later, not now: the click that ends a press is dispatched after pointerup, and the request it
  // starts marks its element only then.
  function landAllSoon() {
    window.setTimeout(function () { Array.from(waiting.keys()).forEach(land); }, 0);
  }

  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var element = event.target;
    if (busy(element)) {
      event.preventDefault();
      waiting.set(element, event.detail.data);
    } else {
      waiting.delete(element);
    }
  });
  document.addEventListener("pointerdown", function (event) { pressed = event.target; }, true);
  ["pointerup", "pointercancel"].forEach(function (name) {
    document.addEventListener(name, function () { pressed = null; landAllSoon(); }, true);
  });
  document.addEventListener("focusout", landAllSoon);
  document.addEventListener("htmx:afterRequest", landAllSoon);

  // A submit either lands or says it did not: when the request never reached the console (no
  // network, a timeout), the form stays as typed and a message under it says so.
  function notSent(event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    if (!form) { return; }
    var problem = form.nextElementSibling;
    if (!problem || !problem.hasAttribute("data-not-sent")) {
      problem = document.createElement("p");
      problem.className = "problem";
      problem.setAttribute("role", "alert");
      problem.setAttribute("data-not-sent", "");
      form.after(problem);
    }
    // The form keeps its request id, so pressing again acts once even if the first try arrived.
    problem.textContent = "Not sent: the console could not be reached. Check the connection and press " +
      "the button again; what you typed is kept, and the step is never done twice.";
  }
  document.addEventListener("htmx:sendError", notSent);
  document.addEventListener("htmx:timeout", notSent);
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("form") : null;
    var problem = form ? form.nextElementSibling : null;
    if (problem && problem.hasAttribute("data-not-sent")) { problem.remove(); }
  });
})();
