// Real-world corpus: pkg-version-impl 0.1.1 (macros declared through proc-macro-hack, listed under
// their generated names; without CARGO_PKG_VERSION_* in the request's env both panic alike)
// from Debian's registry. Format: see serde_derive.rs.

// @crate pkg-version-impl@0.1.1

// @case major-without-env derive:_proc_macro_hack_pkg_version_major expect:error
enum ProcMacroHack { Value = (stringify! { pkg_version_major!() }, 0).1 }

// @case patch-with-input derive:_proc_macro_hack_pkg_version_patch expect:error
enum ProcMacroHack { Value = (stringify! { pkg_version_patch!(unexpected) }, 0).1 }
