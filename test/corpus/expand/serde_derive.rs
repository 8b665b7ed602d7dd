// Expansion corpus for serde_derive 1.0.152 (Serialize, Deserialize).
//
// Format (read by test/corpus/expand/load.ts):
//   `// @crate <name>@<version>` or `// @crate path:<dir relative to the repository root>`, once.
//   `// @case <id> <kind>:<Macro>[,<Macro>...] expect:<ok|error>` starts an entry; kind is
//   derive, attr or bang; `expect:error` means the expansion must contain `compile_error!`
//   (or the macro must panic). `// @args <tokens>` right after it gives an attribute's arguments.
//   Everything up to the next `// @case` is the macro input, given to every listed macro.

// @crate serde_derive@1.0.152

// ---------------------------------------------------------------- plain shapes
// @case struct-named derive:Serialize,Deserialize expect:ok
struct Point { x: i32, y: i32 }

// @case struct-pub-fields derive:Serialize,Deserialize expect:ok
pub struct Config { pub name: String, pub(crate) port: u16, verbose: bool }

// @case struct-empty-braces derive:Serialize,Deserialize expect:ok
struct Empty {}

// @case struct-unit derive:Serialize,Deserialize expect:ok
struct Unit;

// @case struct-tuple derive:Serialize,Deserialize expect:ok
struct Pair(i32, String);

// @case struct-newtype derive:Serialize,Deserialize expect:ok
struct Meters(f64);

// @case struct-tuple-empty derive:Serialize,Deserialize expect:ok
struct Nothing();

// @case struct-many-types derive:Serialize,Deserialize expect:ok
struct Mixed {
    a: u8, b: i64, c: f32, d: char, e: Option<String>, f: Vec<u32>,
    g: std::collections::HashMap<String, Vec<(u8, u16)>>, h: [u8; 4], i: (bool, ()),
    j: Box<Mixed2>,
}

// @case struct-raw-ident-fields derive:Serialize,Deserialize expect:ok
struct Keywords { r#type: String, r#match: u32, r#fn: bool }

// @case struct-doc-comments derive:Serialize,Deserialize expect:ok
/// A documented struct.
#[allow(dead_code)]
struct Documented {
    /// The first field.
    first: u8,
    // a plain comment
    #[doc = "second"]
    second: u16,
}

// @case struct-unicode-names derive:Serialize,Deserialize expect:ok
struct Größe { länge: u32, breite: u32 }

// @case struct-many-fields derive:Serialize,Deserialize expect:ok
struct Wide {
    f01: u8, f02: u8, f03: u8, f04: u8, f05: u8, f06: u8, f07: u8, f08: u8,
    f09: u8, f10: u8, f11: u8, f12: u8, f13: u8, f14: u8, f15: u8, f16: u8,
}

// @case struct-cfg-attr-field derive:Serialize,Deserialize expect:ok
struct WithCfg {
    #[cfg_attr(feature = "x", serde(rename = "y"))]
    x: u8,
}

// @case struct-path-types derive:Serialize,Deserialize expect:ok
struct Paths { a: ::std::string::String, b: self::inner::Thing, c: <Vec<u8> as IntoIterator>::Item }

// ---------------------------------------------------------------- enums
// @case enum-unit-variants derive:Serialize,Deserialize expect:ok
enum Color { Red, Green, Blue }

// @case enum-all-variant-kinds derive:Serialize,Deserialize expect:ok
enum Shape { Unit, Newtype(u32), Tuple(u8, u8), Struct { w: f64, h: f64 }, EmptyTuple(), EmptyStruct {} }

// @case enum-discriminants derive:Serialize,Deserialize expect:ok
enum Level { Low = 1, Mid = 5, High = 10 }

// @case enum-empty derive:Serialize,Deserialize expect:ok
enum Never {}

// @case enum-single-variant derive:Serialize,Deserialize expect:ok
enum Only { One(String) }

// @case enum-repr derive:Serialize,Deserialize expect:ok
#[repr(u8)]
enum Small { A, B }

// @case enum-many-variants derive:Serialize,Deserialize expect:ok
enum Op { Add, Sub, Mul, Div, Rem, And, Or, Xor, Shl, Shr, Not, Neg, Eq, Ne, Lt, Le, Gt, Ge }

// ---------------------------------------------------------------- unions (error)
// @case union-serialize derive:Serialize expect:error
union Bits { i: u32, f: f32 }

// @case union-deserialize derive:Deserialize expect:error
union Bits2 { i: u64, f: f64 }

// ---------------------------------------------------------------- generics, lifetimes, bounds
// @case generic-one derive:Serialize,Deserialize expect:ok
struct Wrapper<T> { inner: T }

// @case generic-two derive:Serialize,Deserialize expect:ok
struct Both<A, B> { a: A, b: Vec<B> }

// @case generic-bounded derive:Serialize,Deserialize expect:ok
struct Bounded<T: Clone + std::fmt::Debug> { t: T }

// @case generic-where derive:Serialize,Deserialize expect:ok
struct Where<T> where T: Default + Clone { t: T, n: usize }

// @case generic-default-param derive:Serialize,Deserialize expect:ok
struct Defaulted<T = u32> { t: T }

// @case generic-const derive:Serialize,Deserialize expect:ok
struct Buffer<const N: usize> { len: usize }

// @case generic-phantom derive:Serialize,Deserialize expect:ok
struct Tagged<T> { id: u64, marker: std::marker::PhantomData<T> }

// @case generic-enum derive:Serialize,Deserialize expect:ok
enum Either<L, R> { Left(L), Right(R) }

// @case generic-tuple derive:Serialize,Deserialize expect:ok
struct TPair<A, B>(A, B);

// @case lifetime-str-ser derive:Serialize expect:ok
struct Borrowed<'a> { name: &'a str, bytes: &'a [u8] }

// @case lifetime-str-de derive:Deserialize expect:ok
struct BorrowedDe<'a> { name: &'a str }

