//! Calendar arithmetic, timestamp text and Java patterns.

use crate::sql::expr::datetime::*;
use crate::sql::expr::pattern::JavaPattern;

fn ts(s: &str) -> i64 {
    parse_timestamp(s).unwrap().0
}

#[test]
fn civil_round_trip() {
    for days in [-800_000i64, -1, 0, 1, 59, 365, 10_957, 18_262, 2_932_896] {
        let (y, m, d) = civil_from_days(days);
        assert_eq!(days_from_civil(y, m, d), days);
    }
    assert_eq!(civil_from_days(0), (1970, 1, 1));
    assert_eq!(civil_from_days(18_262), (2020, 1, 1));
    assert_eq!(civil_from_days(-1), (1969, 12, 31));
}

#[test]
fn fields_and_weeks() {
    let f = Fields::of(ts("2020-01-01 13:14:15.678"));
    assert_eq!((f.year, f.month, f.day), (2020, 1, 1));
    assert_eq!((f.hour, f.minute, f.second, f.milli), (13, 14, 15, 678));
    assert_eq!(f.day_of_week(), 4); // Wednesday
    assert_eq!(f.iso_week(), 1);
    assert_eq!(Fields::of(ts("2021-01-03 00:00:00")).iso_week(), 53);
    assert_eq!(Fields::of(ts("2019-12-30 00:00:00")).iso_week(), 1);
    assert_eq!(Fields::of(ts("2020-12-31 00:00:00")).day_of_year(), 366);
    let before = Fields::of(-1);
    assert_eq!((before.year, before.hour, before.milli), (1969, 23, 999));
}

#[test]
fn timestamp_text_forms() {
    assert_eq!(parse_timestamp("1970-01-01 00:00:01"), Some((1000, 0)));
    assert_eq!(parse_timestamp("1970-01-01T00:00:00.5"), Some((500, 1)));
    assert_eq!(parse_timestamp("1970-01-02"), Some((MS_PER_DAY, 0)));
    assert_eq!(
        parse_timestamp("1970-01-01 00:00:00.123456"),
        Some((123, 6))
    );
    assert_eq!(parse_timestamp("2020-02-30 00:00:00"), None);
    assert_eq!(parse_timestamp("2020-01-01 24:00:00"), None);
    assert_eq!(parse_timestamp("abc"), None);
    assert_eq!(parse_date("2020-01-01"), Some(18_262));
    assert_eq!(parse_date("2020-01-01 00:00"), None);
    let mut s = String::new();
    format_timestamp(ts("2020-01-01 00:00:00"), 3, &mut s);
    assert_eq!(s, "2020-01-01 00:00:00.000");
    s.clear();
    format_timestamp(ts("2020-01-01 00:00:00.120"), 0, &mut s);
    assert_eq!(s, "2020-01-01 00:00:00.12");
    s.clear();
    format_timestamp(ts("2020-01-01 00:00:00"), 0, &mut s);
    assert_eq!(s, "2020-01-01 00:00:00");
    s.clear();
    format_interval(90_061_500, &mut s);
    assert_eq!(s, "+1 01:01:01.500");
}

#[test]
fn java_patterns_format_and_parse() {
    let t = ts("2020-03-04 05:06:07.089");
    let fmt = |p: &str| {
        let mut s = String::new();
        JavaPattern::compile(p).unwrap().format(t, &mut s);
        s
    };
    assert_eq!(fmt("yyyy-MM-dd"), "2020-03-04");
    assert_eq!(fmt("yyyy-MM-dd HH:mm:ss.SSS"), "2020-03-04 05:06:07.089");
    assert_eq!(fmt("yy/M/d h a"), "20/3/4 5 AM");
    assert_eq!(
        fmt("EEE, d MMM yyyy 'at' HH''mm"),
        "Wed, 4 Mar 2020 at 05'06"
    );
    assert_eq!(fmt("EEEE MMMM D"), "Wednesday March 64");
    assert_eq!(fmt("yyyyMMddHHmmss"), "20200304050607");
    assert!(JavaPattern::compile("yyyy-MM-dd T").is_err());
    assert!(JavaPattern::compile("'open").is_err());

    let parse = |p: &str, s: &str| JavaPattern::compile(p).unwrap().parse(s);
    assert_eq!(
        parse("yyyy-MM-dd HH:mm:ss", "2020-03-04 05:06:07"),
        Some(ts("2020-03-04 05:06:07"))
    );
    assert_eq!(
        parse("yyyyMMddHHmmss", "20200304050607"),
        Some(ts("2020-03-04 05:06:07"))
    );
    assert_eq!(
        parse("dd/MMM/yyyy hh:mm a", "04/mar/2020 05:06 PM"),
        Some(ts("2020-03-04 17:06:00"))
    );
    assert_eq!(
        parse("yyyy-MM-dd", "2020-03-04"),
        Some(ts("2020-03-04 00:00:00"))
    );
    assert_eq!(
        parse("yyyy-MM-dd HH:mm:ss.SSS", "2020-03-04 05:06:07.8"),
        Some(ts("2020-03-04 05:06:07.800"))
    );
    assert_eq!(
        parse("yyyy-MM-dd'T'HH:mm:ssXXX", "2020-03-04T05:06:07+01:00"),
        Some(ts("2020-03-04 04:06:07"))
    );
    assert_eq!(parse("yyyy-MM-dd", "2020-13-04"), None);
    assert_eq!(parse("yyyy-MM-dd", "2020-03-04x"), None);
}

