// Real-world corpus: enumflags2_derive 0.6.4 from Debian's registry (librust-enumflags2-derive-dev),
// cases after enumflags2's docs and tests. Format: see serde_derive.rs.

// @crate enumflags2_derive@0.6.4

// @case flags-u8 derive:BitFlags_internal expect:ok
#[repr(u8)]
#[derive(Copy, Clone, Debug, PartialEq)]
enum Test { A = 0b0001, B = 0b0010, C = 0b0100, D = 0b1000 }

// @case flags-u64-shifts derive:BitFlags_internal expect:ok
#[repr(u64)]
pub enum Big { A = 1 << 0, B = 1 << 40, C = 1 << 63 }

// @case not-a-power-of-two derive:BitFlags_internal expect:error
#[repr(u8)]
enum Bad { A = 0b0011, B = 0b0100 }

// @case no-repr-defaults-to-usize derive:BitFlags_internal expect:ok
enum NoRepr { A = 1, B = 2 }

// @case zero-flag derive:BitFlags_internal expect:error
#[repr(u16)]
enum Zero { A = 0, B = 1 }

// @case struct-not-enum derive:BitFlags_internal expect:error
struct S { a: u8 }
