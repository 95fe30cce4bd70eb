/* "Listen" on a live call's panel: plays the call in the browser, both voices (or one: the Callee/Bot boxes), over
   the staff-only websocket named by #live-listen's data-socket (calls.live.monitor_consumer.CallListenConsumer).
   Each binary message is one piece of audio: a byte for the side (0 callee, 1 bot), the stream time in ms (uint32,
   little-endian), then 8 kHz mu-law. Pieces are decoded here and scheduled with Web Audio on the call's own clock,
   LEAD_S behind the newest audio (a piece that would play late resynchronises the clock), so the two voices keep
   their places. `window.voicebotListen.pieces` keeps what arrived (side, stream ms, samples) for whoever checks.
   The words it writes come from #live-listen's data-text-* attributes, in the admin's language. */
(function () {
  "use strict";
  var LEAD_S = 0.4;
  var MULAW = window.voicebotMulaw.decode;  // static/calls/mulaw.js

  function start(box) {
    var TEXT = box.dataset;
    var button = document.getElementById("live-listen-button");
    var state = document.getElementById("live-listen-state");
    var wanted = [document.getElementById("live-listen-callee"), document.getElementById("live-listen-bot")];
    var socket = null, context = null, clockBase = null;
    var log = window.voicebotListen = {pieces: []};

    function play(side, atMs, mulaw) {
      log.pieces.push({side: side, at_ms: atMs, samples: mulaw.length});
      if (!wanted[side].checked) { return; }
      var buffer = context.createBuffer(1, mulaw.length, 8000);
      var samples = buffer.getChannelData(0);
      for (var i = 0; i < mulaw.length; i++) { samples[i] = MULAW[mulaw[i]]; }
      var when = clockBase === null ? null : clockBase + atMs / 1000;
      if (when === null || when < context.currentTime) {
        clockBase = context.currentTime + LEAD_S - atMs / 1000;
        when = clockBase + atMs / 1000;
      }
      var source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      source.start(when);
    }

    function stop(text) {
      if (socket) { socket.onclose = null; socket.close(); socket = null; }
      if (context) { context.close(); context = null; }
      clockBase = null;
      button.textContent = TEXT.textListen;
      state.textContent = text || "";
    }

    button.addEventListener("click", function () {
      if (socket) { stop(); return; }
      context = new (window.AudioContext || window.webkitAudioContext)();
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + box.getAttribute("data-socket"));
      socket.binaryType = "arraybuffer";
      button.textContent = TEXT.textStop;
      state.textContent = TEXT.textConnecting;
      socket.onopen = function () { state.textContent = TEXT.textListening; };
      socket.onmessage = function (event) {
        var view = new DataView(event.data);
        play(view.getUint8(0), view.getUint32(1, true), new Uint8Array(event.data, 5));
      };
      socket.onclose = function (event) {
        stop(event.code === 4403 ? TEXT.textRefused : event.code === 4404 ? TEXT.textOver : "");
      };
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("live-listen");
    if (box) { start(box); }
  });
})();
