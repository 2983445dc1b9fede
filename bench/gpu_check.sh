#!/usr/bin/env bash
# Every GPU check of the open issues, for one `run` on a lent CUDA machine (Python 3.12, torch with
# CUDA, no internet). Prepare on the dev machine first:
#   echo /.whl/ >> .git/info/exclude; echo /gpu-data/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl rfdetr==1.11.2 supervision==0.31.2 av==16.0.1 pyDeprecate==0.9.0 pydantic pydantic-core \
#     annotated-types typing-inspection defusedxml torchao==0.18.0 tqdm aiohttp multidict yarl \
#     frozenlist aiosignal aiohappyeyeballs propcache attrs
#   mkdir -p gpu-data && cp ../shared/data/real/tennis_atp/video_input3.mp4 gpu-data/   # 1080p clip
# then run it with carry [".whl", "gpu-data"] (steps are capped to 570 s in all, under one call).
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLIP=${CLIP:-gpu-data/video_input3.mp4}

echo "== issue 2: CUDA FP16 end to end on a 1080p clip, next to decode only =="
timeout 150 python3 bench/gpu_e2e.py --clip "$CLIP" --device cuda
echo "== issue 2: the same in FP32 on CUDA =="
timeout 120 python3 bench/gpu_e2e.py --clip "$CLIP" --device cuda --precision fp32
echo "== issue 4: AMP vs FP32 training steps =="
timeout 120 python3 bench/train_amp.py --device cuda --steps 100
echo "== issue 5: FP32 vs FP16 on CUDA with the bundled model: F1 at 4 px and detector ms =="
for precision in fp16 fp32; do
  timeout 90 python3 -m stream eval "synth:?seed=424242&frames=150" --device cuda \
    --precision "$precision" --no-progress 2>/dev/null | grep -E "^(precision|TP|inference|end_to_end)"
done
echo "== issue 11: the real-footage model on CUDA: AMP fine-tune steps, then the held-out scoreboard =="
# carry gpu-data/real/{badminton_bwf,tennis_roboflow,tennis_atp} (17 MB; volleyball does not fit
# beside the wheels): cp -r ../shared/data/real/{badminton_bwf,tennis_roboflow,tennis_atp} gpu-data/real/
R=gpu-data/real
if [ -d "$R/badminton_bwf" ]; then
  timeout 60 python3 -m stream dataset --out /tmp/real-data \
    --clip $R/badminton_bwf/train_00001.mp4 $R/badminton_bwf/train_00001.csv \
    --clip $R/badminton_bwf/train_00008.mp4 $R/badminton_bwf/train_00008.csv --subclip 110 \
    --background $R/tennis_atp/video_input3.mp4 --hold-out 'train_00001@2' \
    --repeat 4 --negatives 0.6 --paste 2000 --still-negatives 800 --seed 7 \
    --frame-input grey-stack 2>&1 | tail -2
  timeout 150 python3 -m stream train --config configs/train-real.yaml --data /tmp/real-data \
    --init perception/models/ball-nano-real.safetensors --out /tmp/real-run --device cuda --amp \
    --steps 300 --threads 4 2>&1 | grep -E "step (100|200|300) |held-out"
  timeout 90 python3 bench/real.py --root "$R" --held-out-only --no-synth --device cuda
  echo "== issue 12: the rally at real pace on CUDA: (c) replay, (d) live (detector every frame) =="
  timeout 120 python3 -m bench.live --clip $R/badminton_bwf/train_00001.mp4 --arms c d \
    --set detector.device=cuda 2>&1 | tail -4
fi
