/* "Try this script" (templates/admin/calls/call/try_call.html): talk to the bot from the browser.

   "Start" POSTs the form (calls.review.try_views): a test call is created and its stream token comes back. The page
   then plays Twilio's part on /ws/try/<call code> (calls.live.browser_call), frame for frame as Twilio Media Streams
   does: `connected`, `start` (the token in customParameters), the microphone as `media` frames (20 ms of 8 kHz
   mu-law each, from static/calls/try_capture_worklet.js, stamped on the stream's clock), each `mark` sent back once
   the bot audio before it has played, `stop` on "Hang up". The bot's `media` is decoded and played back to back with
   Web Audio; `clear` (the bot was interrupted) stops what is scheduled at once and returns the pending marks, as
   Twilio does. `window.voicebotTry` counts what happened, for whoever checks. The words it writes come from the
   form's data-text-* attributes, in the admin's language. */
(function () {
  "use strict";
  var LEAD_S = 0.05;  // the first piece of a reply starts this far ahead, so the next arrives before it ends
  var MULAW = window.voicebotMulaw.decode;  // static/calls/mulaw.js

  function randomSid(prefix) {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return prefix + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function base64(bytes) {
    return window.btoa(String.fromCharCode.apply(null, bytes));
  }

  function unbase64(text) {
    var raw = window.atob(text), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes;
  }

  function start(form) {
    var TEXT = form.dataset;
    var state = document.getElementById("try-state");
    var startButton = document.getElementById("try-start");
    var hangUpButton = document.getElementById("try-hang-up");
    var log = window.voicebotTry = {state: "idle", framesSent: 0, buffersPlayed: 0, samplesPlayed: 0,
                                    marksEchoed: 0, clears: 0, apology: null, callUrl: null};
    var socket = null, context = null, microphone = null, worklet = null;
    var streamSid = randomSid("MZ"), callSid = null, sequence = 0, chunk = 0;
    var playEnd = 0, playing = [], pendingMarks = [];

    function setState(name, text) { log.state = name; state.textContent = text; }

    function send(frame) {
      if (socket && socket.readyState === WebSocket.OPEN) { socket.send(JSON.stringify(frame)); }
    }

    function numbered(frame) {
      sequence += 1;
      frame.sequenceNumber = String(sequence);
      frame.streamSid = streamSid;
      return frame;
    }

    function sendMedia(mulaw) {
      chunk += 1;
      send(numbered({event: "media", media: {track: "inbound", chunk: String(chunk),
                                             timestamp: String((chunk - 1) * 20), payload: base64(mulaw)}}));
      log.framesSent += 1;
    }

    function playBot(mulaw) {
      var buffer = context.createBuffer(1, mulaw.length, 8000);
      var samples = buffer.getChannelData(0);
      for (var i = 0; i < mulaw.length; i++) { samples[i] = MULAW[mulaw[i]]; }
      var source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      var when = Math.max(playEnd, context.currentTime + LEAD_S);
      source.start(when);
      playEnd = when + buffer.duration;
      playing.push(source);
      source.onended = function () { playing.splice(playing.indexOf(source), 1); };
      log.buffersPlayed += 1;
      log.samplesPlayed += mulaw.length;
    }

    function echoMark(name) {
      send(numbered({event: "mark", mark: {name: name}}));
      log.marksEchoed += 1;
    }

    function onMark(name) {
      // Sent back once everything scheduled before it has played.
      var pending = {name: name, timer: null};
      var wait = Math.max(0, playEnd - context.currentTime) * 1000;
      pending.timer = window.setTimeout(function () {
        pendingMarks.splice(pendingMarks.indexOf(pending), 1);
        echoMark(name);
      }, wait);
      pendingMarks.push(pending);
    }

    function onClear() {
      log.clears += 1;
      playing.slice().forEach(function (source) { source.onended = null; source.stop(); });
      playing = [];
      playEnd = 0;
      pendingMarks.splice(0).forEach(function (pending) { window.clearTimeout(pending.timer); echoMark(pending.name); });
    }

    function finish(text) {
      if (microphone) { microphone.getTracks().forEach(function (track) { track.stop(); }); microphone = null; }
      if (worklet) { worklet.port.onmessage = null; worklet.disconnect(); worklet = null; }
      pendingMarks.splice(0).forEach(function (pending) { window.clearTimeout(pending.timer); });
      if (context) { context.close(); context = null; }
      socket = null;
      hangUpButton.disabled = true;
      startButton.disabled = false;
      setState("ended", text);
      if (log.callUrl) {
        document.getElementById("try-call-link").href = log.callUrl;
        document.getElementById("try-ended").hidden = false;
      }
    }

    function onFrame(frame) {
      if (frame.event === "media") { playBot(unbase64(frame.media.payload)); }
      else if (frame.event === "mark") { onMark(frame.mark.name); }
      else if (frame.event === "clear") { onClear(); }
      else if (frame.event === "apology") { log.apology = frame.text; state.textContent = frame.text; }
    }

    function connect(answer) {
      log.callUrl = answer.call_url;
      callSid = answer.code;  // where Twilio gives its call SID: the server's log lines about the call carry it
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + window.location.host + answer.socket);
      socket.onopen = function () {
        send({event: "connected", protocol: "Call", version: "1.0.0"});
        send(numbered({event: "start", start: {
          accountSid: "", streamSid: streamSid, callSid: callSid, tracks: ["inbound"],
          mediaFormat: {encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1},
          customParameters: {token: answer.token}}}));
        worklet.port.onmessage = function (event) { sendMedia(event.data); };
        hangUpButton.disabled = false;
        setState("talking", TEXT.textTalking);
      };
      socket.onmessage = function (event) { onFrame(JSON.parse(event.data)); };
      socket.onclose = function (event) {
        finish(event.code === 4403 ? TEXT.textRefused : TEXT.textEnded);
      };
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (log.state !== "idle" && log.state !== "ended" && log.state !== "failed") { return; }
      startButton.disabled = true;
      setState("starting", TEXT.textStarting);
      sequence = chunk = 0;
      playEnd = 0;
      context = new (window.AudioContext || window.webkitAudioContext)();  // in the click: allowed to play
      var body = new FormData(form);
      navigator.mediaDevices.getUserMedia({audio: {echoCancellation: true, noiseSuppression: true}})
        .then(function (stream) {
          microphone = stream;
          return context.audioWorklet.addModule(form.getAttribute("data-worklet"));
        })
        .then(function () {
          worklet = new AudioWorkletNode(context, "try-capture");
          context.createMediaStreamSource(microphone).connect(worklet);
          worklet.connect(context.destination);  // silent: keeps the worklet pulled by the graph
          return window.fetch(form.action, {method: "POST", body: body, credentials: "same-origin"});
        })
        .then(function (response) {
          return response.json().then(function (answer) {
            if (!response.ok) { throw new Error(answer.error || (TEXT.textServerAnswered + " " + response.status)); }
            return answer;
          });
        })
        .then(connect)
        .catch(function (error) {
          finish(TEXT.textCouldNotStart + " " + error.message);
          log.state = "failed";
        });
    });

    hangUpButton.addEventListener("click", function () {
      if (!socket) { return; }
      send(numbered({event: "stop", stop: {accountSid: "", callSid: callSid}}));
      socket.close();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("try-call");
    if (form) { start(form); }
  });
})();
