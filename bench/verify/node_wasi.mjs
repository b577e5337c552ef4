// Runs a WASI command module (the verify microbenchmark) in Node's V8, the engine Envoy embeds.
// Usage: node --no-warnings node_wasi.mjs FILE.wasm [ARGS...]
import { readFile } from 'node:fs/promises';
import process, { argv } from 'node:process';
import { WASI } from 'node:wasi';

const wasi = new WASI({ version: 'preview1', args: argv.slice(2), env: process.env });
const module = await WebAssembly.compile(await readFile(argv[2]));
// The jwtgate library brings the proxy-wasm ABI imports ("env") along; the benchmark never
// calls them, so each is a stub that throws.
const env = {};
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'env' && imp.kind === 'function') {
    env[imp.name] = () => { throw new Error(`unexpected host call ${imp.name}`); };
  }
}
const instance = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), env });
// The library's proxy-wasm `_initialize` export sits next to the command's `_start`; WASI.start
// refuses a module with both, so hand it only what a command exports.
const { memory, _start } = instance.exports;
wasi.start({ exports: { memory, _start } });
