//! Built-in functions: strings, time, math.

use super::{one, row, typed};
use crate::sql::types::SqlType;

#[test]
fn case_and_length() {
    assert_eq!(row("UPPER(channel)"), "APPLE|GOOGLE|-|OTHER");
    assert_eq!(row("LOWER(channel)"), "apple|google|-|other");
    assert_eq!(one("UPPER('straße é')"), "STRASSE É");
    assert_eq!(one("LOWER('ÀB')"), "àb");
    assert_eq!(row("INITCAP(s)"), "  Hi  |Hello World|-|A,B,,C");
    assert_eq!(one("INITCAP('hELLO wORLD-fOO')"), "Hello World-Foo");
    // Only ASCII letters and digits make words, as in Flink 2.3 (tests/slt/strings.slt).
    assert_eq!(one("INITCAP('straße ünïcode 2ND')"), "StraßE üNïCode 2nd");
    assert_eq!(row("CHAR_LENGTH(s)"), "6|11|-|6");
    assert_eq!(one("CHARACTER_LENGTH('héllo')"), "5");
    assert_eq!(typed("CHAR_LENGTH(s)").ty(), SqlType::Int);
    assert_eq!(typed("UPPER('abc')").ty(), SqlType::Char(3));
}

#[test]
fn trims() {
    assert_eq!(row("TRIM(s)"), "hi|Hello World|-|a,b,,c");
    assert_eq!(row("LTRIM(s)"), "hi  |Hello World|-|a,b,,c");
    assert_eq!(row("RTRIM(s)"), "  hi|Hello World|-|a,b,,c");
    assert_eq!(one("TRIM(BOTH 'x' FROM 'xxabxx')"), "ab");
    assert_eq!(one("TRIM(LEADING 'x' FROM 'xxabxx')"), "abxx");
    assert_eq!(one("TRIM(TRAILING 'x' FROM 'xxabxx')"), "xxab");
    assert_eq!(one("TRIM('x' FROM 'xaxx')"), "a");
    assert_eq!(one("BTRIM('  a  ')"), "a");
}

#[test]
fn substrings_and_positions() {
    assert_eq!(row("SUBSTRING(channel FROM 2 FOR 3)"), "ppl|oog|-|the");
    assert_eq!(row("SUBSTRING(channel FROM 3)"), "ple|ogle|-|her");
    assert_eq!(row("SUBSTR(channel, 2, 2)"), "pp|oo|-|th");
    assert_eq!(row("SUBSTR(channel, -2)"), "le|le|-|er");
    assert_eq!(one("SUBSTRING('hello', 0, 2)"), "he");
    assert_eq!(one("SUBSTRING('hello', 2, -1)"), "NULL");
    assert_eq!(one("SUBSTR('héllo', 2, 3)"), "éll");
    assert_eq!(row("POSITION('l' IN channel)"), "4|5|-|0");
    assert_eq!(row("LOCATE('o', channel)"), "0|2|-|1");
    assert_eq!(row("LOCATE('o', channel, 3)"), "0|3|-|0");
    assert_eq!(one("INSTR('hello', 'll')"), "3");
    assert_eq!(typed("POSITION('l' IN channel)").ty(), SqlType::Int);
    assert_eq!(row("LEFT(channel, 2)"), "Ap|Go|-|ot");
    assert_eq!(row("RIGHT(channel, 2)"), "le|le|-|er");
    assert_eq!(one("LEFT('abc', -1)"), "");
}

#[test]
fn concatenation() {
    assert_eq!(
        row("channel || '-' || extra"),
        "Apple-abcabc|Google-|-|other-ccc"
    );
    assert_eq!(
        row("CONCAT(channel, '/', extra)"),
        "Apple/abcabc|Google/|-|other/ccc"
    );
    assert_eq!(
        row("CONCAT_WS('/', channel, s, 'z')"),
        "Apple/  hi  /z|Google/Hello World/z|z|other/a,b,,c/z"
    );
    assert_eq!(one("CONCAT_WS(NULL, 'a')"), "NULL");
    assert_eq!(typed("'ab' || 'cde'").ty(), SqlType::Char(5));
    assert_eq!(typed("CONCAT(channel, 'x')").ty(), SqlType::STRING);
    assert!(!typed("CONCAT_WS('/', channel)").nullable());
}

