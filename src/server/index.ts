// rust-analyzer's proc-macro server protocol, browser-safe ("macrobox/server"): the FlatTree token
// codec, the JSON-lines and postcard message codecs, a request dispatcher over any backend, and the
// backend that expands with wasm macro modules. The server process (serving on stdio) is the
// `macrobox-proc-macro-srv` executable (src/proc-macro-server).

export {
  CURRENT_API_VERSION,
  decodeFlatTree,
  encodeFlatTree,
  FlatTreeError,
  ProtocolVersion,
  type DecodeOptions,
  type EncodeOptions,
  type FlatTree,
} from "./flat.js";
export {
  decodeRequestLine,
  decodeResponseLine,
  encodeRequestLine,
  encodeResponseLine,
  LineFramer,
  ProtocolError,
  type ExpandMacroRequest,
  type ExpnGlobals,
  type MacroInfo,
  type MacroKind,
  type Request,
  type Response,
  type Result,
  type SpanData,
  type SpanMode,
} from "./protocol.js";
export {
  decodeBidirectionalFrame,
  encodeBidirectionalFrame,
  FrameSplitter,
  type BidirectionalMessage,
  type ParentSpan,
  type SubRequest,
  type SubResponse,
} from "./postcard.js";
export {
  createServerSession,
  type BackendExpandRequest,
  type BackendExpansion,
  type MemoDependency,
  type ProcMacroBackend,
  type ServerSession,
} from "./serve.js";
export { createWasmBackend, type RequestSandbox, type WasmBackendOptions } from "./wasm-backend.js";
