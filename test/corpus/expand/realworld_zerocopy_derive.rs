// Real-world corpus: zerocopy-derive 0.3.1 from Debian's registry (librust-zerocopy-derive-dev), cases
// after zerocopy's docs and tests. Format: see serde_derive.rs.

// @crate zerocopy-derive@0.3.1

// @case repr-c-struct derive:FromBytes,AsBytes,Unaligned expect:ok
#[repr(C)]
struct PacketHeader { src_port: [u8; 2], dst_port: [u8; 2], length: [u8; 2], checksum: [u8; 2] }

// @case repr-transparent derive:FromBytes,AsBytes expect:ok
#[repr(transparent)]
struct Wrapper(u64);

// @case generic-struct derive:FromBytes expect:ok
#[repr(C)]
struct Generic<T: Copy, const N: usize> where T: Default { items: [T; N], len: u32 }

// @case repr-u8-enum derive:AsBytes,Unaligned expect:ok
#[repr(u8)]
enum Kind { A = 0, B = 1, C = 2 }

// @case repr-u8-enum-frombytes derive:FromBytes expect:error
#[repr(u8)]
enum Kind { A, B }

// @case repr-packed derive:AsBytes,Unaligned expect:ok
#[repr(C, packed)]
struct Packed { a: u8, b: [u8; 3] }

// @case no-repr derive:AsBytes expect:error
struct NoRepr { a: u32 }

// @case unaligned-repr-u16 derive:Unaligned expect:error
#[repr(u16)]
enum Wide { A }

// @case repr-u16-enum-asbytes derive:AsBytes expect:ok
#[repr(u16)]
enum Wide16 { A = 1, B = 300 }

// @case repr-rust-enum-asbytes derive:AsBytes expect:error
enum NoRepr2 { A, B }
