import json, sys, collections
rows = [json.loads(l) for f in sys.argv[1:] for l in open(f)]
by = collections.defaultdict(list)
for r in rows: by[r['features']].append(r)
for f, rs in by.items():
    print(f)
    for r in rs: print(f"   {r['head']:<40} {r['mean']:.4f} ± {r['sd']:.4f}   {[round(x,3) for x in r['dev']]}")
