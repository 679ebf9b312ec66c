//! A tree of named text fields: [`Fields`] (names to [`Node`]s, sorted by name), each a text,
//! a list of texts or a nested tree. The neutral shape of a gateway's data that is named text
//! (a form's fields, nested by their names) rather than JSON ([`crate::envelope::Data`]); what
//! the names mean is the gateway's.
//!
//! A notification has a few dozen fields at most, so the map is a `Vec` kept sorted by name
//! rather than a `BTreeMap`: one allocation per map instead of a node per few fields, a binary
//! search over contiguous entries, and the same order (bytewise by name) when iterated or
//! serialised, so the JSON, the de-duplication key and equality are those a `BTreeMap` gave.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Index;

use serde::{Deserialize, Serialize};

// This doc comment is `Node`'s description in schema/envelope.schema.json, which consumers read:
// changing it changes the schema.
/// One value of a form: a string, a list of strings (`name[]=a&name[]=b`) or a nested map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Node {
    Text(String),
    List(Vec<String>),
    Map(Fields),
}

impl Node {
    /// The string value, if this node is one.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Node::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The nested map, if this node is one.
    pub fn as_map(&self) -> Option<&Fields> {
        match self {
            Node::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// A map of field names to values, sorted by name (so equal forms compare and hash equal).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields {
    /// Sorted by name, names unique.
    entries: Vec<(String, Node)>,
}

impl Fields {
    pub const fn new() -> Self {
        Fields {
            entries: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, name: &str) -> Option<&Node> {
        let i = self.find(name).ok()?;
        Some(&self.entries[i].1)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut Node> {
        let i = self.find(name).ok()?;
        Some(&mut self.entries[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Sets `name` to `node`, returning the node it replaces, as `BTreeMap::insert` does.
    pub fn insert(&mut self, name: String, node: Node) -> Option<Node> {
        match self.find(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, node)),
            Err(i) => {
                self.entries.insert(i, (name, node));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Node> {
        let i = self.find(name).ok()?;
        Some(self.entries.remove(i).1)
    }

    /// Keeps the fields for which `keep(name, node)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &mut Node) -> bool) {
        self.entries.retain_mut(|(name, node)| keep(name, node));
    }

    /// The fields in name order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// An empty map with room for `capacity` fields.
    pub fn with_capacity(capacity: usize) -> Self {
        Fields {
            entries: Vec::with_capacity(capacity),
        }
    }

    /// The node under `name`, added by `make` when there is none: one search either way.
    pub fn get_or_insert_with(&mut self, name: &str, make: impl FnOnce() -> Node) -> &mut Node {
        let i = match self.find(name) {
            Ok(i) => i,
            Err(i) => {
                self.entries.insert(i, (name.to_owned(), make()));
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Adds `name` with `node` when absent (one search); otherwise gives `node` back with the
    /// node `name` has.
    pub fn try_insert(&mut self, name: &str, node: Node) -> Result<(), (Node, &Node)> {
        match self.find(name) {
            Ok(i) => Err((node, &self.entries[i].1)),
            Err(i) => {
                self.entries.insert(i, (name.to_owned(), node));
                Ok(())
            }
        }
    }

    /// Where `name` is, or where it would go.
    fn find(&self, name: &str) -> Result<usize, usize> {
        // Names are short and mostly differ in their first bytes: comparing bytes in line
        // costs less than a call to `memcmp` per probe. Same order as `str`'s.
        self.entries
            .binary_search_by(|(have, _)| have.bytes().cmp(name.bytes()))
    }
}

/// Panics when `name` is absent, as `BTreeMap`'s does: for tests; code uses [`Fields::get`].
#[allow(clippy::panic, reason = "Index cannot return None; code uses get")]
impl Index<&str> for Fields {
    type Output = Node;

    fn index(&self, name: &str) -> &Node {
        match self.get(name) {
            Some(node) => node,
            None => panic!("no field `{name}`"),
        }
    }
}

/// The fields of a map, in name order.
#[derive(Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (String, Node)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a Node);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(name, node)| (name, node))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(name, node)| (name, node))
    }
}

impl<'a> IntoIterator for &'a Fields {
    type Item = (&'a String, &'a Node);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Fields {
    type Item = (String, Node);
    type IntoIter = std::vec::IntoIter<(String, Node)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// Like collecting into a `BTreeMap`: sorted by name, and the last of equal names wins.
impl FromIterator<(String, Node)> for Fields {
    fn from_iter<I: IntoIterator<Item = (String, Node)>>(iter: I) -> Self {
        let sorted: BTreeMap<String, Node> = iter.into_iter().collect();
        Fields {
            entries: sorted.into_iter().collect(),
        }
    }
}

impl From<BTreeMap<String, Node>> for Fields {
    fn from(map: BTreeMap<String, Node>) -> Self {
        Fields {
            entries: map.into_iter().collect(),
        }
    }
}

/// `{"name": node, ...}`, as a `BTreeMap` prints.
impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A JSON object in name order, as a `BTreeMap` serialises.
impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BTreeMap::<String, Node>::deserialize(d).map(Fields::from)
    }
}
