// Times parse + plan of the 500-decky INI in WebAssembly under node (V8, as Chromium).
// Build: cargo build --release --target wasm32-unknown-unknown, then: node run.mjs <file.wasm>
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const file = process.argv[2];
const { instance } = await WebAssembly.instantiate(readFileSync(file), {});
const { prepare, parse_and_plan, validate_all } = instance.exports;
console.log(`wasm ${readFileSync(file).length} bytes, INI ${prepare()} bytes`);

function time(label, f, runs) {
  const samples = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f(i);
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.round((samples.length - 1) * q)].toFixed(3);
  console.log(`${label.padEnd(14)} min ${at(0)} ms   median ${at(0.5)} ms   p99 ${at(0.99)} ms`);
}

if (parse_and_plan(0) !== 500) throw new Error("expected 500 deckies");
if (validate_all() !== 0) throw new Error("expected no errors");
time("parse + plan", (i) => parse_and_plan(i), 300);
time("validate_all", () => validate_all(), 300);
