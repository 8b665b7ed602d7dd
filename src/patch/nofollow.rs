// O_NOFOLLOW, which std does not name (the shim and the rustc wrapper depend on nothing but std):
// its value per platform. Appended to shim-runtime.rs (shim.ts) and build-script-wrapper.rs
// (build-scripts.ts), so both open their logs with the one value.
#[cfg(all(target_os = "linux", any(target_arch = "aarch64", target_arch = "arm", target_arch = "powerpc", target_arch = "powerpc64")))]
const MACROBOX_O_NOFOLLOW: i32 = 0o100000;
#[cfg(all(target_os = "linux", not(any(target_arch = "aarch64", target_arch = "arm", target_arch = "powerpc", target_arch = "powerpc64"))))]
const MACROBOX_O_NOFOLLOW: i32 = 0o400000;
#[cfg(not(target_os = "linux"))]
const MACROBOX_O_NOFOLLOW: i32 = 0x100; // macOS and the BSDs
