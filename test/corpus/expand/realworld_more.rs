// Real-world corpus: num_enum_derive 0.5.7 from Debian's registry. Format: see serde_derive.rs.

// @crate num_enum_derive@0.5.7

// @case try-from-primitive-alternatives derive:TryFromPrimitive,IntoPrimitive expect:ok
#[repr(u8)]
enum N { Zero = 0, One, #[num_enum(alternatives = [3, 4])] Two }

// @case missing-repr derive:TryFromPrimitive expect:error
enum NoRepr { A, B }
