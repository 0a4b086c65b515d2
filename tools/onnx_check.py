#!/usr/bin/python3
"""Check a model written by `graphrun export` with ONNX's own checker and describe it.

    /usr/bin/python3 tools/onnx_check.py MODEL.onnx [--checkpoint CKPT]

Runs onnx.checker.check_model(model, full_check=True) (which also runs
ONNX's strict shape inference) on the file as ONNX's parser reads it, and
prints one JSON object: ir_version, opset, the inputs and outputs with
their element types and dims (a dynamic axis by its name), the ops used,
the metadata, and, with --checkpoint, how many initializers hold exactly
the values of the checkpoint's parameter of their name (param/<name>) and
which differ. Exits 1 with the checker's message if the model is refused.
Needs Debian's python3-onnx (and numpy, which it brings).
"""
import json
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def checkpoint_params(path):
    """The param/<name> tensors of a graphrun checkpoint (safetensors), as float32 arrays."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for key, t in header.items():
        if key.startswith("param/") and t["dtype"] == "F32":
            a, b = t["data_offsets"]
            out[key[len("param/"):]] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"])
    return out


def value_info(v):
    t = v.type.tensor_type
    dims = [d.dim_param if d.HasField("dim_param") else d.dim_value for d in t.shape.dim]
    return {"name": v.name, "type": onnx.TensorProto.DataType.Name(t.elem_type), "dims": dims}


def main(argv):
    if len(argv) not in (2, 4) or (len(argv) == 4 and argv[2] != "--checkpoint"):
        sys.stderr.write(__doc__)
        return 2
    model = onnx.load(argv[1])
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # the checker's own exception types vary between versions
        sys.stderr.write("%s: refused by onnx.checker: %s\n" % (argv[1], str(e).replace("\n", " ")))
        return 1
    g = model.graph
    out = {
        "ir_version": model.ir_version,
        "opset": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "producer": [model.producer_name, model.producer_version],
        "inputs": [value_info(v) for v in g.input],
        "outputs": [value_info(v) for v in g.output],
        "ops": sorted({n.op_type for n in g.node}),
        "nodes": len(g.node),
        "initializers": len(g.initializer),
        "metadata": {p.key: p.value for p in model.metadata_props},
    }
    if len(argv) == 4:
        params = checkpoint_params(argv[3])
        same, differ = 0, []
        for t in g.initializer:
            if t.name in params:
                a = numpy_helper.to_array(t)
                if a.shape == params[t.name].shape and np.array_equal(a, params[t.name]):
                    same += 1
                else:
                    differ.append(t.name)
        out["params_equal"] = same
        out["params_differ"] = differ
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
