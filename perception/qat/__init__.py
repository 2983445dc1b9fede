"""INT8 by quantization-aware training (QAT): the only way this project makes an INT8 model.

The route (FACTS.md, "Precision on CPU and GPU"), verified on RF-DETR Nano:

1. ``torch.export`` the float network in eval mode at batch 1 (RF-DETR's backbone
   specialises the batch size, so the INT8 graph runs one crop per call);
2. ``prepare_qat_pt2e`` with torchao's ``X86InductorQuantizer`` (``reduce_range`` on CPUs
   without VNNI), keeping float the modules named in :func:`float_module_names`: the
   backbone's patch embedding (the one conv that sees the pixels: in 8 bits a grey-stack
   model loses the faint frame-to-frame change of a tiny ball there, see below), the
   deformable attention's ``sampling_offsets`` / ``attention_weights`` linears (their
   outputs are pixel offsets and softmax logits, where 8 bits lose sub-pixel positions)
   and the class / box heads;
3. fine-tune in **FP32** (the fused fake-quant op fails under autocast) with the same
   crops and loss as training, one crop per forward, gradients accumulated over a batch;
4. ``convert_pt2e`` and export a QDQ ONNX graph (``dynamo=True``) that returns
   ``(pred_logits, pred_boxes)``, plus a JSON sidecar saying what it came from and how it
   was trained. :mod:`perception.int8_detector` runs it and refuses anything without it.

Why the patch embedding (``bench/qat_float.py``, the real grey-stack model, 5 QAT steps,
held-out crop F1 against float 0.596): the heads alone float 0.488; the heads and the patch
embedding 0.586 (1.1% more of the weights float; 16.1 against 15.6 ms a crop on one
thread); the heads and any third of the ViT blocks, the projector, the decoder or the
encoder outputs instead 0.488-0.497. A 100-step artifact: 0.503 before, 0.577-0.587 over
four seeds after.

torch.export, torchao and the ONNX exporter are imported inside functions: importing this
module is cheap.

Modules, each owning one part:

- :mod:`~perception.qat.sidecar`: ``Int8Sidecar``, the JSON beside an INT8 artifact.
- :mod:`~perception.qat.pt2e`: the steps on any torch network: ``prepare_qat``,
  ``fine_tune``, ``convert``, ``export_onnx``.
- :mod:`~perception.qat.crops`: the training crops, the held-out crops and their score.
- :mod:`~perception.qat.distill`: the float model as teacher (``--distill``): its answers,
  paired query by query, as the target.
- :mod:`~perception.qat.job`: RF-DETR and the ``ballwatch qat`` command.
"""

from perception.qat.crops import held_out_crops, score_graph
from perception.qat.job import (
    QatJob,
    QatResult,
    job_from_args,
    qat_convert,
    quantize_detector,
    run_job,
    run_qat,
)
from perception.qat.pt2e import (
    FLOAT_MODULE_KEYS,
    INPUT_NAME,
    OUTPUT_NAMES,
    Batch,
    FineTuneReport,
    LossFn,
    QatError,
    convert,
    cpu_has_vnni,
    export_onnx,
    fine_tune,
    float_module_names,
    prepare_qat,
)
from perception.qat.sidecar import (
    INT8_FORMAT,
    QAT_METHOD,
    Int8Sidecar,
    file_sha256,
    read_sidecar,
    sidecar_path,
    versions,
    write_sidecar,
)

__all__ = [
    "FLOAT_MODULE_KEYS",
    "INPUT_NAME",
    "INT8_FORMAT",
    "OUTPUT_NAMES",
    "QAT_METHOD",
    "Batch",
    "FineTuneReport",
    "Int8Sidecar",
    "LossFn",
    "QatError",
    "QatJob",
    "QatResult",
    "convert",
    "cpu_has_vnni",
    "export_onnx",
    "file_sha256",
    "fine_tune",
    "float_module_names",
    "held_out_crops",
    "job_from_args",
    "prepare_qat",
    "qat_convert",
    "quantize_detector",
    "read_sidecar",
    "run_job",
    "run_qat",
    "score_graph",
    "sidecar_path",
    "versions",
    "write_sidecar",
]
