/* The call page: clicking a transcript line (or Enter on it) plays the recording from that line's start. Lines
   carry data-seconds (calls/review/transcript_turns.py); the player is the page's .call-audio. */
(function () {
  "use strict";
  function seek(line) {
    var player = document.querySelector("audio.call-audio");
    if (!player) { return; }
    player.currentTime = parseFloat(line.getAttribute("data-seconds"));
    var playing = player.play();
    if (playing && playing.catch) { playing.catch(function () { /* the browser refused autoplay: seeked anyway */ }); }
  }
  document.addEventListener("click", function (event) {
    var line = event.target.closest && event.target.closest(".call-turn[data-seconds]");
    if (line) { seek(line); }
  });
  document.addEventListener("keydown", function (event) {
    var line = event.target.closest && event.target.closest(".call-turn[data-seconds]");
    if (line && event.key === "Enter") { seek(line); }
  });
})();
