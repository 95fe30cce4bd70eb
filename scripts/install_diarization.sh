#!/usr/bin/env bash
# Installs the optional diarization extra (pyannote.audio on CPU torch) into a virtualenv.
#   scripts/install_diarization.sh [PYTHON]     PYTHON defaults to .venv/bin/python
# Why three steps (see shared DEPENDENCIES.md):
#   1. torch==2.13.0 alone, so pip takes the on-disk CPU wheel instead of a CUDA build of several GB;
#   2. pyannote.audio and torchaudio with torch constrained to that version, so nothing upgrades it;
#   3. torchaudio's compiled lib/*.so removed: they need CUDA torch; pyannote only uses torchaudio's
#      pure-Python parts (fbank, MFCC, resample), which import fine without them. Any reinstall of
#      torchaudio brings them back, so run this script again after one.
# Set PYANNOTE_METRICS_ENABLED=false wherever pyannote runs: it sends telemetry by default and waits
# ~10 s per call on a closed network (voicebot's diarization module sets it before importing pyannote).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-.venv/bin/python}"
export PYANNOTE_METRICS_ENABLED=false

"$PY" -m pip install -q "torch==2.13.0"

constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
echo "torch==2.13.0" > "$constraints"
grep -v '^torch==' requirements-diarization.txt > "$constraints.req"
"$PY" -m pip install -q -r "$constraints.req" -c "$constraints"
rm -f "$constraints.req"

"$PY" - <<'PYEOF'
import importlib.util
import pathlib

spec = importlib.util.find_spec("torchaudio")  # locates the package without importing it
lib = pathlib.Path(spec.submodule_search_locations[0]) / "lib"
removed = [p.name for p in lib.glob("*.so")]
for name in removed:
    (lib / name).unlink()
print(f"removed torchaudio compiled libraries: {removed or 'none'}")
PYEOF

"$PY" -c "import os; os.environ['PYANNOTE_METRICS_ENABLED']='false'; import pyannote.audio, torch; print('pyannote.audio', pyannote.audio.__version__, 'torch', torch.__version__)"
