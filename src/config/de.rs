//! Field deserializers of the raw model: the wording of every shape error, and `null` refused.
//!
//! Contract v1.1: `null` is not "omitted". serde's `Option` reads `null` as `None`, so every
//! field goes through one of these (`#[serde(default, deserialize_with = ...)]`): they are
//! called only for a field that is present, and refuse `null` naming it. Objects and arrays
//! are accepted only as such (a derived struct would also take an array of its fields).

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// The problem reported for a field given as `null`.
pub(super) const NULL: &str = "must not be null (omit the field to use its default)";

fn wrong<E: de::Error>(expected: &str, found: &str) -> E {
    E::custom(format_args!("expected {expected}, found {found}"))
}

fn wrong_value<E: de::Error>(expected: &str, v: &Value) -> E {
    let found = match v {
        Value::Null => return E::custom(NULL),
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    wrong(expected, found)
}

/// Visitor methods refusing `null` and every scalar, for a visitor of `$expected`.
macro_rules! refuse_scalars {
    ($expected:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom(NULL))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(wrong($expected, "a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(wrong($expected, "a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(wrong($expected, "a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(wrong($expected, "a number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(wrong($expected, "a string"))
        }
    };
}

/// A `T` read only from a JSON object.
pub(super) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            refuse_scalars!("an object");
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<T, A::Error> {
                Err(wrong("an object", "an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_any(V(PhantomData)).map(Object)
    }
}

/// A list read only from a JSON array, each element a `T`.
struct List<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array")
            }
            refuse_scalars!("an array");
            fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Vec<T>, A::Error> {
                Err(wrong("an array", "an object"))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element()? {
                    out.push(x);
                }
                Ok(out)
            }
        }
        d.deserialize_any(V(PhantomData)).map(List)
    }
}

/// A string element of a list.
struct Str(String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string(d).map(Str)
    }
}

/// Claim name → accepted values, in the document's key order.
pub(super) type ClaimValues = Vec<(String, Vec<Value>)>;

/// An object of arrays, `{"key": [values...]}`, in the document's key order.
struct Groups(ClaimValues);

impl<'de> Deserialize<'de> for Groups {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ClaimValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            refuse_scalars!("an object");
            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(wrong("an object", "an array"))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    // Which values are acceptable (no null, no objects) is `validate`'s call.
                    let List(values) = map.next_value::<List<Value>>()?;
                    out.push((key, values));
                }
                Ok(out)
            }
        }
        d.deserialize_any(V).map(Groups)
    }
}

pub(super) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        v => Err(wrong_value("a string", &v)),
    }
}

pub(super) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        v => Err(wrong_value("a boolean", &v)),
    }
}

pub(super) fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = match Value::deserialize(d)? {
        Value::Number(n) => n,
        v => return Err(wrong_value("an integer", &v)),
    };
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    // Integers beyond u64 arrive as floats, so the float's value tells which case it is.
    let f = n.as_f64().unwrap_or(0.0);
    Err(de::Error::custom(if f < 0.0 {
        "must not be negative"
    } else if f >= 18_446_744_073_709_551_616.0 {
        "is too large"
    } else {
        "must be a whole number (no fraction or exponent)"
    }))
}

/// Any JSON but `null`: what it must be is decided in `validate`.
pub(super) fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Err(de::Error::custom(NULL)),
        v => Ok(v),
    }
}

pub(super) fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    Object::deserialize(d).map(|o| o.0)
}

pub(super) fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    string(d).map(Some)
}

/// One of the names of an enum `T` (its serde names): any other string is refused listing them.
pub(super) fn opt_named<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: de::DeserializeOwned,
{
    let s = string(d)?;
    T::deserialize(de::value::StrDeserializer::<D::Error>::new(&s)).map(Some)
}

pub(super) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    boolean(d).map(Some)
}

pub(super) fn opt_uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    uint(d).map(Some)
}

pub(super) fn opt_value<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    value(d).map(Some)
}

pub(super) fn opt_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    object(d).map(Some)
}

pub(super) fn opt_boxed<'de, D, T>(d: D) -> Result<Option<Box<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    object(d).map(|t| Some(Box::new(t)))
}

/// A list of objects.
pub(super) fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    let List(items) = List::<Object<T>>::deserialize(d)?;
    Ok(items.into_iter().map(|o| o.0).collect())
}

pub(super) fn opt_objects<'de, D, T>(d: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    objects(d).map(Some)
}

pub(super) fn opt_strings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    let List(items) = List::<Str>::deserialize(d)?;
    Ok(Some(items.into_iter().map(|s| s.0).collect()))
}

pub(super) fn opt_groups<'de, D>(d: D) -> Result<Option<ClaimValues>, D::Error>
where
    D: Deserializer<'de>,
{
    Groups::deserialize(d).map(|g| Some(g.0))
}
