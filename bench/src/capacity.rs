//! DynamoDB's capacity rules, to turn the items a request wrote or read into the units it is
//! billed (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
//! "Item sizes and formats" and "Read and write capacity units", read 2026-11-28). The local
//! server does not report real consumed capacity (moto answers a constant), so the units are
//! computed from the real items with these rules.
//!
//! - An item's size: the UTF-8 length of every attribute name plus its value's size. A string
//!   is its UTF-8 length; a number about (significant digits / 2) + 1 bytes; a boolean or
//!   null 1 byte; a list or map 3 bytes plus 1 per element plus its elements (a map's keys
//!   count as names); a set the sum of its elements.
//! - A standard write is one write unit per started KiB of the item (the larger of before and
//!   after, for an update); a transactional write, two. A write to a global secondary index
//!   costs one unit per started KiB of the index entry, in addition.
//! - A strongly consistent read is one read unit per started 4 KiB (an item that does not exist
//!   still costs one); a query sums the sizes it returns before rounding. An eventually
//!   consistent read (the only kind a global secondary index serves) costs half.
//! - A conditional write whose condition fails is still charged, by the larger of the item there
//!   and the one attempted; a cancelled transaction too
//!   (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html,
//!   read 2026-11-28).

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The size of a number: (significant digits, rounded up to even, / 2) + 1.
fn number_size(text: &str) -> usize {
    let digits: String = text
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect::<String>()
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_owned();
    digits.len().max(1).div_ceil(2) + 1
}

pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units of a standard write of an item of `size` bytes.
pub fn write_units(size: usize) -> usize {
    size.div_ceil(1024).max(1)
}

/// Read units of a strongly consistent read of `size` bytes (of one item, or a query's sum).
pub fn read_units(size: usize) -> usize {
    size.div_ceil(4096).max(1)
}

/// Read units of an eventually consistent read of `size` bytes: half a strongly consistent
/// one's (a global secondary index is only read this way).
pub fn eventually_consistent_read_units(size: usize) -> f64 {
    read_units(size) as f64 / 2.0
}

/// The size of `item`'s entry in an index that projects `attributes` (keys included).
pub fn index_entry_size(item: &Item, attributes: &[&str]) -> usize {
    attributes
        .iter()
        .filter_map(|name| item.get(*name).map(|v| name.len() + value_size(v)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_published_rules() {
        // "a string of 5 characters named 'name'": 4 + 5.
        let item = Item::from([("name".to_owned(), AttributeValue::S("abcde".to_owned()))]);
        assert_eq!(item_size(&item), 9);
        // Numbers: 1 significant digit = 2 bytes; 12345 = 4; trailing zeros do not count.
        assert_eq!(number_size("7"), 2);
        assert_eq!(number_size("12345"), 4);
        assert_eq!(number_size("1000"), 2);
        // Map: 3 + per element 1 + key + value.
        let map = AttributeValue::M(HashMap::from([(
            "1".to_owned(),
            AttributeValue::S("x".repeat(27)),
        )]));
        assert_eq!(value_size(&map), 3 + 1 + 1 + 27);
        assert_eq!(value_size(&AttributeValue::L(vec![])), 3);
        assert_eq!(value_size(&AttributeValue::Bool(true)), 1);
    }

    #[test]
    fn units_round_up_per_kib_and_4_kib() {
        assert_eq!(write_units(1), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_units(0), 1, "a read of nothing still costs one");
        assert_eq!(read_units(4097), 2);
    }

    /// The worked examples of AWS's pages, as printed there: "DynamoDB read and write
    /// operations" (developer guide, read-write-operations.html) and "Pricing for Provisioned
    /// Capacity" / on-demand (aws.amazon.com/dynamodb/pricing), read 2026-11-28.
    #[test]
    fn the_published_examples_come_out_as_published() {
        const KB: usize = 1024;
        // "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item".
        assert_eq!(read_units(3_500), read_units(4 * KB));
        // "a strongly consistent read request of an 8 KB item requires two read request units,
        // an eventually consistent read of an 8 KB item requires one".
        assert_eq!(read_units(8 * KB), 2);
        assert_eq!(eventually_consistent_read_units(8 * KB), 1.0);
        // "For items up to 4 KB in size, an eventually consistent read request requires
        // one-half read request unit".
        assert_eq!(eventually_consistent_read_units(3_500), 0.5);
        // BatchGetItem of 1.5 KB and 6.5 KB: "DynamoDB calculates the size as 12 KB (4 KB + 8
        // KB)": each item rounded on its own.
        assert_eq!(read_units(1_536) + read_units(6_656), 3);
        // A Query returning 40.8 KB in all: "rounds the item size for the operation to 44 KB".
        assert_eq!(read_units(41_779), 11);
        // "a standard write request of a 3 KB item would require three WCUs, and a
        // transactional write request of a 3 KB item would require six".
        assert_eq!(write_units(3 * KB), 3);
        assert_eq!(2 * write_units(3 * KB), 6);
        // "writing a 500-byte item consumes the same throughput as writing a 1 KB item"; "if you
        // put or delete an item of 1.6 KB, DynamoDB rounds the item size up to 2 KB".
        assert_eq!(write_units(500), 1);
        assert_eq!(write_units(1_638), 2);
        // A failed conditional write: "an existing item is 300 KB. The new item you're trying to
        // create or update is 310 KB. The write capacity units consumed will be 310".
        assert_eq!(write_units((300 * KB).max(310 * KB)), 310);
    }
}
