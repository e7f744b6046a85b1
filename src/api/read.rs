//! Reading what a client sent, with every refusal in our words.
//!
//! The parsers' own messages quote what they could not read, and what a
//! client sent may be a secret put in the wrong place (a token as a field
//! name, a query parameter or a duration). So a refusal names fields by the
//! names this API gives them, and repeats a value of the client's only when
//! it is too short to be any token (`shown`).

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::{ApiError, ErrorCode};
use super::pattern;
use super::stats::format_duration;
use crate::engine::{
    Attributes, Bounds, MAX_ATTRIBUTE_KEY_LEN, MAX_ATTRIBUTE_VALUE_LEN, MAX_ATTRIBUTES,
};

/// The shortest secret the server accepts or issues: API tokens have at
/// least 16 characters and session tokens 43. Anything shorter can be quoted
/// (config errors follow the same rule).
const QUOTABLE_BELOW: usize = crate::units::REPEATED_BELOW;

/// What a field of a request holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    /// An object whose values are strings.
    StringMap,
    /// A whole number. Its bounds are the engine's to check (and say), so
    /// one too large or too small to hold reads as the nearest that can be
    /// held (`saturating_count`): 0, or 4,294,967,295.
    Count,
}

/// One field a request takes.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub required: bool,
}

impl Field {
    pub const fn required(name: &'static str, kind: Kind) -> Self {
        Field {
            name,
            kind,
            required: true,
        }
    }

    pub const fn optional(name: &'static str, kind: Kind) -> Self {
        Field {
            name,
            kind,
            required: false,
        }
    }
}

/// A JSON request body whose fields are listed, so refusals can name them.
pub trait RequestBody: DeserializeOwned {
    const FIELDS: &'static [Field];
}

/// `text` in backticks if it is short and plain enough to repeat safely.
pub fn shown(text: &str) -> Option<String> {
    let plain =
        text.len() < QUOTABLE_BELOW && text.chars().all(|c| c.is_ascii_graphic() && c != '`');
    (plain && !text.is_empty()).then(|| format!("`{text}`"))
}

