/* The call page's live panel (#live-call): follows the call over the staff-only websocket named by its
   data-socket (calls.live.monitor_consumer). The server sends the whole state first (and again whenever a
   re-read finds it changed), then each update as it happens: `turn` (a transcript line), `event` (a timeline
   entry), `status`, `stream_ended`. The panel redraws from what it holds; nothing is polled. A dropped socket
   reconnects (after 1, 2, 4... s, at most 15 s) until the call is over. The words it writes come from the panel's
   data-text-* attributes, in the admin's language. */
(function () {
  "use strict";

  function start(panel) {
    var TEXT = panel.dataset;
    var WHO = {bot: TEXT.textBot, callee: TEXT.textCallee};
    var els = {
      status: document.getElementById("live-status"), elapsed: document.getElementById("live-elapsed"),
      connection: document.getElementById("live-connection"), ended: document.getElementById("live-ended"),
      transcript: document.getElementById("live-transcript"), timeline: document.getElementById("live-timeline"),
      hangUp: document.getElementById("live-hang-up")
    };
    var turns = [], timeline = [], status = null, clockSkewMs = 0, retryMs = 1000, over = false;

    function turnKey(turn) { return turn.speaker + "|" + turn.start_ms + "|" + turn.text; }

    function addTurn(turn) {
      var key = turnKey(turn);
      if (turns.some(function (known) { return turnKey(known) === key; })) { return; }
      turns.push(turn);
      turns.sort(function (a, b) { return a.start_ms - b.start_ms; });
    }

    function clock(ms) {
      var seconds = Math.max(0, Math.floor(ms / 1000));
      return Math.floor(seconds / 60) + ":" + ("0" + (seconds % 60)).slice(-2);
    }

    function drawTranscript() {
      var list = els.transcript;
      list.textContent = "";
      if (!turns.length) {
        var empty = document.createElement("li");
        empty.className = "live-call__empty";
        empty.textContent = TEXT.textNothingSaid;
        list.appendChild(empty);
        return;
      }
      turns.forEach(function (turn) {
        var item = document.createElement("li");
        item.className = "live-turn live-turn--" + turn.speaker;
        var who = document.createElement("span");
        who.className = "live-turn__who";
        who.textContent = (WHO[turn.speaker] || turn.speaker) + " " + clock(turn.start_ms);
        item.appendChild(who);
        item.appendChild(document.createTextNode(turn.text));
        list.appendChild(item);
      });
      list.scrollTop = list.scrollHeight;
    }

    function drawTimeline() {
      els.timeline.textContent = "";
      timeline.forEach(function (entry) {
        var item = document.createElement("li");
        item.className = "live-event live-event--" + entry.kind;
        var detail = entry.detail || {};
        var extra = detail.status || detail.digit || detail.name || detail.reason || detail.message || detail.text ||
          (detail.user ? detail.user + ", " + detail.seconds + " s" : "");
        item.textContent = entry.label + (extra ? ": " + extra : "");
        els.timeline.appendChild(item);
      });
    }

    function drawStatus() {
      if (!status) { return; }
      els.status.className = "call-status call-status--" + status.status;
      els.status.textContent = status.status_label;
      if (status.final && !status.streaming) { finish(); }
    }

    function tick() {
      if (!status || !status.answered_at) { return; }
      var end = status.ended_at ? Date.parse(status.ended_at) : Date.now() - clockSkewMs;
      els.elapsed.textContent = clock(end - Date.parse(status.answered_at));
    }

    function finish() {
      over = true;
      els.ended.hidden = false;
      els.connection.textContent = "";
      if (els.hangUp) { els.hangUp.disabled = true; }
    }

    function handle(message) {
      switch (message.type) {
        case "state":
          if (message.server_time) { clockSkewMs = Date.now() - Date.parse(message.server_time); }
          turns = [];
          (message.transcript || []).forEach(addTurn);
          timeline = message.timeline || [];
          status = message;
          drawTranscript(); drawTimeline(); drawStatus();
          break;
        case "turn": addTurn(message); drawTranscript(); break;
        case "event": timeline.push(message); drawTimeline(); break;
        case "status": status = Object.assign({}, status || {}, message); drawStatus(); break;
        case "stream_ended":
          if (status) { status.streaming = false; drawStatus(); }
          break;
      }
      tick();
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + panel.getAttribute("data-socket"));
      socket.onopen = function () { retryMs = 1000; els.connection.textContent = TEXT.textLive; };
      socket.onmessage = function (event) { handle(JSON.parse(event.data)); };
      socket.onclose = function (event) {
        if (over) { return; }
        if (event.code === 4403 || event.code === 4404) {
          els.connection.textContent = event.code === 4403 ? TEXT.textRefused : TEXT.textNoSuchCall;
          return;
        }
        els.connection.textContent = TEXT.textReconnecting;
        window.setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 15000);
      };
    }

    connect();
    window.setInterval(tick, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var panel = document.getElementById("live-call");
    if (panel) { start(panel); }
  });
})();
