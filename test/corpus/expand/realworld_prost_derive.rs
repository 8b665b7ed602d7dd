// Real-world corpus: prost-derive 0.11.6 from Debian's registry (librust-prost-derive-dev, itertools,
// anyhow), cases shaped like prost-build's generated code and prost's tests. Format: see serde_derive.rs.

// @crate prost-derive@0.11.6

// @case message-scalars derive:Message expect:ok
pub struct Person {
    #[prost(string, tag = "1")]
    pub name: ::prost::alloc::string::String,
    #[prost(int32, tag = "2")]
    pub id: i32,
    #[prost(string, optional, tag = "3")]
    pub email: ::core::option::Option<::prost::alloc::string::String>,
    #[prost(message, repeated, tag = "4")]
    pub phones: ::prost::alloc::vec::Vec<PhoneNumber>,
    #[prost(bytes = "vec", tag = "5")]
    pub blob: ::prost::alloc::vec::Vec<u8>,
    #[prost(double, repeated, packed = "false", tag = "6")]
    pub samples: ::prost::alloc::vec::Vec<f64>,
    #[prost(sint64, tag = "7", default = "-5")]
    pub delta: i64,
    #[prost(enumeration = "PhoneType", tag = "8")]
    pub kind: i32,
}

// @case message-maps-oneof derive:Message expect:ok
pub struct Bag {
    #[prost(map = "string, int64", tag = "1")]
    pub counts: ::std::collections::HashMap<::prost::alloc::string::String, i64>,
    #[prost(btree_map = "uint32, message", tag = "2")]
    pub items: ::prost::alloc::collections::BTreeMap<u32, Item>,
    #[prost(map = "string, enumeration(Color)", tag = "3")]
    pub colors: ::std::collections::HashMap<::prost::alloc::string::String, i32>,
    #[prost(oneof = "bag::Choice", tags = "4, 5")]
    pub choice: ::core::option::Option<bag::Choice>,
    #[prost(bytes = "bytes", tag = "6")]
    pub data: ::prost::bytes::Bytes,
    #[prost(group, optional, tag = "7")]
    pub group: ::core::option::Option<Group>,
}

// @case oneof derive:Oneof expect:ok
pub enum Choice {
    #[prost(string, tag = "4")]
    Text(::prost::alloc::string::String),
    #[prost(message, tag = "5")]
    Nested(super::Item),
}

// @case enumeration derive:Enumeration expect:ok
#[repr(i32)]
pub enum PhoneType { Mobile = 0, Home = 1, Work = 2 }

// @case unit-and-tuple-message derive:Message expect:ok
pub struct Empty {}

// @case error-duplicate-tag derive:Message expect:error
pub struct Dup {
    #[prost(int32, tag = "1")]
    pub a: i32,
    #[prost(int32, tag = "1")]
    pub b: i32,
}

// @case error-unknown-type derive:Message expect:error
pub struct Unknown {
    #[prost(banana, tag = "1")]
    pub a: i32,
}

// @case error-enumeration-discriminant derive:Enumeration expect:error
pub enum NoDiscriminant { A, B }
