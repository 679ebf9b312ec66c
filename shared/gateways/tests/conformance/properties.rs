//! Properties of the parser and the de-duplication key, over generated forms.

use proptest::prelude::*;
use time::OffsetDateTime;
use webhook_core::{Fields, Node};
use webhook_iugu::dedup::dedup_key;
use webhook_iugu::form::parse_form;

/// Names as iugu uses them, plus characters that need escaping (no brackets: a bracket inside a
/// name cannot be told apart from nesting, in Rails as here).
fn name() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_ çã&=+%#./:-]{0,12}"
}

/// Any text value, including empty, spaces, `&`, `=`, `+`, `%`, and non-ASCII.
fn value() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 çãé&=+%#./:\\-]{0,16}"
}

/// A nested map of at most 3 levels with non-empty maps (an empty map has no form encoding).
fn fields() -> impl Strategy<Value = Fields> {
    let leaf = prop_oneof![
        4 => value().prop_map(Node::Text),
        1 => prop::collection::vec(value(), 1..4).prop_map(Node::List),
    ];
    let node = leaf.prop_recursive(2, 24, 4, |inner| {
        prop::collection::btree_map(name(), inner, 1..4).prop_map(|map| Node::Map(map.into()))
    });
    prop::collection::btree_map(name(), node, 1..6).prop_map(Fields::from)
}

/// Encodes fields as iugu does: `a[b][c]=v`, `a[]=v` for lists, every part percent-encoded.
fn encode(fields: &Fields) -> Vec<(String, String)> {
    fn walk(prefix: String, node: &Node, out: &mut Vec<(String, String)>) {
        match node {
            Node::Text(v) => out.push((prefix, v.clone())),
            Node::List(items) => items
                .iter()
                .for_each(|v| out.push((format!("{prefix}[]"), v.clone()))),
            Node::Map(map) => map
                .iter()
                .for_each(|(k, n)| walk(format!("{prefix}[{k}]"), n, out)),
        }
    }
    let mut out = Vec::new();
    for (k, n) in fields {
        walk(k.clone(), n, &mut out);
    }
    out
}

fn to_body(pairs: &[(String, String)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

fn invoice_body(data: &Fields, extra: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = Fields::new();
    all.insert("event".into(), Node::Text("invoice.status_changed".into()));
    let mut data = data.clone();
    data.insert("id".into(), Node::Text("INV1".into()));
    all.insert("data".into(), Node::Map(data));
    let mut pairs = encode(&all);
    pairs.extend_from_slice(extra);
    pairs
}

fn key_of(pairs: &[(String, String)]) -> String {
    webhook_iugu::parse(&to_body(pairs), OffsetDateTime::UNIX_EPOCH)
        .expect("generated bodies are valid")
        .dedup_key
}

/// The path of every leaf value in `fields`.
fn leaf_paths(fields: &Fields) -> Vec<Vec<String>> {
    fn walk(path: Vec<String>, node: &Node, out: &mut Vec<Vec<String>>) {
        match node {
            Node::Map(map) => map.iter().for_each(|(k, n)| {
                let mut p = path.clone();
                p.push(k.clone());
                walk(p, n, out);
            }),
            _ => out.push(path),
        }
    }
    let mut out = Vec::new();
    for (k, n) in fields {
        walk(vec![k.clone()], n, &mut out);
    }
    out
}

fn change_leaf(fields: &mut Fields, path: &[String]) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut map = fields;
    for p in parents {
        map = match map.get_mut(p) {
            Some(Node::Map(m)) => m,
            _ => unreachable!("paths come from leaf_paths"),
        };
    }
    match map.get_mut(last) {
        Some(Node::Text(v)) => v.push('x'),
        Some(Node::List(items)) => items.push("x".into()),
        _ => unreachable!("paths end at leaves"),
    }
}

proptest! {
    #[test]
    fn any_nested_map_parses_back_to_itself(fields in fields()) {
        let body = to_body(&encode(&fields));
        prop_assert_eq!(parse_form(&body).expect("valid body"), fields);
    }

    #[test]
    fn field_order_never_changes_the_key(data in fields(), seed in any::<u64>()) {
        let pairs = invoice_body(&data, &[]);
        // Fields move; the items of one list (`name[]`) keep their order, which is data.
        let mut groups: Vec<Vec<(String, String)>> = Vec::new();
        for pair in &pairs {
            match groups.last_mut() {
                Some(group) if group[0].0 == pair.0 => group.push(pair.clone()),
                _ => groups.push(vec![pair.clone()]),
            }
        }
        // A deterministic shuffle from the seed (Fisher-Yates with an LCG): proptest shrinks it.
        let mut s = seed;
        for i in (1..groups.len()).rev() {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            groups.swap(i, (s >> 33) as usize % (i + 1));
        }
        let shuffled: Vec<_> = groups.into_iter().flatten().collect();
        prop_assert_eq!(key_of(&pairs), key_of(&shuffled));
    }

    #[test]
    fn retry_count_never_changes_the_key(data in fields(), a in 0u32..100, b in 0u32..100) {
        let without = key_of(&invoice_body(&data, &[]));
        let first = key_of(&invoice_body(&data, &[("retry_count".into(), a.to_string())]));
        let second = key_of(&invoice_body(&data, &[("retry_count".into(), b.to_string())]));
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(&first, &without);
    }

    #[test]
    fn changing_any_data_value_always_changes_the_key(data in fields(), pick in any::<prop::sample::Index>()) {
        let paths = leaf_paths(&data);
        let path = pick.get(&paths);
        // `invoice_body` pins `data[id]`, so a change there (or under a generated `data[id][..]`,
        // which the pinned value replaces) would not reach the body.
        prop_assume!(path[0] != "id");
        let mut changed = data.clone();
        change_leaf(&mut changed, path);
        prop_assert_ne!(key_of(&invoice_body(&data, &[])), key_of(&invoice_body(&changed, &[])));
    }

    #[test]
    fn the_key_is_a_function_of_the_parsed_fields(fields in fields()) {
        let body = to_body(&encode(&fields));
        let parsed = parse_form(&body).expect("valid body");
        prop_assert_eq!(dedup_key("iugu", &parsed), dedup_key("iugu", &fields));
        prop_assert_ne!(dedup_key("iugu", &fields), dedup_key("ipag", &fields));
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = webhook_iugu::parse(&body, OffsetDateTime::UNIX_EPOCH);
    }

    #[test]
    fn arbitrary_form_like_text_never_panics(body in "[a-z\\[\\]=&%0-9A-F+.]{0,200}") {
        let _ = webhook_iugu::parse(body.as_bytes(), OffsetDateTime::UNIX_EPOCH);
    }
}
