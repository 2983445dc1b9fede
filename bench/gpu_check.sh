#!/usr/bin/env bash
# Every GPU check of the open issues, for one `run` on a lent CUDA machine (Python 3.12, torch with
# CUDA, no internet). Prepare on the dev machine first:
#   echo /.whl/ >> .git/info/exclude; echo /gpu-data/ >> .git/info/exclude
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl rfdetr==1.11.2 supervision==0.31.2 av==16.0.1 pyDeprecate==0.9.0 pydantic pydantic-core \
#     annotated-types typing-inspection defusedxml torchao==0.18.0 tqdm
#   mkdir -p gpu-data && cp ../shared/data/real/tennis_atp/video_input3.mp4 gpu-data/   # 1080p clip
# then run it with carry [".whl", "gpu-data"] and a timeout that leaves time for a rerun.
set -u
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
CLIP=${CLIP:-gpu-data/video_input3.mp4}

echo "== issue 2: CUDA FP16 end to end on a 1080p clip, next to decode only =="
timeout 240 python3 bench/gpu_e2e.py --clip "$CLIP" --device cuda
echo "== issue 2: the same in FP32 on CUDA =="
timeout 180 python3 bench/gpu_e2e.py --clip "$CLIP" --device cuda --precision fp32
if [ -f bench/train_amp.py ]; then
  echo "== issue 4: AMP vs FP32 training steps =="
  timeout 240 python3 bench/train_amp.py --device cuda
fi
if [ -f bench/precision.py ]; then
  echo "== issue 5: FP32 vs FP16 (and INT8) on CUDA =="
  timeout 240 python3 bench/precision.py --device cuda
fi
