#!/usr/bin/env bash
# Fingerprint of the tiny profile run end to end through the CLI (tracking off): hashes of the manifest, of every
# model tensor, of the evaluation metrics (timings left out), of the predictions, and the export drift. Run it on two
# commits (each checkout with its own .venv from scripts/setup.sh) and diff the outputs to show a refactor changes
# no behaviour. Usage: benchmarks/tiny_fingerprint.sh CHECKOUT OUTDIR
set -euo pipefail
repo=$(realpath "$1"); out=$2
[ ! -e "$out" ] || { echo "tiny_fingerprint: $out exists; give a new folder" >&2; exit 2; }
mkdir -p "$out"; out=$(realpath "$out")
cd "$repo"
export OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 MKL_NUM_THREADS=1
PY=$repo/.venv/bin/python; M=$repo/.venv/bin/mobileiqa
$PY -c "
import sys; sys.path.insert(0, '.')
from tests.imagegen import make_photo
from pathlib import Path
d = Path('$out/photos'); d.mkdir()
for i in range(4): make_photo(i, 200 + 10 * i, 150).save(d / f'gen_{i}.png')
"
cp params.yaml "$out/params.yaml"
S="--params $out/params.yaml --overlay params/tiny.yaml --set tracking.enabled=false --set evaluate.baselines=[brisque]"
$M prepare $S --photos "$out/photos" --out "$out/dataset"
$M validate $S --dataset "$out/dataset" --report "$out/validation"
$M train-teacher $S --dataset "$out/dataset" --out "$out/teacher"
$M distill-student $S --dataset "$out/dataset" --teacher "$out/teacher/model.pt" --out "$out/student"
$M baselines $S --dataset "$out/dataset" --out "$out/baselines"
$M evaluate $S --dataset "$out/dataset" --model "$out/student/model.pt" --teacher "$out/teacher/model.pt" --baselines "$out/baselines" --out "$out/eval"
$M export $S --model "$out/student/model.pt" --data "$out/dataset" --out "$out/export" --formats onnx,ort,int8
$PY - "$out" <<'PYEOF' | tee "$out/fingerprint.txt"
import hashlib, json, sys, torch
from pathlib import Path
out = Path(sys.argv[1])
print("manifest", hashlib.sha256((out/"dataset/manifest.csv").read_bytes()).hexdigest()[:16] if (out/"dataset/manifest.csv").exists() else sorted(p.name for p in (out/"dataset").iterdir()))
for role in ("teacher", "student"):
    ck = torch.load(out/role/"model.pt", map_location="cpu", weights_only=False)
    sd = ck.get("state_dict") or ck.get("model_state") or {k: v for k, v in ck.items() if torch.is_tensor(v)}
    h = hashlib.sha256()
    for k in sorted(sd):
        h.update(k.encode()); h.update(sd[k].cpu().numpy().tobytes())
    print(role, "weights", h.hexdigest()[:16], "keys", sorted(ck)[:8])
    m = json.loads((out/role/"metrics.json").read_text())
    print(role, "val", m.get("val_srcc"), m.get("val_plcc"), m.get("best_epoch"))
m = json.loads((out/"eval/metrics.json").read_text())
def strip(d):
    if isinstance(d, dict): return {k: strip(v) for k, v in d.items() if k not in ("seconds", "model_path")}
    if isinstance(d, list): return [strip(x) for x in d]
    return d
print("eval", hashlib.sha256(json.dumps(strip(m), sort_keys=True).encode()).hexdigest()[:16], m["model"]["srcc"], (m.get("teacher") or {}).get("srcc"))
print("predictions", hashlib.sha256((out/"eval/predictions.csv").read_bytes()).hexdigest()[:16])
e = json.loads((out/"export/export.json").read_text())
print("export int8 drift", e.get("int8", {}).get("drift"), "parity", e["parity"]["onnx"]["max_abs_diff"])
PYEOF
