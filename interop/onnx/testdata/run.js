// Runs ONNX models in ONNX Runtime (npm's onnxruntime-node, CPU) for fcn's tests:
//   node run.js JOBS.json
// JOBS.json is a list of {"model": "m.onnx", "input": "input.npy", "output": "out.npy"};
// each model is fed input.npy as "data" and its first output is written to out.npy
// (float32 .npy). One process runs every job, as starting ONNX Runtime is the slow part.
// The package is found through NODE_PATH (the folder holding onnxruntime-node).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) {
  const b = fs.readFileSync(path);
  if (b.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(path + ': not a .npy file');
  const major = b[6];
  const hl = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = major === 1 ? 10 : 12;
  const hdr = b.toString('latin1', off, off + hl);
  if (!hdr.includes("'<f4'")) throw new Error(path + ': want float32, header ' + hdr);
  const shape = hdr.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const body = b.subarray(off + hl);
  const data = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.length));
  return { shape, data };
}

function writeNpy(path, shape, data) {
  let hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + shape.join(', ') + (shape.length === 1 ? ',' : '') + '), }';
  const pad = (64 - ((10 + hdr.length + 1) % 64)) % 64;
  hdr += ' '.repeat(pad) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0;
  head.writeUInt16LE(hdr.length, 8);
  const f = Float32Array.from(data);
  fs.writeFileSync(path, Buffer.concat([head, Buffer.from(hdr, 'latin1'), Buffer.from(f.buffer)]));
}

async function main() {
  const jobs = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  for (const job of jobs) {
    const session = await ort.InferenceSession.create(job.model);
    const x = readNpy(job.input);
    const res = await session.run({ data: new ort.Tensor('float32', x.data, x.shape) });
    const out = res[session.outputNames[0]];
    writeNpy(job.output, out.dims.map(Number), out.data);
  }
}

main().catch(e => { console.error(e.message || e); process.exit(1); });
