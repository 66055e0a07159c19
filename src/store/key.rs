//! Job keys: blake3 over a canonical JSON form of everything that determines a
//! result.
//!
//! | key | hashes | never |
//! |---|---|---|
//! | model key | store format version (`STORE_VERSION`), `"model"`, method name, method implementation version, the fully resolved model parameters (defaults filled in), dataset name + content digest, protocol, class index, seed, data limits | paths, worker counts, output folders, devices, timestamps |
//! | result key | store format version, `"result"`, the model key, the scoring parameters | the same |
//!
//! Canonical form: JSON with object keys sorted at every level, numbers as
//! serde_json prints them (shortest round-trip form), no whitespace. Because
//! parameters are deserialized into typed structs first, YAML key order and
//! number spelling (`1e-4` vs `0.0001`) do not reach the hash. Change what goes
//! into a key, or its meaning: bump `STORE_VERSION`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Bump when the meaning of stored objects or of key inputs changes.
pub const STORE_VERSION: u32 = 1;

/// A 256-bit blake3 key, shown as 64 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key([u8; 32]);

impl Key {
    /// The key of `inputs` for objects of `kind`.
    pub fn of(kind: &str, inputs: &Value) -> Key {
        let mut h = blake3::Hasher::new();
        h.update(format!("runner-store-v{STORE_VERSION}\0{kind}\0").as_bytes());
        h.update(canonical_json(inputs).as_bytes());
        Key(*h.finalize().as_bytes())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for tables and logs.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.short())
    }
}

impl FromStr for Key {
    type Err = String;
    fn from_str(s: &str) -> Result<Key, String> {
        let bytes = hex::decode(s).map_err(|_| format!("`{s}` is not a key (64 hex digits)"))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| format!("`{s}` is not a key (64 hex digits)"))?;
        Ok(Key(arr))
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// JSON with sorted object keys and no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_ignores_key_order() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": 0.0001}});
        let b = json!({"a": {"x": 1e-4, "y": [1, 2]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(Key::of("model", &a), Key::of("model", &b));
        assert_ne!(Key::of("model", &a), Key::of("result", &a));
    }

    #[test]
    fn key_round_trips_through_text() {
        let k = Key::of("model", &json!({"a": 1}));
        assert_eq!(k.hex().parse::<Key>().unwrap(), k);
        assert!("abc".parse::<Key>().is_err());
    }
}
