/**
 * The store of parsed images between commands (src/loader/image-store.ts): an
 * image comes back exactly as parseElf made it, found only by the same
 * file identity, role and path; a directory others may write is not used.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseElf } from "../../src/loader/elf.ts";
import { LoadError } from "../../src/loader/errors.ts";
import { ImageStore, storeDirectory } from "../../src/loader/image-store.ts";
import { craftElf, PF_R, PF_X, PT_LOAD } from "../support/craft.ts";

/** A store with its cache directory under `base`. */
function freshStore(base: string): { storeImage: ImageStore["store"]; storedImage: ImageStore["stored"] } {
  const store = new ImageStore(storeDirectory(base));
  return { storeImage: store.store.bind(store), storedImage: store.stored.bind(store) };
}

const load = { type: PT_LOAD, flags: PF_R | PF_X, offset: 0, vaddr: 0x400000, filesz: 0x100, memsz: 0x100, align: 0x1000 };

describe("the image store", () => {
  test("gives back what parseElf made, a refusal past the point of no return included", async () => {
    const store = freshStore(mkdtempSync(join(tmpdir(), "faultline-store-")));
    const good = parseElf("/bin/good", craftElf({ segments: [load] }));
    const late = parseElf("/bin/late", craftElf({ segments: [{ ...load, filesz: 0x200, memsz: 0x100 }] }));
    expect(late.afterExec).toBeInstanceOf(LoadError);
    store.storeImage("1:2:3:4:5", "program", "/bin/good", good);
    store.storeImage("1:9:3:4:5", "interpreter", "/bin/late", late);
    expect(store.storedImage("1:2:3:4:5", "program", "/bin/good")).toEqual(good);
    const back = store.storedImage("1:9:3:4:5", "interpreter", "/bin/late")!;
    expect(back.afterExec).toBeInstanceOf(LoadError);
    expect(back.afterExec!.message).toBe(late.afterExec!.message);
    expect(back.afterExec).toMatchObject({ errno: late.afterExec!.errno, kernel: late.afterExec!.kernel, exitCode: late.afterExec!.exitCode });
  });

  test("finds nothing for a changed file, another role or another path", async () => {
    const store = freshStore(mkdtempSync(join(tmpdir(), "faultline-store-")));
    const image = parseElf("/bin/x", craftElf({ segments: [load] }));
    store.storeImage("1:2:3:4:5", "program", "/bin/x", image);
    expect(store.storedImage("1:2:3:4:6", "program", "/bin/x")).toBeUndefined();
    expect(store.storedImage("1:2:3:4:5", "interpreter", "/bin/x")).toBeUndefined();
    expect(store.storedImage("1:2:3:4:5", "program", "/bin/y")).toBeUndefined();
  });

  test("is not used in a directory others may write", async () => {
    const base = mkdtempSync(join(tmpdir(), "faultline-store-"));
    mkdirSync(join(base, "faultline", "images"), { recursive: true });
    chmodSync(join(base, "faultline", "images"), 0o777);
    const store = freshStore(base);
    store.storeImage("1:2:3:4:5", "program", "/bin/x", parseElf("/bin/x", craftElf({ segments: [load] })));
    expect(readdirSync(join(base, "faultline", "images"))).toEqual([]);
    expect(store.storedImage("1:2:3:4:5", "program", "/bin/x")).toBeUndefined();
  });
});
