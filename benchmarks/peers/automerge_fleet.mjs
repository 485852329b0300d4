// The CRDT peer workload on Automerge: N device documents created at site A, forked to site B,
// changed on both sides (10% each, 1% both), then B merged into A. Reads the workload file that
// failback_bench writes (one {"id", "doc", "a", "b"} object a line: a/b are the sides' patches or
// null) and prints one JSON object of its figures on its last line of output.
//   node automerge_fleet.mjs WORKLOAD.jsonl
import { readFileSync } from 'node:fs';
import * as Automerge from '@automerge/automerge';

const version = JSON.parse(readFileSync(
    new URL('./node_modules/@automerge/automerge/package.json', import.meta.url), 'utf8')).version;

const path = process.argv[2];
if (!path) {
  console.error('usage: node automerge_fleet.mjs WORKLOAD.jsonl');
  process.exit(2);
}
const items = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));

// Applies a twin-style patch (nested objects merge, other values replace) inside a change.
function applyPatch(target, patch) {
  for (const [key, value] of Object.entries(patch)) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value) &&
        target[key] !== null && typeof target[key] === 'object') {
      applyPatch(target[key], value);
    } else {
      target[key] = value;
    }
  }
}

const actorA = '0a'.repeat(16);
const actorB = '0b'.repeat(16);
const now = () => Number(process.hrtime.bigint()) / 1e9;
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const seconds = {};
const cpuSeconds = {};
let t = now();
let c = cpuNow();
// Ends a phase: its wall and CPU seconds (the machine is shared; CPU time is what the phase cost).
function phase(name) {
  seconds[name] = now() - t;
  cpuSeconds[name] = cpuNow() - c;
  t = now();
  c = cpuNow();
}
let docs = items.map((item) => Automerge.from(item.doc, { actor: actorA }));
phase('create');
let forks = docs.map((doc) => Automerge.clone(doc, { actor: actorB }));
phase('fork');
let changed = 0;
for (let i = 0; i < items.length; ++i) {
  if (items[i].a) {
    docs[i] = Automerge.change(docs[i], (d) => applyPatch(d, items[i].a));
    ++changed;
  }
  if (items[i].b) {
    forks[i] = Automerge.change(forks[i], (d) => applyPatch(d, items[i].b));
    ++changed;
  }
}
phase('change');
for (let i = 0; i < items.length; ++i) docs[i] = Automerge.merge(docs[i], forks[i]);
phase('merge');
let disabled = 0;
for (const doc of docs) if (doc.status === 'disabled') ++disabled;
phase('read');

seconds.total = seconds.create + seconds.fork + seconds.change + seconds.merge;
cpuSeconds.total = cpuSeconds.create + cpuSeconds.fork + cpuSeconds.change + cpuSeconds.merge;
const mem = process.memoryUsage();
console.log(JSON.stringify({
  peer: 'automerge',
  version,
  node: process.version,
  docs: items.length,
  changes: changed,
  disabledAfterMerge: disabled,
  seconds,
  cpuSeconds,
  docsPerSecond: items.length / seconds.total,
  docsPerCpuSecond: items.length / cpuSeconds.total,
  heapUsedMiB: mem.heapUsed / 1048576,
  rssMiB: mem.rss / 1048576,
}));
