//! Typed keyed state handles: Flink's `ValueState`, `ListState` and `MapState`, scoped to
//! one key.
//!
//! A handle borrows the backend for as long as it lives and reads and writes only the
//! entries of its key ([`KeyScope`]: the key's bytes and key group). Values are encoded with
//! serde + `postcard` (compact, not self-describing: read a table with the type it was
//! written with; `#[serde(untagged)]` enums and other `deserialize_any` types do not
//! round-trip).
//!
//! Layout in the backend (one table per state name; one name, one kind of state):
//!
//! | handle | backend key | backend value |
//! |---|---|---|
//! | [`ValueState<T>`] | key bytes | `postcard(T)` |
//! | [`ListState<T>`] | key bytes | `(u32 LE length, postcard(T))*`, appended in place |
//! | [`MapState<K, V>`] | `u32 BE len(key) ++ key bytes ++ postcard(K)` | `postcard(V)` |
//!
//! The length prefix makes map entries of one key a prefix range that no other key's
//! entries fall into, so [`MapState::entries`] and [`MapState::clear`] are range operations.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{StateBackend, TableId};
use crate::error::{Error, Result};

/// The key a state access is scoped to: its bytes (`arrow::row` encoding of the key
/// columns) and its key group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyScope<'k> {
    /// Key group of the key.
    pub key_group: usize,
    /// Key bytes.
    pub key: &'k [u8],
}

pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| {
        Error::Serde(format!(
            "encoding state value of type {}: {e}",
            std::any::type_name::<T>()
        ))
    })
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| {
        Error::Serde(format!(
            "decoding state value as {} ({} bytes): {e}; was the state written with another type?",
            std::any::type_name::<T>(),
            bytes.len()
        ))
    })
}

/// One value per key (Flink `ValueState<T>`).
///
/// # Example
/// ```
/// use millstream_core::state::{KeyGroupRange, KeyScope, MemoryStateBackend, ValueState};
/// let mut backend = MemoryStateBackend::new(KeyGroupRange::all(128));
/// let scope = KeyScope { key_group: 5, key: b"alice" };
/// let mut count = ValueState::<i64>::new(&mut backend, "count", scope)?;
/// assert_eq!(count.value()?, None);
/// count.update(&3)?;
/// assert_eq!(count.value()?, Some(3));
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct ValueState<'a, T> {
    backend: &'a mut dyn StateBackend,
    table: TableId,
    scope: KeyScope<'a>,
    _t: PhantomData<fn() -> T>,
}

impl<'a, T: Serialize + DeserializeOwned> ValueState<'a, T> {
    /// The value state `name` of the key in `scope`.
    ///
    /// # Errors
    /// The backend cannot register the table.
    pub fn new(backend: &'a mut dyn StateBackend, name: &str, scope: KeyScope<'a>) -> Result<Self> {
        let table = backend.register_table(name)?;
        Ok(ValueState {
            backend,
            table,
            scope,
            _t: PhantomData,
        })
    }

