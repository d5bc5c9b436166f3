/**
 * A Worker for test/support/chunk-scenarios.ts: writes to chunks the main
 * thread shares with it (through handles), makes and checks chunks of its
 * own meanwhile, or holds an array over a chunk the main thread frees.
 */
import { allocChunk, attachChunk, copyLazy, detachChunk, freeChunk, type Chunk, type ChunkHandle, type SplitGranularity } from "../../src/index.ts";

declare const self: Worker;

interface WriteOrder {
  kind: "write";
  handles: ChunkHandle[];
  worker: number;
  threads: number;
  split: SplitGranularity;
}

let held: Chunk | null = null;

/** Chunks of this worker's own, copied lazily and written at random
 * offsets while the other workers do the same: every byte checked. */
function ownChunks(split: SplitGranularity, seed: number): { compared: number; mismatches: number } {
  let state = seed;
  const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 4294967296);
  let compared = 0;
  let mismatches = 0;
  for (let round = 0; round < 64; round++) {
    const a = allocChunk(8 * 4096, { split });
    crypto.getRandomValues(a);
    const b = copyLazy(a);
    const modelA = a.slice();
    const modelB = a.slice();
    for (let i = 0; i < 32; i++) {
      const offset = Math.floor(random() * a.length);
      const value = Math.floor(random() * 256);
      if (i % 2) {
        a[offset] = value;
        modelA[offset] = value;
      } else {
        b[offset] = value;
        modelB[offset] = value;
      }
    }
    compared += 2 * a.length;
    if (!Buffer.from(a).equals(modelA)) mismatches++;
    if (!Buffer.from(b).equals(modelB)) mismatches++;
    freeChunk(a);
    freeChunk(b);
  }
  return { compared, mismatches };
}

function writeShared(order: WriteOrder): { compared: number; mismatches: number } {
  const chunks = order.handles.map((handle) => attachChunk(handle));
  chunks.forEach((chunk, index) => {
    for (let offset = order.worker; offset < chunk.length; offset += order.threads * 61) chunk[offset] = (index * 7 + order.worker * 31 + 2) & 255;
  });
  const own = ownChunks(order.split, 1 + order.worker);
  for (const chunk of chunks) detachChunk(chunk); // the main thread frees them
  return own;
}

self.onmessage = (event: MessageEvent) => {
  const order = event.data;
  if (order.kind === "hold") {
    held = attachChunk(order.handle);
    postMessage(held[0]);
  } else if (order.kind === "read-held") {
    postMessage(held?.[100]);
  } else if (order.kind === "write") {
    postMessage(writeShared(order));
  }
};
