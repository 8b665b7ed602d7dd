// Real-world corpus: async-trait 0.1.56 from Debian's registry (librust-async-trait-dev).
// Format: see serde_derive.rs.

// @crate async-trait@0.1.56

// @case trait-definition attr:async_trait expect:ok
// @args
trait Store { async fn get(&self, key: &str) -> Option<String>; async fn put(&mut self, k: String) { let _ = k; } }

// @case generic-impl attr:async_trait expect:ok
// @args
impl<T: Send + Sync> Store for Mem<T> { async fn get(&self, key: &str) -> Option<String> { self.map.get(key).cloned() } }

// @case not-send attr:async_trait expect:ok
// @args ?Send
trait Local { async fn run(&self) -> u32; }
