// "macrobox/node": the Node edge of expanding. A crate directory as the sandbox's read-only file
// system, grants from macrobox.toml / Cargo.toml and flags. The whole public surface is this file.
// (rust-analyzer's proc-macro server is the `macrobox-proc-macro-srv` executable: src/proc-macro-server.)
export { NodeReadOnlyFs } from "./fs.js";
export { grantFor, type Grants } from "./grants.js";
export { loadGrants, userDirs, type UserDirs, type GrantDecision, type GrantQuery } from "./trust.js";
export { DiskCacheStore } from "./disk-cache.js";
