// Runs a WASI command module in Node's V8, the engine Envoy embeds: the verify microbenchmark,
// and (`make test-wasm`, as cargo's runner) the crypto tests built for wasm32-wasip1.
// Usage: node --no-warnings node_wasi.mjs FILE.wasm [ARGS...]
// WASI_PREOPEN=DIR makes DIR readable by the module under its own path (test vectors); the
// process exits with the module's exit code.
import { readFile } from 'node:fs/promises';
import process, { argv } from 'node:process';
import { WASI } from 'node:wasi';

const dir = process.env.WASI_PREOPEN;
const preopens = dir ? { [dir]: dir } : {};
const wasi = new WASI({ version: 'preview1', args: argv.slice(2), env: process.env, preopens });
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
process.exitCode = wasi.start({ exports: { memory, _start } });