#[test]
fn replace_and_split() {
    assert_eq!(row("REPLACE(extra, 'c', '')"), "abab||-|");
    assert_eq!(row("REPLACE(extra, 'bc', 'XY')"), "aXYaXY||-|ccc");
    assert_eq!(one("REPLACE('abc', '', '-')"), "-a-b-c-");
    assert_eq!(row("SPLIT_INDEX(s, ',', 2)"), "-|-|-|");
    assert_eq!(row("SPLIT_INDEX(s, ',', 3)"), "-|-|-|c");
    assert_eq!(row("SPLIT_INDEX(s, ',', 0)"), "  hi  |Hello World|-|a");
    assert_eq!(one("SPLIT_INDEX('a,b', ',', -1)"), "NULL");
    assert!(typed("SPLIT_INDEX(channel, ',', 0)").nullable());
    // A folded constant knows it is not NULL.
    assert!(!typed("SPLIT_INDEX('a,b', ',', 0)").nullable());
}

#[test]
fn regular_expressions() {
    assert_eq!(
        one("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)"),
        "bar"
    );
    assert_eq!(
        one("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)')"),
        "foothebar"
    );
    assert_eq!(
        one("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 5)"),
        "NULL"
    );
    assert_eq!(one("REGEXP_EXTRACT('abc', 'x(y)?')"), "NULL");
    assert_eq!(row("REGEXP_EXTRACT(s, '[a-z]+', 0)"), "hi|ello|-|a");
    assert_eq!(row("REGEXP_EXTRACT(channel, s)"), "-|-|-|-");
    assert_eq!(row("REGEXP_REPLACE(extra, 'c+', '$1')"), "ab$1ab$1||-|$1");
    assert_eq!(row("REGEXP(channel, '^[A-Z]')"), "TRUE|TRUE|-|FALSE");
    assert_eq!(row("channel REGEXP 'gl'"), "FALSE|TRUE|-|FALSE");
    assert_eq!(one("REGEXP('abc', '')"), "FALSE");
}

#[test]
fn padding_reverse_repeat() {
    assert_eq!(one("LPAD('hi', 4, '??')"), "??hi");
    assert_eq!(one("LPAD('hi', 1, '??')"), "h");
    assert_eq!(one("RPAD('hi', 5, 'ab')"), "hiaba");
    assert_eq!(one("RPAD('hi', -1, 'ab')"), "NULL");
    assert_eq!(one("LPAD('hi', 3, '')"), "NULL");
    assert_eq!(row("REVERSE(channel)"), "elppA|elgooG|-|rehto");
    assert_eq!(one("REPEAT('ab', 3)"), "ababab");
}

#[test]
fn date_parts() {
    assert_eq!(row("HOUR(date_time)"), "8|19|-|23");
    assert_eq!(typed("HOUR(date_time)").ty(), SqlType::BigInt);
    assert_eq!(row("MINUTE(date_time)"), "30|0|-|59");
    assert_eq!(row("SECOND(date_time)"), "0|0|-|59");
    assert_eq!(row("YEAR(date_time)"), "2020|2020|-|2021");
    assert_eq!(row("QUARTER(date_time)"), "1|2|-|4");
    assert_eq!(row("MONTH(date_time)"), "1|6|-|12");
    assert_eq!(row("WEEK(date_time)"), "1|25|-|52");
    assert_eq!(row("DAYOFMONTH(date_time)"), "1|15|-|31");
    assert_eq!(row("DAYOFYEAR(date_time)"), "1|167|-|365");
    assert_eq!(row("DAYOFWEEK(date_time)"), "4|2|-|6");
    assert_eq!(row("EXTRACT(YEAR FROM dt)"), "2020|2020|-|1969");
    assert_eq!(row("EXTRACT(DAY FROM dt)"), "1|29|-|31");
    assert_eq!(row("EXTRACT(MILLISECOND FROM date_time)"), "123|0|-|59999");
    assert_eq!(row("EXTRACT(DOW FROM date_time)"), "4|2|-|6");
    assert_eq!(
        one("EXTRACT(EPOCH FROM TIMESTAMP '1970-01-02 00:00:00')"),
        "86400"
    );
    assert_eq!(
        typed("EXTRACT(HOUR FROM date_time)").to_string(),
        "EXTRACT(HOUR FROM date_time)"
    );
}

