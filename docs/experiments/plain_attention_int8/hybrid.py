"""The fused int8 graph with the plain graph's attention nodes instead of MultiHeadAttention
(issue #16; BENCHMARKS.md, "A quiet run at margin 0.08"). From the repository root:

    (cd models && .venv/bin/python convert_onnx.py --weights-dir minilm --precision int8 --no-fuse \
        --adapter heads/default.adapter.safetensors --calibration heads/default.int8-calibration.json \
        --out WORK/plain.int8.onnx)
    models/.venv/bin/python docs/experiments/plain_attention_int8/hybrid.py WORK/plain.int8.onnx WORK/hybrid.int8.onnx
    benches/.venv/bin/python docs/experiments/plain_attention_int8/timeit.py 5 400 \
        models/finetuned/default.int8.onnx WORK/hybrid.int8.onnx WORK/plain.int8.onnx

models/fuse_graph.py with its _mha replaced: Q/K/V bias added to the one integer matmul's output,
then the plain graph's own Slices, Reshapes, Transposes, MatMuls, scale, mask Add and Softmax,
copied node for node (and the mask bias once)."""
import sys
from pathlib import Path
sys.path.insert(0, str(Path.cwd() / "models"))
import fuse_graph as fg
import onnx

_orig_int8_layer = fg._int8_layer
STATE = {}

def plain_attention(out, qkv, bias, t, a, mask):
    src = out.source
    qkv_b = out.op("Add", [qkv, bias], f"{t}_qkv_biased")
    # collect the plain graph's nodes from the Slices to ctx_merged (and the mask bias, once)
    needed, order, seen = [f"{t}_ctx_merged"], [], set()
    while needed:
        tensor = needed.pop()
        node = src.producer.get(tensor)
        if node is None or node.name in seen:
            continue
        if node.op_type == "Slice" and node.output[0] in (f"{t}_q", f"{t}_k", f"{t}_v"):
            seen.add(node.name); order.append(node); continue
        seen.add(node.name); order.append(node)
        for i in node.input:
            if i in src.producer and i != "attention_mask":
                needed.append(i)
    # topological order = plain graph order
    pos = {n.name: k for k, n in enumerate(src.model.graph.node)}
    order.sort(key=lambda n: pos[n.name])
    for node in order:
        if node.output[0] in STATE:
            continue
        new = onnx.NodeProto(); new.CopyFrom(node)
        if node.op_type == "Slice" and node.output[0] in (f"{t}_q", f"{t}_k", f"{t}_v"):
            new.input[0] = qkv_b
        for i in new.input:
            if i in src.inits and i not in out._names:
                out.keep(i)
        for o in new.output:
            out._claim(o); STATE[o] = True
        new.name = f"f{len(out.nodes) + 1:04d}_{node.op_type}"
        out.nodes.append(new)
    return f"{t}_ctx_merged"

def build(plain_path, out_path):
    m = onnx.load(plain_path)
    fg._mha = plain_attention
    STATE.clear()
    fused = fg.fuse(m)
    onnx.save(fused, out_path)
    print(fg.op_counts(fused))

if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2])
