#!/usr/bin/env bash
# Makes sure Debian's ffmpeg is installed: the admin's recording upload decodes and resamples mp3, m4a, ogg, webm
# and WAVs that are not 8 kHz integer PCM with it. Idempotent and quick when it is already there.
# Without root (and no ffmpeg) it only explains. The product runs without it (such uploads are refused with a
# message saying ffmpeg is missing, and the tests that need it skip), so a failed install never stops `make run`.
bash "$(dirname "$0")/ensure_debian_package.sh" ffmpeg ffmpeg \
    "recording uploads (about 15 s)" "recording uploads will accept only 8 kHz PCM WAV files" || true