#[test]
fn date_format_patterns() {
    assert_eq!(
        row("DATE_FORMAT(date_time, 'yyyy-MM-dd HH:mm:ss.SSS')"),
        "2020-01-01 08:30:00.123|2020-06-15 19:00:00.000|-|2021-12-31 23:59:59.999"
    );
    assert_eq!(
        row("DATE_FORMAT(date_time, 'HH:mm')"),
        "08:30|19:00|-|23:59"
    );
    assert_eq!(
        row("DATE_FORMAT(dt, 'yyyyMMdd')"),
        "20200101|20200229|-|19691231"
    );
    assert_eq!(
        one("DATE_FORMAT('2020-01-02 03:04:05', 'yyyy/MM/dd')"),
        "2020/01/02"
    );
    assert_eq!(one("DATE_FORMAT('garbage', 'yyyy')"), "NULL");
    assert_eq!(row("DATE_FORMAT(date_time, s)"), "-|-|-|-");
}

#[test]
fn timestamp_arithmetic_functions() {
    assert_eq!(
        row("TIMESTAMPADD(HOUR, 2, date_time)"),
        "2020-01-01 10:30:00.123|2020-06-15 21:00:00.000|-|2022-01-01 01:59:59.999"
    );
    assert_eq!(
        row("TIMESTAMPADD(MONTH, 1, dt)"),
        "2020-02-01|2020-03-29|-|1970-01-31"
    );
    assert_eq!(typed("TIMESTAMPADD(DAY, 1, dt)").ty(), SqlType::Date);
    assert_eq!(
        row("TIMESTAMPDIFF(DAY, TIMESTAMP '2020-01-01 00:00:00', date_time)"),
        "0|166|-|730"
    );
    assert_eq!(row("TIMESTAMPDIFF(MONTH, dt, date_time)"), "0|3|-|624");
    assert_eq!(
        typed("TIMESTAMPDIFF(SECOND, dt, date_time)").ty(),
        SqlType::Int
    );
    assert_eq!(
        row("FLOOR(date_time TO HOUR)"),
        "2020-01-01 08:00:00.000|2020-06-15 19:00:00.000|-|2021-12-31 23:00:00.000"
    );
    assert_eq!(
        row("CEIL(date_time TO DAY)"),
        "2020-01-02 00:00:00.000|2020-06-16 00:00:00.000|-|2022-01-01 00:00:00.000"
    );
    assert_eq!(
        row("FLOOR(dt TO MONTH)"),
        "2020-01-01|2020-02-01|-|1969-12-01"
    );
    // Out-of-range results are NULL, never a panic.
    assert_eq!(
        one("TIMESTAMPADD(YEAR, 9000000000000, TIMESTAMP '2020-01-01 00:00:00')"),
        "NULL"
    );
    assert_eq!(
        one("TIMESTAMPADD(SECOND, 9223372036854775807, TIMESTAMP '2020-01-01 00:00:00')"),
        "NULL"
    );
    assert_eq!(one("TO_TIMESTAMP_LTZ(9223372036854775807, 0)"), "NULL");
    assert_eq!(one("DATE '2020-01-01' + INTERVAL '1' HOUR"), "2020-01-01");
}