fn field_list(fields: &[Field]) -> String {
    fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

/// A JSON value read with every object's keys told apart: a key given twice
/// is an error, not "the last one wins", since another reader of the same
/// body (a proxy, a log) may take the first.
struct Unique(Value);

/// The error a repeated key raises, found again by its text.
const REPEATED_KEY: &str = "a key is repeated";

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Unique;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Unique, E> {
                Ok(Unique(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Unique, E> {
                Ok(Unique(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Unique, E> {
                Ok(Unique(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Unique, E> {
                Ok(Unique(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Unique, E> {
                Ok(Unique(Value::from(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<Unique, E> {
                Ok(Unique(Value::String(v)))
            }
            fn visit_unit<E>(self) -> Result<Unique, E> {
                Ok(Unique(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Unique, A::Error> {
                let mut items = Vec::new();
                while let Some(Unique(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Unique(Value::Array(items)))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Unique, A::Error> {
                let mut object = Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    let Unique(value) = map.next_value()?;
                    if object.insert(key, value).is_some() {
                        return Err(serde::de::Error::custom(REPEATED_KEY));
                    }
                }
                Ok(Unique(Value::Object(object)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Reads a JSON object body as `T`, or says in one sentence what is wrong.
pub fn json_body<T: RequestBody>(bytes: &[u8]) -> Result<T, ApiError> {
    let Unique(value) = serde_json::from_slice(bytes).map_err(|e| {
        let message = if e.is_eof() && bytes.iter().all(u8::is_ascii_whitespace) {
            "the body is empty; send a JSON object".to_owned()
        } else if e.to_string().starts_with(REPEATED_KEY) {
            // The key is not named: a key may be a misplaced secret.
            format!(
                "the body gives one key twice (line {}, column {}); give each once",
                e.line(),
                e.column()
            )
        } else if e.to_string().starts_with("recursion limit exceeded") {
            format!(
                "the body nests arrays or objects too deeply (line {}, column {})",
                e.line(),
                e.column()
            )
        } else {
            format!(
                "the body is not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            )
        };
        ApiError::new(ErrorCode::MalformedJson, message)
    })?;
    let Value::Object(object) = value else {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            format!(
                "the body must be a JSON object with the fields {}",
                field_list(T::FIELDS)
            ),
        ));
    };
    check_fields(&object, T::FIELDS)?;
    serde_json::from_value(Value::Object(object)).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidBody,
            format!(
                "the body does not fit this request, which takes {}",
                field_list(T::FIELDS)
            ),
        )
    })
}

fn check_fields(object: &Map<String, Value>, fields: &[Field]) -> Result<(), ApiError> {
    let invalid = |message: String| ApiError::new(ErrorCode::InvalidBody, message);
    if let Some(unknown) = object
        .keys()
        .find(|key| !fields.iter().any(|f| f.name == key.as_str()))
    {
        let name = shown(unknown).unwrap_or_else(|| "(not repeated: it could be a secret)".into());
        return Err(invalid(format!(
            "the body has an unknown field {name}; this request takes {}",
            field_list(fields)
        )));
    }
    for field in fields {
        let name = field.name;
        match (object.get(name), field.kind) {
            (None, _) if field.required => {
                return Err(invalid(format!("the body needs the field `{name}`")));
            }
            (None | Some(Value::Null), _) if !field.required => {}
            (Some(Value::String(_)), Kind::String) => {}
            (Some(Value::Object(map)), Kind::StringMap) if map.values().all(Value::is_string) => {}
            (Some(Value::Number(n)), Kind::Count) if is_whole(n) => {}
            (_, Kind::Count) => {
                return Err(invalid(format!("`{name}` must be a whole number")));
            }
            (_, Kind::String) => {
                return Err(invalid(format!("`{name}` must be a string")));
            }
            (_, Kind::StringMap) => {
                return Err(invalid(format!(
                    "`{name}` must be an object whose values are strings"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a JSON number is a whole number, however large.
fn is_whole(n: &serde_json::Number) -> bool {
    n.is_u64()
        || n.is_i64()
        || n.as_f64()
            .is_some_and(|f| f.is_finite() && f.fract() == 0.0)
}

/// Reads a `Kind::Count` field, held as the nearest `u32`: a number the
/// engine refuses either way (0 or less, or more than any limit it allows)
/// reaches it as one it can refuse with its bounds, not as a parse failure.
pub fn saturating_count<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    // JSON Schema's integer: 1.0 is 1 (serializers that write every number
    // as a float send it so). A fraction such as 1.5 never gets here: the
    // body's check refuses it as no whole number.
    let nearest = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => u32::try_from(n).unwrap_or(u32::MAX),
        (None, Some(f)) if f >= 1.0 && f.fract() == 0.0 && f <= f64::from(u32::MAX) => f as u32,
        (None, Some(f)) if f > 0.0 => u32::MAX,
        _ => 0,
    };
    Ok(Some(nearest))
}

/// A duration a request gives, such as "90s" or "15m". One too large to hold
/// reads as `Duration::MAX`, which the policy's bounds then refuse as out of
/// bounds: it has a number and a unit, so it is not "not a duration".
pub fn duration(field: &str, text: &str) -> Result<Duration, ApiError> {
    let parsed = pattern::fits(pattern::DURATION, text)
        .then(|| crate::units::parse_timeout(text).ok())
        .flatten();
    parsed.ok_or_else(|| {
        let what = field_and_value(field, text);
        ApiError::new(
            ErrorCode::InvalidDuration,
            format!("{what} is not a duration; use a number and a unit, such as \"90s\", \"15m\" or \"8h\""),
        )
    })
}

/// A field named with the value sent, if that is safe to repeat (`shown`).
fn field_and_value(field: &str, sent: &str) -> String {
    shown(sent).map_or_else(|| field.to_owned(), |value| format!("{field} {value}"))
}

/// The refusal of a duration that was read but lies outside the server's
/// bounds. It repeats what was sent only as `shown` allows: a text that
/// reads as a duration can still be a token (`999999999999years`).
pub fn out_of_bounds(field: &str, sent: &str, asked: Duration, bounds: Bounds) -> ApiError {
    let what = field_and_value(field, sent.trim());
    let message = if asked > bounds.max {
        format!(
            "{what} is more than the server allows ({})",
            format_duration(bounds.max)
        )
    } else {
        format!(
            "{what} is less than the server allows ({})",
            format_duration(bounds.min)
        )
    };
    ApiError::new(ErrorCode::TimeoutOutOfBounds, message)
}

/// The attribute limits the document states, checked before the engine's
/// own check so that the refusal can name an attribute without repeating a
/// name that could be a token.
pub fn attributes(attributes: &Attributes) -> Result<(), ApiError> {
    let refuse = |message: String| Err(ApiError::new(ErrorCode::InvalidAttributes, message));
    if attributes.len() > MAX_ATTRIBUTES {
        return refuse(format!(
            "at most {MAX_ATTRIBUTES} attributes are allowed, got {}",
            attributes.len()
        ));
    }
    for (key, value) in attributes {
        let name = shown(key).map_or_else(
            || "an attribute".to_owned(),
            |k| format!("the attribute {k}"),
        );
        if key.is_empty() || key.len() > MAX_ATTRIBUTE_KEY_LEN {
            return refuse(format!(
                "attribute names must be 1 to {MAX_ATTRIBUTE_KEY_LEN} bytes"
            ));
        }
        if value.len() > MAX_ATTRIBUTE_VALUE_LEN {
            return refuse(format!(
                "the value of {name} is longer than {MAX_ATTRIBUTE_VALUE_LEN} bytes"
            ));
        }
    }
    Ok(())
}

/// Reads query parameters, each at most once, from the names `allowed`.
pub fn query_pairs(
    query: &str,
    allowed: &[&'static str],
) -> Result<Vec<(&'static str, String)>, ApiError> {
    let bad = |message: String| ApiError::new(ErrorCode::BadQuery, message);
    let mut pairs: Vec<(&'static str, String)> = Vec::new();
    for (name, value) in form_pairs(query) {
        let Some(&known) = allowed.iter().find(|a| name.as_deref() == Some(**a)) else {
            let name = name
                .as_deref()
                .and_then(shown)
                .unwrap_or_else(|| "(not repeated: it could be a secret)".into());
            return Err(bad(format!(
                "unknown query parameter {name}; this request takes {}",
                allowed.join(", ")
            )));
        };
        if pairs.iter().any(|(n, _)| *n == known) {
            return Err(bad(format!("the query parameter `{known}` is given twice")));
        }
        let Some(value) = value else {
            return Err(bad(format!(
                "the query parameter `{known}` is not UTF-8 once percent-decoded"
            )));
        };
        pairs.push((known, value));
    }
    Ok(pairs)
}

/// `application/x-www-form-urlencoded` pairs, decoded (`+` is a space);
/// `None` for a name or value that is not UTF-8 once decoded.
fn form_pairs(query: &str) -> impl Iterator<Item = (Option<String>, Option<String>)> + '_ {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(&text.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|text| text.into_owned())
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(move |pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(name), decode(value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LoginRequest;

    fn login(body: &str) -> Result<LoginRequest, ApiError> {
        json_body::<LoginRequest>(body.as_bytes())
    }

    #[test]
    fn an_unknown_field_is_named_with_the_fields_allowed() {
        let err = login(r#"{"user":"a","idle_timout":"5m"}"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidBody);
        assert_eq!(
            err.message,
            "the body has an unknown field `idle_timout`; this request takes user, attributes, idle_timeout, absolute_timeout, max_sessions_per_user"
        );
    }

    #[test]
    fn a_field_name_long_enough_to_be_a_token_is_not_repeated() {
        let secret = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx";
        let err = login(&format!(r#"{{"user":"a","{secret}":1}}"#)).unwrap_err();
        assert!(!err.message.contains(secret), "{}", err.message);
        assert!(err.message.contains("unknown field"), "{}", err.message);
    }

    #[test]
    fn wrong_types_and_missing_fields_are_said_in_our_words() {
        let secret = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx";
        let cases = [
            (r#"{}"#.to_owned(), "the body needs the field `user`"),
            (r#"{"user":5}"#.to_owned(), "`user` must be a string"),
            (
                format!(r#"{{"user":"a","attributes":"{secret}"}}"#),
                "`attributes` must be an object whose values are strings",
            ),
            (
                r#"{"user":"a","attributes":{"k":1}}"#.to_owned(),
                "`attributes` must be an object whose values are strings",
            ),
        ];
        for (body, message) in cases {
            let err = login(&body).unwrap_err();
            assert_eq!(
                (err.code, err.message.as_str()),
                (ErrorCode::InvalidBody, message)
            );
        }
        assert!(login(r#"{"user":"a","attributes":null,"idle_timeout":null}"#).is_ok());
    }

    #[test]
    fn unreadable_json_gives_a_position_not_the_text() {
        let err = login(r#"{"user": "secret-token-value"#).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        assert!(!err.message.contains("secret"), "{}", err.message);
        assert_eq!(
            login("").unwrap_err().message,
            "the body is empty; send a JSON object"
        );
        assert_eq!(login("[1]").unwrap_err().code, ErrorCode::InvalidBody);
        for twice in [
            r#"{"user":"a","user":"b"}"#,
            r#"{"user":"a","attributes":{"ip":"1","ip":"2"}}"#,
        ] {
            let err = login(twice).unwrap_err();
            assert_eq!(err.code, ErrorCode::MalformedJson, "{twice}");
            assert!(
                err.message
                    .starts_with("the body gives one key twice (line 1, column "),
                "{}",
                err.message
            );
        }
        let read = login(r#"{"user":"a","attributes":{"ip":"192.0.2.1","n":"2"}}"#).unwrap();
        assert_eq!(read.user, "a");
        let deep = format!("{{\"user\":{}{}}}", "[".repeat(500), "]".repeat(500));
        let err = login(&deep).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedJson);
        assert!(
            err.message
                .starts_with("the body nests arrays or objects too deeply (line 1, column "),
            "{}",
            err.message
        );
    }

    #[test]
    fn query_parameters_are_checked_by_name_and_never_echo_a_secret() {
        let allowed = ["user", "limit", "cursor"];
        assert_eq!(
            query_pairs("user=zo%C3%AB+x&limit=5", &allowed).unwrap(),
            vec![("user", "zoë x".to_owned()), ("limit", "5".to_owned())]
        );
        let secret = "st_admin_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEy";
        let err = query_pairs(&format!("{secret}=1"), &allowed).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadQuery);
        assert!(!err.message.contains("st_admin"), "{}", err.message);
        let err = query_pairs("color=red", &allowed).unwrap_err();
        assert!(err.message.contains("`color`"), "{}", err.message);
        let err = query_pairs("limit=1&limit=2", &allowed).unwrap_err();
        assert_eq!(err.message, "the query parameter `limit` is given twice");
    }

    #[test]
    fn durations_are_refused_in_our_words_repeating_only_what_is_safe() {
        let bounds = Bounds {
            min: Duration::from_secs(1),
            max: Duration::from_secs(86_400),
        };
        let asked = duration("idle_timeout", "60days").unwrap();
        assert_eq!(
            out_of_bounds("idle_timeout", "60days", asked, bounds).message,
            "idle_timeout `60days` is more than the server allows (1day)"
        );
        assert_eq!(
            out_of_bounds("idle_timeout", "5ms", Duration::from_millis(5), bounds).message,
            "idle_timeout `5ms` is less than the server allows (1s)"
        );
        let asked = duration("idle_timeout", "999999999999y").unwrap();
        assert_eq!(
            out_of_bounds("idle_timeout", "999999999999y", asked, bounds).message,
            "idle_timeout `999999999999y` is more than the server allows (1day)"
        );
        // As long as the shortest API token: not repeated, though a duration.
        let long = "999999999999years";
        let asked = duration("idle_timeout", long).unwrap();
        assert_eq!(
            out_of_bounds("idle_timeout", long, asked, bounds).message,
            "idle_timeout is more than the server allows (1day)"
        );
        let long = "1ms 1ms 1ms 1ms 1ms";
        let asked = duration("absolute_timeout", long).unwrap();
        assert_eq!(
            out_of_bounds("absolute_timeout", long, asked, bounds).message,
            "absolute_timeout is less than the server allows (1s)"
        );
        let err = duration("idle_timeout", "soon").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidDuration);
        assert!(
            err.message
                .starts_with("idle_timeout `soon` is not a duration"),
            "{}",
            err.message
        );
        let secret = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx";
        let err = duration("absolute_timeout", secret).unwrap_err();
        assert!(!err.message.contains(secret), "{}", err.message);
    }

    #[test]
    fn attribute_refusals_name_a_short_attribute_and_hide_a_long_one() {
        let long_value = "v".repeat(1025);
        let short = Attributes::from([("ua".to_owned(), long_value.clone())]);
        assert_eq!(
            attributes(&short).unwrap_err().message,
            "the value of the attribute `ua` is longer than 1024 bytes"
        );
        let secret = "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MDEyMzQ1Njc4OTAx".to_owned();
        let hidden = Attributes::from([(secret.clone(), long_value)]);
        let err = attributes(&hidden).unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                ErrorCode::InvalidAttributes,
                "the value of an attribute is longer than 1024 bytes"
            )
        );
        let many: Attributes = (0..33).map(|i| (format!("k{i}"), String::new())).collect();
        assert_eq!(
            attributes(&many).unwrap_err().message,
            "at most 32 attributes are allowed, got 33"
        );
        assert!(
            attributes(&Attributes::from([(
                "ip".to_owned(),
                "203.0.113.7".to_owned()
            )]))
            .is_ok()
        );
    }

    #[test]
    fn only_short_plain_text_is_quoted() {
        assert_eq!(shown("color").as_deref(), Some("`color`"));
        assert_eq!(shown("abcdefghijklmnop"), None);
        assert_eq!(shown("a b"), None);
        assert_eq!(shown(""), None);
    }
}
