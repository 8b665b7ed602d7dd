// The few messages of the Bazel Remote Execution API (build.bazel.remote.execution.v2, in
// bazelbuild/remote-apis' remote_execution.proto) that a cache entry needs: an `ActionResult`
// whose `output_files` name CAS blobs by `Digest`. Written with @bufbuild/protobuf's wire
// reader and writer (a conformance-tested protobuf encoding); the field numbers are the spec's:
//
//   message Digest       { string hash = 1; int64 size_bytes = 2; }
//   message OutputFile   { string path = 1; Digest digest = 2; bool is_executable = 4; bytes contents = 5; ... }
//   message ActionResult { repeated OutputFile output_files = 2; int32 exit_code = 4; ... }
//
// Decoding skips every field it does not use, so results written by other tools still read.

import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

export interface Digest {
  /** Lowercase hex sha256. */
  hash: string;
  sizeBytes: number;
}

export interface OutputFile {
  path: string;
  digest: Digest;
}

export interface ActionResult {
  outputFiles: OutputFile[];
  exitCode: number;
}

function writeDigest(w: BinaryWriter, d: Digest): void {
  w.tag(1, WireType.LengthDelimited).string(d.hash);
  if (d.sizeBytes !== 0) w.tag(2, WireType.Varint).int64(d.sizeBytes);
}

export function encodeActionResult(r: ActionResult): Uint8Array {
  const w = new BinaryWriter();
  for (const f of r.outputFiles) {
    w.tag(2, WireType.LengthDelimited).fork();
    w.tag(1, WireType.LengthDelimited).string(f.path);
    w.tag(2, WireType.LengthDelimited).fork();
    writeDigest(w, f.digest);
    w.join();
    w.join();
  }
  if (r.exitCode !== 0) w.tag(4, WireType.Varint).int32(r.exitCode);
  return w.finish();
}

/** Calls `field` for each field of the message in `bytes`; unknown ones are skipped. */
function eachField(bytes: Uint8Array, field: (no: number, type: WireType, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, type] = r.tag();
    if (!field(no, type, r)) r.skip(type, no);
  }
}

function decodeDigest(bytes: Uint8Array): Digest {
  const d: Digest = { hash: "", sizeBytes: 0 };
  eachField(bytes, (no, type, r) => {
    if (no === 1 && type === WireType.LengthDelimited) d.hash = r.string();
    else if (no === 2 && type === WireType.Varint) d.sizeBytes = Number(r.int64());
    else return false;
    return true;
  });
  return d;
}

/** Decodes an `ActionResult`; throws on bytes that are not one (truncated, or wrong wire types). */
export function decodeActionResult(bytes: Uint8Array): ActionResult {
  const result: ActionResult = { outputFiles: [], exitCode: 0 };
  eachField(bytes, (no, type, r) => {
    if (no === 2 && type === WireType.LengthDelimited) {
      const file: OutputFile = { path: "", digest: { hash: "", sizeBytes: 0 } };
      eachField(r.bytes(), (fno, ftype, fr) => {
        if (fno === 1 && ftype === WireType.LengthDelimited) file.path = fr.string();
        else if (fno === 2 && ftype === WireType.LengthDelimited) file.digest = decodeDigest(fr.bytes());
        else return false;
        return true;
      });
      result.outputFiles.push(file);
    } else if (no === 4 && type === WireType.Varint) result.exitCode = r.int32();
    else return false;
    return true;
  });
  return result;
}