#[test]
fn parsing_and_unix_time() {
    assert_eq!(
        one("TO_TIMESTAMP('2020-01-02 03:04:05')"),
        "2020-01-02 03:04:05.000"
    );
    assert_eq!(
        one("TO_TIMESTAMP('02/01/2020 03:04', 'dd/MM/yyyy HH:mm')"),
        "2020-01-02 03:04:00.000"
    );
    assert_eq!(one("TO_TIMESTAMP('nope')"), "NULL");
    assert_eq!(typed("TO_TIMESTAMP('x')").ty(), SqlType::Timestamp(3));
    assert_eq!(one("TO_DATE('2020-03-04')"), "2020-03-04");
    assert_eq!(one("TO_DATE('20200304', 'yyyyMMdd')"), "2020-03-04");
    assert_eq!(one("FROM_UNIXTIME(86400)"), "1970-01-02 00:00:00");
    assert_eq!(one("FROM_UNIXTIME(86400, 'yyyy-MM-dd')"), "1970-01-02");
    assert_eq!(one("UNIX_TIMESTAMP('1970-01-02 00:00:00')"), "86400");
    assert_eq!(one("UNIX_TIMESTAMP('1970/01/02', 'yyyy/MM/dd')"), "86400");
    assert_eq!(one("UNIX_TIMESTAMP('bad')"), i64::MIN.to_string());
    assert_eq!(one("TO_TIMESTAMP_LTZ(86400, 0)"), "1970-01-02 00:00:00.000");
    assert_eq!(one("TO_TIMESTAMP_LTZ(1500, 3)"), "1970-01-01 00:00:01.500");
    assert_eq!(typed("NOW()").ty(), SqlType::TimestampLtz(3));
    assert_eq!(typed("CURRENT_TIMESTAMP").ty(), SqlType::TimestampLtz(3));
    assert_eq!(typed("LOCALTIMESTAMP").ty(), SqlType::Timestamp(3));
    assert_eq!(typed("CURRENT_DATE").ty(), SqlType::Date);
    let now: i64 = one("UNIX_TIMESTAMP()").parse().unwrap();
    assert!(now > 1_600_000_000, "{now}");
    assert_eq!(row("NOW() IS NOT NULL"), "TRUE|TRUE|TRUE|TRUE");
}

#[test]
fn math() {
    assert_eq!(row("ABS(i)"), "7|7|-|0");
    assert_eq!(row("ABS(d)"), "1.50|2.25|-|100.00");
    assert_eq!(row("ABS(x)"), "1.5|2.0|-|0.0");
    assert_eq!(row("SIGN(i)"), "1|-1|-|0");
    assert_eq!(row("SIGN(d)"), "1.00|-1.00|-|1.00");
    assert_eq!(row("CEIL(x)"), "2.0|-2.0|-|0.0");
    assert_eq!(row("FLOOR(x)"), "1.0|-2.0|-|0.0");
    assert_eq!(row("CEILING(d)"), "2|-2|-|100");
    assert_eq!(row("FLOOR(d)"), "1|-3|-|100");
    assert_eq!(
        typed("FLOOR(d)").ty(),
        SqlType::Decimal {
            precision: 9,
            scale: 0
        }
    );
    assert_eq!(row("ROUND(d, 1)"), "1.5|-2.3|-|100.0");
    assert_eq!(row("ROUND(d)"), "2|-2|-|100");
    assert_eq!(row("ROUND(price, -2)"), "100|2000000|-|100");
    assert_eq!(one("ROUND(2.675, 2)"), "2.68");
    assert_eq!(one("ROUND(CAST(2.675 AS DOUBLE), 2)"), "2.68");
    assert_eq!(row("TRUNCATE(d, 1)"), "1.5|-2.2|-|100.0");
    assert_eq!(one("TRUNCATE(CAST(1.29 AS DOUBLE), 1)"), "1.2");
    assert_eq!(one("POWER(2, 10)"), "1024.0");
    assert_eq!(one("SQRT(16)"), "4.0");
    assert_eq!(one("EXP(0)"), "1.0");
    assert_eq!(one("LN(1)"), "0.0");
    assert_eq!(one("LOG10(1000)"), "3.0");
    assert_eq!(one("LOG2(8)"), "3.0");
    assert_eq!(one("LOG(2, 8)"), "3.0");
    assert_eq!(one("PI()"), "3.141592653589793");
    assert_eq!(row("SQRT(x)"), "1.224744871391589|NaN|-|0.0");
    assert_eq!(typed("SQRT(i)").ty(), SqlType::Double);
    assert_eq!(one("DEGREES(PI())"), "180.0");
}
