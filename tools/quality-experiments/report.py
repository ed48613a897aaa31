import json, numpy as np, sys
sys.path.insert(0, '/tmp/quality/src')
R = json.load(open('/tmp/quality/res/final_test.json'))
ms = lambda v: f"{np.mean(v):.3f}±{np.std(v):.3f}"
for name, r in R.items():
    S = r['seeds']; g = lambda *k: [ (lambda d: [d := d[x] for x in k][-1])(s) for s in S]
    print(name)
    print('  dev  F1', ms(g('dev_raw', 'f1')), ' T', ms(g('T')), ' ECE raw', ms(g('dev_raw', 'ece')), ' ECE cal(in-sample)', ms(g('dev_cal_insample', 'ece')),
          ' ECE cal(cross-fit)', ms(g('dev_cal_crossfit', 'ece')), ' dev F1 w/ furniture rule', ms(g('dev_cal_insample', 'f1_furniture_rule')))
    print('  test F1', ms(g('test', 'f1')), ' F1+furniture', ms(g('test', 'f1_furniture_rule')), ' acc', ms(g('test', 'acc')), ' ECE', ms(g('test', 'ece')),
          ' ECE raw', ms(g('test_raw', 'ece')), ' Brier', ms(g('test', 'brier')), ' NLL', ms(g('test', 'nll')))
    print('  test per-class F1 (opt,neu,skep)', [round(float(np.mean([s['test']['per_class'][c] for s in S])), 3) for c in range(3)])
    print('  refit train+dev: test F1', ms(g('test_refit', 'f1')), ' F1+furniture', ms(g('test_refit', 'f1_furniture_rule')), ' ECE', ms(g('test_refit', 'ece')), ' T', ms(g('refit_T')))