// @case lifetime-two derive:Serialize expect:ok
struct TwoLt<'a, 'b: 'a> { a: &'a str, b: &'b str }

// @case lifetime-and-type derive:Serialize expect:ok
struct LtTy<'a, T: 'a> { t: &'a T }

// @case lifetime-cow derive:Serialize,Deserialize expect:ok
struct Cowed<'a> { #[serde(borrow)] text: std::borrow::Cow<'a, str> }

// @case where-assoc-type derive:Serialize expect:ok
struct Assoc<I: Iterator> where I::Item: Clone { items: Vec<I::Item> }

// @case where-hrtb derive:Serialize expect:ok
struct Hrtb<F> where for<'x> F: Fn(&'x str) -> bool { name: String, f: std::marker::PhantomData<F> }

// ---------------------------------------------------------------- rename / rename_all
// @case rename-field derive:Serialize,Deserialize expect:ok
struct Renamed { #[serde(rename = "firstName")] first_name: String }

// @case rename-ser-de-split derive:Serialize,Deserialize expect:ok
struct Split { #[serde(rename(serialize = "out", deserialize = "in"))] value: u8 }

// @case rename-container derive:Serialize,Deserialize expect:ok
#[serde(rename = "person")]
struct Person { name: String }

// @case rename-all-camel derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
struct Camel { first_name: String, last_name: String, age_in_years: u8 }

// @case rename-all-snake-enum derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "snake_case")]
enum Snake { FirstVariant, SecondVariant(u8), ThirdVariant { x: u8 } }

// @case rename-all-screaming derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
struct Screaming { api_key: String }

// @case rename-all-kebab derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "kebab-case")]
struct Kebab { max_size: u64, min_size: u64 }

// @case rename-all-lower derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "lowercase")]
enum Lower { Alpha, Beta }

// @case rename-all-upper derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "UPPERCASE")]
enum Upper { Alpha, Beta }

// @case rename-all-pascal derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "PascalCase")]
struct Pascal { some_field: u8 }

// @case rename-all-screaming-kebab derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
struct ScreamingKebab { some_field: u8 }

// @case rename-all-split derive:Serialize,Deserialize expect:ok
#[serde(rename_all(serialize = "camelCase", deserialize = "snake_case"))]
struct RenameAllSplit { some_field: u8 }

// @case rename-variant-fields derive:Serialize,Deserialize expect:ok
enum Msg {
    #[serde(rename = "hello")]
    Hello { #[serde(rename = "who")] name: String },
    #[serde(rename_all = "camelCase")]
    Bye { see_you: bool },
}

// @case alias-field derive:Deserialize expect:ok
struct Aliased { #[serde(alias = "nm", alias = "n")] name: String }

// @case alias-variant derive:Deserialize expect:ok
enum AliasV { #[serde(alias = "a")] A, B }

// ---------------------------------------------------------------- enum representations
// @case tag-internal derive:Serialize,Deserialize expect:ok
#[serde(tag = "type")]
enum Internal { Request { id: String }, Response { id: String, ok: bool }, Ping }

// @case tag-adjacent derive:Serialize,Deserialize expect:ok
#[serde(tag = "t", content = "c")]
enum Adjacent { Para(Vec<String>), Str(String), Unit, Pair(u8, u8), S { x: u8 } }

// @case untagged derive:Serialize,Deserialize expect:ok
#[serde(untagged)]
enum Untagged { Int(i64), Text(String), List(Vec<Untagged>), Obj { k: String }, Nil }

// @case tag-internal-newtype derive:Serialize,Deserialize expect:ok
#[serde(tag = "kind")]
enum InternalNewtype { A(Inner), B(Other) }

// @case tag-on-struct derive:Serialize,Deserialize expect:ok
#[serde(tag = "type")]
struct TaggedStruct { a: u8 }

// @case tag-internal-tuple-variant derive:Serialize expect:error
#[serde(tag = "type")]
enum BadInternal { Pair(u8, u8) }

// @case content-without-tag derive:Serialize,Deserialize expect:error
#[serde(content = "c")]
enum ContentOnly { A(u8) }

// @case untagged-and-tag derive:Serialize,Deserialize expect:error
#[serde(untagged, tag = "t")]
enum Conflict { A(u8) }

// @case tag-on-tuple-struct derive:Serialize,Deserialize expect:error
#[serde(tag = "type")]
struct TaggedTuple(u8, u8);

// @case untagged-on-struct derive:Serialize,Deserialize expect:error
#[serde(untagged)]
struct UntaggedStruct { a: u8 }

// @case variant-other derive:Deserialize expect:ok
#[serde(tag = "t")]
enum WithOther { A, B, #[serde(other)] Unknown }

// @case field-identifier derive:Deserialize expect:ok
#[serde(field_identifier, rename_all = "lowercase")]
enum Field { Secs, Nanos }

// @case variant-identifier derive:Deserialize expect:ok
#[serde(variant_identifier)]
enum VarId { Alpha, Beta }

// ---------------------------------------------------------------- flatten, skip, default
// @case flatten-struct derive:Serialize,Deserialize expect:ok
struct Outer { id: u64, #[serde(flatten)] extra: Extra }

// @case flatten-map derive:Serialize,Deserialize expect:ok
struct Catchall { name: String, #[serde(flatten)] rest: std::collections::HashMap<String, Value> }

// @case flatten-in-variant derive:Serialize,Deserialize expect:ok
enum FlatV { A { #[serde(flatten)] inner: Inner, x: u8 } }

// @case flatten-with-deny-unknown derive:Deserialize expect:ok
#[serde(deny_unknown_fields)]
struct FlatDeny { #[serde(flatten)] inner: Inner }

// @case flatten-tuple-struct-field derive:Serialize expect:error
struct FlatTuple(#[serde(flatten)] Inner);

// @case skip-field derive:Serialize,Deserialize expect:ok
struct Skipping { keep: u8, #[serde(skip)] cache: Vec<u8> }

// @case skip-serializing derive:Serialize,Deserialize expect:ok
struct SkipSer { #[serde(skip_serializing)] secret: String, public: String }

// @case skip-deserializing derive:Serialize,Deserialize expect:ok
struct SkipDe { #[serde(skip_deserializing)] computed: u32, input: u32 }

// @case skip-serializing-if derive:Serialize expect:ok
struct SkipIf {
    #[serde(skip_serializing_if = "Option::is_none")] maybe: Option<u8>,
    #[serde(skip_serializing_if = "Vec::is_empty")] list: Vec<u8>,
    #[serde(skip_serializing_if = "crate::is_zero")] n: u32,
}

// @case skip-variant derive:Serialize,Deserialize expect:ok
enum SkipVariant { A, #[serde(skip)] Internal(u8), #[serde(skip_serializing)] NoSer, #[serde(skip_deserializing)] NoDe }

// @case skip-tuple-field derive:Serialize,Deserialize expect:ok
struct SkipTuple(u8, #[serde(skip)] u16, u32);

// @case default-field derive:Deserialize expect:ok
struct Defaults { #[serde(default)] a: u8, #[serde(default = "default_b")] b: String }

// @case default-container derive:Deserialize expect:ok
#[serde(default)]
struct AllDefault { a: u8, b: String }

// @case default-container-path derive:Deserialize expect:ok
#[serde(default = "Settings::new")]
struct Settings { a: u8 }

// @case default-on-enum derive:Deserialize expect:error
#[serde(default)]
enum DefaultEnum { A }

// @case default-on-tuple-struct derive:Deserialize expect:error
#[serde(default)]
struct DefaultTuple(u8, u8);

// @case deny-unknown-fields derive:Deserialize expect:ok
#[serde(deny_unknown_fields)]
struct Strict { a: u8, b: u8 }

// @case deny-unknown-enum derive:Deserialize expect:ok
#[serde(deny_unknown_fields, tag = "t")]
enum StrictEnum { A { x: u8 } }

// ---------------------------------------------------------------- with / serialize_with / getter
// @case with-module derive:Serialize,Deserialize expect:ok
struct Timed { #[serde(with = "ts_seconds")] at: DateTime }

// @case serialize-with derive:Serialize expect:ok
struct SerWith { #[serde(serialize_with = "ser_hex")] data: Vec<u8> }

// @case deserialize-with derive:Deserialize expect:ok
struct DeWith { #[serde(deserialize_with = "de_hex")] data: Vec<u8> }

// @case with-on-variant derive:Serialize,Deserialize expect:ok
enum WithVariant { #[serde(with = "custom")] A(u8, u8), B }

// @case with-and-serialize-with derive:Serialize expect:error
struct DoubleWith { #[serde(with = "a", serialize_with = "b")] x: u8 }

// @case remote derive:Serialize,Deserialize expect:ok
#[serde(remote = "Duration")]
struct DurationDef { secs: u64, nanos: u32 }

// @case remote-getter derive:Serialize expect:ok
#[serde(remote = "Duration")]
struct DurationGetter { #[serde(getter = "Duration::as_secs")] secs: u64, #[serde(getter = "Duration::subsec_nanos")] nanos: u32 }

// @case getter-without-remote derive:Serialize expect:error
struct GetterNoRemote { #[serde(getter = "f")] x: u8 }

// ---------------------------------------------------------------- transparent, from/into
// @case transparent-newtype derive:Serialize,Deserialize expect:ok
#[serde(transparent)]
struct Id(u64);

// @case transparent-named derive:Serialize,Deserialize expect:ok
#[serde(transparent)]
struct Name { inner: String }

// @case transparent-with-skip derive:Serialize,Deserialize expect:ok
#[serde(transparent)]
struct TranspSkip<T> { value: u8, #[serde(skip)] marker: std::marker::PhantomData<T> }

// @case transparent-two-fields derive:Serialize,Deserialize expect:error
#[serde(transparent)]
struct TwoFields { a: u8, b: u8 }

// @case transparent-enum derive:Serialize,Deserialize expect:error
#[serde(transparent)]
enum TransparentEnum { A(u8) }

// @case transparent-and-into derive:Serialize expect:error
#[serde(transparent, into = "u8")]
struct TranspInto { a: u8 }

// @case transparent-unit-struct derive:Serialize,Deserialize expect:error
#[serde(transparent)]
struct TranspUnit;

// @case transparent-all-skipped derive:Serialize expect:error
#[serde(transparent)]
struct TranspSkipped { #[serde(skip)] a: u8 }

// @case from-into derive:Serialize,Deserialize expect:ok
#[serde(from = "String", into = "String")]
struct Email { local: String, domain: String }

// @case try-from derive:Deserialize expect:ok
#[serde(try_from = "u32")]
struct Even(u32);

// @case from-and-try-from derive:Deserialize expect:error
#[serde(from = "u32", try_from = "u32")]
struct Both2(u32);

// ---------------------------------------------------------------- bound, borrow, crate, expecting
// @case bound-container derive:Serialize,Deserialize expect:ok
#[serde(bound = "T: MyTrait")]
struct CustomBound<T> { t: T }

// @case bound-split derive:Serialize,Deserialize expect:ok
#[serde(bound(serialize = "T: serde::Serialize", deserialize = "T: serde::Deserialize<'de>"))]
struct SplitBound<T> { t: T }

// @case bound-field derive:Serialize,Deserialize expect:ok
struct FieldBound<T> { #[serde(bound = "")] t: std::marker::PhantomData<T>, u: u8 }

// @case bound-empty derive:Serialize expect:ok
#[serde(bound = "")]
struct NoBound<T> { t: Option<Box<T>> }

// @case borrow-lifetime derive:Deserialize expect:ok
struct BorrowLt<'a, 'b> { #[serde(borrow = "'a")] a: std::borrow::Cow<'a, str>, #[serde(borrow = "'b + 'a")] b: Wrapper<'a, 'b> }

// @case borrow-on-non-lifetime derive:Deserialize expect:error
struct BorrowBad { #[serde(borrow)] a: String }

// @case borrow-variant derive:Deserialize expect:ok
enum BorrowVariant<'a> { #[serde(borrow)] A(std::borrow::Cow<'a, str>), B }

// @case crate-path derive:Serialize,Deserialize expect:ok
#[serde(crate = "self::my_serde")]
struct CratePath { a: u8 }

// @case expecting derive:Deserialize expect:ok
#[serde(expecting = "a point in 2D space")]
struct Expecting { x: f32, y: f32 }

// ---------------------------------------------------------------- invalid attributes (errors)
// @case unknown-container-attr derive:Serialize,Deserialize expect:error
#[serde(nonsense)]
struct UnknownAttr { a: u8 }

// @case unknown-field-attr derive:Serialize,Deserialize expect:error
struct UnknownField { #[serde(bogus = "x")] a: u8 }

// @case unknown-variant-attr derive:Serialize,Deserialize expect:error
enum UnknownVariant { #[serde(what)] A }

// @case rename-not-string derive:Serialize,Deserialize expect:error
struct RenameInt { #[serde(rename = 5)] a: u8 }

// @case rename-all-unknown-case derive:Serialize,Deserialize expect:error
#[serde(rename_all = "spongebob")]
struct BadCase { a: u8 }

// @case tag-not-string derive:Serialize,Deserialize expect:error
#[serde(tag = true)]
enum TagBool { A }

// @case duplicate-rename derive:Serialize,Deserialize expect:error
struct DupRename { #[serde(rename = "a", rename = "b")] x: u8 }

// @case duplicate-default derive:Deserialize expect:error
#[serde(default, default)]
struct DupDefault { a: u8 }

// @case skip-serializing-if-not-string derive:Serialize expect:error
struct SkipIfInt { #[serde(skip_serializing_if = 3)] x: u8 }

// @case with-bad-path derive:Serialize,Deserialize expect:error
struct WithBadPath { #[serde(with = "not a path")] x: u8 }

// @case bound-bad-predicate derive:Serialize expect:error
#[serde(bound = "T: +")]
struct BadBound<T> { t: T }

// @case serde-not-list derive:Serialize,Deserialize expect:error
#[serde = "x"]
struct SerdeNameValue { a: u8 }

// @case deny-unknown-on-untagged-variant derive:Deserialize expect:ok
#[serde(untagged, deny_unknown_fields)]
enum UntaggedDeny { A { x: u8 } }

// @case other-on-non-unit derive:Deserialize expect:error
#[serde(tag = "t")]
enum OtherNonUnit { A, #[serde(other)] B(u8) }

// @case other-untagged derive:Deserialize expect:error
#[serde(untagged)]
enum OtherUntagged { A, #[serde(other)] B }

// @case field-identifier-struct derive:Deserialize expect:error
#[serde(field_identifier)]
struct FieldIdStruct { a: u8 }

// @case skip-and-flatten derive:Serialize expect:ok
struct SkipFlatten { #[serde(flatten, skip_serializing_if = "Option::is_none")] x: Option<Inner> }

// @case internal-tag-collides derive:Serialize,Deserialize expect:error
#[serde(tag = "a")]
enum TagCollide { V { a: u8 } }

// @case rename-all-on-variant-bad derive:Serialize expect:error
enum RenameAllVariantBad { #[serde(rename_all = "nope")] A { b: u8 } }

// @case from-bad-type derive:Deserialize expect:error
#[serde(from = "not a type")]
struct FromBad(u8);

// @case literal-kinds-in-attrs derive:Serialize,Deserialize expect:ok
#[serde(rename = r#"raw"name"#)]
struct RawName { #[serde(rename = "esc\"aped\n\u{1F600}")] a: u8, b: [u8; 0x10], c: Fixed<1_000u32> }

// @case nested-generics-where derive:Serialize,Deserialize expect:ok
struct Nested<K, V, S = std::collections::hash_map::RandomState>
where
    K: std::hash::Hash + Eq,
    S: std::hash::BuildHasher,
{
    map: std::collections::HashMap<K, Vec<Option<V>>, S>,
}

// @case enum-generic-bounds-where derive:Serialize,Deserialize expect:ok
enum Tree<T: Ord> where T: Clone { Leaf(T), Node { left: Box<Tree<T>>, right: Box<Tree<T>> }, Empty }

// @case enum-tagged-generic derive:Serialize,Deserialize expect:ok
#[serde(tag = "op", content = "args", rename_all = "camelCase")]
enum Command<T> { SetValue(T), Reset, Move { dx: i32, dy: i32 } }

// @case struct-default-and-rename-all derive:Serialize,Deserialize expect:ok
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct Opts { max_depth: u32, follow_links: bool, #[serde(rename = "X")] x: u8 }

// @case variant-serialize-with derive:Serialize expect:ok
enum VSerWith { #[serde(serialize_with = "ser_a")] A(u8), B }

// @case variant-deserialize-with derive:Deserialize expect:ok
enum VDeWith { #[serde(deserialize_with = "de_a")] A(u8), B }

// @case visibility-restricted derive:Serialize,Deserialize expect:ok
pub(in crate::a) struct Restricted { pub(super) a: u8 }

// @case attribute-with-path-args derive:Serialize,Deserialize expect:ok
#[derive_helper_ignored(a::b)]
#[cfg_attr(test, allow(unused))]
struct OtherAttrs { #[allow(dead_code)] a: u8 }

// ---------------------------------------------------------------- strings the macro re-emits (Literal::string escaping)
// @case rename-escapes derive:Serialize,Deserialize expect:ok
struct Escapes {
    #[serde(rename = "tab\there")] a: u8,
    #[serde(rename = "back\\slash")] b: u8,
    #[serde(rename = "quote\"d'")] c: u8,
    #[serde(rename = "nul\0byte")] d: u8,
    #[serde(rename = "line\nbreak\r")] e: u8,
}

// @case rename-unicode derive:Serialize,Deserialize expect:ok
#[serde(rename = "Ünïcødé ✓")]
enum Uni { #[serde(rename = "日本語")] A, #[serde(rename = "emoji 🦀\u{200d}")] B, #[serde(rename = "\u{7f}\u{80}\u{ffff}")] C }

// @case rename-raw-strings derive:Serialize,Deserialize expect:ok
struct RawStrings { #[serde(rename = r"C:\path")] a: u8, #[serde(rename = r##"has "# inside"##)] b: u8 }

// @case rename-all-on-raw-idents derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
struct RawCamel { r#type_name: String, r#async_mode: bool }

// @case raw-ident-type-and-variants derive:Serialize,Deserialize expect:ok
enum r#enum { r#struct, r#fn(u8), r#match { r#in: u8 } }

// @case rename-byte-string-error derive:Serialize expect:error
struct ByteRename { #[serde(rename = b"x")] a: u8 }
