// Real-world corpus: phf_macros 0.10.0 from Debian's registry (librust-phf-macros-dev; macros declared
// through proc-macro-hack, listed under their generated names). Its generator (phf_generator, rand)
// pulls in getrandom, which builds through the compat rule for Debian's stripped `wasi` dependency.
// Cases after phf's docs and tests. Format: see serde_derive.rs.
//
// Only errors here: every map or set phf builds carries the hash key it found by drawing from
// `SmallRng::seed_from_u64(1234567890)`, and rand's SmallRng is Xoshiro256++ where
// `target_pointer_width = "64"` (native x86_64) but Xoshiro128++ on wasm32: the wasm module finds
// another key (a valid map, but not rustc's tokens on a 64-bit host). See DEVELOPERS.md, "Real crates".

// @crate phf_macros@0.10.0

// @case error-duplicate-key bang:proc_macro_hack_phf_map expect:error
"a" => 1, "a" => 2

// @case error-not-a-literal bang:proc_macro_hack_phf_set expect:error
some_ident, "x"

// @case error-cast-key bang:proc_macro_hack_phf_map expect:error
-1i32 => 'n', 7i32 => 'p', 'x' as i32 => 'x'

// @case error-unicase-without-feature bang:proc_macro_hack_phf_ordered_map expect:error
"c" => 3, "a" => 1, UniCase("X") => 4

// @case error-duplicate-set-entry bang:proc_macro_hack_phf_ordered_set expect:error
10u64, 20u64, 10u64

// @case panic-derive-hack-shape derive:_proc_macro_hack_phf_map expect:error
enum ProcMacroHack { Value = (stringify! { "a" => 1, "b" => 2 }, 0).1 }
