//! Serde for types whose text form (`Display` + `FromStr`) is their public format, such as
//! cursors and checkpoints: JSON carries exactly the text a user would copy, and parsing it
//! back goes through the one checked parser, so a malformed value is a serde error, never a
//! value `FromStr` would refuse.

use std::fmt::Display;
use std::str::FromStr;

use serde::de::{Deserializer, Visitor};

/// Reads a string and parses it with `T::from_str`, its error becoming a serde error.
pub(crate) fn deserialize<'de, T, D>(d: D, expecting: &'static str) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: Deserializer<'de>,
{
    struct Text<T>(&'static str, std::marker::PhantomData<T>);

    impl<T> Visitor<'_> for Text<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<T, E> {
            s.parse().map_err(E::custom)
        }
    }

    d.deserialize_str(Text(expecting, std::marker::PhantomData))
}