#[test]
fn unit_arithmetic() {
    let t = ts("2020-01-31 10:00:00");
    assert_eq!(
        add_units(t, TimeUnit::Month, 1),
        Some(ts("2020-02-29 10:00:00"))
    );
    assert_eq!(
        add_units(t, TimeUnit::Year, -1),
        Some(ts("2019-01-31 10:00:00"))
    );
    assert_eq!(
        add_units(t, TimeUnit::Hour, 2),
        Some(ts("2020-01-31 12:00:00"))
    );
    // Months count as in Flink (Calcite's subtractMonths), each checked against Flink 2.3:
    // Jan 31 + 1 month is Feb 29, so that is one whole month.
    assert_eq!(diff_units(TimeUnit::Month, t, ts("2020-02-29 10:00:00")), 1);
    assert_eq!(
        diff_units(TimeUnit::Month, t, ts("2020-02-29 09:59:59.999")),
        0
    );
    assert_eq!(
        diff_units(
            TimeUnit::Month,
            ts("2020-03-31 00:00:00"),
            ts("2020-02-29 00:00:00")
        ),
        -1
    );
    // The time of day is compared only when the days line up, and then even backwards.
    assert_eq!(
        diff_units(
            TimeUnit::Month,
            ts("2021-02-01 12:00:00"),
            ts("2021-01-01 00:00:00")
        ),
        -2
    );
    assert_eq!(
        diff_units(
            TimeUnit::Month,
            ts("2021-01-01 12:00:00"),
            ts("2021-02-01 00:00:00")
        ),
        0
    );
    assert_eq!(
        diff_units(
            TimeUnit::Quarter,
            ts("2021-02-01 00:00:00"),
            ts("2020-01-01 12:00:00")
        ),
        -4
    );
    assert_eq!(
        diff_units(
            TimeUnit::Year,
            ts("2021-02-01 00:00:00"),
            ts("2020-01-01 12:00:00")
        ),
        -1
    );
    assert_eq!(diff_units(TimeUnit::Month, t, ts("2020-03-31 10:00:00")), 2);
    assert_eq!(
        diff_units(TimeUnit::Month, ts("2020-03-31 10:00:00"), t),
        -2
    );
    assert_eq!(diff_units(TimeUnit::Day, t, ts("2020-02-02 09:00:00")), 1);
    assert_eq!(diff_units(TimeUnit::Year, t, ts("2022-01-31 10:00:00")), 2);
    assert_eq!(
        floor_to(ts("2020-05-17 10:11:12"), TimeUnit::Quarter),
        ts("2020-04-01 00:00:00")
    );
    assert_eq!(
        floor_to(ts("2020-05-17 10:11:12"), TimeUnit::Hour),
        ts("2020-05-17 10:00:00")
    );
    assert_eq!(
        floor_to(ts("2020-05-17 10:11:12"), TimeUnit::Week),
        ts("2020-05-11 00:00:00")
    );
    assert_eq!(
        ceil_to(ts("2020-05-17 10:11:12"), TimeUnit::Day),
        Some(ts("2020-05-18 00:00:00"))
    );
    assert_eq!(
        ceil_to(ts("2020-05-01 00:00:00"), TimeUnit::Month),
        Some(ts("2020-05-01 00:00:00"))
    );
    assert_eq!(
        ceil_to(ts("2020-05-02 00:00:00"), TimeUnit::Year),
        Some(ts("2021-01-01 00:00:00"))
    );
}
