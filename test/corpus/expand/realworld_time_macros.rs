// Real-world corpus: time-macros 0.2.4 from Debian's registry (librust-time-macros-dev): proc_macro
// only, no syn. Cases after time's macro docs and tests. Format: see serde_derive.rs.

// @crate time-macros@0.2.4

// @case dates bang:date expect:ok
2020-01-02

// @case date-ordinal bang:date expect:ok
2019-365

// @case datetime-offset bang:datetime expect:ok
2020-01-02 3:04:05.006_007_008 pm +06:07:08

// @case times bang:time expect:ok
12:30:00.5 am

// @case offsets bang:offset expect:ok
-1:02:03

// @case offset-utc bang:offset expect:ok
UTC

// @case format-description bang:format_description expect:ok
"[year]-[month repr:short]-[day padding:space] [hour repr:12]:[minute]:[second].[subsecond digits:3] [period case:lower] [offset_hour sign:mandatory]"

// @case serde-format-description bang:serde_format_description expect:ok
my_format, OffsetDateTime, "[year]-[month]-[day]"

// @case error-invalid-date bang:date expect:error
2021-02-29

// @case error-trailing-token bang:time expect:error
12:00 extra

// @case error-bad-component bang:format_description expect:error
"[yaer]"
