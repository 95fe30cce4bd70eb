/* G.711 mu-law, for the pages that play call audio (live_listen.js, try_call.js): `window.voicebotMulaw.decode` is
   the table of each mu-law byte's sample as a float in [-1, 1]. Load it before them. */
(function () {
  "use strict";
  var table = new Float32Array(256);
  for (var i = 0; i < 256; i++) {
    var u = ~i & 0xff, sign = u & 0x80, exponent = (u >> 4) & 0x07, mantissa = u & 0x0f;
    var magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    table[i] = (sign ? -magnitude : magnitude) / 32768;
  }
  window.voicebotMulaw = {decode: table};
})();
