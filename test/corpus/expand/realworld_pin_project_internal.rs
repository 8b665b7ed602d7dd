// Real-world corpus: pin-project-internal 1.0.10 from Debian's registry.
// Format: see serde_derive.rs.

// @crate pin-project-internal@1.0.10

// @case struct-pinned-field attr:pin_project expect:ok
// @args
struct Fut<T, U> { #[pin] inner: T, other: U }

// @case enum-with-projection-name attr:pin_project expect:ok
// @args project = EProj
enum E<T> { A(#[pin] T), B { x: u8 } }

// @case pinned-drop attr:pin_project expect:ok
// @args PinnedDrop
struct WithDrop<T> { #[pin] field: T }

// @case on-a-function attr:pin_project expect:error
// @args
fn not_a_type() {}
