#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""rdma-core 56.1's own test suite, unmodified, on cmr0: every module that
is not vendor-specific runs with 0 failures and 0 errors.  Prints the
pass/skip/fail/error count per module and each skip reason.

Usage: 30-rdma-core-suite.py [MODULE...]   (default: all generic modules)
"""
import collections
import os
import re
import subprocess
import sys

VENDOR = re.compile(r'^test_(mlx5|efa|efadv|irdma)')
dev = os.environ.get('CMR_TEST_DEV', 'cmr0')
suite = os.path.join(os.environ['RDMA_BUILD'], '..', 'tests')

modules = sys.argv[1:] or sorted(
    f[:-3] for f in os.listdir(suite)
    if f.startswith('test_') and f.endswith('.py') and not VENDOR.match(f))

proc = subprocess.run(
    [sys.executable, os.path.join(suite, 'run_tests.py'), '--dev', dev, '-v']
    + modules, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    timeout=3000)
out = proc.stdout

# "test_x (test_qp.QPTest.test_x) ... ok" -- also when the verdict lands on
# a later line because the test printed something in between.
line = re.compile(r'^(test\w*) \(([\w.]+)\)(?: \.\.\.)?')
verdict = re.compile(r"(?:^|\.\.\. )(ok|FAIL|ERROR|skipped '(.*)'|skipped \"(.*)\""
                     r"|expected failure|unexpected success)$")
counts = collections.defaultdict(collections.Counter)
skips = collections.defaultdict(collections.Counter)
current = None
for text in out.splitlines():
    m = line.match(text)
    if m:
        current = next((p for p in m.group(2).split('.') if p.startswith('test_')),
                       m.group(2))
    v = verdict.search(text)
    if current and v:
        kind = v.group(1).split(' ')[0]
        kind = {'ok': 'pass', 'FAIL': 'fail', 'ERROR': 'error',
                'skipped': 'skip', 'expected': 'pass',
                'unexpected': 'fail'}[kind]
        counts[current][kind] += 1
        if kind == 'skip':
            skips[current][(v.group(2) or v.group(3) or '').strip()] += 1
        current = None

total = collections.Counter()
print('%-24s %5s %5s %5s %5s' % ('module', 'pass', 'skip', 'fail', 'error'))
for mod in modules:
    c = counts.get(mod, collections.Counter())
    total.update(c)
    print('%-24s %5d %5d %5d %5d' % (mod, c['pass'], c['skip'], c['fail'], c['error']))
    for reason, n in sorted(skips[mod].items()):
        print('    skip x%d: %s' % (n, reason[:150]))
print('%-24s %5d %5d %5d %5d' % ('total', total['pass'], total['skip'],
                                  total['fail'], total['error']))

summary = re.search(r'^Ran (\d+) tests?', out, re.M)
failed = proc.returncode != 0 or total['fail'] or total['error'] or not summary
if failed:
    print(out[-20000:])
    print('rdma-core suite: exit %d' % proc.returncode)
sys.exit(1 if failed else 0)
