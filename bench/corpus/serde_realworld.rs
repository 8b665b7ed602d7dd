// Real-world-style serde items for bench/ra-mode.ts (the benchmark in the mode rust-analyzer uses):
// the shapes application and library code derives Serialize and Deserialize on — configuration
// structs full of `#[serde]` attributes, tagged and untagged enums, generics with where clauses,
// borrowed data, and a few large items. Written in the format of test/corpus/expand (read by
// test/corpus/expand/load.ts); each item is given to both derives, without its `#[derive]`, as
// rust-analyzer sends it.

// @crate serde_derive@1.0.152

// @case server-config derive:Serialize,Deserialize expect:ok
/// Settings of the HTTP server, read from `config.toml`.
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: std::net::SocketAddr,
    #[serde(default)]
    pub workers: Option<usize>,
    #[serde(with = "humantime_serde", default = "default_timeout")]
    pub request_timeout: std::time::Duration,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub allowed_origins: Vec<String>,
    pub tls: Option<TlsConfig>,
    #[serde(flatten)]
    pub limits: Limits,
}

// @case tls-config derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "snake_case")]
pub struct TlsConfig {
    pub cert_path: std::path::PathBuf,
    pub key_path: std::path::PathBuf,
    #[serde(default = "default_true")]
    pub require_client_auth: bool,
    #[serde(alias = "ca", alias = "ca_file")]
    pub ca_path: Option<std::path::PathBuf>,
}

// @case limits derive:Serialize,Deserialize expect:ok
#[derive(Debug, Clone, Default)]
pub struct Limits {
    #[serde(default)]
    pub max_body_bytes: u64,
    #[serde(default)]
    pub max_connections: u32,
    #[serde(default, rename = "rateLimit")]
    pub rate_limit: Option<RateLimit>,
}

// @case rate-limit derive:Serialize,Deserialize expect:ok
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RateLimit {
    Fixed { per_second: u32 },
    Burst { per_second: u32, burst: u32 },
    #[serde(rename = "none")]
    Unlimited,
}

// @case user derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: Uuid,
    pub user_name: String,
    pub display_name: Option<String>,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<Url>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub roles: Vec<Role>,
    #[serde(skip)]
    pub password_hash: String,
    pub is_active: bool,
}

// @case role derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Admin,
    Maintainer,
    Developer,
    Reporter,
    Guest,
    #[serde(other)]
    Unknown,
}

// @case api-response derive:Serialize,Deserialize expect:ok
#[serde(bound(deserialize = "T: serde::de::DeserializeOwned"))]
pub struct ApiResponse<T> {
    pub data: Option<T>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ApiError>,
    pub meta: ResponseMeta,
}

// @case api-error derive:Serialize,Deserialize expect:ok
pub struct ApiError {
    pub code: u16,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub details: std::collections::BTreeMap<String, serde_json::Value>,
}

// @case response-meta derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct ResponseMeta {
    pub request_id: String,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
    pub total_count: Option<u64>,
}

// @case page derive:Serialize,Deserialize expect:ok
pub struct Page<'a, T: Clone + 'a>
where
    T: serde::Serialize,
{
    #[serde(borrow)]
    pub cursor: std::borrow::Cow<'a, str>,
    pub items: Vec<T>,
    pub has_more: bool,
}

// @case event derive:Serialize,Deserialize expect:ok
/// Webhook events, as the provider sends them.
#[serde(tag = "type", content = "payload")]
pub enum Event {
    #[serde(rename = "push")]
    Push(PushEvent),
    #[serde(rename = "pull_request")]
    PullRequest(Box<PullRequestEvent>),
    #[serde(rename = "issue_comment")]
    IssueComment { issue: u64, comment: String, author: String },
    #[serde(rename = "ping")]
    Ping,
}

// @case push-event derive:Serialize,Deserialize expect:ok
pub struct PushEvent {
    #[serde(rename = "ref")]
    pub git_ref: String,
    pub before: String,
    pub after: String,
    pub commits: Vec<Commit>,
    pub pusher: Author,
    #[serde(default)]
    pub forced: bool,
}

// @case pull-request-event derive:Serialize,Deserialize expect:ok
pub struct PullRequestEvent {
    pub action: PullRequestAction,
    pub number: u64,
    pub title: String,
    pub body: Option<String>,
    pub head: GitRef,
    pub base: GitRef,
    pub draft: bool,
    pub merged: bool,
    pub labels: Vec<Label>,
}

// @case pull-request-action derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "snake_case")]
pub enum PullRequestAction {
    Opened,
    Closed,
    Reopened,
    Synchronize,
    Edited,
    ReadyForReview,
    ConvertedToDraft,
    Labeled,
    Unlabeled,
}

