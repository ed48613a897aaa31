"""Whole-graph time of int8 graphs on the benchmark corpus: one thread, the first N paragraphs
in length-sorted batches of 8, R rounds in alternating order; checks the outputs are equal.
usage: timeit.py R N GRAPH... (from the repository root, after benches/run made the corpus)"""
import json, sys, time
import numpy as np, onnxruntime as ort
from tokenizers import Tokenizer
tok = Tokenizer.from_file('models/minilm/tokenizer.json')
tok.enable_truncation(256)
paras = []
for line in open('benches/out/corpus-2000.jsonl'):
    a = json.loads(line); paras += a.get('paragraphs') or [a['text']]
ids = [e.ids for e in tok.encode_batch(paras[:int(sys.argv[2])])]
ids.sort(key=len)
batches = []
for i in range(0, len(ids), 8):
    b = ids[i:i+8]; L = max(map(len, b))
    x = np.zeros((len(b), L), np.int64); m = np.zeros_like(x)
    for r, s in enumerate(b): x[r, :len(s)] = s; m[r, :len(s)] = 1
    batches.append((x, m))
so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
sess = {p: ort.InferenceSession(p, so, providers=['CPUExecutionProvider']) for p in sys.argv[3:]}
outs = {p: [] for p in sess}
rounds = int(sys.argv[1])
times = {p: [] for p in sess}
for r in range(rounds):
    for p in (list(sess) if r % 2 == 0 else list(sess)[::-1]):
        t = time.perf_counter(); o = [sess[p].run(None, {'input_ids': x, 'attention_mask': m})[0] for x, m in batches]
        times[p].append(time.perf_counter() - t)
        if r == 0: outs[p] = o
ps = list(sess)
for p in ps:
    print(p, ' '.join(f'{t:.3f}' for t in times[p]), 'median', f'{np.median(times[p]):.3f}')
for p in ps[1:]:
    d = max(float(np.abs(a - b).max()) for a, b in zip(outs[ps[0]], outs[p]))
    print('max |diff| vs first', p, d)
