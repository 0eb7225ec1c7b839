//! Tests of the `csv_split` module.

use arrow::util::pretty::pretty_format_batches;

use super::*;

fn schema(types: &[DataType]) -> SchemaRef {
    Arc::new(Schema::new(
        types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("c{i}"), t.clone(), true))
            .collect::<Vec<_>>(),
    ))
}

fn decode(types: &[DataType], fields: usize, wanted: &[usize], text: &str) -> String {
    let mut d = SplitDecoder::new(b',', fields, wanted, schema(types), 100).unwrap();
    let used = d.decode(text.as_bytes()).unwrap();
    assert_eq!(used, Some(text.len()));
    let b = d.flush().unwrap().unwrap();
    pretty_format_batches(&[b]).unwrap().to_string()
}

#[test]
fn reads_each_type_as_arrow_does() {
    let types = [
        DataType::Int64,
        DataType::Utf8,
        DataType::Float64,
        DataType::Boolean,
        DataType::Decimal128(10, 2),
        DataType::Date32,
    ];
    let out = decode(
        &types,
        7,
        &[0, 1, 2, 3, 4, 6],
        "1,a,1.5,true,3.14,skip,2020-01-02\n,,,,,x,\n-7,é,1e3,FALSE,-2,y,1970-01-01",
    );
    let want = "\
+----+----+--------+-------+-------+------------+
| c0 | c1 | c2     | c3    | c4    | c5         |
+----+----+--------+-------+-------+------------+
| 1  | a  | 1.5    | true  | 3.14  | 2020-01-02 |
|    |    |        |       |       |            |
| -7 | é  | 1000.0 | false | -2.00 | 1970-01-01 |
+----+----+--------+-------+-------+------------+";
    assert_eq!(out, want);
}

#[test]
fn reads_timestamps_in_flinks_layout_and_others_as_arrow_does() {
    let t = [DataType::Timestamp(TimeUnit::Millisecond, None)];
    let out = decode(
        &t,
        2,
        &[1],
        "a,2015-07-15 00:00:00.123\nb,\nc,2000-02-29T23:59:59\nd,1969-12-31 23:59:59.5\n",
    );
    let want = "\
+-------------------------+
| c0                      |
+-------------------------+
| 2015-07-15T00:00:00.123 |
|                         |
| 2000-02-29T23:59:59     |
| 1969-12-31T23:59:59.500 |
+-------------------------+";
    assert_eq!(out, want);
    for bad in ["2015-02-30 00:00:00.000", "noon"] {
        let mut d = SplitDecoder::new(b',', 1, &[0], schema(&t), 10).unwrap();
        assert!(d.decode(format!("{bad}\n").as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn plain_integers_read_as_parse_decimal_reads_them() {
    let mut texts: Vec<String> = ["0", "-0", "7", "-42", "000123", "999999999999999999"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 19) as usize;
        let digits: String = (0..len)
            .map(|i| char::from(b'0' + ((x >> i) % 10) as u8))
            .collect();
        texts.push(if x.is_multiple_of(3) {
            format!("-{digits}")
        } else {
            digits
        });
    }
    for s in &texts {
        for (p, sc) in [(23u8, 3i8), (10, 2), (38, 0), (5, 5), (18, 18)] {
            let arrow = parse_decimal::<Decimal128Type>(s, p, sc).ok();
            let fast = plain_integer(s.as_bytes(), p, sc);
            if fast.is_some() {
                assert_eq!(fast, arrow, "{s:?} as ({p}, {sc})");
            }
        }
    }
    assert_eq!(plain_integer(b"1150481", 23, 3), Some(1_150_481_000));
    for other in ["", "-", "1.5", "+1", "1e3", " 1", "12345678901234567890"] {
        assert_eq!(plain_integer(other.as_bytes(), 23, 3), None, "{other:?}");
    }
}

#[test]
fn stops_at_the_batch_size_and_continues() {
    let mut d = SplitDecoder::new(b',', 2, &[1], schema(&[DataType::Int64]), 2).unwrap();
    let text = b"a,1\n\nb,2\nc,3\n";
    let used = d.decode(text).unwrap().unwrap();
    assert_eq!(used, b"a,1\n\nb,2\n".len());
    assert_eq!(d.capacity(), 0);
    assert_eq!(d.flush().unwrap().unwrap().num_rows(), 2);
    assert_eq!(d.decode(&text[used..]).unwrap(), Some(4));
    assert_eq!(d.flush().unwrap().unwrap().num_rows(), 1);
    assert!(d.flush().unwrap().is_none());
}

#[test]
fn bad_values_and_lines_are_errors() {
    let t = [DataType::Int64];
    let mut d = SplitDecoder::new(b',', 2, &[0], schema(&t), 10).unwrap();
    let err = d.decode(b"x,1\n").unwrap_err().to_string();
    assert!(err.contains("'x' as type 'Int64'"), "{err}");
    let mut d = SplitDecoder::new(b',', 2, &[0], schema(&t), 10).unwrap();
    let err = d.decode(b"1,2,3\n").unwrap_err().to_string();
    assert!(err.contains("expected 2 got 3"), "{err}");
    let mut d = SplitDecoder::new(b',', 2, &[0], schema(&[DataType::Utf8]), 10).unwrap();
    let err = d.decode(b"ok,x\nok,\xff\xfe\n").unwrap_err().to_string();
    assert!(
        err.contains("not UTF-8"),
        "invalid UTF-8, even in a field not read: {err}"
    );
    let mut d = SplitDecoder::new(b',', 1, &[0], schema(&[DataType::Boolean]), 10).unwrap();
    assert!(d.decode(b"yes\n").is_err());
}

#[test]
fn not_null_columns_refuse_empty_fields() {
    let s = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, false)]));
    let mut d = SplitDecoder::new(b',', 2, &[0], s, 10).unwrap();
    d.decode(b",1\n").unwrap();
    assert!(d.flush().is_err());
}

#[test]
fn lines_that_are_not_simple_are_left_alone() {
    let t = [DataType::Int64, DataType::Utf8];
    for text in [&b"1,\"a,b\"\n"[..], b"1,a\r\n", b"1,\"a\"\n"] {
        let mut d = SplitDecoder::new(b',', 2, &[0, 1], schema(&t), 10).unwrap();
        assert_eq!(
            d.decode(text).unwrap(),
            None,
            "{:?}",
            String::from_utf8_lossy(text)
        );
        assert!(d.flush().unwrap().is_none());
    }
}

#[test]
fn other_types_are_left_to_arrow() {
    let t = [DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))];
    assert!(SplitDecoder::new(b',', 1, &[0], schema(&t), 10).is_none());
}