// @case commit derive:Serialize,Deserialize expect:ok
pub struct Commit {
    pub id: String,
    pub message: String,
    pub timestamp: String,
    pub author: Author,
    #[serde(default)]
    pub added: Vec<String>,
    #[serde(default)]
    pub removed: Vec<String>,
    #[serde(default)]
    pub modified: Vec<String>,
}

// @case author derive:Serialize,Deserialize expect:ok
pub struct Author {
    pub name: String,
    pub email: Option<String>,
    #[serde(rename = "username")]
    pub login: Option<String>,
}

// @case git-ref derive:Serialize,Deserialize expect:ok
pub struct GitRef {
    #[serde(rename = "ref")]
    pub name: String,
    pub sha: String,
    pub label: String,
}

// @case label derive:Serialize,Deserialize expect:ok
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    #[serde(default)]
    pub description: Option<String>,
}

// @case json-value-like derive:Serialize,Deserialize expect:ok
#[serde(untagged)]
pub enum Setting {
    Bool(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    List(Vec<Setting>),
    Table(std::collections::BTreeMap<String, Setting>),
}

// @case dependency derive:Serialize,Deserialize expect:ok
#[serde(untagged)]
pub enum Dependency {
    Simple(String),
    Detailed(DetailedDependency),
}

// @case detailed-dependency derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "kebab-case")]
pub struct DetailedDependency {
    pub version: Option<String>,
    pub path: Option<String>,
    pub git: Option<String>,
    pub branch: Option<String>,
    pub tag: Option<String>,
    pub rev: Option<String>,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default = "default_true")]
    pub default_features: bool,
    #[serde(default)]
    pub optional: bool,
    pub package: Option<String>,
    pub registry: Option<String>,
}

// @case manifest derive:Serialize,Deserialize expect:ok
/// A Cargo.toml, the parts a tool reads.
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    pub package: Option<Package>,
    #[serde(default)]
    pub dependencies: std::collections::BTreeMap<String, Dependency>,
    #[serde(default)]
    pub dev_dependencies: std::collections::BTreeMap<String, Dependency>,
    #[serde(default)]
    pub build_dependencies: std::collections::BTreeMap<String, Dependency>,
    #[serde(default)]
    pub features: std::collections::BTreeMap<String, Vec<String>>,
    pub workspace: Option<Workspace>,
    #[serde(default, rename = "bin")]
    pub bins: Vec<Target>,
    pub lib: Option<Target>,
}

// @case package derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "kebab-case")]
pub struct Package {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub authors: Vec<String>,
    pub edition: Option<String>,
    pub rust_version: Option<String>,
    pub description: Option<String>,
    pub license: Option<String>,
    pub repository: Option<String>,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
    pub build: Option<String>,
    #[serde(default)]
    pub publish: Option<bool>,
}

// @case workspace derive:Serialize,Deserialize expect:ok
pub struct Workspace {
    #[serde(default)]
    pub members: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    pub resolver: Option<String>,
}

// @case target derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "kebab-case")]
pub struct Target {
    pub name: Option<String>,
    pub path: Option<String>,
    #[serde(default = "default_true")]
    pub test: bool,
    #[serde(default = "default_true")]
    pub doctest: bool,
    #[serde(default)]
    pub proc_macro: bool,
    #[serde(default)]
    pub required_features: Vec<String>,
}

// @case metric derive:Serialize,Deserialize expect:ok
pub struct Metric<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub tags: Vec<(&'a str, &'a str)>,
    pub value: f64,
    pub timestamp_ms: u64,
}

// @case histogram derive:Serialize,Deserialize expect:ok
pub struct Histogram<const N: usize> {
    pub buckets: [u64; N],
    pub sum: f64,
    pub count: u64,
}

// @case cache-entry derive:Serialize,Deserialize expect:ok
pub struct CacheEntry<K, V>
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone,
{
    pub key: K,
    pub value: V,
    #[serde(with = "serde_millis")]
    pub inserted: std::time::Instant,
    pub hits: u32,
}

// @case lru-snapshot derive:Serialize,Deserialize expect:ok
#[serde(bound = "K: serde::Serialize + serde::de::DeserializeOwned + std::hash::Hash + Eq")]
pub struct LruSnapshot<K, V> {
    pub capacity: usize,
    pub entries: Vec<(K, V)>,
}

// @case shape derive:Serialize,Deserialize expect:ok
#[serde(tag = "shape")]
pub enum Shape {
    Circle { center: Point2, radius: f32 },
    Rectangle { origin: Point2, width: f32, height: f32 },
    Polygon { points: Vec<Point2> },
    #[serde(rename = "path")]
    Path { commands: Vec<PathCommand>, closed: bool },
}

// @case point2 derive:Serialize,Deserialize expect:ok
#[derive(Clone, Copy, PartialEq)]
pub struct Point2 {
    pub x: f32,
    pub y: f32,
}

// @case path-command derive:Serialize,Deserialize expect:ok
#[serde(tag = "op", content = "args", rename_all = "camelCase")]
pub enum PathCommand {
    MoveTo(Point2),
    LineTo(Point2),
    QuadTo(Point2, Point2),
    CubicTo(Point2, Point2, Point2),
    Close,
}