    /// The current value, `None` if never set or cleared.
    ///
    /// # Errors
    /// Backend errors; the stored bytes do not decode as `T`.
    pub fn value(&self) -> Result<Option<T>> {
        match self
            .backend
            .get(self.table, self.scope.key_group, self.scope.key)?
        {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Set the value.
    ///
    /// # Errors
    /// Backend errors; `value` does not encode.
    pub fn update(&mut self, value: &T) -> Result<()> {
        let bytes = encode(value)?;
        self.backend
            .put(self.table, self.scope.key_group, self.scope.key, &bytes)
    }

    /// Remove the value.
    ///
    /// # Errors
    /// Backend errors.
    pub fn clear(&mut self) -> Result<()> {
        self.backend
            .delete(self.table, self.scope.key_group, self.scope.key)
    }
}

/// A list of values per key, appended to in `O(encoded size of the new element)` (Flink
/// `ListState<T>`).
pub struct ListState<'a, T> {
    backend: &'a mut dyn StateBackend,
    table: TableId,
    scope: KeyScope<'a>,
    _t: PhantomData<fn() -> T>,
}

fn encode_element<T: Serialize>(value: &T, out: &mut Vec<u8>) -> Result<()> {
    let bytes = encode(value)?;
    let len = u32::try_from(bytes.len()).map_err(|_| {
        Error::Serde(format!(
            "list state element of {} bytes is too large",
            bytes.len()
        ))
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&bytes);
    Ok(())
}

impl<'a, T: Serialize + DeserializeOwned> ListState<'a, T> {
    /// The list state `name` of the key in `scope`.
    ///
    /// # Errors
    /// The backend cannot register the table.
    pub fn new(backend: &'a mut dyn StateBackend, name: &str, scope: KeyScope<'a>) -> Result<Self> {
        let table = backend.register_table(name)?;
        Ok(ListState {
            backend,
            table,
            scope,
            _t: PhantomData,
        })
    }

    /// Every element, in insertion order (empty if none).
    ///
    /// # Errors
    /// Backend errors; the stored bytes do not decode as a list of `T`.
    pub fn get(&self) -> Result<Vec<T>> {
        let Some(bytes) = self
            .backend
            .get(self.table, self.scope.key_group, self.scope.key)?
        else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let corrupt = || {
                Error::Serde(format!(
                    "list state: truncated element in {} bytes",
                    bytes.len()
                ))
            };
            let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
            let len = u32::from_le_bytes(*len) as usize;
            let (element, tail) = tail.split_at_checked(len).ok_or_else(corrupt)?;
            out.push(decode(element)?);
            rest = tail;
        }
        Ok(out)
    }

    /// Append one element.
    ///
    /// # Errors
    /// Backend errors; `value` does not encode.
    pub fn add(&mut self, value: &T) -> Result<()> {
        let mut bytes = Vec::new();
        encode_element(value, &mut bytes)?;
        self.backend
            .append(self.table, self.scope.key_group, self.scope.key, &bytes)
    }

    /// Append every element of `values`.
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn add_all(&mut self, values: &[T]) -> Result<()> {
        let mut bytes = Vec::new();
        for v in values {
            encode_element(v, &mut bytes)?;
        }
        self.backend
            .append(self.table, self.scope.key_group, self.scope.key, &bytes)
    }

    /// Replace the list with `values` (an empty slice clears it).
    ///
    /// # Errors
    /// As [`add`](Self::add).
    pub fn update(&mut self, values: &[T]) -> Result<()> {
        self.clear()?;
        if values.is_empty() {
            return Ok(());
        }
        self.add_all(values)
    }

    /// Remove every element.
    ///
    /// # Errors
    /// Backend errors.
    pub fn clear(&mut self) -> Result<()> {
        self.backend
            .delete(self.table, self.scope.key_group, self.scope.key)
    }
}

/// A map per key (Flink `MapState<K, V>`). Iteration order is the order of the encoded user
/// keys, which is not the order of `K`.
pub struct MapState<'a, K, V> {
    backend: &'a mut dyn StateBackend,
    table: TableId,
    key_group: usize,
    /// `u32 BE len(key) ++ key`: the prefix of every entry of this key.
    prefix: Vec<u8>,
    _kv: PhantomData<fn() -> (K, V)>,
}

impl<'a, K: Serialize + DeserializeOwned, V: Serialize + DeserializeOwned> MapState<'a, K, V> {
    /// The map state `name` of the key in `scope`.
    ///
    /// # Errors
    /// The backend cannot register the table, or the key is longer than `u32::MAX` bytes.
    pub fn new(backend: &'a mut dyn StateBackend, name: &str, scope: KeyScope<'_>) -> Result<Self> {
        let table = backend.register_table(name)?;
        let len = u32::try_from(scope.key.len()).map_err(|_| {
            Error::Internal(format!(
                "map state '{name}': key of {} bytes",
                scope.key.len()
            ))
        })?;
        let mut prefix = Vec::with_capacity(4 + scope.key.len());
        prefix.extend_from_slice(&len.to_be_bytes());
        prefix.extend_from_slice(scope.key);
        Ok(MapState {
            backend,
            table,
            key_group: scope.key_group,
            prefix,
            _kv: PhantomData,
        })
    }

