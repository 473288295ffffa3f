// Writes KTX2 files with ktx-parse, an implementation independent of
// vkassets, into the directory given (assets/testdata/ktx2 via
// `make ktx2-interop`). Their texels follow pattern() below, which
// assets/ktx2_interop_test.go computes again on its own. Zstandard levels
// come from node:zlib where it has zstd (Node 22.15+), else from the
// reference zstd command.
import { createDefaultContainer, write, read } from 'ktx-parse';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import zlib from 'node:zlib';

const out = process.argv[2];
if (!out) {
  console.error('usage: node write.mjs OUTDIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });

const version = JSON.parse(readFileSync(new URL('./node_modules/ktx-parse/package.json', import.meta.url))).version;

// pattern is level's bytes: byte i of texel (x, y) is x*17 + y*29 + level*53 + i*71, mod 256.
function pattern(w, h, level, bytesPerTexel) {
  const b = new Uint8Array(w * h * bytesPerTexel);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let i = 0; i < bytesPerTexel; i++) b[(y * w + x) * bytesPerTexel + i] = (x * 17 + y * 29 + level * 53 + i * 71) & 255;
  return b;
}

let zstdTool;
function zstd(data) {
  if (zlib.zstdCompressSync) {
    zstdTool = `node:zlib ${process.version}`;
    return new Uint8Array(zlib.zstdCompressSync(data));
  }
  zstdTool = execFileSync('zstd', ['--version']).toString().trim();
  return new Uint8Array(execFileSync('zstd', ['-q', '-19', '-c'], { input: data }));
}

const RGBSDA = 1, BC1A = 128, LINEAR = 1, SRGB = 2, ZSTD = 2;

// file makes a container of w×h (block: 1 or 4) with the levels given.
function file({ vkFormat, w, h, levels, model, transfer, block, bytesPerBlock, channels, zstdLevels }) {
  const c = createDefaultContainer();
  Object.assign(c, { vkFormat, typeSize: 1, pixelWidth: w, pixelHeight: h, levelCount: levels.length });
  const dfd = c.dataFormatDescriptor[0];
  dfd.colorModel = model;
  dfd.transferFunction = transfer;
  dfd.texelBlockDimension = [block - 1, block - 1, 0, 0];
  dfd.bytesPlane = [zstdLevels ? 0 : bytesPerBlock, 0, 0, 0, 0, 0, 0, 0];
  const bits = (bytesPerBlock * 8) / channels.length;
  dfd.samples = channels.map((ch, i) => ({
    bitOffset: i * bits, bitLength: bits - 1, channelType: ch,
    samplePosition: [0, 0, 0, 0], sampleLower: 0, sampleUpper: bits >= 32 ? 0xffffffff : 2 ** bits - 1,
  }));
  c.keyValue = { KTXwriter: `ktx-parse ${version} (vkassets scripts/ktx2-interop/write.mjs)` };
  if (zstdLevels) c.supercompressionScheme = ZSTD;
  c.levels = levels.map((l) => ({ levelData: zstdLevels ? zstd(l) : l, uncompressedByteLength: l.byteLength }));
  return write(c);
}

function chain(w, h, n, bytesPerTexel, block = 1) {
  const levels = [];
  for (let i = 0; i < n; i++) {
    const lw = Math.max(w >> i, 1), lh = Math.max(h >> i, 1);
    levels.push(pattern(Math.ceil(lw / block), Math.ceil(lh / block), i, bytesPerTexel));
  }
  return levels;
}

const rgba = { vkFormat: 43, w: 16, h: 8, levels: chain(16, 8, 5, 4), model: RGBSDA, transfer: SRGB, block: 1, bytesPerBlock: 4, channels: [0, 1, 2, 15] };
const files = {
  'rgba8-srgb-mips.ktx2': file(rgba),
  'rgba8-srgb-mips-zstd.ktx2': file({ ...rgba, zstdLevels: true }),
  'r8-unorm.ktx2': file({ vkFormat: 9, w: 9, h: 5, levels: chain(9, 5, 1, 1), model: RGBSDA, transfer: LINEAR, block: 1, bytesPerBlock: 1, channels: [0] }),
  'bc1-rgba-unorm.ktx2': file({ vkFormat: 133, w: 8, h: 8, levels: chain(8, 8, 4, 8, 4), model: BC1A, transfer: LINEAR, block: 4, bytesPerBlock: 8, channels: [15] }),
};
for (const [name, data] of Object.entries(files)) {
  read(data); // ktx-parse reads back what it wrote
  writeFileSync(join(out, name), data);
}
writeFileSync(join(out, 'TOOLS.txt'), `Written by scripts/ktx2-interop/write.mjs (make ktx2-interop) with ktx-parse ${version} on Node ${process.version}; Zstandard: ${zstdTool}.\n`);