// @case color derive:Serialize,Deserialize expect:ok
#[serde(into = "String", try_from = "String")]
pub struct Color(pub u8, pub u8, pub u8, pub u8);

// @case newtype-id derive:Serialize,Deserialize expect:ok
#[serde(transparent)]
pub struct OrderId(pub u64);

// @case order derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: OrderId,
    pub customer_id: Uuid,
    pub status: OrderStatus,
    pub line_items: Vec<LineItem>,
    pub shipping_address: Address,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub billing_address: Option<Address>,
    pub currency: Currency,
    pub subtotal_cents: i64,
    pub tax_cents: i64,
    pub total_cents: i64,
    #[serde(default)]
    pub discount_codes: Vec<String>,
    pub placed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shipped_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "std::collections::HashMap::is_empty")]
    pub metadata: std::collections::HashMap<String, String>,
}

// @case order-status derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "snake_case", tag = "status")]
pub enum OrderStatus {
    Pending,
    Paid { payment_id: String },
    Shipped { carrier: String, tracking: String },
    Delivered,
    Cancelled { reason: Option<String> },
    Refunded { amount_cents: i64 },
}

// @case line-item derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct LineItem {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
    #[serde(default)]
    pub tax_exempt: bool,
}

// @case address derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub line1: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    #[serde(rename = "country")]
    pub country_code: String,
}

// @case currency derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    Usd,
    Eur,
    Gbp,
    Jpy,
    Chf,
    Cad,
    Aud,
}

// @case log-record derive:Serialize,Deserialize expect:ok
pub struct LogRecord<'a> {
    #[serde(rename = "ts")]
    pub timestamp: u64,
    pub level: Level,
    #[serde(borrow)]
    pub target: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    pub message: std::borrow::Cow<'a, str>,
    #[serde(flatten)]
    pub fields: std::collections::BTreeMap<String, serde_json::Value>,
}

// @case level derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "lowercase")]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

// @case lsp-position derive:Serialize,Deserialize expect:ok
pub struct Position {
    pub line: u32,
    pub character: u32,
}

// @case lsp-diagnostic derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    pub range: Range,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<DiagnosticSeverity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<NumberOrString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related_information: Option<Vec<DiagnosticRelatedInformation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<DiagnosticTag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

// @case number-or-string derive:Serialize,Deserialize expect:ok
#[serde(untagged)]
pub enum NumberOrString {
    Number(i32),
    String(String),
}

// @case rpc-message derive:Serialize,Deserialize expect:ok
#[serde(untagged)]
pub enum Message<P = serde_json::Value, R = serde_json::Value>
where
    P: Clone,
    R: Clone,
{
    Request { jsonrpc: String, id: u64, method: String, #[serde(default)] params: P },
    Response { jsonrpc: String, id: u64, #[serde(skip_serializing_if = "Option::is_none")] result: Option<R>, #[serde(skip_serializing_if = "Option::is_none")] error: Option<RpcError> },
    Notification { jsonrpc: String, method: String, #[serde(default)] params: P },
}

// @case rpc-error derive:Serialize,Deserialize expect:ok
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

// @case k8s-container derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

// @case k8s-env-var derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

// @case k8s-probe derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(flatten)]
    pub handler: ProbeHandler,
    #[serde(default)]
    pub initial_delay_seconds: i32,
    #[serde(default = "default_period")]
    pub period_seconds: i32,
    #[serde(default)]
    pub failure_threshold: Option<i32>,
}

// @case k8s-probe-handler derive:Serialize,Deserialize expect:ok
#[serde(rename_all = "camelCase")]
pub enum ProbeHandler {
    Exec { command: Vec<String> },
    HttpGet { path: String, port: u16, #[serde(default)] scheme: Option<String> },
    TcpSocket { port: u16 },
}

// @case game-state derive:Serialize,Deserialize expect:ok
pub struct GameState<R: rand::Rng + ?Sized = rand::rngs::StdRng> {
    pub tick: u64,
    pub players: Vec<Player>,
    pub world: World,
    #[serde(skip)]
    pub rng: Option<Box<R>>,
}

// @case player derive:Serialize,Deserialize expect:ok
pub struct Player {
    pub id: u32,
    pub name: String,
    pub position: (f32, f32, f32),
    pub velocity: (f32, f32, f32),
    pub health: u16,
    pub inventory: Vec<Item>,
    #[serde(default)]
    pub effects: Vec<(Effect, u32)>,
}

// @case item derive:Serialize,Deserialize expect:ok
pub enum Item {
    Weapon { kind: WeaponKind, damage: u16, durability: u16 },
    Armor { slot: Slot, defense: u16 },
    Potion(Effect),
    Gold(u32),
    Key { door: u32 },
}