    fn entry_key(&self, key: &K) -> Result<Vec<u8>> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(&encode(key)?);
        Ok(k)
    }

    /// The value under `key`.
    ///
    /// # Errors
    /// Backend errors; encoding or decoding fails.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        match self
            .backend
            .get(self.table, self.key_group, &self.entry_key(key)?)?
        {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Whether `key` has a value.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn contains(&self, key: &K) -> Result<bool> {
        Ok(self
            .backend
            .get(self.table, self.key_group, &self.entry_key(key)?)?
            .is_some())
    }

    /// Set the value under `key`.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn put(&mut self, key: &K, value: &V) -> Result<()> {
        let k = self.entry_key(key)?;
        self.backend
            .put(self.table, self.key_group, &k, &encode(value)?)
    }

    /// Remove `key`.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn remove(&mut self, key: &K) -> Result<()> {
        let k = self.entry_key(key)?;
        self.backend.delete(self.table, self.key_group, &k)
    }

    /// Every entry, in encoded-key order.
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn entries(&self) -> Result<Vec<(K, V)>> {
        let scanned = self
            .backend
            .scan_prefix(self.table, self.key_group, &self.prefix)?;
        scanned
            .into_iter()
            .map(|(k, v)| Ok((decode(&k[self.prefix.len()..])?, decode(&v)?)))
            .collect()
    }

    /// Whether the map of this key is empty.
    ///
    /// # Errors
    /// Backend errors.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self
            .backend
            .scan_prefix(self.table, self.key_group, &self.prefix)?
            .is_empty())
    }

    /// Remove every entry of this key.
    ///
    /// # Errors
    /// Backend errors.
    pub fn clear(&mut self) -> Result<()> {
        self.backend
            .delete_prefix(self.table, self.key_group, &self.prefix)
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::state::{KeyGroupRange, MemoryStateBackend};

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Point {
        x: f64,
        label: String,
    }

    #[test]
    fn value_state_is_scoped_to_its_key() {
        let mut b = MemoryStateBackend::new(KeyGroupRange::all(16));
        let alice = KeyScope {
            key_group: 3,
            key: b"alice",
        };
        let bob = KeyScope {
            key_group: 3,
            key: b"bob",
        };
        ValueState::<Point>::new(&mut b, "p", alice)
            .unwrap()
            .update(&Point {
                x: 1.5,
                label: "a".into(),
            })
            .unwrap();
        assert_eq!(
            ValueState::<Point>::new(&mut b, "p", bob)
                .unwrap()
                .value()
                .unwrap(),
            None
        );
        let mut s = ValueState::<Point>::new(&mut b, "p", alice).unwrap();
        assert_eq!(
            s.value().unwrap(),
            Some(Point {
                x: 1.5,
                label: "a".into()
            })
        );
        s.clear().unwrap();
        assert_eq!(s.value().unwrap(), None);
        assert_eq!(b.num_entries(), 0);
    }

    #[test]
    fn wrong_type_is_an_error_not_a_panic() {
        let mut b = MemoryStateBackend::new(KeyGroupRange::all(16));
        let k = KeyScope {
            key_group: 0,
            key: b"k",
        };
        ValueState::<String>::new(&mut b, "v", k)
            .unwrap()
            .update(&"hello".into())
            .unwrap();
        let e = ValueState::<Point>::new(&mut b, "v", k)
            .unwrap()
            .value()
            .unwrap_err();
        assert!(e.to_string().contains("Point"), "{e}");
    }

    #[test]
    fn list_state_appends_in_order() {
        let mut b = MemoryStateBackend::new(KeyGroupRange::all(16));
        let k = KeyScope {
            key_group: 1,
            key: b"k",
        };
        let mut l = ListState::<String>::new(&mut b, "l", k).unwrap();
        assert!(l.get().unwrap().is_empty());
        l.add(&"a".into()).unwrap();
        l.add_all(&["b".into(), String::new()]).unwrap();
        assert_eq!(
            l.get().unwrap(),
            vec!["a".to_string(), "b".into(), String::new()]
        );
        l.update(&["z".into()]).unwrap();
        assert_eq!(l.get().unwrap(), vec!["z".to_string()]);
        l.update(&[]).unwrap();
        assert!(l.get().unwrap().is_empty());
        assert_eq!(b.num_entries(), 0);
    }

    #[test]
    fn map_state_entries_do_not_leak_across_keys() {
        let mut b = MemoryStateBackend::new(KeyGroupRange::all(16));
        // "a" is a byte prefix of "ab": the length prefix keeps their maps apart.
        let a = KeyScope {
            key_group: 2,
            key: b"a",
        };
        let ab = KeyScope {
            key_group: 2,
            key: b"ab",
        };
        let mut m = MapState::<String, i64>::new(&mut b, "m", a).unwrap();
        m.put(&"x".into(), &1).unwrap();
        m.put(&"y".into(), &2).unwrap();
        m.put(&"x".into(), &3).unwrap();
        let mut n = MapState::<String, i64>::new(&mut b, "m", ab).unwrap();
        n.put(&"bx".into(), &9).unwrap();
        let m = MapState::<String, i64>::new(&mut b, "m", a).unwrap();
        let mut entries = m.entries().unwrap();
        entries.sort();
        assert_eq!(entries, vec![("x".to_string(), 3), ("y".to_string(), 2)]);
        assert_eq!(m.get(&"y".into()).unwrap(), Some(2));
        assert!(m.contains(&"x".into()).unwrap() && !m.contains(&"bx".into()).unwrap());
        let mut m = MapState::<String, i64>::new(&mut b, "m", a).unwrap();
        m.remove(&"y".into()).unwrap();
        assert_eq!(m.entries().unwrap().len(), 1);
        m.clear().unwrap();
        assert!(m.is_empty().unwrap());
        let n = MapState::<String, i64>::new(&mut b, "m", ab).unwrap();
        assert_eq!(n.entries().unwrap(), vec![("bx".to_string(), 9)]);
    }
}
