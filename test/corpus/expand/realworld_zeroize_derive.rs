// Real-world corpus: zeroize_derive 1.3.3 from Debian's registry (librust-zeroize-derive-dev, synstructure),
// cases after zeroize's docs and tests. Format: see serde_derive.rs.

// @crate zeroize_derive@1.3.3

// @case struct-named derive:Zeroize,ZeroizeOnDrop expect:ok
struct SecretKey { bytes: [u8; 32], name: String }

// @case drop-option derive:Zeroize expect:ok
#[zeroize(drop)]
struct Secret<T: Zeroize> where T: Clone { inner: T, len: usize }

// @case skip-field derive:Zeroize,ZeroizeOnDrop expect:ok
struct Partial { secret: Vec<u8>, #[zeroize(skip)] public: u64 }

// @case enum-variants derive:Zeroize expect:ok
enum Key { Rsa(Vec<u8>), Ec { d: [u8; 32] }, None }

// @case tuple-generic derive:ZeroizeOnDrop expect:ok
struct Pair<A, B>(A, B);

// @case bound-option derive:Zeroize expect:ok
#[zeroize(bound = "T: MyTrait")]
struct Bounded<T>(T);

// @case error-drop-on-variant derive:Zeroize expect:error
enum Bad { #[zeroize(drop)] A(u8) }

// @case error-skip-on-struct derive:Zeroize expect:error
#[zeroize(skip)]
struct Bad2 { a: u8 }
