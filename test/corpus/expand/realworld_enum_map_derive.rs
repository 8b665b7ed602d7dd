// Real-world corpus: enum-map-derive 0.10.0 from Debian's registry (librust-enum-map-derive-dev), cases
// after enum-map's docs and tests. Format: see serde_derive.rs.

// @crate enum-map-derive@0.10.0

// @case unit-variants derive:Enum expect:ok
enum Example { A, B, C }

// @case nested-variants derive:Enum expect:ok
enum Nested { Leaf, Inner(Example), Pair(bool, Option<bool>), Named { x: Example, y: () } }

// @case struct-fields derive:Enum expect:ok
struct Point { x: bool, y: Example }

// @case unit-struct derive:Enum expect:ok
struct Unit;

// @case empty-enum derive:Enum expect:ok
enum Void {}

// @case union-error derive:Enum expect:error
union U { a: u8 }
