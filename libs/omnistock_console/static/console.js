// Small helpers for the console; every page works without them (plain forms, server-rendered).
(function () {
  "use strict";

  // Times arrive in UTC; show them in the device's own time zone, as staff read a clock.
  var format = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (element) {
      if (element.dataset.local) { return; }
      var moment = new Date(element.getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        element.title = element.textContent;
        element.textContent = format.format(moment);
        element.dataset.local = "1";
      }
    });
  }

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
    focusScan(document);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    localTimes(event.target);
    if (event.target === document.body) { focusScan(document); }
  });
  document.addEventListener("htmx:sseMessage", function (event) { localTimes(event.target); });
})();
