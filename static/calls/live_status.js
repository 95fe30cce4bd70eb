/* Live call status on the calls admin: badges of calls still in progress refresh themselves every few seconds.
   Each such badge carries data-live-call (the call's id) and data-live-url (a staff-only JSON endpoint). When a
   call ends its badge, duration, end reason and answered-by cells are filled in and it is no longer polled. */
(function () {
  "use strict";
  var EVERY_MS = 3000;

  function liveBadges() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-live-call]"));
  }

  function setCell(row, field, text) {
    var cell = row && row.querySelector("td.field-" + field + ", th.field-" + field);
    if (cell) { cell.textContent = text; }
  }

  function apply(badge, state) {
    badge.className = "call-status call-status--" + state.status;
    badge.textContent = state.label;
    var row = badge.closest("tr");
    setCell(row, "duration_display", state.duration);
    setCell(row, "end_reason", state.end_reason);
    setCell(row, "answered_by", state.answered_by);
    if (state.final) {
      var watch = badge.parentNode && badge.parentNode.querySelector(".call-watch");
      if (watch) { watch.remove(); }
      badge.removeAttribute("data-live-call");
      badge.removeAttribute("title");
    }
  }

  function poll() {
    var badges = liveBadges();
    if (!badges.length) { return; }
    var ids = badges.map(function (b) { return b.getAttribute("data-live-call"); });
    var url = badges[0].getAttribute("data-live-url") + "?ids=" + ids.join(",");
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : {calls: {}}; })
      .then(function (data) {
        badges.forEach(function (badge) {
          var state = data.calls[badge.getAttribute("data-live-call")];
          if (state) { apply(badge, state); }
        });
      })
      .catch(function () { /* the server may be restarting: try again next time */ })
      .then(function () { window.setTimeout(poll, EVERY_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(poll, EVERY_MS); });
})();
