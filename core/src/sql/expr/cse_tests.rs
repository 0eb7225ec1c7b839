use arrow::array::{Array, BooleanArray};
use arrow::compute::filter_record_batch;

use super::super::tests::{batch, scope, typed};
use super::*;

/// The rows of `filter` then `exprs` over the test batch, evaluated as written.
fn plain(filter: Option<&TypedExpr>, exprs: &[TypedExpr]) -> Vec<ArrayRef> {
    run(filter, exprs, &[Vec::new(), Vec::new()])
}

/// The same through [`extend`], as a Calc evaluates shared expressions.
fn run(
    filter: Option<&TypedExpr>,
    exprs: &[TypedExpr],
    shared: &[Vec<TypedExpr>; 2],
) -> Vec<ArrayRef> {
    let b = extend(batch(), &shared[0]).unwrap();
    let b = match filter {
        Some(f) => {
            let m = f.evaluate(&b).unwrap();
            let m = m.as_any().downcast_ref::<BooleanArray>().unwrap();
            let m = BooleanArray::from_iter(m.iter().map(|v| Some(v == Some(true))));
            filter_record_batch(&b, &m).unwrap()
        }
        None => b,
    };
    let b = extend(b, &shared[1]).unwrap();
    exprs.iter().map(|e| e.evaluate(&b).unwrap()).collect()
}

/// Share over the test batch; check the rows are unchanged; return the shared texts.
fn shared(filter: Option<&str>, exprs: &[&str]) -> [Vec<String>; 2] {
    let f0 = filter.map(typed);
    let e0: Vec<TypedExpr> = exprs.iter().map(|e| typed(e)).collect();
    let (mut f, mut e) = (f0.clone(), e0.clone());
    let s = share(&mut f, &mut e, scope().columns.len());
    let want = plain(f0.as_ref(), &e0);
    let got = run(f.as_ref(), &e, &s);
    assert_eq!(want.len(), got.len());
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w.to_data(), g.to_data(), "{filter:?} {exprs:?}");
    }
    s.map(|v| v.iter().map(|e| e.to_string()).collect())
}

#[test]
fn q21_computes_its_regexp_once() {
    let re = "REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)";
    let s = shared(
        Some(&format!(
            "{re} IS NOT NULL OR lower(channel) IN ('apple', 'google')"
        )),
        &[
            "price",
            &format!(
                "CASE WHEN lower(channel) = 'apple' THEN '0' WHEN lower(channel) = 'google' \
                 THEN '1' ELSE {re} END"
            ),
        ],
    );
    // `lower(channel)` is in the filter's IN list and in the CASE: shared as well.
    assert_eq!(s[0].len(), 2, "{s:?}");
    assert!(s[0][0].contains("REGEXP_EXTRACT"), "{s:?}");
    assert_eq!(s[0][1], "LOWER(channel)", "{s:?}");
    assert_eq!(s[1].len(), 0, "{s:?}");
}

#[test]
fn a_select_list_shares_its_repeats_after_the_filter() {
    let s = shared(
        Some("price > 10"),
        &[
            "CASE WHEN HOUR(date_time) >= 8 AND HOUR(date_time) <= 18 THEN 'day' \
             WHEN HOUR(date_time) <= 6 THEN 'night' ELSE 'other' END",
            "bidder * 2 + 1",
            "bidder * 2 + 1",
        ],
    );
    assert!(s[0].is_empty(), "{s:?}");
    assert_eq!(s[1].len(), 2, "{s:?}");
}

#[test]
fn only_safe_repeats_are_shared() {
    // Integer division can fail, NOW() changes, a column alone is no work: none shared.
    let s = shared(
        Some("bidder / 2 > 1 AND bidder / 2 < 5"),
        &[
            "bidder / 2",
            "CURRENT_TIMESTAMP",
            "CURRENT_TIMESTAMP",
            "price",
            "price",
        ],
    );
    assert_eq!(s, [Vec::<String>::new(), Vec::new()]);
    // A repeat seen only inside later CASE branches is not computed for every row.
    let s = shared(
        None,
        &[
            "CASE WHEN b THEN 'x' ELSE UPPER(s) END",
            "CASE WHEN b THEN 'y' ELSE UPPER(s) END",
        ],
    );
    assert_eq!(s, [Vec::<String>::new(), Vec::new()]);
}

#[test]
fn nested_repeats_share_the_largest_first() {
    let s = shared(
        Some("UPPER(TRIM(s)) <> '' AND CHAR_LENGTH(UPPER(TRIM(s))) > 1"),
        &["UPPER(TRIM(s))", "TRIM(s)"],
    );
    assert_eq!(s[0].len(), 1, "{s:?}");
    assert!(s[0][0].starts_with("UPPER"), "{s:?}");
}

#[test]
fn a_filter_keeps_what_only_the_select_list_shares() {
    // UPPER(s) is seen on every row only in the select list (stage 1, after the filter); the
    // filter's own occurrence, under a CASE branch, must stay as written: stage 1's column
    // does not exist yet when the filter runs.
    let s = shared(
        Some("CASE WHEN bidder > 1 THEN UPPER(s) <> 'x' ELSE TRUE END"),
        &["UPPER(s)", "UPPER(s)"],
    );
    assert!(s[0].is_empty(), "{s:?}");
    assert_eq!(s[1], vec!["UPPER(s)".to_string()], "{s:?}");
}
