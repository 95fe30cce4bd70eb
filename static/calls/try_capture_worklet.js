/* The microphone's side of "Try this script" (static/calls/try_call.js): an AudioWorklet that turns the context's
   audio (44.1 or 48 kHz float) into what Twilio sends, 8 kHz mu-law, and posts it in 160-byte frames (20 ms).
   Downsampling averages the input samples of each output sample (a box filter: enough against aliasing for a
   voice on the phone's band). */
class TryCaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / 8000;  // input samples per output sample
    this.position = 0;
    this.next = this.step;
    this.sum = 0;
    this.count = 0;
    this.frame = new Uint8Array(160);
    this.filled = 0;
  }

  static mulaw(sample) {  // G.711 mu-law of a float in [-1, 1]
    var value = Math.round(Math.max(-1, Math.min(1, sample)) * 32767);
    var sign = value < 0 ? 0x80 : 0;
    if (sign) { value = -value; }
    value = Math.min(value, 32635) + 0x84;
    var exponent = 7;
    for (var mask = 0x4000; (value & mask) === 0 && exponent > 0; exponent--, mask >>= 1) { /* find the segment */ }
    var mantissa = (value >> (exponent + 3)) & 0x0f;
    return ~(sign | (exponent << 4) | mantissa) & 0xff;
  }

  emit(sample) {
    this.frame[this.filled++] = TryCaptureProcessor.mulaw(sample);
    if (this.filled === this.frame.length) {
      this.port.postMessage(this.frame, [this.frame.buffer]);
      this.frame = new Uint8Array(160);
      this.filled = 0;
    }
  }

  process(inputs) {
    var channel = inputs[0] && inputs[0][0];
    if (!channel) { return true; }  // no microphone input yet
    for (var i = 0; i < channel.length; i++) {
      this.sum += channel[i];
      this.count += 1;
      this.position += 1;
      if (this.position >= this.next) {
        this.emit(this.sum / this.count);
        this.sum = 0;
        this.count = 0;
        this.next += this.step;
      }
    }
    return true;
  }
}

registerProcessor("try-capture", TryCaptureProcessor);
